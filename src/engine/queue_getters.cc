// Queue getters (engine-spec.md §2, §4.14, §5): jobs, pages, counts, metrics, logs, flow
// dependencies, dead letters. Reads only; none of them needs a lease.
#include <algorithm>

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/job_row.h"
#include "src/engine/queue.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

Task<Result<std::optional<Job>>> Queue::GetJob(std::string id) {
  auto row = co_await context_->db
                 ->Prepare("SELECT " + std::string(kJobColumns) +
                           " FROM cfq_jobs WHERE queue = ? AND id = ?")
                 .Bind(name_, id)
                 .First();
  if (!row.ok()) co_return SchemaMissingOr(row.status());
  if (!*row) co_return std::optional<Job>();
  co_return std::optional<Job>(JobFromRow(**row));
}

Task<Result<std::string>> Queue::GetJobState(std::string id) {
  auto state =
      co_await context_->db->Prepare("SELECT state FROM cfq_jobs WHERE queue = ? AND id = ?")
          .Bind(name_, id)
          .First(std::string("state"));
  if (!state.ok()) co_return SchemaMissingOr(state.status());
  if (sql::IsNull(*state)) co_return std::string("unknown");
  co_return sql::Str(*state);
}

namespace {

// How a state's page is ordered: the key column and whether it descends (before `asc`).
struct Order {
  std::string key;
  bool descending = false;
};

Order OrderOf(JobState state) {
  switch (state) {
    case JobState::kWaiting:
    case JobState::kPrioritized:
      return {"priority", false};
    case JobState::kDelayed:
      return {"available_at", false};
    case JobState::kActive:
      return {"coalesce(processed_at, 0)", false};
    case JobState::kCompleted:
    case JobState::kFailed:
      return {"finished_at", true};
    case JobState::kWaitingChildren:
      return {"seq", false};
  }
  return {"seq", false};
}

// The cursor: "<state index>:<key>:<seq>" of the last row returned.
struct Cursor {
  std::size_t type = 0;
  std::int64_t key = 0;
  std::int64_t seq = 0;
};

std::optional<Cursor> ParseCursor(const std::string& text) {
  Cursor c;
  const auto a = text.find(':');
  const auto b = text.find(':', a == std::string::npos ? 0 : a + 1);
  if (a == std::string::npos || b == std::string::npos) return std::nullopt;
  try {
    c.type = static_cast<std::size_t>(std::stoull(text.substr(0, a)));
    c.key = std::stoll(text.substr(a + 1, b - a - 1));
    c.seq = std::stoll(text.substr(b + 1));
  } catch (...) {
    return std::nullopt;
  }
  return c;
}

std::int64_t KeyOf(const Job& job, JobState state) {
  switch (state) {
    case JobState::kWaiting:
    case JobState::kPrioritized:
      return job.priority;
    case JobState::kDelayed:
      return job.available_at;
    case JobState::kActive:
      return job.processed_on.value_or(0);
    case JobState::kCompleted:
    case JobState::kFailed:
      return job.finished_on.value_or(0);
    case JobState::kWaitingChildren:
      return job.seq;
  }
  return job.seq;
}

// The id-prefix range's upper bound: the prefix with its last byte incremented.
std::optional<std::string> PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    const auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

}  // namespace

