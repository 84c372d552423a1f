// Cron Triggers as a Worker sees them (cloudflare-platform.md §5): the `scheduled` handler and
// its controller. The cron expression parser is pure and lives in src/core/cron.h; the trigger
// that fires on the (virtual) clock is emulator/cron.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"
#include "src/platform/queue.h"

namespace cfemu::platform {

// Passed non-const: NoRetry() changes it.
class ScheduledController {
 public:
  ScheduledController(std::string cron, core::Instant scheduled_time)
      : cron_(std::move(cron)), scheduled_time_(scheduled_time) {}

  // The expression exactly as configured.
  const std::string& cron() const { return cron_; }
  // The scheduled minute (not the actual start time, which a late tick may delay).
  core::Instant scheduled_time() const { return scheduled_time_; }
  std::string_view type() const { return "scheduled"; }
  // Do not retry this invocation if it fails.
  void NoRetry() { no_retry_ = true; }
  bool no_retry() const { return no_retry_; }

 private:
  std::string cron_;
  core::Instant scheduled_time_;
  bool no_retry_ = false;
};

class Env;

// A non-OK status (or an escaped exception) is a failed run.
using ScheduledHandler =
    std::function<core::Task<core::Status>(ScheduledController&, Env&, ExecutionContext&)>;

}  // namespace cfemu::platform
