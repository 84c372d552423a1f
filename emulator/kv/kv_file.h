// The SQLite file of one persisted KV namespace (`--persist DIR` -> kv/<namespace_id>.sqlite,
// WAL mode). It holds the central store only: every live or expiring key with its value,
// metadata, expiration, write time and version. Location caches and delete tombstones are
// not persisted (a re-opened namespace starts with cold caches, as after a long pause).
//
// Invariant: a file belongs to exactly one namespace id; opening it under another id fails.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "emulator/kv/kv_record.h"
#include "src/core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cfemu::emulator::kv {

class KvFile {
 public:
  // Creates the file (and its folder) if missing. kFailedPrecondition when the file belongs to
  // another namespace id; kUnavailable when SQLite cannot open or set it up.
  static core::Result<std::unique_ptr<KvFile>> Open(const std::filesystem::path& path,
                                                    const std::string& id,
                                                    const std::string& title);
  ~KvFile();
  KvFile(const KvFile&) = delete;
  KvFile& operator=(const KvFile&) = delete;

  // Calls `visit` for every stored key in key order.
  core::Status Load(const std::function<void(std::string key, KvRecord record)>& visit);
  // REQUIRES: record.live().
  core::Status Upsert(const std::string& key, const KvRecord& record);
  core::Status Erase(const std::string& key);

 private:
  explicit KvFile(sqlite3* db) : db_(db) {}
  core::Status Exec(const char* sql);
  core::Status Error(const char* context);
  core::Status CheckOwner(const std::string& id, const std::string& title);

  sqlite3* db_;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
};

}  // namespace cfemu::emulator::kv
