// The guarded statements of the transition table (engine-spec.md §3, §3.1, §7.1), appended to
// a D1 batch. The guard rule: every statement is guarded by a predicate on the job row; the
// primary compare-and-set is `WHERE queue AND id AND state AND gen`. Statements that must
// happen once (events, metrics, log lines) come before the CAS under the pre-state guard —
// which only one batch can ever see true — and statements after it are idempotent under the
// post-state guard (dedupe release, flow dependency flips guarded by the dependency still being
// pending, deletion). A batch is one transaction, so side effects happen iff the CAS happened,
// and a batch replayed after an indeterminate reply changes nothing twice.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/engine/job.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine::store {

// A job row in a given state at a given generation.
struct Guard {
  Guard() = default;
  Guard(std::string queue, std::string id, JobState state, std::int64_t gen)
      : queue(std::move(queue)), id(std::move(id)), state(state), gen(gen) {}
  std::string queue;
  std::string id;
  JobState state = JobState::kWaiting;
  std::int64_t gen = 1;
};

inline Guard GuardOf(const Job& job) { return Guard(job.queue_name, job.id, job.state, job.gen); }

// `event` of the job, with `data` (epoch and gen are added), if the guard holds.
void Event(sql::Batch& batch, const Guard& guard, std::string_view event, nlohmann::json data,
           std::int64_t epoch, std::int64_t event_gen, std::int64_t now);
// The same with the data given as JSON text of an object's members without braces (so a stored
// JSON value can be embedded without parsing it): `"returnvalue":<text>`.
void EventText(sql::Batch& batch, const Guard& guard, std::string_view event,
               const std::string& members, std::int64_t epoch, std::int64_t event_gen,
               std::int64_t now);
// `event` with no guard (diagnostics such as cfq:lease-lost); `unless` makes it conditional on
// the guard NOT holding.
void EventUnless(sql::Batch& batch, const Guard& unless, std::string_view event,
                 nlohmann::json data, std::int64_t now);
// A queue-level event (no job): paused, resumed, drained, cleaned.
void QueueEvent(sql::Batch& batch, const std::string& queue, std::string_view event,
                nlohmann::json data, std::int64_t now);
// One finish of `kind` (completed|failed) in the minute bucket and the total row.
void Metric(sql::Batch& batch, const Guard& guard, std::string_view kind, std::int64_t now);

// What a finish batch writes besides the state: progress and log lines buffered by the
// processor (coalesced writes, engine-spec.md §4.2 step 5).
struct Buffered {
  std::optional<nlohmann::json> progress;
  std::vector<std::pair<std::int64_t, std::string>> logs;  // (at, message)
  std::optional<std::int32_t> keep_logs;
};
// The buffered writes, under the pre-state guard (before the CAS).
void FlushBuffered(sql::Batch& batch, const Guard& guard, const Buffered& buffered,
                   std::int64_t epoch, std::int64_t now);

// ---- Flow side effects (§3.1, §4.10) ---------------------------------------------------------

// Indexes of statements whose RETURNING rows the caller acts on after the commit.
struct FlowEffects {
  std::optional<std::size_t> release;        // Released parents: queue, id, gen, available_at,
                                             // dispatch_at, group_key (send or kick).
  std::optional<std::size_t> failed_parent;  // Parents failed by T21: queue, id, gen.
};
// The columns released parents come back with.
inline constexpr std::size_t kReleasedColumns = 6;

// A child reached `completed` (post-guard `child_post`): flip its pending dep to processed with
// the result copied in, decrement the parent, release it at zero.
FlowEffects ChildCompleted(sql::Batch& batch, const Job& child, const Guard& child_post,
                           const std::string& result_json, std::int64_t now);
// A child reached `failed`: apply its parent policy.
FlowEffects ChildFailed(sql::Batch& batch, const Job& child, const Guard& child_post,
                        const std::string& reason, std::int64_t now);
