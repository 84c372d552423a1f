// Helpers for the cron tests: a minimal invocation Env (an ActorScope and an ActorRuntime, as
// emulator/world.cc's WorldEnv, without bindings), simulators with one fault forced on, trace
// filters, and UTC instants from calendar fields.
#pragma once

#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/cron/cron_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/simulator.h"
#include "src/core/cron.h"

namespace cfemu::testing {

using core::Instant;
using core::Status;
using core::Task;

// An invocation's Env with no bindings: a clock view, a runtime carrying the invocation's cancel
// token, and the actor's name.
class TestEnv final : public platform::Env {
 public:
  TestEnv(emulator::Host& host, std::string actor, std::string_view clock_actor,
          std::shared_ptr<emulator::Invocation> invocation)
      : scope_(host, std::move(actor), host.ClockFor(clock_actor), std::move(invocation)),
        runtime_(scope_) {}

  core::Result<platform::QueueProducer*> Queue(std::string_view binding) override {
    return Status::NotFound("no queue producer binding named '" + std::string(binding) + "'");
  }
  const core::Clock& clock() const override { return scope_.clock(); }
  core::Runtime& runtime() override { return runtime_; }
  std::string_view actor() const override { return scope_.actor(); }
  std::string_view compatibility_date() const override { return "2026-01-01"; }
  core::CancelToken cancel_token() const override { return scope_.token(); }
  void set_owner(const std::shared_ptr<TestEnv>& self) { runtime_.set_owner(self); }

 private:
  emulator::ActorScope scope_;
  emulator::ActorRuntime runtime_;
};

inline emulator::InvocationEnvFactory TestEnvFactory(emulator::Host& host) {
  return [&host](std::string actor, std::string clock_actor,
                 std::shared_ptr<emulator::Invocation> invocation) {
    auto env =
        std::make_shared<TestEnv>(host, std::move(actor), clock_actor, std::move(invocation));
    env->set_owner(env);
    return std::shared_ptr<platform::Env>(env);
  };
}

// The UTC instant of a calendar date and time (proleptic Gregorian).
inline Instant Utc(std::int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  y -= mo <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
  const std::int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  return Instant::FromUnixMs(((days * 24 + h) * 60 + mi) * 60'000 + s * 1'000);
}

// A strict simulator (no latency, retries off unless asked) whose plan forces exactly `fault`.
inline std::unique_ptr<emulator::Simulator> SimWithFault(std::optional<emulator::Fault> fault,
                                                         double probability = 1.0,
                                                         std::optional<std::int64_t> max = 1,
                                                         std::uint64_t seed = 1) {
  emulator::SimulatorOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  if (fault) {
    emulator::FaultRule rule;
    rule.probability = probability;
    rule.max_firings = max;
    plan.Set(*fault, rule);
  }
  options.faults = plan;
  auto sim = std::make_unique<emulator::Simulator>(seed, options);
  sim->trace().KeepLines(true);
  return sim;
}

// The kept trace lines of event `ev`.
inline std::vector<std::string> TraceLines(emulator::Simulator& sim, std::string_view ev) {
  std::vector<std::string> out;
  const std::string needle = "\"ev\":\"" + std::string(ev) + "\"";
  for (const auto& line : sim.trace().lines()) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

// What a handler saw, one entry per call.
struct SeenRun {
  std::string cron;
  Instant scheduled_time;
  Instant started;  // The Worker's clock.
  std::string type;
};

struct Seen {
  std::vector<SeenRun> runs;
  int running = 0;
  int max_running = 0;
};

// A handler that records its controller, takes `duration` of virtual time, then returns
// `result`.
inline platform::ScheduledHandler RecordingHandler(std::shared_ptr<Seen> seen,
                                                   core::Duration duration = core::Duration(),
                                                   Status result = Status::Ok()) {
  return [seen, duration, result](platform::ScheduledController& controller, platform::Env& env,
                                  platform::ExecutionContext&) -> Task<Status> {
    seen->runs.push_back({controller.cron(), controller.scheduled_time(), env.clock().Now(),
                          std::string(controller.type())});
    seen->max_running = std::max(seen->max_running, ++seen->running);
    if (duration > core::Duration()) {
      const Status slept = co_await core::SleepFor(env.runtime(), env.clock(), duration);
      --seen->running;
      if (!slept.ok()) co_return slept;
    } else {
      --seen->running;
    }
    co_return result;
  };
}

inline emulator::CronWorkerSpec Worker(std::vector<std::string> crons,
                                       platform::ScheduledHandler handler,
                                       std::string script_name = "worker") {
  emulator::CronWorkerSpec spec;
  spec.script_name = std::move(script_name);
  spec.crons = std::move(crons);
  spec.handler = std::move(handler);
  return spec;
}

}  // namespace cfemu::testing
