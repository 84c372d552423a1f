// A logical queue of the engine (engine-spec.md §4.1, §5): the producer API (Add, AddBulk),
// the getters, and the management operations BullMQ offers on Queue and Job. A Queue is a
// cheap handle (a context and a name); every method is one or a few D1 batches and, where the
// spec says so, coordinator calls. Jobs are values (see job.h): the operations BullMQ hangs on a
// job object take the job's id here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/job.h"
#include "src/engine/queue_config.h"

namespace cfemu::engine {

struct BulkJob {
  BulkJob(std::string name, Json data, JobOptions options = JobOptions())
      : name(std::move(name)), data(std::move(data)), options(std::move(options)) {}
  std::string name;
  Json data;
  JobOptions options;
};

// getJobs: states (BullMQ order of the list given), paging by offset (start/end inclusive,
// end = -1: to the end) or by an opaque cursor from the previous page, and search filters.
// Orders: waiting/prioritized FIFO by (priority, seq); delayed by available_at; active by
// processed_at; completed/failed newest finished first; waiting-children by seq. `asc` flips
// the finished orders (BullMQ's asc).
struct JobQuery {
  JobQuery() = default;
  std::vector<JobState> types;  // Empty: every state.
  std::int64_t start = 0;
  std::int64_t end = -1;
  bool asc = false;
  std::optional<std::string> cursor;     // Replaces start when set; the page size is end-start+1.
  std::optional<std::string> name;       // Equality.
  std::optional<std::string> id_prefix;  // Range on the unique index.
  std::optional<std::string> data_contains;  // instr() on the JSON text, case-sensitive.
  std::int64_t scan_limit = 10'000;          // Rows examined per state by data_contains.
};

struct JobPage {
  std::vector<Job> jobs;
  std::optional<std::string> next_cursor;  // Set when more rows may follow.
  bool truncated = false;                  // data_contains stopped at scan_limit.
};

struct RetryOptions {
  RetryOptions() = default;
  explicit RetryOptions(bool reset_attempts) : reset_attempts(reset_attempts) {}
  bool reset_attempts = true;
};

struct RetryJobsOptions {
  RetryJobsOptions() = default;
  JobState state = JobState::kFailed;     // failed or completed.
  std::int64_t count = 1000;              // Per batch.
  std::optional<std::int64_t> timestamp;  // Only jobs finished before this (ms).
};

struct RemoveOptions {
  RemoveOptions() = default;
  RemoveOptions(bool remove_children, bool force)
      : remove_children(remove_children), force(force) {}
  bool remove_children = true;
  bool force = false;  // Also an active job: its lease is revoked, its finish changes nothing.
};

struct ObliterateOptions {
  ObliterateOptions() = default;
  bool force = false;         // Also when jobs are active.
  std::int64_t count = 1000;  // Rows per delete statement.
};

enum class MetricKind { kCompleted, kFailed };

struct Metrics {
  std::int64_t count = 0;          // Total finishes of the kind.
  std::int64_t prev_ts = 0;        // Start of the newest minute with data (ms); 0 when none.
  std::int64_t prev_count = 0;     // Finishes in that minute.
  std::vector<std::int64_t> data;  // Per minute, newest first, zero-filled.
};

struct LogPage {
  std::vector<std::string> logs;
  std::int64_t count = 0;
};

struct Dependencies {
  std::map<std::string, Json> processed;       // "queue:id" -> returnvalue.
  std::vector<std::string> unprocessed;        // Pending children.
  std::map<std::string, std::string> failed;   // -> failedReason.
  std::map<std::string, std::string> ignored;  // -> failedReason.
};

struct DeadLetter {
  std::int64_t id = 0;
  std::optional<std::string> queue;
  std::optional<std::string> job_id;
  std::string source;  // "dlq" or "quarantine".
  std::string cf_message_id;
  std::int64_t cf_attempts = 0;
  std::string body;
  std::string reason;
  std::string outcome;  // dead-lettered, stale-ignored, quarantined, redriven.
  std::int64_t at = 0;
};

struct RedriveOptions {
  RedriveOptions() = default;
  std::vector<std::string> ids;  // Or all.
  bool all = false;
  bool reset_attempts = true;
};

// ---- Job schedulers (§4.9) -------------------------------------------------------------------

struct RepeatOptions {
  RepeatOptions() = default;
  std::optional<std::string> pattern;    // 5-field cron (UTC); exactly one of pattern and every.
  std::optional<std::int64_t> every_ms;  // >= 1,000.
  std::string dow_dialect = "bullmq";    // "bullmq" (0/7 = Sunday) or "cloudflare" (1 = Sunday).
  std::int64_t offset_ms = 0;
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> start_date;  // ms.
  std::optional<std::int64_t> end_date;    // ms.
  bool immediately = false;
  std::string tz = "UTC";              // Only UTC.
  std::string missed_policy = "skip";  // "skip" or "catchUp".
  std::int64_t max_catch_up = 100;
};

struct JobTemplate {
  JobTemplate() = default;
  JobTemplate(std::string name, Json data, JobOptions options = JobOptions())
      : name(std::move(name)), data(std::move(data)), options(std::move(options)) {}
  std::string name;  // Empty: the scheduler's id.
  Json data = Json::object();
  JobOptions options;  // No jobId, delay, repeat or deduplication.
};

struct SchedulerInfo {
  std::string id;
  std::string job_name;
  std::optional<std::string> pattern;
  std::optional<std::int64_t> every_ms;
  std::optional<std::int64_t> next_run_at;
  std::optional<std::int64_t> last_run_at;
  std::int64_t iteration_count = 0;
  std::optional<std::int64_t> limit;
  std::int64_t missed_count = 0;
};

class Queue {
 public:
  Queue(std::shared_ptr<EngineContext> context, std::string name)
      : context_(std::move(context)), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // ---- Producer ----
  // One D1 batch, then one send (or a coordinator kick). A duplicate (jobId exists, or a
  // deduplication hit) returns the existing job with is_new = false and changes nothing.
  core::Task<core::Result<Job>> Add(std::string name, Json data, JobOptions options = {});
  // One batch per chunk of <= 500 jobs or 1.5 MB, then SendBatch in chunks of 100.
  core::Task<core::Result<std::vector<Job>>> AddBulk(std::vector<BulkJob> jobs);

