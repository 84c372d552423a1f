// Queue::Add and Queue::AddBulk (engine-spec.md §4.1, §4.8, §7.1 A1-A9, B1-B3).
#include <algorithm>
#include <map>
#include <tuple>

#include "src/core/trace.h"
#include "src/engine/job_insert.h"
#include "src/engine/job_row.h"
#include "src/engine/job_store.h"
#include "src/engine/queue.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

std::string NewJobId(core::Random& random, JobIdClock& clock, std::int64_t now_ms) {
  // UUIDv7 (RFC 9562) with a monotonic counter in its random bits (the RFC's method 2): ids
  // sort by creation time, and the ids one engine makes in the same millisecond - a bulk add
  // makes thousands - are consecutive, so the job and event indexes keyed by id grow at their
  // end instead of taking a random page (a cache miss and a journaled page) for every row.
  // A clock that steps back keeps the last millisecond: the ids still increase.
  const std::int64_t ms = std::max<std::int64_t>(now_ms, 0);
  if (ms > clock.ms) {
    clock.ms = ms;
    clock.high = random.Below(1u << 11);  // 12 bits with the top one clear: room to carry.
    clock.low = random.Next() >> 2;       // 62 bits.
  } else if (++clock.low == (std::uint64_t{1} << 62)) {
    clock.low = 0;
    ++clock.high;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  const auto put = [&](std::size_t at, std::uint64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value >>= 4)
      id[at + static_cast<std::size_t>(i)] = kHex[value & 0xf];
  };
  const auto time = static_cast<std::uint64_t>(clock.ms);
  put(0, time >> 16, 8);
  put(9, time & 0xffff, 4);
  id[14] = '7';  // Version 7.
  put(15, clock.high, 3);
  put(19, (std::uint64_t{0b10} << 14) | (clock.low >> 48), 4);  // Variant 10, then rand_b.
  put(24, clock.low & 0xffffffffffff, 12);
  return id;
}

namespace {

constexpr std::size_t kBulkChunkJobs = 500;
constexpr std::size_t kBulkChunkBytes = 1'500'000;

Status CheckName(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("a job needs a non-empty name");
  if (name.size() > 1024) return Status::InvalidArgument("a job name is at most 1,024 bytes");
  return Status::Ok();
}

}  // namespace

Result<NewRow> PrepareRow(EngineContext& context, const std::string& config_queue_name,
                          const QueueConfig& config, std::string name, Json data,
                          const JobOptions& given, std::int64_t now, bool known_paused) {
  CFEMU_RETURN_IF_ERROR(CheckName(name));
  NewRow row;
  row.options = MergeJobOptions(config.default_job_options, given);
  CFEMU_RETURN_IF_ERROR(ValidateJobOptions(row.options));
  if (data.is_discarded()) return Status::InvalidArgument("job data must be a JSON value");
  row.data = sql::Dump(data);
  row.data_json = std::move(data);
  const std::int64_t size_limit = row.options.size_limit.value_or(config.size_limit);
  if (static_cast<std::int64_t>(row.data.size()) > size_limit) {
    return Status::TooLarge("job data is " + std::to_string(row.data.size()) +
                            " bytes of JSON, over the limit of " + std::to_string(size_limit));
  }
  row.id =
      row.options.job_id ? *row.options.job_id : NewJobId(context.random, context.job_ids, now);
  // The envelope carries the queue, the id and the group: it must stay within 512 bytes.
  std::optional<std::string_view> group;
  if (row.options.group_key) group = *row.options.group_key;
  if (EnvelopeBytes(config_queue_name, row.id, INT64_MAX, INT64_MAX, group) > kMaxEnvelopeBytes) {
    return Status::InvalidArgument(
        "the job id and group key are too long: the job's envelope "
        "would exceed 512 bytes");
  }
  row.name = std::move(name);
  row.opts_json = JobOptionsToJson(row.options);
  row.opts = sql::Dump(row.opts_json);
  row.now = now;
  row.placement = Place(row.options.priority, row.options.lifo, now + row.options.delay_ms, now,
                        config, known_paused);
  // FIFO by creation time; LIFO is newest first (BullMQ ignores lifo with a priority).
  row.order_key = row.options.lifo && row.options.priority == 0 ? -now : now;
  return row;
}

