// The coordinator's alarm (engine-spec.md §4.3): at least once, every step idempotent.
// (1) expired leases: R-STALL (T12/T13) and R-ORPHAN in one D1 batch, then sends, then the
// leases go; (2) the dispatch pass (T07 for due undispatched delayed rows, T05 in priority/LIFO
// order within the window); (3) the retention sweep; (4) idle buckets are forgotten; (5) the
// `drained` event; (6) the next alarm, or none when the queue is idle.
#include <algorithm>

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/effects.h"
#include "src/engine/job_row.h"
#include "src/engine/job_store.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

namespace {

JobOptions OptionsOf(const Job& job) {
  auto options = JobOptionsFromJson(job.opts);
  return options.ok() ? *options : JobOptions();
}

}  // namespace

Task<Status> Coordinator::ProcessExpiredLeases(std::int64_t now) {
  struct Expired {
    std::string id;
    Lease lease;
  };
  std::vector<Expired> expired;
  Json ids = Json::array();
  for (const auto& [id, lease] : leases_) {
    if (lease.expires_at + config_.stalled_grace_ms <= now) {
      expired.push_back({id, lease});
      ids.push_back(id);
    }
  }
  if (expired.empty()) co_return Status::Ok();
  auto context = Context();
  if (!context) co_return Status::FailedPrecondition("the coordinator cannot reach D1");
  auto rows = co_await context->db
                  ->Prepare("SELECT " + std::string(kJobColumns) +
                            " FROM cfq_jobs WHERE queue = ? AND id IN (SELECT value FROM "
                            "json_each(?))")
                  .Bind(queue_, sql::Dump(ids))
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::map<std::string, Job> jobs;
  for (const auto& row : rows->results) {
    Job job = JobFromRow(row);
    jobs.emplace(job.id, std::move(job));
  }
  sql::Batch batch(*context->db);
  struct Effect {
    std::optional<std::size_t> redispatch;
    store::FlowEffects flow;
    Placement placement;
    const Job* job = nullptr;
    std::int64_t gen = 0;
  };
  std::vector<Effect> effects;
  for (const auto& e : expired) {
    const auto it = jobs.find(e.id);
    if (it == jobs.end()) continue;
    const Job& job = it->second;
    Effect effect;
    effect.job = &job;
    if (job.state == JobState::kActive && job.gen == e.lease.token) {
      // R-STALL: the holder stopped renewing.
      const store::Guard pre = store::GuardOf(job);
      Json stalled = {{"prev", "active"}, {"stalledCount", job.stalled_counter + 1}};
      store::Event(batch, pre, "stalled", std::move(stalled), job.epoch, job.gen + 1, now);
      if (job.stalled_counter + 1 > config_.max_stalled_count) {  // T13
        store::Failure failure;
        failure.reason = std::string(kStalledTooOften);
        failure.count_attempt = false;
        failure.stalled = true;
        failure.keep = KeepPolicyOf(OptionsOf(job).remove_on_fail);
        effect.flow = store::AppendFailure(batch, job, pre, failure, now).flow;
      } else {  // T12
        store::Redispatch r;
        r.placement =
            Place(job.priority, job.lifo, std::min(job.available_at, now), now, config_, paused_);
        r.extra_sets = ", stalled_count = stalled_count + 1";
        effect.placement = r.placement;
        effect.redispatch = store::AppendRedispatch(batch, job, pre, r, now);
        effect.gen = job.gen + 1;
      }
      if (env().tracing()) {
        env().Trace(core::TraceEvent("engine.stalled")
                        .Str("queue", queue_)
                        .Str("job", job.id)
                        .Int("gen", job.gen));
      }
    } else if (IsDispatchable(job.state) && job.gen == e.lease.token - 1) {
      // R-ORPHAN: granted, but the claim never landed and the envelope was acked or lost.
      store::Redispatch r;
      r.placement = Place(job.priority, job.lifo, job.available_at, now, config_, paused_);
      r.event = "cfq:redispatched";
      r.event_data = {{"reason", "orphaned lease"}};
      effect.placement = r.placement;
      effect.redispatch = store::AppendRedispatch(batch, job, store::GuardOf(job), r, now);
      effect.gen = job.gen + 1;
    } else {
      continue;  // R-LEASE-GC only.
    }
    effects.push_back(effect);
  }
  PostCommit post;
  if (!batch.empty()) {
    auto results = co_await batch.Run("stall:" + queue_);
    if (!results.ok()) co_return results.status();
    for (const auto& effect : effects) {
      CollectFlowEffects(*results, effect.flow, post);
      if (!effect.redispatch || results->at(*effect.redispatch).meta.changes == 0) continue;
      const Job& job = *effect.job;
      if (effect.placement.dispatch_at) {
        post.Send(
            Envelope{queue_, job.id, effect.gen, effect.placement.available_at, job.group_key});
      } else if (effect.placement.needs_dispatcher && !paused_) {
        kick_at_ = std::min(kick_at_.value_or(now), effect.placement.available_at);
      }
    }
  }
  for (const auto& e : expired) {  // The lease goes unless someone took it over meanwhile.
    const auto it = leases_.find(e.id);
    if (it != leases_.end() && it->second.token == e.lease.token &&
        it->second.owner == e.lease.owner && it->second.expires_at == e.lease.expires_at) {
      CFEMU_CO_RETURN_IF_ERROR(DeleteLease(e.id));
    }
  }
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  if (kick_at_) CFEMU_CO_RETURN_IF_ERROR(SaveFlag("kick_at", std::to_string(*kick_at_)));
  co_await ApplyPostCommit(*context, std::move(post));
  co_return Status::Ok();
}

