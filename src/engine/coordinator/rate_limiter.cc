#include "src/engine/coordinator/rate_limiter.h"

#include <algorithm>

namespace cfemu::engine {

namespace {

bool IsWindow(const LimiterConfig& limiter) {
  return limiter.mode == LimiterConfig::Mode::kFixedWindow;
}

std::int64_t CapacityUnits(const LimiterConfig& limiter) {
  return limiter.bucket_capacity() * limiter.duration_ms;
}

void Refill(const LimiterConfig& limiter, BucketState& state, std::int64_t now) {
  const std::int64_t cap = CapacityUnits(limiter);
  if (state.level < 0) {
    state.level = cap;
    state.updated_at = now;
    return;
  }
  if (now <= state.updated_at) return;  // Emptied until a time still ahead.
  // Bound the elapsed time so that the product cannot overflow: a full refill is enough.
  const std::int64_t elapsed = std::min(now - state.updated_at, cap / limiter.max + 1);
  state.level = std::min(cap, state.level + elapsed * limiter.max);
  state.updated_at = now;
}

bool WindowOpen(const LimiterConfig& limiter, const BucketState& state, std::int64_t now) {
  return state.window_start != 0 && now < state.window_start + limiter.duration_ms;
}

}  // namespace

BucketCheck CheckBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now) {
  BucketCheck out;
  if (IsWindow(limiter)) {
    if (!WindowOpen(limiter, state, now) || state.window_count < limiter.max) {
      out.grantable = true;
      return out;
    }
    out.retry_at =
        state.window_start + limiter.duration_ms * (1 + state.window_denials / limiter.max);
    return out;
  }
  Refill(limiter, state, now);
  if (state.level >= limiter.duration_ms) {
    out.grantable = true;
    return out;
  }
  const std::int64_t deficit = limiter.duration_ms - state.level;
  const std::int64_t from = std::max(now, state.updated_at);
  out.retry_at = from + (deficit + limiter.max - 1) / limiter.max;
  return out;
}

void TakeFromBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now) {
  if (IsWindow(limiter)) {
    if (!WindowOpen(limiter, state, now)) {
      state.window_start = now;
      state.window_count = 0;
      state.window_denials = 0;
    }
    ++state.window_count;
    return;
  }
  state.level -= limiter.duration_ms;
}

void RefundToBucket(const LimiterConfig& limiter, BucketState& state) {
  if (IsWindow(limiter)) {
    if (state.window_count > 0) --state.window_count;
    return;
  }
  state.level = std::min(CapacityUnits(limiter), state.level + limiter.duration_ms);
}

std::int64_t DenyFromBucket(const LimiterConfig& limiter, BucketState& state, std::int64_t now,
                            const BucketCheck& check) {
  if (IsWindow(limiter)) {
    ++state.window_denials;
    return check.retry_at;  // Already spaced by the denial count.
  }
  if (state.hint_at < now) state.hint_at = now;
  const std::int64_t retry_at = std::max(check.retry_at, state.hint_at);
  const std::int64_t period = (limiter.duration_ms + limiter.max - 1) / limiter.max;
  state.hint_at = retry_at + std::max<std::int64_t>(period, 1);
  return retry_at;
}

void EmptyBucketUntil(const LimiterConfig& limiter, BucketState& state, std::int64_t until) {
  if (IsWindow(limiter)) {
    state.window_start = until - limiter.duration_ms;
    state.window_count = limiter.max;
    state.window_denials = 0;
    return;
  }
  state.level = 0;
  state.updated_at = until;
  state.hint_at = until;
}

bool BucketIsIdle(const LimiterConfig& limiter, BucketState state, std::int64_t now) {
  if (IsWindow(limiter)) return !WindowOpen(limiter, state, now);
  if (state.hint_at > now) return false;
  Refill(limiter, state, now);
  return state.level >= CapacityUnits(limiter);
}

}  // namespace cfemu::engine
