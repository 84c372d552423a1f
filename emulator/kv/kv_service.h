// The Workers KV service: one namespace, modelled as production runs it (cloudflare-platform.md
// §3.3). A central store holds the truth (value, metadata, expiration, write time and version of
// every key), and each location caches what its readers fetched: a read there is served from
// the location's cache while the entry is fresher than the reader's cacheTtl (60 s by default),
// otherwise from the central store, and then cached. So a reader may see a stale value (fault
// K1) or a stale "not found" (K2) for up to the cache TTL; lists are cached the same way. A
// write goes to the central store and, usually, to the writer's own location: read-your-writes
// holds except when fault K1 decides otherwise. Expiration wins over the cache; near an
// expiration each location judges with its own slightly-off clock (K5), so a key may be present
// in one location and absent in another. Read-modify-write is not atomic (K3 emerges, and is
// recorded when a binding writes a key after reading an older version of it), and each key
// accepts one write per second (K4, the 429).
//
// With eventual consistency off (the strict profile's default) every read is central and
// cacheStatus is null. With it on, whether a fresh-but-outdated cache entry is served is a
// decision of fault K1 (values, lists) or K2 (negative entries), and expiry flaps are K5's: the
// fidelity and robustness plans fire them with probability 1 (the model always applies), a
// swarm plan may weaken or remove them, and a strict plan must enable them explicitly.
//
// Bindings are per actor (per invocation Env): Bind() gives one bound to the caller's scope
// and location. The *Direct calls are the strongly consistent admin path for the REST API:
// they read and write the central store and return the service's texts without the
// "KV <METHOD> failed: <status>" prefix of the binding.
//
// Invariants: single-threaded (the Host's loop); nothing here reads the wall clock or OS
// randomness; every decision is drawn from the Host's seeded streams; output order never
// depends on hash order (std::map throughout).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/kv/kv_cache.h"
#include "emulator/kv/kv_limits.h"
#include "emulator/kv/kv_record.h"
#include "emulator/kv/kv_store.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/host.h"
#include "src/platform/kv.h"

namespace cfemu::emulator {

struct KvOptions {
  std::string id;  // 32 lowercase hex digits; empty: core::DeriveHexId("kv", title).
  std::string title;
  std::optional<std::filesystem::path> file;  // SQLite (WAL) when set; in memory otherwise.
  KvLimits limits;
  // Per-location caches, stale reads, negative caching. Unset: off in strict, on otherwise.
  std::optional<bool> eventually_consistent;
  // One write per second per key, else 429. Unset: off in strict, on otherwise.
  std::optional<bool> enforce_write_rate;
  // 1,000 operations per invocation (a bulk read counts as one), counted per binding of an
  // invocation's Env; bindings outside an invocation are not capped. Unset: off in strict, on
  // otherwise.
  std::optional<bool> cap_operations_per_invocation;
  // Chance that a write is not visible to later reads in its own location while that location
  // still caches the key (the "not guaranteed" of read-your-writes). Drawn after fault K1's
  // decision at "kv.write.own_location"; a forced-only plan's decision alone decides.
  double read_your_writes_miss = 0.05;
  // Fault K5: each location judges expirations with a clock off by up to this much.
  core::Duration expiry_flap_window = core::Seconds(5);
  // How long deletes and expired keys still count against list pages before they are purged.
  core::Duration tombstone_retention = core::Seconds(60);
};

// Counters for reports and tests.
struct KvStats {
  std::int64_t reads = 0;  // Keys read (a bulk read of n keys counts n).
  std::int64_t writes = 0;
  std::int64_t deletes = 0;
  std::int64_t lists = 0;
  std::int64_t cache_hits = 0;
  std::int64_t stale_reads = 0;           // K1 on values.
  std::int64_t stale_negative_reads = 0;  // K2.
  std::int64_t stale_lists = 0;           // K1 on lists.
  std::int64_t read_your_writes_misses = 0;
  std::int64_t expiry_flaps = 0;  // K5: a location's answer differed from the true-time one.
  std::int64_t lost_updates = 0;  // K3.
  std::int64_t rate_limited = 0;  // K4.
};

// A value as the admin path returns it.
struct KvDirectEntry {
  core::Bytes value;
  std::optional<nlohmann::json> metadata;
  std::optional<std::int64_t> expiration;  // Absolute seconds since the epoch.
};

// What one read at a location saw.
struct KvObservation {
  KvRecord record;  // The record served (its value is null when absent).
  bool present = false;
  bool stale = false;  // Served from the cache although the central store says otherwise.
  std::optional<std::string> cache_status;  // "HIT" / "MISS"; null without the cache model.
};

class KvService {
 public:
  // kInvalidArgument for bad options; kFailedPrecondition or kUnavailable for the file.
  static core::Result<std::unique_ptr<KvService>> Open(Host& host, KvOptions options);
  ~KvService();
  KvService(const KvService&) = delete;
  KvService& operator=(const KvService&) = delete;

