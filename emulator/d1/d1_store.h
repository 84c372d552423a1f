// The SQLite side of one D1 database: one connection (in memory, or a file in WAL mode), the
// authorizer, D1's limits, a cache of prepared statements keyed by SQL text, and the execution
// of a call — one statement, a batch, an exec line or a REST query — as one transaction. It is
// synchronous and knows nothing of actors, latency or faults (D1Binding adds those).
//
// Invariants:
// - Every call runs as one transaction: it commits entirely or not at all, explicit
//   transactions are refused by the authorizer, and VACUUM (which could write another file)
//   fails as it does inside production's transaction. Calls run inside BEGIN ... COMMIT; a
//   single INSERT/UPDATE/DELETE/SELECT runs in SQLite's own autocommit transaction instead,
//   which has the same effect unless a conflict resolves with FAIL (which keeps a failed
//   statement's earlier rows), so no statement whose text or schema says FAIL takes that path.
// - Results never depend on the wall clock or OS randomness: SQL's 'now' is the database's
//   clock (D1Vfs), random() and randomblob() draw from a seeded stream, and meta.duration is
//   modelled from SQLite VM steps (D1Limits).
// - The commit counter grows by one per committed write transaction and never goes back, also
//   across re-opening a persisted file.
//
// meta.rows_read and meta.rows_written are approximations (SQLite has no per-row counters):
// rows_written counts the table rows the statement inserted, updated or deleted (the update
// hook, so trigger and foreign-key actions count; index entries do not), and at least
// `changes`; rows_read is the largest of the rows returned, the rows a full table scan stepped
// over (SQLITE_STMTSTATUS_FULLSCAN_STEP) and the rows updated or deleted. changed_db is true
// when the call committed a write transaction (a statement that writes ran, even if it changed
// no row). size_after is the page count times the page size, read after each write (in memory:
// after each write that grew the page cache, which every new page does).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "emulator/d1/d1_authorizer.h"
#include "emulator/d1/d1_limits.h"
#include "emulator/d1/d1_vfs.h"
#include "src/core/random.h"
#include "src/core/status.h"
#include "src/platform/d1.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cfemu::emulator {

struct D1StoreOptions {
  std::string database_hex;                   // 32 hex digits: bookmarks name the database.
  std::optional<std::filesystem::path> file;  // Unset: in memory.
  D1Limits limits;
};

// How one call runs, beyond its statements.
struct D1RunOptions {
  // REST semantics: one result per SQL statement of a multi-statement text. Otherwise a text
  // with several statements gives the result of its last one.
  bool per_statement_results = false;
  // Fault D4: statement `fail_at` fails with `failure` after the statements before it ran,
  // and the call rolls back.
  std::optional<std::size_t> fail_at;
  core::Status failure;
};

// Process-wide SQLite settings, applied before the first connection opens (idempotent).
void ConfigureSqliteOnce();

class D1Store {
 public:
  // Opens (creating if needed) the database. `clock` is what SQL's 'now' reads; `random` seeds
  // random() and randomblob(). kUnavailable when the file cannot be opened.
  static core::Result<std::unique_ptr<D1Store>> Open(const core::Clock& clock, core::Random random,
                                                     D1StoreOptions options);
  ~D1Store();
  D1Store(const D1Store&) = delete;
  D1Store& operator=(const D1Store&) = delete;

  // Runs `statements` in order as one transaction: their results, or the first failure with
  // every statement rolled back (checklist 32).
  core::Result<std::vector<platform::D1Result>> Run(
      std::span<const platform::D1PreparedStatement> statements, platform::D1Rows rows,
      const D1RunOptions& options);
  // One statement (a text of several gives its last result): Run() without the vector.
  core::Result<platform::D1Result> RunOne(const platform::D1PreparedStatement& statement,
                                          platform::D1Rows rows);

  // True when `sql` is one statement, already compiled by an earlier call, that SQLite reports
  // read-only (fault D5 retries only those); false for anything else.
  bool IsReadOnly(const std::string& sql);

  std::uint64_t commits() const { return commits_; }
  std::string Bookmark() const;
  const std::string& database_hex() const { return options_.database_hex; }
  const D1Limits& limits() const { return options_.limits; }
  std::int64_t size_bytes() const { return size_bytes_; }

