#include "emulator/cli/demo.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/config/wrangler_config.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/core/build_info.h"
#include "src/engine/engine.h"
#include "src/engine/invariants.h"
#include "src/engine/sql.h"

namespace cfemu::emulator {

namespace {

using core::Duration;
using core::Minutes;
using core::Result;
using core::Seconds;
using core::Status;
using core::Task;
using engine::JobContext;
using engine::JobOptions;
using Json = nlohmann::json;

constexpr int kBurst = 40;
constexpr int kDuringPause = 10;
constexpr int kFlaky = 5;
constexpr int kDigestLimit = 4;

// The Worker's processor, by job name.
Task<Result<Json>> Process(JobContext& ctx) {
  const std::string& name = ctx.job().name;
  core::Random random = ctx.random().Fork(ctx.job().id);
  if (name == "email") {
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(random.Range(1000, 3000))));
    co_return Json{{"sent", true}};
  }
  if (name == "flaky" && ctx.job().attempts_made < 2) {
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(1)));
    co_return Status::Unknown("SMTP server timed out");
  }
  if (name == "report") {
    // The first run outlives the 15-minute invocation limit: the worker is killed, the lease
    // expires, the coordinator's alarm stalls the job and it runs again.
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(ctx.attempt() == 1 ? Minutes(16) : Seconds(30)));
    co_return Json{{"pages", 12}};
  }
  if (name == "line") {
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(1)));
    co_return Json(ctx.job().data.value("amount", 0));
  }
  if (name == "invoice") {
    auto children = co_await ctx.GetChildrenValues();
    if (!children.ok()) co_return children.status();
    std::int64_t total = 0;
    for (const auto& [key, value] : *children) total += value.is_number() ? value.get<int>() : 0;
    co_return Json{{"total", total}};
  }
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(2)));
  co_return Json{{"ok", true}};
}

struct Demo {
  Simulator& sim;
  platform::DurableObjectRegistry registry;
  std::unique_ptr<World> world;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<engine::Queue> queue;
  engine::InvariantChecker checker;
  std::vector<std::string> errors;  // Set-up steps that failed for good.
};

// A producer call may meet a platform fault (D1 unavailable, a lost reply): try again, as a
// real producer would, a bounded number of times.
template <class T>
Result<T> Retried(Demo& demo, const std::function<Task<Result<T>>()>& call) {
  Result<T> result;
  for (int attempt = 0; attempt < 10; ++attempt) {
    result = demo.sim.Run(call());
    if (result.ok()) return result;
  }
  demo.errors.push_back(result.status().ToString());
  return result;
}

Status Build(Demo& demo) {
  engine::EngineBindings bindings;
  engine::RegisterCoordinator(demo.registry, bindings);
  auto config = LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc", &demo.registry);
  if (!config.ok()) return config.status();
  platform::EnvSpec spec = config->spec;
  core::Random root = demo.sim.random().Fork("demo");
  engine::ConsumerOptions consumer_options;
  consumer_options.concurrency = 10;
  engine::Consumer consumer(bindings, engine::EngineConfig(), Process, consumer_options,
                            root.Fork("consumer"));
  engine::DeadLetterConsumer dead_letters(bindings, engine::EngineConfig(),
                                          engine::DeadLetterOptions(), root.Fork("dlq"));
  for (auto& c : spec.consumers) {
    c.handler = c.queue == "jobs" ? consumer.Handler() : dead_letters.Handler();
    if (c.queue == "jobs") c.max_retries = 10;  // Infrastructure retries before the DLQ.
  }
  spec.scheduled = engine::MakeSchedulerHandler(bindings, engine::EngineConfig(),
                                                root.Fork("tick"));
  WorldOptions world_options;
  world_options.registry = &demo.registry;
  auto world = World::Create(demo.sim, spec, world_options);
  if (!world.ok()) return world.status();
  demo.world = std::move(*world);
  auto engine = engine::Engine::Create(demo.world->EnvFor("producer"), bindings,
                                       root.Fork("producer"));
  if (!engine.ok()) return engine.status();
  demo.engine = std::make_unique<engine::Engine>(std::move(*engine));
  return Status::Ok();
}

engine::QueueConfig DemoQueueConfig() {
  engine::QueueConfig config;
  engine::LimiterConfig limiter;  // 5 jobs a second.
  limiter.max = 5;
  limiter.duration_ms = 1000;
  config.limiter = limiter;
  return config;
}

