// Durable Object calls per second on the simulation runtime: each call goes through a stub, the
// object's input gate, and one storage.sql INSERT. Strict profile, tracing off.
//
//   ./build/release/bench/cfemu_bench --benchmark_filter=BM_DurableObjectCall
#include <utility>

#include <benchmark/benchmark.h>

#include "emulator/sim/simulator.h"
#include "emulator/world.h"

namespace cfemu::emulator {
namespace {

using core::Result;
using core::Status;
using core::Task;

class Recorder : public platform::DurableObject {
 public:
  Recorder(platform::DurableObjectState& state, platform::Env& env) : DurableObject(state, env) {
    (void)(*state.storage().sql())->Exec("CREATE TABLE IF NOT EXISTS events (n INTEGER)");
  }
  Task<Result<bool>> Record(std::int64_t n) {
    auto inserted = (*storage().sql())->Exec("INSERT INTO events (n) VALUES (?)", n);
    if (!inserted.ok()) co_return inserted.status();
    co_return true;
  }
};

Task<void> CallMany(platform::DurableObjectNamespace& ns, std::int64_t calls) {
  auto stub = ns.GetByName("bench");
  for (std::int64_t i = 0; i < calls; ++i) {
    auto recorded = co_await stub->Call(&Recorder::Record, i);
    if (!recorded.ok()) std::abort();
  }
}

void BM_DurableObjectCall(benchmark::State& state) {
  platform::DurableObjectRegistry registry;
  registry.Register<Recorder>("Recorder");
  platform::EnvSpec spec;
  spec.durable_objects.push_back({"RECORDER", "Recorder", ""});
  spec.durable_object_classes.push_back({"Recorder", true});
  WorldOptions options;
  options.registry = &registry;
  const std::int64_t calls = state.range(0);
  std::int64_t total = 0;
  for (auto _ : state) {
    SimulatorOptions sim_options;
    sim_options.trace = false;
    Simulator sim(1, sim_options);
    {
      World world(sim, spec, options);
      auto ns = world.EnvFor("client").DurableObjects("RECORDER");
      sim.Run(CallMany(**ns, calls));
    }
    total += calls;
  }
  state.SetItemsProcessed(total);
  state.counters["calls_per_second"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DurableObjectCall)->Arg(10'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cfemu::emulator
