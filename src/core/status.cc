#include "src/core/status.h"

#include <cstdio>
#include <cstdlib>

namespace cfemu::core {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    case Code::kTooLarge:
      return "too_large";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kNotInState:
      return "not_in_state";
    case Code::kLeaseLost:
      return "lease_lost";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kOverloaded:
      return "overloaded";
    case Code::kTimeout:
      return "timeout";
    case Code::kIndeterminate:
      return "indeterminate";
    case Code::kCancelled:
      return "cancelled";
    case Code::kUnrecoverable:
      return "unrecoverable";
    case Code::kDelayed:
      return "delayed";
    case Code::kRateLimited:
      return "rate_limited";
    case Code::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

namespace internal {
void CheckFailed(const char* file, int line, const char* expression, std::string_view detail) {
  std::fprintf(stderr, "CHECK failed at %s:%d: %s", file, line, expression);
  if (!detail.empty()) {
    std::fprintf(stderr, " (%.*s)", static_cast<int>(detail.size()), detail.data());
  }
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}
}  // namespace internal

}  // namespace cfemu::core
