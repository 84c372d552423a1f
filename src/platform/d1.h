// Cloudflare D1 as a Worker sees it (cloudflare-platform.md §2; C++ spellings in cpp-contract.md):
// prepare/bind/run/all/first/raw on immutable statements, batch (one transaction that rolls
// back entirely), exec, dump, sessions with bookmarks. Interfaces only; emulator/d1 implements
// them on SQLite.
//
// Values: D1Value = null | 64-bit integer | double | text | blob. Integers keep their full 64-bit
// precision in C++ (JS rounds above 2^53; the REST API answers with JSON numbers as production
// does). Errors carry production's prefixes in their message: "D1_ERROR: ...",
// "D1_TYPE_ERROR: ...", "D1_COLUMN_NOTFOUND: ...", "D1_EXEC_ERROR: ...", "D1_SESSION_ERROR: ...".
#pragma once

#include <cstdint>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/bytes.h"
#include "src/core/status.h"
#include "src/core/task.h"

namespace cfemu::platform {

using core::Bytes;
using core::Result;
using core::Status;
using core::Task;

// A value read from or stored in D1.
using D1Value = std::variant<std::nullptr_t, std::int64_t, double, std::string, Bytes>;

// A value bound to a placeholder: what JavaScript may pass to bind(). Booleans bind as 0/1; a
// number with an integral value binds as INTEGER, any other number as REAL (JS has one number
// type). A Json binds if it is null, a boolean, a number, a string, or an array of integers
// 0...255 (a BLOB, as workerd converts byte arrays); nlohmann's discarded value (JS undefined),
// objects and other arrays are rejected with D1_TYPE_ERROR, as production does.
using D1Param =
    std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Bytes, nlohmann::json>;

// One result row: its values in the statement's column order, and the column names (shared by
// every row of a result, so a row costs no copy of them).
class D1Row {
 public:
  D1Row() = default;
  D1Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<D1Value> values)
      : values(std::move(values)), columns_(std::move(columns)) {}
  D1Row(std::vector<std::string> columns, std::vector<D1Value> values)
      : values(std::move(values)),
        columns_(std::make_shared<const std::vector<std::string>>(std::move(columns))) {}

  // Empty for rows returned as arrays.
  const std::vector<std::string>& columns() const {
    static const std::vector<std::string> kNone;
    return columns_ ? *columns_ : kNone;
  }
  // The value of `column`, or null when the row has no such column. When several result
  // columns share the name, the last one wins, as in the row objects production builds.
  const D1Value* Get(std::string_view column) const {
    const auto& names = columns();
    for (std::size_t i = std::min(names.size(), values.size()); i > 0; --i) {
      if (names[i - 1] == column) return &values[i - 1];
    }
    return nullptr;
  }

  std::vector<D1Value> values;

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
};

// `meta` of a D1 result (cloudflare-platform.md §2.2).
struct D1Meta {
  double duration = 0;  // Milliseconds of SQL execution.
  std::int64_t changes = 0;
  std::int64_t last_row_id = 0;
  bool changed_db = false;
  std::int64_t size_after = 0;  // Bytes.
  std::int64_t rows_read = 0;
  std::int64_t rows_written = 0;
  // Where the query ran: static text (one primary, no replicas), so a result moves cheaply.
  std::string_view served_by = "cfemu";
  std::string_view served_by_region = "WNAM";
  std::string_view served_by_colo = "LOCAL";
  bool served_by_primary = true;
  double sql_duration_ms = 0;  // timings.sql_duration_ms
  int total_attempts = 1;      // Read-only queries may be retried (fault D5).
};

struct D1Result {
  bool success = true;
  std::vector<std::string> columns;  // The statement's result columns, even with no rows.
  std::vector<D1Row> results;        // Empty for writes without RETURNING.
  D1Meta meta;
};

struct D1ExecResult {
  std::int64_t count = 0;  // Statements executed.
  double duration = 0;     // Milliseconds, summed.
};

class D1Database;

// An immutable prepared statement. Prepare() does no I/O and compiles nothing: SQL errors
// surface when the statement runs, as in production. Bind() returns a new statement and leaves
// this one unchanged; a value D1 cannot bind makes every later execution of the new statement
// fail with D1_TYPE_ERROR (status() tells at once).
//
// The SQL text and the bound values are immutable and shared between copies, so copying a
// statement into each call costs two reference counts, not a copy of its text and values.
class D1PreparedStatement {
 public:
  D1PreparedStatement(D1Database* database, std::string sql)
      : database_(database), sql_(std::make_shared<const std::string>(std::move(sql))) {}

