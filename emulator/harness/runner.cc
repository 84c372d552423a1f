#include "emulator/harness/runner.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "emulator/config/wrangler_config.h"
#include "emulator/harness/engine_worker.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/core/build_info.h"
#include "src/engine/engine.h"
#include "src/engine/invariants.h"
#include "src/engine/sql.h"

namespace cfemu::emulator {

namespace {

using core::Result;
using core::Status;
using core::Task;
using engine::JobContext;
using Json = nlohmann::json;

Task<Result<Json>> Process(const Scenario* scenario, std::shared_ptr<Ledger> ledger,
                           FaultInjector* faults, JobContext& ctx) {
  co_return co_await RunBehaviour(scenario->BehaviourFor(ctx.job().name), ctx, ledger.get(),
                                  *faults);
}

struct Run {
  Run(const Scenario& scenario, Simulator& sim) : scenario(scenario), sim(sim) {}
  const Scenario& scenario;
  engine::EngineConfig engine_config;
  Simulator& sim;
  platform::DurableObjectRegistry registry;
  std::shared_ptr<Ledger> ledger = std::make_shared<Ledger>();
  std::unique_ptr<World> world;
  std::unique_ptr<engine::Engine> engine;
  std::map<std::string, engine::Queue> queues;
  // Producers other than "producer": their engines and queues ("producer/queue").
  engine::EngineBindings bindings;
  std::map<std::string, std::unique_ptr<engine::Engine>> producer_engines;
  std::map<std::string, engine::Queue> producer_queues;
  engine::InvariantChecker checker;
  std::vector<std::string> errors;  // Producer calls that failed for good.
};

// A producer call may meet a platform fault: it is tried again, as a real producer would.
// Workload steps await it (each producer plays its own steps); the end checks call Retried.
template <class T>
Task<Result<T>> RetriedAsync(Run& run, std::string what,
                             std::function<Task<Result<T>>()> call) {
  Result<T> result = Status::Unavailable("not tried");
  for (int attempt = 0; attempt < 10; ++attempt) {
    result = co_await call();
    if (result.ok()) co_return result;
    if (result.status().code() == core::Code::kInvalidArgument) break;  // Not transient.
  }
  run.errors.push_back(what + ": " + result.status().ToString());
  co_return result;
}

template <class T>
Result<T> Retried(Run& run, const std::string& what, std::function<Task<Result<T>>()> call) {
  return run.sim.Run(RetriedAsync<T>(run, what, std::move(call)));
}

Status Build(Run& run) {
  const Scenario& s = run.scenario;
  engine::EngineBindings& bindings = run.bindings;
  bindings.kv = s.engine.kv_binding;
  run.engine_config.kv_pause_hint = s.engine.kv_pause_hint;
  run.engine_config.kv_throttle_cache = s.engine.kv_throttle_cache;
  engine::RegisterCoordinator(run.registry, bindings);
  Result<WranglerConfig> config =
      s.wrangler ? LoadWranglerConfigFile(s.origin.parent_path() / *s.wrangler, &run.registry)
                 : LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc", &run.registry);
  if (!config.ok()) return config.status();
  platform::EnvSpec spec = config->spec;
  core::Random root = run.sim.random().Fork("scenario");
  engine::ConsumerOptions consumer_options;
  consumer_options.concurrency = s.consumer.concurrency;
  consumer_options.prefetch = s.consumer.prefetch;
  const Scenario* scenario = &s;
  std::shared_ptr<Ledger> ledger = run.ledger;
  engine::Consumer consumer(
      bindings, run.engine_config,
      [scenario, ledger, faults = &run.sim.faults()](JobContext& ctx) {
        return Process(scenario, ledger, faults, ctx);
      },
      consumer_options, root.Fork("consumer"));
  engine::DeadLetterConsumer dead_letters(bindings, engine::EngineConfig(),
                                          engine::DeadLetterOptions(), root.Fork("dlq"));
  WireEngineHandlers(
      spec,
      {consumer.Handler(), dead_letters.Handler(),
       engine::MakeSchedulerHandler(bindings, engine::EngineConfig(), root.Fork("tick"))},
      [&s](platform::ConsumerSpec& c) {
        c.max_batch_size = s.consumer.max_batch_size;
        c.max_batch_timeout = core::Milliseconds(s.consumer.max_batch_timeout_ms);
        c.max_retries = s.consumer.max_retries;
        c.max_concurrency = s.consumer.max_concurrency;
      });
  WorldOptions world_options;
  world_options.registry = &run.registry;
  auto world = World::Create(run.sim, spec, world_options);
  if (!world.ok()) return world.status();
  run.world = std::move(*world);
  auto engine = engine::Engine::Create(run.world->EnvFor("producer"), bindings,
                                       root.Fork("producer"), run.engine_config);
  if (!engine.ok()) return engine.status();
  run.engine = std::make_unique<engine::Engine>(std::move(*engine));
  return Status::Ok();
}

Task<void> RetriedStatusAsync(Run& run, std::string what, std::function<Task<Status>()> call) {
  Status status;
  for (int attempt = 0; attempt < 10; ++attempt) {
    status = co_await call();
    if (status.ok()) co_return;
  }
  run.errors.push_back(what + ": " + status.ToString());
}

// One action of the workload at its virtual time, by one producer.
struct Action {
  std::int64_t at_ms = 0;
  std::size_t order = 0;  // Ties keep the file's order.
  std::string producer;
  std::function<Task<void>()> run;
};

// The engine a producer adds through: its own, on its own Env (KV location).
Result<engine::Engine*> EngineFor(Run& run, const std::string& producer) {
  if (producer == "producer") return run.engine.get();
  auto& engine = run.producer_engines[producer];
  if (!engine) {
    auto created = engine::Engine::Create(run.world->EnvFor(producer), run.bindings,
                                          run.sim.random().Fork("producer." + producer),
                                          run.engine_config);
    if (!created.ok()) return created.status();
    engine = std::make_unique<engine::Engine>(std::move(*created));
  }
  return engine.get();
}

// The logical queue as `producer` sees it.
Result<engine::Queue*> QueueFor(Run& run, const std::string& producer, const std::string& queue) {
  if (producer == "producer") return &run.queues.at(queue);
  const std::string key = producer + "/" + queue;
  if (const auto it = run.producer_queues.find(key); it != run.producer_queues.end()) {
    return &it->second;
  }
  auto engine = EngineFor(run, producer);
  if (!engine.ok()) return engine.status();
  auto opened = (*engine)->GetQueue(queue);
  if (!opened.ok()) return opened.status();
  return &run.producer_queues.emplace(key, std::move(*opened)).first->second;
}

Task<void> AddJob(Run& run, engine::Queue* queue, std::string name, Json data,
                  engine::JobOptions options, std::string where) {
  (void)co_await RetriedAsync<engine::Job>(run, std::move(where),
                                           [&] { return queue->Add(name, data, options); });
}

Task<void> AddJobs(Run& run, engine::Queue* queue, std::vector<engine::BulkJob> jobs,
                   std::string where) {
  (void)co_await RetriedAsync<std::vector<engine::Job>>(run, std::move(where),
                                                        [&] { return queue->AddBulk(jobs); });
}

Task<void> AddFlow(Run& run, engine::Engine* engine, engine::FlowJob flow, std::string where) {
  auto producer = engine->GetFlowProducer();
  (void)co_await RetriedAsync<engine::JobNode>(run, std::move(where),
                                               [&] { return producer.Add(flow); });
}

Task<void> UpsertScheduler(Run& run, engine::Queue* queue, ScenarioStep step, std::string where) {
  (void)co_await RetriedAsync<std::optional<engine::Job>>(run, std::move(where), [&] {
    return queue->UpsertJobScheduler(step.scheduler_id, step.repeat, step.job_template);
  });
}

Task<void> QueueCall(Run& run, engine::Queue* queue, ScenarioStep::Kind kind, std::string where) {
  switch (kind) {
    case ScenarioStep::Kind::kPause:
    case ScenarioStep::Kind::kResume: {
      const bool pause = kind == ScenarioStep::Kind::kPause;
      co_await RetriedStatusAsync(run, std::move(where),
                                  [&] { return pause ? queue->Pause() : queue->Resume(); });
      co_return;
    }
    case ScenarioStep::Kind::kRetryFailed:
      (void)co_await RetriedAsync<std::int64_t>(run, std::move(where),
                                                [&] { return queue->RetryJobs(); });
      co_return;
    default:
      (void)co_await RetriedAsync<std::int64_t>(run, std::move(where),
                                                [&] { return queue->PromoteJobs(); });
      co_return;
  }
}

Task<void> SendRaw(Run& run, ScenarioStep step, std::string where) {
  auto producer = run.world->EnvFor(step.producer).Queue(step.binding);
  if (!producer.ok()) {
    run.errors.push_back(where + ": " + producer.status().ToString());
    co_return;
  }
  (void)co_await RetriedAsync<platform::SendResult>(run, std::move(where), [&] {
    platform::Body body = step.text ? platform::Body(platform::Text{*step.text})
                                    : platform::Body(step.data);
    return (*producer)->Send(std::move(body));
  });
}

// A Cloudflare queue's admin action (the dashboard's purge, pause and resume of delivery).
void PhysicalQueueCall(Run& run, const ScenarioStep& step, const std::string& where) {
  Broker& broker = run.world->queues();
  Status status;
  if (step.kind == ScenarioStep::Kind::kPurgeQueue) {
    status = broker.Purge(step.physical_queue).status();
  } else if (step.kind == ScenarioStep::Kind::kPauseDelivery) {
    status = broker.Pause(step.physical_queue);
  } else {
    status = broker.Resume(step.physical_queue);
  }
  if (!status.ok()) run.errors.push_back(where + ": " + status.ToString());
}

Task<void> PhysicalQueueCallTask(Run& run, ScenarioStep step, std::string where) {
  PhysicalQueueCall(run, step, where);
  co_return;
}

void AddActions(Run& run, const ScenarioStep& step, std::size_t index, std::vector<Action>& out) {
  const std::string where = "workload[" + std::to_string(index) + "]";
  auto push = [&](std::int64_t at_ms, std::function<Task<void>()> task) {
    out.push_back({at_ms, index, step.producer, std::move(task)});
  };
  if (step.on_physical_queue()) {
    push(step.at_ms, [&run, step, where] { return PhysicalQueueCallTask(run, step, where); });
    return;
  }
  if (step.kind == ScenarioStep::Kind::kSend) {
    for (int n = 0; n < step.count; ++n) {
      push(step.at_ms, [&run, step, where] { return SendRaw(run, step, where); });
    }
    return;
  }
  engine::Queue* queue = nullptr;
  if (step.kind != ScenarioStep::Kind::kFlow) {
    auto found = QueueFor(run, step.producer, step.queue);
    if (!found.ok()) {
      run.errors.push_back(where + ": " + found.status().ToString());
      return;
    }
    queue = *found;
  }
  // Each job gets a deterministic jobId unless the step sets one, so that a producer retry
  // after a lost reply finds the job instead of adding it twice (engine-spec §9 row 12).
  auto options_for = [index, step](int n) {
    engine::JobOptions options = step.options;
    if (!options.job_id) options.job_id = "w" + std::to_string(index) + "-" + std::to_string(n);
    return options;
  };
  auto data_for = [step](int n) {
    Json data = step.data;
    if (data.is_object()) data["n"] = n;
    return data;
  };
  auto add_one = [&run, queue, step, where, options_for, data_for](int n) {
    return AddJob(run, queue, step.name, data_for(n), options_for(n), where);
  };
  switch (step.kind) {
    case ScenarioStep::Kind::kAdd:
      if (step.every_ms == 0 && step.count > 1) {
        push(step.at_ms, [&run, queue, step, where, options_for, data_for] {
          std::vector<engine::BulkJob> jobs;
          for (int n = 0; n < step.count; ++n) {
            jobs.emplace_back(step.name, data_for(n), options_for(n));
          }
          return AddJobs(run, queue, std::move(jobs), where);
        });
      } else {
        for (int n = 0; n < step.count; ++n) {
          push(step.at_ms + n * step.every_ms, [add_one, n] { return add_one(n); });
        }
      }
      return;
    case ScenarioStep::Kind::kRate: {
      const auto total = static_cast<std::int64_t>(step.per_second * step.for_ms / 1000.0);
      for (std::int64_t n = 0; n < total; ++n) {
        const auto offset = static_cast<std::int64_t>(n * 1000.0 / step.per_second);
        push(step.at_ms + offset, [add_one, n] { return add_one(static_cast<int>(n)); });
      }
      return;
    }
    case ScenarioStep::Kind::kFlow: {
      auto engine = EngineFor(run, step.producer);
      if (!engine.ok()) {
        run.errors.push_back(where + ": " + engine.status().ToString());
        return;
      }
      push(step.at_ms, [&run, engine = *engine, step, where] {
        return AddFlow(run, engine, step.flow, where);
      });
      return;
    }
    case ScenarioStep::Kind::kScheduler:
      push(step.at_ms, [&run, queue, step, where] {
        return UpsertScheduler(run, queue, step, where);
      });
      return;
    default:  // pause, resume, retry_failed, promote_delayed
      push(step.at_ms, [&run, queue, kind = step.kind, where] {
        return QueueCall(run, queue, kind, where);
      });
      return;
  }
}

// One producer plays its steps in time order: each step starts at its time, or when the
// producer's previous call returns if that is later. Producers play concurrently, so one that
// hangs (a partition, a timeout) delays only its own steps.
Task<void> PlayProducer(Run& run, core::Instant start, std::vector<Action> actions) {
  for (const Action& action : actions) {
    const core::Instant at = start + core::Milliseconds(action.at_ms);
    if (at > run.sim.now()) {
      const Status slept =
          co_await run.sim.SleepUntil(at, core::TimerKind::kForeground, core::CancelToken());
      if (!slept.ok()) co_return;
    }
    co_await action.run();
  }
}

Status Drive(Run& run, core::Instant start) {
  const Scenario& s = run.scenario;
  auto migrated =
      Retried<engine::MigrationReport>(run, "migrate", [&] { return run.engine->Migrate(); });
  if (!migrated.ok()) return migrated.status();
  for (const auto& [name, config] : s.queues) {
    auto queue = Retried<engine::Queue>(run, "open queue " + name,
                                        [&] { return run.engine->OpenQueue(name, config); });
    if (!queue.ok()) return queue.status();
    run.queues.emplace(name, std::move(*queue));
  }
  std::vector<Action> actions;
  for (std::size_t i = 0; i < s.workload.size(); ++i) AddActions(run, s.workload[i], i, actions);
  std::stable_sort(actions.begin(), actions.end(), [](const Action& a, const Action& b) {
    return std::tie(a.at_ms, a.order) < std::tie(b.at_ms, b.order);
  });
  std::map<std::string, std::vector<Action>> by_producer;
  for (Action& action : actions) by_producer[action.producer].push_back(std::move(action));
  for (auto& [producer, steps] : by_producer) {
    run.sim.Spawn(PlayProducer(run, start, std::move(steps)));
  }
  const core::Instant end = start + core::Milliseconds(s.duration_ms);
  if (end > run.sim.now()) CFEMU_RETURN_IF_ERROR(run.sim.RunUntil(end));
  // Liveness: the faults have healed; everything must settle.
  CFEMU_RETURN_IF_ERROR(run.sim.RunFor(core::Milliseconds(s.liveness_ms)));
  return run.sim.RunUntilIdle(core::Hours(24));
}

Json JobStats(Run& run) {
  platform::D1Database& db = **run.world->EnvFor("reporter").D1("DB");
  auto rows = Retried<platform::D1Result>(run, "report", [&] {
    return db
        .Prepare(
            "SELECT name, state, count(*), sum(attempts_made), sum(stalled_count), "
            "coalesce(avg(processed_at - created_at), 0), coalesce(avg(finished_at - "
            "processed_at), 0) FROM cfq_jobs GROUP BY name, state ORDER BY name, state")
        .All();
  });
  Json out = Json::object();
  if (!rows.ok()) return out;
  for (const auto& row : rows->results) {
    const auto& v = row.values;
    out[engine::sql::Str(v[0])][engine::sql::Str(v[1])] = {{"jobs", engine::sql::Int(v[2])},
                                                           {"attempts", engine::sql::Int(v[3])},
                                                           {"stalls", engine::sql::Int(v[4])},
                                                           {"avg_wait_ms", engine::sql::Int(v[5])},
                                                           {"avg_run_ms", engine::sql::Int(v[6])}};
  }
  return out;
}

Json StatsJson(const QueueStats& s) {
  return Json{{"sent", s.sent},
              {"delivered", s.delivered},
              {"redelivered", s.redelivered},
              {"acked", s.acked},
              {"retried", s.retried},
              {"dead_lettered", s.dead_lettered},
              {"deleted", s.deleted},
              {"expired", s.expired},
              {"purged", s.purged},
              {"duplicated", s.duplicated},
              {"invocations", s.invocations},
              {"invocations_failed", s.invocations_failed},
              {"invocations_killed", s.invocations_killed}};
}

struct Check {
  std::string name;
  bool ok = true;
  std::string detail;
};

std::string Join(const std::vector<std::string>& parts, std::size_t max = 5) {
  std::string out;
  for (std::size_t i = 0; i < parts.size() && i < max; ++i) {
    out += (i ? "; " : "") + parts[i];
  }
  if (parts.size() > max) out += "; ... (" + std::to_string(parts.size() - max) + " more)";
  return out;
}

// Side effects per completed job with a side-effect behaviour, against the expectation.
Check EffectsCheck(Run& run, Json& summary) {
  const Scenario& s = run.scenario;
  std::vector<std::string> problems;
  std::int64_t jobs = 0, effects = 0, duplicated = 0;
  platform::D1Database& db = **run.world->EnvFor("reporter").D1("DB");
  auto rows = Retried<platform::D1Result>(run, "effects", [&] {
    return db
        .Prepare(
            "SELECT queue, id, name, attempts_started FROM cfq_jobs WHERE state = "
            "'completed' ORDER BY queue, id")
        .All();
  });
  if (rows.ok()) {
    for (const auto& row : rows->results) {
      const auto& v = row.values;
      const std::string name = engine::sql::Str(v[2]);
      if (!s.BehaviourFor(name).side_effect) continue;
      const std::string key = engine::sql::Str(v[0]) + "/" + engine::sql::Str(v[1]);
      const auto it = run.ledger->find(key);
      const std::int64_t n = it == run.ledger->end() ? 0 : it->second;
      const std::int64_t started = engine::sql::Int(v[3]);
      ++jobs;
      effects += n;
      if (n > 1) ++duplicated;
      if (n == 0 || n > started || (s.expect.effects == "once" && n != 1)) {
        problems.push_back(key + ": " + std::to_string(n) + " effects, " + std::to_string(started) +
                           " attempts started");
      }
    }
  }
  summary = Json{{"completed_jobs_with_effects", jobs},
                 {"effects", effects},
                 {"jobs_with_repeated_effects", duplicated}};
  return {"side effects: " + s.expect.effects, problems.empty(),
          problems.empty() ? std::to_string(effects) + " effects for " + std::to_string(jobs) +
                                 " jobs, " + std::to_string(duplicated) + " repeated"
                           : Join(problems)};
}

// An expectation's scheduler key, "queue/id" or "id" (queue "jobs"), as (queue, id).
std::pair<std::string, std::string> SchedulerKey(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return {"jobs", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// Every iteration job of a scheduler (id `repeat:<scheduler>:<slot ms>`) that has started did
// so no earlier than its slot and at most `bound_ms` after it: slots do not drift.
Check LatenessCheck(Run& run, const std::string& key, std::int64_t bound_ms) {
  const auto [queue, id] = SchedulerKey(key);
  platform::D1Database& db = **run.world->EnvFor("reporter").D1("DB");
  auto rows = Retried<platform::D1Result>(run, "lateness", [&] {
    return db
        .Prepare(
            "SELECT id, processed_at - CAST(substr(id, length('repeat:' || ?2 || ':') + 1) AS "
            "INTEGER) FROM cfq_jobs WHERE queue = ?1 AND scheduler_id = ?2 AND processed_at IS "
            "NOT NULL ORDER BY processed_at")
        .Bind(queue, id)
        .All();
  });
  std::vector<std::string> problems;
  std::int64_t started = 0, worst = 0;
  if (rows.ok()) {
    for (const auto& row : rows->results) {
      const std::int64_t lateness = engine::sql::Int(row.values[1]);
      ++started;
      worst = std::max(worst, lateness);
      if (lateness < 0 || lateness > bound_ms) {
        problems.push_back(engine::sql::Str(row.values[0]) + " started " +
                           std::to_string(lateness) + " ms after its slot");
      }
    }
  }
  const std::string name = "scheduler " + key + " starts within " + std::to_string(bound_ms) +
                           " ms of each slot";
  if (!rows.ok()) return {name, false, rows.status().ToString()};
  if (started == 0) return {name, false, "no iteration started"};
  return {name, problems.empty(),
          problems.empty() ? std::to_string(started) + " iterations, the latest " +
                                 std::to_string(worst) + " ms after its slot"
                           : Join(problems)};
}

std::vector<Check> Checks(Run& run, const Json& counts, Json& effects) {
  const Scenario& s = run.scenario;
  std::vector<Check> out;
  if (s.expect.all_finished) {
    std::int64_t unfinished = 0;
    for (const char* state : {"waiting", "prioritized", "delayed", "waiting-children", "active"}) {
      unfinished += counts.value(state, std::int64_t{0});
    }
    out.push_back(
        {"every job finished", unfinished == 0, std::to_string(unfinished) + " unfinished"});
  }
  for (const auto& [state, expected] : s.expect.counts) {
    const std::int64_t n = counts.value(state, std::int64_t{0});
    const bool ok = (!expected.min || n >= *expected.min) && (!expected.max || n <= *expected.max);
    std::string want = expected.min == expected.max
                           ? std::to_string(*expected.min)
                           : (expected.min ? ">= " + std::to_string(*expected.min) : "") +
                                 (expected.min && expected.max ? " and " : "") +
                                 (expected.max ? "<= " + std::to_string(*expected.max) : "");
    out.push_back({state + " jobs", ok, std::to_string(n) + " (expected " + want + ")"});
  }
  for (const auto& [key, expected] : s.expect.scheduler_iterations) {
    const auto [queue, id] = SchedulerKey(key);
    std::int64_t iterations = -1;
    if (const auto q = run.queues.find(queue); q != run.queues.end()) {
      auto info = Retried<std::optional<engine::SchedulerInfo>>(
          run, "scheduler " + key, [&] { return q->second.GetJobScheduler(id); });
      if (info.ok() && *info) iterations = (*info)->iteration_count;
    }
    out.push_back({"scheduler " + key + " fired " + std::to_string(expected) + " times",
                   iterations == expected, std::to_string(iterations) + " iterations"});
  }
  for (const auto& [id, least] : s.expect.faults_fired) {
    const std::int64_t n = run.sim.faults().fired(*FaultFromId(id));
    out.push_back({"fault " + id + " fired at least " + std::to_string(least) + " times",
                   n >= least, std::to_string(n) + " firings"});
  }
  for (const auto& [key, bound] : s.expect.scheduler_max_lateness_ms) {
    out.push_back(LatenessCheck(run, key, bound));
  }
  out.push_back(EffectsCheck(run, effects));
  out.push_back({"the producer's calls went through", run.errors.empty(),
                 run.errors.empty() ? "all calls succeeded" : Join(run.errors)});
  return out;
}

std::string ReplayCommand(const Scenario& s, const ScenarioRunOptions& options) {
  std::string command =
      "cfemu run " + s.origin.string() + " --seed " + std::to_string(options.seed);
  if (!options.faults_file.empty()) command += " --faults " + options.faults_file;
  if (options.broken_rule != engine::EngineConfig::BrokenRule::kNone) {
    command += " --break " + BrokenRuleName(options.broken_rule);
  }
  return command;
}

}  // namespace

std::optional<engine::EngineConfig::BrokenRule> BrokenRuleFromName(std::string_view name) {
  if (name == "none") return engine::EngineConfig::BrokenRule::kNone;
  if (name == "no-fencing") return engine::EngineConfig::BrokenRule::kNoFencing;
  return std::nullopt;
}

std::string BrokenRuleName(engine::EngineConfig::BrokenRule rule) {
  switch (rule) {
    case engine::EngineConfig::BrokenRule::kNone:
      return "none";
    case engine::EngineConfig::BrokenRule::kNoFencing:
      return "no-fencing";
  }
  return "none";
}

FaultPlan ScenarioFaultPlan(const Scenario& scenario, std::uint64_t seed) {
  core::Random random(seed);
  core::Random swarm = random.Fork("swarm");
  FaultPlan plan =
      scenario.swarm ? FaultPlan::Swarm(scenario.profile, swarm) : FaultPlan(scenario.profile);
  for (const auto& [fault, rule] : scenario.fault_rules) plan.Set(fault, rule);
  for (Fault fault : scenario.disabled_faults) plan.Disable(fault);
  const FaultWindow active{core::kVirtualEpoch,
                           core::kVirtualEpoch + core::Milliseconds(scenario.duration_ms)};
  for (const auto& info : AllFaults()) {
    auto rule = plan.rule(info.fault);
    if (!rule || !rule->windows.empty()) continue;
    rule->windows.push_back(active);
    plan.Set(info.fault, *rule);
  }
  return plan;
}

Json RunScenario(const Scenario& scenario, const ScenarioRunOptions& options) {
  SimulatorOptions sim_options;
  sim_options.profile = scenario.profile;
  FaultPlan plan = options.faults ? *options.faults : ScenarioFaultPlan(scenario, options.seed);
  if (options.faults && options.faults->forced_only()) {
    // The scenario's rules draw as in the original run; only the forced decisions fire.
    plan = ScenarioFaultPlan(scenario, options.seed);
    for (const auto& decision : options.faults->forced()) plan.Force(decision);
    plan.set_forced_only(true);
  } else if (options.faults) {  // A replayed plan heals at duration_s like the scenario's own.
    for (const auto& info : AllFaults()) {
      auto rule = plan.rule(info.fault);
      if (!rule || !rule->windows.empty()) continue;
      rule->windows.push_back(
          {core::kVirtualEpoch, core::kVirtualEpoch + core::Milliseconds(scenario.duration_ms)});
      plan.Set(info.fault, *rule);
    }
  }
  sim_options.faults = plan;
  Simulator sim(options.seed, sim_options);
  if (options.trace != nullptr) sim.trace().StreamTo(options.trace);
  const core::Instant start = sim.now();
  Json report;
  {
    Run run(scenario, sim);
    run.engine_config.broken_rule = options.broken_rule;
    for (const auto& [name, config] : scenario.queues) run.checker.SetQueueConfig(name, config);
    sim.trace().AddObserver([&run](const core::TraceRecord& r) { run.checker.Observe(r); });
    Status outcome = Build(run);
    if (outcome.ok()) outcome = Drive(run, start);
    Json counts = Json::object();
    bool all_ok = outcome.ok();
    Json invariants = Json::array();
    Json checks = Json::array();
    Json effects = Json::object();
    if (run.engine) {
      for (const auto& [name, queue] : run.queues) {
        engine::Queue q = queue;
        auto read = Retried<std::map<std::string, std::int64_t>>(run, "counts",
                                                                 [&] { return q.GetJobCounts(); });
        if (!read.ok()) continue;
        for (const auto& [state, n] : *read) counts[state] = counts.value(state, 0) + n;
      }
      engine::CheckOptions check;
      check.quiescent = outcome.ok();
      const auto& required = scenario.expect.invariants;
      for (const auto& result : sim.Run(run.checker.Check(*run.engine->context(), check))) {
        const bool counted = required.empty() || std::find(required.begin(), required.end(),
                                                           result.id) != required.end();
        all_ok = all_ok && (result.ok || !counted);
        invariants.push_back({{"id", result.id},
                              {"name", result.name},
                              {"ok", result.ok},
                              {"detail", result.detail},
                              {"required", counted}});
      }
      for (const auto& c : Checks(run, counts, effects)) {
        all_ok = all_ok && c.ok;
        checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
      }
    }
    if (!outcome.ok()) {
      checks.push_back({{"name", "run completed"}, {"ok", false}, {"detail", outcome.ToString()}});
    }
    report =
        Json{{"scenario", scenario.name},
             {"purpose", scenario.purpose},
             {"seed", options.seed},
             {"profile", std::string(ProfileName(scenario.profile))},
             {"build", std::string(core::BuildId())},
             {"trace_format", core::TraceSink::kFormat},
             {"trace_hash", sim.trace().HashHex()},
             {"trace_events", sim.trace().events()},
             {"virtual_duration_ms", (sim.now() - start).ms()},
             {"jobs", counts},
             {"by_name", run.world ? JobStats(run) : Json::object()},
             {"messages", run.world ? StatsJson(run.world->queues().TotalStats()) : Json::object()},
             {"faults_fired", sim.faults().FiredById()},
             {"fault_sites", sim.faults().FiredBySite()},
             {"effects", effects},
             {"invariants", invariants},
             {"checks", checks},
             {"ok", all_ok},
             {"replay", ReplayCommand(scenario, options)}};
    if (options.broken_rule != engine::EngineConfig::BrokenRule::kNone) {
      report["broken_rule"] = BrokenRuleName(options.broken_rule);
    }
    if (options.fired != nullptr) *options.fired = sim.faults().FiredDecisions();
    run.queues.clear();
    run.producer_queues.clear();
    run.producer_engines.clear();
    run.engine.reset();
    run.world.reset();
  }
  return report;
}

const Json* FirstFailedCheck(const Json& report) {
  for (const char* group : {"invariants", "checks"}) {
    if (!report.contains(group)) continue;
    for (const auto& c : report[group]) {
      if (!c["ok"].get<bool>() && c.value("required", true)) return &c;
    }
  }
  return nullptr;
}

void PrintScenarioReport(const Json& report, std::ostream& out) {
  out << "cfemu run: " << report["scenario"].get<std::string>() << " — "
      << report["purpose"].get<std::string>() << "\n";
  out << "  seed " << report["seed"] << ", profile " << report["profile"].get<std::string>()
      << ", build " << report["build"].get<std::string>() << "\n";
  out << "  trace_hash " << report["trace_hash"].get<std::string>() << " ("
      << report["trace_events"] << " events, format " << report["trace_format"] << ")\n";
  const std::int64_t virtual_ms = report["virtual_duration_ms"].get<std::int64_t>();
  out << "  virtual " << virtual_ms / 3'600'000 << " h " << (virtual_ms % 3'600'000) / 60'000
      << " min " << (virtual_ms % 60'000) / 1000 << " s";
  if (report.contains("wall_duration_ms")) out << ", wall " << report["wall_duration_ms"] << " ms";
  out << "\n";
  out << "  jobs     " << report["jobs"].dump() << "\n";
  for (const auto& [name, states] : report["by_name"].items()) {
    for (const auto& [state, s] : states.items()) {
      out << "    " << name << " " << state << ": " << s["jobs"] << " jobs, " << s["attempts"]
          << " attempts, " << s["stalls"] << " stalls, wait " << s["avg_wait_ms"] << " ms, run "
          << s["avg_run_ms"] << " ms (averages)\n";
    }
  }
  out << "  messages " << report["messages"].dump() << "\n";
  out << "  faults   " << report["faults_fired"].dump() << "\n";
  for (const char* group : {"invariants", "checks"}) {
    for (const auto& check : report[group]) {
      const bool ok = check["ok"].get<bool>();
      const bool required = !check.contains("required") || check["required"].get<bool>();
      out << "  "
          << (ok         ? "ok   "
              : required ? "FAIL "
                         : "note ")
          << (check.contains("id") ? check["id"].get<std::string>() + " " : "")
          << check["name"].get<std::string>()
          << (check["detail"].get<std::string>().empty()
                  ? ""
                  : ": " + check["detail"].get<std::string>())
          << "\n";
    }
  }
  out << "  " << (report["ok"].get<bool>() ? "ok" : "FAILED")
      << "; replay: " << report["replay"].get<std::string>() << "\n";
}

}  // namespace cfemu::emulator
