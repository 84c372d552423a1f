#include "emulator/testing/engine_world.h"

#include <set>

#include "emulator/config/wrangler_config.h"
#include "emulator/harness/engine_worker.h"
#include "src/engine/sql.h"

namespace cfemu::testing {

namespace {

Task<Result<Json>> RecordAndRun(std::shared_ptr<ProcessorHolder> holder, JobContext& ctx) {
  holder->runs.push_back({ctx.job().id, ctx.token(), ctx.attempt(), ctx.env().clock().Now()});
  if (!holder->fn) co_return Json{{"ok", true}};
  co_return co_await holder->fn(ctx);
}

Task<Result<Json>> CompleteAfterTask(JobContext& ctx, Duration duration, Json value) {
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(duration));
  co_return value;
}

Task<Result<Json>> FailTimesTask(JobContext& ctx, int failures, std::string message) {
  if (ctx.job().attempts_made < failures) co_return Status::Unknown(message);
  co_return Json{{"attempt", ctx.attempt()}};
}

}  // namespace

EngineWorld::ProcessorFn CompleteAfter(Duration duration, Json value) {
  return [duration, value](JobContext& ctx) { return CompleteAfterTask(ctx, duration, value); };
}

EngineWorld::ProcessorFn FailTimes(int failures, std::string message) {
  return [failures, message](JobContext& ctx) { return FailTimesTask(ctx, failures, message); };
}

EngineWorld::EngineWorld(EngineTestOptions options)
    : queue_name_(options.queue),
      d1_binding_(options.bindings.d1),
      coordinator_binding_(options.bindings.coordinator),
      processor_(std::make_shared<ProcessorHolder>()),
      checker_(std::make_unique<engine::InvariantChecker>()) {
  emulator::SimulatorOptions sim_options;
  sim_options.profile = options.profile;
  sim_options.faults = options.faults;
  sim_ = std::make_unique<emulator::Simulator>(options.seed, sim_options);
  checker_->SetQueueConfig(queue_name_, options.queue_config);
  sim_->trace().AddObserver(
      [checker = checker_.get()](const core::TraceRecord& record) { checker->Observe(record); });
  engine::EngineBindings bindings = options.bindings;
  if (!options.kv_binding.empty()) bindings.kv = options.kv_binding;
  engine::RegisterCoordinator(registry_, bindings);
  auto config =
      options.wrangler_file
          ? emulator::LoadWranglerConfigFile(*options.wrangler_file, &registry_)
          : emulator::LoadWranglerConfig(options.wrangler_text.empty()
                                             ? emulator::DefaultWranglerConfig()
                                             : std::string_view(options.wrangler_text),
                                         "wrangler.jsonc", &registry_);
  if (!config.ok()) {
    ADD_FAILURE() << config.status().ToString();
    return;
  }
  platform::EnvSpec spec = config->spec;
  core::Random root(options.seed);
  // The consumer is the engine's (Engine::Close reaches it); the engine needs the World's Env,
  // so the handler forwards to a slot filled once the engine exists. The DLQ consumer and the
  // tick resolve the same binding names in each invocation's Env.
  auto consumer_slot = std::make_shared<std::optional<engine::Consumer>>();
  engine::DeadLetterConsumer dead_letters(bindings, options.engine_config,
                                          engine::DeadLetterOptions(), root.Fork("dlq"));
  emulator::WireEngineHandlers(
      spec,
      {[consumer_slot](platform::MessageBatch& batch, platform::Env& env,
                       platform::ExecutionContext& ctx) {
         return (*consumer_slot)->Handle(batch, env, ctx);
       },
       dead_letters.Handler(),
       engine::MakeSchedulerHandler(bindings, options.engine_config, root.Fork("tick"))},
      [&options](platform::ConsumerSpec& c) {
        c.max_batch_size = options.max_batch_size;
        c.max_batch_timeout = options.max_batch_timeout;
        c.max_retries = options.max_retries;
        c.max_concurrency = options.max_concurrency;
      });
  if (options.crons) spec.crons = *options.crons;
  emulator::WorldOptions world_options;
  world_options.registry = &registry_;
  world_options.persist_dir = options.persist_dir;
  auto world = emulator::World::Create(*sim_, spec, world_options);
  if (!world.ok()) {
    ADD_FAILURE() << world.status().ToString();
    return;
  }
  world_ = std::move(*world);
  auto engine =
      engine::Engine::Create(env(), bindings, root.Fork("producer"), options.engine_config);
  if (!engine.ok()) {
    ADD_FAILURE() << engine.status().ToString();
    return;
  }
  engine_ = std::make_unique<engine::Engine>(std::move(*engine));
  *consumer_slot = engine_->CreateConsumer(
      [holder = processor_](JobContext& ctx) { return RecordAndRun(holder, ctx); },
      options.consumer);
  // Under a fault profile the set-up itself may meet a fault: try again, as a deploy would.
  for (int attempt = 0; options.migrate && attempt < 20; ++attempt) {
    auto migrated = sim_->Run(engine_->Migrate());
    if (migrated.ok()) break;
    EXPECT_LT(attempt, 19) << migrated.status().ToString();
  }
  if (options.open_queue) {
    for (int attempt = 0; attempt < 20 && !queue_; ++attempt) {
      auto queue = sim_->Run(engine_->OpenQueue(queue_name_, options.queue_config));
      if (queue.ok()) {
        queue_ = std::make_unique<engine::Queue>(std::move(*queue));
      } else {
        EXPECT_LT(attempt, 19) << queue.status().ToString();
      }
    }
  } else {
    auto queue = engine_->GetQueue(queue_name_);
    if (!queue.ok()) {
      ADD_FAILURE() << queue.status().ToString();
      return;
    }
    queue_ = std::make_unique<engine::Queue>(std::move(*queue));
  }
}

