#include "src/engine/job_scheduler.h"

#include <algorithm>

#include "src/engine/job_insert.h"
#include "src/engine/job_row.h"
#include "src/engine/job_store.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

namespace {

// Bounds the walk over missed slots of a cron pattern after a long outage.
constexpr int kMaxMissedWalk = 100'000;
constexpr std::size_t kSchedulersPerBatch = 20;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Result<core::CronExpr> ParsePattern(const SchedulerRow& row) {
  const core::CronDialect dialect =
      row.dow_dialect == "cloudflare" ? core::CronDialect::kCloudflare : core::CronDialect::kBullMQ;
  return core::ParseCron(*row.pattern, dialect);
}

constexpr std::string_view kSchedulerColumns =
    "queue, id, job_name, job_data, job_opts, pattern, dow_dialect, every_ms, offset_ms, start_at, "
    "end_at, limit_count, iteration_count, missed_policy, max_catch_up, next_run_at, last_run_at, "
    "missed_count, version";

SchedulerRow SchedulerFromValues(const std::vector<platform::D1Value>& v) {
  SchedulerRow r;
  r.queue = sql::Str(v[0]);
  r.id = sql::Str(v[1]);
  r.job_name = sql::Str(v[2]);
  r.job_data = sql::Str(v[3]);
  r.job_opts = sql::Str(v[4]);
  r.pattern = sql::OptStr(v[5]);
  r.dow_dialect = sql::Str(v[6]);
  r.every_ms = sql::OptInt(v[7]);
  r.offset_ms = sql::Int(v[8]);
  r.start_at = sql::OptInt(v[9]);
  r.end_at = sql::OptInt(v[10]);
  r.limit = sql::OptInt(v[11]);
  r.iteration_count = sql::Int(v[12]);
  r.missed_policy = sql::Str(v[13]);
  r.max_catch_up = sql::Int(v[14], 100);
  r.next_run_at = sql::OptInt(v[15]);
  r.last_run_at = sql::OptInt(v[16]);
  r.missed_count = sql::Int(v[17]);
  r.version = sql::Int(v[18], 1);
  return r;
}

SchedulerInfo InfoOf(const SchedulerRow& r) {
  SchedulerInfo info;
  info.id = r.id;
  info.job_name = r.job_name;
  info.pattern = r.pattern;
  info.every_ms = r.every_ms;
  info.next_run_at = r.next_run_at;
  info.last_run_at = r.last_run_at;
  info.iteration_count = r.iteration_count;
  info.limit = r.limit;
  info.missed_count = r.missed_count;
  return info;
}

// The first slot at or after `from` (every: on the grid offset + k * every).
std::optional<std::int64_t> SlotAtOrAfter(const SchedulerRow& row, const core::CronExpr* expr,
                                          std::int64_t from) {
  if (row.every_ms) {
    const std::int64_t every = *row.every_ms;
    const std::int64_t k = FloorDiv(from - row.offset_ms + every - 1, every);
    return k * every + row.offset_ms;
  }
  auto next = core::NextMatch(*expr, core::Instant::FromUnixMs(from));
  if (!next) return std::nullopt;
  return next->unix_ms();
}

}  // namespace

std::optional<std::int64_t> NextSlot(const SchedulerRow& row, const core::CronExpr* expr,
                                     std::int64_t after) {
  if (row.every_ms) return after + *row.every_ms;
  return SlotAtOrAfter(row, expr, after + 1);
}

