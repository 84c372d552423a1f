#include "emulator/d1/d1_store.h"

#include <sqlite3.h>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <utility>

#include "emulator/d1/d1_bookmark.h"
#include "emulator/d1/d1_errors.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::D1Param;
using platform::D1Result;
using platform::D1Rows;
using platform::D1Value;

namespace {

// The progress handler runs every this many VM instructions: fine enough for the budget, cheap
// enough not to show in benchmarks.
constexpr int kProgressInterval = 1'000;
// Prepared statements kept per database; the least recently used one goes first.
constexpr std::size_t kCacheCapacity = 256;
// Largest double that still holds every integer below it exactly (2^53).
constexpr double kMaxExactInteger = 9'007'199'254'740'992.0;

// Skips whitespace and comments; true when nothing else is left.
bool OnlyTrivia(const char* p) {
  while (*p != '\0') {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == ';') {
      ++p;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n') ++p;
    } else if (p[0] == '/' && p[1] == '*') {
      p += 2;
      while (*p != '\0' && !(p[0] == '*' && p[1] == '/')) ++p;
      if (*p != '\0') p += 2;
    } else {
      return false;
    }
  }
  return true;
}

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

// True when `sql` holds the word FAIL (any case) outside a longer identifier: the conflict
// resolution that keeps a failed statement's earlier changes (OR FAIL, ON CONFLICT FAIL,
// RAISE(FAIL, ...)). A quoted 'fail' also counts, which only costs the fast path.
bool MentionsFail(std::string_view sql) {
  for (std::size_t i = 0; i + 4 <= sql.size(); ++i) {
    if (strncasecmp(sql.data() + i, "fail", 4) != 0) continue;
    const bool starts = i == 0 || !IsWordChar(sql[i - 1]);
    const bool ends = i + 4 == sql.size() || !IsWordChar(sql[i + 4]);
    if (starts && ends) return true;
  }
  return false;
}

// INSERT, REPLACE, UPDATE, DELETE, SELECT, VALUES and WITH: one statement whose failure
// SQLite undoes entirely (unless FAIL), so autocommit equals BEGIN ... COMMIT around it.
bool IsPlainDml(const char* sql) {
  while (*sql != '\0' && !IsWordChar(*sql)) {
    if (sql[0] == '-' && sql[1] == '-') {
      while (*sql != '\0' && *sql != '\n') ++sql;
    } else if (sql[0] == '/' && sql[1] == '*') {
      sql += 2;
      while (*sql != '\0' && !(sql[0] == '*' && sql[1] == '/')) ++sql;
      if (*sql != '\0') sql += 2;
    } else {
      ++sql;
    }
  }
  std::size_t n = 0;
  while (IsWordChar(sql[n])) ++n;
  const std::string_view word(sql, n);
  for (std::string_view keyword :
       {"insert", "replace", "update", "delete", "select", "values", "with"}) {
    if (word.size() == keyword.size() && strncasecmp(word.data(), keyword.data(), n) == 0) {
      return true;
    }
  }
  return false;
}

D1Value ColumnValue(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return D1Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt, column)));
    case SQLITE_FLOAT:
      return D1Value(sqlite3_column_double(stmt, column));
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      return D1Value(
          std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))));
    }
    case SQLITE_BLOB: {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, column));
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, column));
      if (size == 0) return D1Value(core::Bytes());  // SQLite returns null for an empty blob.
      return D1Value(core::Bytes(data, data + size));
    }
    default:
      return D1Value(nullptr);
  }
}

// A JavaScript number: integral values bind as INTEGER, others as REAL; NaN and infinities
// bind as NULL (JSON has no such numbers, so production receives null).
int BindNumber(sqlite3_stmt* stmt, int index, double value) {
  if (!std::isfinite(value)) return sqlite3_bind_null(stmt, index);
  if (value == std::trunc(value) && std::fabs(value) <= kMaxExactInteger) {
    return sqlite3_bind_int64(stmt, index, static_cast<sqlite3_int64>(value));
  }
  return sqlite3_bind_double(stmt, index, value);
}

