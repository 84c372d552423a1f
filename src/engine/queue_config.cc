#include "src/engine/queue_config.h"

#include <string>

namespace cfemu::engine {

using Json = nlohmann::json;
using core::Result;
using core::Status;

namespace {

Json LimiterToJson(const LimiterConfig& limiter) {
  Json out = {
      {"mode", limiter.mode == LimiterConfig::Mode::kTokenBucket ? "tokenBucket" : "fixedWindow"},
      {"max", limiter.max},
      {"durationMs", limiter.duration_ms}};
  if (limiter.capacity) out["capacity"] = *limiter.capacity;
  return out;
}

Status BadField(std::string_view field, std::string_view expected) {
  return Status::InvalidArgument("queue config '" + std::string(field) + "' must be " +
                                 std::string(expected));
}

Result<std::int64_t> Integer(const Json& value, std::string_view field) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) {
    return BadField(field, "an integer");
  }
  return value.get<std::int64_t>();
}

Result<LimiterConfig> LimiterFromJson(const Json& json, std::string_view field) {
  if (!json.is_object()) return BadField(field, "{mode, max, durationMs}");
  LimiterConfig limiter;
  std::optional<std::int64_t> refill_per_sec;
  for (const auto& [key, value] : json.items()) {
    const std::string name = std::string(field) + "." + key;
    if (key == "mode") {
      if (value == "tokenBucket") {
        limiter.mode = LimiterConfig::Mode::kTokenBucket;
      } else if (value == "fixedWindow") {
        limiter.mode = LimiterConfig::Mode::kFixedWindow;
      } else {
        return BadField(name, "\"tokenBucket\" or \"fixedWindow\"");
      }
      continue;
    }
    auto n = Integer(value, name);
    if (!n.ok()) return n.status();
    if (key == "max") {
      limiter.max = *n;
    } else if (key == "durationMs") {
      limiter.duration_ms = *n;
    } else if (key == "capacity") {
      limiter.capacity = *n;
    } else if (key == "refillPerSec") {
      refill_per_sec = *n;
    } else {
      return Status::InvalidArgument("unknown queue config field '" + name + "'");
    }
  }
  if (refill_per_sec) {
    // {capacity, refillPerSec}: refillPerSec tokens per 1,000 ms, at most capacity held.
    if (*refill_per_sec < 1) return BadField(std::string(field) + ".refillPerSec", ">= 1");
    limiter.max = *refill_per_sec;
    limiter.duration_ms = 1000;
    if (!limiter.capacity) limiter.capacity = *refill_per_sec;
  }
  return limiter;
}

Status ValidateLimiter(const LimiterConfig& limiter, std::string_view field) {
  if (limiter.max < 1) return BadField(std::string(field) + ".max", ">= 1");
  if (limiter.duration_ms < 1) return BadField(std::string(field) + ".durationMs", ">= 1");
  if (limiter.capacity && *limiter.capacity < 1) {
    return BadField(std::string(field) + ".capacity", ">= 1");
  }
  if (limiter.capacity && limiter.mode == LimiterConfig::Mode::kFixedWindow) {
    return BadField(std::string(field) + ".capacity", "absent in fixedWindow mode");
  }
  return Status::Ok();
}

// The integer fields, by JSON name, for both directions.
template <class F>
void ForEachIntegerField(QueueConfig& config, F&& f) {
  f("lockDurationMs", config.lock_duration_ms);
  f("lockRenewMs", config.lock_renew_ms);
  f("stalledGraceMs", config.stalled_grace_ms);
  f("dispatchTimeoutMs", config.dispatch_timeout_ms);
  f("maxDelaySeconds", config.max_delay_seconds);
  f("promoteHorizonMs", config.promote_horizon_ms);
  f("schedulerHorizonMs", config.scheduler_horizon_ms);
  f("misfireGraceMs", config.misfire_grace_ms);
  f("retentionSweepMs", config.retention_sweep_ms);
  f("maxLenEvents", config.max_len_events);
  f("metricsMaxDataPoints", config.metrics_max_data_points);
  f("sizeLimit", config.size_limit);
  f("resultLimit", config.result_limit);
  f("earlyToleranceMs", config.early_tolerance_ms);
}

template <class F>
void ForEachInt32Field(QueueConfig& config, F&& f) {
  f("maxStalledCount", config.max_stalled_count);
  f("dispatchWindow", config.dispatch_window);
  f("sweepBatch", config.sweep_batch);
  f("stackTraceLimit", config.stack_trace_limit);
}

}  // namespace

Json QueueConfigToJson(const QueueConfig& input) {
  QueueConfig config = input;
  Json out = Json::object();
  ForEachIntegerField(config, [&](const char* name, std::int64_t& v) { out[name] = v; });
  ForEachInt32Field(config, [&](const char* name, std::int32_t& v) { out[name] = v; });
  out["strictOrder"] = config.strict_order;
  if (config.max_started_attempts) out["maxStartedAttempts"] = *config.max_started_attempts;
  if (config.limiter) out["limiter"] = LimiterToJson(*config.limiter);
  if (config.group_limiter) out["groupLimiter"] = LimiterToJson(*config.group_limiter);
  if (config.global_concurrency) out["globalConcurrency"] = *config.global_concurrency;
  out["defaultJobOptions"] = JobOptionsToJson(config.default_job_options);
  return out;
}

