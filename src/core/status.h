// Status and Result: expected failures as values, with the closed list of codes every module
// shares (cpp-contract.md). A Status carries production's error text where production has one,
// and Cloudflare's numeric code (10204, 7003, ...) so that no caller ever parses text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cfemu::core {

// The closed list. No other codes exist; adding one is a contract change.
enum class Code : std::uint8_t {
  kOk,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kTooLarge,
  kResourceExhausted,
  kNotInState,
  kLeaseLost,
  kUnavailable,
  kOverloaded,
  kTimeout,
  kIndeterminate,
  kCancelled,
  kUnrecoverable,
  kDelayed,
  kRateLimited,
  kUnknown,
};

// "kInvalidArgument" -> "invalid_argument": the spelling used in traces, reports and JSON.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK.
  Status(Code code, std::string message, int cf_code = 0)
      : code_(code), cf_code_(cf_code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m, int cf = 0) {
    return {Code::kInvalidArgument, std::move(m), cf};
  }
  static Status NotFound(std::string m, int cf = 0) { return {Code::kNotFound, std::move(m), cf}; }
  static Status AlreadyExists(std::string m, int cf = 0) {
    return {Code::kAlreadyExists, std::move(m), cf};
  }
  static Status FailedPrecondition(std::string m, int cf = 0) {
    return {Code::kFailedPrecondition, std::move(m), cf};
  }
  static Status TooLarge(std::string m, int cf = 0) { return {Code::kTooLarge, std::move(m), cf}; }
  static Status ResourceExhausted(std::string m, int cf = 0) {
    return {Code::kResourceExhausted, std::move(m), cf};
  }
  static Status NotInState(std::string m) { return {Code::kNotInState, std::move(m)}; }
  static Status LeaseLost(std::string m) { return {Code::kLeaseLost, std::move(m)}; }
  static Status Unavailable(std::string m, int cf = 0) {
    return {Code::kUnavailable, std::move(m), cf};
  }
  static Status Overloaded(std::string m, int cf = 0) {
    return {Code::kOverloaded, std::move(m), cf};
  }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status Indeterminate(std::string m) { return {Code::kIndeterminate, std::move(m)}; }
  static Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Status Unrecoverable(std::string m) { return {Code::kUnrecoverable, std::move(m)}; }
  static Status Delayed(std::string m) { return {Code::kDelayed, std::move(m)}; }
  static Status RateLimited(std::string m) { return {Code::kRateLimited, std::move(m)}; }
  static Status Unknown(std::string m, int cf = 0) { return {Code::kUnknown, std::move(m), cf}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int cf_code() const { return cf_code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: Message size out of bounds (10204)", or "ok".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.cf_code_ == b.cf_code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  int cf_code_ = 0;
  std::string message_;
};

namespace internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expression,
                              std::string_view detail);
}  // namespace internal

// Programmer errors: always on, release builds included.
#define CHECK(condition)                                                        \
  do {                                                                          \
    if (!(condition)) [[unlikely]]                                              \
      ::cfemu::core::internal::CheckFailed(__FILE__, __LINE__, #condition, {}); \
  } while (false)

#define CHECK_MSG(condition, detail)                                                  \
  do {                                                                                \
    if (!(condition)) [[unlikely]]                                                    \
      ::cfemu::core::internal::CheckFailed(__FILE__, __LINE__, #condition, (detail)); \
  } while (false)

// A Result holds a T or a non-OK Status. Default-constructed it is kUnknown (Boost 1.74's
// co_spawn needs a default-constructible completion value).
template <class T>
class [[nodiscard]] Result {
 public:
  Result() : status_(Code::kUnknown, "result was never set") {}
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design.
    CHECK_MSG(!status_.ok(), "an OK Result needs a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  Code code() const { return status_.code(); }

  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  void CheckOk() const { CHECK_MSG(ok(), status_.ToString()); }
  Status status_;
  std::optional<T> value_;
};

}  // namespace cfemu::core

// Early returns for Status-returning code (plain and coroutine flavours).
#define CFEMU_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::cfemu::core::Status cfemu_status_ = (expr);  \
    if (!cfemu_status_.ok()) return cfemu_status_; \
  } while (false)

#define CFEMU_CO_RETURN_IF_ERROR(expr)                \
  do {                                                \
    ::cfemu::core::Status cfemu_status_ = (expr);     \
    if (!cfemu_status_.ok()) co_return cfemu_status_; \
  } while (false)
