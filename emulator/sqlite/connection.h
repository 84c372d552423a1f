// One SQLite database as Cloudflare runs them for D1 and for SQLite-backed Durable Objects: a
// connection with production's limits, and an authorizer that applies a policy to statements
// written by users, so that a query can never touch a file outside its database (no ATTACH, no
// load_extension, only D1's pragmas), never control transactions itself, and never touch the
// reserved `_cf_` tables. The emulator's own statements (its tables, its transactions) run
// outside the policy. Values use D1's mapping (platform::D1Value / D1Param).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/limits.h"
#include "src/core/status.h"
#include "src/platform/d1.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cfemu::emulator::sqlite {

struct Limits {
  std::int64_t max_statement_bytes = core::limits::kD1MaxStatementBytes;
  int max_columns = static_cast<int>(core::limits::kD1MaxColumns);
  std::int64_t max_value_bytes = core::limits::kD1MaxValueBytes;
  int max_function_args = static_cast<int>(core::limits::kD1MaxFunctionArgs);
  int max_like_pattern_bytes = static_cast<int>(core::limits::kD1MaxLikePatternBytes);
  int max_bound_parameters = static_cast<int>(core::limits::kD1MaxBoundParameters);
  std::optional<std::int64_t> max_database_bytes;  // Unset: no cap.
};

// What users may do. Denials fail the statement with `transaction_message` (for BEGIN/SAVEPOINT)
// or "not authorized".
struct Policy {
  bool deny_transactions = true;
  std::string transaction_message =
      "To execute a transaction, please use the state.storage.transaction() or "
      "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
      "statements. The JavaScript API is safer because it will automatically roll back on "
      "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
      "write coalescing.";
  // PRAGMA names users may run (lowercase); any other pragma is denied.
  std::set<std::string, std::less<>> allowed_pragmas;
};

// The pragmas D1 and Durable Object SQL accept.
const std::set<std::string, std::less<>>& DefaultAllowedPragmas();

// What one statement produced.
struct Output {
  std::vector<std::string> columns;
  std::vector<std::vector<platform::D1Value>> rows;
  std::int64_t changes = 0;
  std::int64_t last_row_id = 0;
  // D1's model: the most of rows returned, rows stepped by full scans and rows updated or
  // deleted; rows inserted, updated or deleted, by triggers and cascades too.
  std::int64_t rows_read = 0;
  std::int64_t rows_written = 0;
};

class Connection {
 public:
  // In memory without a file; SQLite in WAL mode with one.
  static core::Result<std::unique_ptr<Connection>> Open(
      const std::optional<std::filesystem::path>& file, Limits limits, Policy policy);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The emulator's own statements: no policy, no bindings, no rows.
  core::Status ExecInternal(std::string_view sql);
  // An internal statement with bindings and rows (the emulator's own tables).
  core::Result<Output> QueryInternal(std::string_view sql,
                                     const std::vector<platform::D1Param>& params);

  // A user statement under the policy. `sql` holds exactly one statement (a trailing ';' and
  // whitespace are fine). Errors read as workerd's: "<SQLite's message>: SQLITE_<CODE>";
  // kTooLarge for D1's limits, kResourceExhausted for a full database, else kInvalidArgument.
  core::Result<Output> Run(std::string_view sql, const std::vector<platform::D1Param>& params);
  // User SQL with one or more ';'-separated statements: all but the last run without bindings,
  // the last gets `params`; returns the last one's output.
  core::Result<Output> RunScript(std::string_view sql,
                                 const std::vector<platform::D1Param>& params);
  // Splits `sql` into statements (SQLite's own tokenizer decides where each ends).
  core::Result<std::vector<std::string>> Split(std::string_view sql);

  bool in_transaction() const;
  std::int64_t size_bytes();
  std::int64_t total_changes() const;
  sqlite3* raw() { return db_; }

 private:
  Connection(sqlite3* db, Limits limits, Policy policy);
  static int Authorize(void* self, int action, const char* a, const char* b, const char* c,
                       const char* d);
  core::Result<sqlite3_stmt*> Prepare(std::string_view sql, bool user);
  core::Status Bind(sqlite3_stmt* statement, const std::vector<platform::D1Param>& params);
  core::Result<Output> Step(sqlite3_stmt* statement);
  core::Status Error(std::string_view context);

  sqlite3* db_;
  Limits limits_;
  Policy policy_;
  bool user_statement_ = false;  // The authorizer applies the policy only then.
  std::string denial_;           // Why the authorizer denied the last statement.
  std::int64_t inserted_ = 0;    // Rows the running statement inserted...
  std::int64_t updated_or_deleted_ = 0;  // ...and updated or deleted (the update hook).
  static constexpr std::size_t kMaxCachedStatements = 256;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;  // Prepared statements by text.
};

}  // namespace cfemu::emulator::sqlite