int BindJson(sqlite3_stmt* stmt, int index, const nlohmann::json& value) {
  if (value.is_boolean()) return sqlite3_bind_int64(stmt, index, value.get<bool>() ? 1 : 0);
  if (value.is_number_integer()) return sqlite3_bind_int64(stmt, index, value.get<std::int64_t>());
  if (value.is_number_unsigned()) {
    return BindNumber(stmt, index, static_cast<double>(value.get<std::uint64_t>()));
  }
  if (value.is_number_float()) return BindNumber(stmt, index, value.get<double>());
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  }
  return sqlite3_bind_null(stmt, index);  // Null; Bind() already refused everything else.
}

int BindParam(sqlite3_stmt* stmt, int index, const D1Param& param) {
  struct Visitor {
    sqlite3_stmt* stmt;
    int index;
    int operator()(std::nullptr_t) const { return sqlite3_bind_null(stmt, index); }
    int operator()(bool b) const { return sqlite3_bind_int64(stmt, index, b ? 1 : 0); }
    int operator()(std::int64_t n) const { return sqlite3_bind_int64(stmt, index, n); }
    int operator()(double x) const { return BindNumber(stmt, index, x); }
    int operator()(const std::string& s) const {
      // SQLITE_STATIC: the statement is reset before the parameters go away.
      return sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    int operator()(const core::Bytes& b) const {
      return sqlite3_bind_blob64(stmt, index, b.data(), b.size(), SQLITE_STATIC);
    }
    int operator()(const nlohmann::json& j) const { return BindJson(stmt, index, j); }
  };
  return std::visit(Visitor{stmt, index}, param);
}

void AppendQuoted(std::string& out, std::string_view text, char quote) {
  out += quote;
  for (char c : text) {
    out += c;
    if (c == quote) out += quote;
  }
  out += quote;
}

void AppendValue(std::string& out, const D1Value& value) {
  if (std::holds_alternative<std::nullptr_t>(value)) {
    out += "NULL";
  } else if (const auto* n = std::get_if<std::int64_t>(&value)) {
    out += std::to_string(*n);
  } else if (const auto* x = std::get_if<double>(&value)) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.17g", *x);
    out += buffer;
    // A real that prints like an integer is marked, so 1 and 1.0 never look alike.
    if (std::string_view(buffer).find_first_of(".en") == std::string_view::npos) out += ".0";
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    AppendQuoted(out, *s, '\'');
  } else {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += "X'";
    for (std::uint8_t byte : std::get<core::Bytes>(value)) {
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
    out += '\'';
  }
}

}  // namespace

// Emulator-internal SQL runs trusted: the authorizer allows it and the step budget skips it.
class D1Store::Trusted {
 public:
  explicit Trusted(D1Authorizer& authorizer) : authorizer_(authorizer) {
    authorizer_.set_trusted(true);
  }
  ~Trusted() { authorizer_.set_trusted(false); }
  Trusted(const Trusted&) = delete;
  Trusted& operator=(const Trusted&) = delete;

 private:
  D1Authorizer& authorizer_;
};

D1Store::D1Store(const core::Clock& clock, core::Random random, D1StoreOptions options)
    : clock_(clock), random_(random), options_(std::move(options)), vfs_(clock) {}

void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // No bulk page-cache allocation per cache: SQLite creates a page cache for every ephemeral
    // table (IN (SELECT ...), ORDER BY, json_each joins), and the default bulk of 20 pages was
    // allocated, linked and freed for each of them (a fifth of a scenario run's time, most of
    // it page faults). Must precede sqlite3_initialize; later calls are refused and ignored.
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
    // No global memory statistics: they take a mutex on every SQLite allocation.
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
}

Result<std::unique_ptr<D1Store>> D1Store::Open(const core::Clock& clock, core::Random random,
                                               D1StoreOptions options) {
  CHECK(core::IsLowerHex(options.database_hex, 32));
  ConfigureSqliteOnce();
  std::unique_ptr<D1Store> store(new D1Store(clock, random, std::move(options)));
  const std::string path =
      store->options_.file ? store->options_.file->string() : std::string(":memory:");
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &store->db_, flags, store->vfs_.name());
  if (rc != SQLITE_OK) {
    const std::string detail = store->db_ ? sqlite3_errmsg(store->db_) : sqlite3_errstr(rc);
    return Status::Unavailable("cannot open D1 database '" + path + "': " + detail);
  }
  CFEMU_RETURN_IF_ERROR(store->Configure());
  return store;
}

