// The durable storage of one Durable Object: one SQLite database holding the KV API's pairs
// (table _cf_KV), the class's own SQL tables, and the alarm (table _cf_ALARM), so that storage
// and alarms survive eviction, reset and (with a file) a restart. It outlives every in-memory
// instance of its object.
//
// Writes made through the synchronous APIs (sql().Exec, kv().Put) join an implicit transaction
// that commits at the object's next await or at the end of the event: writes made without an
// intervening await are committed atomically together (checklist 57).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/sqlite/connection.h"
#include "src/core/time.h"
#include "src/platform/durable_object.h"

namespace cfemu::emulator {

struct ObjectStorageLimits {
  std::int64_t max_keys_per_call = core::limits::kDoMaxKeysPerCall;
  std::int64_t sqlite_max_key_value_bytes = core::limits::kDoSqliteMaxKeyValueBytes;
  std::int64_t kv_max_key_bytes = core::limits::kDoKvMaxKeyBytes;
  std::int64_t kv_max_value_bytes = core::limits::kDoKvMaxValueBytes;
  std::int64_t max_storage_bytes = core::limits::kDoMaxStorageBytes;
};

class ObjectStorage {
 public:
  static core::Result<std::unique_ptr<ObjectStorage>> Open(
      const std::optional<std::filesystem::path>& file, ObjectStorageLimits limits,
      platform::DurableObjectBackend backend);

  platform::DurableObjectBackend backend() const { return backend_; }

  // ---- KV API (both backends) ----------------------------------------------------------
  core::Result<std::optional<platform::Json>> Get(std::string_view key);
  core::Result<platform::StorageEntries> GetMany(const std::vector<std::string>& keys);
  core::Status Put(std::string_view key, const platform::Json& value);
  core::Status PutMany(const platform::StorageEntries& entries);
  core::Result<bool> Delete(std::string_view key);
  core::Result<std::int64_t> DeleteMany(const std::vector<std::string>& keys);
  core::Result<platform::StorageEntries> List(const platform::StorageListOptions& options);
  // Every pair and every SQL table; the alarm too when `include_alarm`. All or nothing:
  // `before_commit` (if set) runs last, and a non-OK status from it undoes everything.
  core::Status DeleteAll(bool include_alarm,
                         const std::function<core::Status()>& before_commit = {});

  // ---- SQL API (SQLite backend) -----------------------------------------------------------
  core::Result<platform::SqlCursor> Exec(std::string_view query,
                                         const std::vector<platform::D1Param>& bindings);
  std::int64_t size_bytes() { return connection_->size_bytes(); }

  // ---- Transactions -----------------------------------------------------------------------
  // Opens the implicit transaction of synchronous writes, if none is open.
  core::Status BeginImplicit();
  // Commits the implicit transaction, if one is open.
  core::Status CommitImplicit();
  void RollbackImplicit();
  bool implicit_open() const { return implicit_; }
  // An explicit transaction (transaction(), transactionSync()); commits pending implicit
  // writes first. kFailedPrecondition when one is already open.
  core::Status Begin();
  core::Status Commit();
  void Rollback();

  // ---- Alarm ------------------------------------------------------------------------------
  core::Result<std::optional<core::Instant>> GetAlarm();
  core::Status SetAlarm(std::optional<core::Instant> at);

 private:
  ObjectStorage(std::unique_ptr<sqlite::Connection> connection, ObjectStorageLimits limits,
                platform::DurableObjectBackend backend);
  core::Status CheckPair(std::string_view key, std::size_t value_bytes) const;
  core::Status CheckKeyCount(std::size_t count) const;

  std::unique_ptr<sqlite::Connection> connection_;
  ObjectStorageLimits limits_;
  platform::DurableObjectBackend backend_;
  bool implicit_ = false;
  bool explicit_ = false;
};

}  // namespace cfemu::emulator