namespace {

// A dispatch rank (priority, order_key, seq) as text that sorts like the tuple: each number
// offset to be non-negative and zero-padded (order_key is negative for LIFO rows).
std::string RankText(std::int64_t priority, std::int64_t order_key, std::int64_t seq) {
  const auto part = [](std::int64_t value) {
    const auto biased = static_cast<std::uint64_t>(value) ^ (std::uint64_t{1} << 63);
    std::string digits = std::to_string(biased);
    return std::string(20 - digits.size(), '0') + digits;
  };
  return part(priority) + "." + part(order_key) + "." + part(seq);
}

}  // namespace

Task<Status> Coordinator::DispatchPass(std::int64_t now) {
  kick_at_.reset();
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("kick_at", ""));
  if (paused_) co_return Status::Ok();
  for (auto it = inflight_.begin(); it != inflight_.end();) {  // Lost dispatcher envelopes.
    if (it->second + config_.dispatch_timeout_ms <= now) {
      CFEMU_CO_RETURN_IF_ERROR(SaveInflight(it->first, std::nullopt));
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  const std::int64_t room = static_cast<std::int64_t>(config_.dispatch_window) -
                            static_cast<std::int64_t>(inflight_.size());
  auto context = Context();
  if (!context) co_return Status::FailedPrecondition("the coordinator cannot reach D1");
  sql::Batch batch(*context->db);
  // T07: due delayed rows nobody owes an envelope become waiting/prioritized (gen unchanged).
  batch.Add(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'waiting', ?, "
      "json_object('prev', 'delayed', 'epoch', epoch, 'gen', gen) FROM cfq_jobs WHERE queue = ? "
      "AND state = 'delayed' AND dispatch_at IS NULL AND available_at <= ? ORDER BY seq",
      now, queue_, now);
  batch.Add(
      "UPDATE cfq_jobs SET state = CASE WHEN priority > 0 THEN 'prioritized' ELSE 'waiting' END "
      "WHERE queue = ? AND state = 'delayed' AND dispatch_at IS NULL AND available_at <= ?",
      queue_, now);
  std::optional<std::size_t> pass;
  if (room > 0) {  // T05, in (priority, order_key, seq) order.
    pass = batch.Add(
        "UPDATE cfq_jobs SET gen = gen + 1, dispatch_at = ?, dispatch_deadline = max(available_at, "
        "?) + ? WHERE seq IN (SELECT seq FROM cfq_jobs WHERE queue = ? AND dispatch_at IS NULL AND "
        "state IN ('waiting','prioritized') AND available_at <= ? ORDER BY priority, order_key, "
        "seq LIMIT ?) RETURNING id, gen, available_at, group_key, priority, order_key, seq",
        now, now, config_.dispatch_timeout_ms, queue_, now, room);
  }
  // INV-14: the best ready row the pass left behind, in the same snapshot (for the trace).
  std::optional<std::size_t> left;
  if (pass && env().tracing()) {
    left = batch.Add(
        "SELECT priority, order_key, seq FROM cfq_jobs WHERE queue = ? AND dispatch_at IS NULL "
        "AND state IN ('waiting','prioritized') AND available_at <= ? ORDER BY priority, "
        "order_key, seq LIMIT 1",
        queue_, now);
  }
  // The earliest delayed row the dispatcher owns (priority, LIFO, strict order); plain delayed
  // rows beyond the horizon are the cron's (R-PROMOTE), so an idle queue sets no far alarm.
  const std::size_t next = batch.Add(
      "SELECT min(available_at) FROM cfq_jobs WHERE queue = ? AND state = 'delayed' AND "
      "dispatch_at IS NULL AND (priority > 0 OR lifo = 1 OR ?)",
      queue_, static_cast<std::int64_t>(config_.strict_order ? 1 : 0));
  const std::size_t counts = batch.Add(
      "SELECT coalesce(sum(n), 0) FROM cfq_counts WHERE queue = ? AND state IN ('waiting', "
      "'prioritized')",
      queue_);
  auto results = co_await batch.Run("dispatch:" + queue_);
  if (!results.ok()) co_return results.status();
  struct Row {
    std::int64_t priority, order_key, seq;
    Envelope envelope;
  };
  std::vector<Row> rows;
  if (pass) {
    for (const auto& r : results->at(*pass).results) {
      const auto& v = r.values;
      rows.push_back(
          {sql::Int(v[4]), sql::Int(v[5]), sql::Int(v[6]),
           Envelope{queue_, sql::Str(v[0]), sql::Int(v[1]), sql::Int(v[2]), sql::OptStr(v[3])}});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.priority, a.order_key, a.seq) < std::tie(b.priority, b.order_key, b.seq);
  });
  pass_pending_ = room <= 0 || static_cast<std::int64_t>(rows.size()) == room;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("pass_pending", pass_pending_ ? "1" : "0"));
  const auto& min_delayed = results->at(next).results;
  next_delayed_.reset();
  if (!min_delayed.empty() && !sql::IsNull(min_delayed[0].values[0])) {
    next_delayed_ = sql::Int(min_delayed[0].values[0]);
  }
  CFEMU_CO_RETURN_IF_ERROR(
      SaveFlag("next_delayed", next_delayed_ ? std::to_string(*next_delayed_) : ""));
  const std::int64_t ready = sql::Int(results->at(counts).results.at(0).values.at(0));
  if (ready == 0 && had_waiting_ && rows.empty()) {
    sql::Batch drained(*context->db);
    store::QueueEvent(drained, queue_, "drained", Json::object(), now);
    auto written = co_await drained.Run("drained:" + queue_);
    (void)written;  // An event for observers; nothing depends on it.
  }
  had_waiting_ = ready > 0;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("had_waiting", had_waiting_ ? "1" : "0"));
  if (pass && env().tracing()) {
    core::TraceEvent traced("engine.dispatch-pass");
    traced.Str("queue", queue_)
        .Int("sent", static_cast<std::int64_t>(rows.size()))
        .Int("outstanding", static_cast<std::int64_t>(inflight_.size() + rows.size()))
        .Int("window", static_cast<std::int64_t>(config_.dispatch_window));
    if (!rows.empty()) {
      traced.Str("last", RankText(rows.back().priority, rows.back().order_key, rows.back().seq));
    }
    const auto& rest = results->at(*left).results;
    if (!rest.empty()) {
      const auto& v = rest[0].values;
      traced.Str("next", RankText(sql::Int(v[0]), sql::Int(v[1]), sql::Int(v[2])));
    }
    env().Trace(traced);
  }
  std::vector<OutgoingEnvelope> out;
  for (auto& row : rows) {
    inflight_[row.envelope.id] = now;
    CFEMU_CO_RETURN_IF_ERROR(SaveInflight(row.envelope.id, now));
    const int delay = EnvelopeDelaySeconds(row.envelope.at, now, config_);
    out.emplace_back(std::move(row.envelope), delay);
  }
  if (!out.empty()) {
    const Status sent = co_await SendEnvelopes(*context, std::move(out));
    (void)sent;  // Dispatched rows whose envelope was lost come back through R-LOST.
  }
  co_return Status::Ok();
}