D1Store::~D1Store() {
  ForgetStatements();
  for (sqlite3_stmt* stmt : {begin_, commit_, rollback_, page_count_}) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status D1Store::Configure() {
  const D1Limits& limits = options_.limits;
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_limit(db_, SQLITE_LIMIT_LENGTH, static_cast<int>(limits.max_value_bytes));
  sqlite3_limit(db_, SQLITE_LIMIT_SQL_LENGTH, static_cast<int>(limits.max_statement_bytes));
  sqlite3_limit(db_, SQLITE_LIMIT_COLUMN, static_cast<int>(limits.max_columns));
  sqlite3_limit(db_, SQLITE_LIMIT_FUNCTION_ARG, static_cast<int>(limits.max_function_args));
  sqlite3_limit(db_, SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
                static_cast<int>(limits.max_like_pattern_bytes));
  sqlite3_limit(db_, SQLITE_LIMIT_VARIABLE_NUMBER, static_cast<int>(limits.max_bound_parameters));
  sqlite3_limit(db_, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_limit(db_, SQLITE_LIMIT_WORKER_THREADS, 0);
  authorizer_.Install(db_);
  sqlite3_progress_handler(
      db_, kProgressInterval,
      [](void* self) -> int {
        auto* store = static_cast<D1Store*>(self);
        if (store->authorizer_.trusted()) return 0;
        store->steps_ += kProgressInterval;
        if (store->steps_ <= store->step_budget_) return 0;
        store->budget_exceeded_ = true;
        return 1;  // Interrupts the statement: the modelled 30 s have passed.
      },
      this);
  sqlite3_update_hook(
      db_,
      [](void* self, int operation, const char*, const char*, sqlite3_int64) {
        auto& counters = static_cast<D1Store*>(self)->counters_;
        ++(operation == SQLITE_INSERT ? counters.inserted : counters.updated_or_deleted);
      },
      this);
  RegisterFunctions();
  if (options_.file) CFEMU_RETURN_IF_ERROR(ExecTrusted("PRAGMA journal_mode=WAL"));
  // WAL with synchronous=NORMAL survives a crash of the process (not of the machine).
  CFEMU_RETURN_IF_ERROR(ExecTrusted("PRAGMA synchronous=NORMAL"));
  // D1 enforces foreign keys; recursive triggers are off as in stock SQLite.
  CFEMU_RETURN_IF_ERROR(ExecTrusted("PRAGMA foreign_keys=ON; PRAGMA recursive_triggers=OFF"));
  auto page_size = QueryInt("PRAGMA page_size");
  if (!page_size.ok()) return page_size.status();
  page_size_ = *page_size;
  const std::int64_t pages = std::max<std::int64_t>(1, limits.max_database_bytes / page_size_);
  CFEMU_RETURN_IF_ERROR(ExecTrusted(("PRAGMA max_page_count=" + std::to_string(pages)).c_str()));
  CFEMU_RETURN_IF_ERROR(LoadCommitEpoch());
  CFEMU_RETURN_IF_ERROR(PrepareTrusted());
  size_bytes_ = ReadSize();
  return Status::Ok();
}

Status D1Store::PrepareTrusted() {
  Trusted trusted(authorizer_);
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&begin_, "BEGIN"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      // The table-valued form: SQLite re-prepares "PRAGMA page_count" on every run.
      {&page_count_, "SELECT page_count FROM pragma_page_count()"},
  };
  for (const auto& [stmt, sql] : statements) {
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr);
    if (rc != SQLITE_OK) return d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  }
  return Status::Ok();
}