  const std::string& sql() const { return *sql_; }
  const std::vector<D1Param>& params() const { return params_ ? *params_ : NoParams(); }
  // OK, or the D1_TYPE_ERROR a bound value will raise.
  const Status& status() const { return status_; }

  D1PreparedStatement Bind(std::vector<D1Param> params) const;
  template <class... Args>
  D1PreparedStatement Bind(Args&&... args) const {
    std::vector<D1Param> params;
    params.reserve(sizeof...(Args));
    (params.emplace_back(ToParam(std::forward<Args>(args))), ...);
    return Bind(std::move(params));
  }

  Task<Result<D1Result>> Run() const;
  Task<Result<D1Result>> All() const;
  // The first row, or nullopt when there is none. Does not add LIMIT 1.
  Task<Result<std::optional<D1Row>>> First() const;
  // The value of `column` in the first row; null when there are no rows;
  // "D1_COLUMN_NOTFOUND: Column not found (<column>)" when rows exist without that column.
  Task<Result<D1Value>> First(std::string column) const;
  // Rows as arrays; with column_names the first array holds the column names (as text).
  Task<Result<std::vector<std::vector<D1Value>>>> Raw(bool column_names = false) const;

 private:
  template <class T>
  static D1Param ToParam(T&& value) {
    using V = std::decay_t<T>;
    if constexpr (std::is_same_v<V, const char*> || std::is_same_v<V, char*>) {
      return D1Param(std::string(value));
    } else if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
      return D1Param(static_cast<std::int64_t>(value));
    } else if constexpr (std::is_floating_point_v<V>) {
      return D1Param(static_cast<double>(value));
    } else {
      return D1Param(std::forward<T>(value));
    }
  }

  D1PreparedStatement(D1Database* database, std::shared_ptr<const std::string> sql)
      : database_(database), sql_(std::move(sql)) {}
  static const std::vector<D1Param>& NoParams() {
    static const std::vector<D1Param> none;
    return none;
  }

  D1Database* database_;
  std::shared_ptr<const std::string> sql_;              // Never null.
  std::shared_ptr<const std::vector<D1Param>> params_;  // Null: none bound.
  Status status_;
};

// How a statement's rows come back (used by the statement's methods).
enum class D1Rows { kObjects, kArrays, kArraysWithNames };

class D1DatabaseSession;

// The binding (`env.DB`). Plain calls always go to the primary and expose no bookmark.
class D1Database {
 public:
  virtual ~D1Database() = default;

  D1PreparedStatement Prepare(std::string sql) { return D1PreparedStatement(this, std::move(sql)); }

  // Runs the statements in order as one transaction: any failure rolls all of them back and
  // returns that statement's error. `label` (not SQL: an actor, a fencing token) goes into the
  // trace event `d1.batch`.
  virtual Task<Result<std::vector<D1Result>>> Batch(std::vector<D1PreparedStatement> statements,
                                                    std::string label = std::string()) = 0;
  // One statement per line, no bindings; the first failing line aborts the rest with
  // "D1_EXEC_ERROR: Error in line N: <line>: <message>".
  virtual Task<Result<D1ExecResult>> Exec(std::string sql) = 0;
  // Fails as on current production databases (dump() exists only for alpha-era ones).
  virtual Task<Result<Bytes>> Dump() = 0;
  // "first-primary", "first-unconstrained" (also the default, empty) or a bookmark; anything
  // else: D1_SESSION_ERROR.
  virtual Result<std::unique_ptr<D1DatabaseSession>> WithSession(std::string constraint) = 0;

  // Test and checker access, no latency and no faults: every user table as canonical text, rows
  // sorted by primary key (by rowid where there is none).
  virtual Result<std::string> SnapshotForTest() = 0;

  // Executes one statement; the statement's methods call this.
  virtual Task<Result<D1Result>> Execute(D1PreparedStatement statement, D1Rows rows) = 0;
};

// A session: reads and writes carry a bookmark so that they see at least what the session has
// seen. getBookmark() returns the latest (lexicographically greatest) bookmark.
class D1DatabaseSession {
 public:
  virtual ~D1DatabaseSession() = default;
  virtual D1Database& database() = 0;  // Prepare() and Batch() within the session.
  virtual std::optional<std::string> GetBookmark() const = 0;
};

// ---- D1PreparedStatement methods ---------------------------------------------------------
// None of them is itself a coroutine: each copies the statement into the call first, so a task
// made from a temporary statement stays valid.

