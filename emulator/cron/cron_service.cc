#include "emulator/cron/cron_service.h"

#include <algorithm>
#include <set>

#include "emulator/sim/execution_context.h"
#include "src/core/cover.h"
#include "src/core/log.h"

namespace cfemu::emulator {

using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using core::TraceEvent;

std::string_view ScheduledOutcomeName(ScheduledOutcome outcome) {
  switch (outcome) {
    case ScheduledOutcome::kOk:
      return "ok";
    case ScheduledOutcome::kException:
      return "exception";
    case ScheduledOutcome::kNoHandler:
      return "no_handler";
    case ScheduledOutcome::kKilled:
      return "killed";
  }
  return "ok";
}

struct CronService::Worker {
  std::string script_name;
  platform::ScheduledHandler handler;
  std::vector<std::unique_ptr<Schedule>> schedules;
  // Replaced by SetSchedules: no longer ticking, kept for the runs that may still use them.
  std::vector<std::unique_ptr<Schedule>> retired;
  bool warned = false;  // workerd logs the missing-handler warning once.
};

struct CronService::Schedule {
  Worker* worker = nullptr;
  std::string cron;  // Exactly as configured.
  core::CronExpr expr;
  std::string actor;  // "cron:<script>": the trace label of its ticks and runs.
  int running = 0;    // Runs in flight, to see overlaps.
  core::Instant created_on;
  core::CancelToken ticks = core::MakeCancelToken();  // Stops its tick loop.
};

namespace {

// The decided outcome of a run, which the waiting frame keeps.
struct RunOutcome {
  bool resolved = false;
  ScheduledOutcome outcome = ScheduledOutcome::kOk;
  std::string error;
  bool no_retry = false;
};

// What a run's handler frame and its kill callback share; the first of the handler's end and
// the kill decides the outcome. The waiting frame holds only `outcome`: were it to hold this
// state, the state's event would hold the waiting frame back, a cycle that leaks both when a
// simulator is destroyed with the run still going.
struct RunState {
  RunState(std::string cron, Instant scheduled) : controller(std::move(cron), scheduled) {}

  void Resolve(ScheduledOutcome result, std::string why) {
    if (outcome->resolved) return;
    outcome->resolved = true;
    outcome->outcome = result;
    outcome->error = std::move(why);
    outcome->no_retry = controller.no_retry();
    done.Set();
  }