// Production's databases carry a `_cf_KV` table; here it keeps the bookmark epoch. Every open
// moves the commit counter to a new epoch (2^32 commits apart), so bookmarks taken before a
// restart still compare lower than every later one.
Status D1Store::LoadCommitEpoch() {
  CFEMU_RETURN_IF_ERROR(
      ExecTrusted("CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) "
                  "WITHOUT ROWID"));
  auto epoch =
      QueryInt("SELECT coalesce((SELECT value FROM _cf_KV WHERE key = 'cfemu.bookmark_epoch'), 0)");
  if (!epoch.ok()) return epoch.status();
  const std::int64_t next = *epoch + 1;
  CFEMU_RETURN_IF_ERROR(
      ExecTrusted(("INSERT OR REPLACE INTO _cf_KV VALUES ('cfemu.bookmark_epoch', " +
                   std::to_string(next) + ")")
                      .c_str()));
  commits_ = static_cast<std::uint64_t>(next) << 32;
  return Status::Ok();
}

void D1Store::RegisterFunctions() {
  // random() and randomblob() from the seeded stream, so SQL that draws replays with the seed.
  sqlite3_create_function_v2(
      db_, "random", 0, SQLITE_UTF8, this,
      [](sqlite3_context* context, int, sqlite3_value**) {
        auto* store = static_cast<D1Store*>(sqlite3_user_data(context));
        sqlite3_result_int64(context, static_cast<sqlite3_int64>(store->random_.Next()));
      },
      nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(
      db_, "randomblob", 1, SQLITE_UTF8, this,
      [](sqlite3_context* context, int, sqlite3_value** args) {
        auto* store = static_cast<D1Store*>(sqlite3_user_data(context));
        const sqlite3_int64 n = std::max<sqlite3_int64>(1, sqlite3_value_int64(args[0]));
        if (n > store->options_.limits.max_value_bytes) {
          sqlite3_result_error_toobig(context);
          return;
        }
        core::Bytes bytes(static_cast<std::size_t>(n));
        for (auto& byte : bytes) byte = static_cast<std::uint8_t>(store->random_.Next());
        sqlite3_result_blob64(context, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
      },
      nullptr, nullptr, nullptr);
}

Status D1Store::ExecTrusted(const char* sql) {
  Trusted trusted(authorizer_);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  Status status = d1_errors::FromSqlite(rc, error ? error : sqlite3_errstr(rc));
  sqlite3_free(error);
  return status;
}

Status D1Store::StepTrusted(sqlite3_stmt* stmt) {
  Trusted trusted(authorizer_);
  int rc = sqlite3_step(stmt);
  while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
  const Status status =
      rc == SQLITE_DONE ? Status::Ok() : d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  sqlite3_reset(stmt);
  return status;
}

Result<std::int64_t> D1Store::QueryInt(const char* sql) {
  Trusted trusted(authorizer_);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
  std::int64_t value = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  }
  const Status status = rc == SQLITE_ROW || rc == SQLITE_DONE
                            ? Status::Ok()
                            : d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return value;
}

std::int64_t D1Store::ReadSize() {
  if (page_count_ == nullptr) return size_bytes_;
  Trusted trusted(authorizer_);
  std::int64_t size = size_bytes_;
  if (sqlite3_step(page_count_) == SQLITE_ROW)
    size = sqlite3_column_int64(page_count_, 0) * page_size_;
  sqlite3_reset(page_count_);
  return size;
}

// SQLite re-parses every PRAGMA on each run, so the page count is read only when it may
// have changed. An in-memory database keeps every page in its page cache, so the cache's size
// moves whenever the page count does; a file database may evict pages, so it always reads.
bool D1Store::MayHaveGrown() {
  if (options_.file) return true;
  int used = 0;
  int highwater = 0;
  sqlite3_db_status(db_, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0);
  if (used == cache_used_) return false;
  cache_used_ = used;
  return true;
}

std::string D1Store::Bookmark() const { return FormatBookmark(commits_, options_.database_hex); }

void D1Store::ForgetStatements() {
  for (auto& [sql, entry] : cache_) sqlite3_finalize(entry.stmt);
  cache_.clear();
}

// ---- Statements ------------------------------------------------------------------------------

Status D1Store::PrepareError(int code) {
  if (code == SQLITE_AUTH && authorizer_.last_denial() == D1Authorizer::Denial::kTransaction) {
    return d1_errors::D1Error(core::Code::kInvalidArgument, d1_errors::kTransactionRefused,
                              d1_errors::kQueryErrorCode);
  }
  return d1_errors::FromSqlite(code, sqlite3_errmsg(db_));
}

D1Store::CachedStatement* D1Store::Find(const std::string& sql) {
  const auto it = cache_.find(sql);
  if (it == cache_.end()) return nullptr;
  it->second.last_used = ++cache_clock_;
  return &it->second;
}

// REQUIRES: inside the call's transaction. SQLite applies some pragmas (foreign_keys among
// them) while it compiles them, so statements are compiled only where D1 runs them.
Result<D1Store::CachedStatement*> D1Store::Lookup(const std::string& sql) {
  if (CachedStatement* cached = Find(sql)) return cached;
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  authorizer_.Clear();
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) return PrepareError(rc);
  if (stmt == nullptr) {
    return d1_errors::D1Error(core::Code::kInvalidArgument, d1_errors::kNoStatements);
  }
  if (Status placeholders = CheckPlaceholders(stmt); !placeholders.ok()) {
    sqlite3_finalize(stmt);
    return placeholders;
  }
  CachedStatement entry;
  entry.sets_pragma = authorizer_.pragma_set();
  entry.renames_table = authorizer_.table_renamed();
  if (OnlyTrivia(tail)) {
    entry.stmt = stmt;
    entry.autocommit =
        !entry.sets_pragma && !entry.renames_table && IsPlainDml(sql.c_str()) && !MentionsFail(sql);
  } else {
    sqlite3_finalize(stmt);  // Several statements: each runs after the one before it.
  }
  if (cache_.size() >= kCacheCapacity) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    sqlite3_finalize(oldest->second.stmt);
    cache_.erase(oldest);
  }
  entry.last_used = ++cache_clock_;
  return &cache_.emplace(sql, entry).first->second;
}

