// Shrinking (`cfemu explore --shrink`) and the deliberately broken rule (`--break`): a scenario
// catches an engine whose finishes ignore their lease token, and the failing seed's fault
// schedule shrinks to the one fault that matters, written as a --faults plan that replays it.
#include "emulator/harness/shrink.h"

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {
namespace {

using Json = nlohmann::json;
using Broken = engine::EngineConfig::BrokenRule;

// scenarios/stale-consumer.json: an O3 outage makes long jobs' renewals fail, so they stall and
// run again while the first runs go on.
Scenario StaleConsumer() {
  const Json json = Json::parse(R"({
    "name": "stale-consumer", "purpose": "late finishes of stale runs are fenced off",
    "profile": "strict", "duration_s": 600,
    "faults": { "rules": { "O3": { "probability": 0.5, "windows": [[5, 60]] } } },
    "environment": {
      "consumer": { "max_batch_size": 1 },
      "queues": { "jobs": { "lockDurationMs": 30000, "maxStalledCount": 5 } }
    },
    "processors": {
      "slow": { "duration_ms": [100000, 200000], "side_effect": true },
      "quick": { "duration_ms": [100, 500] }
    },
    "workload": [
      { "at_s": 0, "add": { "name": "quick", "count": 20 } },
      { "at_s": 1, "add": { "name": "slow", "count": 10 } },
      { "at_s": 0, "rate": { "name": "quick", "per_second": 5, "for_s": 120 } }
    ],
    "expect": { "counts": { "completed": 630, "failed": 0 } }
  })");
  auto scenario = ParseScenario(json, "stale-consumer.json");
  EXPECT_TRUE(scenario.ok()) << scenario.status().ToString();
  return *scenario;
}

Json RunAt1(const Scenario& scenario, Broken broken, std::optional<FaultPlan> faults = {}) {
  ScenarioRunOptions options;
  options.seed = 1;
  options.broken_rule = broken;
  options.faults = std::move(faults);
  return RunScenario(scenario, options);
}

TEST(Shrink, ABrokenFencingRuleIsCaughtByNoStaleWriter) {
  const Scenario scenario = StaleConsumer();
  const Json sound = RunAt1(scenario, Broken::kNone);
  EXPECT_TRUE(sound["ok"].get<bool>()) << sound.dump();
  const Json broken = RunAt1(scenario, Broken::kNoFencing);
  EXPECT_FALSE(broken["ok"].get<bool>());
  EXPECT_EQ(FailureOf(broken), "INV-06");
  EXPECT_EQ(broken["broken_rule"], "no-fencing");
  EXPECT_NE(broken["replay"].get<std::string>().find("--break no-fencing"), std::string::npos);
}

TEST(Shrink, AFailingSeedShrinksToASmallPlanThatStillViolatesTheSameInvariant) {
  const Scenario scenario = StaleConsumer();
  ShrinkOptions options;
  options.seed = 1;
  options.broken_rule = Broken::kNoFencing;
  int calls = 0;
  options.progress = [&calls](int, std::size_t) { ++calls; };
  const ShrinkResult result = ShrinkFailure(scenario, options);
  EXPECT_EQ(result.failure, "INV-06");
  ASSERT_TRUE(result.reproduced);
  EXPECT_GT(result.original.size(), 3u);
  EXPECT_GE(result.minimal.size(), 1u);  // Without any fault, nothing is stale.
  EXPECT_LE(result.minimal.size(), 2u);
  EXPECT_FALSE(result.exhausted);
  EXPECT_GT(calls, 0);
  EXPECT_EQ(FailureOf(result.report), "INV-06");

  // The written plan parses and replays the violation; the sound engine holds under it.
  const Json file = ForcedPlanJson(scenario, result.minimal);
  EXPECT_EQ(file["forced_only"], true);
  auto plan = ParseFaultPlanFile(file, "plan.json");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Json replayed = RunAt1(scenario, Broken::kNoFencing, *plan);
  EXPECT_EQ(FailureOf(replayed), "INV-06");
  std::int64_t fired = 0;
  for (const auto& [id, n] : replayed["faults_fired"].items()) fired += n.get<std::int64_t>();
  EXPECT_EQ(fired, static_cast<std::int64_t>(result.minimal.size()));
  EXPECT_TRUE(RunAt1(scenario, Broken::kNone, *plan)["ok"].get<bool>());
}

TEST(Shrink, APassingSeedHasNothingToShrink) {
  ShrinkOptions options;
  const ShrinkResult result = ShrinkFailure(StaleConsumer(), options);
  EXPECT_TRUE(result.failure.empty());
  EXPECT_EQ(result.runs, 1);
  EXPECT_TRUE(result.minimal.empty());
}

TEST(Shrink, TheRunBudgetBoundsTheSearch) {
  ShrinkOptions options;
  options.broken_rule = Broken::kNoFencing;
  options.max_runs = 2;
  const ShrinkResult result = ShrinkFailure(StaleConsumer(), options);
  EXPECT_EQ(result.failure, "INV-06");
  EXPECT_TRUE(result.exhausted);
  EXPECT_LE(result.runs, 4);  // The failing run, the budget, and the final report's run.
}

TEST(Shrink, BrokenRulesHaveNames) {
  EXPECT_EQ(BrokenRuleFromName("no-fencing"), Broken::kNoFencing);
  EXPECT_EQ(BrokenRuleFromName("none"), Broken::kNone);
  EXPECT_FALSE(BrokenRuleFromName("no-guards").has_value());
  EXPECT_EQ(BrokenRuleName(Broken::kNoFencing), "no-fencing");
}

}  // namespace
}  // namespace cfemu::emulator
