// The cron fault sites (faults-and-invariants.md §2.5): each fault, forced on by a plan, has
// its documented effect and is traced and counted; and the same seed replays to the same trace.
#include <gtest/gtest.h>

#include "tests/cron/cron_testing.h"

namespace cfemu::testing {
namespace {

using core::Minutes;
using core::Seconds;
using emulator::CronOptions;
using emulator::CronService;
using emulator::Fault;
using emulator::Simulator;

std::unique_ptr<CronService> MakeService(Simulator& sim, CronOptions options = {}) {
  return std::make_unique<CronService>(sim, std::move(options), TestEnvFactory(sim));
}

TEST(CronFaults, C1LateTickRunsSecondsAfterTheMinuteWithTheScheduledMinute) {
  auto sim = SimWithFault(Fault::kC1LateTick);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Seconds(59)).ok());
  ASSERT_EQ(seen->runs.size(), 1u);
  const Instant minute = Utc(2026, 1, 1);
  EXPECT_EQ(seen->runs[0].scheduled_time, minute);
  EXPECT_GE(seen->runs[0].started, minute + Seconds(1));
  EXPECT_LE(seen->runs[0].started, minute + Seconds(30));
  EXPECT_EQ(sim->faults().fired(Fault::kC1LateTick), 1);
  EXPECT_EQ(sim->faults().FiredBySite().at("C1@cron.tick.late"), 1);
  EXPECT_EQ(TraceLines(*sim, "cron.late").size(), 1u);
  EXPECT_EQ(cron->stats().late, 1);
}

TEST(CronFaults, C2SkippedTickNeverRuns) {
  auto sim = SimWithFault(Fault::kC2SkippedTick);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(2) + Seconds(59)).ok());
  ASSERT_EQ(seen->runs.size(), 2u);
  EXPECT_EQ(seen->runs[0].scheduled_time, Utc(2026, 1, 1, 0, 1));  // 00:00 was skipped.
  EXPECT_EQ(seen->runs[1].scheduled_time, Utc(2026, 1, 1, 0, 2));
  EXPECT_EQ(sim->faults().fired(Fault::kC2SkippedTick), 1);
  EXPECT_EQ(TraceLines(*sim, "cron.skipped").size(), 1u);
  EXPECT_EQ(cron->stats().skipped, 1);
  EXPECT_EQ(cron->stats().ticks, 3);
}

TEST(CronFaults, C3DoubledTickDeliversTheSameMinuteTwiceAtOnceOrAfterTheFirstRun) {
  bool saw_concurrent = false;
  bool saw_after_run = false;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    auto sim = SimWithFault(Fault::kC3DoubledTick, 1.0, 1, seed);
    auto cron = MakeService(*sim);
    auto seen = std::make_shared<Seen>();
    ASSERT_TRUE(cron->AddWorker(Worker({"0 * * * *"}, RecordingHandler(seen, Seconds(10)))).ok());
    ASSERT_TRUE(sim->RunFor(Minutes(5)).ok());
    ASSERT_EQ(seen->runs.size(), 2u) << "seed " << seed;
    EXPECT_EQ(seen->runs[0].scheduled_time, seen->runs[1].scheduled_time);
    const auto lines = TraceLines(*sim, "cron.duplicated");
    ASSERT_EQ(lines.size(), 1u);
    if (lines[0].find("\"mode\":\"concurrent\"") != std::string::npos) {
      saw_concurrent = true;
      EXPECT_EQ(seen->max_running, 2);
      EXPECT_EQ(seen->runs[1].started, seen->runs[0].started);
    } else {
      saw_after_run = true;
      EXPECT_EQ(seen->max_running, 1);
      EXPECT_EQ(seen->runs[1].started, seen->runs[0].started + Seconds(10));
    }
    EXPECT_EQ(sim->faults().fired(Fault::kC3DoubledTick), 1);
    EXPECT_EQ(cron->stats().duplicated, 1);
    EXPECT_EQ(cron->stats().ok, 2);
  }
  EXPECT_TRUE(saw_concurrent);
  EXPECT_TRUE(saw_after_run);
}

TEST(CronFaults, C4OverlappingRunsStartTheNextTickWhileThePreviousIsStillRunning) {
  auto sim = SimWithFault(Fault::kC4OverlappingRuns);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"*/5 * * * *"}, RecordingHandler(seen, Seconds(40)))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(4)).ok());
  EXPECT_TRUE(seen->runs.empty());  // The 00:00 tick is held.
  ASSERT_TRUE(sim->RunFor(Minutes(1) + Seconds(10)).ok());
  ASSERT_EQ(seen->runs.size(), 2u);
  std::vector<Instant> scheduled = {seen->runs[0].scheduled_time, seen->runs[1].scheduled_time};
  std::sort(scheduled.begin(), scheduled.end());
  EXPECT_EQ(scheduled, (std::vector<Instant>{Utc(2026, 1, 1, 0, 0), Utc(2026, 1, 1, 0, 5)}));
  EXPECT_EQ(seen->runs[0].started, Utc(2026, 1, 1, 0, 5));
  EXPECT_EQ(seen->runs[1].started, Utc(2026, 1, 1, 0, 5));
  EXPECT_EQ(seen->max_running, 2);  // Both run at once.
  EXPECT_EQ(seen->running, 2);
  EXPECT_EQ(sim->faults().fired(Fault::kC4OverlappingRuns), 1);
  EXPECT_EQ(TraceLines(*sim, "cron.held").size(), 1u);
  EXPECT_EQ(TraceLines(*sim, "cron.overlap").size(), 1u);
  EXPECT_EQ(cron->stats().overlapped, 1);
}

TEST(CronFaults, C4IsNotDecidedWhenTheNextTickIsBeyondTheWallLimit) {
  auto sim = SimWithFault(Fault::kC4OverlappingRuns);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"0 * * * *"}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(1)).ok());
  EXPECT_EQ(seen->runs.size(), 1u);  // Hourly: no run could last until the next tick.
  EXPECT_EQ(sim->faults().fired(Fault::kC4OverlappingRuns), 0);
}

// A fidelity run with every cron fault frequent, failing handlers and retries.
std::string RunCronWorkload(std::uint64_t seed) {
  emulator::SimulatorOptions options;
  options.profile = emulator::Profile::kFidelity;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  for (Fault fault : {Fault::kC1LateTick, Fault::kC2SkippedTick, Fault::kC3DoubledTick,
                      Fault::kC4OverlappingRuns}) {
    emulator::FaultRule rule;
    rule.probability = 0.2;
    plan.Set(fault, rule);
  }
  options.faults = plan;
  Simulator sim(seed, options);
  auto cron = MakeService(sim);
  auto seen = std::make_shared<Seen>();
  EXPECT_TRUE(cron->AddWorker(Worker({"* * * * *", "*/3 * * * *"},
                                     RecordingHandler(seen, Seconds(50)), "a"))
                  .ok());
  EXPECT_TRUE(cron->AddWorker(Worker({"*/2 * * * *"},
                                     RecordingHandler(seen, {}, Status::Unknown("x")), "b"))
                  .ok());
  EXPECT_TRUE(sim.RunFor(core::Hours(2)).ok());
  EXPECT_GT(sim.faults().total_fired(), 20);
  EXPECT_GT(cron->stats().retries, 10);
  return sim.trace().HashHex();
}

TEST(CronFaults, SameSeedGivesTheSameTraceHash) {
  EXPECT_EQ(RunCronWorkload(7), RunCronWorkload(7));
  EXPECT_NE(RunCronWorkload(7), RunCronWorkload(8));
}

}  // namespace
}  // namespace cfemu::testing