void AddWork(Demo& demo) {
  engine::Queue& queue = *demo.queue;
  std::vector<engine::BulkJob> burst;
  for (int i = 0; i < kBurst; ++i) burst.emplace_back("email", Json{{"to", i}});
  (void)Retried<std::vector<engine::Job>>(demo, [&] { return queue.AddBulk(burst); });
  JobOptions flaky;
  flaky.attempts = 3;
  flaky.backoff = engine::Backoff("exponential", 2000);
  for (int i = 0; i < kFlaky; ++i) {
    (void)Retried<engine::Job>(demo, [&] { return queue.Add("flaky", Json{{"n", i}}, flaky); });
  }
  (void)Retried<engine::Job>(demo, [&] { return queue.Add("report", Json::object()); });
  std::vector<engine::FlowJob> lines;
  for (int i = 1; i <= 3; ++i) lines.emplace_back("line", "jobs", Json{{"amount", i * 100}});
  engine::FlowJob invoice("invoice", "jobs", Json{{"customer", "acme"}}, JobOptions(), lines);
  auto flows = demo.engine->GetFlowProducer();
  (void)Retried<engine::JobNode>(demo, [&] { return flows.Add(invoice); });
  engine::RepeatOptions every;
  every.every_ms = Minutes(5).ms();
  every.limit = kDigestLimit;
  (void)Retried<std::optional<engine::Job>>(
      demo, [&] { return queue.UpsertJobScheduler("digest", every); });
}

Status Drive(Demo& demo) {
  (void)Retried<engine::MigrationReport>(demo, [&] { return demo.engine->Migrate(); });
  auto queue = Retried<engine::Queue>(
      demo, [&] { return demo.engine->OpenQueue("jobs", DemoQueueConfig()); });
  if (!queue.ok()) return queue.status();
  demo.queue = std::make_unique<engine::Queue>(std::move(*queue));
  AddWork(demo);
  CFEMU_RETURN_IF_ERROR(demo.sim.RunFor(Minutes(2)));
  auto status = [&](core::Task<Status> task) { return demo.sim.Run(std::move(task)); };
  Status paused;
  for (int i = 0; i < 10 && !(paused = status(demo.queue->Pause())).ok(); ++i) {}
  CFEMU_RETURN_IF_ERROR(demo.sim.RunFor(Minutes(1)));
  for (int i = 0; i < kDuringPause; ++i) {
    (void)Retried<engine::Job>(
        demo, [&] { return demo.queue->Add("email", Json{{"while_paused", i}}); });
  }
  CFEMU_RETURN_IF_ERROR(demo.sim.RunFor(Minutes(2)));
  Status resumed;
  for (int i = 0; i < 10 && !(resumed = status(demo.queue->Resume())).ok(); ++i) {}
  if (!paused.ok() || !resumed.ok()) demo.errors.push_back("pause or resume failed");
  CFEMU_RETURN_IF_ERROR(demo.sim.RunFor(Minutes(40)));
  return demo.sim.RunUntilIdle(core::Hours(6));
}

