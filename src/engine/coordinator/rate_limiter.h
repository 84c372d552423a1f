// Rate limits at claim time (engine-spec.md §4.4), in integer arithmetic only.
//
// Token bucket: the level counts units where one token is `duration_ms` units and every elapsed
// millisecond adds `max` units, so a bucket of `max` tokens per `duration_ms` never needs a
// fraction. Grants in any window [t, t + d] are at most capacity + max * d / duration (INV-07).
// A denial gets retry_at = max(now + time to the next token, hint_at), and the hint moves one
// token period further, so successive denials get spaced slots instead of a thundering herd;
// the hint is advisory, the bucket is checked again on arrival.
//
// Fixed window (BullMQ's limiter): a window opens at the first grant and takes `max` grants for
// `duration_ms`; the k-th denial in a window gets retry_at = window_start + duration * (1 +
// floor(k / max)).
//
// Pure: `now` is an input; the coordinator keeps and persists the states.
#pragma once

#include <cstdint>
#include <vector>

#include "src/engine/queue_config.h"

namespace cfemu::engine {

struct BucketState {
  std::int64_t level = -1;        // Token bucket units; -1 = new (full).
  std::int64_t updated_at = 0;    // Refill reference; may lie in the future after RateLimitUntil.
  std::int64_t hint_at = 0;       // Next spaced retry slot.
  std::int64_t window_start = 0;  // Fixed window; 0 = none open.
  std::int64_t window_count = 0;
  std::int64_t window_denials = 0;
};

// Whether one grant is possible now (after refilling `state` to `now`); retry_at when not.
struct BucketCheck {
  bool grantable = false;
  std::int64_t retry_at = 0;
};

BucketCheck CheckBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now);
// Takes one token (one grant of the window). REQUIRES: CheckBucket said grantable.
void TakeFromBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now);
// Gives back one token taken at `now` (a grant whose claim did not happen).
void RefundToBucket(const LimiterConfig& limiter, BucketState& state);
// Records a denial: returns the spaced retry time and advances the hint.
std::int64_t DenyFromBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now,
                            const BucketCheck& check);
// ctx.rateLimit(ms): the bucket is empty until `until`.
void EmptyBucketUntil(const LimiterConfig& limiter, BucketState& state, std::int64_t until);
// A full token bucket (or a closed window) that has been idle: nothing would change if it were
// forgotten, so the coordinator may garbage-collect it.
bool BucketIsIdle(const LimiterConfig& limiter, BucketState state, std::int64_t now);

}  // namespace cfemu::engine
