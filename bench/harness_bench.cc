// The scenario harness's speed: how many virtual seconds the simulator covers per wall second on
// the production-day scenario (26 virtual hours of swarm faults, steady traffic, flows and
// schedulers, then the liveness phase), and how many seeds of a small one-hour scenario with
// 100 jobs run per minute, on one thread and on two (what `cfemu explore --jobs 2` does, minus
// the second run of each seed that checks determinism).
//
//   ./build/release/bench/cfemu_bench --benchmark_filter='BM_Scenario'
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {
namespace {

using Json = nlohmann::json;

// A one-hour scenario of 100 jobs under production's faults: a burst, a steady trickle, jobs
// that fail once and retry with backoff, a pause. maxStalledCount 3: a batch whose invocation
// is killed twice (Q1, W1) would otherwise fail its jobs, legitimately, and the seed with it.
Scenario SmallScenario() {
  const Json json = Json::parse(R"({
    "name": "bench-small", "purpose": "100 jobs in one virtual hour, production faults",
    "profile": "fidelity", "duration_s": 3600, "liveness_s": 600,
    "environment": { "queues": { "jobs": { "maxStalledCount": 3 } } },
    "processors": {
      "work": { "duration_ms": [200, 3000] },
      "flaky": { "duration_ms": [200, 1000], "fail": { "attempts": [1] } }
    },
    "workload": [
      { "at_s": 0, "add": { "name": "work", "count": 40 } },
      { "at_s": 60, "add": { "name": "work", "count": 40, "every_s": 60 } },
      { "at_s": 120, "add": { "name": "flaky", "count": 20, "every_s": 90,
                              "opts": { "attempts": 3, "backoff": { "type": "exponential", "delay": 1000 } } } },
      { "at_s": 1800, "pause": "jobs" },
      { "at_s": 1900, "resume": "jobs" }
    ],
    "expect": { "counts": { "completed": { "min": 95 } } }
  })");
  auto scenario = ParseScenario(json, "bench-small.json");
  if (!scenario.ok()) std::abort();
  return *scenario;
}

void BM_ScenarioProductionDaySpeed(benchmark::State& state) {
  auto scenario = LoadScenario(std::string(CFEMU_SCENARIOS_DIR) + "/production-day.json");
  if (!scenario.ok()) {
    state.SkipWithError(scenario.status().ToString().c_str());
    return;
  }
  std::uint64_t seed = 1;
  double virtual_seconds = 0;
  for (auto _ : state) {
    ScenarioRunOptions options;
    options.seed = seed++;
    const Json report = RunScenario(*scenario, options);
    if (!report["ok"].get<bool>()) state.SkipWithError("a production-day seed failed");
    virtual_seconds += report["virtual_duration_ms"].get<double>() / 1000.0;
  }
  state.counters["virtual_s_per_wall_s"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ScenarioProductionDaySpeed)->Unit(benchmark::kSecond)->Iterations(3)->UseRealTime();

void BM_ScenarioSeedsPerMinute(benchmark::State& state) {
  const Scenario scenario = SmallScenario();
  // Each thread takes its own seeds, as explore's threads do.
  std::uint64_t seed = 1 + static_cast<std::uint64_t>(state.thread_index()) * 1'000'000;
  for (auto _ : state) {
    ScenarioRunOptions options;
    options.seed = seed++;
    const Json report = RunScenario(scenario, options);
    if (!report["ok"].get<bool>()) state.SkipWithError("a seed of the small scenario failed");
  }
  state.counters["seeds_per_minute"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 60.0, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ScenarioSeedsPerMinute)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(300)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(2);

}  // namespace
}  // namespace cfemu::emulator
