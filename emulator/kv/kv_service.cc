#include "emulator/kv/kv_service.h"

#include <utility>

#include "emulator/kv/kv_binding.h"
#include "emulator/kv/kv_validation.h"
#include "src/core/cover.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using platform::KvListOptions;
using platform::KvListResult;
using platform::LocationId;

namespace {

// The actor the admin path traces as.
constexpr std::string_view kAdminActor = "kv.admin";

Status CheckOptions(const KvOptions& options) {
  if (options.id.empty() && options.title.empty()) {
    return Status::InvalidArgument("a KV namespace needs a title or an id");
  }
  if (!options.id.empty() && !core::IsLowerHex(options.id, 32)) {
    return Status::InvalidArgument("KV namespace id '" + options.id +
                                   "' is not 32 lowercase hex digits");
  }
  const KvLimits& l = options.limits;
  if (l.max_key_bytes <= 0 || l.max_value_bytes < 0 || l.max_metadata_bytes < 0 ||
      l.max_list_limit <= 0 || l.max_bulk_get_keys <= 0 || l.max_bulk_get_bytes < 0 ||
      l.operations_per_invocation <= 0 || l.min_cache_ttl <= Duration::Zero() ||
      l.default_cache_ttl < l.min_cache_ttl || l.min_expiration_ttl < Duration::Zero() ||
      l.same_key_write_interval < Duration::Zero()) {
    return Status::InvalidArgument("KV limits must be positive, and default cacheTtl >= minimum");
  }
  if (!(options.read_your_writes_miss >= 0.0 && options.read_your_writes_miss <= 1.0) ||
      options.expiry_flap_window < Duration::Zero() ||
      options.tombstone_retention < Duration::Zero()) {
    return Status::InvalidArgument(
        "read_your_writes_miss must be in [0, 1]; windows must not be negative");
  }
  return Status::Ok();
}

bool SameAnswer(const KvRecord& a, const KvRecord& b, Instant judge) {
  const bool a_present = a.PresentAt(judge);
  if (a_present != b.PresentAt(judge)) return false;
  return !a_present || a.version == b.version;
}

bool SameList(const KvListResult& a, const KvListResult& b) {
  if (a.list_complete != b.list_complete || a.cursor != b.cursor ||
      a.keys.size() != b.keys.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.keys.size(); ++i) {
    const auto& x = a.keys[i];
    const auto& y = b.keys[i];
    if (x.name != y.name || x.expiration != y.expiration || x.metadata != y.metadata) return false;
  }
  return true;
}

// Expiration wins over the cache: a cached page no longer shows keys that have expired.
KvListResult WithoutExpired(const KvListResult& cached, Instant now) {
  KvListResult out = cached;
  std::erase_if(out.keys, [now](const platform::KvListKey& key) {
    return key.expiration && now.unix_ms() >= *key.expiration * 1000;
  });
  return out;
}

}  // namespace

Result<std::unique_ptr<KvService>> KvService::Open(Host& host, KvOptions options) {
  CFEMU_RETURN_IF_ERROR(CheckOptions(options));
  std::string id = options.id.empty() ? core::DeriveHexId("kv", options.title) : options.id;
  const bool strict = host.profile() == Profile::kStrict;
  kv::KvStoreOptions store_options;
  store_options.tombstone_retention = options.tombstone_retention;
  if (options.enforce_write_rate.value_or(!strict)) {
    store_options.write_interval = options.limits.same_key_write_interval;
  }
  auto store =
      kv::KvStore::Open(options.file, id, options.title, store_options, host.clock().Now());
  if (!store.ok()) return store.status();
  return std::unique_ptr<KvService>(
      new KvService(host, std::move(options), std::move(id), std::move(*store)));
}

KvService::KvService(Host& host, KvOptions options, std::string id,
                     std::unique_ptr<kv::KvStore> store)
    : host_(host),
      options_(std::move(options)),
      id_(std::move(id)),
      eventually_consistent_(
          options_.eventually_consistent.value_or(host.profile() != Profile::kStrict)),
      cap_operations_(
          options_.cap_operations_per_invocation.value_or(host.profile() != Profile::kStrict)),
      store_(std::move(store)),
      read_site_(host.latency().Register("kv.get")),
      write_site_(host.latency().Register("kv.put")),
      delete_site_(host.latency().Register("kv.delete")),
      list_site_(host.latency().Register("kv.list")) {}

KvService::~KvService() = default;

std::unique_ptr<platform::KvNamespace> KvService::Bind(const ActorScope& scope,
                                                       LocationId location) {
  return std::make_unique<kv::KvBinding>(*this, scope, std::move(location));
}