  // The binding an actor's Env holds. Reads default to `location`; writes come from it.
  // REQUIRES: `scope` and this service outlive the binding.
  std::unique_ptr<platform::KvNamespace> Bind(const ActorScope& scope,
                                              platform::LocationId location);

  // Strongly consistent admin access (REST): the central store, no caches, no latency.
  core::Result<std::optional<KvDirectEntry>> GetDirect(const std::string& key);
  core::Status PutDirect(const std::string& key, platform::KvPutValue value,
                         const platform::KvPutOptions& options = platform::KvPutOptions());
  core::Status DeleteDirect(const std::string& key);
  core::Result<platform::KvListResult> ListDirect(
      const platform::KvListOptions& options = platform::KvListOptions());

  const std::string& id() const { return id_; }
  const std::string& title() const { return options_.title; }
  const KvLimits& limits() const { return options_.limits; }
  const KvStats& stats() const { return stats_; }
  bool eventually_consistent() const { return eventually_consistent_; }
  bool caps_operations() const { return cap_operations_; }
  std::size_t size() const { return store_->size(); }
  // The clock error a location judges expirations with (fault K5); for tests.
  core::Duration ExpirySkewAt(const platform::LocationId& location);

  // ---- For KvBinding: the service side of one request, after the request's latency. ----
  // A read of `key` as seen from `location` with the reader's cache TTL.
  KvObservation Read(const platform::LocationId& location, const std::string& key,
                     core::Duration cache_ttl, std::string_view actor);
  // A put or delete (value unset) from `location` (null: the admin path). `read_version` is the
  // version of the key the binding last read, for lost-update detection.
  core::Result<KvRecord> Put(const platform::LocationId* location, std::string_view method,
                             const std::string& key, platform::KvPutValue value,
                             const platform::KvPutOptions& options,
                             std::optional<std::uint64_t> read_version, std::string_view actor);
  core::Result<KvRecord> Delete(const platform::LocationId* location, std::string_view method,
                                const std::string& key, std::optional<std::uint64_t> read_version,
                                std::string_view actor);
  core::Result<platform::KvListResult> List(const platform::LocationId* location,
                                            std::string_view method,
                                            const platform::KvListOptions& options,
                                            std::string_view actor);

  LatencyModel::Site read_site() const { return read_site_; }
  LatencyModel::Site write_site() const { return write_site_; }
  LatencyModel::Site delete_site() const { return delete_site_; }
  LatencyModel::Site list_site() const { return list_site_; }

 private:
  KvService(Host& host, KvOptions options, std::string id, std::unique_ptr<kv::KvStore> store);

  core::Instant Now() const { return host_.clock().Now(); }
  kv::LocationCache& CacheAt(const platform::LocationId& location);
  KvObservation ReadThroughCache(const platform::LocationId& location, const std::string& key,
                                 const KvRecord& central, core::Instant now,
                                 core::Duration cache_ttl, std::string_view actor);
  // The instant a location judges expirations at: `now`, or now + its skew when K5 fires.
  core::Instant ExpiryJudge(const kv::LocationCache& cache, core::Instant now,
                            const KvRecord& central, const kv::CachedValue* cached);
  KvObservation Observe(const KvRecord& record, core::Instant now, core::Instant judge,
                        std::string_view actor);
  bool ServeStaleValue(const KvRecord& cached, core::Instant judge, std::string_view actor);
  core::Result<KvRecord> Apply(const platform::LocationId* location, std::string_view method,
                               const std::string& key, KvRecord record,
                               std::optional<std::uint64_t> read_version, std::string_view actor);
  void UpdateWriterCache(const platform::LocationId& location, const std::string& key,
                         const KvRecord& stored, core::Instant now, std::string_view actor);
  platform::KvListResult ListThroughCache(const platform::LocationId& location,
                                          const platform::KvListOptions& options, int limit,
                                          platform::KvListResult fresh, std::string_view actor);
  void TraceRead(std::string_view actor, const platform::LocationId& location,
                 const std::string& key, const KvObservation& seen);
  void TraceWrite(std::string_view actor, const platform::LocationId* location,
                  const std::string& key, const KvRecord& stored);
  void TraceList(std::string_view actor, const platform::LocationId* location,
                 const platform::KvListOptions& options, const platform::KvListResult& result,
                 bool stale);

  Host& host_;
  KvOptions options_;
  std::string id_;
  bool eventually_consistent_;
  bool cap_operations_;
  std::unique_ptr<kv::KvStore> store_;
  std::map<platform::LocationId, kv::LocationCache, std::less<>> caches_;
  KvStats stats_;
  LatencyModel::Site read_site_;
  LatencyModel::Site write_site_;
  LatencyModel::Site delete_site_;
  LatencyModel::Site list_site_;
};

}  // namespace cfemu::emulator