Task<Result<JobPage>> Queue::GetJobs(JobQuery query) {
  std::vector<JobState> types = query.types;
  if (types.empty()) types.assign(std::begin(kAllJobStates), std::end(kAllJobStates));
  if (query.start < 0) co_return Status::InvalidArgument("getJobs: start must be >= 0");
  std::optional<Cursor> cursor;
  if (query.cursor) {
    cursor = ParseCursor(*query.cursor);
    if (!cursor || cursor->type >= types.size()) {
      co_return Status::InvalidArgument("getJobs: malformed cursor");
    }
  }
  const std::int64_t wanted =
      query.end < 0 ? INT64_MAX : std::max<std::int64_t>(0, query.end - query.start + 1);
  std::int64_t skip = cursor ? 0 : query.start;
  JobPage page;
  for (std::size_t t = cursor ? cursor->type : 0; t < types.size(); ++t) {
    const std::int64_t room = wanted - static_cast<std::int64_t>(page.jobs.size());
    if (room <= 0) {
      break;
    }
    const JobState state = types[t];
    const Order order = OrderOf(state);
    const bool descending = order.descending != query.asc && IsFinished(state);
    const char* dir = descending ? "DESC" : "ASC";
    std::string where = "queue = ? AND state = ?";
    std::vector<D1Param> params{name_, std::string(JobStateName(state))};
    if (query.name) {
      where += " AND name = ?";
      params.emplace_back(*query.name);
    }
    if (query.id_prefix && !query.id_prefix->empty()) {
      where += " AND id >= ?";
      params.emplace_back(*query.id_prefix);
      if (auto end = PrefixEnd(*query.id_prefix)) {
        where += " AND id < ?";
        params.emplace_back(*end);
      }
    }
    if (cursor && t == cursor->type) {
      where += std::string(" AND (") + order.key + ", seq) " + (descending ? "<" : ">") + " (?, ?)";
      params.emplace_back(cursor->key);
      params.emplace_back(cursor->seq);
    }
    const std::string order_by = " ORDER BY " + order.key + " " + dir + ", seq " + dir;
    std::string sql_text;
    const std::int64_t limit = room == INT64_MAX ? -1 : room + skip;
    if (query.data_contains) {
      // instr() over at most scan_limit rows of the ordered index (no LIKE: D1 limits patterns).
      sql_text = "SELECT * FROM (SELECT " + std::string(kJobColumns) + " FROM cfq_jobs WHERE " +
                 where + order_by + " LIMIT ?) WHERE instr(data, ?) > 0 LIMIT ?";
      params.emplace_back(query.scan_limit);
      params.emplace_back(*query.data_contains);
      params.emplace_back(limit);
    } else {
      sql_text = "SELECT " + std::string(kJobColumns) + " FROM cfq_jobs WHERE " + where + order_by +
                 " LIMIT ?";
      params.emplace_back(limit);
    }
    auto rows = co_await context_->db->Prepare(sql_text).Bind(std::move(params)).All();
    if (!rows.ok()) co_return SchemaMissingOr(rows.status());
    if (query.data_contains) {
      auto scanned = co_await context_->db
                         ->Prepare(
                             "SELECT count(*) FROM (SELECT 1 FROM cfq_jobs WHERE queue = ? "
                             "AND state = ? LIMIT ?)")
                         .Bind(name_, std::string(JobStateName(state)), query.scan_limit + 1)
                         .First();
      if (scanned.ok() && *scanned && sql::Int((*scanned)->values.at(0)) > query.scan_limit) {
        page.truncated = true;
      }
    }
    std::int64_t index = 0;
    for (const auto& row : rows->results) {
      if (index++ < skip) continue;
      Job job = JobFromRow(row);
      if (static_cast<std::int64_t>(page.jobs.size()) >= wanted) break;
      page.next_cursor = std::to_string(t) + ":" + std::to_string(KeyOf(job, state)) + ":" +
                         std::to_string(job.seq);
      page.jobs.push_back(std::move(job));
    }
    skip = std::max<std::int64_t>(0, skip - static_cast<std::int64_t>(rows->results.size()));
  }
  if (static_cast<std::int64_t>(page.jobs.size()) < wanted) page.next_cursor.reset();
  co_return page;
}