namespace {

// The column values of a new row, in the order of kInsertColumns.
constexpr std::string_view kInsertColumns =
    "queue, id, name, data, opts, state, priority, lifo, order_key, group_key, gen, "
    "available_at, dispatch_at, dispatch_deadline, attempts_max, parent_queue, parent_id, "
    "parent_policy, dedup_id, add_token, created_at, scheduler_id, pending_deps";

std::vector<D1Param> InsertValues(const std::string& queue, const NewRow& row,
                                  const std::string& add_token) {
  const JobOptions& o = row.options;
  const std::string policy(ParentPolicyName(o.parent_policy()));
  return {
      queue,
      row.id,
      row.name,
      row.data,
      row.opts,
      std::string(row.waiting_children ? "waiting-children" : JobStateName(row.placement.state)),
      static_cast<std::int64_t>(o.priority),
      static_cast<std::int64_t>(o.lifo ? 1 : 0),
      row.order_key,
      o.group_key ? D1Param(*o.group_key) : D1Param(nullptr),
      std::int64_t{1},
      row.placement.available_at,
      sql::Nullable(row.placement.dispatch_at),
      sql::Nullable(row.placement.dispatch_deadline),
      static_cast<std::int64_t>(o.attempts),
      o.parent ? D1Param(o.parent->queue) : D1Param(nullptr),
      o.parent ? D1Param(o.parent->id) : D1Param(nullptr),
      policy.empty() ? D1Param(nullptr) : D1Param(policy),
      o.deduplication ? D1Param(o.deduplication->id) : D1Param(nullptr),
      add_token,
      row.now,
      sql::Nullable(row.scheduler_id),
      static_cast<std::int64_t>(row.pending_deps)};
}

// A1-A4 (and A2 for debounce-replace), placed before the insert.
void AppendDedupeBefore(sql::Batch& batch, const std::string& queue, const NewRow& row) {
  const Dedup& d = *row.options.deduplication;
  const std::int64_t now = row.now;
  const bool simple = !d.ttl_ms;
  const std::string mode = simple ? "simple" : (d.extend || d.replace) ? "debounce" : "throttle";
  if (!simple) {  // A1: an expired key is gone.
    batch.Add(
        "DELETE FROM cfq_dedupe WHERE queue = ? AND dedup_id = ? AND expires_at IS NOT NULL "
        "AND expires_at <= ?",
        queue, d.id, now);
  }
  if (d.replace) {  // A2: the keyed job, still delayed, is replaced (T27).
    const std::string keyed =
        "SELECT job_id FROM cfq_dedupe WHERE queue = ? AND dedup_id = ? AND job_id <> ?";
    // The old job's `removed` survives its delete (the trigger keeps terminal events); the
    // `deduplicated` event belongs to the job that replaces it, so the delete cannot take it.
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT c.queue, c.id, "
        "'removed', ?, json_object('prev', 'delayed', 'deduplicationId', ?, "
        "'deduplicatedJobId', ?, 'epoch', c.epoch, 'gen', c.gen) FROM cfq_jobs c WHERE "
        "c.queue = ? AND c.state = 'delayed' AND c.id = (" +
            keyed + ")",
        now, d.id, row.id, queue, queue, d.id, row.id);
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT c.queue, ?, "
        "'deduplicated', ?, json_object('jobId', ?, 'deduplicationId', ?, 'deduplicatedJobId', "
        "c.id) FROM cfq_jobs c WHERE c.queue = ? AND c.state = 'delayed' AND c.id = (" +
            keyed + ")",
        row.id, now, row.id, d.id, queue, queue, d.id, row.id);
    batch.Add("DELETE FROM cfq_jobs WHERE queue = ? AND state = 'delayed' AND id = (" + keyed + ")",
              queue, queue, d.id, row.id);
  }
  // A3: the key, taken over when its job vanished (or, in simple mode, finished).
  const std::string finished = simple ? " AND finished_at IS NULL" : "";
  batch.Add(
      "INSERT INTO cfq_dedupe (queue, dedup_id, job_id, mode, expires_at, created_at) VALUES "
      "(?, ?, ?, ?, ?, ?) ON CONFLICT (queue, dedup_id) DO UPDATE SET job_id = excluded.job_id, "
      "mode = excluded.mode, expires_at = excluded.expires_at, created_at = excluded.created_at "
      "WHERE NOT EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = cfq_dedupe.queue AND "
      "id = cfq_dedupe.job_id" +
          finished + ")",
      queue, d.id, row.id, mode, simple ? D1Param(nullptr) : D1Param(now + *d.ttl_ms), now);
  if (d.extend) {  // A4: a hit pushes the key's expiry.
    batch.Add(
        "UPDATE cfq_dedupe SET expires_at = ? WHERE queue = ? AND dedup_id = ? AND job_id <> ?",
        now + *d.ttl_ms, queue, d.id, row.id);
  }
}

