#include "src/engine/transitions.h"

#include <algorithm>
#include <cmath>

namespace cfemu::engine {

using core::Result;
using core::Status;

bool DirectSendEligible(std::int32_t priority, bool lifo, const QueueConfig& config,
                        std::int64_t available_at, std::int64_t now, bool known_paused) {
  return priority == 0 && !lifo && !config.strict_order &&
         available_at <= now + config.promote_horizon_ms && !known_paused;
}

std::int64_t DispatchDeadline(std::int64_t available_at, std::int64_t now,
                              const QueueConfig& config, std::int32_t lost_count) {
  const int shift = std::clamp<std::int32_t>(lost_count, 0, 6);
  return std::max(available_at, now) + config.dispatch_timeout_ms * (std::int64_t{1} << shift);
}

int EnvelopeDelaySeconds(std::int64_t available_at, std::int64_t now, const QueueConfig& config) {
  const std::int64_t ahead = available_at - now;
  if (ahead <= 0) return 0;
  const std::int64_t seconds = (ahead + 999) / 1000;
  return static_cast<int>(std::min(seconds, config.max_delay_seconds));
}

Placement Place(std::int32_t priority, bool lifo, std::int64_t available_at, std::int64_t now,
                const QueueConfig& config, bool known_paused) {
  Placement out;
  out.available_at = available_at;
  if (available_at > now) {
    out.state = JobState::kDelayed;
  } else {
    out.state = priority > 0 ? JobState::kPrioritized : JobState::kWaiting;
  }
  if (DirectSendEligible(priority, lifo, config, available_at, now, known_paused)) {
    out.dispatch_at = now;
    out.dispatch_deadline = DispatchDeadline(available_at, now, config);
  } else {
    out.needs_dispatcher = priority > 0 || lifo || config.strict_order;
  }
  return out;
}

Result<std::int64_t> ComputeBackoff(const std::optional<Backoff>& backoff,
                                    std::int32_t attempts_made, const AttemptFailure& failure,
                                    const Job& job, const BackoffStrategies& strategies,
                                    core::Random& random) {
  if (!backoff) return std::int64_t{0};
  std::int64_t base = 0;
  if (backoff->type == "fixed") {
    base = backoff->delay_ms;
  } else if (backoff->type == "exponential") {
    // round(2^(n-1) * d) with integers: the product is exact, so no rounding is needed.
    const int shift = std::clamp(attempts_made - 1, 0, 40);
    base = backoff->delay_ms > (INT64_MAX >> shift) ? INT64_MAX / 2 : backoff->delay_ms << shift;
  } else {
    const auto it = strategies.find(backoff->type);
    if (it == strategies.end()) {
      return Status::NotFound("unknown backoff strategy '" + backoff->type +
                              "' (register it in ConsumerOptions::backoff_strategies)");
    }
    return it->second(attempts_made, backoff->type, failure.reason, job);
  }
  if (backoff->jitter > 0 && base > 0) {
    const double d = static_cast<double>(base);
    const double jittered =
        std::floor(random.Unit() * d * backoff->jitter + d * (1.0 - backoff->jitter));
    base = static_cast<std::int64_t>(jittered);
  }
  return base;
}

FailureDecision DecideFailure(const Job& job, const JobOptions& options, const QueueConfig& config,
                              const AttemptFailure& failure, const BackoffStrategies& strategies,
                              core::Random& random) {
  FailureDecision out;
  out.reason = failure.reason;
  const std::int32_t attempts_made = job.attempts_made + 1;  // This attempt counts now.
  const std::int32_t attempts = job.attempts_max;  // The row's copy of the option is the truth.
  if (failure.unrecoverable || failure.discarded) return out;
  if (attempts_made >= attempts) {
    out.exhausted = true;
    return out;
  }
  if (config.max_started_attempts && job.attempts_started >= *config.max_started_attempts) {
    return out;
  }
  auto backoff = ComputeBackoff(options.backoff, attempts_made, failure, job, strategies, random);
  if (!backoff.ok()) {
    out.reason = failure.reason + " (" + backoff.status().message() + ")";
    return out;
  }
  if (*backoff < 0) return out;  // A custom strategy said "fail now".
  out.retry = true;
  out.backoff_ms = *backoff;
  return out;
}

KeepPolicy KeepPolicyOf(const Retention& retention) {
  KeepPolicy out;
  if (const auto* flag = std::get_if<bool>(&retention)) {
    out.remove = *flag;
  } else if (const auto* count = std::get_if<std::int64_t>(&retention)) {
    out.count = *count;
    out.remove = *count == 0;
  } else {
    const auto& keep = std::get<KeepJobs>(retention);
    out.age_s = keep.age_sec;
    out.count = keep.count;
  }
  return out;
}

std::vector<std::string> TrimStacktrace(std::vector<std::string> lines, std::int32_t limit) {
  if (limit >= 0 && lines.size() > static_cast<std::size_t>(limit)) lines.resize(limit);
  return lines;
}

}  // namespace cfemu::engine