Task<Status> Coordinator::RetentionSweep(std::int64_t now) {
  auto context = Context();
  if (!context) co_return Status::FailedPrecondition("the coordinator cannot reach D1");
  const std::int64_t limit = config_.sweep_batch;
  // Count policies: one cutoff per distinct (state, keep_count) among the rows that carry one
  // (engine-spec.md §7.1), so the sweep never ranks rows without a policy.
  auto pairs = co_await context->db
                   ->Prepare(
                       "SELECT DISTINCT state, keep_count FROM cfq_jobs WHERE queue = ? AND "
                       "state IN ('completed','failed') AND keep_count IS NOT NULL")
                   .Bind(queue_)
                   .All();
  if (!pairs.ok()) co_return pairs.status();
  struct Selection {
    std::string sql;  // "SELECT seq ..." with its params.
    std::vector<sql::D1Param> params;
    std::string policy;
  };
  std::vector<Selection> selections;
  selections.push_back(
      {"SELECT seq FROM cfq_jobs WHERE queue = ? AND state IN ('completed','failed') AND "
       "keep_age_s IS NOT NULL AND finished_at < ? - keep_age_s * 1000 ORDER BY seq LIMIT ?",
       {queue_, now, limit},
       "age"});
  for (const auto& row : pairs->results) {
    const std::string state = sql::Str(row.values[0]);
    const std::int64_t keep = sql::Int(row.values[1]);
    if (keep <= 0) {
      selections.push_back(
          {"SELECT seq FROM cfq_jobs WHERE queue = ? AND state = ? AND "
           "keep_count = ? ORDER BY seq LIMIT ?",
           {queue_, state, keep, limit},
           "count"});
      continue;
    }
    selections.push_back(
        {"SELECT seq FROM cfq_jobs WHERE queue = ? AND state = ? AND keep_count = ? AND "
         "(finished_at, seq) < (SELECT finished_at, seq FROM cfq_jobs WHERE queue = ? AND state = "
         "? ORDER BY finished_at DESC, seq DESC LIMIT 1 OFFSET ?) ORDER BY seq LIMIT ?",
         {queue_, state, keep, queue_, state, keep - 1, limit},
         "count"});
  }
  sql::Batch batch(*context->db);
  std::vector<std::size_t> deletes;
  for (const Selection& selection : selections) {
    std::vector<sql::D1Param> params{now, selection.policy};
    params.insert(params.end(), selection.params.begin(), selection.params.end());
    batch.AddParams(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'removed', ?, "
        "json_object('prev', state, 'reason', 'retention', 'policy', ?, 'epoch', epoch, 'gen', "
        "gen) FROM cfq_jobs WHERE seq IN (" +
            selection.sql + ") ORDER BY seq",
        std::move(params));
    deletes.push_back(batch.AddParams("DELETE FROM cfq_jobs WHERE seq IN (" + selection.sql + ")",
                                      selection.params));
  }
  batch.Add(
      "DELETE FROM cfq_events WHERE queue = ? AND eid <= (SELECT eid FROM cfq_events WHERE "
      "queue = ? ORDER BY eid DESC LIMIT 1 OFFSET ?)",
      queue_, queue_, config_.max_len_events);
  batch.Add("DELETE FROM cfq_metrics WHERE queue = ? AND minute >= 0 AND minute < ?", queue_,
            now - config_.metrics_max_data_points * 60'000);
  batch.Add(
      "DELETE FROM cfq_dedupe WHERE queue = ? AND ((expires_at IS NOT NULL AND expires_at <= ?) "
      "OR (mode = 'simple' AND NOT EXISTS (SELECT 1 FROM cfq_jobs j WHERE j.queue = "
      "cfq_dedupe.queue AND j.id = cfq_dedupe.job_id AND j.finished_at IS NULL)))",
      queue_, now);
  batch.Add("DELETE FROM cfq_dead_letters WHERE queue = ? AND at < ?", queue_,
            now - core::Days(14).ms());
  auto results = co_await batch.Run("retention:" + queue_);
  if (!results.ok()) co_return results.status();
  bool full = false;  // A full page: more may be due.
  for (std::size_t index : deletes) full = full || results->at(index).meta.changes >= limit;
  last_sweep_ = now;
  finished_since_sweep_ = full;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("last_sweep", std::to_string(now)));
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("finished_since_sweep", finished_since_sweep_ ? "1" : "0"));
  co_return Status::Ok();
}