// A5-A9 for one row; returns the index of the final select (the winning row + add_token).
std::size_t AppendAdd(sql::Batch& batch, const std::string& queue, const NewRow& row,
                      const std::string& add_token) {
  const JobOptions& o = row.options;
  if (o.deduplication) AppendDedupeBefore(batch, queue, row);
  std::string where = "WHERE 1";
  std::vector<D1Param> params = InsertValues(queue, row, add_token);
  if (o.deduplication) {
    where += " AND (SELECT job_id FROM cfq_dedupe WHERE queue = ? AND dedup_id = ?) = ?";
    params.insert(params.end(), {queue, o.deduplication->id, row.id});
  }
  if (o.parent) {
    where +=
        " AND EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND "
        "state = 'waiting-children')";
    params.insert(params.end(), {o.parent->queue, o.parent->id});
  }
  batch.AddParams(
      "INSERT INTO cfq_jobs (" + std::string(kInsertColumns) +
          ") SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? " + where +
          " ON CONFLICT (queue, id) DO NOTHING",
      std::move(params));
  const std::string ours =
      "EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND add_token = ?)";
  if (o.parent) {  // A6: the dependency edge and the parent's count.
    batch.Add(
        "INSERT INTO cfq_deps (parent_queue, parent_id, child_queue, child_id, status, policy, "
        "updated_at) SELECT ?, ?, ?, ?, 'pending', ?, ? WHERE " +
            ours,
        o.parent->queue, o.parent->id, queue, row.id,
        o.parent_policy() == ParentPolicy::kNone
            ? D1Param(nullptr)
            : D1Param(std::string(ParentPolicyName(o.parent_policy()))),
        row.now, queue, row.id, add_token);
    batch.Add(
        "UPDATE cfq_jobs SET pending_deps = pending_deps + 1 WHERE queue = ? AND id = ? AND " +
            ours,
        o.parent->queue, o.parent->id, queue, row.id, add_token);
  }
  if (o.deduplication && o.deduplication->replace) {  // A2's event, when the insert lost.
    batch.Add(
        "DELETE FROM cfq_events WHERE queue = ? AND job_id = ? AND event = 'deduplicated' "
        "AND at = ? AND NOT " +
            ours,
        queue, row.id, row.now, queue, row.id, add_token);
  }
  const std::string one = "[" + sql::Dump(row.id) + "]";
  // A8: the duplicate's events, when this add inserted nothing.
  batch.Add(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, ?, 'duplicated', ?, "
      "json_object('jobId', ?) WHERE NOT " +
          ours + " AND EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ?)",
      queue, row.id, row.now, row.id, queue, row.id, add_token, queue, row.id);
  if (o.deduplication) {
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, k.job_id, "
        "'deduplicated', ?, json_object('jobId', k.job_id, 'deduplicationId', ?, "
        "'deduplicatedJobId', ?) FROM cfq_dedupe k WHERE k.queue = ? AND k.dedup_id = ? AND "
        "k.job_id <> ?",
        queue, row.now, o.deduplication->id, row.id, queue, o.deduplication->id, row.id);
    return batch.Add("SELECT " + std::string(kJobColumns) +
                         ", add_token FROM cfq_jobs WHERE queue = ? AND id = coalesce((SELECT "
                         "job_id FROM cfq_dedupe WHERE queue = ? AND dedup_id = ?), ?)",
                     queue, queue, o.deduplication->id, row.id);
  }
  return batch.Add(
      "SELECT " + std::string(kJobColumns) + ", add_token FROM cfq_jobs WHERE queue = ? AND id = ?",
      queue, row.id);  // A9.
}