SlotPlan PlanSlots(const SchedulerRow& row, const core::CronExpr* expr, std::int64_t now,
                   std::int64_t horizon_ms, std::int64_t misfire_grace_ms) {
  SlotPlan plan;
  plan.last_run_at = row.last_run_at;
  std::optional<std::int64_t> t = row.next_run_at;
  const std::int64_t missed_before = now - misfire_grace_ms;
  std::vector<std::int64_t> missed;  // Skip keeps the last one; catchUp up to max + 1.
  std::int64_t missed_total = 0;
  std::vector<std::int64_t> on_time;
  int walked = 0;
  while (t && *t <= now + horizon_ms) {
    if (row.end_at && *t > *row.end_at) {
      t.reset();
      break;
    }
    if (*t < missed_before) {
      if (row.every_ms && row.missed_policy != "catchUp" && *t + *row.every_ms < missed_before) {
        // Skip policy: jump over whole runs of missed interval slots arithmetically.
        const std::int64_t k = (missed_before - *t - 1) / *row.every_ms;
        missed_total += k;
        *t += k * *row.every_ms;
        continue;
      }
      ++missed_total;
      if (row.missed_policy == "catchUp") {
        if (static_cast<std::int64_t>(missed.size()) <= row.max_catch_up) missed.push_back(*t);
      } else {
        missed.assign(1, *t);
      }
      if (++walked > kMaxMissedWalk) {  // A very long outage: continue from the grace edge.
        t = SlotAtOrAfter(row, expr, missed_before);
        continue;
      }
    } else {
      on_time.push_back(*t);
    }
    t = NextSlot(row, expr, *t);
  }
  if (row.missed_policy == "catchUp" &&
      static_cast<std::int64_t>(missed.size()) > row.max_catch_up) {
    // Fire max_catch_up now; the next tick continues from the first one left.
    t = missed[row.max_catch_up];
    missed.resize(row.max_catch_up);
    on_time.clear();
  } else if (row.missed_policy != "catchUp" && missed_total > 1) {
    plan.skipped = missed_total - 1;
  }
  plan.fire = missed;
  plan.fire.insert(plan.fire.end(), on_time.begin(), on_time.end());
  if (row.limit) {
    const std::int64_t room = std::max<std::int64_t>(0, *row.limit - row.iteration_count);
    if (static_cast<std::int64_t>(plan.fire.size()) >= room) {
      plan.fire.resize(room);
      t.reset();  // Exhausted.
    }
  }
  plan.next_run_at = t;
  if (!plan.fire.empty()) plan.last_run_at = plan.fire.back();
  return plan;
}

