#include "emulator/kv/kv_file.h"

#include <sqlite3.h>

#include <system_error>
#include <utility>

namespace cfemu::emulator::kv {

using core::Result;
using core::Status;

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS _kv_namespace(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _kv_entries("
    "  key BLOB PRIMARY KEY,"
    "  value BLOB NOT NULL,"
    "  metadata TEXT,"
    "  expiration INTEGER,"
    "  written_ms INTEGER NOT NULL,"
    "  version INTEGER NOT NULL) WITHOUT ROWID;";

// Binds text or blob bytes; SQLite copies them, so `bytes` may die after the call.
int BindBytes(sqlite3_stmt* statement, int index, const std::string& bytes) {
  return sqlite3_bind_blob64(statement, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

std::string ColumnBytes(sqlite3_stmt* statement, int column) {
  const void* data = sqlite3_column_blob(statement, column);
  const int size = sqlite3_column_bytes(statement, column);
  return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
}

}  // namespace

Result<std::unique_ptr<KvFile>> KvFile::Open(const std::filesystem::path& path,
                                             const std::string& id, const std::string& title) {
  std::error_code error;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), error);
  if (error) {
    return Status::Unavailable("cannot create the folder of " + path.string() + ": " +
                               error.message());
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Unavailable("cannot open KV file " + path.string() + ": " + message);
  }
  std::unique_ptr<KvFile> file(new KvFile(db));
  CFEMU_RETURN_IF_ERROR(file->Exec("PRAGMA journal_mode=WAL;"));
  CFEMU_RETURN_IF_ERROR(file->Exec("PRAGMA synchronous=NORMAL;"));
  CFEMU_RETURN_IF_ERROR(file->Exec(kSchema));
  CFEMU_RETURN_IF_ERROR(file->CheckOwner(id, title));
  const char* upsert =
      "INSERT INTO _kv_entries(key, value, metadata, expiration, written_ms, version) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
      "metadata = excluded.metadata, expiration = excluded.expiration, "
      "written_ms = excluded.written_ms, version = excluded.version;";
  if (sqlite3_prepare_v2(db, upsert, -1, &file->upsert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "DELETE FROM _kv_entries WHERE key = ?1;", -1, &file->erase_,
                         nullptr) != SQLITE_OK) {
    return file->Error("prepare");
  }
  return file;
}

KvFile::~KvFile() {
  sqlite3_finalize(upsert_);
  sqlite3_finalize(erase_);
  sqlite3_close(db_);
}

Status KvFile::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return Status::Unavailable("KV file: " + text);
  }
  return Status::Ok();
}

Status KvFile::Error(const char* context) {
  return Status::Unavailable(std::string("KV file ") + context + ": " + sqlite3_errmsg(db_));
}

Status KvFile::CheckOwner(const std::string& id, const std::string& title) {
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM _kv_namespace WHERE name = 'id';", -1, &select,
                         nullptr) != SQLITE_OK) {
    return Error("read owner");
  }
  std::string owner;
  const int rc = sqlite3_step(select);
  if (rc == SQLITE_ROW) owner = ColumnBytes(select, 0);
  sqlite3_finalize(select);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("read owner");
  if (!owner.empty() && owner != id) {
    return Status::FailedPrecondition("the KV file belongs to namespace " + owner + ", not " + id);
  }
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO _kv_namespace(name, value) "
                         "VALUES('id', ?1), ('title', ?2);",
                         -1, &insert, nullptr) != SQLITE_OK) {
    return Error("write owner");
  }
  sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert, 2, title.c_str(), -1, SQLITE_TRANSIENT);
  const int done = sqlite3_step(insert);
  sqlite3_finalize(insert);
  return done == SQLITE_DONE ? Status::Ok() : Error("write owner");
}

Status KvFile::Load(const std::function<void(std::string key, KvRecord record)>& visit) {
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT key, value, metadata, expiration, written_ms, version "
                         "FROM _kv_entries ORDER BY key;",
                         -1, &select, nullptr) != SQLITE_OK) {
    return Error("load");
  }
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
    KvRecord record;
    record.value = std::make_shared<const std::string>(ColumnBytes(select, 1));
    if (sqlite3_column_type(select, 2) != SQLITE_NULL) {
      nlohmann::json metadata = nlohmann::json::parse(ColumnBytes(select, 2), nullptr, false);
      if (!metadata.is_discarded()) {
        record.metadata = std::make_shared<const nlohmann::json>(std::move(metadata));
      }
    }
    if (sqlite3_column_type(select, 3) != SQLITE_NULL) {
      record.expiration = sqlite3_column_int64(select, 3);
    }
    record.written = core::Instant::FromUnixMs(sqlite3_column_int64(select, 4));
    record.version = static_cast<std::uint64_t>(sqlite3_column_int64(select, 5));
    visit(ColumnBytes(select, 0), std::move(record));
  }
  sqlite3_finalize(select);
  return rc == SQLITE_DONE ? Status::Ok() : Error("load");
}

Status KvFile::Upsert(const std::string& key, const KvRecord& record) {
  CHECK(record.live());
  sqlite3_reset(upsert_);
  sqlite3_clear_bindings(upsert_);
  BindBytes(upsert_, 1, key);
  BindBytes(upsert_, 2, *record.value);
  if (record.metadata) {
    const std::string metadata = record.metadata->dump();
    sqlite3_bind_text64(upsert_, 3, metadata.data(), metadata.size(), SQLITE_TRANSIENT,
                        SQLITE_UTF8);
  }
  if (record.expiration) sqlite3_bind_int64(upsert_, 4, *record.expiration);
  sqlite3_bind_int64(upsert_, 5, record.written.unix_ms());
  sqlite3_bind_int64(upsert_, 6, static_cast<sqlite3_int64>(record.version));
  const int rc = sqlite3_step(upsert_);
  sqlite3_reset(upsert_);
  return rc == SQLITE_DONE ? Status::Ok() : Error("write");
}

Status KvFile::Erase(const std::string& key) {
  sqlite3_reset(erase_);
  BindBytes(erase_, 1, key);
  const int rc = sqlite3_step(erase_);
  sqlite3_reset(erase_);
  return rc == SQLITE_DONE ? Status::Ok() : Error("delete");
}

}  // namespace cfemu::emulator::kv