Result<Job> WinningRow(const platform::D1Result& result, const std::string& add_token,
                       const NewRow& row) {
  if (result.results.empty()) {
    if (row.options.parent) {
      return Status::FailedPrecondition("parent job " + row.options.parent->queue + ":" +
                                        row.options.parent->id +
                                        " does not exist or is not waiting for children");
    }
    return Status::Unknown("the added job was not found after its batch");
  }
  const auto& values = result.results.front().values;
  Job job = JobFromValues(values);
  job.is_new = sql::Str(values.at(kJobColumnCount)) == add_token;
  return job;
}

// The KV pause hint (best effort: a stale value only moves a send to the dispatcher or back).
Task<bool> PauseHint(EngineContext& context, std::string queue) {
  if (!context.config.kv_pause_hint || context.kv == nullptr) co_return false;
  auto value = co_await context.kv->Get("cfq:paused:" + queue);
  if (!value.ok() || !value->has_value()) co_return false;
  const auto* text = std::get_if<std::string>(&**value);
  co_return (text != nullptr && *text == "1");
}

Status ClosedError() { return Status::FailedPrecondition("the engine is closed"); }

// The KV entry of a throttle key (EngineConfig::kv_throttle_cache): {jobId, expiresAt}.
struct ThrottleKey {
  std::string kv_key;
  std::int64_t ttl_ms = 0;
};

std::optional<ThrottleKey> ThrottleKeyOf(const EngineContext& context, const std::string& queue,
                                         const JobOptions& options) {
  if (!context.config.kv_throttle_cache || context.kv == nullptr) return std::nullopt;
  const auto& d = options.deduplication;
  if (!d || !d->ttl_ms || d->extend || d->replace) return std::nullopt;  // Throttle mode only.
  return ThrottleKey{ThrottleKvKey(queue, d->id), *d->ttl_ms};
}

// The keyed job when the cache holds a live entry for the key and the job still exists.
Task<std::optional<Job>> CachedThrottleHit(EngineContext& context, ThrottleKey key,
                                           std::string queue) {
  auto value = co_await context.kv->Get(key.kv_key);
  if (!value.ok() || !value->has_value()) co_return std::nullopt;
  const auto* text = std::get_if<std::string>(&**value);
  if (text == nullptr) co_return std::nullopt;
  const Json entry = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!entry.is_object() || !entry.contains("jobId") || !entry["jobId"].is_string() ||
      !entry.contains("expiresAt") || !entry["expiresAt"].is_number_integer() ||
      entry["expiresAt"].get<std::int64_t>() <= context.NowMs()) {
    co_return std::nullopt;
  }
  const std::string id = entry["jobId"].get<std::string>();
  auto row = co_await context.db
                 ->Prepare("SELECT " + std::string(kJobColumns) +
                           " FROM cfq_jobs WHERE queue = ? AND id = ?")
                 .Bind(queue, id)
                 .All();
  if (!row.ok() || row->results.empty()) co_return std::nullopt;  // The normal add decides.
  Job job = JobFromValues(row->results.front().values);
  job.is_new = false;
  if (context.tracing()) {
    context.Trace(core::TraceEvent("engine.throttle-cache-hit").Str("queue", queue).Str("job", id));
  }
  co_return job;
}