void Coordinator::CollectIdleBuckets(std::int64_t now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const LimiterConfig* limiter = nullptr;
    if (it->first == "queue") {
      limiter = config_.limiter ? &*config_.limiter : nullptr;
    } else {
      limiter = config_.group_limiter ? &*config_.group_limiter : nullptr;
    }
    if (limiter == nullptr || BucketIsIdle(*limiter, it->second, now)) {
      auto sql = storage().sql();
      if (sql.ok()) (void)(*sql)->Exec("DELETE FROM cfq_buckets WHERE key = ?", it->first);
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

Task<Status> Coordinator::Alarm(platform::AlarmInfo) {
  CFEMU_CO_RETURN_IF_ERROR(Load(std::string()));
  alarm_at_.reset();  // This alarm is consumed; what comes next is set below.
  alarm_known_ = true;
  if (queue_.empty()) co_return Status::Ok();  // Never used: nothing to do.
  const std::int64_t now = NowMs();
  Status status = co_await EnsureConfig();
  if (status.ok()) status = co_await ProcessExpiredLeases(now);
  const bool pass_due = (kick_at_ && *kick_at_ <= now) ||
                        (next_delayed_ && *next_delayed_ <= now) ||
                        (pass_pending_ && !inflight_.empty() &&
                         inflight_.begin()->second + config_.dispatch_timeout_ms <= now);
  if (status.ok() && pass_due) status = co_await DispatchPass(now);
  if (status.ok() && finished_since_sweep_ && now >= last_sweep_ + config_.retention_sweep_ms) {
    status = co_await RetentionSweep(now);
  }
  CollectIdleBuckets(now);
  if (!status.ok()) {
    // The platform would retry a failed alarm only six times and then drop it, leaving leases
    // to expire unseen: the coordinator retries on its own schedule (2 s doubling, at most a
    // minute) and never lets its alarm lapse. Only if even that cannot be set does the
    // platform's retry take over, and the next arm asks the platform what is set.
    alarm_failures_ = std::min(alarm_failures_ + 1, 5);
    const std::int64_t retry_at = now + (std::int64_t{2'000} << (alarm_failures_ - 1));
    const Status armed = co_await storage().SetAlarm(core::Instant::FromUnixMs(retry_at));
    if (!armed.ok()) {
      alarm_known_ = false;
      co_return status;
    }
    alarm_at_ = retry_at;
    co_return Status::Ok();
  }
  alarm_failures_ = 0;
  const std::optional<std::int64_t> next = NextAlarmAt();
  if (next) {
    CFEMU_CO_RETURN_IF_ERROR(
        co_await storage().SetAlarm(core::Instant::FromUnixMs(std::max(*next, now))));
    alarm_at_ = std::max(*next, now);
  }
  co_return Status::Ok();
}

}  // namespace cfemu::engine
