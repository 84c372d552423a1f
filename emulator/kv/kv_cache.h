// The read cache of one location (a point of presence): what readers there last fetched from
// the central store, positive and negative, and the list pages they fetched. An entry is fresh
// while its age is below its TTL; the TTL is the cacheTtl of the read that filled it, and a
// later read with a smaller cacheTtl shortens it for everyone (cloudflare-platform.md §3.3).
// Whether a fresh but outdated entry is served (a stale read) is the service's decision.
//
// Invariants: entries are never served past their TTL; dead entries are swept in batches, so
// memory stays proportional to what was read within the longest TTL in use.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

#include "emulator/kv/kv_record.h"
#include "src/core/time.h"
#include "src/platform/kv.h"

namespace cfemu::emulator::kv {

struct CachedValue {
  KvRecord record;
  core::Instant cached_at;
  core::Duration ttl;
};

struct CachedList {
  platform::KvListResult result;
  core::Instant cached_at;
  core::Duration ttl;
};

// A list page is cached by what asked for it.
struct ListRequest {
  std::string prefix;
  std::string cursor;
  int limit = 0;
  friend auto operator<=>(const ListRequest&, const ListRequest&) = default;
};

class LocationCache {
 public:
  // `expiry_skew`: how far this location's clock is off when it judges expirations (fault K5).
  explicit LocationCache(core::Duration expiry_skew) : expiry_skew_(expiry_skew) {}

  core::Duration expiry_skew() const { return expiry_skew_; }

  // The entry for `key` if it is fresh for a reader with `reader_ttl`, after shortening the
  // entry's TTL to `reader_ttl`; null when absent or expired from the cache.
  CachedValue* FreshValue(const std::string& key, core::Instant now, core::Duration reader_ttl);
  // True when a reader with an unbounded cacheTtl would find `key` in the cache now.
  bool HasFreshValue(const std::string& key, core::Instant now) const;
  void StoreValue(const std::string& key, KvRecord record, core::Instant now, core::Duration ttl);

  CachedList* FreshList(const ListRequest& request, core::Instant now);
  void StoreList(ListRequest request, platform::KvListResult result, core::Instant now,
                 core::Duration ttl);
  // Drops cached pages that could contain `key` (the writer's own location sees its writes).
  void DropListsCovering(std::string_view key);

  std::size_t size() const { return values_.size() + lists_.size(); }

 private:
  void MaybeSweep(core::Instant now);

  core::Duration expiry_skew_;
  std::map<std::string, CachedValue, std::less<>> values_;
  std::map<ListRequest, CachedList> lists_;
  std::int64_t stores_since_sweep_ = 0;
};

}  // namespace cfemu::emulator::kv