// Best effort after the commit: KV's TTL is at least 60 s, so the entry embeds its expiry.
Task<void> CacheThrottleKey(EngineContext& context, ThrottleKey key, std::string job_id,
                            std::int64_t now) {
  const std::int64_t expires_at = now + key.ttl_ms;
  platform::KvPutOptions put;
  put.expiration_ttl = std::max<std::int64_t>(60, (key.ttl_ms + 999) / 1000);
  const Json entry = {{"jobId", job_id}, {"expiresAt", expires_at}};
  const Status cached = co_await context.kv->Put(key.kv_key, entry.dump(), put);
  (void)cached;  // A missing entry only costs the next add its D1 batch.
}

}  // namespace

Task<void> DispatchNewRows(EngineContext& context, const QueueConfig& config,
                           const std::vector<Job>& jobs, const std::vector<Placement>& placements,
                           std::int64_t now) {
  std::vector<OutgoingEnvelope> out;
  std::map<std::string, std::int64_t> kicks;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = jobs[i];
    if (!job.is_new) continue;
    if (job.dispatch_at) {
      Envelope envelope{job.queue_name, job.id, job.gen, job.available_at, job.group_key};
      out.emplace_back(std::move(envelope), EnvelopeDelaySeconds(job.available_at, now, config));
    } else if (placements[i].needs_dispatcher) {
      auto [it, inserted] = kicks.emplace(job.queue_name, job.available_at);
      if (!inserted) it->second = std::min(it->second, job.available_at);
    }
  }
  if (!out.empty()) {
    const Status sent = co_await SendEnvelopes(context, std::move(out));
    (void)sent;  // The rows are dispatched: R-LOST resends what did not go out.
  }
  for (const auto& [queue, at] : kicks) {
    const Status kicked = co_await KickCoordinator(context, queue, at);
    (void)kicked;  // The cron tick kicks queues with undispatched due rows (R-DISPATCH).
  }
}

Task<Result<Job>> Queue::Add(std::string name, Json data, JobOptions options) {
  EngineContext& context = *context_;
  if (context.closed) co_return ClosedError();
  auto config = co_await QueueConfigFor(context, name_);
  if (!config.ok()) co_return config.status();
  const std::optional<ThrottleKey> throttle = ThrottleKeyOf(context, name_, options);
  if (throttle) {
    auto cached = co_await CachedThrottleHit(context, *throttle, name_);
    if (cached) co_return std::move(*cached);
  }
  const bool hint = co_await PauseHint(context, name_);
  const std::int64_t now = context.NowMs();
  auto row =
      PrepareRow(context, name_, *config, std::move(name), std::move(data), options, now, hint);
  if (!row.ok()) co_return row.status();
  const std::string add_token = context.random.Hex(8);
  sql::Batch batch(*context.db);
  const std::size_t select = AppendAdd(batch, name_, *row, add_token);
  auto results = co_await batch.Run("add");
  if (!results.ok()) co_return SchemaMissingOr(results.status());
  auto job = WinningRow(results->at(select), add_token, *row);
  if (!job.ok()) co_return job.status();
  if (context.tracing()) {
    context.Trace(core::TraceEvent("engine.added")
                      .Str("queue", name_)
                      .Str("job", job->id)
                      .Bool("new", job->is_new)
                      .Str("state", std::string(JobStateName(job->state))));
  }
  std::vector<Job> jobs{*job};
  std::vector<Placement> placements{row->placement};
  co_await DispatchNewRows(context, *config, jobs, placements, now);
  if (throttle && job->is_new) co_await CacheThrottleKey(context, *throttle, job->id, now);
  co_return std::move(*job);
}