  platform::ScheduledController controller;
  std::shared_ptr<RunOutcome> outcome = std::make_shared<RunOutcome>();
  core::Event done;
};

// Calls the handler; an exception escaping it is a failure, as a JS throw is.
Task<Status> CallHandler(platform::ScheduledHandler& handler,
                         platform::ScheduledController& controller, platform::Env& env,
                         platform::ExecutionContext& ctx) {
  std::string what;
  try {
    co_return co_await handler(controller, env, ctx);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown";
  }
  co_return Status::Unknown("uncaught exception: " + what);
}

// The handler's frame: its env and ctx live here until the handler and every WaitUntil task
// have finished, even after a kill decided the outcome.
Task<void> Execute(Host& host, platform::ScheduledHandler handler,
                   std::shared_ptr<platform::Env> env, std::shared_ptr<Invocation> invocation,
                   std::string clock_actor, std::shared_ptr<RunState> state) {
  InvocationContext ctx(host, invocation, host.ClockFor(clock_actor));
  const Status status = co_await CallHandler(handler, state->controller, *env, ctx);
  invocation->MarkReturned();
  co_await ctx.WaitAll();
  if (invocation->killed()) co_return;
  invocation->Finish();
  if (!status.ok()) {
    state->Resolve(ScheduledOutcome::kException, status.message());
  } else if (!ctx.all_ok()) {
    state->Resolve(ScheduledOutcome::kException, "a waitUntil() task failed");
  } else {
    state->Resolve(ScheduledOutcome::kOk, "");
  }
}

}  // namespace

// ---- Registration ---------------------------------------------------------------------------

CronService::CronService(Host& host, CronOptions options, InvocationEnvFactory env_factory)
    : host_(host), options_(std::move(options)), env_factory_(std::move(env_factory)) {
  CHECK_MSG(static_cast<bool>(env_factory_), "CronService needs an InvocationEnvFactory");
  idle_check_ = host_.AddIdleCheck([this] { return IsIdle(); });
}

CronService::~CronService() {
  // Wakes every sleeping tick, delivery and retry with kCancelled; they end without touching
  // this object.
  stop_->Cancel("cron service destroyed");
  for (auto& [name, worker] : workers_) {
    for (auto& schedule : worker->schedules) schedule->ticks->Cancel("cron service destroyed");
  }
  host_.RemoveIdleCheck(idle_check_);
}

Status CronService::Validate(const CronWorkerSpec& spec, std::vector<core::CronExpr>& exprs) const {
  if (spec.script_name.empty()) {
    return Status::InvalidArgument("script_name: a Worker with cron triggers needs a name");
  }
  if (workers_.count(spec.script_name) > 0) {
    return Status::AlreadyExists("Worker '" + spec.script_name + "' already has cron triggers");
  }
  return ParseCrons(spec.crons, 0, exprs);
}

Status CronService::ParseCrons(const std::vector<std::string>& crons, std::int64_t replaced,
                               std::vector<core::CronExpr>& exprs) const {
  const auto wanted = trigger_count_ - replaced + static_cast<std::int64_t>(crons.size());
  if (options_.max_triggers && wanted > *options_.max_triggers) {
    return Status::ResourceExhausted(
        "crons: " + std::to_string(wanted) + " Cron Triggers would exceed the account limit of " +
        std::to_string(*options_.max_triggers) + " (Workers Free: 5, Workers Paid: 250)");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < crons.size(); ++i) {
    const std::string field = "crons[" + std::to_string(i) + "]: ";
    Result<core::CronExpr> expr = core::ParseCron(crons[i], core::CronDialect::kCloudflare);
    if (!expr.ok()) return Status::InvalidArgument(field + expr.status().message());
    if (!seen.insert(crons[i]).second) {
      return Status::InvalidArgument(field + "\"" + crons[i] + "\" is listed twice");
    }
    exprs.push_back(std::move(*expr));
  }
  return Status::Ok();
}

void CronService::StartSchedule(Worker& worker, std::string cron, core::CronExpr expr) {
  auto schedule = std::make_unique<Schedule>();
  schedule->worker = &worker;
  schedule->cron = std::move(cron);
  schedule->expr = std::move(expr);
  schedule->actor = "cron:" + worker.script_name;
  schedule->created_on = host_.clock().Now();
  host_.Spawn(TickLoop(schedule.get(), schedule->ticks));
  worker.schedules.push_back(std::move(schedule));
  ++trigger_count_;
}

Status CronService::AddWorker(CronWorkerSpec spec) {
  std::vector<core::CronExpr> exprs;
  CFEMU_RETURN_IF_ERROR(Validate(spec, exprs));
  auto worker = std::make_unique<Worker>();
  worker->script_name = spec.script_name;
  worker->handler = std::move(spec.handler);
  Worker& added = *workers_.emplace(spec.script_name, std::move(worker)).first->second;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    StartSchedule(added, spec.crons[i], std::move(exprs[i]));
  }
  return Status::Ok();
}

