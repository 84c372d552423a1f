#include "emulator/kv/kv_store.h"

#include <algorithm>

#include "emulator/kv/kv_validation.h"
#include "src/core/cover.h"

namespace cfemu::emulator::kv {

using core::Instant;
using core::Result;
using core::Status;

Result<std::unique_ptr<KvStore>> KvStore::Open(const std::optional<std::filesystem::path>& file,
                                               const std::string& id, const std::string& title,
                                               KvStoreOptions options, Instant now) {
  std::unique_ptr<KvFile> opened;
  if (file) {
    auto result = KvFile::Open(*file, id, title);
    if (!result.ok()) return result.status();
    opened = std::move(*result);
  }
  std::unique_ptr<KvStore> store(new KvStore(options, std::move(opened)));
  if (!store->file_) return store;
  std::vector<std::string> gone;
  CFEMU_RETURN_IF_ERROR(store->file_->Load([&](std::string key, KvRecord record) {
    store->version_ = std::max(store->version_, record.version);
    const auto purge = store->PurgeTime(record);
    if (purge && *purge <= now) {
      gone.push_back(std::move(key));
      return;
    }
    store->SchedulePurge(key, record);
    store->entries_.emplace(std::move(key), std::move(record));
  }));
  for (const auto& key : gone) CFEMU_RETURN_IF_ERROR(store->file_->Erase(key));
  return store;
}

KvRecord KvStore::Lookup(const std::string& key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? KvRecord() : it->second;
}

std::uint64_t KvStore::VersionOf(const std::string& key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.version;
}

Result<KvRecord> KvStore::Write(std::string_view method, const std::string& key, KvRecord record,
                                Instant now) {
  PurgeDue(now);
  const auto it = entries_.find(key);
  if (options_.write_interval && it != entries_.end() &&
      now - it->second.written < *options_.write_interval) {
    COVER("kv.write.rate_limited");
    return ServiceError(core::Code::kOverloaded, method, 429, "Too Many Requests");
  }
  if (!record.live() && it == entries_.end()) {
    // Deleting a key that never existed (or was purged) changes nothing and leaves no tombstone.
    COVER("kv.delete.missing");
    record.written = now;
    record.version = 0;
    return record;
  }
  record.written = now;
  record.version = version_ + 1;
  if (file_) {
    CFEMU_RETURN_IF_ERROR(record.live() ? file_->Upsert(key, record) : file_->Erase(key));
  }
  version_ = record.version;
  SchedulePurge(key, record);
  if (it == entries_.end()) {
    entries_.emplace(key, record);
  } else {
    it->second = record;
  }
  return record;
}

KvScan KvStore::Scan(std::string_view prefix, const std::optional<std::string>& start_after,
                     int limit, Instant now) {
  PurgeDue(now);
  auto it = entries_.lower_bound(prefix);
  if (start_after && *start_after >= prefix) it = entries_.upper_bound(*start_after);
  KvScan scan;
  for (; it != entries_.end() && it->first.starts_with(prefix); ++it) {
    if (scan.scanned == limit) {
      scan.complete = false;
      return scan;
    }
    ++scan.scanned;
    scan.last_scanned = it->first;
    const KvRecord& record = it->second;
    if (!record.PresentAt(now)) {
      COVER("kv.list.tombstone_counted");
      continue;
    }
    platform::KvListKey key;
    key.name = it->first;
    key.expiration = record.expiration;
    if (record.metadata) key.metadata = *record.metadata;
    scan.keys.push_back(std::move(key));
  }
  return scan;
}

std::optional<Instant> KvStore::PurgeTime(const KvRecord& record) const {
  if (!record.live()) {
    return record.written + std::max(options_.tombstone_retention,
                                     options_.write_interval.value_or(core::Duration::Zero()));
  }
  if (record.expiration) {
    return Instant::FromUnixMs(*record.expiration * 1000) + options_.tombstone_retention;
  }
  return std::nullopt;
}

void KvStore::SchedulePurge(const std::string& key, const KvRecord& record) {
  if (const auto at = PurgeTime(record)) purges_.emplace(*at, key);
}

void KvStore::PurgeDue(Instant now) {
  while (!purges_.empty() && purges_.begin()->first <= now) {
    const std::string key = std::move(purges_.begin()->second);
    purges_.erase(purges_.begin());
    const auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    const auto at = PurgeTime(it->second);
    if (!at || *at > now) continue;  // Rewritten since: a later candidate covers it.
    // A failed erase leaves the row; the key is still purged from memory, and the next open
    // drops it again because it is expired.
    if (file_ && it->second.live()) (void)file_->Erase(key);
    entries_.erase(it);
  }
}

}  // namespace cfemu::emulator::kv