  // Every user table and index as canonical text: schema lines sorted by (type, name), then
  // each table's rows sorted by primary key (rowid when there is none). Tables of SQLite
  // (sqlite_*) and of Cloudflare (_cf_*) are left out.
  core::Result<std::string> Snapshot();
  // PRAGMA integrity_check and foreign_key_check: OK, or kFailedPrecondition with what they
  // report.
  core::Status IntegrityCheck();
  // The database's Durable Object was reset (fault D7): cached statements are forgotten.
  void ForgetStatements();

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;  // Null when the text holds several statements.
    bool sets_pragma = false;      // Sets a per-transaction pragma (restored after the call).
    bool renames_table = false;    // ALTER TABLE: the new name is checked after it ran.
    bool autocommit = false;       // May run in SQLite's autocommit transaction (see .cc).
    std::uint64_t last_used = 0;
  };
  struct SchemaObject {
    std::string type;
    std::string name;
    std::string sql;
  };
  struct Counters {
    std::int64_t inserted = 0;
    std::int64_t updated_or_deleted = 0;
  };
  class Trusted;

  D1Store(const core::Clock& clock, core::Random random, D1StoreOptions options);
  core::Status Configure();
  core::Status ExecTrusted(const char* sql);
  core::Status StepTrusted(sqlite3_stmt* stmt);
  core::Result<std::int64_t> QueryInt(const char* sql);
  core::Status PrepareTrusted();
  core::Status LoadCommitEpoch();
  void RegisterFunctions();

  CachedStatement* Find(const std::string& sql);
  core::Result<CachedStatement*> Lookup(const std::string& sql);
  core::Status PrepareError(int code);
  core::Status RunStatement(const platform::D1PreparedStatement& statement, platform::D1Rows rows,
                            bool per_statement, std::vector<platform::D1Result>& results);
  core::Status RunMulti(const platform::D1PreparedStatement& statement, platform::D1Rows rows,
                        bool per_statement, std::vector<platform::D1Result>& results);
  core::Status Execute(sqlite3_stmt* stmt, std::span<const platform::D1Param> params,
                       platform::D1Rows rows, platform::D1Result& out);
  core::Status CheckPlaceholders(sqlite3_stmt* stmt);
  core::Status Bind(sqlite3_stmt* stmt, std::span<const platform::D1Param> params);
  core::Status StepError(int code);
  core::Status CheckReservedNames();
  // OK or the failure when the statement ran on SQLite's autocommit path; nullopt when it
  // must run inside BEGIN ... COMMIT.
  std::optional<core::Status> RunAutocommit(const platform::D1PreparedStatement& statement,
                                            platform::D1Rows rows, platform::D1Result& out);
  core::Result<std::vector<platform::D1Result>> RunTransaction(
      std::span<const platform::D1PreparedStatement> statements, platform::D1Rows rows,
      const D1RunOptions& options);
  void RefreshSchemaFacts();
  void StartCall();
  void Finish(std::span<platform::D1Result> results, bool changed, std::int64_t size);
  void Rollback();
  void EndCall();
  core::Result<std::vector<SchemaObject>> SchemaObjects();
  std::string PrimaryKeyOrder(const std::string& table);
  core::Status AppendRows(const std::string& table, std::string& out);
  std::int64_t ReadSize();
  bool MayHaveGrown();

  const core::Clock& clock_;
  core::Random random_;
  D1StoreOptions options_;
  D1Vfs vfs_;
  D1Authorizer authorizer_;
  sqlite3* db_ = nullptr;
  // Trusted statements every call uses, prepared once.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* page_count_ = nullptr;
  std::unordered_map<std::string, CachedStatement> cache_;  // Looked up, never iterated for output.
  std::uint64_t cache_clock_ = 0;
  std::uint64_t commits_ = 0;
  std::int64_t size_bytes_ = 0;
  std::int64_t page_size_ = 4096;
  int cache_used_ = -1;  // Page cache bytes when the size was last read (in memory only).
  // Per call: VM steps so far (counted by the progress handler) and the budget.
  std::int64_t steps_ = 0;
  std::int64_t step_budget_ = 0;
  bool budget_exceeded_ = false;
  bool pragma_set_ = false;      // This call set a per-transaction pragma.
  bool schema_has_fail_ = true;  // Some table or trigger may resolve a conflict with FAIL.
  Counters counters_;            // Per statement, from the update hook.
};

}  // namespace cfemu::emulator