Json JobStats(Demo& demo) {
  platform::D1Database& db = **demo.world->EnvFor("reporter").D1("DB");
  auto rows = Retried<platform::D1Result>(demo, [&] {
    return db.Prepare("SELECT name, state, count(*), sum(attempts_made), sum(stalled_count), "
                      "coalesce(avg(processed_at - created_at), 0), coalesce(avg(finished_at - "
                      "processed_at), 0) FROM cfq_jobs GROUP BY name, state ORDER BY name, state")
        .All();
  });
  Json out = Json::object();
  if (!rows.ok()) return out;
  for (const auto& row : rows->results) {
    const auto& v = row.values;
    out[engine::sql::Str(v[0])][engine::sql::Str(v[1])] = {
        {"jobs", engine::sql::Int(v[2])},
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

std::vector<Check> Checks(Demo& demo, const Json& counts) {
  std::vector<Check> out;
  std::int64_t unfinished = 0;
  for (const char* state : {"waiting", "prioritized", "delayed", "waiting-children", "active"}) {
    unfinished += counts.value(state, std::int64_t{0});
  }
  out.push_back({"every job finished", unfinished == 0,
                 std::to_string(unfinished) + " unfinished"});
  auto digest = Retried<std::optional<engine::SchedulerInfo>>(
      demo, [&] { return demo.queue->GetJobScheduler("digest"); });
  const std::int64_t iterations =
      digest.ok() && *digest ? (*digest)->iteration_count : std::int64_t{-1};
  out.push_back({"the scheduler fired each slot once, up to its limit",
                 iterations == kDigestLimit, std::to_string(iterations) + " iterations"});
  std::string errors;
  for (const auto& e : demo.errors) errors += (errors.empty() ? "" : "; ") + e;
  out.push_back({"the producer's calls went through", demo.errors.empty(),
                 errors.empty() ? "all calls succeeded" : errors});
  return out;
}

Json BuildReport(const DemoOptions& options, Demo& demo, const Status& outcome,
                 Duration virtual_duration) {
  Json counts = Json::object();
  auto read = Retried<std::map<std::string, std::int64_t>>(
      demo, [&] { return demo.queue->GetJobCounts(); });
  if (read.ok()) {
    for (const auto& [state, n] : *read) counts[state] = n;
  }
  bool all_ok = outcome.ok();
  Json invariants = Json::array();
  engine::CheckOptions check;
  check.quiescent = outcome.ok();
  for (const auto& result : demo.sim.Run(demo.checker.Check(*demo.engine->context(), check))) {
    all_ok = all_ok && result.ok;
    invariants.push_back({{"id", result.id}, {"name", result.name}, {"ok", result.ok},
                          {"detail", result.detail}});
  }
  Json checks = Json::array();
  for (const auto& c : Checks(demo, counts)) {
    all_ok = all_ok && c.ok;
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  }
  if (!outcome.ok()) {
    checks.push_back({{"name", "run completed"}, {"ok", false}, {"detail", outcome.ToString()}});
  }
  return Json{{"scenario", "demo-engine"},
              {"seed", options.seed},
              {"profile", std::string(ProfileName(options.profile))},
              {"build", std::string(core::BuildId())},
              {"trace_format", core::TraceSink::kFormat},
              {"trace_hash", demo.sim.trace().HashHex()},
              {"trace_events", demo.sim.trace().events()},
              {"virtual_duration_ms", virtual_duration.ms()},
              {"jobs", counts},
              {"by_name", JobStats(demo)},
              {"messages", StatsJson(demo.world->queues().TotalStats())},
              {"faults_fired", demo.sim.faults().FiredById()},
              {"invariants", invariants},
              {"checks", checks},
              {"ok", all_ok},
              {"replay", "cfemu demo --seed " + std::to_string(options.seed) + " --profile " +
                             std::string(ProfileName(options.profile))}};
}

void PrintText(const Json& report) {
  std::cout << "cfemu demo: the job engine on Queues + D1 + a coordinator Durable Object + cron\n"
            << "  (a rate-limited burst, retries with backoff, a stalled worker, a flow, a job\n"
            << "  scheduler, a pause and a resume)\n";
  std::cout << "  seed " << report["seed"] << ", profile " << report["profile"].get<std::string>()
            << ", build " << report["build"].get<std::string>() << "\n";
  std::cout << "  trace_hash " << report["trace_hash"].get<std::string>() << " ("
            << report["trace_events"] << " events, format " << report["trace_format"] << ")\n";
  const std::int64_t virtual_ms = report["virtual_duration_ms"].get<std::int64_t>();
  std::cout << "  virtual " << virtual_ms / 60'000 << " min " << (virtual_ms % 60'000) / 1000
            << " s, wall " << report["wall_duration_ms"] << " ms\n";
  std::cout << "  jobs     " << report["jobs"].dump() << "\n";
  for (const auto& [name, states] : report["by_name"].items()) {
    for (const auto& [state, s] : states.items()) {
      std::cout << "    " << name << " " << state << ": " << s["jobs"] << " jobs, "
                << s["attempts"] << " attempts, " << s["stalls"] << " stalls, wait "
                << s["avg_wait_ms"] << " ms, run " << s["avg_run_ms"] << " ms (averages)\n";
    }
  }
  std::cout << "  messages " << report["messages"].dump() << "\n";
  std::cout << "  faults   " << report["faults_fired"].dump() << "\n";
  for (const char* group : {"invariants", "checks"}) {
    for (const auto& check : report[group]) {
      std::cout << "  " << (check["ok"].get<bool>() ? "ok   " : "FAIL ")
                << (check.contains("id") ? check["id"].get<std::string>() + " " : "")
                << check["name"].get<std::string>()
                << (check["detail"].get<std::string>().empty()
                        ? ""
                        : ": " + check["detail"].get<std::string>())
                << "\n";
    }
  }
  std::cout << "  replay: " << report["replay"].get<std::string>() << "\n";
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  SimulatorOptions sim_options;
  sim_options.profile = options.profile;
  Simulator sim(options.seed, sim_options);
  std::ofstream trace_out;
  if (!options.trace_file.empty()) {
    trace_out.open(options.trace_file, std::ios::out | std::ios::trunc);
    if (!trace_out) {
      std::fprintf(stderr, "cfemu demo: cannot write the trace to '%s'\n",
                   options.trace_file.c_str());
      return 2;
    }
    sim.trace().StreamTo(&trace_out);
  }
  const core::Instant start = sim.now();
  Json report;
  {
    Demo demo{sim, {}, nullptr, nullptr, nullptr, {}, {}};
    demo.checker.SetQueueConfig("jobs", DemoQueueConfig());
    sim.trace().AddObserver([&demo](const core::TraceRecord& r) { demo.checker.Observe(r); });
    Status outcome = Build(demo);
    if (!outcome.ok()) {
      std::fprintf(stderr, "cfemu demo: %s\n", outcome.ToString().c_str());
      return 1;
    }
    outcome = Drive(demo);
    report = BuildReport(options, demo, outcome, sim.now() - start);
    demo.queue.reset();
    demo.engine.reset();
    demo.world.reset();
  }
  report["wall_duration_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - wall_start)
                                   .count();
  if (options.json) {
    std::cout << report.dump() << "\n";
  } else {
    PrintText(report);
  }
  return report["ok"].get<bool>() ? 0 : 1;
}

}  // namespace cfemu::emulator