bool D1Store::IsReadOnly(const std::string& sql) {
  const CachedStatement* entry = Find(sql);
  return entry != nullptr && entry->stmt != nullptr && sqlite3_stmt_readonly(entry->stmt) != 0;
}

// Only ? and ?NNN: D1 binds by position, so a named placeholder (:x, @x, $x) is refused.
Status D1Store::CheckPlaceholders(sqlite3_stmt* stmt) {
  const int count = sqlite3_bind_parameter_count(stmt);
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    if (name != nullptr && name[0] != '?') {
      std::string text(d1_errors::kNamedParameters);
      text.append(" (").append(name).append(")");
      return d1_errors::D1Error(core::Code::kInvalidArgument, text, d1_errors::kQueryErrorCode);
    }
  }
  return Status::Ok();
}

// REQUIRES: CheckPlaceholders(stmt) is OK.
Status D1Store::Bind(sqlite3_stmt* stmt, std::span<const D1Param> params) {
  const int count = sqlite3_bind_parameter_count(stmt);
  if (static_cast<std::size_t>(count) != params.size()) {
    return d1_errors::D1Error(core::Code::kInvalidArgument, d1_errors::kWrongParameterCount,
                              d1_errors::kQueryErrorCode);
  }
  for (int i = 0; i < count; ++i) {
    const int rc = BindParam(stmt, i + 1, params[static_cast<std::size_t>(i)]);
    if (rc != SQLITE_OK) return d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  }
  return Status::Ok();
}

Status D1Store::StepError(int code) {
  if (budget_exceeded_) {
    return d1_errors::D1Error(core::Code::kTimeout, d1_errors::kCpuLimit,
                              d1_errors::kQueryErrorCode);
  }
  return d1_errors::FromSqlite(code, sqlite3_errmsg(db_));
}