namespace {

// The iteration rows of `plan` for `row`, inserted only if this claim's token holds.
Result<std::vector<NewRow>> IterationRows(EngineContext& context, const SchedulerRow& row,
                                          const QueueConfig& config, const SlotPlan& plan,
                                          std::int64_t now) {
  auto options = JobOptionsFromJson(Json::parse(row.job_opts, nullptr, false));
  if (!options.ok()) return options.status();
  const Json data = Json::parse(row.job_data, nullptr, false);
  std::vector<NewRow> rows;
  for (std::int64_t slot : plan.fire) {
    JobOptions o = *options;
    o.delay_ms = std::max<std::int64_t>(0, slot - now);
    auto prepared = PrepareRow(context, row.queue, config, row.job_name,
                               data.is_discarded() ? Json() : data, o, now, false);
    if (!prepared.ok()) return prepared.status();
    prepared->id = std::string(kSchedulerJobIdPrefix) + row.id + ":" + std::to_string(slot);
    prepared->scheduler_id = row.id;
    rows.push_back(std::move(*prepared));
  }
  return rows;
}

// iteration_count grows by the rows this claim really inserted (a slot whose job exists
// already is not a new iteration).
void CountInserted(sql::Batch& batch, const std::string& queue, const std::string& id,
                   const std::vector<std::string>& ids, const std::string& token) {
  batch.Add(
      "UPDATE cfq_schedulers SET iteration_count = iteration_count + (SELECT count(*) FROM "
      "cfq_jobs WHERE queue = ? AND id IN (SELECT value FROM json_each(?)) AND add_token = ?) "
      "WHERE queue = ? AND id = ? AND claim_token = ?",
      queue, sql::Dump(Json(ids)), token, queue, id, token);
}

const std::string& QualifiedSchedulerColumns() {
  static const std::string columns = [] {  // Thread-safe initialization, computed once.
    std::string out;
    std::string_view rest = kSchedulerColumns;
    while (!rest.empty()) {
      const auto comma = rest.find(", ");
      out += (out.empty() ? "s." : ", s.") + std::string(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    return out;
  }();
  return columns;
}

struct Claim {
  std::string queue;
  std::size_t cas = 0;
  std::optional<std::size_t> select;
  std::vector<NewRow> rows;  // The iteration rows, in the select's order.
};

// T26: the scheduler's CAS and, under its claim token, the missed event and the iteration rows.
Result<Claim> AppendClaim(sql::Batch& batch, EngineContext& context, const SchedulerRow& row,
                          const QueueConfig& config, const SlotPlan& plan, const std::string& token,
                          std::int64_t now) {
  auto rows = IterationRows(context, row, config, plan, now);
  if (!rows.ok()) return rows.status();
  Claim claim;
  claim.queue = row.queue;
  claim.cas = batch.Add(
      "UPDATE cfq_schedulers SET next_run_at = ?, last_run_at = ?, missed_count = missed_count "
      "+ ?, claim_token = ?, updated_at = ? WHERE queue = ? AND id = ? AND next_run_at IS ? AND "
      "version = ?",
      sql::Nullable(plan.next_run_at), sql::Nullable(plan.last_run_at), plan.skipped, token, now,
      row.queue, row.id, sql::Nullable(row.next_run_at), row.version);
  const std::string mine =
      "EXISTS (SELECT 1 FROM cfq_schedulers WHERE queue = ? AND id = ? AND claim_token = ?)";
  if (plan.skipped > 0) {
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, NULL, "
        "'cfq:scheduler-missed', ?, json_object('scheduler', ?, 'skipped', ?) WHERE " +
            mine,
        row.queue, now, row.id, plan.skipped, row.queue, row.id, token);
  }
  if (rows->empty()) return claim;
  claim.rows = std::move(*rows);
  std::vector<const NewRow*> pointers;
  std::vector<std::string> ids;
  for (const NewRow& r : claim.rows) {
    pointers.push_back(&r);
    ids.push_back(r.id);
  }
  InsertGuard guard{mine, {row.queue, row.id, token}};
  AppendInsertRows(batch, row.queue, pointers, token, &guard);
  CountInserted(batch, row.queue, row.id, ids, token);
  claim.select = AppendSelectRows(batch, row.queue, ids);
  return claim;
}

// Reads the claimed iteration jobs and sends what their creation owes.
Task<std::int64_t> DispatchClaimed(EngineContext& context, const QueueConfig& config,
                                   const std::vector<platform::D1Result>& results,
                                   const Claim& claim, const std::string& token, std::int64_t now) {
  if (!claim.select || results.at(claim.cas).meta.changes == 0) co_return 0;
  std::vector<Job> jobs;
  std::vector<Placement> placements;
  const auto& selected = results.at(*claim.select).results;
  for (std::size_t i = 0; i < selected.size() && i < claim.rows.size(); ++i) {
    if (sql::Str(selected[i].values.at(2)) != token) continue;  // Not created by this claim.
    jobs.push_back(JobFromNewRow(claim.queue, claim.rows[i], sql::Int(selected[i].values.at(0))));
    placements.push_back(claim.rows[i].placement);
  }
  co_await DispatchNewRows(context, config, jobs, placements, now);
  co_return static_cast<std::int64_t>(jobs.size());
}

Status ValidateRepeat(const std::string& id, const RepeatOptions& repeat,
                      const JobTemplate& job_template) {
  if (id.empty() || id.size() > 200 || id.find(':') != std::string::npos) {
    return Status::InvalidArgument("a job scheduler id is 1 to 200 bytes without ':'");
  }
  if (repeat.pattern.has_value() == repeat.every_ms.has_value()) {
    return Status::InvalidArgument("a job scheduler needs exactly one of pattern and every");
  }
  if (repeat.every_ms && *repeat.every_ms < 1000) {
    return Status::InvalidArgument("repeat 'every' must be at least 1000 ms");
  }
  if (repeat.tz != "UTC") {
    return Status::InvalidArgument("repeat 'tz' other than UTC is not supported (got '" +
                                   repeat.tz + "')");
  }
  if (repeat.dow_dialect != "bullmq" && repeat.dow_dialect != "cloudflare") {
    return Status::InvalidArgument("repeat 'dowDialect' must be \"bullmq\" or \"cloudflare\"");
  }
  if (repeat.missed_policy != "skip" && repeat.missed_policy != "catchUp") {
    return Status::InvalidArgument("repeat 'missedPolicy' must be \"skip\" or \"catchUp\"");
  }
  if (repeat.max_catch_up < 1) return Status::InvalidArgument("repeat 'maxCatchUp' must be >= 1");
  if (repeat.limit && *repeat.limit < 1) return Status::InvalidArgument("repeat 'limit' >= 1");
  if (repeat.start_date && repeat.end_date && *repeat.end_date < *repeat.start_date) {
    return Status::InvalidArgument("repeat 'endDate' is before 'startDate'");
  }
  const JobOptions& o = job_template.options;
  if (o.job_id || o.delay_ms != 0 || o.has_repeat || o.deduplication) {
    return Status::InvalidArgument(
        "a job scheduler's template options may not set jobId, delay, repeat or deduplication");
  }
  return ValidateJobOptions(o);
}

Task<Result<std::optional<SchedulerRow>>> ReadScheduler(EngineContext& context, std::string queue,
                                                        std::string id) {
  auto row = co_await context.db
                 ->Prepare("SELECT " + std::string(kSchedulerColumns) +
                           " FROM cfq_schedulers WHERE queue = ? AND id = ?")
                 .Bind(queue, id)
                 .First();
  if (!row.ok()) co_return SchemaMissingOr(row.status());
  if (!*row) co_return std::optional<SchedulerRow>();
  co_return std::optional<SchedulerRow>(SchedulerFromValues((*row)->values));
}

// The definition part of an upserted scheduler, and its first slot.
SchedulerRow Define(const std::string& queue, const std::string& id, const RepeatOptions& repeat,
                    const JobTemplate& job_template, const std::optional<SchedulerRow>& existing,
                    const core::CronExpr* expr, std::int64_t now) {
  SchedulerRow row;
  row.queue = queue;
  row.id = id;
  row.job_name = job_template.name.empty() ? id : job_template.name;
  row.job_data = sql::Dump(job_template.data);
  row.job_opts = sql::Dump(JobOptionsToJson(job_template.options));
  row.pattern = repeat.pattern;
  row.dow_dialect = repeat.dow_dialect;
  row.every_ms = repeat.every_ms;
  row.offset_ms = repeat.offset_ms;
  row.start_at = repeat.start_date;
  row.end_at = repeat.end_date;
  row.limit = repeat.limit;
  row.missed_policy = repeat.missed_policy;
  row.max_catch_up = repeat.max_catch_up;
  if (existing) {
    row.iteration_count = existing->iteration_count;
    row.missed_count = existing->missed_count;
    row.version = existing->version;
    if (existing->last_run_at) row.last_run_at = std::min(*existing->last_run_at, now);
  } else {
    row.version = 0;
  }
  std::int64_t from = std::max(now, repeat.start_date.value_or(now));
  if (row.last_run_at) from = std::max(from, *row.last_run_at + 1);  // Strictly increasing.
  row.next_run_at = SlotAtOrAfter(row, expr, from);
  if (repeat.immediately && (!row.last_run_at || now > *row.last_run_at) &&
      (!repeat.start_date || *repeat.start_date <= now)) {
    row.next_run_at = now;
  }
  return row;
}

}  // namespace

Task<Result<std::optional<Job>>> Queue::UpsertJobScheduler(std::string id, RepeatOptions repeat,
                                                           JobTemplate job_template) {
  CFEMU_CO_RETURN_IF_ERROR(ValidateRepeat(id, repeat, job_template));
  std::optional<core::CronExpr> expr;
  if (repeat.pattern) {
    const core::CronDialect dialect = repeat.dow_dialect == "cloudflare"
                                          ? core::CronDialect::kCloudflare
                                          : core::CronDialect::kBullMQ;
    auto parsed = core::ParseCron(*repeat.pattern, dialect);
    if (!parsed.ok()) co_return parsed.status();
    expr = *parsed;
  }
  EngineContext& context = *context_;
  auto config = co_await QueueConfigFor(context, name_);
  if (!config.ok()) co_return config.status();
  for (int attempt = 0; attempt < 5; ++attempt) {  // Lost CAS: a concurrent upsert; read again.
    auto existing = co_await ReadScheduler(context, name_, id);
    if (!existing.ok()) co_return existing.status();
    const std::int64_t now = context.NowMs();
    SchedulerRow row =
        Define(name_, id, repeat, job_template, *existing, expr ? &*expr : nullptr, now);
    const SlotPlan plan = PlanSlots(row, expr ? &*expr : nullptr, now, config->scheduler_horizon_ms,
                                    config->misfire_grace_ms);
    const std::string token = context.random.Hex(8);
    sql::Batch batch(*context.db);
    const std::size_t upsert = batch.Add(
        "INSERT INTO cfq_schedulers (queue, id, job_name, job_data, job_opts, pattern, "
        "dow_dialect, every_ms, offset_ms, start_at, end_at, limit_count, iteration_count, "
        "missed_policy, max_catch_up, next_run_at, last_run_at, missed_count, claim_token, "
        "version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, 0, ?, 1, ?, ?) ON CONFLICT (queue, id) DO UPDATE SET job_name = excluded.job_name, "
        "job_data = excluded.job_data, job_opts = excluded.job_opts, pattern = excluded.pattern, "
        "dow_dialect = excluded.dow_dialect, every_ms = excluded.every_ms, offset_ms = "
        "excluded.offset_ms, start_at = excluded.start_at, end_at = excluded.end_at, "
        "limit_count = excluded.limit_count, missed_policy = excluded.missed_policy, "
        "max_catch_up = excluded.max_catch_up, next_run_at = excluded.next_run_at, last_run_at = "
        "excluded.last_run_at, claim_token = excluded.claim_token, version = "
        "cfq_schedulers.version + 1, updated_at = excluded.updated_at WHERE "
        "cfq_schedulers.version = ?",
        name_, id, row.job_name, row.job_data, row.job_opts, sql::Nullable(row.pattern),
        row.dow_dialect, sql::Nullable(row.every_ms), row.offset_ms, sql::Nullable(row.start_at),
        sql::Nullable(row.end_at), sql::Nullable(row.limit), row.iteration_count, row.missed_policy,
        row.max_catch_up, sql::Nullable(plan.next_run_at), sql::Nullable(plan.last_run_at), token,
        now, now, row.version);
    (void)upsert;
    const std::string mine =
        "EXISTS (SELECT 1 FROM cfq_schedulers WHERE queue = ? AND id = ? AND claim_token = ?)";
    // Still-delayed future iterations of the old definition go (their slots may change).
    const std::string future =
        "queue = ? AND scheduler_id = ? AND state = 'delayed' AND available_at > ? AND id NOT IN "
        "(SELECT value FROM json_each(?))";
    Json keep = Json::array();
    for (std::int64_t slot : plan.fire) {
      keep.push_back(std::string(kSchedulerJobIdPrefix) + id + ":" + std::to_string(slot));
    }
    const std::string keep_text = sql::Dump(keep);
    batch.Add(
        "UPDATE cfq_schedulers SET iteration_count = iteration_count - (SELECT count(*) "
        "FROM cfq_jobs WHERE " +
            future + ") WHERE queue = ? AND id = ? AND " + mine,
        name_, id, now, keep_text, name_, id, name_, id, token);
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'removed', ?, "
        "json_object('prev', 'delayed', 'reason', 'scheduler updated', 'epoch', epoch, 'gen', "
        "gen) FROM cfq_jobs WHERE " +
            future + " AND " + mine,
        now, name_, id, now, keep_text, name_, id, token);
    batch.Add("DELETE FROM cfq_jobs WHERE " + future + " AND " + mine, name_, id, now, keep_text,
              name_, id, token);
    auto rows = IterationRows(context, row, *config, plan, now);
    if (!rows.ok()) co_return rows.status();
    std::vector<const NewRow*> pointers;
    std::vector<std::string> ids;
    std::vector<Placement> placements;
    for (const NewRow& r : *rows) {
      pointers.push_back(&r);
      ids.push_back(r.id);
      placements.push_back(r.placement);
    }
    InsertGuard guard{mine, {name_, id, token}};
    AppendInsertRows(batch, name_, pointers, token, &guard);
    if (!ids.empty()) CountInserted(batch, name_, id, ids, token);
    const std::size_t check =
        batch.Add("SELECT claim_token FROM cfq_schedulers WHERE queue = ? AND id = ?", name_, id);
    const std::size_t first = batch.Add(
        "SELECT " + std::string(kJobColumns) +
            ", add_token FROM cfq_jobs WHERE queue = ? AND "
            "scheduler_id = ? AND state NOT IN ('completed', 'failed') ORDER BY available_at, seq "
            "LIMIT 1",
        name_, id);
    auto results = co_await batch.Run("upsert-scheduler");
    if (!results.ok()) co_return SchemaMissingOr(results.status());
    const auto& owner = results->at(check).results;
    if (owner.empty() || sql::Str(owner.front().values.at(0)) != token) continue;  // Lost CAS.
    std::vector<Job> created;
    if (!ids.empty()) {
      auto selected = co_await context.db
                          ->Prepare("SELECT " + std::string(kJobColumns) +
                                    ", add_token FROM cfq_jobs WHERE queue = ? AND id IN (SELECT "
                                    "value FROM json_each(?)) ORDER BY available_at")
                          .Bind(name_, sql::Dump(Json(ids)))
                          .All();
      if (selected.ok()) {
        for (const auto& r : selected->results) {
          Job job = JobFromValues(r.values);
          job.is_new = sql::Str(r.values.at(kJobColumnCount)) == token;
          created.push_back(std::move(job));
        }
      }
      placements.resize(created.size());
      co_await DispatchNewRows(context, *config, created, placements, now);
    }
    const auto& next = results->at(first).results;
    if (next.empty()) co_return std::optional<Job>();
    co_return std::optional<Job>(JobFromValues(next.front().values));
  }
  co_return Status::NotInState("job scheduler " + id + " kept changing: try again");
}