kv::LocationCache& KvService::CacheAt(const LocationId& location) {
  if (const auto it = caches_.find(location); it != caches_.end()) return it->second;
  // Each location's clock error is fixed for the run and depends only on the seed, the
  // namespace and the location's name, so adding a location never shifts another's.
  core::Random random = host_.random().Fork("kv/" + id_ + "/expiry_skew/" + location);
  const std::int64_t window = options_.expiry_flap_window.ms();
  const Duration skew = core::Milliseconds(window == 0 ? 0 : random.Range(-window, window));
  return caches_.emplace(location, kv::LocationCache(skew)).first->second;
}

Duration KvService::ExpirySkewAt(const LocationId& location) {
  return CacheAt(location).expiry_skew();
}

// ---- Reads ------------------------------------------------------------------------------

KvObservation KvService::Read(const LocationId& location, const std::string& key,
                              Duration cache_ttl, std::string_view actor) {
  const Instant now = Now();
  const KvRecord central = store_->Lookup(key);
  ++stats_.reads;
  KvObservation seen = eventually_consistent_
                           ? ReadThroughCache(location, key, central, now, cache_ttl, actor)
                           : Observe(central, now, now, actor);
  TraceRead(actor, location, key, seen);
  return seen;
}

KvObservation KvService::ReadThroughCache(const LocationId& location, const std::string& key,
                                          const KvRecord& central, Instant now, Duration cache_ttl,
                                          std::string_view actor) {
  kv::LocationCache& cache = CacheAt(location);
  kv::CachedValue* cached = cache.FreshValue(key, now, cache_ttl);
  const Instant judge = ExpiryJudge(cache, now, central, cached);
  if (cached != nullptr) {
    const bool same = SameAnswer(cached->record, central, judge);
    if (same || ServeStaleValue(cached->record, judge, actor)) {
      KvObservation seen = Observe(cached->record, now, judge, actor);
      seen.stale = !same;
      seen.cache_status = "HIT";
      ++stats_.cache_hits;
      return seen;
    }
  }
  cache.StoreValue(key, central, now, cache_ttl);
  KvObservation seen = Observe(central, now, judge, actor);
  seen.cache_status = "MISS";
  return seen;
}

Instant KvService::ExpiryJudge(const kv::LocationCache& cache, Instant now, const KvRecord& central,
                               const kv::CachedValue* cached) {
  FaultInjector& faults = host_.faults();
  if (!faults.Enabled(Fault::kK5ExpiryFlaps) || cache.expiry_skew() == Duration::Zero()) {
    return now;
  }
  const Duration window = options_.expiry_flap_window;
  auto near = [&](const KvRecord& record) {
    if (!record.live() || !record.expiration) return false;
    const Duration to_expiry = Instant::FromUnixMs(*record.expiration * 1000) - now;
    return to_expiry <= window && -to_expiry <= window;
  };
  if (!near(central) && !(cached != nullptr && near(cached->record))) return now;
  if (!faults.Decide(Fault::kK5ExpiryFlaps, "kv.read.expiry")) return now;
  return now + cache.expiry_skew();
}

KvObservation KvService::Observe(const KvRecord& record, Instant now, Instant judge,
                                 std::string_view actor) {
  KvObservation seen;
  seen.record = record;
  seen.present = record.PresentAt(judge);
  if (judge != now && seen.present != record.PresentAt(now)) {
    // The location's clock, not the truth, decided whether the key still exists.
    ++stats_.expiry_flaps;
    COVER("kv.read.expiry_flap");
    host_.faults().Record(Fault::kK5ExpiryFlaps, "kv.read.expiry", actor);
  }
  return seen;
}

bool KvService::ServeStaleValue(const KvRecord& cached, Instant judge, std::string_view actor) {
  const bool negative = !cached.PresentAt(judge);
  const Fault fault = negative ? Fault::kK2StaleNegative : Fault::kK1StaleRead;
  const char* site = negative ? "kv.read.stale_negative" : "kv.read.stale";
  FaultInjector& faults = host_.faults();
  if (!faults.Enabled(fault) || !faults.Decide(fault, site)) return false;
  faults.Record(fault, site, actor);
  ++(negative ? stats_.stale_negative_reads : stats_.stale_reads);
  return true;
}

// ---- Writes -----------------------------------------------------------------------------

Result<KvRecord> KvService::Put(const LocationId* location, std::string_view method,
                                const std::string& key, platform::KvPutValue value,
                                const platform::KvPutOptions& options,
                                std::optional<std::uint64_t> read_version, std::string_view actor) {
  const KvLimits& limits = options_.limits;
  auto expiration = kv::ResolveExpiration(method, options, Now(), limits);
  if (!expiration.ok()) return expiration.status();
  auto metadata = kv::CheckMetadata(method, options.metadata, limits);
  if (!metadata.ok()) return metadata.status();
  CFEMU_RETURN_IF_ERROR(kv::CheckValueSize(method, kv::PutValueBytes(value), limits));
  KvRecord record;
  if (auto* text = std::get_if<std::string>(&value)) {
    record.value = std::make_shared<const std::string>(std::move(*text));
  } else {
    const auto& bytes = std::get<core::Bytes>(value);
    record.value = std::make_shared<const std::string>(bytes.begin(), bytes.end());
  }
  if (*metadata) record.metadata = std::make_shared<const nlohmann::json>(std::move(**metadata));
  record.expiration = *expiration;
  return Apply(location, method, key, std::move(record), read_version, actor);
}