Task<Result<std::map<std::string, std::int64_t>>> Queue::GetJobCounts(
    std::vector<std::string> types) {
  if (types.empty()) {
    for (JobState state : kAllJobStates) types.emplace_back(JobStateName(state));
    types.emplace_back("paused");
  }
  auto rows = co_await context_->db->Prepare("SELECT state, n FROM cfq_counts WHERE queue = ?")
                  .Bind(name_)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::map<std::string, std::int64_t> counts;
  for (const auto& row : rows->results) counts[sql::Str(row.values[0])] = sql::Int(row.values[1]);
  auto stub = context_->Coordinator(name_);
  auto paused = co_await stub->Call(&Coordinator::IsPaused, name_);
  if (!paused.ok()) co_return paused.status();
  if (*paused) {
    counts["paused"] = counts["waiting"];
    counts["waiting"] = 0;
  }
  std::map<std::string, std::int64_t> out;
  for (const std::string& type : types) {
    if (type == "repeat") {
      auto schedulers =
          co_await context_->db->Prepare("SELECT count(*) FROM cfq_schedulers WHERE queue = ?")
              .Bind(name_)
              .First();
      if (!schedulers.ok()) co_return schedulers.status();
      out["repeat"] = *schedulers ? sql::Int((*schedulers)->values.at(0)) : 0;
      continue;
    }
    const std::string key = type == "wait" ? "waiting" : type;
    if (key != "paused" && !ParseJobState(key)) {
      co_return Status::InvalidArgument("getJobCounts: unknown job type '" + type + "'");
    }
    const auto it = counts.find(key);
    out[type] = it == counts.end() ? 0 : it->second;
  }
  co_return out;
}

