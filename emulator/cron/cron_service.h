// The Cron Triggers service of one account (cloudflare-platform.md §5, checklist 71-75): each
// Worker's cron expressions fire its scheduled() handler once per matching UTC minute on the
// host's clock, each run an invocation with the 15-minute wall limit, a ScheduledController
// (the cron exactly as configured, scheduledTime = the scheduled minute, type "scheduled",
// NoRetry()), an Env from the InvocationEnvFactory and an InvocationContext for WaitUntil.
//
// Invariants and policies:
// - Ticks wait on kBackground timers, so cron never keeps Simulator::RunUntilIdle busy. A run in
//   flight, and the backoff before retrying a failed run, do (the service's idle check and a
//   foreground timer): they are finite work.
// - A run succeeds when the handler and every WaitUntil task return OK; an escaped exception is
//   a failure ("uncaught exception: ..."); a Worker without a handler fails with production's
//   "Handler does not export a scheduled() function", logs production's warning once and marks
//   no-retry; a run past its deadline is killed (outcome "killed").
// - Retries (Cloudflare documents that failed runs may be retried, not how): a failed run is run
//   again after retry_delay, 2 x retry_delay, 4 x ... up to max_retries times, unless NoRetry()
//   was called. On by default except in the strict profile (checklist: "optionally").
// - Runs of one trigger are never serialized: a tick starts even while the previous run of the
//   same cron is still running, as production has no mutual exclusion (traced `cron.overlap`).
// - Faults (faults-and-invariants.md §2.5), each decided per tick at its site and recorded:
//   C1 `cron.tick.late` starts the run 1-30 s (x intensity) after the minute; C2
//   `cron.tick.skip` drops the tick; C3 `cron.tick.duplicate` delivers the tick twice, at once
//   or again after the first delivery ended (as a platform retry of a run whose success was
//   lost); C4 `cron.tick.overlap` holds the tick until the next matching minute, so it runs at
//   the same time as the next tick (decided only when that minute is within the wall limit:
//   only then could a slow run still be going). scheduledTime stays the scheduled minute.
// - Manual triggers (Trigger(), behind `/cdn-cgi/handler/scheduled`) run once, without faults
//   or retries, and pass the cron through unparsed, as Miniflare does.
// - The Host outlives the service. Destroying the service stops its timers; runs still in flight
//   finish without touching it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/host.h"
#include "src/core/cron.h"
#include "src/core/limits.h"
#include "src/platform/scheduled.h"

namespace cfemu::emulator {

// One Worker's `triggers.crons` and its handler.
struct CronWorkerSpec {
  std::string script_name = "worker";  // Names the clock view and the trace actor "cron:<name>".
  std::vector<std::string> crons;      // Cloudflare dialect.
  platform::ScheduledHandler handler;  // Empty: the Worker exports no scheduled().
};

struct CronOptions {
  // Cron Triggers per account (5 free, 250 paid); nullopt: not enforced.
  std::optional<std::int64_t> max_triggers = core::limits::kCronTriggersPaid;
  std::optional<bool> retry_failures;  // Unset: on in every profile but strict.
  int max_retries = 3;
  core::Duration retry_delay = core::Minutes(1);  // Doubles after each retry.
  core::Duration wall_time = core::limits::kCronWallTime;
  std::size_t history = 100;  // Runs kept, as the dashboard's "Cron Events" keeps the last 100.
};

// One cron of a Worker as the schedules REST reports it.
struct CronSchedule {
  std::string cron;
  core::Instant created_on;
  core::Instant modified_on;
};

enum class ScheduledOutcome : std::uint8_t {
  kOk,
  kException,  // The handler or a WaitUntil task failed or threw.
  kNoHandler,  // No scheduled() handler; production reports it as "exception".
  kKilled,     // The invocation was killed (its deadline, or a kill fault).
};
std::string_view ScheduledOutcomeName(ScheduledOutcome outcome);  // "ok", "exception", ...

// One run of a scheduled() handler, as recorded.
struct ScheduledRun {
  std::string script_name;
  std::string cron;  // Exactly as configured (or as given to Trigger()).
  core::Instant scheduled_time;
  core::Instant started;  // True time.
  core::Instant finished;
  int attempt = 1;  // 2 and up: retries of a failed run.
  bool manual = false;
  ScheduledOutcome outcome = ScheduledOutcome::kOk;
  bool no_retry = false;  // NoRetry() was called, or there was no handler.
  std::string error;      // Why the run failed; empty when it succeeded.
};

struct CronStats {
  std::int64_t ticks = 0;       // Matching minutes reached.
  std::int64_t skipped = 0;     // C2.
  std::int64_t late = 0;        // C1.
  std::int64_t duplicated = 0;  // C3.
  std::int64_t held = 0;        // C4.
  std::int64_t overlapped = 0;  // Runs started while another run of the same cron was running.
  std::int64_t runs = 0;
  std::int64_t ok = 0;
  std::int64_t failed = 0;  // Outcomes other than ok.
  std::int64_t retries = 0;
  std::int64_t manual = 0;
};

class CronService {
 public:
  // REQUIRES: `env_factory` is set.
  CronService(Host& host, CronOptions options, InvocationEnvFactory env_factory);
  ~CronService();
  CronService(const CronService&) = delete;
  CronService& operator=(const CronService&) = delete;

