// D1's error texts and how SQLite's errors become Statuses. Every binding error carries
// production's prefix: D1_ERROR, D1_TYPE_ERROR, D1_COLUMN_NOTFOUND, D1_EXEC_ERROR,
// D1_SESSION_ERROR or D1_DUMP_ERROR (checklist 39). A SQLite error reads as production prints
// it: "D1_ERROR: <sqlite message>: SQLITE_<CODE>", with " (extended: SQLITE_<CODE>_<DETAIL>)"
// when SQLite gave an extended code, and carries Cloudflare's code 7500.
//
// Codes (the closed list of cpp-contract.md):
// - constraint violations (UNIQUE, CHECK, NOT NULL, FOREIGN KEY, RAISE in a trigger):
//   kFailedPrecondition, because the statement is valid and the data's state refuses it;
// - size and count limits (SQLITE_TOOBIG, and the limits SQLite reports as plain errors: too
//   many columns, SQL variables or function arguments, a LIKE pattern too long): kTooLarge;
// - a full database (SQLITE_FULL, the size cap): kResourceExhausted;
// - every other SQL error (syntax, unknown table, denied by the authorizer): kInvalidArgument;
// - the modelled 30 s limit: kTimeout; I/O-level failures: kUnavailable.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "src/core/status.h"

namespace cfemu::emulator::d1_errors {

// Cloudflare's code for a failed D1 query in the v4 API.
inline constexpr int kQueryErrorCode = 7500;

// "SQLITE_CONSTRAINT_UNIQUE" for an extended or primary result code; "SQLITE_UNKNOWN" else.
std::string_view SqliteCodeName(int code);

// The Status for a failed SQLite call: `code` is the extended result code, `message` the text
// of sqlite3_errmsg().
core::Status FromSqlite(int code, std::string_view message);

// The text after "D1_ERROR: " of a Status built by this module (what exec() quotes).
std::string_view Detail(const core::Status& status);

// ---- Production's texts --------------------------------------------------------------------
inline constexpr std::string_view kPrefix = "D1_ERROR: ";

// workerd refuses BEGIN, COMMIT, ROLLBACK and SAVEPOINT with this text (Durable Object
// wording, which D1 shows too).
inline constexpr std::string_view kTransactionRefused =
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing.";
inline constexpr std::string_view kNoStatements = "No SQL statements detected.";
inline constexpr std::string_view kWrongParameterCount =
    "Wrong number of parameter bindings for SQL query.";
inline constexpr std::string_view kOnlyLastStatementParameters =
    "When executing multiple SQL statements in a single call, only the last statement can "
    "have parameters.";
inline constexpr std::string_view kNamedParameters =
    "Named parameters are not supported; use ? or ?NNN placeholders";
inline constexpr std::string_view kCpuLimit = "D1 DB exceeded its CPU time limit and was reset.";
inline constexpr std::string_view kTooManyQueries =
    "Too many API requests by single worker invocation.";
inline constexpr std::string_view kSessionError =
    "D1_SESSION_ERROR: invalid bookmark or constraint";
// dump() exists only for alpha-era databases; current ones answer HTTP 400, which workerd's
// binding reports with this text.
inline constexpr std::string_view kDumpError = "D1_DUMP_ERROR: Status + 400";

// The documented retryable errors (debug-d1 "List of D1_ERRORs"): fault D1.
inline constexpr std::array<std::string_view, 6> kRetryable = {
    "Network connection lost.",
    "D1 DB reset because its code was updated.",
    "Internal error in D1 DB storage caused object to be reset.",
    "Cannot resolve D1 DB due to transient issue on remote node.",
    "Internal error while starting up D1 DB storage caused object to be reset.",
    "Can't read from request stream because client disconnected.",
};
// The reply of a committed write was lost: fault D2.
inline constexpr std::string_view kReplyLost = "Network connection lost.";
// Queued too long or rejected: fault D3.
inline constexpr std::string_view kQueuedTooLong =
    "D1 DB is overloaded. Requests queued for too long.";
inline constexpr std::string_view kStorageTimeout =
    "D1 DB storage operation exceeded timeout which caused object to be reset.";
inline constexpr std::string_view kTooManyQueued = "D1 DB is overloaded. Too many requests queued.";
// The database's Durable Object was reset between two calls: fault D7.
inline constexpr std::array<std::string_view, 3> kObjectReset = {
    "D1 DB reset because its code was updated.",
    "D1 DB's isolate exceeded its memory limit and was reset.",
    "D1 DB exceeded its CPU time limit and was reset.",
};

// "D1_ERROR: <text>" with the given code.
core::Status D1Error(core::Code code, std::string_view text, int cf_code = 0);

}  // namespace cfemu::emulator::d1_errors
