// Logging through spdlog, to stderr. Quiet by default (warnings and errors only); the CLI's
// --log-level raises it. Hot paths test LogEnabled() first (CFEMU_LOG does), so a disabled level
// costs one comparison. spdlog stays out of headers.
#pragma once

#include <string_view>

#include <fmt/format.h>

#include "src/core/status.h"

namespace cfemu::core {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// "trace", "debug", "info", "warn", "error", "off".
Result<LogLevel> ParseLogLevel(std::string_view text);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
inline bool LogEnabled(LogLevel level);
void LogMessage(LogLevel level, std::string_view text);

namespace internal {
extern LogLevel g_log_level;
}  // namespace internal

inline bool LogEnabled(LogLevel level) { return level >= internal::g_log_level; }

}  // namespace cfemu::core

#define CFEMU_LOG(level, ...)                                         \
  do {                                                                \
    if (::cfemu::core::LogEnabled(level))                             \
      ::cfemu::core::LogMessage((level), ::fmt::format(__VA_ARGS__)); \
  } while (false)
#define CFEMU_LOG_DEBUG(...) CFEMU_LOG(::cfemu::core::LogLevel::kDebug, __VA_ARGS__)
#define CFEMU_LOG_INFO(...) CFEMU_LOG(::cfemu::core::LogLevel::kInfo, __VA_ARGS__)
#define CFEMU_LOG_WARN(...) CFEMU_LOG(::cfemu::core::LogLevel::kWarn, __VA_ARGS__)
