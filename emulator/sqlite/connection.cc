#include "emulator/sqlite/connection.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iterator>

namespace cfemu::emulator::sqlite {

using core::Result;
using core::Status;
using platform::D1Param;
using platform::D1Value;

namespace {

bool ReservedName(const char* name) {
  if (name == nullptr) return false;
  static constexpr char kPrefix[] = "_cf_";
  for (std::size_t i = 0; i < 4; ++i) {
    if (name[i] == '\0') return false;
    if (std::tolower(static_cast<unsigned char>(name[i])) != kPrefix[i]) return false;
  }
  return true;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool OnlySpaceAndSemicolons(std::string_view text) {
  for (char c : text) {
    if (c != ';' && !std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// workerd ends a SQL error message with the primary result code's name ("...: SQLITE_ERROR"),
// the text D1 shows after its "D1_ERROR: " prefix.
std::string_view PrimaryCodeName(int code) {
  static constexpr std::string_view kNames[] = {
      "SQLITE_OK",         "SQLITE_ERROR",      "SQLITE_INTERNAL",   "SQLITE_PERM",
      "SQLITE_ABORT",      "SQLITE_BUSY",       "SQLITE_LOCKED",     "SQLITE_NOMEM",
      "SQLITE_READONLY",   "SQLITE_INTERRUPT",  "SQLITE_IOERR",      "SQLITE_CORRUPT",
      "SQLITE_NOTFOUND",   "SQLITE_FULL",       "SQLITE_CANTOPEN",   "SQLITE_PROTOCOL",
      "SQLITE_EMPTY",      "SQLITE_SCHEMA",     "SQLITE_TOOBIG",     "SQLITE_CONSTRAINT",
      "SQLITE_MISMATCH",   "SQLITE_MISUSE",     "SQLITE_NOLFS",      "SQLITE_AUTH",
      "SQLITE_FORMAT",     "SQLITE_RANGE",      "SQLITE_NOTADB",     "SQLITE_NOTICE",
      "SQLITE_WARNING",
  };
  const auto index = static_cast<std::size_t>(code);
  return code >= 0 && index < std::size(kNames) ? kNames[index] : "SQLITE_UNKNOWN";
}

// Limits SQLite reports as a plain SQLITE_ERROR, recognised by the start of their message as
// emulator/d1 recognises them: like SQLITE_TOOBIG, they are kTooLarge.
bool IsLimitMessage(std::string_view message) {
  static constexpr std::string_view kLimits[] = {
      "too many columns",
      "too many SQL variables",
      "variable number must be between",
      "too many arguments on function",
      "LIKE or GLOB pattern too complex",
      "too many terms in",
      "Expression tree is too large",
  };
  for (std::string_view limit : kLimits) {
    if (message.starts_with(limit)) return true;
  }
  return false;
}

}  // namespace

const std::set<std::string, std::less<>>& DefaultAllowedPragmas() {
  // D1's documented PRAGMA statements (developers.cloudflare.com/d1/sql-api/sql-statements/).
  static const std::set<std::string, std::less<>> kPragmas = {
      "table_list",         "table_info",          "table_xinfo",
      "index_list",         "index_info",          "index_xinfo",
      "foreign_key_list",   "foreign_key_check",   "foreign_keys",
      "defer_foreign_keys", "case_sensitive_like", "ignore_check_constraints",
      "legacy_alter_table", "recursive_triggers",  "reverse_unordered_selects",
      "quick_check",        "integrity_check",     "optimize",
      "data_version"};
  return kPragmas;
}

Connection::Connection(sqlite3* db, Limits limits, Policy policy)
    : db_(db), limits_(std::move(limits)), policy_(std::move(policy)) {}

Connection::~Connection() {
  for (auto& [text, statement] : cache_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

Result<std::unique_ptr<Connection>> Connection::Open(
    const std::optional<std::filesystem::path>& file, Limits limits, Policy policy) {
  sqlite3* db = nullptr;
  const std::string path = file ? file->string() : std::string(":memory:");
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status::Unavailable("cannot open database '" + path + "': " + message);
  }
  std::unique_ptr<Connection> connection(new Connection(db, std::move(limits), std::move(policy)));
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  const Limits& l = connection->limits_;
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, static_cast<int>(l.max_value_bytes));
  sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, static_cast<int>(l.max_statement_bytes));
  sqlite3_limit(db, SQLITE_LIMIT_COLUMN, l.max_columns);
  sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, l.max_function_args);
  sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, l.max_like_pattern_bytes);
  sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, l.max_bound_parameters);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_set_authorizer(db, &Connection::Authorize, connection.get());
  sqlite3_update_hook(
      db,
      [](void* self, int operation, const char*, const char*, sqlite3_int64) {
        auto* counted = static_cast<Connection*>(self);
        ++(operation == SQLITE_INSERT ? counted->inserted_ : counted->updated_or_deleted_);
      },
      connection.get());
  if (file) CFEMU_RETURN_IF_ERROR(connection->ExecInternal("PRAGMA journal_mode=WAL"));
  CFEMU_RETURN_IF_ERROR(connection->ExecInternal("PRAGMA synchronous=NORMAL"));
  CFEMU_RETURN_IF_ERROR(connection->ExecInternal("PRAGMA foreign_keys=ON"));
  if (l.max_database_bytes) {
    const std::int64_t pages = std::max<std::int64_t>(1, *l.max_database_bytes / 4096);
    CFEMU_RETURN_IF_ERROR(connection->ExecInternal("PRAGMA page_size=4096"));
    CFEMU_RETURN_IF_ERROR(
        connection->ExecInternal("PRAGMA max_page_count=" + std::to_string(pages)));
  }
  return connection;
}

int Connection::Authorize(void* self, int action, const char* a, const char* b, const char*,
                          const char*) {
  auto* connection = static_cast<Connection*>(self);
  if (!connection->user_statement_) return SQLITE_OK;
  const Policy& policy = connection->policy_;
  switch (action) {
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      if (!policy.deny_transactions) return SQLITE_OK;
      connection->denial_ = policy.transaction_message;
      return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      connection->denial_ = "not authorized: ATTACH and DETACH are not allowed";
      return SQLITE_DENY;
    case SQLITE_PRAGMA:
      if (a != nullptr && policy.allowed_pragmas.count(Lower(a)) > 0) return SQLITE_OK;
      connection->denial_ =
          std::string("not authorized: PRAGMA ") + (a ? a : "") + " is not allowed";
      return SQLITE_DENY;
    case SQLITE_FUNCTION:
      if (b != nullptr && Lower(b) == "load_extension") {
        connection->denial_ = "not authorized: load_extension is not allowed";
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    default:
      break;
  }
  if (ReservedName(a) || ReservedName(b)) {
    connection->denial_ = "not authorized: names beginning with \"_cf_\" are reserved";
    return SQLITE_DENY;
  }
  return SQLITE_OK;
}

Status Connection::Error(std::string_view context) {
  const int code = sqlite3_extended_errcode(db_) & 0xff;
  std::string message = sqlite3_errmsg(db_);
  if (code == SQLITE_AUTH && !denial_.empty()) {
    // workerd refuses BEGIN and SAVEPOINT with its advice alone, without a code.
    if (denial_ == policy_.transaction_message) return Status::InvalidArgument(denial_);
    message = denial_;
  }
  std::string text(context.empty() ? "" : std::string(context) + ": ");
  text += message + ": " + std::string(PrimaryCodeName(code));
  if (code == SQLITE_FULL) return Status::ResourceExhausted(std::move(text));
  if (code == SQLITE_TOOBIG || IsLimitMessage(message)) return Status::TooLarge(std::move(text));
  return Status::InvalidArgument(std::move(text));
}

Result<sqlite3_stmt*> Connection::Prepare(std::string_view sql, bool user) {
  std::string key = (user ? "u:" : "i:") + std::string(sql);
  if (const auto it = cache_.find(key); it != cache_.end()) return it->second;
  sqlite3_stmt* statement = nullptr;
  const char* tail = nullptr;
  denial_.clear();
  const int rc =
      sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &statement, &tail);
  if (rc != SQLITE_OK) return Error("");
  if (statement == nullptr) return Status::InvalidArgument("No SQL statements detected.");
  if (cache_.size() >= kMaxCachedStatements) {  // Bounded: distinct texts are unbounded.
    for (auto& [text, cached] : cache_) sqlite3_finalize(cached);
    cache_.clear();
  }
  if (tail != nullptr &&
      !OnlySpaceAndSemicolons(std::string_view(tail, sql.data() + sql.size() - tail))) {
    sqlite3_finalize(statement);
    return Status::InvalidArgument("more than one statement in a single query");
  }
  cache_.emplace(std::move(key), statement);
  return statement;
}

Status Connection::Bind(sqlite3_stmt* statement, const std::vector<D1Param>& params) {
  const int expected = sqlite3_bind_parameter_count(statement);
  if (static_cast<int>(params.size()) > limits_.max_bound_parameters) {
    return Status::TooLarge("too many SQL variables: SQLITE_ERROR");  // D1's text.
  }
  if (static_cast<int>(params.size()) != expected) {
    return Status::InvalidArgument("Wrong number of parameter bindings for SQL query.");
  }
  for (int i = 1; i <= expected; ++i) {
    const char* name = sqlite3_bind_parameter_name(statement, i);
    if (name != nullptr && name[0] != '?') {
      return Status::InvalidArgument(std::string("named parameters are not supported: ") + name);
    }
    const D1Param& p = params[static_cast<std::size_t>(i - 1)];
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::nullptr_t>(p)) {
      rc = sqlite3_bind_null(statement, i);
    } else if (const auto* v = std::get_if<bool>(&p)) {
      rc = sqlite3_bind_int64(statement, i, *v ? 1 : 0);
    } else if (const auto* v = std::get_if<std::int64_t>(&p)) {
      rc = sqlite3_bind_int64(statement, i, *v);
    } else if (const auto* v = std::get_if<double>(&p)) {
      rc = sqlite3_bind_double(statement, i, *v);
    } else if (const auto* v = std::get_if<std::string>(&p)) {
      rc = sqlite3_bind_text64(statement, i, v->data(), v->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    } else if (const auto* v = std::get_if<core::Bytes>(&p)) {
      rc = sqlite3_bind_blob64(statement, i, v->data(), v->size(), SQLITE_TRANSIENT);
    } else {
      const auto& j = std::get<nlohmann::json>(p);
      if (j.is_null()) {
        rc = sqlite3_bind_null(statement, i);
      } else if (j.is_boolean()) {
        rc = sqlite3_bind_int64(statement, i, j.get<bool>() ? 1 : 0);
      } else if (j.is_number_integer()) {
        rc = sqlite3_bind_int64(statement, i, j.get<std::int64_t>());
      } else if (j.is_number()) {
        rc = sqlite3_bind_double(statement, i, j.get<double>());
      } else if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        rc = sqlite3_bind_text64(statement, i, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        return Status::InvalidArgument("unsupported bound value " + j.dump());
      }
    }
    if (rc != SQLITE_OK) return Error("");
  }
  return Status::Ok();
}

Result<Output> Connection::Step(sqlite3_stmt* statement) {
  Output out;
  const int columns = sqlite3_column_count(statement);
  out.columns.reserve(static_cast<std::size_t>(columns));
  for (int c = 0; c < columns; ++c) out.columns.emplace_back(sqlite3_column_name(statement, c));
  const std::int64_t changes_before = sqlite3_total_changes64(db_);
  inserted_ = 0;
  updated_or_deleted_ = 0;
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    std::vector<D1Value> row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(statement, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(sqlite3_column_int64(statement, c));
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(statement, c));
          break;
        case SQLITE_TEXT:
          row.emplace_back(
              std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, c)),
                          static_cast<std::size_t>(sqlite3_column_bytes(statement, c))));
          break;
        case SQLITE_BLOB: {
          const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement, c));
          row.emplace_back(core::Bytes(data, data + sqlite3_column_bytes(statement, c)));
          break;
        }
        default:
          row.emplace_back(nullptr);
          break;
      }
    }
    out.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    Status error = Error("");
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return error;
  }
  out.changes =
      sqlite3_stmt_readonly(statement) ? 0 : sqlite3_total_changes64(db_) - changes_before;
  out.last_row_id = sqlite3_last_insert_rowid(db_);
  // D1's model: a row counts once whether it was returned, scanned or changed.
  out.rows_read = std::max({static_cast<std::int64_t>(out.rows.size()),
                            static_cast<std::int64_t>(sqlite3_stmt_status(
                                statement, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1)),
                            updated_or_deleted_});
  out.rows_written = std::max(inserted_ + updated_or_deleted_, out.changes);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return out;
}