Result<KvRecord> KvService::Delete(const LocationId* location, std::string_view method,
                                   const std::string& key,
                                   std::optional<std::uint64_t> read_version,
                                   std::string_view actor) {
  return Apply(location, method, key, KvRecord(), read_version, actor);
}

Result<KvRecord> KvService::Apply(const LocationId* location, std::string_view method,
                                  const std::string& key, KvRecord record,
                                  std::optional<std::uint64_t> read_version,
                                  std::string_view actor) {
  const Instant now = Now();
  const std::uint64_t before = store_->VersionOf(key);
  auto stored = store_->Write(method, key, std::move(record), now);
  FaultInjector& faults = host_.faults();
  core::TraceSink& trace = host_.trace();
  if (!stored.ok()) {
    if (stored.code() == core::Code::kOverloaded) {
      ++stats_.rate_limited;
      if (faults.Enabled(Fault::kK4WriteRateLimited)) {
        faults.Record(Fault::kK4WriteRateLimited, "kv.write.rate", actor);
      }
      if (trace.enabled()) {
        trace.Emit(actor, core::TraceEvent("kv.rate_limited").Str("ns", id_).Str("key", key));
      }
    }
    return stored;
  }
  ++(stored->live() ? stats_.writes : stats_.deletes);
  if (read_version && *read_version != before) {
    // The writer last read an older version: whatever it derived from that read overwrites
    // a write it never saw (no atomic read-modify-write in KV).
    ++stats_.lost_updates;
    COVER("kv.write.lost_update");
    if (faults.Enabled(Fault::kK3LostUpdate)) {
      faults.Record(Fault::kK3LostUpdate, "kv.write.lost_update", actor);
    }
    if (trace.enabled()) {
      trace.Emit(actor, core::TraceEvent("kv.lost_update")
                            .Str("ns", id_)
                            .Str("key", key)
                            .Int("read_version", static_cast<std::int64_t>(*read_version))
                            .Int("overwritten", static_cast<std::int64_t>(before)));
    }
  }
  if (eventually_consistent_ && location != nullptr) {
    UpdateWriterCache(*location, key, *stored, now, actor);
  }
  TraceWrite(actor, location, key, *stored);
  return stored;
}

void KvService::UpdateWriterCache(const LocationId& location, const std::string& key,
                                  const KvRecord& stored, Instant now, std::string_view actor) {
  kv::LocationCache& cache = CacheAt(location);
  FaultInjector& faults = host_.faults();
  constexpr const char* kSite = "kv.write.own_location";
  // The miss matters only while the location still caches the key; only then is it decided.
  if (cache.HasFreshValue(key, now) && faults.Enabled(Fault::kK1StaleRead) &&
      faults.Decide(Fault::kK1StaleRead, kSite) &&
      (faults.plan().forced_only() ||
       faults.RandomFor(Fault::kK1StaleRead).Chance(options_.read_your_writes_miss))) {
    faults.Record(Fault::kK1StaleRead, kSite, actor);
    ++stats_.read_your_writes_misses;
    return;
  }
  cache.StoreValue(key, stored, now, options_.limits.default_cache_ttl);
  cache.DropListsCovering(key);
}

// ---- Lists ------------------------------------------------------------------------------

Result<KvListResult> KvService::List(const LocationId* location, std::string_view method,
                                     const KvListOptions& options, std::string_view actor) {
  auto limit = kv::ResolveListLimit(method, options.limit, options_.limits);
  if (!limit.ok()) return limit.status();
  CFEMU_RETURN_IF_ERROR(kv::CheckListPrefix(method, options.prefix, options_.limits));
  std::optional<std::string> start_after;
  if (!options.cursor.empty()) {
    start_after = kv::DecodeCursor(options.cursor);
    if (!start_after) {
      return kv::ServiceError(core::Code::kInvalidArgument, method, 400,
                              "Invalid cursor " + options.cursor);
    }
  }
  ++stats_.lists;
  kv::KvScan scan = store_->Scan(options.prefix, start_after, *limit, Now());
  KvListResult fresh;
  fresh.keys = std::move(scan.keys);
  fresh.list_complete = scan.complete;
  if (!scan.complete) fresh.cursor = kv::EncodeCursor(scan.last_scanned);
  if (!eventually_consistent_ || location == nullptr) {
    TraceList(actor, location, options, fresh, false);
    return fresh;
  }
  return ListThroughCache(*location, options, *limit, std::move(fresh), actor);
}

