#include "emulator/kv/kv_cache.h"

#include <algorithm>
#include <utility>

namespace cfemu::emulator::kv {

using core::Duration;
using core::Instant;

namespace {

// Sweeping costs a pass over the cache; doing it once per this many stores keeps it amortized.
constexpr std::int64_t kStoresPerSweep = 1024;

template <class Entry>
bool Fresh(const Entry& entry, Instant now) {
  return now - entry.cached_at < entry.ttl;
}

}  // namespace

CachedValue* LocationCache::FreshValue(const std::string& key, Instant now, Duration reader_ttl) {
  const auto it = values_.find(key);
  if (it == values_.end()) return nullptr;
  it->second.ttl = std::min(it->second.ttl, reader_ttl);
  return Fresh(it->second, now) ? &it->second : nullptr;
}

bool LocationCache::HasFreshValue(const std::string& key, Instant now) const {
  const auto it = values_.find(key);
  return it != values_.end() && Fresh(it->second, now);
}

void LocationCache::StoreValue(const std::string& key, KvRecord record, Instant now, Duration ttl) {
  MaybeSweep(now);
  CachedValue& entry = values_[key];
  entry.record = std::move(record);
  entry.cached_at = now;
  entry.ttl = ttl;
}

CachedList* LocationCache::FreshList(const ListRequest& request, Instant now) {
  const auto it = lists_.find(request);
  return it != lists_.end() && Fresh(it->second, now) ? &it->second : nullptr;
}

void LocationCache::StoreList(ListRequest request, platform::KvListResult result, Instant now,
                              Duration ttl) {
  MaybeSweep(now);
  CachedList& entry = lists_[std::move(request)];
  entry.result = std::move(result);
  entry.cached_at = now;
  entry.ttl = ttl;
}

void LocationCache::DropListsCovering(std::string_view key) {
  std::erase_if(lists_, [key](const auto& item) { return key.starts_with(item.first.prefix); });
}

void LocationCache::MaybeSweep(Instant now) {
  if (++stores_since_sweep_ < kStoresPerSweep) return;
  stores_since_sweep_ = 0;
  std::erase_if(values_, [now](const auto& item) { return !Fresh(item.second, now); });
  std::erase_if(lists_, [now](const auto& item) { return !Fresh(item.second, now); });
}

}  // namespace cfemu::emulator::kv
