#include "emulator/http/serve_app.h"

#include <algorithm>
#include <set>

#include "emulator/config/wrangler_config.h"
#include "emulator/harness/engine_worker.h"
#include "emulator/sim/realtime.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

// Does the Worker bind what the engine needs (its D1 database and coordinator)?
bool BindsTheEngine(const platform::EnvSpec& spec, const engine::EngineBindings& bindings) {
  const bool d1 = std::any_of(spec.d1_databases.begin(), spec.d1_databases.end(),
                              [&](const auto& d) { return d.binding == bindings.d1; });
  const bool coordinator =
      std::any_of(spec.durable_objects.begin(), spec.durable_objects.end(),
                  [&](const auto& o) { return o.name == bindings.coordinator; });
  return d1 && coordinator;
}

// The Cloudflare queues the engine sends to (those of its producer bindings) and their dead
// letter queues: the queues bound to the engine.
std::set<std::string> EngineQueues(const platform::EnvSpec& spec,
                                   const engine::EngineBindings& bindings) {
  std::set<std::string> names = {bindings.queue};
  for (const auto& [logical, binding] : bindings.queues) names.insert(binding);
  std::set<std::string> queues;
  for (const auto& producer : spec.producers) {
    if (names.contains(producer.binding)) queues.insert(producer.queue);
  }
  std::set<std::string> dead_letter_queues;
  for (const auto& consumer : spec.consumers) {
    if (queues.contains(consumer.queue) && !consumer.dead_letter_queue.empty()) {
      dead_letter_queues.insert(consumer.dead_letter_queue);
    }
  }
  queues.insert(dead_letter_queues.begin(), dead_letter_queues.end());
  return queues;
}

// The Worker runs no script: worker consumers of queues outside `engine_queues` can only be
// pulled.
void ServeWorkerConsumersAsPull(platform::EnvSpec& spec, const std::set<std::string>& engine_queues,
                                std::vector<std::string>& notes) {
  for (auto& consumer : spec.consumers) {
    if (consumer.type != platform::ConsumerType::kWorker) continue;
    if (engine_queues.contains(consumer.queue)) continue;
    notes.push_back("queue " + consumer.queue +
                    ": its worker consumer is served as an http_pull consumer (not bound to "
                    "the engine)");
    consumer.type = platform::ConsumerType::kHttpPull;
    consumer.max_concurrency.reset();
    consumer.handler = nullptr;
  }
}

core::Task<Result<Json>> Process(std::shared_ptr<const Processors> processors,
                                 FaultInjector* faults, engine::JobContext& ctx) {
  co_return co_await RunBehaviour(BehaviourFor(*processors, ctx.job().name), ctx, nullptr,
                                  *faults);
}

}  // namespace

Result<std::unique_ptr<ServeApp>> ServeApp::Create(boost::asio::io_context& io,
                                                   ServeAppOptions options) {
  std::unique_ptr<ServeApp> app(new ServeApp(io));
  const engine::EngineBindings bindings;
  engine::RegisterCoordinator(app->registry_, bindings);
  auto config = !options.config_path.empty()
                    ? LoadWranglerConfigFile(options.config_path, &app->registry_)
                : !options.config_text.empty()
                    ? LoadWranglerConfig(options.config_text, "wrangler.jsonc", &app->registry_)
                    : LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc",
                                         &app->registry_);
  if (!config.ok()) return config.status();
  platform::EnvSpec spec = std::move(config->spec);

  const bool trace = options.trace_tail > 0;
  if (options.virtual_time) {
    auto manual =
        std::make_unique<ManualTimeRuntime>(io, options.seed, Profile::kStrict,
                                            core::kVirtualEpoch, trace);
    app->manual_ = manual.get();
    app->runtime_ = std::move(manual);
  } else {
    app->runtime_ = std::make_unique<RealTimeRuntime>(io, options.seed, Profile::kStrict, trace);
  }
  if (trace) app->tail_ = std::make_unique<TraceTail>(app->runtime_->trace(), options.trace_tail);

  const bool with_engine = BindsTheEngine(spec, bindings);
  ServeWorkerConsumersAsPull(
      spec, with_engine ? EngineQueues(spec, bindings) : std::set<std::string>(), app->notes_);
  core::Random root(options.seed);
  if (with_engine) {
    if (options.processors.empty()) {
      ProcessorBehaviour at_once;
      at_once.min_ms = at_once.max_ms = 0;
      options.processors["*"] = at_once;
    }
    auto processors = std::make_shared<const Processors>(std::move(options.processors));
    engine::Consumer consumer(
        bindings, engine::EngineConfig(),
        [processors, faults = &app->runtime_->faults()](engine::JobContext& ctx) {
          return Process(processors, faults, ctx);
        },
        engine::ConsumerOptions(), root.Fork("consumer"));
    engine::DeadLetterConsumer dead_letters(bindings, engine::EngineConfig(),
                                            engine::DeadLetterOptions(), root.Fork("dlq"));
    const std::vector<WiredConsumer> wired = WireEngineHandlers(
        spec, {consumer.Handler(), dead_letters.Handler(),
               engine::MakeSchedulerHandler(bindings, engine::EngineConfig(), root.Fork("tick"))});
    for (const WiredConsumer& c : wired) {
      app->notes_.push_back("queue " + c.queue + ": the engine's " +
                            (c.dead_letters ? "dead-letter consumer" : "consumer"));
    }
  }

  WorldOptions world_options;
  world_options.registry = &app->registry_;
  world_options.persist_dir = options.persist_dir;
  auto world = World::Create(*app->runtime_, std::move(spec), world_options);
  if (!world.ok()) return world.status();
  app->world_ = std::move(*world);
  if (with_engine) {
    auto engine = engine::Engine::Create(app->world_->EnvFor("admin"), bindings,
                                         root.Fork("admin"));
    if (!engine.ok()) return engine.status();
    app->engine_ = std::make_unique<engine::Engine>(std::move(*engine));
  }
  RestOptions rest;
  rest.token = options.token;
  rest.virtual_time = app->manual_;
  rest.engine = app->engine_.get();
  rest.trace_tail = app->tail_.get();
  app->api_ = std::make_unique<RestApi>(*app->world_, rest);
  return app;
}

ServeApp::~ServeApp() {
  api_.reset();
  engine_.reset();
  world_.reset();
}

namespace {

core::Task<void> Migrate(engine::Engine& engine, std::optional<Status>& done) {
  auto migrated = co_await engine.Migrate();
  done = migrated.ok() ? Status::Ok() : migrated.status();
}

}  // namespace

Status ServeApp::Start() {
  if (!engine_) return Status::Ok();
  std::optional<Status> done;
  runtime_->Spawn(Migrate(*engine_, done));
  while (!done && RunOne()) {
  }
  return done.value_or(Status::Cancelled("the loop stopped before the schema was applied"));
}

bool ServeApp::RunOne() {
  if (manual_ != nullptr) return manual_->RunOne();
  return io_.run_one() > 0;
}

}  // namespace cfemu::emulator