KvListResult KvService::ListThroughCache(const LocationId& location, const KvListOptions& options,
                                         int limit, KvListResult fresh, std::string_view actor) {
  const Instant now = Now();
  kv::LocationCache& cache = CacheAt(location);
  kv::ListRequest request{options.prefix, options.cursor, limit};
  if (kv::CachedList* cached = cache.FreshList(request, now)) {
    KvListResult served = WithoutExpired(cached->result, now);
    const bool same = SameList(served, fresh);
    FaultInjector& faults = host_.faults();
    constexpr const char* kSite = "kv.list.stale";
    if (same ||
        (faults.Enabled(Fault::kK1StaleRead) && faults.Decide(Fault::kK1StaleRead, kSite))) {
      if (!same) {
        faults.Record(Fault::kK1StaleRead, kSite, actor);
        ++stats_.stale_lists;
      }
      served.cache_status = "HIT";
      TraceList(actor, &location, options, served, !same);
      return served;
    }
  }
  fresh.cache_status = "MISS";
  cache.StoreList(std::move(request), fresh, now, options_.limits.default_cache_ttl);
  TraceList(actor, &location, options, fresh, false);
  return fresh;
}

// ---- The admin path ---------------------------------------------------------------------

Result<std::optional<KvDirectEntry>> KvService::GetDirect(const std::string& key) {
  CFEMU_RETURN_IF_ERROR(kv::CheckServiceKey("", key, options_.limits));
  const KvRecord record = store_->Lookup(key);
  if (!record.PresentAt(Now())) return std::optional<KvDirectEntry>();
  KvDirectEntry entry;
  entry.value.assign(record.value->begin(), record.value->end());
  if (record.metadata) entry.metadata = *record.metadata;
  entry.expiration = record.expiration;
  return std::optional<KvDirectEntry>(std::move(entry));
}

Status KvService::PutDirect(const std::string& key, platform::KvPutValue value,
                            const platform::KvPutOptions& options) {
  CFEMU_RETURN_IF_ERROR(kv::CheckServiceKey("", key, options_.limits));
  CFEMU_RETURN_IF_ERROR(kv::CheckPutValue(value));
  auto stored = Put(nullptr, "", key, std::move(value), options, std::nullopt, kAdminActor);
  return stored.ok() ? Status::Ok() : stored.status();
}

Status KvService::DeleteDirect(const std::string& key) {
  CFEMU_RETURN_IF_ERROR(kv::CheckServiceKey("", key, options_.limits));
  auto stored = Delete(nullptr, "", key, std::nullopt, kAdminActor);
  return stored.ok() ? Status::Ok() : stored.status();
}

Result<KvListResult> KvService::ListDirect(const KvListOptions& options) {
  return List(nullptr, "", options, kAdminActor);
}

// ---- Trace ------------------------------------------------------------------------------

void KvService::TraceRead(std::string_view actor, const LocationId& location,
                          const std::string& key, const KvObservation& seen) {
  core::TraceSink& trace = host_.trace();
  if (!trace.enabled()) return;
  trace.Emit(actor, core::TraceEvent("kv.read")
                        .Str("ns", id_)
                        .Str("key", key)
                        .Str("location", location)
                        .Bool("found", seen.present)
                        .Bool("stale", seen.stale)
                        .Str("cache", seen.cache_status ? *seen.cache_status : "none")
                        .Int("version", static_cast<std::int64_t>(seen.record.version)));
}

void KvService::TraceWrite(std::string_view actor, const LocationId* location,
                           const std::string& key, const KvRecord& stored) {
  core::TraceSink& trace = host_.trace();
  if (!trace.enabled()) return;
  core::TraceEvent event(stored.live() ? "kv.write" : "kv.delete");
  event.Str("ns", id_).Str("key", key).Int("version", static_cast<std::int64_t>(stored.version));
  if (location != nullptr) event.Str("location", *location);
  if (stored.live()) event.Int("bytes", static_cast<std::int64_t>(stored.value->size()));
  if (stored.expiration) event.Int("expiration", *stored.expiration);
  trace.Emit(actor, event);
}

void KvService::TraceList(std::string_view actor, const LocationId* location,
                          const KvListOptions& options, const KvListResult& result, bool stale) {
  core::TraceSink& trace = host_.trace();
  if (!trace.enabled()) return;
  core::TraceEvent event("kv.list");
  event.Str("ns", id_)
      .Str("prefix", options.prefix)
      .Int("keys", static_cast<std::int64_t>(result.keys.size()))
      .Bool("complete", result.list_complete)
      .Bool("stale", stale);
  if (location != nullptr) event.Str("location", *location);
  trace.Emit(actor, event);
}

}  // namespace cfemu::emulator