Status CronService::SetSchedules(const std::string& script_name, std::vector<std::string> crons,
                                 platform::ScheduledHandler handler) {
  if (script_name.empty()) {
    return Status::InvalidArgument("script_name: a Worker with cron triggers needs a name");
  }
  const auto it = workers_.find(script_name);
  if (it == workers_.end()) return AddWorker({script_name, std::move(crons), std::move(handler)});
  Worker& worker = *it->second;
  std::vector<core::CronExpr> exprs;
  CFEMU_RETURN_IF_ERROR(
      ParseCrons(crons, static_cast<std::int64_t>(worker.schedules.size()), exprs));
  std::vector<std::unique_ptr<Schedule>> old = std::move(worker.schedules);
  worker.schedules.clear();
  trigger_count_ -= static_cast<std::int64_t>(old.size());
  for (std::size_t i = 0; i < crons.size(); ++i) {
    const auto kept = std::find_if(old.begin(), old.end(),
                                   [&](const auto& s) { return s && s->cron == crons[i]; });
    if (kept == old.end()) {
      StartSchedule(worker, crons[i], std::move(exprs[i]));
      continue;
    }
    worker.schedules.push_back(std::move(*kept));
    ++trigger_count_;
  }
  for (auto& schedule : old) {
    if (!schedule) continue;
    schedule->ticks->Cancel("cron removed");
    worker.retired.push_back(std::move(schedule));
  }
  return Status::Ok();
}

std::vector<CronSchedule> CronService::Schedules(std::string_view script_name) const {
  std::vector<CronSchedule> out;
  const auto it = workers_.find(script_name);
  if (it == workers_.end()) return out;
  for (const auto& schedule : it->second->schedules) {
    out.push_back({schedule->cron, schedule->created_on, schedule->created_on});
  }
  return out;
}

void CronService::RestoreCreatedOn(std::string_view script_name, std::string_view cron,
                                   Instant created_on) {
  const auto it = workers_.find(script_name);
  if (it == workers_.end()) return;
  for (auto& schedule : it->second->schedules) {
    if (schedule->cron == cron) schedule->created_on = created_on;
  }
}

// ---- Ticks ----------------------------------------------------------------------------------

Task<void> CronService::TickLoop(Schedule* schedule, core::CancelToken stop) {
  Instant from = host_.clock().Now();
  while (true) {
    const std::optional<Instant> next = core::NextMatch(schedule->expr, from);
    if (!next) {
      COVER("cron.never_matches");
      Trace(*schedule, TraceEvent("cron.never_matches"));
      co_return;
    }
    // Background: cron ticks go on forever and never keep the world busy.
    const Status slept = co_await host_.SleepUntil(*next, core::TimerKind::kBackground, stop);
    if (!slept.ok()) co_return;  // The service is gone.
    OnTick(*schedule, *next);
    from = *next + core::Minutes(1);
  }
}

void CronService::OnTick(Schedule& schedule, Instant minute) {
  ++stats_.ticks;
  FaultInjector& faults = host_.faults();
  if (faults.Enabled(Fault::kC2SkippedTick) &&
      faults.Fire(Fault::kC2SkippedTick, "cron.tick.skip", schedule.actor)) {
    ++stats_.skipped;
    Trace(schedule, TraceEvent("cron.skipped").Int("scheduled_time", minute.unix_ms()));
    return;
  }
  Instant start = minute;
  std::optional<Instant> held_until;
  if (faults.Enabled(Fault::kC4OverlappingRuns)) {
    // Only where a run could still be going when the next tick comes: within the wall limit.
    const std::optional<Instant> next = core::NextMatch(schedule.expr, minute + core::Minutes(1));
    if (next && *next - minute <= options_.wall_time &&
        faults.Fire(Fault::kC4OverlappingRuns, "cron.tick.overlap", schedule.actor)) {
      held_until = next;
    }
  }
  if (held_until) {
    ++stats_.held;
    start = *held_until;
    Trace(schedule, TraceEvent("cron.held")
                        .Int("scheduled_time", minute.unix_ms())
                        .Int("until", held_until->unix_ms()));
  } else if (faults.Enabled(Fault::kC1LateTick) &&
             faults.Fire(Fault::kC1LateTick, "cron.tick.late", schedule.actor)) {
    const Duration most = core::Milliseconds(std::max<std::int64_t>(
        1'000, static_cast<std::int64_t>(30'000 * faults.Intensity(Fault::kC1LateTick))));
    const Duration late = faults.RandomFor(Fault::kC1LateTick).Between(core::Seconds(1), most);
    ++stats_.late;
    start = minute + late;
    Trace(
        schedule,
        TraceEvent("cron.late").Int("scheduled_time", minute.unix_ms()).Int("delay_ms", late.ms()));
  }
  bool again_after = false;
  if (faults.Enabled(Fault::kC3DoubledTick) &&
      faults.Fire(Fault::kC3DoubledTick, "cron.tick.duplicate", schedule.actor)) {
    const bool at_once = faults.RandomFor(Fault::kC3DoubledTick).Chance(0.5);
    ++stats_.duplicated;
    Trace(schedule, TraceEvent("cron.duplicated")
                        .Int("scheduled_time", minute.unix_ms())
                        .Str("mode", at_once ? "concurrent" : "after_run"));
    if (at_once) host_.Spawn(Deliver(&schedule, minute, start, false, stop_));
    again_after = !at_once;
  }
  host_.Spawn(Deliver(&schedule, minute, start, again_after, stop_));
}

