// The pure part of the state machine (engine-spec.md §1.4, §3, §4.6): where a dispatchable row
// goes, whether the acting component sends its envelope itself, and what a failed attempt
// becomes. No IO and no clock read: `now` is an input, chance comes from the caller's stream.
// The statements that apply these decisions, guarded by (state, gen), are in job_store.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/engine/job.h"
#include "src/engine/queue_config.h"

namespace cfemu::engine {

// Where a row that may be dispatched sits, and whether its envelope is sent by the actor.
struct Placement {
  JobState state = JobState::kWaiting;  // waiting, prioritized or delayed.
  std::int64_t available_at = 0;
  // Set when the actor sends the envelope itself (direct-send eligible, §1.4); unset when the
  // dispatcher (priority, LIFO, strict order) or the cron (beyond the horizon) owes the send.
  std::optional<std::int64_t> dispatch_at;
  std::optional<std::int64_t> dispatch_deadline;
  // The coordinator's dispatcher must be kicked for this row (priority, LIFO, strict order).
  bool needs_dispatcher = false;
};

// §1.4: priority 0, not LIFO, not strict order, due within the promote horizon, and the actor
// does not know the queue to be paused.
bool DirectSendEligible(std::int32_t priority, bool lifo, const QueueConfig& config,
                        std::int64_t available_at, std::int64_t now, bool known_paused);

// dispatch_deadline = max(at, now) + dispatchTimeoutMs * 2^min(lost_count, 6).
std::int64_t DispatchDeadline(std::int64_t available_at, std::int64_t now,
                              const QueueConfig& config, std::int32_t lost_count = 0);

// delaySeconds of an envelope: clamp(ceil((at - now) / 1000), 0, maxDelaySeconds).
int EnvelopeDelaySeconds(std::int64_t available_at, std::int64_t now, const QueueConfig& config);

// The state and dispatch marks of a row that becomes dispatchable at `available_at`.
Placement Place(std::int32_t priority, bool lifo, std::int64_t available_at, std::int64_t now,
                const QueueConfig& config, bool known_paused);

// ---- Failed attempts (§4.6) ----------------------------------------------------------------

// A custom backoff strategy: (attemptsMade, type, error, job) -> ms; 0 = retry at once, -1 = fail
// now.
using BackoffStrategy = std::function<std::int64_t(
    std::int32_t attempts_made, const std::string& type, const std::string& error, const Job& job)>;
using BackoffStrategies = std::map<std::string, BackoffStrategy, std::less<>>;

struct AttemptFailure {
  std::string reason;
  std::vector<std::string> stacktrace;
  bool unrecoverable = false;  // UnrecoverableError: no retry.
  bool discarded = false;      // job.discard() was called.
};

struct FailureDecision {
  bool retry = false;
  std::int64_t backoff_ms = 0;  // When retry.
  bool exhausted = false;       // Failed because attempts ran out ("retries-exhausted").
  std::string reason;           // The stored failedReason (may explain a refused strategy).
};

// The backoff before the attempt after `attempts_made` (the attempt that just failed is number
// attempts_made): none -> 0; fixed -> d; exponential -> round(2^(n-1) * d); jitter j ->
// floor(rand * D * j + D * (1 - j)). kNotFound for an unregistered custom type.
core::Result<std::int64_t> ComputeBackoff(const std::optional<Backoff>& backoff,
                                          std::int32_t attempts_made, const AttemptFailure& failure,
                                          const Job& job, const BackoffStrategies& strategies,
                                          core::Random& random);

// What a failed attempt of `job` (active, attempts_made not yet counted) becomes: a retry after
// a backoff, or a terminal failure. `options` are the job's options (attempts, backoff).
FailureDecision DecideFailure(const Job& job, const JobOptions& options, const QueueConfig& config,
                              const AttemptFailure& failure, const BackoffStrategies& strategies,
                              core::Random& random);

// The failedReason of a stalled job that exceeded maxStalledCount (BullMQ's text).
inline constexpr std::string_view kStalledTooOften = "job stalled more than allowable limit";

// Keep policy stored on a finished row (§4.11): keep_age_s and keep_count; remove = delete in
// the finish batch.
struct KeepPolicy {
  bool remove = false;
  std::optional<std::int64_t> age_s;
  std::optional<std::int64_t> count;
};
KeepPolicy KeepPolicyOf(const Retention& retention);

// The first `limit` lines of a stack trace (BullMQ's stackTraceLimit).
std::vector<std::string> TrimStacktrace(std::vector<std::string> lines, std::int32_t limit);

}  // namespace cfemu::engine
