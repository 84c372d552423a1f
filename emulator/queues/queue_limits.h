// The broker's limits (production values from core/limits.h; tests may lower them) and the
// counters every report prints.
#pragma once

#include <cstdint>

#include "src/core/limits.h"

namespace cfemu::emulator {

struct QueueLimits {
  std::int64_t message_max_bytes = core::limits::kQueueMessageMaxBytes;
  std::int64_t batch_max_messages = core::limits::kQueueBatchMaxMessages;
  std::int64_t batch_max_bytes = core::limits::kQueueBatchMaxBytes;
  // 86,400 today; 43,200 reproduces the older documented limit.
  std::int64_t max_delay_seconds = core::limits::kQueueMaxDelaySeconds;
  std::int64_t messages_per_second = core::limits::kQueueMessagesPerSecond;
  std::int64_t backlog_max_bytes = core::limits::kQueueBacklogBytes;
  int max_concurrency = static_cast<int>(core::limits::kQueueMaxConcurrency);
  core::Duration invocation_wall_time = core::limits::kQueueConsumerWallTime;
  // Throughput (5,000 msg/s) and backlog (25 GB) limits: off in the strict profile, on in the
  // others (cpp-contract.md, Fault profiles). Unset: decided by the profile.
  std::optional<bool> enforce_throughput_and_backlog;
};

struct QueueStats {
  std::int64_t sent = 0;
  std::int64_t delivered = 0;    // Every delivery, push or pull, first or repeated.
  std::int64_t redelivered = 0;  // Deliveries with attempts > 1, plus duplicates.
  std::int64_t acked = 0;
  std::int64_t retried = 0;        // Explicit, implicit (failed invocation) or lease expiry.
  std::int64_t dead_lettered = 0;  // Written to a dead letter queue after max_retries.
  std::int64_t deleted = 0;        // Retries exhausted with no dead letter queue.
  std::int64_t expired = 0;        // Reached the retention period undelivered or unresolved.
  std::int64_t purged = 0;
  std::int64_t duplicated = 0;            // Spontaneous duplicate deliveries (fault Q3).
  std::int64_t dropped_after_return = 0;  // Sends after the invocation ended (fault Q10).
  std::int64_t rejected = 0;              // Sends refused by limits or fault Q8.
  std::int64_t invocations = 0;
  std::int64_t invocations_failed = 0;
  std::int64_t invocations_killed = 0;
  std::int64_t lease_expired = 0;

  QueueStats& operator+=(const QueueStats& o);
};

}  // namespace cfemu::emulator