namespace internal {

// How JavaScript's template literal prints a value (`${value}`), for D1_TYPE_ERROR's text:
// objects print as "[object Object]", arrays as their elements joined by commas.
inline std::string JsString(const nlohmann::json& value) {
  if (value.is_discarded()) return "undefined";
  if (value.is_null()) return "null";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) return "[object Object]";
  if (value.is_array()) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ',';
      // Inside an array JavaScript prints null (and undefined) as the empty string.
      if (!value[i].is_null()) out += JsString(value[i]);
    }
    return out;
  }
  return value.dump();
}

// An array whose elements are all integers 0...255 binds as a BLOB, as workerd's bind() does.
inline std::optional<Bytes> ByteArray(const nlohmann::json& value) {
  if (!value.is_array()) return std::nullopt;
  Bytes bytes;
  bytes.reserve(value.size());
  for (const auto& element : value) {
    if (!element.is_number_integer() && !element.is_number_unsigned()) return std::nullopt;
    const auto n = element.get<std::int64_t>();
    if (n < 0 || n > 255) return std::nullopt;
    bytes.push_back(static_cast<std::uint8_t>(n));
  }
  return bytes;
}

}  // namespace internal

inline D1PreparedStatement D1PreparedStatement::Bind(std::vector<D1Param> params) const {
  D1PreparedStatement bound(database_, sql_);
  for (auto& param : params) {
    auto* json = std::get_if<nlohmann::json>(&param);
    if (json == nullptr || json->is_null() || json->is_boolean() || json->is_number() ||
        json->is_string()) {
      continue;
    }
    if (auto bytes = internal::ByteArray(*json)) {
      param = std::move(*bytes);
      continue;
    }
    if (!bound.status_.ok()) continue;  // The first offending value names the error.
    const std::string type = json->is_discarded() ? "undefined" : "object";
    bound.status_ =
        Status::InvalidArgument("D1_TYPE_ERROR: Type '" + type + "' not supported for value '" +
                                internal::JsString(*json) + "'");
  }
  bound.params_ = std::make_shared<const std::vector<D1Param>>(std::move(params));
  return bound;
}

inline Task<Result<D1Result>> D1PreparedStatement::Run() const {
  return database_->Execute(*this, D1Rows::kObjects);
}

inline Task<Result<D1Result>> D1PreparedStatement::All() const {
  return database_->Execute(*this, D1Rows::kObjects);
}

namespace internal {

inline Task<Result<std::optional<D1Row>>> FirstRow(D1PreparedStatement statement) {
  auto result = co_await statement.All();
  if (!result.ok()) co_return result.status();
  if (result->results.empty()) co_return std::optional<D1Row>();
  co_return std::optional<D1Row>(std::move(result->results.front()));
}

inline Task<Result<D1Value>> FirstValue(D1PreparedStatement statement, std::string column) {
  auto result = co_await statement.All();
  if (!result.ok()) co_return result.status();
  if (result->results.empty()) co_return D1Value(nullptr);
  const D1Value* value = result->results.front().Get(column);
  if (value == nullptr) {
    co_return Status::InvalidArgument("D1_COLUMN_NOTFOUND: Column not found (" + column + ")");
  }
  co_return *value;
}

inline Task<Result<std::vector<std::vector<D1Value>>>> RawRows(D1Database* database,
                                                               D1PreparedStatement statement,
                                                               bool column_names) {
  auto result = co_await database->Execute(
      statement, column_names ? D1Rows::kArraysWithNames : D1Rows::kArrays);
  if (!result.ok()) co_return result.status();
  std::vector<std::vector<D1Value>> rows;
  rows.reserve(result->results.size() + 1);
  if (column_names) {  // The names come back even when there are no rows.
    std::vector<D1Value> names;
    for (const auto& name : result->columns) names.emplace_back(name);
    rows.push_back(std::move(names));
  }
  for (auto& row : result->results) rows.push_back(std::move(row.values));
  co_return rows;
}

}  // namespace internal

inline Task<Result<std::optional<D1Row>>> D1PreparedStatement::First() const {
  return internal::FirstRow(*this);
}

inline Task<Result<D1Value>> D1PreparedStatement::First(std::string column) const {
  return internal::FirstValue(*this, std::move(column));
}

inline Task<Result<std::vector<std::vector<D1Value>>>> D1PreparedStatement::Raw(
    bool column_names) const {
  return internal::RawRows(database_, *this, column_names);
}

}  // namespace cfemu::platform