EngineWorld::~EngineWorld() {
  if (check_at_exit_ && ok() && !::testing::Test::HasFatalFailure()) ExpectInvariants(false);
  queue_.reset();
  engine_.reset();
  world_.reset();
  sim_.reset();
}

std::vector<engine::InvariantResult> EngineWorld::CheckInvariants(bool quiescent) {
  engine::CheckOptions options;
  options.quiescent = quiescent;
  return sim_->Run(checker_->Check(*engine_->context(), options));
}

void EngineWorld::ExpectInvariants(bool quiescent) {
  for (const auto& result : CheckInvariants(quiescent)) {
    EXPECT_TRUE(result.ok) << result.id << " (" << result.name << "): " << result.detail;
  }
}

int EngineWorld::RunsOf(const std::string& id) const {
  int n = 0;
  for (const auto& run : processor_->runs) n += run.id == id ? 1 : 0;
  return n;
}

Result<Job> EngineWorld::TryAdd(std::string name, Json data, JobOptions options) {
  return sim_->Run(queue_->Add(std::move(name), std::move(data), std::move(options)));
}

Job EngineWorld::Add(std::string name, Json data, JobOptions options) {
  auto job = TryAdd(std::move(name), std::move(data), std::move(options));
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return job.ok() ? *job : Job();
}

std::optional<Job> EngineWorld::Get(const std::string& id) {
  auto job = sim_->Run(queue_->GetJob(id));
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return job.ok() ? *job : std::nullopt;
}

JobState EngineWorld::StateOf(const std::string& id) {
  auto job = Get(id);
  EXPECT_TRUE(job.has_value()) << "job " << id << " does not exist";
  return job ? job->state : JobState::kWaiting;
}

std::map<std::string, std::int64_t> EngineWorld::Counts() {
  auto counts = sim_->Run(queue_->GetJobCounts());
  EXPECT_TRUE(counts.ok()) << counts.status().ToString();
  return counts.ok() ? *counts : std::map<std::string, std::int64_t>();
}

std::vector<std::pair<std::string, Json>> EngineWorld::Events(const std::string& id) {
  platform::D1Database& db = **env().D1(d1_binding_);
  auto rows = id.empty()
                  ? sim_->Run(db.Prepare("SELECT event, data FROM cfq_events WHERE queue = ? "
                                         "ORDER BY eid")
                                  .Bind(queue_name_)
                                  .All())
                  : sim_->Run(db.Prepare("SELECT event, data FROM cfq_events WHERE queue = ? "
                                         "AND job_id = ? ORDER BY eid")
                                  .Bind(queue_name_, id)
                                  .All());
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::pair<std::string, Json>> out;
  if (!rows.ok()) return out;
  for (const auto& row : rows->results) {
    out.emplace_back(engine::sql::Str(row.values[0]), engine::sql::JsonOf(row.values[1]));
  }
  return out;
}

std::vector<std::string> EngineWorld::EventNames(const std::string& id) {
  std::vector<std::string> out;
  for (const auto& [name, data] : Events(id)) out.push_back(name);
  return out;
}

engine::CoordinatorSnapshot EngineWorld::Coordinator(const std::string& queue) {
  const std::string& name = queue.empty() ? queue_name_ : queue;
  auto stub = (*env().DurableObjects(coordinator_binding_))->GetByName(name);
  auto snapshot = sim_->Run(stub->Call(&engine::Coordinator::Inspect, name));
  EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  return snapshot.ok() ? *snapshot : engine::CoordinatorSnapshot();
}

std::string EngineWorld::DescribeUnfinished() {
  platform::D1Database& db = **env().D1(d1_binding_);
  auto rows = sim_->Run(db.Prepare("SELECT id, name, state, gen, dispatch_at, available_at, "
                                   "attempts_made, attempts_started, stalled_count, lost_count, "
                                   "pending_deps FROM cfq_jobs WHERE queue = ? AND state NOT IN "
                                   "('completed', 'failed') ORDER BY seq")
                            .Bind(queue_name_)
                            .All());
  std::string out;
  if (rows.ok()) {
    for (const auto& row : rows->results) {
      for (const auto& value : row.values) out += engine::sql::Str(value) + " ";
      out += "\n";
    }
  }
  const auto snapshot = Coordinator();
  out += "coordinator: paused=" + std::to_string(snapshot.paused) +
         " leases=" + std::to_string(snapshot.leases.size()) +
         " inflight=" + std::to_string(snapshot.inflight);
  return out;
}

std::int64_t EngineWorld::QueryInt(const std::string& sql) {
  platform::D1Database& db = **env().D1(d1_binding_);
  auto value = sim_->Run(db.Prepare(sql).First());
  EXPECT_TRUE(value.ok()) << value.status().ToString();
  if (!value.ok() || !*value) return -1;
  return engine::sql::Int((*value)->values.at(0));
}

void EngineWorld::RunUntilIdle(Duration max) {
  const Status idle = sim_->RunUntilIdle(max);
  ASSERT_TRUE(idle.ok()) << idle.ToString();
}

}  // namespace cfemu::testing
