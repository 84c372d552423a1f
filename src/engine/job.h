// Jobs: the seven row states of engine-spec.md §2, the options a producer gives a job (§4.1,
// §5), and the snapshot of a row that getters return. C++ names follow STYLE.md; the JSON form
// of the options (the `opts` column, the admin API) uses BullMQ's spelling (`removeOnComplete`,
// `jobId`, `delay`), as everything that leaves the process does.
//
// A Job is a value: it holds no binding, so it can outlive the Env it was read through. The
// operations BullMQ hangs on a job object (retry, remove, getState, ...) are Queue methods that
// take the job's id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/status.h"

namespace cfemu::engine {

using Json = nlohmann::json;
using core::Result;
using core::Status;

// ---- States ------------------------------------------------------------------------------

enum class JobState {
  kWaiting,          // Ready, priority 0.
  kPrioritized,      // Ready, priority > 0: the coordinator's dispatcher sends it.
  kDelayed,          // available_at in the future (or due and not yet promoted).
  kWaitingChildren,  // A flow parent with unresolved children.
  kActive,           // Claimed; the lease token is the row's gen.
  kCompleted,        // Terminal success.
  kFailed,           // Terminal failure (dead_lettered marks DLQ failures).
};

inline constexpr JobState kAllJobStates[] = {
    JobState::kWaiting, JobState::kPrioritized, JobState::kDelayed, JobState::kWaitingChildren,
    JobState::kActive,  JobState::kCompleted,   JobState::kFailed};

std::string_view JobStateName(JobState state);  // "waiting", "waiting-children", ...
// Accepts BullMQ's alias "wait" for waiting.
std::optional<JobState> ParseJobState(std::string_view name);
// waiting, delayed and prioritized rows may be dispatched (an envelope may carry them).
bool IsDispatchable(JobState state);
bool IsFinished(JobState state);

// The SQL list of dispatchable states, for `state IN (...)`.
inline constexpr std::string_view kDispatchableSql = "('waiting','delayed','prioritized')";

// ---- Options -----------------------------------------------------------------------------

// Backoff between attempts (engine-spec.md §4.6). `type` is "fixed", "exponential" or the name
// of a strategy registered in ConsumerOptions::backoff_strategies. jitter is in [0, 1].
struct Backoff {
  Backoff() = default;
  Backoff(std::string type, std::int64_t delay_ms, double jitter = 0)
      : type(std::move(type)), delay_ms(delay_ms), jitter(jitter) {}
  std::string type = "fixed";
  std::int64_t delay_ms = 0;
  double jitter = 0;
};

// removeOnComplete/removeOnFail as {age, count, limit}: keep rows younger than age_sec and at
// most `count` newest; `limit` caps deletions per sweep.
struct KeepJobs {
  std::optional<std::int64_t> age_sec;
  std::optional<std::int64_t> count;
  std::optional<std::int64_t> limit;
};

// true: delete at once; false: keep; a number N: keep the newest N in that state; KeepJobs.
using Retention = std::variant<bool, std::int64_t, KeepJobs>;

// deduplication (§4.8): no ttl = simple mode; ttl = throttle; ttl with extend/replace = debounce.
struct Dedup {
  std::string id;
  std::optional<std::int64_t> ttl_ms;
  bool extend = false;
  bool replace = false;
};

struct ParentRef {
  std::string queue;
  std::string id;
};

// What a child's failure does to its parent (at most one policy per child, §4.10).
enum class ParentPolicy { kNone, kFail, kIgnore, kRemove, kContinue };
std::string_view ParentPolicyName(ParentPolicy policy);  // "", "fail", "ignore", ...

struct JobOptions {
  JobOptions() = default;
  std::optional<std::string> job_id;
  std::int64_t delay_ms = 0;
  std::int32_t priority = 0;  // 0 ... 2,097,151; 0 = none (highest after none is 1).
  bool lifo = false;
  std::int32_t attempts = 1;
  std::optional<Backoff> backoff;
  Retention remove_on_complete = false;
  Retention remove_on_fail = false;
  std::optional<Dedup> deduplication;
  std::optional<std::string> group_key;
  std::optional<ParentRef> parent;
  bool fail_parent_on_failure = false;
  bool ignore_dependency_on_failure = false;
  bool remove_dependency_on_failure = false;
  bool continue_parent_on_failure = false;
  std::optional<std::int32_t> keep_logs;
  std::optional<std::int32_t> stack_trace_limit;
  std::optional<std::int64_t> size_limit;
  // Set only through Queue::Add's JSON form: `repeat` is rejected (use UpsertJobScheduler).
  bool has_repeat = false;

  ParentPolicy parent_policy() const;
};

inline constexpr std::int32_t kMaxPriority = 2'097'151;

// The BullMQ-spelled JSON of the options (`opts` column); only fields that differ from the
// defaults are written.
Json JobOptionsToJson(const JobOptions& options);
// Parses BullMQ-spelled options; unknown keys are errors naming the key.
Result<JobOptions> JobOptionsFromJson(const Json& json);
// Options over defaults: every field `options` sets (differs from the default) wins.
JobOptions MergeJobOptions(const JobOptions& defaults, const JobOptions& options);
// Checks ranges and combinations; kInvalidArgument naming the option.
Status ValidateJobOptions(const JobOptions& options);

// ---- The row snapshot ---------------------------------------------------------------------

struct Job {
  std::string id;
  std::string queue_name;
  std::string name;
  Json data;
  Json opts;  // As stored (BullMQ spelling).
  JobState state = JobState::kWaiting;
  Json progress;     // null until updated.
  Json returnvalue;  // null unless completed.
  std::string failed_reason;
  std::vector<std::string> stacktrace;
  std::int32_t attempts_made = 0;
  std::int32_t attempts_started = 0;
  std::int32_t attempts_max = 1;
  std::int32_t stalled_counter = 0;
  std::int32_t priority = 0;
  bool lifo = false;
  std::int64_t timestamp = 0;  // created_at, ms.
  std::int64_t delay = 0;      // available_at - created_at when delayed at creation, ms.
  std::int64_t available_at = 0;
  std::optional<std::int64_t> processed_on;
  std::optional<std::int64_t> finished_on;
  std::int64_t gen = 1;    // The fencing token of the row (engine-spec.md §1.3).
  std::int64_t epoch = 0;  // Bumped by every retry of a finished job (T23).
  std::optional<std::string> group_key;
  std::optional<ParentRef> parent;
  ParentPolicy parent_policy = ParentPolicy::kNone;
  std::int32_t pending_deps = 0;  // Flow parents: deps pending or failed.
  std::optional<std::string> dedup_id;
  std::optional<std::string> scheduler_id;
  std::optional<std::int64_t> dispatch_at;  // Set while an envelope of this gen is owed or out.
  std::int32_t lost_count = 0;
  std::optional<std::int64_t> lease_until;
  std::int64_t seq = 0;  // Insertion order (the row id).
  bool is_new = false;   // Add: this call created the row.
  bool dead_lettered = false;
  bool discarded = false;
};

// "repeat:<scheduler>:<slot ms>" ids are reserved for job schedulers.
inline constexpr std::string_view kSchedulerJobIdPrefix = "repeat:";

}  // namespace cfemu::engine
