// The limits of one D1 database (cloudflare-platform.md §2.5; values and sources in
// core/limits.h). Paid plan by default; tests lower a limit to reach its edge cheaply.
//
// Virtual time does not move while SQL runs, so the 30 s query limit is modelled as a budget
// of SQLite virtual-machine steps: one millisecond of query time is `vm_steps_per_ms` steps,
// and a call (a statement, a batch, an exec line, a REST query) that runs more than
// max_query_duration's worth of steps is interrupted. meta.duration reports the same model
// (steps / vm_steps_per_ms), so it is deterministic and never reads a clock.
#pragma once

#include <cstdint>

#include "src/core/limits.h"
#include "src/core/time.h"

namespace cfemu::emulator {

struct D1Limits {
  std::int64_t max_bound_parameters = core::limits::kD1MaxBoundParameters;
  std::int64_t max_statement_bytes = core::limits::kD1MaxStatementBytes;
  std::int64_t max_columns = core::limits::kD1MaxColumns;
  std::int64_t max_value_bytes = core::limits::kD1MaxValueBytes;  // String, BLOB or row.
  std::int64_t max_function_args = core::limits::kD1MaxFunctionArgs;
  std::int64_t max_like_pattern_bytes = core::limits::kD1MaxLikePatternBytes;
  std::int64_t max_database_bytes = core::limits::kD1MaxDatabaseBytesPaid;
  std::int64_t queries_per_invocation = core::limits::kD1QueriesPerInvocationPaid;
  core::Duration max_query_duration = core::limits::kD1MaxQueryDuration;
  // About the speed of SQLite's VM on one core (100 million steps per second): at this rate a
  // query that would run 30 s in production runs tens of seconds of real CPU here too.
  std::int64_t vm_steps_per_ms = 100'000;

  // The free plan: 500 MB databases, 50 queries per invocation.
  static D1Limits Free() {
    D1Limits limits;
    limits.max_database_bytes = core::limits::kD1MaxDatabaseBytesFree;
    limits.queries_per_invocation = core::limits::kD1QueriesPerInvocationFree;
    return limits;
  }
};

}  // namespace cfemu::emulator
