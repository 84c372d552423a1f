// The engine under the fidelity profile's faults (every documented and inferred fault of the
// platform at its default rate) for ten virtual minutes, then a liveness phase without faults:
// every invariant of engine-spec.md §8 must hold throughout, and at the end no job is left
// unexplained. Several seeds, each a different interleaving and fault schedule.
#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"

namespace cfemu::testing {
namespace {

using core::Minutes;
using core::Seconds;

emulator::FaultPlan FaultsFor(emulator::Profile profile, Duration active) {
  emulator::FaultPlan plan(profile);
  for (const auto& info : emulator::AllFaults()) {
    auto rule = plan.rule(info.fault);
    if (!rule) continue;
    rule->windows.push_back({core::kVirtualEpoch, core::kVirtualEpoch + active});
    plan.Set(info.fault, *rule);
  }
  return plan;
}

Task<Result<Json>> SoakProcessor(JobContext& ctx) {
  // Deterministic per job and attempt: a duration, and a failure for some.
  core::Random random = ctx.random().Fork(ctx.job().id + "#" + std::to_string(ctx.attempt()));
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(random.Range(0, 20'000))));
  if (ctx.job().name == "flaky" && random.Chance(0.5)) co_return Status::Unknown("flaky");
  co_return Json{{"done", ctx.job().id}};
}

void AddWorkload(EngineWorld& w) {
  for (int i = 0; i < 30; ++i) (void)w.TryAdd("plain", Json{{"i", i}});
  JobOptions retrying;
  retrying.attempts = 4;
  retrying.backoff = engine::Backoff("exponential", 1000);
  for (int i = 0; i < 10; ++i) (void)w.TryAdd("flaky", Json{{"i", i}}, retrying);
  for (int i = 0; i < 5; ++i) {
    JobOptions delayed;
    delayed.delay_ms = 30'000 + i * 20'000;
    (void)w.TryAdd("plain", Json{{"delayed", i}}, delayed);
    JobOptions prioritized;
    prioritized.priority = 1 + i;
    (void)w.TryAdd("plain", Json{{"priority", i}}, prioritized);
  }
  JobOptions dedupe;
  dedupe.deduplication = engine::Dedup();
  dedupe.deduplication->id = "once";
  for (int i = 0; i < 3; ++i) (void)w.TryAdd("plain", Json{{"dedupe", i}}, dedupe);
  auto producer = w.engine().GetFlowProducer();
  JobOptions ignore;  // A flaky child may fail for good: its parent runs anyway.
  ignore.ignore_dependency_on_failure = true;
  engine::FlowJob tree(
      "plain", "jobs", Json{{"parent", true}}, JobOptions(),
      {engine::FlowJob("plain", "jobs"), engine::FlowJob("flaky", "jobs", Json::object(), ignore),
       engine::FlowJob("plain", "jobs")});
  (void)w.Run(producer.Add(tree));
  engine::RepeatOptions repeat;
  repeat.every_ms = 60'000;
  repeat.limit = 5;
  (void)w.Run(w.queue().UpsertJobScheduler("tick", repeat));
}

// (profile, seed)
class EngineFaultSoak
    : public ::testing::TestWithParam<std::tuple<emulator::Profile, std::uint64_t>> {};

TEST_P(EngineFaultSoak, EveryInvariantHoldsUnderPlatformFaultsAndEveryJobEnds) {
  EngineTestOptions options;
  const auto [profile, seed] = GetParam();
  options.seed = seed;
  options.profile = profile;
  options.faults = FaultsFor(profile, Minutes(10));
  options.queue_config.dispatch_timeout_ms = 60'000;
  options.consumer.concurrency = 5;
  options.max_retries = 10;  // Recommended: infrastructure failures retry before the DLQ.
  EngineWorld w(options);
  w.SetProcessor(SoakProcessor);
  AddWorkload(w);
  w.RunFor(Minutes(1));
  (void)w.Run(w.queue().Pause());
  w.RunFor(Minutes(1));
  (void)w.Run(w.queue().Resume());
  w.RunFor(Minutes(10));  // Faults stop at 10 minutes.
  // Liveness: lease + grace + backoff + dispatchTimeoutMs * 2^6 + a minute.
  w.RunFor(Minutes(70));
  w.RunUntilIdle();
  w.ExpectInvariants(/*quiescent=*/true);
  const auto counts = w.Counts();
  EXPECT_EQ(counts.at("waiting") + counts.at("active") + counts.at("prioritized") +
                counts.at("waiting-children"),
            0)
      << "seed " << seed;
  if (HasFailure()) ADD_FAILURE() << w.DescribeUnfinished();
  EXPECT_GE(counts.at("completed"), 40) << "seed " << seed;
  EXPECT_GT(w.sim().faults().total_fired(), 0) << "seed " << seed;
}

// The soak workload under the fidelity faults, as a trace hash.
std::string SoakTraceHash(std::uint64_t seed) {
  EngineTestOptions options;
  options.seed = seed;
  options.profile = emulator::Profile::kFidelity;
  options.faults = FaultsFor(emulator::Profile::kFidelity, Minutes(10));
  options.queue_config.dispatch_timeout_ms = 60'000;
  options.consumer.concurrency = 5;
  options.max_retries = 10;
  EngineWorld w(options);
  w.SetProcessor(SoakProcessor);
  AddWorkload(w);
  w.RunFor(Minutes(20));
  EXPECT_GT(w.sim().faults().total_fired(), 0);
  return w.sim().trace().HashHex();
}

TEST(EngineDeterminism, SameSeedGivesTheSameTraceHashUnderFaults) {
  const std::string first = SoakTraceHash(3);
  EXPECT_EQ(SoakTraceHash(3), first);
  EXPECT_NE(SoakTraceHash(4), first);
}

INSTANTIATE_TEST_SUITE_P(Fidelity, EngineFaultSoak,
                         ::testing::Combine(::testing::Values(emulator::Profile::kFidelity),
                                            ::testing::Range<std::uint64_t>(1, 21)));
INSTANTIATE_TEST_SUITE_P(Robustness, EngineFaultSoak,
                         ::testing::Combine(::testing::Values(emulator::Profile::kRobustness),
                                            ::testing::Range<std::uint64_t>(1, 11)));

}  // namespace
}  // namespace cfemu::testing