Result<QueueConfig> QueueConfigFromJson(const Json& json) {
  QueueConfig config;
  if (json.is_null()) return config;
  if (!json.is_object()) return Status::InvalidArgument("queue config must be an object");
  for (const auto& [key, value] : json.items()) {
    bool handled = false;
    Status status;
    ForEachIntegerField(config, [&](const char* name, std::int64_t& field) {
      if (handled || key != name) return;
      handled = true;
      auto n = Integer(value, key);
      if (n.ok())
        field = *n;
      else
        status = n.status();
    });
    ForEachInt32Field(config, [&](const char* name, std::int32_t& field) {
      if (handled || key != name) return;
      handled = true;
      auto n = Integer(value, key);
      if (n.ok())
        field = static_cast<std::int32_t>(*n);
      else
        status = n.status();
    });
    CFEMU_RETURN_IF_ERROR(status);
    if (handled) continue;
    if (key == "strictOrder") {
      if (!value.is_boolean()) return BadField(key, "true or false");
      config.strict_order = value.get<bool>();
    } else if (key == "maxStartedAttempts" || key == "globalConcurrency") {
      if (value.is_null()) continue;
      auto n = Integer(value, key);
      if (!n.ok()) return n.status();
      (key == "maxStartedAttempts" ? config.max_started_attempts : config.global_concurrency) =
          static_cast<std::int32_t>(*n);
    } else if (key == "limiter" || key == "groupLimiter") {
      if (value.is_null()) continue;
      auto limiter = LimiterFromJson(value, key);
      if (!limiter.ok()) return limiter.status();
      (key == "limiter" ? config.limiter : config.group_limiter) = *limiter;
    } else if (key == "defaultJobOptions") {
      auto options = JobOptionsFromJson(value);
      if (!options.ok()) return options.status();
      config.default_job_options = *options;
    } else {
      return Status::InvalidArgument("unknown queue config field '" + key + "'");
    }
  }
  CFEMU_RETURN_IF_ERROR(ValidateQueueConfig(config));
  return config;
}

Status ValidateQueueConfig(const QueueConfig& config) {
  if (config.lock_duration_ms < 1000) return BadField("lockDurationMs", ">= 1000");
  if (config.lock_renew_ms < 1 || config.lock_renew_ms >= config.lock_duration_ms) {
    return BadField("lockRenewMs", "between 1 and lockDurationMs - 1");
  }
  if (config.max_stalled_count < 0) return BadField("maxStalledCount", ">= 0");
  if (config.max_started_attempts && *config.max_started_attempts < 1) {
    return BadField("maxStartedAttempts", ">= 1");
  }
  if (config.stalled_grace_ms < 0) return BadField("stalledGraceMs", ">= 0");
  if (config.dispatch_timeout_ms < 1000) return BadField("dispatchTimeoutMs", ">= 1000");
  if (config.dispatch_window < 1) return BadField("dispatchWindow", ">= 1");
  if (config.max_delay_seconds < 1 || config.max_delay_seconds > 86'400) {
    return BadField("maxDelaySeconds", "between 1 and 86400 (Cloudflare's limit)");
  }
  if (config.promote_horizon_ms < 120'000 ||
      config.promote_horizon_ms > config.max_delay_seconds * 1000) {
    return BadField("promoteHorizonMs", "between 120000 and maxDelaySeconds * 1000");
  }
  if (config.scheduler_horizon_ms < 0) return BadField("schedulerHorizonMs", ">= 0");
  if (config.misfire_grace_ms < 0) return BadField("misfireGraceMs", ">= 0");
  if (config.limiter) CFEMU_RETURN_IF_ERROR(ValidateLimiter(*config.limiter, "limiter"));
  if (config.group_limiter) {
    CFEMU_RETURN_IF_ERROR(ValidateLimiter(*config.group_limiter, "groupLimiter"));
  }
  if (config.global_concurrency && *config.global_concurrency < 1) {
    return BadField("globalConcurrency", ">= 1");
  }
  CFEMU_RETURN_IF_ERROR(ValidateJobOptions(config.default_job_options));
  if (config.retention_sweep_ms < 100) return BadField("retentionSweepMs", ">= 100");
  if (config.sweep_batch < 1) return BadField("sweepBatch", ">= 1");
  if (config.max_len_events < 1) return BadField("maxLenEvents", ">= 1");
  if (config.metrics_max_data_points < 1) return BadField("metricsMaxDataPoints", ">= 1");
  if (config.size_limit < 1) return BadField("sizeLimit", ">= 1");
  if (config.result_limit < 1) return BadField("resultLimit", ">= 1");
  if (config.stack_trace_limit < 0) return BadField("stackTraceLimit", ">= 0");
  if (config.early_tolerance_ms < 0) return BadField("earlyToleranceMs", ">= 0");
  return Status::Ok();
}

Status ValidateQueueName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("queue name '" + std::string(name) + "' must be 1 to 64 bytes");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("queue name '" + std::string(name) +
                                     "' may contain only letters, digits and . _ : -");
    }
  }
  return Status::Ok();
}

}  // namespace cfemu::engine