Status D1Store::Execute(sqlite3_stmt* stmt, std::span<const D1Param> params, D1Rows rows,
                        D1Result& out) {
  Status status = Bind(stmt, params);
  const sqlite3_int64 changes_before = sqlite3_total_changes64(db_);
  counters_ = Counters();
  sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
  sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
  const int columns = sqlite3_column_count(stmt);
  out.columns.resize(static_cast<std::size_t>(columns));
  for (int c = 0; c < columns; ++c)
    out.columns[static_cast<std::size_t>(c)] = sqlite3_column_name(stmt, c);
  std::shared_ptr<const std::vector<std::string>> names;  // Shared by every row.
  while (status.ok()) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      status = StepError(rc);
      break;
    }
    std::vector<platform::D1Value> values;
    values.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) values.push_back(ColumnValue(stmt, c));
    if (rows == D1Rows::kObjects && !names) {
      names = std::make_shared<const std::vector<std::string>>(out.columns);
    }
    out.results.emplace_back(rows == D1Rows::kObjects ? names : nullptr, std::move(values));
  }
  platform::D1Meta& meta = out.meta;
  meta.changes = sqlite3_total_changes64(db_) - changes_before;
  meta.last_row_id = sqlite3_last_insert_rowid(db_);
  meta.rows_written = std::max(counters_.inserted + counters_.updated_or_deleted, meta.changes);
  meta.rows_read = std::max(
      {static_cast<std::int64_t>(out.results.size()),
       static_cast<std::int64_t>(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0)),
       counters_.updated_or_deleted});
  meta.duration = static_cast<double>(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0)) /
                  static_cast<double>(options_.limits.vm_steps_per_ms);
  meta.sql_duration_ms = meta.duration;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return status;
}

Status D1Store::RunStatement(const platform::D1PreparedStatement& statement, D1Rows rows,
                             bool per_statement, std::vector<D1Result>& results) {
  CFEMU_RETURN_IF_ERROR(statement.status());  // D1_TYPE_ERROR from Bind().
  if (static_cast<std::int64_t>(statement.sql().size()) > options_.limits.max_statement_bytes) {
    // The limit holds for a statement's whole text, as workerd prepares it.
    return d1_errors::FromSqlite(SQLITE_TOOBIG, "statement too long");
  }
  auto entry = Lookup(statement.sql());
  if (!entry.ok()) return entry.status();
  pragma_set_ = pragma_set_ || (*entry)->sets_pragma;
  if ((*entry)->stmt == nullptr) return RunMulti(statement, rows, per_statement, results);
  const bool renames_table = (*entry)->renames_table;
  CFEMU_RETURN_IF_ERROR(Execute((*entry)->stmt, statement.params(), rows, results.emplace_back()));
  return renames_table ? CheckReservedNames() : Status::Ok();
}

// After ALTER TABLE ... RENAME: no user object may now carry a reserved name.
Status D1Store::CheckReservedNames() {
  auto reserved = QueryInt(
      "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_cf\\_%' ESCAPE '\\' "
      "AND name <> '_cf_KV'");
  if (!reserved.ok()) return reserved.status();
  if (*reserved == 0) return Status::Ok();
  return d1_errors::FromSqlite(SQLITE_AUTH, "not authorized");
}

// A text of several statements: each is prepared after the one before it ran (it may create
// what the next one uses); only the last may have parameters, as in workerd.
Status D1Store::RunMulti(const platform::D1PreparedStatement& statement, D1Rows rows,
                         bool per_statement, std::vector<D1Result>& results) {
  const char* cursor = statement.sql().c_str();
  while (!OnlyTrivia(cursor)) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    authorizer_.Clear();
    const int rc = sqlite3_prepare_v3(db_, cursor, -1, 0, &stmt, &tail);
    if (rc != SQLITE_OK) return PrepareError(rc);
    if (stmt == nullptr) break;
    pragma_set_ = pragma_set_ || authorizer_.pragma_set();
    const bool renames_table = authorizer_.table_renamed();
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
    const bool last = OnlyTrivia(tail);
    CFEMU_RETURN_IF_ERROR(CheckPlaceholders(stmt));
    if (!last && sqlite3_bind_parameter_count(stmt) > 0) {
      return d1_errors::D1Error(core::Code::kInvalidArgument,
                                d1_errors::kOnlyLastStatementParameters,
                                d1_errors::kQueryErrorCode);
    }
    D1Result result;
    std::span<const D1Param> params;
    if (last) params = statement.params();
    CFEMU_RETURN_IF_ERROR(Execute(stmt, params, rows, result));
    if (renames_table) CFEMU_RETURN_IF_ERROR(CheckReservedNames());
    if (per_statement || last) results.push_back(std::move(result));
    cursor = tail;
  }
  return Status::Ok();
}

