// Job lifecycles per second through the whole engine (engine-spec.md §7.2): N plain jobs are
// added (addBulk, chunks of 500) and consumed by a no-op processor through Queues, the
// coordinator Durable Object and D1 until every one has completed. Strict profile, tracing off.
// As BullMQ's benchmark runs one worker with concurrency 100, the consumer runs one invocation
// at a time (max_concurrency 1) with batches of 100 and 100 processors: 100 jobs in flight. The
// Autoscaled variant lets Cloudflare's autoscaling run up to 250 invocations at once (the whole
// backlog in flight). Counters: jobs_per_second, d1_batches_per_job and statements_per_job
// (every D1 call of the run, the coordinator's and the cron's included). The file-backed variant
// keeps D1 (and every other service) in SQLite files in WAL mode.
//
//   ./build/release/bench/cfemu_bench --benchmark_filter=BM_EngineLifecycle
#include <utility>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <benchmark/benchmark.h>

#include "emulator/config/wrangler_config.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/engine/engine.h"

namespace cfemu::emulator {
namespace {

using core::Result;
using core::Status;
using core::Task;
using engine::Json;

Task<Result<Json>> NoOp(engine::JobContext&) { co_return Json(); }

struct EngineBench {
  std::unique_ptr<Simulator> sim;
  platform::DurableObjectRegistry registry;
  std::unique_ptr<World> world;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<engine::Queue> queue;

  EngineBench(std::optional<std::filesystem::path> dir, bool autoscaled) {
    SimulatorOptions options;
    options.trace = false;
    sim = std::make_unique<Simulator>(1, options);
    engine::EngineBindings bindings;
    engine::RegisterCoordinator(registry, bindings);
    auto config = LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc", &registry);
    if (!config.ok()) std::abort();
    platform::EnvSpec spec = config->spec;
    engine::ConsumerOptions consumer_options;
    consumer_options.concurrency = 100;
    engine::Consumer consumer(bindings, engine::EngineConfig(), NoOp, consumer_options,
                              core::Random(2));
    engine::DeadLetterConsumer dead_letters(bindings, engine::EngineConfig(),
                                            engine::DeadLetterOptions(), core::Random(4));
    for (auto& c : spec.consumers) {
      if (c.queue != "jobs") {
        c.handler = dead_letters.Handler();
        continue;
      }
      c.handler = consumer.Handler();
      c.max_batch_size = 100;
      if (!autoscaled) c.max_concurrency = 1;
    }
    spec.crons.clear();  // No cron in a throughput run: nothing is late or lost.
    WorldOptions world_options;
    world_options.registry = &registry;
    world_options.persist_dir = dir;
    world = std::make_unique<World>(*sim, spec, world_options);
    auto made = engine::Engine::Create(world->EnvFor("producer"), bindings, core::Random(3));
    if (!made.ok()) std::abort();
    engine = std::make_unique<engine::Engine>(std::move(*made));
    if (!sim->Run(engine->Migrate()).ok()) std::abort();
    auto opened = sim->Run(engine->OpenQueue("jobs"));
    if (!opened.ok()) std::abort();
    queue = std::make_unique<engine::Queue>(std::move(*opened));
  }
  ~EngineBench() {
    queue.reset();
    engine.reset();
    world.reset();
    sim.reset();
  }
};

struct Variant {
  bool file_backed = false;
  bool remove_on_complete = false;
  bool autoscaled = false;
};

void RunLifecycle(benchmark::State& state, Variant variant) {
  const bool file_backed = variant.file_backed;
  const bool remove_on_complete = variant.remove_on_complete;
  const std::int64_t jobs = state.range(0);
  std::int64_t batches = 0;
  std::int64_t statements = 0;
  std::int64_t done = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<std::filesystem::path> dir;
    if (file_backed) {
      dir = std::filesystem::temp_directory_path() / "cfemu-engine-bench";
      std::filesystem::remove_all(*dir);
    }
    {
      EngineBench bench(dir, variant.autoscaled);
      std::vector<engine::BulkJob> input;
      input.reserve(jobs);
      engine::JobOptions options;
      options.remove_on_complete = remove_on_complete;
      for (std::int64_t i = 0; i < jobs; ++i) input.emplace_back("noop", Json{{"i", i}}, options);
      D1Service& d1 = *bench.world->d1("DB");
      const D1Stats before = d1.stats();
      state.ResumeTiming();
      auto added = bench.sim->Run(bench.queue->AddBulk(std::move(input)));
      if (!added.ok()) std::abort();
      if (!bench.sim->RunUntilIdle().ok()) std::abort();
      state.PauseTiming();
      auto metrics = bench.sim->Run(bench.queue->GetMetrics(engine::MetricKind::kCompleted));
      if (!metrics.ok() || metrics->count != jobs) std::abort();
      batches += d1.stats().batches - before.batches;
      statements += d1.stats().statements - before.statements;
      done += jobs;
    }
    if (dir) std::filesystem::remove_all(*dir);
    state.ResumeTiming();
  }
  state.counters["jobs_per_second"] =
      benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.counters["d1_batches_per_job"] =
      static_cast<double>(batches) / static_cast<double>(std::max<std::int64_t>(done, 1));
  state.counters["statements_per_job"] =
      static_cast<double>(statements) / static_cast<double>(std::max<std::int64_t>(done, 1));
  state.SetItemsProcessed(done);
}

void BM_EngineLifecycle(benchmark::State& state) { RunLifecycle(state, Variant()); }
BENCHMARK(BM_EngineLifecycle)->Arg(2'000)->Arg(10'000)->Arg(50'000)->Unit(benchmark::kMillisecond);

// BullMQ's benchmark removes completed jobs; the same here (each finish also deletes its row).
void BM_EngineLifecycleRemoveOnComplete(benchmark::State& state) {
  RunLifecycle(state, Variant{.remove_on_complete = true});
}
BENCHMARK(BM_EngineLifecycleRemoveOnComplete)->Arg(50'000)->Unit(benchmark::kMillisecond);

void BM_EngineLifecycleAutoscaled(benchmark::State& state) {
  RunLifecycle(state, Variant{.autoscaled = true});
}
BENCHMARK(BM_EngineLifecycleAutoscaled)->Arg(10'000)->Unit(benchmark::kMillisecond);

void BM_EngineLifecycleFileBacked(benchmark::State& state) {
  RunLifecycle(state, Variant{.file_backed = true});
}
BENCHMARK(BM_EngineLifecycleFileBacked)->Arg(10'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cfemu::emulator