Task<Result<bool>> Queue::RemoveJobScheduler(std::string id) {
  const std::int64_t now = context_->NowMs();
  sql::Batch batch(*context_->db);
  const std::string future =
      "queue = ? AND scheduler_id = ? AND state = 'delayed' AND available_at > ?";
  batch.Add(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'removed', ?, "
      "json_object('prev', 'delayed', 'reason', 'scheduler removed', 'epoch', epoch, 'gen', gen) "
      "FROM cfq_jobs WHERE " +
          future,
      now, name_, id, now);
  batch.Add("DELETE FROM cfq_jobs WHERE " + future, name_, id, now);
  const std::size_t removed =
      batch.Add("DELETE FROM cfq_schedulers WHERE queue = ? AND id = ?", name_, id);
  auto results = co_await batch.Run("remove-scheduler");
  if (!results.ok()) co_return SchemaMissingOr(results.status());
  co_return results->at(removed).meta.changes > 0;
}

Task<Result<std::optional<SchedulerInfo>>> Queue::GetJobScheduler(std::string id) {
  auto row = co_await ReadScheduler(*context_, name_, id);
  if (!row.ok()) co_return row.status();
  if (!*row) co_return std::optional<SchedulerInfo>();
  co_return std::optional<SchedulerInfo>(InfoOf(**row));
}