Task<Result<Metrics>> Queue::GetMetrics(MetricKind kind, std::int64_t start, std::int64_t end) {
  const std::string kind_name = kind == MetricKind::kCompleted ? "completed" : "failed";
  auto rows = co_await context_->db
                  ->Prepare(
                      "SELECT minute, n FROM cfq_metrics WHERE queue = ? AND kind = ? "
                      "ORDER BY minute DESC")
                  .Bind(name_, kind_name)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  auto config = co_await QueueConfigFor(*context_, name_);
  const std::int64_t max_points = config.ok() ? config->metrics_max_data_points : 10'080;
  Metrics out;
  std::map<std::int64_t, std::int64_t> by_minute;
  for (const auto& row : rows->results) {
    const std::int64_t minute = sql::Int(row.values[0]);
    if (minute < 0) {
      out.count = sql::Int(row.values[1]);
    } else {
      by_minute[minute] = sql::Int(row.values[1]);
    }
  }
  if (!by_minute.empty()) {
    out.prev_ts = by_minute.rbegin()->first;
    out.prev_count = by_minute.rbegin()->second;
    // Newest first from the current minute, zero-filled, back to the oldest bucket kept.
    const std::int64_t newest = context_->NowMs() / 60'000 * 60'000;
    const std::int64_t oldest =
        std::max(by_minute.begin()->first, newest - (max_points - 1) * 60'000);
    for (std::int64_t minute = newest; minute >= oldest; minute -= 60'000) {
      const auto it = by_minute.find(minute);
      out.data.push_back(it == by_minute.end() ? 0 : it->second);
    }
  }
  const std::int64_t size = static_cast<std::int64_t>(out.data.size());
  const std::int64_t first = std::clamp<std::int64_t>(start, 0, size);
  const std::int64_t last = end < 0 ? size : std::clamp<std::int64_t>(end + 1, first, size);
  out.data = std::vector<std::int64_t>(out.data.begin() + first, out.data.begin() + last);
  co_return out;
}

Task<Result<LogPage>> Queue::GetLogs(std::string id, std::int64_t start, std::int64_t end,
                                     bool asc) {
  auto rows = co_await context_->db
                  ->Prepare(std::string("SELECT message FROM cfq_logs WHERE queue = ? AND "
                                        "job_id = ? ORDER BY lid ") +
                            (asc ? "ASC" : "DESC") + " LIMIT ? OFFSET ?")
                  .Bind(name_, id, end < 0 ? std::int64_t{-1} : end - start + 1, start)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  auto count =
      co_await context_->db->Prepare("SELECT count(*) FROM cfq_logs WHERE queue = ? AND job_id = ?")
          .Bind(name_, id)
          .First();
  if (!count.ok()) co_return count.status();
  LogPage page;
  for (const auto& row : rows->results) page.logs.push_back(sql::Str(row.values[0]));
  page.count = *count ? sql::Int((*count)->values.at(0)) : 0;
  co_return page;
}

namespace {

// The dependency rows of a parent, by status.
Task<Result<std::vector<platform::D1Row>>> DepsOf(EngineContext& context, std::string queue,
                                                  std::string id) {
  auto rows = co_await context.db
                  ->Prepare(
                      "SELECT child_queue, child_id, status, result, failed_reason FROM "
                      "cfq_deps WHERE parent_queue = ? AND parent_id = ? ORDER BY "
                      "child_queue, child_id")
                  .Bind(queue, id)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  co_return std::move(rows->results);
}

}  // namespace

Task<Result<Dependencies>> Queue::GetDependencies(std::string id) {
  auto rows = co_await DepsOf(*context_, name_, id);
  if (!rows.ok()) co_return rows.status();
  Dependencies out;
  for (const auto& row : *rows) {
    const std::string key = sql::Str(row.values[0]) + ":" + sql::Str(row.values[1]);
    const std::string status = sql::Str(row.values[2]);
    if (status == "processed") out.processed[key] = sql::JsonOf(row.values[3]);
    if (status == "pending") out.unprocessed.push_back(key);
    if (status == "failed") out.failed[key] = sql::Str(row.values[4]);
    if (status == "ignored") out.ignored[key] = sql::Str(row.values[4]);
  }
  co_return out;
}

Task<Result<std::map<std::string, Json>>> Queue::GetChildrenValues(std::string id) {
  auto deps = co_await GetDependencies(std::move(id));
  if (!deps.ok()) co_return deps.status();
  co_return std::move(deps->processed);
}

Task<Result<std::map<std::string, std::string>>> Queue::GetFailedChildrenValues(std::string id) {
  auto deps = co_await GetDependencies(std::move(id));
  if (!deps.ok()) co_return deps.status();
  co_return std::move(deps->failed);
}

Task<Result<std::map<std::string, std::string>>> Queue::GetIgnoredChildrenFailures(std::string id) {
  auto deps = co_await GetDependencies(std::move(id));
  if (!deps.ok()) co_return deps.status();
  co_return std::move(deps->ignored);
}

Task<Result<std::vector<DeadLetter>>> Queue::GetDeadLetters(std::int64_t start, std::int64_t end) {
  auto rows = co_await context_->db
                  ->Prepare(
                      "SELECT dl_id, queue, job_id, source, cf_message_id, cf_attempts, "
                      "body, reason, outcome, at FROM cfq_dead_letters WHERE queue = ? OR "
                      "queue IS NULL ORDER BY dl_id LIMIT ? OFFSET ?")
                  .Bind(name_, end < 0 ? std::int64_t{-1} : end - start + 1, start)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::vector<DeadLetter> out;
  for (const auto& row : rows->results) {
    const auto& v = row.values;
    out.push_back({sql::Int(v[0]), sql::OptStr(v[1]), sql::OptStr(v[2]), sql::Str(v[3]),
                   sql::Str(v[4]), sql::Int(v[5]), sql::Str(v[6]), sql::Str(v[7]), sql::Str(v[8]),
                   sql::Int(v[9])});
  }
  co_return out;
}

Task<Result<std::optional<std::string>>> Queue::GetDeduplicationJobId(std::string dedup_id) {
  auto row = co_await context_->db
                 ->Prepare(
                     "SELECT job_id FROM cfq_dedupe WHERE queue = ? AND dedup_id = ? AND "
                     "(expires_at IS NULL OR expires_at > ?)")
                 .Bind(name_, dedup_id, context_->NowMs())
                 .First();
  if (!row.ok()) co_return SchemaMissingOr(row.status());
  if (!*row) co_return std::optional<std::string>();
  co_return std::optional<std::string>(sql::Str((*row)->values.at(0)));
}

}  // namespace cfemu::engine
