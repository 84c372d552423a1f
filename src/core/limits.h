// Every production limit cfemu enforces, with its source. Services take these as defaults in
// their options structs, so tests may lower a limit to reach an edge cheaply (STYLE.md rule 7).
// Queues count 1 KB = 1,000 bytes; KV counts MiB; Durable Object storage bills in 10^9 bytes.
#pragma once

#include <cstdint>

#include "src/core/time.h"

namespace cfemu::core::limits {

// ---- Queues: https://developers.cloudflare.com/queues/platform/limits/ -----------------------
inline constexpr std::int64_t kQueueMessageMaxBytes = 128'000;   // Incl. ~100 bytes of metadata.
inline constexpr std::int64_t kQueueMessageOverheadBytes = 100;  // cpp-contract.md: exactly 100.
inline constexpr std::int64_t kQueueBatchMaxMessages = 100;      // Per sendBatch.
inline constexpr std::int64_t kQueueBatchMaxBytes = 256'000;     // Per sendBatch.
inline constexpr std::int64_t kQueueMaxDelaySeconds = 86'400;    // send/retry delaySeconds (24 h).
inline constexpr std::int64_t kQueueLegacyMaxDelaySeconds = 43'200;    // Older docs: 12 h.
inline constexpr std::int64_t kQueueMaxDeliveryDelaySeconds = 43'200;  // Queue delivery_delay.
inline constexpr Duration kQueueDefaultRetention = Days(4);            // Paid plan default.
inline constexpr Duration kQueueMinRetention = Seconds(60);
inline constexpr Duration kQueueMaxRetention = Days(14);
inline constexpr Duration kQueueFreeRetention = Hours(24);  // Free plan, fixed.
inline constexpr std::int64_t kQueueMaxRetries = 100;
inline constexpr std::int64_t kQueuesPerAccount = 10'000;
inline constexpr std::int64_t kQueueMessagesPerSecond = 5'000;  // Over: "Too Many Requests".
inline constexpr std::int64_t kQueueBacklogBytes =
    25'000'000'000;                                              // 25 GB: "Storage Limit Exceeded".
inline constexpr std::int64_t kQueueMaxConcurrency = 250;        // Push consumer invocations.
inline constexpr Duration kQueueConsumerWallTime = Minutes(15);  // Per consumer invocation.
inline constexpr Duration kQueueConsumerCpuDefault = Seconds(30);
inline constexpr Duration kQueueConsumerCpuMax = Minutes(5);
inline constexpr std::int64_t kQueueQueueNameMaxChars = 63;  // Lowercase, digits, dashes.

// ---- Queues consumer settings:
// https://developers.cloudflare.com/queues/configuration/configure-queues/
inline constexpr std::int64_t kConsumerDefaultBatchSize = 10;
inline constexpr std::int64_t kConsumerMaxBatchSize = 100;
inline constexpr Duration kConsumerDefaultBatchTimeout = Seconds(5);
inline constexpr Duration kConsumerMaxBatchTimeout = Seconds(60);
inline constexpr std::int64_t kConsumerDefaultMaxRetries = 3;
inline constexpr std::int64_t kConsumerMaxRetryDelaySeconds = 86'400;
inline constexpr Duration kPullDefaultVisibility = Seconds(30);
inline constexpr Duration kPullMaxVisibility = Hours(12);  // 43,200,000 ms.
inline constexpr std::int64_t kPullDefaultBatchSize = 5;
inline constexpr std::int64_t kPullMaxBatchSize = 100;

// Compatibility date from which the default content type is json, not v8
// (flag queues_json_messages):
// https://developers.cloudflare.com/queues/configuration/javascript-apis/
inline constexpr const char* kQueuesJsonMessagesDate = "2024-03-18";

// ---- D1: https://developers.cloudflare.com/d1/platform/limits/ -------------------------------
inline constexpr std::int64_t kD1MaxBoundParameters = 100;
inline constexpr std::int64_t kD1MaxStatementBytes = 100'000;
inline constexpr std::int64_t kD1MaxColumns = 100;
inline constexpr std::int64_t kD1MaxValueBytes = 2'000'000;  // String, BLOB or row.
inline constexpr std::int64_t kD1MaxFunctionArgs = 32;
inline constexpr std::int64_t kD1MaxLikePatternBytes = 50;
inline constexpr Duration kD1MaxQueryDuration = Seconds(30);
inline constexpr std::int64_t kD1MaxDatabaseBytesPaid = 10'000'000'000;
inline constexpr std::int64_t kD1MaxDatabaseBytesFree = 500'000'000;
inline constexpr std::int64_t kD1QueriesPerInvocationPaid = 1'000;
inline constexpr std::int64_t kD1QueriesPerInvocationFree = 50;
inline constexpr std::int64_t kD1ReadRetries = 2;  // Automatic retries of read-only queries.

// ---- KV: https://developers.cloudflare.com/kv/platform/limits/ -------------------------------
inline constexpr std::int64_t kKvMaxKeyBytes = 512;
inline constexpr std::int64_t kKvMaxValueBytes = 26'214'400;  // 25 MiB.
inline constexpr std::int64_t kKvMaxMetadataBytes = 1'024;
inline constexpr Duration kKvMinExpirationTtl = Seconds(60);
inline constexpr Duration kKvMinCacheTtl = Seconds(30);  // Older docs: 60 s.
inline constexpr Duration kKvDefaultCacheTtl = Seconds(60);
inline constexpr std::int64_t kKvMaxListLimit = 1'000;
inline constexpr std::int64_t kKvMaxBulkGetKeys = 100;
inline constexpr std::int64_t kKvMaxBulkWriteKeys = 10'000;
inline constexpr std::int64_t kKvMaxBulkRequestBytes = 100'000'000;
inline constexpr Duration kKvSameKeyWriteInterval = Seconds(1);  // 1 write/s/key, else 429.
inline constexpr std::int64_t kKvOperationsPerInvocation = 1'000;

// ---- Durable Objects: https://developers.cloudflare.com/durable-objects/platform/limits/ ----
inline constexpr std::int64_t kDoMaxKeysPerCall = 128;
inline constexpr std::int64_t kDoSqliteMaxKeyValueBytes = 2'000'000;  // Key + value.
inline constexpr std::int64_t kDoKvMaxKeyBytes = 2'048;               // Legacy KV backend.
inline constexpr std::int64_t kDoKvMaxValueBytes = 131'072 + 34;      // + serialization slack.
inline constexpr std::int64_t kDoMaxStorageBytes = 10'000'000'000;    // Per object (SQLite).
inline constexpr std::int64_t kDoSoftRequestsPerSecond = 1'000;
inline constexpr Duration kDoCpuPerRequest = Seconds(30);
inline constexpr Duration kDoBlockConcurrencyTimeout = Seconds(30);
inline constexpr Duration kDoHibernateIdle = Seconds(10);
inline constexpr Duration kDoEvictIdleMin = Seconds(70);
inline constexpr Duration kDoEvictIdleMax = Seconds(140);
// Alarms: https://developers.cloudflare.com/durable-objects/api/alarms/ (+ workerd scheduler).
inline constexpr Duration kDoAlarmFirstRetry = Seconds(2);
inline constexpr std::int64_t kDoAlarmMaxRetries = 6;
inline constexpr std::int64_t kDoAlarmJitterPercent = 25;

// ---- Cron Triggers: https://developers.cloudflare.com/workers/platform/limits/ --------------
inline constexpr std::int64_t kCronTriggersFree = 5;   // Per account. Older pages: 3 per Worker.
inline constexpr std::int64_t kCronTriggersPaid = 250;  // Per account.
// Duration (wall clock) of one scheduled() invocation, "Worker limits" table: 15 min.
inline constexpr Duration kCronWallTime = Minutes(15);
// CPU time (not modelled: virtual time stands still during CPU work): 30 s when the schedule
// runs more often than hourly, 15 min otherwise ("CPU time" note of the same page).
inline constexpr Duration kCronCpuShortInterval = Seconds(30);
inline constexpr Duration kCronCpuLongInterval = Minutes(15);

// ---- Cloudflare v4 API: https://developers.cloudflare.com/fundamentals/api/reference/limits/
inline constexpr std::int64_t kApiRequestsPer5Minutes = 1'200;

}  // namespace cfemu::core::limits