  // ---- Getters ----
  core::Task<core::Result<std::optional<Job>>> GetJob(std::string id);
  core::Task<core::Result<JobPage>> GetJobs(JobQuery query);
  // Zero-filled for every requested type (default: the seven states and "paused"); "wait" is
  // "waiting"; "repeat" counts job schedulers. While paused: paused = waiting, waiting = 0.
  core::Task<core::Result<std::map<std::string, std::int64_t>>> GetJobCounts(
      std::vector<std::string> types = {});
  // The state name, or "unknown".
  core::Task<core::Result<std::string>> GetJobState(std::string id);
  core::Task<core::Result<Metrics>> GetMetrics(MetricKind kind, std::int64_t start = 0,
                                               std::int64_t end = -1);
  core::Task<core::Result<LogPage>> GetLogs(std::string id, std::int64_t start = 0,
                                            std::int64_t end = -1, bool asc = true);
  core::Task<core::Result<std::map<std::string, Json>>> GetChildrenValues(std::string id);
  core::Task<core::Result<std::map<std::string, std::string>>> GetFailedChildrenValues(
      std::string id);
  core::Task<core::Result<std::map<std::string, std::string>>> GetIgnoredChildrenFailures(
      std::string id);
  core::Task<core::Result<Dependencies>> GetDependencies(std::string id);
  core::Task<core::Result<std::vector<DeadLetter>>> GetDeadLetters(std::int64_t start = 0,
                                                                   std::int64_t end = -1);
  core::Task<core::Result<std::optional<std::string>>> GetDeduplicationJobId(std::string dedup_id);

  // ---- Management ----
  // T23 on a finished job: back to waiting with epoch + 1 (attempts reset unless asked not to).
  core::Task<core::Status> RetryJob(std::string id, RetryOptions options = RetryOptions());
  core::Task<core::Result<std::int64_t>> RetryJobs(RetryJobsOptions options = RetryJobsOptions());
  // T22: a delayed job becomes due now. False when it is not delayed.
  core::Task<core::Result<bool>> Promote(std::string id);
  core::Task<core::Result<std::int64_t>> PromoteJobs(std::int64_t count = 1000);
  // T24/T25. False when the job does not exist; kFailedPrecondition for an active job without
  // force.
  core::Task<core::Result<bool>> Remove(std::string id, RemoveOptions options = RemoveOptions());
  // Removes up to `limit` jobs in `type` older than grace (finished_at for finished states,
  // created_at otherwise; active only without a live lease); returns their ids.
  core::Task<core::Result<std::vector<std::string>>> Clean(std::int64_t grace_ms,
                                                           std::int64_t limit, JobState type);
  core::Task<core::Status> Drain(bool delayed = false);
  core::Task<core::Status> Obliterate(ObliterateOptions options = ObliterateOptions());
  core::Task<core::Status> Pause();
  core::Task<core::Status> Resume();
  core::Task<core::Result<bool>> IsPaused();
  // T23 for dead-lettered failed jobs; marks their dead-letter rows redriven.
  core::Task<core::Result<std::int64_t>> Redrive(RedriveOptions options = RedriveOptions());
  core::Task<core::Result<bool>> RemoveDeduplicationKey(std::string dedup_id);
  // Job::log / Job::updateProgress outside a processor (unguarded by a lease).
  core::Task<core::Status> Log(std::string id, std::string message);
  core::Task<core::Status> UpdateProgress(std::string id, Json progress);
  // Job::moveToFailed(err, token): T14 guarded by the lease token.
  core::Task<core::Status> MoveToFailed(std::string id, std::string reason, std::int64_t token);
  // Job::discard() outside a processor: the active job will not be retried.
  core::Task<core::Status> Discard(std::string id);

  // ---- Job schedulers ----
  // Creates or updates the scheduler and returns its next iteration job (when one exists).
  core::Task<core::Result<std::optional<Job>>> UpsertJobScheduler(
      std::string id, RepeatOptions repeat, JobTemplate job_template = JobTemplate());
  core::Task<core::Result<bool>> RemoveJobScheduler(std::string id);
  core::Task<core::Result<std::optional<SchedulerInfo>>> GetJobScheduler(std::string id);
  core::Task<core::Result<std::vector<SchedulerInfo>>> GetJobSchedulers(std::int64_t start = 0,
                                                                        std::int64_t end = -1,
                                                                        bool asc = false);

  const std::shared_ptr<EngineContext>& context() const { return context_; }

 private:
  std::shared_ptr<EngineContext> context_;
  std::string name_;
};

}  // namespace cfemu::engine
