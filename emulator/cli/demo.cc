#include "emulator/cli/demo.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/core/build_info.h"

namespace cfemu::emulator {

namespace {

using core::Duration;
using core::Milliseconds;
using core::Seconds;
using core::Status;
using core::Task;
using platform::Json;

constexpr int kProducers = 3;
constexpr int kJobsPerProducer = 100;

struct DemoState {
  std::int64_t jobs_completed = 0;
  std::int64_t poison_completed = 0;
  std::set<std::string> dead_letters_seen;
  std::int64_t events_pulled = 0;
  bool stop_polling = false;
};

bool IsPoison(std::int64_t job) { return job % 17 == 0; }

// The job worker: poison jobs always ask for a retry (and end in the dead letter queue), every
// fifth job asks for one delayed retry, every 23rd batch member makes the handler fail after
// acking what came before it; the rest complete and publish an event.
platform::QueueHandler JobHandler(DemoState& state) {
  return [&state](platform::MessageBatch& batch, platform::Env& env,
                  platform::ExecutionContext&) -> Task<Status> {
    auto events = env.Queue("EVENTS");
    if (!events.ok()) co_return events.status();
    for (auto& message : batch.messages()) {
      const Json& body = std::get<Json>(message.body());
      const std::int64_t job = body.at("job").get<std::int64_t>();
      CFEMU_CO_RETURN_IF_ERROR(
          co_await core::SleepFor(env.runtime(), env.clock(), Milliseconds(20 + job % 50)));
      if (IsPoison(job)) {
        message.Retry();
        continue;
      }
      if (job % 5 == 0 && message.attempts() == 1) {
        message.Retry(platform::RetryOptions(5));
        continue;
      }
      if (job % 23 == 0 && message.attempts() == 1) {
        co_return Status::Unknown("job " + std::to_string(job) + " failed");
      }
      Json event = {{"done", job}};
      auto sent = co_await (*events)->Send(std::move(event));
      if (!sent.ok() && sent.code() != core::Code::kIndeterminate) co_return sent.status();
      message.Ack();
      ++state.jobs_completed;
    }
    co_return Status::Ok();
  };
}

platform::QueueHandler DeadLetterHandler(DemoState& state) {
  return [&state](platform::MessageBatch& batch, platform::Env&,
                  platform::ExecutionContext&) -> Task<Status> {
    for (const auto& message : batch.messages()) state.dead_letters_seen.insert(message.id());
    co_return Status::Ok();
  };
}

Task<void> Produce(platform::Env& env, int producer, core::Random random) {
  auto jobs = env.Queue("JOBS");
  if (!jobs.ok()) co_return;
  int sent = 0;
  while (sent < kJobsPerProducer) {
    const int count =
        static_cast<int>(std::min<std::int64_t>(random.Range(1, 10), kJobsPerProducer - sent));
    std::vector<platform::MessageSendRequest> batch;
    for (int i = 0; i < count; ++i) {
      const std::int64_t job = producer * kJobsPerProducer + sent + i;
      batch.emplace_back(Json{{"job", job}, {"producer", producer}});
    }
    auto result = co_await (*jobs)->SendBatch(std::move(batch));
    // A rejected or indeterminate send is retried, as a careful producer would.
    if (result.ok() || result.code() == core::Code::kIndeterminate) sent += count;
    (void)co_await core::SleepFor(env.runtime(), env.clock(),
                                  random.Between(Seconds(0), Seconds(8)));
  }
}

Task<void> Poll(platform::PullConsumer& events, platform::Env& env, DemoState& state) {
  std::int64_t seen = 0;
  while (!state.stop_polling) {
    auto pulled = co_await events.Pull(20, Seconds(30));
    if (pulled.ok()) {
      std::vector<platform::LeaseId> acks;
      for (const auto& message : pulled->messages) {
        ++state.events_pulled;
        // Every seventh event is "forgotten": its lease expires and it comes back.
        if (++seen % 7 != 0) acks.push_back(message.lease_id);
      }
      if (!acks.empty()) (void)co_await events.Ack(std::move(acks), {});
    }
    (void)co_await env.runtime().SleepUntil(env.clock().Now() + Seconds(2),
                                            core::TimerKind::kBackground);
  }
}

platform::EnvSpec DemoSpec(DemoState& state) {
  platform::EnvSpec spec;
  spec.queues = {{"jobs"}, {"jobs-dlq"}, {"events"}};
  spec.producers = {{"JOBS", "jobs", std::nullopt}, {"EVENTS", "events", std::nullopt}};
  platform::ConsumerSpec jobs;
  jobs.queue = "jobs";
  jobs.script_name = "job-worker";
  jobs.max_batch_size = 10;
  jobs.max_batch_timeout = Seconds(2);
  jobs.max_retries = 3;
  jobs.retry_delay = Seconds(10);
  jobs.dead_letter_queue = "jobs-dlq";
  jobs.handler = JobHandler(state);
  platform::ConsumerSpec dlq;
  dlq.queue = "jobs-dlq";
  dlq.script_name = "dlq-worker";
  dlq.handler = DeadLetterHandler(state);
  platform::ConsumerSpec events;
  events.queue = "events";
  events.type = platform::ConsumerType::kHttpPull;
  spec.consumers = {jobs, dlq, events};
  return spec;
}

struct Check {
  std::string name;
  bool ok;
  std::string detail;
};

std::vector<Check> RunChecks(const World& world, const DemoState& state) {
  std::vector<Check> checks;
  std::string accounting;
  bool balanced = true;
  for (const QueueBroker* queue : world.queues().queues()) {
    const QueueStats& s = queue->stats();
    const std::int64_t left = queue->Metrics().backlog_count;
    const std::int64_t out = s.acked + s.dead_lettered + s.deleted + s.expired + s.purged + left;
    balanced = balanced && s.sent == out;
    accounting += queue->name() + ": sent " + std::to_string(s.sent) + " = acked " +
                  std::to_string(s.acked) + " + dead-lettered " + std::to_string(s.dead_lettered) +
                  " + deleted " + std::to_string(s.deleted) + " + expired " +
                  std::to_string(s.expired) + " + still queued " + std::to_string(left) + "; ";
  }
  checks.push_back({"every_message_accounted", balanced, accounting});
  const std::int64_t dead = world.queues().Find("jobs")->stats().dead_lettered;
  checks.push_back({"dead_letters_reach_dlq_consumer",
                    static_cast<std::int64_t>(state.dead_letters_seen.size()) == dead,
                    std::to_string(state.dead_letters_seen.size()) +
                        " distinct dead letters "
                        "consumed, " +
                        std::to_string(dead) + " dead-lettered"});
  checks.push_back({"no_poison_job_completed", state.poison_completed == 0,
                    std::to_string(state.poison_completed) + " poison jobs completed"});
  return checks;
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
              {"dropped_after_return", s.dropped_after_return},
              {"rejected", s.rejected},
              {"invocations", s.invocations},
              {"invocations_failed", s.invocations_failed},
              {"invocations_killed", s.invocations_killed},
              {"lease_expired", s.lease_expired}};
}

// Producers for ten virtual minutes, then until the world is idle, then two minutes for the
// poller to drain the events queue.
Status Drive(Simulator& sim, World& world, DemoState& state) {
  for (int p = 0; p < kProducers; ++p) {
    sim.Spawn(Produce(world.EnvFor("producer-" + std::to_string(p)), p,
                      sim.random().Fork("demo/producer/" + std::to_string(p))));
  }
  auto events = world.queues().PullConsumerFor("events");
  if (!events.ok()) return events.status();
  sim.Spawn(Poll(**events, world.EnvFor("event-poller"), state));
  Status outcome = sim.RunFor(core::Minutes(10));
  if (outcome.ok()) outcome = sim.RunUntilIdle(core::Hours(2));
  if (outcome.ok()) outcome = sim.RunFor(core::Minutes(2));
  state.stop_polling = true;
  if (outcome.ok()) outcome = sim.RunFor(Seconds(5));
  return outcome;
}

Json BuildReport(const DemoOptions& options, Simulator& sim, const World& world,
                 const DemoState& state, const Status& outcome, Duration virtual_duration) {
  bool all_ok = outcome.ok();
  Json invariants = Json::array();
  for (const auto& check : RunChecks(world, state)) {
    all_ok = all_ok && check.ok;
    invariants.push_back({{"name", check.name}, {"ok", check.ok}, {"detail", check.detail}});
  }
  if (!outcome.ok()) {
    invariants.push_back(
        {{"name", "run_completed"}, {"ok", false}, {"detail", outcome.ToString()}});
  }
  Json queues = Json::object();
  for (const QueueBroker* queue : world.queues().queues()) {
    queues[queue->name()] = StatsJson(queue->stats());
  }
  return Json{{"scenario", "demo-queues"},
              {"seed", options.seed},
              {"profile", std::string(ProfileName(options.profile))},
              {"build", std::string(core::BuildId())},
              {"trace_format", core::TraceSink::kFormat},
              {"trace_hash", sim.trace().HashHex()},
              {"trace_events", sim.trace().events()},
              {"virtual_duration_ms", virtual_duration.ms()},
              {"messages", StatsJson(world.queues().TotalStats())},
              {"queues", queues},
              {"jobs",
               {{"submitted", kProducers * kJobsPerProducer},
                {"completed", state.jobs_completed},
                {"dead_lettered", state.dead_letters_seen.size()},
                {"events_pulled", state.events_pulled}}},
              {"faults_fired", sim.faults().FiredById()},
              {"faults_fired_by_site", sim.faults().FiredBySite()},
              {"invariants", invariants},
              {"ok", all_ok},
              {"replay", "cfemu demo --seed " + std::to_string(options.seed) + " --profile " +
                             std::string(ProfileName(options.profile))}};
}

void PrintText(const Json& report) {
  std::cout << "cfemu demo: queues with retries, a dead letter queue and a pull consumer\n";
  std::cout << "  seed " << report["seed"] << ", profile " << report["profile"].get<std::string>()
            << ", build " << report["build"].get<std::string>() << "\n";
  std::cout << "  trace_hash " << report["trace_hash"].get<std::string>() << " ("
            << report["trace_events"] << " events, format " << report["trace_format"] << ")\n";
  std::cout << "  virtual " << Duration::FromMs(report["virtual_duration_ms"]).ToString()
            << ", wall " << report["wall_duration_ms"] << " ms\n";
  std::cout << "  jobs     " << report["jobs"].dump() << "\n";
  std::cout << "  messages " << report["messages"].dump() << "\n";
  std::cout << "  faults   " << report["faults_fired"].dump() << "\n";
  for (const auto& check : report["invariants"]) {
    std::cout << "  " << (check["ok"].get<bool>() ? "ok   " : "FAIL ")
              << check["name"].get<std::string>() << ": " << check["detail"].get<std::string>()
              << "\n";
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
  DemoState state;
  const core::Instant start = sim.now();
  Json report;
  {
    World world(sim, DemoSpec(state));
    const Status outcome = Drive(sim, world, state);
    report = BuildReport(options, sim, world, state, outcome, sim.now() - start);
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