// ---- Calls -----------------------------------------------------------------------------------

Result<std::vector<D1Result>> D1Store::Run(
    std::span<const platform::D1PreparedStatement> statements, D1Rows rows,
    const D1RunOptions& options) {
  StartCall();
  if (statements.size() == 1 && !options.fail_at && !options.per_statement_results) {
    std::vector<D1Result> results(1);
    if (auto done = RunAutocommit(statements.front(), rows, results.front())) {
      if (!done->ok()) return *done;
      return results;
    }
  }
  return RunTransaction(statements, rows, options);
}

Result<D1Result> D1Store::RunOne(const platform::D1PreparedStatement& statement, D1Rows rows) {
  StartCall();
  D1Result result;
  if (auto done = RunAutocommit(statement, rows, result)) {
    if (!done->ok()) return *done;
    return result;
  }
  auto results = RunTransaction(std::span(&statement, 1), rows, D1RunOptions());
  if (!results.ok()) return results.status();
  if (results->empty()) {
    return d1_errors::D1Error(core::Code::kInvalidArgument, d1_errors::kNoStatements);
  }
  return std::move(results->back());
}

Result<std::vector<D1Result>> D1Store::RunTransaction(
    std::span<const platform::D1PreparedStatement> statements, D1Rows rows,
    const D1RunOptions& options) {
  Status status = StepTrusted(begin_);
  std::vector<D1Result> results;
  results.reserve(statements.size());
  for (std::size_t i = 0; status.ok() && i < statements.size(); ++i) {
    if (options.fail_at == i) {
      status = options.failure;
      break;
    }
    status = RunStatement(statements[i], rows, options.per_statement_results, results);
  }
  // A write transaction is open when a statement wrote (or meant to write): its commit is what
  // moves the data version and the commit counter. The size is read inside it, which is
  // cheaper than a new read transaction.
  const bool wrote = status.ok() && sqlite3_txn_state(db_, "main") == SQLITE_TXN_WRITE;
  std::int64_t size = size_bytes_;
  if (wrote && MayHaveGrown()) size = ReadSize();
  if (status.ok()) status = StepTrusted(commit_);  // Deferred foreign keys are checked here.
  if (!status.ok()) {
    Rollback();
    EndCall();
    return status;
  }
  Finish(results, wrote, size);
  EndCall();
  return results;
}

void D1Store::StartCall() {
  steps_ = 0;
  step_budget_ = options_.limits.max_query_duration.ms() * options_.limits.vm_steps_per_ms;
  budget_exceeded_ = false;
  pragma_set_ = false;
}

// What the fast path needs to know of the schema, re-read after anything changed it.
void D1Store::RefreshSchemaFacts() {
  if (!authorizer_.TakeSchemaChange()) return;
  Trusted trusted(authorizer_);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db_, "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL", -1, &stmt,
                     nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  schema_has_fail_ = stmt == nullptr;
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* sql = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    schema_has_fail_ = schema_has_fail_ || MentionsFail(sql);
  }
}

// A single plain DML statement in SQLite's autocommit transaction; nullopt when the statement
// must take the BEGIN ... COMMIT path: its first run (which compiles it inside the
// transaction), and every error that path reports.
std::optional<Status> D1Store::RunAutocommit(const platform::D1PreparedStatement& statement,
                                             D1Rows rows, D1Result& out) {
  if (!statement.status().ok() ||
      static_cast<std::int64_t>(statement.sql().size()) > options_.limits.max_statement_bytes) {
    return std::nullopt;
  }
  const CachedStatement* entry = Find(statement.sql());  // Compiled by an earlier call.
  if (entry == nullptr || !entry->autocommit) return std::nullopt;
  RefreshSchemaFacts();
  if (schema_has_fail_ || sqlite3_get_autocommit(db_) == 0) return std::nullopt;
  sqlite3_stmt* stmt = entry->stmt;
  const Status status = Execute(stmt, statement.params(), rows, out);
  if (!status.ok()) {
    Rollback();  // SQLite rolled the statement's transaction back already.
    return status;
  }
  const bool wrote = sqlite3_stmt_readonly(stmt) == 0;
  Finish(std::span(&out, 1), wrote, wrote && MayHaveGrown() ? ReadSize() : size_bytes_);
  return Status::Ok();
}