namespace {

// What rows of one insert statement share: every column but id, name and data. A bulk add of
// jobs with the same options is one shape, so the statement extracts three fields per row from
// its JSON and binds the rest once.
struct Shape {
  std::string opts, state;
  std::int64_t priority = 0, lifo = 0, order_key = 0, available_at = 0, attempts = 1;
  std::int64_t pending_deps = 0;
  std::optional<std::string> group, scheduler, parent_queue, parent_id, policy;
  std::optional<std::int64_t> dispatch_at, deadline;

  auto Key() const {
    return std::tie(opts, state, priority, lifo, order_key, available_at, attempts, pending_deps,
                    group, scheduler, parent_queue, parent_id, policy, dispatch_at, deadline);
  }
  friend bool operator<(const Shape& a, const Shape& b) { return a.Key() < b.Key(); }
};

Shape ShapeOf(const NewRow& row) {
  const JobOptions& o = row.options;
  Shape shape;
  shape.opts = row.opts;
  shape.state =
      row.waiting_children ? "waiting-children" : std::string(JobStateName(row.placement.state));
  shape.priority = o.priority;
  shape.lifo = o.lifo ? 1 : 0;
  shape.order_key = row.order_key;
  shape.available_at = row.placement.available_at;
  shape.attempts = o.attempts;
  shape.pending_deps = row.pending_deps;
  shape.group = o.group_key;
  shape.scheduler = row.scheduler_id;
  if (o.parent) {
    shape.parent_queue = o.parent->queue;
    shape.parent_id = o.parent->id;
  }
  const ParentPolicy policy = o.parent_policy();
  if (policy != ParentPolicy::kNone) shape.policy = std::string(ParentPolicyName(policy));
  shape.dispatch_at = row.placement.dispatch_at;
  shape.deadline = row.placement.dispatch_deadline;
  return shape;
}

std::string IdList(const std::vector<const NewRow*>& rows) {
  sql::JsonList ids;
  for (const NewRow* row : rows) ids.Add(row->id);
  return ids.Text();
}

}  // namespace

void AppendInsertRows(sql::Batch& batch, const std::string& queue,
                      const std::vector<const NewRow*>& rows, const std::string& add_token,
                      const InsertGuard* guard, bool fail_on_conflict) {
  if (rows.empty()) return;
  std::map<Shape, std::string> values;  // Shape -> its rows as [[id, name, data], ...].
  for (const NewRow* row : rows) {
    std::string& out = values[ShapeOf(*row)];
    out += out.empty() ? "[[" : ",[";
    core::AppendJsonString(out, row->id);
    out += ',';
    core::AppendJsonString(out, row->name);
    out += ',' + row->data + ']';  // Embedded as JSON; read back with `->` (compact text).
  }
  const std::int64_t now = rows.front()->now;
  for (auto& [shape, list] : values) {
    list += ']';
    std::vector<D1Param> params{queue,
                                shape.opts,
                                shape.state,
                                shape.priority,
                                shape.lifo,
                                shape.order_key,
                                sql::Nullable(shape.group),
                                shape.available_at,
                                sql::Nullable(shape.dispatch_at),
                                sql::Nullable(shape.deadline),
                                shape.attempts,
                                sql::Nullable(shape.parent_queue),
                                sql::Nullable(shape.parent_id),
                                sql::Nullable(shape.policy),
                                add_token,
                                now,
                                sql::Nullable(shape.scheduler),
                                shape.pending_deps,
                                std::move(list)};
    std::string where = "1";
    if (guard != nullptr) {
      where = guard->sql;
      params.insert(params.end(), guard->params.begin(), guard->params.end());
    }
    batch.AddParams(
        "INSERT INTO cfq_jobs (" + std::string(kInsertColumns) +
            ") SELECT ?, v.value ->> 0, v.value ->> 1, v.value -> 2, ?, ?, ?, ?, ?, ?, 1, ?, ?, "
            "?, ?, ?, ?, ?, NULL, ?, ?, ?, ? FROM json_each(?) v WHERE " +
            where +
            (fail_on_conflict ? std::string() : std::string(" ON CONFLICT (queue, id) DO NOTHING")),
        std::move(params));
  }
  const std::string ids = IdList(rows);
  batch.Add(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT c.queue, c.id, "
      "'duplicated', ?, json_object('jobId', c.id) FROM json_each(?) j CROSS JOIN cfq_jobs c ON "
      "c.queue = ? AND c.id = j.value WHERE c.add_token <> ? ORDER BY j.key",
      now, ids, queue, add_token);
}

