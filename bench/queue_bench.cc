// Messages per second through the broker on the simulation runtime: producers send batches of
// 100, a push consumer receives batches of 100 and acks them. Strict profile (no latency, no
// faults) and tracing off: this measures the emulator's own cost per message.
//
//   ./build/release/bench/cfemu_bench --benchmark_filter=BM_QueueSendConsume
#include <utility>

#include <benchmark/benchmark.h>

#include "emulator/sim/simulator.h"
#include "emulator/world.h"

namespace cfemu::emulator {
namespace {

using core::Status;
using core::Task;
using platform::Json;

// About 100 bytes of JSON text, like the body of the Miniflare measurement.
const std::string kBody = R"({"id":123456,"type":"email.send","to":"someone@example.com",)"
                          R"("attempt":1,"payload":"abcdefgh"})";

platform::EnvSpec BenchSpec(std::int64_t& consumed) {
  platform::EnvSpec spec;
  spec.queues.push_back({"bench"});
  spec.producers.push_back({"Q", "bench", std::nullopt});
  platform::ConsumerSpec consumer;
  consumer.queue = "bench";
  consumer.max_batch_size = 100;
  consumer.handler = [&consumed](platform::MessageBatch& batch, platform::Env&,
                                 platform::ExecutionContext&) -> Task<Status> {
    consumed += static_cast<std::int64_t>(batch.messages().size());
    batch.AckAll();
    co_return Status::Ok();
  };
  spec.consumers.push_back(std::move(consumer));
  return spec;
}

template <class MakeBody>
Task<void> Produce(platform::Env& env, std::int64_t messages, MakeBody make_body) {
  auto queue = *env.Queue("Q");
  for (std::int64_t sent = 0; sent < messages; sent += 100) {
    std::vector<platform::MessageSendRequest> batch;
    batch.reserve(100);
    for (int i = 0; i < 100; ++i) batch.push_back(make_body(sent + i));
    auto result = co_await queue->SendBatch(std::move(batch));
    if (!result.ok()) std::abort();
    // Let the consumer run before the next batch, as a producer on another machine would.
    (void)co_await env.runtime().SleepUntil(env.clock().Now());
  }
}

template <class MakeBody>
void RunSendConsume(benchmark::State& state, MakeBody make_body) {
  const std::int64_t messages = state.range(0);
  std::int64_t total = 0;
  for (auto _ : state) {
    SimulatorOptions options;
    options.trace = false;
    Simulator sim(1, options);
    std::int64_t consumed = 0;
    {
      World world(sim, BenchSpec(consumed));
      sim.Spawn(Produce(world.EnvFor("producer"), messages, make_body));
      if (!sim.RunUntilIdle().ok() || consumed != messages) std::abort();
    }
    total += consumed;
  }
  state.SetItemsProcessed(total);
  state.counters["messages_per_second"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}

void BM_QueueSendConsume(benchmark::State& state) {
  RunSendConsume(state, [](std::int64_t) {
    return platform::MessageSendRequest(platform::Text{kBody}, platform::SendOptions("text"));
  });
}
BENCHMARK(BM_QueueSendConsume)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_QueueSendConsumeJson(benchmark::State& state) {
  RunSendConsume(state, [](std::int64_t n) {
    Json body = {{"id", n},
                 {"type", "email.send"},
                 {"to", "someone@example.com"},
                 {"attempt", 1},
                 {"payload", "abcdefgh"}};
    return platform::MessageSendRequest(std::move(body));
  });
}
BENCHMARK(BM_QueueSendConsumeJson)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cfemu::emulator