  // Registers a Worker and starts its triggers. kInvalidArgument for a bad or repeated cron or
  // an empty script name, kAlreadyExists for a second Worker of that name, kResourceExhausted
  // past max_triggers (nothing is registered then).
  core::Status AddWorker(CronWorkerSpec spec);
  // Replaces the Worker's crons, as PUT .../workers/scripts/{name}/schedules does: a cron kept
  // keeps its ticks and created_on; a removed one stops ticking (its runs in flight finish);
  // a new one starts. A Worker without crons yet is registered with `handler`. Errors as
  // AddWorker's (bad or repeated cron, the account limit); nothing changes then.
  core::Status SetSchedules(const std::string& script_name, std::vector<std::string> crons,
                            platform::ScheduledHandler handler);
  // The Worker's crons in order; empty for a Worker without any.
  std::vector<CronSchedule> Schedules(std::string_view script_name) const;
  // Gives a cron of the Worker the creation time it had before a restart (persisted schedules
  // keep their created_on, as production's do). No effect for a cron the Worker lacks.
  void RestoreCreatedOn(std::string_view script_name, std::string_view cron,
                        core::Instant created_on);

  // Runs the Worker's handler once now, as `/cdn-cgi/handler/scheduled?cron=&time=` does:
  // `scheduled_time` defaults to now, an empty `script_name` means the only Worker. kNotFound
  // for an unknown Worker, kFailedPrecondition when the Worker is ambiguous.
  core::Task<core::Result<ScheduledRun>> Trigger(std::string cron,
                                                 std::optional<core::Instant> scheduled_time = {},
                                                 std::string script_name = {});

  const std::deque<ScheduledRun>& runs() const { return runs_; }  // Oldest first.
  const CronStats& stats() const { return stats_; }
  std::int64_t trigger_count() const { return trigger_count_; }
  int in_flight() const { return in_flight_; }
  bool IsIdle() const { return in_flight_ == 0; }

 private:
  struct Worker;
  struct Schedule;  // One cron of one Worker.

  core::Status Validate(const CronWorkerSpec& spec, std::vector<core::CronExpr>& exprs) const;
  // Parses `crons` (no repeats) and checks the account limit when `replaced` triggers go.
  core::Status ParseCrons(const std::vector<std::string>& crons, std::int64_t replaced,
                          std::vector<core::CronExpr>& exprs) const;
  void StartSchedule(Worker& worker, std::string cron, core::CronExpr expr);
  void OnTick(Schedule& schedule, core::Instant minute);
  core::Task<void> TickLoop(Schedule* schedule, core::CancelToken stop);
  core::Task<void> Deliver(Schedule* schedule, core::Instant scheduled, core::Instant start,
                           bool again_after, core::CancelToken stop);
  core::Task<ScheduledRun> RunOnce(Schedule* schedule, core::Instant scheduled, int attempt,
                                   bool manual, core::CancelToken stop);
  ScheduledRun NoHandler(Schedule& schedule, ScheduledRun run);
  void Record(const Schedule& schedule, const ScheduledRun& run);
  bool RetryFailures() const;
  void Trace(const Schedule& schedule, core::TraceEvent event) const;

  Host& host_;
  CronOptions options_;
  InvocationEnvFactory env_factory_;
  core::CancelToken stop_ = core::MakeCancelToken();
  int idle_check_ = 0;
  std::map<std::string, std::unique_ptr<Worker>, std::less<>> workers_;
  std::int64_t trigger_count_ = 0;
  int in_flight_ = 0;
  CronStats stats_;
  std::deque<ScheduledRun> runs_;
};

}  // namespace cfemu::emulator