// ---- Runs -----------------------------------------------------------------------------------

bool CronService::RetryFailures() const {
  return options_.retry_failures.value_or(host_.profile() != Profile::kStrict);
}

Task<void> CronService::Deliver(Schedule* schedule, Instant scheduled, Instant start,
                                bool again_after, core::CancelToken stop) {
  if (start > host_.clock().Now()) {
    // A late or held tick is still a tick: background, like the wait for the minute.
    const Status slept = co_await host_.SleepUntil(start, core::TimerKind::kBackground, stop);
    if (!slept.ok()) co_return;
  }
  for (int attempt = 1;; ++attempt) {
    const ScheduledRun run = co_await RunOnce(schedule, scheduled, attempt, false, stop);
    if (stop->cancelled()) co_return;
    if (run.outcome == ScheduledOutcome::kOk || run.no_retry || !RetryFailures() ||
        attempt > options_.max_retries) {
      break;
    }
    const Duration delay = options_.retry_delay * (std::int64_t{1} << (attempt - 1));
    ++stats_.retries;
    COVER("cron.retry");
    Trace(*schedule, TraceEvent("cron.retry")
                         .Int("scheduled_time", scheduled.unix_ms())
                         .Int("attempt", attempt + 1)
                         .Int("delay_ms", delay.ms()));
    // Foreground: a retry is finite work the world must finish before it is idle.
    const Status slept =
        co_await host_.SleepUntil(host_.clock().Now() + delay, core::TimerKind::kForeground, stop);
    if (!slept.ok()) co_return;
  }
  if (again_after) co_await Deliver(schedule, scheduled, host_.clock().Now(), false, stop);
}

Task<ScheduledRun> CronService::RunOnce(Schedule* schedule, Instant scheduled, int attempt,
                                        bool manual, core::CancelToken stop) {
  ScheduledRun run;
  run.script_name = schedule->worker->script_name;
  run.cron = schedule->cron;
  run.scheduled_time = scheduled;
  run.started = host_.clock().Now();
  run.attempt = attempt;
  run.manual = manual;
  if (!schedule->worker->handler) co_return NoHandler(*schedule, std::move(run));
  if (schedule->running > 0) {
    ++stats_.overlapped;
    COVER("cron.overlap");
    Trace(*schedule, TraceEvent("cron.overlap")
                         .Int("scheduled_time", scheduled.unix_ms())
                         .Int("running", schedule->running));
  }
  ++schedule->running;
  ++in_flight_;
  Trace(*schedule, TraceEvent("cron.started")
                       .Int("scheduled_time", scheduled.unix_ms())
                       .Int("attempt", attempt)
                       .Bool("manual", manual));
  auto state = std::make_shared<RunState>(schedule->cron, scheduled);
  std::shared_ptr<Invocation> invocation =
      Invocation::Start(host_, schedule->actor, run.started + options_.wall_time);
  invocation->OnKill([state, raw = invocation.get()] {
    state->Resolve(
        ScheduledOutcome::kKilled,
        "the invocation was killed (" + std::string(KillReasonName(raw->kill_reason())) + ")");
  });
  const std::string& script = schedule->worker->script_name;
  host_.Spawn(Execute(host_, schedule->worker->handler,
                      env_factory_(schedule->actor, script, invocation), invocation, script,
                      state));
  // The handler's frame and the kill callback keep the state (and its event) alive meanwhile.
  const std::shared_ptr<RunOutcome> outcome = state->outcome;
  core::Event& done = state->done;
  state.reset();
  invocation.reset();
  if (!outcome->resolved) co_await done.Wait();
  if (stop->cancelled()) co_return run;  // The service is gone: touch nothing of it.
  --schedule->running;
  --in_flight_;
  run.finished = host_.clock().Now();
  run.outcome = outcome->outcome;
  run.error = outcome->error;
  run.no_retry = outcome->no_retry;
  Record(*schedule, run);
  co_return run;
}

