#include "emulator/sim/fault_plan.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/sim/fault.h"
#include "emulator/sim/latency.h"
#include "src/core/cover.h"

namespace cfemu::emulator {
namespace {

using core::Instant;
using core::Milliseconds;
using core::Seconds;

FaultRule Always() {
  FaultRule rule;
  rule.probability = 1.0;
  return rule;
}

// An injector with its own trace and clock, for tests that need no simulator.
struct Harness {
  explicit Harness(FaultPlan plan, std::uint64_t seed = 1)
      : injector(std::move(plan), core::Random(seed), trace, clock) {
    trace.set_clock(&clock);
    trace.KeepLines(true);
  }
  core::ManualClock clock;
  core::TraceSink trace;
  FaultInjector injector;
};

std::vector<bool> Decisions(FaultInjector& injector, Fault fault, std::string_view site, int n) {
  std::vector<bool> out;
  for (int i = 0; i < n; ++i) out.push_back(injector.Decide(fault, site));
  return out;
}

TEST(FaultCatalogue, HasEveryFaultWithItsDocumentedKind) {
  using K = FaultKind;
  // faults-and-invariants.md §2 (Q5 is the synthetic lateness tail; C3's retry is doc).
  const std::vector<std::pair<std::string, FaultKind>> expected = {
      {"Q1", K::kDoc},       {"Q2", K::kDoc},       {"Q3", K::kDoc},       {"Q4", K::kDoc},
      {"Q5", K::kSynthetic}, {"Q6", K::kDoc},       {"Q7", K::kDoc},       {"Q8", K::kDoc},
      {"Q9", K::kInferred},  {"Q10", K::kDoc},      {"Q11", K::kDoc},      {"Q12", K::kDoc},
      {"Q13", K::kDoc},      {"D1", K::kDoc},       {"D2", K::kInferred},  {"D3", K::kDoc},
      {"D4", K::kDoc},       {"D5", K::kDoc},       {"D6", K::kSynthetic}, {"D7", K::kDoc},
      {"K1", K::kDoc},       {"K2", K::kDoc},       {"K3", K::kDoc},       {"K4", K::kDoc},
      {"K5", K::kInferred},  {"O1", K::kDoc},       {"O2", K::kDoc},       {"O3", K::kDoc},
      {"O4", K::kDoc},       {"O5", K::kDoc},       {"O6", K::kDoc},       {"O7", K::kInferred},
      {"O8", K::kInferred},  {"C1", K::kInferred},  {"C2", K::kInferred},  {"C3", K::kDoc},
      {"C4", K::kInferred},  {"W1", K::kDoc},       {"W2", K::kDoc},       {"N1", K::kInferred},
      {"N2", K::kInferred},  {"N3", K::kSynthetic}, {"N4", K::kSynthetic}, {"T1", K::kSynthetic},
      {"T2", K::kSynthetic}, {"T3", K::kSynthetic},
  };
  const auto& all = AllFaults();
  ASSERT_EQ(all.size(), expected.size());
  ASSERT_EQ(kFaultCount, expected.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, expected[i].first);
    EXPECT_EQ(all[i].kind, expected[i].second) << all[i].id;
    EXPECT_EQ(static_cast<std::size_t>(all[i].fault), i);
    EXPECT_EQ(all[i].cover, "fault." + expected[i].first);
    EXPECT_FALSE(all[i].name.empty());
    EXPECT_GT(all[i].default_probability, 0.0) << all[i].id;
    EXPECT_LE(all[i].default_probability, 1.0) << all[i].id;
    EXPECT_EQ(&Describe(all[i].fault), &all[i]);
  }
}

TEST(FaultCatalogue, FaultFromIdIgnoresCase) {
  EXPECT_EQ(FaultFromId("q3"), Fault::kQ3DuplicateDelivery);
  EXPECT_EQ(FaultFromId("Q3"), Fault::kQ3DuplicateDelivery);
  EXPECT_EQ(FaultFromId("q13"), Fault::kQ13PausePurge);
  EXPECT_EQ(FaultFromId("t3"), Fault::kT3BackwardStep);
  EXPECT_EQ(FaultFromId("w2"), Fault::kW2WallClockKill);
  EXPECT_FALSE(FaultFromId("Q14").has_value());
  EXPECT_FALSE(FaultFromId("Z1").has_value());
  EXPECT_FALSE(FaultFromId("").has_value());
  EXPECT_FALSE(FaultFromId("Q3 ").has_value());
  for (const auto& info : AllFaults()) EXPECT_EQ(FaultFromId(info.id), info.fault);
}

TEST(FaultCatalogue, KindAndProfileNames) {
  EXPECT_EQ(KindName(FaultKind::kDoc), "doc");
  EXPECT_EQ(KindName(FaultKind::kInferred), "inferred");
  EXPECT_EQ(KindName(FaultKind::kSynthetic), "synthetic");
  for (Profile p : {Profile::kStrict, Profile::kFidelity, Profile::kRobustness}) {
    EXPECT_EQ(ProfileFromName(ProfileName(p)), p);
  }
  EXPECT_EQ(ProfileName(Profile::kFidelity), "fidelity");
  EXPECT_FALSE(ProfileFromName("nonsense").has_value());
  EXPECT_FALSE(ProfileFromName("Strict").has_value());
}

TEST(FaultCatalogue, ProfilesAllowTheirKinds) {
  for (FaultKind k : {FaultKind::kDoc, FaultKind::kInferred, FaultKind::kSynthetic}) {
    EXPECT_FALSE(ProfileAllows(Profile::kStrict, k));
    EXPECT_TRUE(ProfileAllows(Profile::kRobustness, k));
    EXPECT_EQ(ProfileAllows(Profile::kFidelity, k), k != FaultKind::kSynthetic);
  }
}

TEST(FaultPlan, StrictEnablesNothing) {
  Harness h{FaultPlan(Profile::kStrict)};
  EXPECT_EQ(h.injector.plan().profile(), Profile::kStrict);
  for (const auto& info : AllFaults()) {
    EXPECT_FALSE(h.injector.plan().rule(info.fault).has_value()) << info.id;
    EXPECT_FALSE(h.injector.Enabled(info.fault)) << info.id;
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(h.injector.Fire(info.fault, "site")) << info.id;
  }
  EXPECT_EQ(h.injector.total_fired(), 0);
  EXPECT_TRUE(h.trace.lines().empty());
}

TEST(FaultPlan, FidelityEnablesDocAndInferredButNotSynthetic) {
  const FaultPlan plan(Profile::kFidelity);
  Harness h{plan};
  for (const auto& info : AllFaults()) {
    const bool expected = info.kind != FaultKind::kSynthetic;
    EXPECT_EQ(plan.rule(info.fault).has_value(), expected) << info.id;
    EXPECT_EQ(h.injector.Enabled(info.fault), expected) << info.id;
    if (expected) {
      EXPECT_EQ(plan.rule(info.fault)->probability, info.default_probability) << info.id;
    }
  }
}

TEST(FaultPlan, RobustnessEnablesEveryFault) {
  const FaultPlan plan(Profile::kRobustness);
  Harness h{plan};
  for (const auto& info : AllFaults()) {
    ASSERT_TRUE(plan.rule(info.fault).has_value()) << info.id;
    EXPECT_EQ(plan.rule(info.fault)->probability, info.default_probability);
    EXPECT_EQ(plan.rule(info.fault)->intensity, 1.0);
    EXPECT_TRUE(h.injector.Enabled(info.fault)) << info.id;
  }
}

TEST(FaultPlan, SetEnablesAFaultOutsideTheProfile) {
  FaultPlan plan(Profile::kStrict);
  plan.Set(Fault::kT1ForwardJump, Always());
  Harness h{plan};
  EXPECT_TRUE(h.injector.Enabled(Fault::kT1ForwardJump));
  EXPECT_FALSE(h.injector.Enabled(Fault::kT2Skew));
  EXPECT_TRUE(h.injector.Fire(Fault::kT1ForwardJump, "clock.step"));
  EXPECT_EQ(h.injector.fired(Fault::kT1ForwardJump), 1);
}

TEST(FaultPlan, DisableTurnsOffAProfileFault) {
  FaultPlan plan(Profile::kRobustness);
  plan.Disable(Fault::kQ3DuplicateDelivery);
  Harness h{plan};
  EXPECT_FALSE(h.injector.Enabled(Fault::kQ3DuplicateDelivery));
  EXPECT_TRUE(h.injector.Enabled(Fault::kQ4Reorder));
}

TEST(FaultPlan, ZeroProbabilityIsNotEnabled) {
  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = 0.0;
  plan.Set(Fault::kQ4Reorder, rule);
  Harness h{plan};
  EXPECT_FALSE(h.injector.Enabled(Fault::kQ4Reorder));
}

TEST(FaultPlan, WindowsRestrictFiringToHalfOpenIntervals) {
  const Instant start = core::kVirtualEpoch;
  FaultRule rule = Always();
  rule.windows.push_back(FaultWindow{start + Seconds(10), start + Seconds(20)});
  rule.windows.push_back(FaultWindow{start + Seconds(30), start + Seconds(31)});
  FaultPlan plan(Profile::kStrict);
  plan.Set(Fault::kQ3DuplicateDelivery, rule);
  Harness h{plan};
  auto fires_at = [&](Instant t) {
    h.clock.Set(t);
    return h.injector.Fire(Fault::kQ3DuplicateDelivery, "queue.deliver");
  };
  EXPECT_FALSE(fires_at(start));
  EXPECT_FALSE(fires_at(start + Milliseconds(9'999)));
  EXPECT_TRUE(fires_at(start + Seconds(10)));
  EXPECT_TRUE(fires_at(start + Milliseconds(19'999)));
  EXPECT_FALSE(fires_at(start + Seconds(20)));
  EXPECT_FALSE(fires_at(start + Seconds(25)));
  EXPECT_TRUE(fires_at(start + Seconds(30)));
  EXPECT_FALSE(fires_at(start + Seconds(31)));
  EXPECT_EQ(h.injector.fired(Fault::kQ3DuplicateDelivery), 3);
}

TEST(FaultPlan, MaxFiringsCapsTheFault) {
  FaultRule rule = Always();
  rule.max_firings = 3;
  FaultPlan plan(Profile::kStrict);
  plan.Set(Fault::kD1RetryableError, rule);
  Harness h{plan};
  int fired = 0;
  for (int i = 0; i < 20; ++i) fired += h.injector.Fire(Fault::kD1RetryableError, "d1.run");
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(h.injector.fired(Fault::kD1RetryableError), 3);
  // The cap counts firings across sites.
  EXPECT_FALSE(h.injector.Fire(Fault::kD1RetryableError, "d1.batch"));
}

TEST(FaultPlan, ForcedDecisionFiresExactlyTheNthDecisionAtItsSite) {
  FaultPlan plan(Profile::kRobustness);
  plan.Force(ForcedDecision{Fault::kQ3DuplicateDelivery, "queue.deliver", 3});
  plan.set_forced_only(true);
  plan.Set(Fault::kQ4Reorder, Always());  // forced_only: even this never fires.
  Harness h{plan};
  EXPECT_TRUE(h.injector.Enabled(Fault::kQ3DuplicateDelivery));
  EXPECT_FALSE(h.injector.Enabled(Fault::kQ4Reorder));
  EXPECT_EQ(Decisions(h.injector, Fault::kQ3DuplicateDelivery, "queue.deliver", 6),
            (std::vector<bool>{false, false, true, false, false, false}));
  // The count is per site: another site's decisions never fire.
  EXPECT_EQ(Decisions(h.injector, Fault::kQ3DuplicateDelivery, "queue.ack", 6),
            std::vector<bool>(6, false));
  for (const auto& info : AllFaults()) {
    if (info.fault == Fault::kQ3DuplicateDelivery) continue;
    EXPECT_FALSE(h.injector.Enabled(info.fault)) << info.id;
    EXPECT_FALSE(h.injector.Fire(info.fault, "queue.deliver")) << info.id;
  }
}

// What `explore --shrink` relies on: forcing exactly the firings of a run (forced_only, over
// the same rules) fires them again, and the fault's stream is drawn as in the original run, so
// the magnitudes drawn after each firing are the same.
// An idle Durable Object's eviction is recorded as an O1 firing for coverage, but no decision
// made it: a shrunk plan must not list it (a forced decision needs n >= 1 to be read back).
TEST(FaultPlan, AFiringNoDecisionMadeIsCountedButNotAForceableDecision) {
  Harness h{FaultPlan(Profile::kFidelity), 3};
  h.injector.Record(Fault::kO1Eviction, "do.evict.idle");
  EXPECT_EQ(h.injector.fired(Fault::kO1Eviction), 1);
  EXPECT_EQ(h.injector.FiredBySite().at("O1@do.evict.idle"), 1);
  EXPECT_TRUE(h.injector.FiredDecisions().empty());
}

TEST(FaultPlan, ForcingTheFiredDecisionsReplaysTheSameFiringsAndDraws) {
  FaultPlan plan(Profile::kStrict);
  FaultRule often = Always();
  often.probability = 0.3;
  plan.Set(Fault::kQ3DuplicateDelivery, often);
  plan.Set(Fault::kD1RetryableError, often);
  auto play = [](FaultInjector& injector) {
    std::vector<std::int64_t> draws;
    for (int i = 0; i < 40; ++i) {
      const char* site = i % 3 == 0 ? "queue.ack" : "queue.deliver";
      if (injector.Fire(Fault::kQ3DuplicateDelivery, site)) {
        draws.push_back(injector.RandomFor(Fault::kQ3DuplicateDelivery).Range(0, 1'000'000));
      }
      (void)injector.Fire(Fault::kD1RetryableError, "d1.run");
    }
    return draws;
  };
  Harness original{plan, 7};
  const std::vector<std::int64_t> draws = play(original.injector);
  const std::vector<ForcedDecision> fired = original.injector.FiredDecisions();
  ASSERT_GT(draws.size(), 3u);
  ASSERT_EQ(fired.size(), static_cast<std::size_t>(original.injector.total_fired()));

  // Keep only the Q3 firings: the D1 ones must not fire, the Q3 ones must, with the same draws.
  FaultPlan replay = plan;
  for (const auto& d : fired) {
    if (d.fault == Fault::kQ3DuplicateDelivery) replay.Force(d);
  }
  replay.set_forced_only(true);
  Harness again{replay, 7};
  EXPECT_EQ(play(again.injector), draws);
  EXPECT_EQ(again.injector.fired(Fault::kD1RetryableError), 0);
  EXPECT_EQ(again.injector.fired(Fault::kQ3DuplicateDelivery),
            original.injector.fired(Fault::kQ3DuplicateDelivery));

  // Dropping one firing drops exactly that one.
  FaultPlan fewer(plan);
  for (std::size_t i = 1; i < fired.size(); ++i) fewer.Force(fired[i]);
  fewer.set_forced_only(true);
  Harness less{fewer, 7};
  (void)play(less.injector);
  EXPECT_EQ(less.injector.total_fired(), original.injector.total_fired() - 1);
}

TEST(FaultPlan, ForcedDecisionFiresDespiteZeroProbability) {
  FaultPlan plan(Profile::kStrict);
  plan.Force(ForcedDecision{Fault::kT3BackwardStep, "clock.step", 2});
  Harness h{plan};
  EXPECT_EQ(Decisions(h.injector, Fault::kT3BackwardStep, "clock.step", 4),
            (std::vector<bool>{false, true, false, false}));
}

TEST(FaultPlan, FireRecordsTraceCountersAndCoverMark) {
  FaultPlan plan(Profile::kStrict);
  plan.Force(ForcedDecision{Fault::kQ3DuplicateDelivery, "queue.deliver", 2});
  plan.set_forced_only(true);
  Harness h{plan};
  h.clock.Set(core::kVirtualEpoch + Milliseconds(250));
  const std::int64_t cover_before = core::CoverCount("fault.Q3");
  EXPECT_FALSE(h.injector.Fire(Fault::kQ3DuplicateDelivery, "queue.deliver", "broker"));
  EXPECT_TRUE(h.trace.lines().empty());
  EXPECT_TRUE(h.injector.Fire(Fault::kQ3DuplicateDelivery, "queue.deliver", "broker"));
  ASSERT_EQ(h.trace.lines().size(), 1u);
  EXPECT_EQ(h.trace.lines()[0],
            R"({"actor":"broker","ev":"fault.fired","fault":"Q3","kind":"doc","n":2,)"
            R"("site":"queue.deliver","t":1767225600250})");
  EXPECT_EQ(h.injector.fired(Fault::kQ3DuplicateDelivery), 1);
  EXPECT_EQ(h.injector.total_fired(), 1);
  EXPECT_EQ(h.injector.FiredById(), (std::map<std::string, std::int64_t>{{"Q3", 1}}));
  EXPECT_EQ(h.injector.FiredBySite(),
            (std::map<std::string, std::int64_t>{{"Q3@queue.deliver", 1}}));
  EXPECT_EQ(core::CoverCount("fault.Q3"), cover_before + 1);
}

TEST(FaultPlan, RecordCountsSitesSeparately) {
  Harness h{FaultPlan(Profile::kStrict)};
  h.injector.Record(Fault::kQ1ConsumerCrash, "queue.dispatch", "consumer");
  h.injector.Record(Fault::kQ1ConsumerCrash, "queue.dispatch", "consumer");
  h.injector.Record(Fault::kQ1ConsumerCrash, "queue.ack", "consumer");
  h.injector.Record(Fault::kT2Skew, "clock", "coordinator");
  EXPECT_EQ(h.injector.FiredById(), (std::map<std::string, std::int64_t>{{"Q1", 3}, {"T2", 1}}));
  EXPECT_EQ(h.injector.FiredBySite(),
            (std::map<std::string, std::int64_t>{
                {"Q1@queue.ack", 1}, {"Q1@queue.dispatch", 2}, {"T2@clock", 1}}));
  EXPECT_EQ(h.injector.total_fired(), 4);
  ASSERT_EQ(h.trace.lines().size(), 4u);
  // Recorded without a decision at that site: n is 0.
  EXPECT_NE(h.trace.lines()[3].find(R"("kind":"synthetic","n":0)"), std::string::npos)
      << h.trace.lines()[3];
}

TEST(FaultPlan, SameSeedGivesTheSameDecisions) {
  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = 0.5;
  plan.Set(Fault::kQ4Reorder, rule);
  plan.Set(Fault::kQ3DuplicateDelivery, rule);
  Harness a{plan, 42};
  Harness b{plan, 42};
  Harness c{plan, 43};
  const auto first = Decisions(a.injector, Fault::kQ4Reorder, "queue.deliver", 200);
  EXPECT_EQ(first, Decisions(b.injector, Fault::kQ4Reorder, "queue.deliver", 200));
  EXPECT_NE(first, Decisions(c.injector, Fault::kQ4Reorder, "queue.deliver", 200));
  const int fired = static_cast<int>(std::count(first.begin(), first.end(), true));
  EXPECT_GT(fired, 60);
  EXPECT_LT(fired, 140);
}

TEST(FaultPlan, EachFaultDrawsFromItsOwnStream) {
  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = 0.5;
  plan.Set(Fault::kQ4Reorder, rule);
  plan.Set(Fault::kQ3DuplicateDelivery, rule);
  Harness a{plan, 42};
  Harness b{plan, 42};
  // Decisions of Q3 in between do not shift Q4's sequence.
  std::vector<bool> interleaved;
  for (int i = 0; i < 100; ++i) {
    (void)a.injector.Decide(Fault::kQ3DuplicateDelivery, "queue.deliver");
    interleaved.push_back(a.injector.Decide(Fault::kQ4Reorder, "queue.deliver"));
  }
  EXPECT_EQ(interleaved, Decisions(b.injector, Fault::kQ4Reorder, "queue.deliver", 100));
}

std::vector<std::pair<bool, double>> Rules(const FaultPlan& plan) {
  std::vector<std::pair<bool, double>> out;
  for (const auto& info : AllFaults()) {
    const auto& rule = plan.rule(info.fault);
    out.emplace_back(rule.has_value(), rule ? rule->probability : 0.0);
  }
  return out;
}

TEST(FaultPlan, SwarmIsReproducibleForOneSeedAndDiffersBetweenSeeds) {
  core::Random r1(5);
  core::Random r2(5);
  const FaultPlan a = FaultPlan::Swarm(Profile::kRobustness, r1);
  const FaultPlan b = FaultPlan::Swarm(Profile::kRobustness, r2);
  EXPECT_EQ(Rules(a), Rules(b));
  std::set<std::vector<std::pair<bool, double>>> distinct;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    core::Random random(seed);
    distinct.insert(Rules(FaultPlan::Swarm(Profile::kRobustness, random)));
  }
  EXPECT_GE(distinct.size(), 2u);
}

TEST(FaultPlan, SwarmKeepsToTheProfileAndScalesWithinBounds) {
  std::size_t on = 0;
  std::size_t total = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    core::Random random(seed);
    const FaultPlan plan = FaultPlan::Swarm(Profile::kFidelity, random);
    for (const auto& info : AllFaults()) {
      const auto& rule = plan.rule(info.fault);
      if (info.kind == FaultKind::kSynthetic) {
        EXPECT_FALSE(rule.has_value()) << info.id;
        continue;
      }
      ++total;
      if (!rule) continue;
      ++on;
      EXPECT_GE(rule->probability, info.default_probability / 8 - 1e-15) << info.id;
      EXPECT_LE(rule->probability, std::min(1.0, info.default_probability * 8)) << info.id;
      EXPECT_GE(rule->intensity, 1.0);
      EXPECT_LE(rule->intensity, 8.0);
    }
    core::Random strict_random(seed);
    EXPECT_EQ(Rules(FaultPlan::Swarm(Profile::kStrict, strict_random)),
              Rules(FaultPlan(Profile::kStrict)));
  }
  // Each allowed fault is on with probability 1/2.
  EXPECT_GT(on, total * 3 / 10);
  EXPECT_LT(on, total * 7 / 10);
}

TEST(FaultPlan, IntensityComesFromTheRule) {
  FaultPlan plan(Profile::kStrict);
  FaultRule rule = Always();
  rule.intensity = 4.0;
  plan.Set(Fault::kQ5LateDelivery, rule);
  Harness h{plan};
  EXPECT_EQ(h.injector.Intensity(Fault::kQ5LateDelivery), 4.0);
  EXPECT_EQ(h.injector.Intensity(Fault::kQ4Reorder), 1.0);
}

TEST(LatencyModel, StrictDrawsZero) {
  LatencyModel model(core::Random(1), Profile::kStrict);
  EXPECT_FALSE(model.enabled());
  const auto site = model.Register("queue.send");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(model.Draw(site), core::Duration::Zero());
  EXPECT_EQ(LatencyModel::DefaultFor("d1.run", Profile::kStrict).shape, LatencyDist::Shape::kZero);
}

TEST(LatencyModel, ConfigureMakesASiteDrawFromItsDistribution) {
  LatencyModel model(core::Random(1), Profile::kStrict);
  model.Configure("queue.send", LatencyDist::Constant(Milliseconds(7)));
  EXPECT_TRUE(model.enabled());
  const auto send = model.Register("queue.send");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(model.Draw(send), Milliseconds(7));
  // Other sites keep the strict profile's zero.
  const auto other = model.Register("d1.run");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(model.Draw(other), core::Duration::Zero());
}

TEST(LatencyModel, UniformDrawsStayWithinAndReachBothBounds) {
  LatencyModel model(core::Random(2), Profile::kStrict);
  const auto site = model.Register("d1.run");  // Registered before it is configured.
  model.Configure("d1.run", LatencyDist::Uniform(Milliseconds(2), Milliseconds(7)));
  std::set<std::int64_t> seen;
  for (int i = 0; i < 1'000; ++i) {
    const core::Duration d = model.Draw(site);
    ASSERT_GE(d, Milliseconds(2));
    ASSERT_LE(d, Milliseconds(7));
    seen.insert(d.ms());
  }
  EXPECT_EQ(seen, (std::set<std::int64_t>{2, 3, 4, 5, 6, 7}));
}

TEST(LatencyModel, ParetoAndExponentialDistributions) {
  LatencyModel model(core::Random(3), Profile::kStrict);
  model.Configure("n.tail", LatencyDist::Pareto(Milliseconds(5), 1.5, Seconds(2)));
  model.Configure("n.exp", LatencyDist::Exponential(Milliseconds(100)));
  const auto tail = model.Register("n.tail");
  const auto exp = model.Register("n.exp");
  double sum = 0;
  for (int i = 0; i < 5'000; ++i) {
    const core::Duration t = model.Draw(tail);
    ASSERT_GE(t, Milliseconds(5));
    ASSERT_LE(t, Seconds(2));
    sum += static_cast<double>(model.Draw(exp).ms());
  }
  EXPECT_GT(sum / 5'000, 80.0);
  EXPECT_LT(sum / 5'000, 120.0);
}

std::vector<std::int64_t> DrawMany(LatencyModel& model, LatencyModel::Site site, int n) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(model.Draw(site).ms());
  return out;
}

TEST(LatencyModel, SitesDrawFromIndependentStreams) {
  const auto dist = LatencyDist::Uniform(Milliseconds(0), Milliseconds(1'000'000));
  LatencyModel alone(core::Random(9), Profile::kStrict);
  alone.Configure("site.b", dist);
  const auto expected = DrawMany(alone, alone.Register("site.b"), 50);

  LatencyModel busy(core::Random(9), Profile::kStrict);
  busy.Configure("site.a", dist);  // Registered first here, and drawn from a lot.
  busy.Configure("site.b", dist);
  const auto a = busy.Register("site.a");
  const auto b = busy.Register("site.b");
  std::vector<std::int64_t> interleaved;
  for (int i = 0; i < 50; ++i) {
    DrawMany(busy, a, 3);
    interleaved.push_back(busy.Draw(b).ms());
  }
  EXPECT_EQ(interleaved, expected);
  EXPECT_NE(DrawMany(busy, a, 50), expected);
}

TEST(LatencyModel, SameSeedSameDrawsAndDifferentSeedDifferentDraws) {
  const auto dist = LatencyDist::Uniform(Milliseconds(0), Milliseconds(1'000'000));
  LatencyModel a(core::Random(4), Profile::kStrict);
  LatencyModel b(core::Random(4), Profile::kStrict);
  LatencyModel c(core::Random(5), Profile::kStrict);
  for (auto* m : {&a, &b, &c}) m->Configure("kv.get", dist);
  const auto first = DrawMany(a, a.Register("kv.get"), 20);
  EXPECT_EQ(first, DrawMany(b, b.Register("kv.get"), 20));
  EXPECT_NE(first, DrawMany(c, c.Register("kv.get"), 20));
}

TEST(LatencyModel, FidelityHasPlausibleDefaults) {
  LatencyModel model(core::Random(6), Profile::kFidelity);
  EXPECT_TRUE(model.enabled());
  const auto send = model.Register("queue.send");
  for (int i = 0; i < 200; ++i) {
    const core::Duration d = model.Draw(send);
    ASSERT_GE(d, Milliseconds(1));
    ASSERT_LE(d, Milliseconds(8));
  }
  const LatencyDist d1 = LatencyModel::DefaultFor("d1.run", Profile::kFidelity);
  EXPECT_EQ(d1.shape, LatencyDist::Shape::kUniform);
  EXPECT_LE(d1.b, Milliseconds(15));
}

}  // namespace
}  // namespace cfemu::emulator
