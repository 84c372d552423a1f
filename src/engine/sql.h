// Small helpers at the SQL boundary of the engine: reading D1 values, binding optional values,
// and building one D1 batch whose statements are referred to by index. Raw `_ms` integers live
// only here and in the statements; the rest of the engine speaks Instant and Duration where it
// can.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/trace.h"
#include "src/platform/d1.h"

namespace cfemu::engine::sql {

using platform::D1Param;
using platform::D1Value;

inline bool IsNull(const D1Value& value) { return std::holds_alternative<std::nullptr_t>(value); }

inline std::int64_t Int(const D1Value& value, std::int64_t fallback = 0) {
  if (const auto* n = std::get_if<std::int64_t>(&value)) return *n;
  if (const auto* d = std::get_if<double>(&value)) return static_cast<std::int64_t>(*d);
  return fallback;
}

inline std::optional<std::int64_t> OptInt(const D1Value& value) {
  if (IsNull(value)) return std::nullopt;
  return Int(value);
}

inline std::string Str(const D1Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* n = std::get_if<std::int64_t>(&value)) return std::to_string(*n);
  return std::string();
}

inline std::optional<std::string> OptStr(const D1Value& value) {
  if (IsNull(value)) return std::nullopt;
  return Str(value);
}

// A TEXT column holding JSON; NULL and unparsable text read as null.
inline nlohmann::json JsonOf(const D1Value& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return nullptr;
  return nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
}

inline D1Param Nullable(const std::optional<std::int64_t>& value) {
  return value ? D1Param(*value) : D1Param(nullptr);
}
inline D1Param Nullable(const std::optional<std::string>& value) {
  return value ? D1Param(*value) : D1Param(nullptr);
}

// Compact JSON text with non-ASCII kept as is; invalid UTF-8 is replaced, never thrown.
inline std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON array for json_each(?), written as text element by element: a wave's ids and
// [id, gen, ...] rows without a Json tree that is built only to be dumped.
class JsonList {
 public:
  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  // Appends the string `value`.
  void Add(std::string_view value) {
    Next();
    core::AppendJsonString(text_, value);
  }
  // Appends the array [id, numbers...].
  void AddRow(std::string_view id, std::initializer_list<std::int64_t> numbers) {
    Next();
    text_.push_back('[');
    core::AppendJsonString(text_, id);
    for (std::int64_t n : numbers) {
      text_.push_back(',');
      text_ += std::to_string(n);
    }
    text_.push_back(']');
  }
  // The array's text.
  std::string Text() const { return text_ + ']'; }

 private:
  void Next() {
    if (count_++ > 0) text_.push_back(',');
  }
  std::string text_ = "[";
  std::size_t count_ = 0;
};

// The statements of one D1 batch (one transaction). Add() returns the statement's index in
// the results of Run().
class Batch {
 public:
  explicit Batch(platform::D1Database& db) : db_(&db) {}

  template <class... Args>
  std::size_t Add(std::string sql, Args&&... args) {
    statements_.push_back(db_->Prepare(std::move(sql)).Bind(std::forward<Args>(args)...));
    return statements_.size() - 1;
  }
  std::size_t AddParams(std::string sql, std::vector<D1Param> params) {
    statements_.push_back(db_->Prepare(std::move(sql)).Bind(std::move(params)));
    return statements_.size() - 1;
  }
  // Moves the statements of `other` to the end of this batch; returns the offset of its first.
  std::size_t Append(Batch&& other) {
    const std::size_t offset = statements_.size();
    for (auto& statement : other.statements_) statements_.push_back(std::move(statement));
    other.statements_.clear();
    return offset;
  }
  bool empty() const { return statements_.empty(); }
  std::size_t size() const { return statements_.size(); }
  core::Task<core::Result<std::vector<platform::D1Result>>> Run(std::string label) {
    return db_->Batch(std::move(statements_), std::move(label));
  }

 private:
  platform::D1Database* db_;
  std::vector<platform::D1PreparedStatement> statements_;
};

// The SQL list of dispatchable states, for `state IN (...)`.
inline constexpr std::string_view kDispatchable = "('waiting','delayed','prioritized')";

}  // namespace cfemu::engine::sql