std::size_t AppendSelectRows(sql::Batch& batch, const std::string& queue,
                             const std::vector<std::string>& ids) {
  sql::JsonList list;
  for (const auto& id : ids) list.Add(id);
  return batch.Add(
      "SELECT c.seq, c.id, c.add_token FROM json_each(?) j CROSS JOIN cfq_jobs c ON "
      "c.queue = ? AND c.id = j.value ORDER BY j.key",
      list.Text(), queue);
}

namespace {

// The fields of a job that its new row knows, but id, name, data and opts.
Job JobShellFromNewRow(const std::string& queue, const NewRow& row, std::int64_t seq) {
  Job job;
  job.seq = seq;
  job.queue_name = queue;
  job.state = row.waiting_children ? JobState::kWaitingChildren : row.placement.state;
  job.priority = row.options.priority;
  job.lifo = row.options.lifo;
  job.timestamp = row.now;
  job.delay = row.options.delay_ms;
  job.available_at = row.placement.available_at;
  job.dispatch_at = row.placement.dispatch_at;
  job.attempts_max = row.options.attempts;
  job.group_key = row.options.group_key;
  job.parent = row.options.parent;
  job.parent_policy = row.options.parent_policy();
  job.pending_deps = row.pending_deps;
  if (row.options.deduplication) job.dedup_id = row.options.deduplication->id;
  job.scheduler_id = row.scheduler_id;
  job.is_new = true;
  return job;
}

}  // namespace

Job JobFromNewRow(const std::string& queue, const NewRow& row, std::int64_t seq) {
  Job job = JobShellFromNewRow(queue, row, seq);
  job.id = row.id;
  job.name = row.name;
  job.data = row.data_json;
  job.opts = row.opts_json;
  return job;
}

Job JobFromNewRow(const std::string& queue, NewRow&& row, std::int64_t seq) {
  Job job = JobShellFromNewRow(queue, row, seq);
  job.id = row.id;  // Kept: the caller may still need the row's id.
  job.name = std::move(row.name);
  job.data = std::move(row.data_json);
  job.opts = std::move(row.opts_json);
  return job;
}

Task<Result<std::vector<Job>>> CollectRows(EngineContext& context, std::string queue,
                                           std::vector<NewRow*> rows,
                                           const platform::D1Result& selected,
                                           std::string add_token) {
  std::vector<Job> out;
  out.reserve(rows.size());
  std::vector<std::string> others;  // Rows this add did not create: read them whole.
  for (std::size_t i = 0; i < rows.size() && i < selected.results.size(); ++i) {
    const auto& v = selected.results[i].values;
    if (sql::Str(v[2]) == add_token) {
      out.push_back(JobFromNewRow(queue, std::move(*rows[i]), sql::Int(v[0])));
    } else {
      others.push_back(rows[i]->id);
      out.emplace_back();
    }
  }
  if (others.empty()) co_return out;
  sql::JsonList list;
  for (const auto& id : others) list.Add(id);
  auto read = co_await context.db
                  ->Prepare("SELECT " + std::string(kJobColumns) +
                            " FROM cfq_jobs WHERE queue = ? AND id IN (SELECT value FROM "
                            "json_each(?))")
                  .Bind(queue, list.Text())
                  .All();
  if (!read.ok()) co_return read.status();
  std::map<std::string, Job> existing;
  for (const auto& row : read->results) {
    Job job = JobFromRow(row);
    existing.emplace(job.id, std::move(job));
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!out[i].id.empty()) continue;
    const auto it = existing.find(rows[i]->id);
    if (it != existing.end()) out[i] = it->second;
  }
  co_return out;
}

