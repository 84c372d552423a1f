// Job schedulers (engine-spec.md §4.9, T26): repeatable jobs by cron pattern or fixed interval,
// with limit, start/end dates, `immediately`, and an explicit missed-fire policy. Each slot
// becomes one job `repeat:<scheduler>:<slot ms>`, claimed by a compare-and-set on the
// scheduler's (next_run_at, version), so concurrent ticks and upserts never fire a slot twice
// (INV-10), and slots are strictly increasing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/core/cron.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/queue.h"

namespace cfemu::engine {

// A scheduler row as the slot arithmetic needs it.
struct SchedulerRow {
  std::string queue;
  std::string id;
  std::string job_name;
  std::string job_data = "{}";
  std::string job_opts = "{}";
  std::optional<std::string> pattern;
  std::string dow_dialect = "bullmq";
  std::optional<std::int64_t> every_ms;
  std::int64_t offset_ms = 0;
  std::optional<std::int64_t> start_at;
  std::optional<std::int64_t> end_at;
  std::optional<std::int64_t> limit;
  std::int64_t iteration_count = 0;
  std::string missed_policy = "skip";
  std::int64_t max_catch_up = 100;
  std::optional<std::int64_t> next_run_at;
  std::optional<std::int64_t> last_run_at;
  std::int64_t missed_count = 0;
  std::int64_t version = 1;
};

// The slot after `after` (strictly later), or none when the pattern never matches again.
std::optional<std::int64_t> NextSlot(const SchedulerRow& row, const core::CronExpr* expr,
                                     std::int64_t after);

// What one claim fires (pure).
struct SlotPlan {
  std::vector<std::int64_t> fire;           // Slots that become jobs now, increasing.
  std::int64_t skipped = 0;                 // Missed slots not fired (skip policy).
  std::optional<std::int64_t> next_run_at;  // None: exhausted (limit, end date, pattern).
  std::optional<std::int64_t> last_run_at;
};
// Slots from row.next_run_at up to now + horizon; those older than now - misfire_grace are
// missed: skip fires only the most recent missed one, catchUp fires up to max_catch_up of them.
SlotPlan PlanSlots(const SchedulerRow& row, const core::CronExpr* expr, std::int64_t now,
                   std::int64_t horizon_ms, std::int64_t misfire_grace_ms);

// R-SCHED for every due scheduler of every unpaused queue; returns the jobs created.
core::Task<core::Result<std::int64_t>> FireDueSchedulers(EngineContext& context);

}  // namespace cfemu::engine
