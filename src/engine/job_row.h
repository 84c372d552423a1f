// Reading cfq_jobs rows into Job values. Every statement that returns whole rows selects
// kJobColumns in this order, so a row is read by position, not by name (the claim path reads one
// per job).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "src/engine/job.h"
#include "src/platform/d1.h"

namespace cfemu::engine {

inline constexpr std::string_view kJobColumns =
    "seq, queue, id, name, data, opts, state, priority, lifo, group_key, gen, available_at, "
    "dispatch_at, lost_count, attempts_max, attempts_started, attempts_made, stalled_count, "
    "epoch, discarded, dead_lettered, progress, result, failed_reason, stacktrace, lease_until, "
    "parent_queue, parent_id, parent_policy, pending_deps, dedup_id, scheduler_id, created_at, "
    "processed_at, finished_at";
inline constexpr std::size_t kJobColumnCount = 35;

// kJobColumns with every column qualified by the alias "c" ("c.seq, c.queue, ..."), for joins
// with json_each (whose `id` column would otherwise be ambiguous).
const std::string& QualifiedJobColumns();

// REQUIRES: values[first ... first + kJobColumnCount) are kJobColumns in order.
Job JobFromValues(const std::vector<platform::D1Value>& values, std::size_t first = 0);
inline Job JobFromRow(const platform::D1Row& row) { return JobFromValues(row.values); }

ParentPolicy ParentPolicyFromName(std::string_view name);

}  // namespace cfemu::engine