Task<Result<std::vector<Job>>> Queue::AddBulk(std::vector<BulkJob> input) {
  EngineContext& context = *context_;
  if (context.closed) co_return ClosedError();
  std::vector<Job> out;
  if (input.empty()) co_return out;
  out.reserve(input.size());
  auto config = co_await QueueConfigFor(context, name_);
  if (!config.ok()) co_return config.status();
  const bool paused = co_await PauseHint(context, name_);
  const std::int64_t now = context.NowMs();
  std::vector<NewRow> rows;
  rows.reserve(input.size());
  for (auto& job : input) {
    auto row = PrepareRow(context, name_, *config, std::move(job.name), std::move(job.data),
                          job.options, now, paused);
    if (!row.ok()) co_return row.status();
    rows.push_back(std::move(*row));
  }
  std::size_t first = 0;
  while (first < rows.size()) {
    // A chunk: at most 500 rows or 1.5 MB of JSON.
    std::size_t last = first;
    std::size_t bytes = 0;
    while (last < rows.size() && last - first < kBulkChunkJobs &&
           (last == first || bytes + rows[last].data.size() <= kBulkChunkBytes)) {
      bytes += rows[last].data.size() + rows[last].opts.size();
      ++last;
    }
    const std::string add_token = context.random.Hex(8);
    sql::Batch batch(*context.db);
    std::vector<const NewRow*> plain;
    std::vector<NewRow*> plain_rows;  // The same rows, for the jobs to take their values.
    std::vector<std::pair<std::size_t, std::size_t>> singles;  // (row index, select index)
    for (std::size_t i = first; i < last; ++i) {
      if (rows[i].options.deduplication || rows[i].options.parent) {
        singles.emplace_back(i, AppendAdd(batch, name_, rows[i], add_token));
      } else {
        plain.push_back(&rows[i]);
        plain_rows.push_back(&rows[i]);
      }
    }
    std::optional<std::size_t> plain_select;
    if (!plain.empty()) {
      AppendInsertRows(batch, name_, plain, add_token);
      std::vector<std::string> ids;
      for (const NewRow* row : plain) ids.push_back(row->id);
      plain_select = AppendSelectRows(batch, name_, ids);
    }
    auto results = co_await batch.Run("add-bulk");
    if (!results.ok()) co_return SchemaMissingOr(results.status());
    // Reassemble in input order.
    std::vector<Job> chunk(last - first);
    std::vector<Placement> placements(last - first);
    std::vector<Job> plain_jobs;
    if (plain_select) {
      auto collected =
          co_await CollectRows(context, name_, plain_rows, results->at(*plain_select), add_token);
      if (!collected.ok()) co_return collected.status();
      plain_jobs = std::move(*collected);
    }
    std::size_t next_plain = 0;
    for (std::size_t i = first; i < last; ++i) {
      placements[i - first] = rows[i].placement;
      const auto single =
          std::find_if(singles.begin(), singles.end(), [&](const auto& s) { return s.first == i; });
      if (single != singles.end()) {
        auto job = WinningRow(results->at(single->second), add_token, rows[i]);
        if (!job.ok()) co_return job.status();
        chunk[i - first] = std::move(*job);
        continue;
      }
      chunk[i - first] = std::move(plain_jobs.at(next_plain++));
    }
    co_await DispatchNewRows(context, *config, chunk, placements, now);
    for (auto& job : chunk) out.push_back(std::move(job));
    first = last;
  }
  co_return out;
}

}  // namespace cfemu::engine
