// The limits of one KV namespace (cloudflare-platform.md §3.2). Production values come from
// core/limits.h; tests may lower any of them to reach an edge cheaply (STYLE.md rule 7).
#pragma once

#include <cstdint>

#include "src/core/limits.h"
#include "src/core/time.h"

namespace cfemu::emulator {

struct KvLimits {
  std::int64_t max_key_bytes = core::limits::kKvMaxKeyBytes;
  std::int64_t max_value_bytes = core::limits::kKvMaxValueBytes;
  std::int64_t max_metadata_bytes = core::limits::kKvMaxMetadataBytes;
  core::Duration min_expiration_ttl = core::limits::kKvMinExpirationTtl;
  // 30 s today; 60 s reproduces the older documented minimum.
  core::Duration min_cache_ttl = core::limits::kKvMinCacheTtl;
  core::Duration default_cache_ttl = core::limits::kKvDefaultCacheTtl;
  std::int64_t max_list_limit = core::limits::kKvMaxListLimit;
  std::int64_t max_bulk_get_keys = core::limits::kKvMaxBulkGetKeys;
  // The total size of the values one bulk read may return (Miniflare's MAX_BULK_SIZE, 25 MiB).
  std::int64_t max_bulk_get_bytes = core::limits::kKvMaxValueBytes;
  core::Duration same_key_write_interval = core::limits::kKvSameKeyWriteInterval;
  std::int64_t operations_per_invocation = core::limits::kKvOperationsPerInvocation;
};

}  // namespace cfemu::emulator