Status Connection::ExecInternal(std::string_view sql) {
  user_statement_ = false;
  char* error = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return Status::Unavailable("internal statement failed (" + text + "): " + message);
  }
  return Status::Ok();
}

Result<Output> Connection::QueryInternal(std::string_view sql, const std::vector<D1Param>& params) {
  user_statement_ = false;
  auto statement = Prepare(sql, false);
  if (!statement.ok()) return statement.status();
  CFEMU_RETURN_IF_ERROR(Bind(*statement, params));
  return Step(*statement);
}

Result<Output> Connection::Run(std::string_view sql, const std::vector<D1Param>& params) {
  user_statement_ = true;
  auto statement = Prepare(sql, true);
  if (!statement.ok()) {
    user_statement_ = false;
    return statement.status();
  }
  Status bound = Bind(*statement, params);
  if (!bound.ok()) {
    sqlite3_clear_bindings(*statement);
    user_statement_ = false;
    return bound;
  }
  auto output = Step(*statement);
  user_statement_ = false;
  return output;
}

Result<std::vector<std::string>> Connection::Split(std::string_view sql) {
  std::vector<std::string> statements;
  std::string current;
  for (char c : sql) {
    current.push_back(c);
    if (c == ';' && sqlite3_complete(current.c_str())) {
      if (!OnlySpaceAndSemicolons(current)) statements.push_back(current);
      current.clear();
    }
  }
  if (!OnlySpaceAndSemicolons(current)) statements.push_back(current);
  return statements;
}

Result<Output> Connection::RunScript(std::string_view sql, const std::vector<D1Param>& params) {
  // workerd prepares the whole text at once, so the length limit holds for all of it.
  if (static_cast<std::int64_t>(sql.size()) > limits_.max_statement_bytes) {
    return Status::TooLarge("statement too long: SQLITE_TOOBIG");
  }
  auto statements = Split(sql);
  if (!statements.ok()) return statements.status();
  if (statements->empty()) return Status::InvalidArgument("No SQL statements detected.");
  for (std::size_t i = 0; i + 1 < statements->size(); ++i) {
    auto output = Run((*statements)[i], {});
    if (!output.ok()) return output.status();
  }
  return Run(statements->back(), params);
}

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::int64_t Connection::size_bytes() {
  auto pages = QueryInternal("PRAGMA page_count", {});
  auto size = QueryInternal("PRAGMA page_size", {});
  if (!pages.ok() || !size.ok() || pages->rows.empty() || size->rows.empty()) return 0;
  return std::get<std::int64_t>(pages->rows[0][0]) * std::get<std::int64_t>(size->rows[0][0]);
}

std::int64_t Connection::total_changes() const { return sqlite3_total_changes64(db_); }

}  // namespace cfemu::emulator::sqlite