Task<Result<std::vector<SchedulerInfo>>> Queue::GetJobSchedulers(std::int64_t start,
                                                                 std::int64_t end, bool asc) {
  auto rows = co_await context_->db
                  ->Prepare("SELECT " + std::string(kSchedulerColumns) +
                            " FROM cfq_schedulers WHERE queue = ? ORDER BY next_run_at IS NULL, "
                            "next_run_at " +
                            (asc ? "ASC" : "DESC") + ", id LIMIT ? OFFSET ?")
                  .Bind(name_, end < 0 ? std::int64_t{-1} : end - start + 1, start)
                  .All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::vector<SchedulerInfo> out;
  for (const auto& row : rows->results) out.push_back(InfoOf(SchedulerFromValues(row.values)));
  co_return out;
}

Task<Result<std::int64_t>> FireDueSchedulers(EngineContext& context) {
  const std::int64_t now = context.NowMs();
  auto due =
      co_await context.db
          ->Prepare("SELECT " + QualifiedSchedulerColumns() +
                    " FROM cfq_schedulers s JOIN cfq_queues q ON q.queue = s.queue WHERE "
                    "s.next_run_at IS NOT NULL AND q.paused_mirror = 0 AND s.next_run_at <= ? "
                    "+ coalesce(q.config ->> 'schedulerHorizonMs', 90000) ORDER BY "
                    "s.next_run_at, s.queue, s.id LIMIT 200")
          .Bind(now)
          .All();
  if (!due.ok()) co_return SchemaMissingOr(due.status());
  std::int64_t created = 0;
  const auto& rows = due->results;
  for (std::size_t first = 0; first < rows.size(); first += kSchedulersPerBatch) {
    sql::Batch batch(*context.db);
    struct Pending {
      Claim claim;
      QueueConfig config;
      std::string token;
    };
    std::vector<Pending> pending;
    for (std::size_t i = first; i < std::min(rows.size(), first + kSchedulersPerBatch); ++i) {
      const SchedulerRow row = SchedulerFromValues(rows[i].values);
      auto config = co_await QueueConfigFor(context, row.queue);
      if (!config.ok()) continue;
      std::optional<core::CronExpr> expr;
      if (row.pattern) {
        auto parsed = ParsePattern(row);
        if (!parsed.ok()) continue;  // Validated at upsert; a bad stored row is skipped.
        expr = *parsed;
      }
      const SlotPlan plan = PlanSlots(row, expr ? &*expr : nullptr, now,
                                      config->scheduler_horizon_ms, config->misfire_grace_ms);
      if (plan.fire.empty() && plan.next_run_at == row.next_run_at && plan.skipped == 0) continue;
      const std::string token = context.random.Hex(8);
      auto claim = AppendClaim(batch, context, row, *config, plan, token, now);
      if (!claim.ok()) continue;
      pending.push_back({std::move(*claim), *config, token});
    }
    if (batch.empty()) continue;
    auto results = co_await batch.Run("scheduler-tick");
    if (!results.ok()) co_return results.status();
    for (const auto& p : pending) {
      created += co_await DispatchClaimed(context, p.config, *results, p.claim, p.token, now);
    }
  }
  co_return created;
}

}  // namespace cfemu::engine
