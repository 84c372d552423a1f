// KV operations per second through a binding on the simulation runtime: each iteration puts a
// ~100-byte value and reads it back, over 1,000 distinct keys, for `range(0)` rounds. Strict
// profile (no latency, no faults, strongly consistent) and tracing off: this measures the
// emulator's own cost per operation (items = operations, a put and a get per round).
//
//   ./build/kv-release/bench/cfemu_bench --benchmark_filter=BM_KVPutGet
#include <utility>

#include <cstdlib>
#include <string>

#include <benchmark/benchmark.h>

#include "emulator/kv/kv_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/simulator.h"

namespace cfemu::emulator {
namespace {

using core::Task;

const std::string kValue = R"({"id":123456,"type":"email.send","to":"someone@example.com",)"
                           R"("attempt":1,"payload":"abcdefgh"})";

Task<void> PutGetRounds(platform::KvNamespace& kv, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    std::string key = "job:" + std::to_string(i % 1000);
    const core::Status put = co_await kv.Put(key, kValue);
    if (!put.ok()) std::abort();
    auto got = co_await kv.Get(std::move(key));
    if (!got.ok() || !got->has_value()) std::abort();
  }
}

void BM_KVPutGet(benchmark::State& state) {
  SimulatorOptions options;
  options.trace = false;
  Simulator sim(1, options);
  KvOptions kv_options;
  kv_options.title = "bench";
  auto kv = KvService::Open(sim, kv_options);
  if (!kv.ok()) std::abort();
  ActorScope scope(sim, "bench", sim.ClockFor("bench"), nullptr);
  auto binding = (*kv)->Bind(scope, "ams");
  const std::int64_t rounds = state.range(0);
  std::int64_t operations = 0;
  for (auto _ : state) {
    sim.Run(PutGetRounds(*binding, rounds));
    operations += 2 * rounds;
  }
  state.SetItemsProcessed(operations);
}
BENCHMARK(BM_KVPutGet)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cfemu::emulator