// A child was removed while its dep is pending or failed: detach it (decrement, delete the dep,
// maybe release the parent). Placed after the child's deletion and guarded by the child no
// longer existing.
FlowEffects ChildRemoved(sql::Batch& batch, const ParentRef& parent, const std::string& child_queue,
                         const std::string& child_id, std::int64_t now);

// ---- Terminal templates ---------------------------------------------------------------------

struct Completion {
  std::string result_json = "null";
  KeepPolicy keep;
  Buffered buffered;
};
struct CompletionIndexes {
  std::size_t cas = 0;
  FlowEffects flow;
};
// T10: active (token) -> completed.
CompletionIndexes AppendCompletion(sql::Batch& batch, const Job& job, std::int64_t token,
                                   const Completion& completion, std::int64_t now);

// T10 for many jobs at once: completions of one queue without a parent, a deduplication key or
// buffered writes, that share a return value and a keep policy (a group commit of no-op or
// uniform processors). Four statements whatever the number of jobs: events, metrics, the CAS
// (RETURNING the ids it changed), and the deletion when the policy removes them.
struct PlainCompletion {
  std::string id;
  std::int64_t token = 0;
};
std::size_t AppendPlainCompletions(sql::Batch& batch, const std::string& queue,
                                   const std::vector<PlainCompletion>& jobs,
                                   const std::string& result_json, const KeepPolicy& keep,
                                   std::int64_t now);

struct Failure {
  std::string reason;
  std::vector<std::string> stacktrace;
  bool exhausted = false;      // Adds the retries-exhausted event.
  bool dead_lettered = false;  // T19.
  bool count_attempt = true;   // attempts_made + 1 (not for stalls, DLQ, flow parents).
  bool stalled = false;        // T13: stalled_count + 1.
  KeepPolicy keep;
  Buffered buffered;
};
struct FailureIndexes {
  std::size_t cas = 0;
  FlowEffects flow;
};
// T13, T14, T19, T21's own row: `job` (in `pre`) -> failed with gen + 1 and the failure
// template. The post part (dedupe, flow, deletion) follows the CAS.
FailureIndexes AppendFailure(sql::Batch& batch, const Job& job, const Guard& pre,
                             const Failure& failure, std::int64_t now);
// The post part alone, for a row already failed at `post` (a parent failed by T21 in an earlier
// batch): idempotent.
FlowEffects AppendFailurePost(sql::Batch& batch, const Job& job, const Guard& post,
                              const Failure& failure, std::int64_t now);

// T11, T12, T15, T16, T17 and T18 share one shape: the row stays dispatchable (or becomes so)
// with gen + 1 and new dispatch marks. `sets` is extra SQL for SET (", attempts_made = ...").
struct Redispatch {
  Placement placement;
  std::string event;  // Empty: none (park).
  nlohmann::json event_data = nlohmann::json::object();
  std::string extra_sets;  // Appended to SET, with its params.
  std::vector<sql::D1Param> extra_params;
  Buffered buffered;
};
// Returns the CAS's index; it RETURNING gen.
std::size_t AppendRedispatch(sql::Batch& batch, const Job& job, const Guard& pre,
                             const Redispatch& redispatch, std::int64_t now);

// The SQL predicate "the job row may be sent directly" evaluated inside UPDATEs of rows of any
// queue (parent releases): priority 0, not LIFO, due within the queue's promote horizon, and
// the queue neither strict-ordered nor paused. Takes one anonymous parameter: now.
inline constexpr std::string_view kEligibleSql =
    "(priority = 0 AND lifo = 0 AND NOT EXISTS (SELECT 1 FROM cfq_queues q "
    "WHERE q.queue = cfq_jobs.queue AND (q.paused_mirror = 1 OR "
    "coalesce(q.config ->> 'strictOrder', 0) = 1 OR cfq_jobs.available_at > ? + "
    "coalesce(q.config ->> 'promoteHorizonMs', 900000))))";

}  // namespace cfemu::engine::store