void D1Store::Finish(std::span<D1Result> results, bool changed, std::int64_t size) {
  if (changed) {
    ++commits_;
    size_bytes_ = size;
  }
  for (auto& result : results) {
    result.meta.changed_db = changed;
    result.meta.size_after = size_bytes_;
  }
}

void D1Store::Rollback() {
  // An interrupt or a full database may already have rolled the transaction back.
  if (sqlite3_get_autocommit(db_) == 0) (void)StepTrusted(rollback_);
}

void D1Store::EndCall() {
  if (!pragma_set_) return;
  pragma_set_ = false;
  // D1 applies these pragmas to the current transaction only.
  (void)ExecTrusted(
      "PRAGMA case_sensitive_like=OFF; PRAGMA ignore_check_constraints=OFF; "
      "PRAGMA legacy_alter_table=OFF; PRAGMA recursive_triggers=OFF; "
      "PRAGMA reverse_unordered_selects=OFF; PRAGMA foreign_keys=ON");
}

// ---- Checkers --------------------------------------------------------------------------------

Result<std::vector<D1Store::SchemaObject>> D1Store::SchemaObjects() {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db_,
                     "SELECT type, name, coalesce(sql, '') FROM sqlite_schema "
                     "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                     "AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY type, name",
                     -1, &stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  if (stmt == nullptr) return d1_errors::FromSqlite(sqlite3_errcode(db_), sqlite3_errmsg(db_));
  std::vector<SchemaObject> objects;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto text = [stmt](int c) {
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)));
    };
    objects.push_back({text(0), text(1), text(2)});
  }
  if (rc != SQLITE_DONE) return d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  return objects;
}

// The table's primary-key columns in key order, quoted for SQL; "rowid" when it has none.
std::string D1Store::PrimaryKeyOrder(const std::string& table) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db_, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", -1,
                     &stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  std::string order;
  if (stmt == nullptr) return "rowid";
  sqlite3_bind_text(stmt, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    if (!order.empty()) order += ", ";
    AppendQuoted(order, reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), '"');
  }
  return order.empty() ? "rowid" : order;
}

Status D1Store::AppendRows(const std::string& table, std::string& out) {
  std::string sql = "SELECT * FROM ";
  AppendQuoted(sql, table, '"');
  sql += " ORDER BY " + PrimaryKeyOrder(table);
  sqlite3_stmt* stmt = nullptr;
  const int prepared = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  if (prepared != SQLITE_OK) return d1_errors::FromSqlite(prepared, sqlite3_errmsg(db_));
  out += "table " + table + "\n";
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      out += c == 0 ? "  " : ", ";
      AppendValue(out, ColumnValue(stmt, c));
    }
    out += "\n";
  }
  if (rc != SQLITE_DONE) return d1_errors::FromSqlite(rc, sqlite3_errmsg(db_));
  return Status::Ok();
}

Result<std::string> D1Store::Snapshot() {
  Trusted trusted(authorizer_);
  auto objects = SchemaObjects();
  if (!objects.ok()) return objects.status();
  std::string out;
  for (const auto& object : *objects) {
    out += "schema " + object.type + " " + object.name + ": " + object.sql + "\n";
  }
  for (const auto& object : *objects) {
    if (object.type == "table") CFEMU_RETURN_IF_ERROR(AppendRows(object.name, out));
  }
  return out;
}

Status D1Store::IntegrityCheck() {
  Trusted trusted(authorizer_);
  std::string problems;
  for (const char* sql : {"PRAGMA integrity_check", "PRAGMA foreign_key_check"}) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
      return d1_errors::FromSqlite(sqlite3_errcode(db_), sqlite3_errmsg(db_));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string line;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (c > 0) line += ' ';
        const auto* text = sqlite3_column_text(stmt, c);
        line += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      if (line != "ok") problems += std::string(sql) + ": " + line + "\n";
    }
  }
  if (problems.empty()) return Status::Ok();
  return Status::FailedPrecondition(problems);
}

}  // namespace cfemu::emulator
