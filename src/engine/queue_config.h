// The configuration of one logical queue (engine-spec.md §1.6): stored as JSON in
// `cfq_queues.config`, pushed to the queue's coordinator, returned by the coordinator on
// admission so that consumers never read it from D1. Defaults are BullMQ's where BullMQ has the
// setting, Cloudflare production's otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "src/core/status.h"
#include "src/engine/job.h"

namespace cfemu::engine {

// A rate limit (§4.4). Token bucket (default): capacity `max` tokens refilled at `max` per
// `duration_ms`; fixed window (BullMQ's limiter): at most `max` grants per window of
// `duration_ms` that opens at the first grant. The {capacity, refillPerSec} JSON form is a token
// bucket with max = capacity and duration_ms = 1000 * capacity / refillPerSec (integers only).
struct LimiterConfig {
  enum class Mode { kTokenBucket, kFixedWindow };
  Mode mode = Mode::kTokenBucket;
  std::int64_t max = 1;             // Tokens (grants) per duration; >= 1.
  std::int64_t duration_ms = 1000;  // >= 1.
  // Token bucket only: the bucket holds at most this many tokens (default: max).
  std::optional<std::int64_t> capacity;

  std::int64_t bucket_capacity() const { return capacity.value_or(max); }
};

struct QueueConfig {
  std::int64_t lock_duration_ms = 30'000;  // Lease TTL.
  std::int64_t lock_renew_ms = 15'000;     // Auto-renew period.
  std::int32_t max_stalled_count = 1;
  std::optional<std::int32_t> max_started_attempts;
  std::int64_t stalled_grace_ms = 1'000;
  std::int64_t dispatch_timeout_ms = 300'000;  // Lost-envelope deadline base.
  std::int32_t dispatch_window = 100;          // Dispatcher envelopes outstanding.
  bool strict_order = false;                   // Every job through the dispatcher.
  std::int64_t max_delay_seconds = 86'400;     // 43,200 in the older-cap profile.
  std::int64_t promote_horizon_ms = 900'000;   // <= max delay, >= 2 min.
  std::int64_t scheduler_horizon_ms = 90'000;
  std::int64_t misfire_grace_ms = 60'000;
  std::optional<LimiterConfig> limiter;
  std::optional<LimiterConfig> group_limiter;
  std::optional<std::int32_t> global_concurrency;
  JobOptions default_job_options;  // attempts 1.
  std::int64_t retention_sweep_ms = 5'000;
  std::int32_t sweep_batch = 500;
  std::int64_t max_len_events = 10'000;
  std::int64_t metrics_max_data_points = 10'080;
  std::int64_t size_limit = 1 << 20;    // JSON bytes of a job's data.
  std::int64_t result_limit = 1 << 20;  // JSON bytes of a return value.
  std::int32_t stack_trace_limit = 10;
  std::int64_t early_tolerance_ms = 0;  // 1,000 in production deployments.
};

// camelCase JSON (`lockDurationMs`, `limiter: {mode, max, durationMs}`), every field written.
nlohmann::json QueueConfigToJson(const QueueConfig& config);
// Missing fields keep their defaults; unknown keys and out-of-range values are kInvalidArgument
// naming the field.
core::Result<QueueConfig> QueueConfigFromJson(const nlohmann::json& json);
core::Status ValidateQueueConfig(const QueueConfig& config);
// Logical queue names: 1 to 64 bytes of [A-Za-z0-9._:-] (they travel in envelopes).
core::Status ValidateQueueName(std::string_view name);

}  // namespace cfemu::engine
