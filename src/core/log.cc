#include "src/core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace cfemu::core {

namespace internal {
LogLevel g_log_level = LogLevel::kWarn;
}  // namespace internal

namespace {

spdlog::logger& Logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("cfemu");
    l->set_pattern("[%l] %v");
    l->set_level(spdlog::level::trace);  // Filtering happens in LogEnabled().
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "trace") return LogLevel::kTrace;
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  if (text == "off") return LogLevel::kOff;
  return Status::InvalidArgument("unknown log level '" + std::string(text) +
                                 "' (expected trace, debug, info, warn, error or off)");
}

void SetLogLevel(LogLevel level) { internal::g_log_level = level; }
LogLevel GetLogLevel() { return internal::g_log_level; }

void LogMessage(LogLevel level, std::string_view text) { Logger().log(ToSpd(level), text); }

}  // namespace cfemu::core
