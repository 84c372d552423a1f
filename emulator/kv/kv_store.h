// The central store of one KV namespace: the truth every location's cache is filled from. Each
// key holds its latest record; writes apply in arrival order (last write wins, no atomic
// read-modify-write), and the per-key write rate is enforced here because it is a property of
// the key, not of who writes it.
//
// Deletes leave tombstones, and expired keys linger, for `tombstone_retention` before they are
// purged. Until then a list scan counts them against its page, as production does, so a page may
// hold fewer keys than its limit (even none) while the listing is not complete. Purging is lazy
// but bounded: a queue ordered by purge time is drained at every write and list.
//
// Invariants: keys iterate in UTF-8 byte order (std::string compares as unsigned bytes);
// versions strictly increase with every applied write; with a file, every live record is in the
// file before a write returns OK, and a failed file write changes nothing in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/kv/kv_file.h"
#include "emulator/kv/kv_record.h"
#include "src/core/status.h"
#include "src/platform/kv.h"

namespace cfemu::emulator::kv {

struct KvStoreOptions {
  core::Duration tombstone_retention = core::Seconds(60);
  std::optional<core::Duration> write_interval;  // Set: at most one write per key per interval.
};

// One page of a scan: the keys to show, whether the range is exhausted, and the last key the
// page scanned (tombstones included), from which the next page continues.
struct KvScan {
  std::vector<platform::KvListKey> keys;
  bool complete = true;
  std::string last_scanned;
  int scanned = 0;
};

class KvStore {
 public:
  // With a file: loads it, dropping keys expired longer than the tombstone retention.
  static core::Result<std::unique_ptr<KvStore>> Open(
      const std::optional<std::filesystem::path>& file, const std::string& id,
      const std::string& title, KvStoreOptions options, core::Instant now);

  // The key's current record: live, expired (still holding its value) or a tombstone; a record
  // with version 0 when the key was never written (or is purged).
  KvRecord Lookup(const std::string& key) const;
  // Lookup(key).version without copying the record.
  std::uint64_t VersionOf(const std::string& key) const;

  // Applies a put (record.value set) or a delete (record.value null) at `now`; fills in
  // `written` and `version` and returns the stored record. kOverloaded with production's 429
  // text when the key was written less than write_interval ago (nothing changes then);
  // kUnavailable when the file write fails.
  core::Result<KvRecord> Write(std::string_view method, const std::string& key, KvRecord record,
                               core::Instant now);

  // Scans keys starting with `prefix`, after `start_after` when set, counting up to `limit`
  // records (tombstones and expired keys included) and returning the present ones.
  KvScan Scan(std::string_view prefix, const std::optional<std::string>& start_after, int limit,
              core::Instant now);

  std::uint64_t version() const { return version_; }
  std::size_t size() const { return entries_.size(); }

 private:
  KvStore(KvStoreOptions options, std::unique_ptr<KvFile> file)
      : options_(options), file_(std::move(file)) {}
  // When a record stops mattering: a tombstone after the retention (and at least the write
  // interval, so the rate limit still sees it); an expired key after expiration + retention.
  std::optional<core::Instant> PurgeTime(const KvRecord& record) const;
  void SchedulePurge(const std::string& key, const KvRecord& record);
  void PurgeDue(core::Instant now);

  KvStoreOptions options_;
  std::unique_ptr<KvFile> file_;
  std::map<std::string, KvRecord, std::less<>> entries_;
  std::multimap<core::Instant, std::string> purges_;  // Candidates, re-checked when due.
  std::uint64_t version_ = 0;
};

}  // namespace cfemu::emulator::kv