ScheduledRun CronService::NoHandler(Schedule& schedule, ScheduledRun run) {
  COVER("cron.no_handler");
  if (!schedule.worker->warned) {
    schedule.worker->warned = true;
    CFEMU_LOG_WARN(
        "{}: Received a ScheduledEvent but we lack a handler for ScheduledEvents (a.k.a. Cron "
        "Triggers). Did you remember to export a scheduled() function?",
        schedule.worker->script_name);
  }
  run.outcome = ScheduledOutcome::kNoHandler;
  run.no_retry = true;
  run.error = "Handler does not export a scheduled() function";
  run.finished = run.started;
  Record(schedule, run);
  return run;
}

void CronService::Record(const Schedule& schedule, const ScheduledRun& run) {
  ++stats_.runs;
  if (run.manual) ++stats_.manual;
  if (run.outcome == ScheduledOutcome::kOk) {
    ++stats_.ok;
  } else {
    ++stats_.failed;
    CFEMU_LOG_DEBUG("cron {} \"{}\" at {} failed ({}): {}", run.script_name, run.cron,
                    run.scheduled_time.ToRfc3339(), ScheduledOutcomeName(run.outcome), run.error);
  }
  runs_.push_back(run);
  while (runs_.size() > options_.history) runs_.pop_front();
  Trace(schedule, TraceEvent("cron.fired")
                      .Int("scheduled_time", run.scheduled_time.unix_ms())
                      .Str("outcome", std::string(ScheduledOutcomeName(run.outcome)))
                      .Int("attempt", run.attempt)
                      .Bool("manual", run.manual)
                      .Bool("no_retry", run.no_retry));
}

void CronService::Trace(const Schedule& schedule, TraceEvent event) const {
  if (!host_.trace().enabled()) return;
  host_.trace().Emit(schedule.actor, event.Str("cron", schedule.cron));
}

// ---- Manual triggers ------------------------------------------------------------------------

Task<Result<ScheduledRun>> CronService::Trigger(std::string cron,
                                                std::optional<Instant> scheduled_time,
                                                std::string script_name) {
  Worker* worker = nullptr;
  if (script_name.empty()) {
    if (workers_.size() != 1) {
      co_return Status::FailedPrecondition(
          "name the Worker to trigger: " + std::to_string(workers_.size()) +
          " Workers have cron triggers");
    }
    worker = workers_.begin()->second.get();
  } else if (const auto it = workers_.find(script_name); it != workers_.end()) {
    worker = it->second.get();
  } else {
    co_return Status::NotFound("no Worker named '" + script_name + "' has cron triggers");
  }
  // A configured cron runs as that trigger (its overlaps count); other text runs as a one-off,
  // unparsed, as Miniflare passes `cron` through.
  Schedule* schedule = nullptr;
  for (auto& s : worker->schedules) {
    if (s->cron == cron) schedule = s.get();
  }
  Schedule adhoc;
  if (schedule == nullptr) {
    adhoc.worker = worker;
    adhoc.cron = cron;
    adhoc.actor = "cron:" + worker->script_name;
    schedule = &adhoc;
  }
  const Instant when = scheduled_time.value_or(host_.clock().Now());
  co_return co_await RunOnce(schedule, when, 1, true, stop_);
}

}  // namespace cfemu::emulator
