// Speed of the simulation runtime itself: coroutine resumptions per second through virtual
// timers (100 coroutines x 1,000 sleeps of 1 to 10 virtual ms), and virtual seconds simulated
// per wall-clock second.
//
//   ./build/release/bench/cfemu_bench --benchmark_filter=BM_Simulator
#include <utility>

#include <benchmark/benchmark.h>

#include "emulator/sim/simulator.h"

namespace cfemu::emulator {
namespace {

core::Task<void> Sleeper(Simulator& sim, int sleeps, int step_ms) {
  for (int i = 0; i < sleeps; ++i) {
    (void)co_await sim.SleepUntil(sim.now() + core::Milliseconds(step_ms),
                                  core::TimerKind::kForeground, nullptr);
  }
}

void BM_SimulatorSleeps(benchmark::State& state) {
  const int coroutines = 100;
  const int sleeps = 1000;
  std::int64_t resumptions = 0;
  double virtual_seconds = 0;
  for (auto _ : state) {
    SimulatorOptions options;
    options.trace = false;
    Simulator sim(1, options);
    const core::Instant start = sim.now();
    for (int c = 0; c < coroutines; ++c) sim.Spawn(Sleeper(sim, sleeps, 1 + c % 10));
    if (!sim.RunUntilIdle().ok()) std::abort();
    resumptions += sim.timers_fired();
    virtual_seconds += static_cast<double>((sim.now() - start).ms()) / 1000.0;
  }
  state.counters["resumptions_per_second"] =
      benchmark::Counter(static_cast<double>(resumptions), benchmark::Counter::kIsRate);
  state.counters["virtual_seconds_per_second"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimulatorSleeps)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cfemu::emulator
