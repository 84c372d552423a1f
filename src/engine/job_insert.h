// New job rows (T01-T04, T26): what the producer, the flow producer and the job schedulers
// share. A row is prepared in C++ (options merged and validated, placement decided) and
// inserted with `ON CONFLICT (queue, id) DO NOTHING`, its `added` and initial-state events
// written under its add token, so a conflict (duplicate id) changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/engine/engine_context.h"
#include "src/engine/job.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {

struct NewRow {
  std::string id;
  std::string name;
  std::string data;  // Compact JSON text.
  std::string opts;
  Json data_json;
  Json opts_json;
  JobOptions options;
  Placement placement;
  std::int64_t order_key = 0;
  std::int64_t now = 0;
  std::optional<std::string> scheduler_id;
  bool waiting_children = false;  // A flow parent (T04): pending_deps children follow.
  std::int32_t pending_deps = 0;
};

// Merges the queue's default options, validates, serializes and places the row. An id is drawn
// unless options.job_id is set.
core::Result<NewRow> PrepareRow(EngineContext& context, const std::string& queue,
                                const QueueConfig& config, std::string name, Json data,
                                const JobOptions& given, std::int64_t now, bool known_paused);

// B1-B2: one json_each insert of rows without deduplication, and their events. `guard` (SQL
// with its params) must hold for the insert to happen (a scheduler's claim token). A conflict
// on (queue, id) inserts nothing for that row, or, with `fail_on_conflict`, fails the batch (a
// flow tree is all or nothing). Returns nothing: callers select what they need. Dependency
// edges (cfq_deps) are the caller's.
struct InsertGuard {
  std::string sql;  // e.g. "EXISTS (SELECT 1 FROM cfq_schedulers WHERE ...)".
  std::vector<sql::D1Param> params;
};
void AppendInsertRows(sql::Batch& batch, const std::string& queue,
                      const std::vector<const NewRow*>& rows, const std::string& add_token,
                      const InsertGuard* guard = nullptr, bool fail_on_conflict = false);
// B3: seq, id and add_token of the rows of `ids` (in that order).
std::size_t AppendSelectRows(sql::Batch& batch, const std::string& queue,
                             const std::vector<std::string>& ids);
// The job a new row became (gen 1, as this add wrote it), with its seq.
Job JobFromNewRow(const std::string& queue, const NewRow& row, std::int64_t seq);
// The same, moving the row's name, data and opts into the job.
Job JobFromNewRow(const std::string& queue, NewRow&& row, std::int64_t seq);
// The jobs of `rows` from that select: built from the rows this add created (add_token), read
// whole for the others (a duplicate id returns the existing job). In the order of `rows`. The
// rows give up their name, data and opts to the jobs built from them.
core::Task<core::Result<std::vector<Job>>> CollectRows(EngineContext& context, std::string queue,
                                                       std::vector<NewRow*> rows,
                                                       const platform::D1Result& selected,
                                                       std::string add_token);

// After the commit: send the envelopes of the new rows (is_new) that the adder owes, kick the
// coordinator for rows the dispatcher owns. Failures are left to R-LOST and R-DISPATCH.
core::Task<void> DispatchNewRows(EngineContext& context, const QueueConfig& config,
                                 const std::vector<Job>& jobs,
                                 const std::vector<Placement>& placements, std::int64_t now);

}  // namespace cfemu::engine
