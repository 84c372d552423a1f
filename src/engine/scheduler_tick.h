// The cron tick (engine-spec.md §4.15): the backstop of everything the coordinators' alarms and
// the consumers do, set-based across all queues, in a fixed order: (1) job schedulers (R-SCHED),
// (2) promotion of delayed rows due within the horizon (R-PROMOTE), (3) kicks for queues with
// undispatched due rows (R-DISPATCH), (4) lost envelopes (R-LOST, parking rows of paused
// queues), (5) the stall backstop, (6) flow repair (R-FLOW), (7) retention kicks. Overlapping
// ticks are safe: every write is a compare-and-set.
#pragma once

#include <cstdint>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/platform/scheduled.h"

namespace cfemu::engine {

struct TickReport {
  std::int64_t scheduler_jobs = 0;  // Iteration jobs created (T26).
  std::int64_t promoted = 0;        // T06 sends.
  std::int64_t kicked = 0;          // Coordinators kicked (R-DISPATCH).
  std::int64_t redispatched = 0;    // T18.
  std::int64_t extended = 0;        // R-LOST candidates still in the queue's backlog.
  std::int64_t parked = 0;          // Overdue rows of paused queues (T17).
  std::int64_t stalls_checked = 0;  // Active rows past lease_until, confirmed with the DO.
  std::int64_t flows_repaired = 0;
  std::int64_t sweeps_requested = 0;
};

// Rows per statement of one tick step (the tick stays within D1's per-invocation budget).
inline constexpr std::int64_t kTickRowsPerStep = 500;

core::Task<core::Result<TickReport>> RunSchedulerTick(EngineContext& context);

// A Worker's scheduled() handler that runs the tick in each invocation's Env.
platform::ScheduledHandler MakeSchedulerHandler(EngineBindings bindings, EngineConfig config,
                                                core::Random random);

}  // namespace cfemu::engine
