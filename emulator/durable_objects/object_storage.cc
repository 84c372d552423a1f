#include "emulator/durable_objects/object_storage.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::D1Param;
using platform::Json;
using platform::StorageEntries;

namespace {

Result<Json> ParseValue(const platform::D1Value& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return Status::Unavailable("corrupt stored value");
  Json parsed = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::Unavailable("corrupt stored value");
  return parsed;
}

std::string Serialize(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

ObjectStorage::ObjectStorage(std::unique_ptr<sqlite::Connection> connection,
                             ObjectStorageLimits limits, platform::DurableObjectBackend backend)
    : connection_(std::move(connection)), limits_(limits), backend_(backend) {}

Result<std::unique_ptr<ObjectStorage>> ObjectStorage::Open(
    const std::optional<std::filesystem::path>& file, ObjectStorageLimits limits,
    platform::DurableObjectBackend backend) {
  sqlite::Limits sql_limits;
  sql_limits.max_database_bytes = limits.max_storage_bytes;
  sqlite::Policy policy;
  policy.allowed_pragmas = sqlite::DefaultAllowedPragmas();
  auto connection = sqlite::Connection::Open(file, sql_limits, policy);
  if (!connection.ok()) return connection.status();
  std::unique_ptr<ObjectStorage> storage(
      new ObjectStorage(std::move(*connection), limits, backend));
  CFEMU_RETURN_IF_ERROR(storage->connection_->ExecInternal(
      "CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value TEXT NOT NULL) "
      "WITHOUT ROWID"));
  CFEMU_RETURN_IF_ERROR(storage->connection_->ExecInternal(
      "CREATE TABLE IF NOT EXISTS _cf_ALARM (id INTEGER PRIMARY KEY CHECK (id = 1), "
      "at INTEGER NOT NULL)"));
  return storage;
}

Status ObjectStorage::CheckPair(std::string_view key, std::size_t value_bytes) const {
  if (key.empty()) return Status::InvalidArgument("Keys cannot be empty.");
  if (backend_ == platform::DurableObjectBackend::kKv) {
    if (static_cast<std::int64_t>(key.size()) > limits_.kv_max_key_bytes) {
      return Status::TooLarge("Keys cannot be larger than " +
                              std::to_string(limits_.kv_max_key_bytes) + " bytes.");
    }
    if (static_cast<std::int64_t>(value_bytes) > limits_.kv_max_value_bytes) {
      return Status::TooLarge("Values cannot be larger than " +
                              std::to_string(limits_.kv_max_value_bytes) + " bytes.");
    }
  } else if (static_cast<std::int64_t>(key.size() + value_bytes) >
             limits_.sqlite_max_key_value_bytes) {
    return Status::TooLarge("The key and value together cannot be larger than " +
                            std::to_string(limits_.sqlite_max_key_value_bytes) + " bytes.");
  }
  return Status::Ok();
}

Status ObjectStorage::CheckKeyCount(std::size_t count) const {
  if (static_cast<std::int64_t>(count) > limits_.max_keys_per_call) {
    return Status::InvalidArgument("A single call can operate on at most " +
                                   std::to_string(limits_.max_keys_per_call) + " keys.");
  }
  return Status::Ok();
}

Result<std::optional<Json>> ObjectStorage::Get(std::string_view key) {
  auto out = connection_->QueryInternal("SELECT value FROM _cf_KV WHERE key = ?",
                                        {D1Param(std::string(key))});
  if (!out.ok()) return out.status();
  if (out->rows.empty()) return std::optional<Json>();
  auto value = ParseValue(out->rows[0][0]);
  if (!value.ok()) return value.status();
  return std::optional<Json>(std::move(*value));
}

Result<StorageEntries> ObjectStorage::GetMany(const std::vector<std::string>& keys) {
  CFEMU_RETURN_IF_ERROR(CheckKeyCount(keys.size()));
  std::map<std::string, Json> found;  // Sorted by UTF-8 bytes, duplicates folded.
  for (const auto& key : keys) {
    auto value = Get(key);
    if (!value.ok()) return value.status();
    if (*value) found.emplace(key, std::move(**value));
  }
  return StorageEntries(found.begin(), found.end());
}

Status ObjectStorage::Put(std::string_view key, const Json& value) {
  const std::string text = Serialize(value);
  CFEMU_RETURN_IF_ERROR(CheckPair(key, text.size()));
  auto out = connection_->QueryInternal(
      "INSERT INTO _cf_KV (key, value) VALUES (?, ?) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      {D1Param(std::string(key)), D1Param(text)});
  return out.ok() ? Status::Ok() : out.status();
}

Status ObjectStorage::PutMany(const StorageEntries& entries) {
  CFEMU_RETURN_IF_ERROR(CheckKeyCount(entries.size()));
  for (const auto& [key, value] : entries) {
    CFEMU_RETURN_IF_ERROR(CheckPair(key, Serialize(value).size()));
  }
  for (const auto& [key, value] : entries) CFEMU_RETURN_IF_ERROR(Put(key, value));
  return Status::Ok();
}

Result<bool> ObjectStorage::Delete(std::string_view key) {
  auto out =
      connection_->QueryInternal("DELETE FROM _cf_KV WHERE key = ?", {D1Param(std::string(key))});
  if (!out.ok()) return out.status();
  return out->changes > 0;
}

Result<std::int64_t> ObjectStorage::DeleteMany(const std::vector<std::string>& keys) {
  CFEMU_RETURN_IF_ERROR(CheckKeyCount(keys.size()));
  std::int64_t deleted = 0;
  for (const auto& key : keys) {
    auto existed = Delete(key);
    if (!existed.ok()) return existed.status();
    deleted += *existed ? 1 : 0;
  }
  return deleted;
}

Result<StorageEntries> ObjectStorage::List(const platform::StorageListOptions& options) {
  if (options.start && options.start_after) {
    return Status::InvalidArgument("list() cannot be called with both start and startAfter");
  }
  if (options.limit && *options.limit <= 0) {
    return Status::InvalidArgument("list() limit must be a positive number");
  }
  std::string sql = "SELECT key, value FROM _cf_KV WHERE 1";
  std::vector<D1Param> params;
  if (options.start) {
    sql += " AND key >= ?";
    params.emplace_back(*options.start);
  }
  if (options.start_after) {
    sql += " AND key > ?";
    params.emplace_back(*options.start_after);
  }
  if (options.end) {
    sql += " AND key < ?";
    params.emplace_back(*options.end);
  }
  if (options.prefix) {
    sql += " AND key >= ?";
    params.emplace_back(*options.prefix);
  }
  sql += options.reverse ? " ORDER BY key DESC" : " ORDER BY key ASC";
  auto out = connection_->QueryInternal(sql, params);
  if (!out.ok()) return out.status();
  StorageEntries entries;
  for (auto& row : out->rows) {
    const auto& key = std::get<std::string>(row[0]);
    if (options.prefix && key.compare(0, options.prefix->size(), *options.prefix) != 0) {
      if (!options.reverse) break;  // Ascending: past the prefix, nothing more matches.
      continue;
    }
    auto value = ParseValue(row[1]);
    if (!value.ok()) return value.status();
    entries.emplace_back(key, std::move(*value));
    if (options.limit && static_cast<int>(entries.size()) >= *options.limit) break;
  }
  return entries;
}

Status ObjectStorage::DeleteAll(bool include_alarm, const std::function<Status()>& before_commit) {
  auto tables = connection_->QueryInternal(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' "
      "ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      {});
  if (!tables.ok()) return tables.status();
  // One savepoint holds the whole deletion, so it is all-or-nothing inside an open transaction
  // too. Foreign keys are checked when it ends, once every table is gone: dropping a parent
  // table before its children must not fail.
  CFEMU_RETURN_IF_ERROR(connection_->ExecInternal("SAVEPOINT _cf_delete_all"));
  Status status = connection_->ExecInternal("PRAGMA defer_foreign_keys = ON");
  if (status.ok()) status = connection_->ExecInternal("DELETE FROM _cf_KV");
  for (const auto& row : tables->rows) {
    if (!status.ok()) break;
    const auto& name = std::get<std::string>(row[0]);
    std::string quoted = "\"";
    for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    status = connection_->ExecInternal("DROP TABLE IF EXISTS " + quoted + "\"");
  }
  if (status.ok() && include_alarm) status = connection_->ExecInternal("DELETE FROM _cf_ALARM");
  if (status.ok() && before_commit) status = before_commit();
  if (status.ok()) status = connection_->ExecInternal("RELEASE _cf_delete_all");
  if (!status.ok()) {
    (void)connection_->ExecInternal("ROLLBACK TO _cf_delete_all");
    (void)connection_->ExecInternal("RELEASE _cf_delete_all");
  }
  (void)connection_->ExecInternal("PRAGMA defer_foreign_keys = OFF");
  return status;
}

Result<platform::SqlCursor> ObjectStorage::Exec(std::string_view query,
                                                const std::vector<D1Param>& bindings) {
  if (backend_ != platform::DurableObjectBackend::kSqlite) {
    return Status::FailedPrecondition(
        "SQL is only available on SQLite-backed Durable Object classes");
  }
  CFEMU_RETURN_IF_ERROR(BeginImplicit());
  auto out = connection_->RunScript(query, bindings);
  if (!out.ok()) return out.status();
  return platform::SqlCursor(std::move(out->columns), std::move(out->rows), out->rows_read,
                             out->rows_written);
}

Status ObjectStorage::BeginImplicit() {
  if (implicit_ || explicit_) return Status::Ok();
  CFEMU_RETURN_IF_ERROR(connection_->ExecInternal("BEGIN"));
  implicit_ = true;
  return Status::Ok();
}

Status ObjectStorage::CommitImplicit() {
  if (!implicit_) return Status::Ok();
  implicit_ = false;
  return connection_->ExecInternal("COMMIT");
}

void ObjectStorage::RollbackImplicit() {
  if (!implicit_) return;
  implicit_ = false;
  (void)connection_->ExecInternal("ROLLBACK");
}

Status ObjectStorage::Begin() {
  CFEMU_RETURN_IF_ERROR(CommitImplicit());
  if (explicit_) {
    return Status::FailedPrecondition(
        "a storage transaction is already open on this object; nest work inside it");
  }
  CFEMU_RETURN_IF_ERROR(connection_->ExecInternal("BEGIN"));
  explicit_ = true;
  return Status::Ok();
}

Status ObjectStorage::Commit() {
  if (!explicit_) return Status::FailedPrecondition("no storage transaction is open");
  explicit_ = false;
  return connection_->ExecInternal("COMMIT");
}

void ObjectStorage::Rollback() {
  if (!explicit_) return;
  explicit_ = false;
  (void)connection_->ExecInternal("ROLLBACK");
}

Result<std::optional<core::Instant>> ObjectStorage::GetAlarm() {
  auto out = connection_->QueryInternal("SELECT at FROM _cf_ALARM WHERE id = 1", {});
  if (!out.ok()) return out.status();
  if (out->rows.empty()) return std::optional<core::Instant>();
  return std::optional<core::Instant>(
      core::Instant::FromUnixMs(std::get<std::int64_t>(out->rows[0][0])));
}

Status ObjectStorage::SetAlarm(std::optional<core::Instant> at) {
  auto out = at ? connection_->QueryInternal(
                      "INSERT INTO _cf_ALARM (id, at) VALUES (1, ?) "
                      "ON CONFLICT(id) DO UPDATE SET at = excluded.at",
                      {D1Param(at->unix_ms())})
                : connection_->QueryInternal("DELETE FROM _cf_ALARM", {});
  return out.ok() ? Status::Ok() : out.status();
}

}  // namespace cfemu::emulator
