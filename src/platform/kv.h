// Workers KV as a Worker sees it (cloudflare-platform.md §3; C++ spellings in cpp-contract.md):
// get (text, json, bytes; bulk), getWithMetadata, put (expiration, expirationTtl, metadata),
// delete, list (prefix, limit, cursor). Interfaces only; emulator/kv implements them.
//
// KV is eventually consistent: reads are served from a per-location cache that may hold a
// stale value or a stale "not found" for up to the reader's cacheTtl (60 s by default). Reads
// take an optional LocationId; by default the location the binding was made for (the calling
// actor's). Errors carry production's texts ("KV PUT failed: 429 Too Many Requests", ...):
// bad names, options and values are kInvalidArgument; sizes (HTTP 413/414) kTooLarge; the
// per-key write rate (429) kOverloaded; the per-invocation operation budget
// kResourceExhausted ("Too many API requests by single worker invocation.").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/bytes.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"

namespace cfemu::platform {

using core::Bytes;
using core::Duration;
using core::Result;
using core::Status;
using core::Task;

// A point of presence that caches reads ("a location"); any name. Readers in one location
// share its cache; a writer usually sees its own writes in its location.
using LocationId = std::string;

enum class KvType { kText, kJson, kArrayBuffer, kStream };  // kStream reads as bytes.

// A value as read: text, JSON or bytes, per the requested type.
using KvValue = std::variant<std::string, nlohmann::json, Bytes>;

// What put() stores: text or bytes (JS strings, ArrayBuffers and streams).
using KvPutValue = std::variant<std::string, Bytes>;

// The option structs have constructors: see the GCC 12 note in src/core/task.h.
struct KvGetOptions {
  KvGetOptions() = default;
  explicit KvGetOptions(KvType type, std::optional<Duration> cache_ttl = std::nullopt)
      : type(type), cache_ttl(cache_ttl) {}
  KvType type = KvType::kText;
  std::optional<Duration> cache_ttl;   // >= 30 s; default 60 s.
  std::optional<LocationId> location;  // Default: the caller's location.
};

struct KvValueWithMetadata {
  std::optional<KvValue> value;            // nullopt when the key is absent.
  std::optional<nlohmann::json> metadata;  // nullopt when none.
  // "HIT" (served by the location's cache, possibly stale) or "MISS" (fetched from the central
  // store); null when the namespace is strongly consistent, as Miniflare reports.
  std::optional<std::string> cache_status;
};

struct KvPutOptions {
  KvPutOptions() = default;
  std::optional<std::int64_t> expiration;      // Seconds since the epoch; >= now + 60.
  std::optional<std::int64_t> expiration_ttl;  // Seconds from now; >= 60; wins over expiration.
  std::optional<nlohmann::json> metadata;      // Serialized <= 1,024 bytes.
};

struct KvListOptions {
  KvListOptions() = default;
  explicit KvListOptions(std::string prefix, int limit = 1000, std::string cursor = std::string())
      : prefix(std::move(prefix)), limit(limit), cursor(std::move(cursor)) {}
  std::string prefix;
  int limit = 1000;    // 1 ... 1,000; <= 0 means 1,000 (workerd sends no limit then).
  std::string cursor;  // From the previous page; empty for the first.
  std::optional<LocationId> location;  // Default: the caller's location.
};

struct KvListKey {
  std::string name;
  std::optional<std::int64_t> expiration;  // Absolute seconds, present only for expiring keys.
  std::optional<nlohmann::json> metadata;  // Present only when non-null.
};

struct KvListResult {
  std::vector<KvListKey> keys;  // Sorted by UTF-8 bytes; may be short, even empty, while
  bool list_complete = true;    // list_complete is false: continue until it is true.
  std::string cursor;           // Set only when list_complete is false.
  std::optional<std::string> cache_status;  // As KvValueWithMetadata::cache_status.
};

class KvNamespace {
 public:
  virtual ~KvNamespace() = default;

  // The value, or nullopt when absent (or expired).
  virtual Task<Result<std::optional<KvValue>>> Get(std::string key,
                                                   KvGetOptions options = KvGetOptions()) = 0;
  // Bulk read of up to 100 keys, text or json only; absent keys map to nullopt. One operation.
  // The map is ordered by key (a JS Map keeps request order).
  virtual Task<Result<std::map<std::string, std::optional<KvValue>>>> Get(
      std::vector<std::string> keys, KvGetOptions options = KvGetOptions()) = 0;
  virtual Task<Result<KvValueWithMetadata>> GetWithMetadata(
      std::string key, KvGetOptions options = KvGetOptions()) = 0;
  // Bulk form: an absent key maps to an entry whose value and metadata are both nullopt (JS
  // gives null there); entries carry no cache_status.
  virtual Task<Result<std::map<std::string, KvValueWithMetadata>>> GetWithMetadata(
      std::vector<std::string> keys, KvGetOptions options = KvGetOptions()) = 0;
  virtual Task<Status> Put(std::string key, KvPutValue value,
                           KvPutOptions options = KvPutOptions()) = 0;
  // Deleting a missing key succeeds.
  virtual Task<Status> Delete(std::string key) = 0;
  virtual Task<Result<KvListResult>> List(KvListOptions options = KvListOptions()) = 0;
};

}  // namespace cfemu::platform
