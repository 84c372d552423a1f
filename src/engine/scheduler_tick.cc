#include "src/engine/scheduler_tick.h"

#include <algorithm>
#include <map>
#include <set>

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/effects.h"
#include "src/engine/job_row.h"
#include "src/engine/job_scheduler.h"
#include "src/engine/job_store.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

namespace {

// (2) R-PROMOTE: plain delayed rows of unpaused queues due within the horizon get their
// envelope now, with the remaining delay (T06).
Task<Result<std::int64_t>> Promote(EngineContext& context, std::int64_t now) {
  sql::Batch batch(*context.db);
  const std::size_t promoted = batch.Add(
      "UPDATE cfq_jobs SET gen = gen + 1, dispatch_at = ?, dispatch_deadline = max(available_at, "
      "?) + coalesce((SELECT q.config ->> 'dispatchTimeoutMs' FROM cfq_queues q WHERE q.queue = "
      "cfq_jobs.queue), 300000) WHERE seq IN (SELECT j.seq FROM cfq_jobs j JOIN cfq_queues q ON "
      "q.queue = j.queue WHERE j.state = 'delayed' AND j.dispatch_at IS NULL AND j.priority = 0 "
      "AND j.lifo = 0 AND q.paused_mirror = 0 AND coalesce(q.config ->> 'strictOrder', 0) = 0 "
      "AND j.available_at <= ? + coalesce(q.config ->> 'promoteHorizonMs', 900000) ORDER BY "
      "j.available_at, j.seq LIMIT ?) RETURNING queue, id, gen, available_at, group_key",
      now, now, now, kTickRowsPerStep);
  auto results = co_await batch.Run("tick:promote");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  for (const auto& row : results->at(promoted).results) {
    const auto& v = row.values;
    post.Send(Envelope{sql::Str(v[0]), sql::Str(v[1]), sql::Int(v[2]), sql::Int(v[3]),
                       sql::OptStr(v[4])});
  }
  const std::int64_t n = static_cast<std::int64_t>(post.dispatches.size());
  co_await ApplyPostCommit(context, std::move(post));
  co_return n;
}

// (3) R-DISPATCH: queues whose dispatcher owes sends (undispatched due rows) get a kick.
Task<Result<std::int64_t>> KickDispatchers(EngineContext& context, std::int64_t now) {
  // Two index scans (undispatched ready rows; due delayed rows), not one over every row.
  auto rows = co_await context.db
                  ->Prepare(
                      "SELECT queue FROM (SELECT DISTINCT queue FROM cfq_jobs WHERE "
                      "dispatch_at IS NULL AND state IN ('waiting','prioritized') AND "
                      "available_at <= ? UNION SELECT DISTINCT j.queue FROM cfq_jobs j JOIN "
                      "cfq_queues q ON q.queue = j.queue WHERE j.state = 'delayed' AND "
                      "j.available_at <= ? AND j.dispatch_at IS NULL AND (j.priority > 0 OR "
                      "j.lifo = 1 OR coalesce(q.config ->> 'strictOrder', 0) = 1)) WHERE "
                      "queue NOT IN (SELECT queue FROM cfq_queues WHERE paused_mirror = 1) "
                      "ORDER BY queue")
                  .Bind(now, now)
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::int64_t kicked = 0;
  for (const auto& row : rows->results) {
    const Status status = co_await KickCoordinator(context, sql::Str(row.values[0]), now);
    if (status.ok()) ++kicked;
  }
  co_return kicked;
}

// (4) R-LOST: dispatched rows past their deadline. A candidate sent after the oldest message
// still in its physical queue may be in the backlog: its deadline is extended instead.
Task<Status> RecoverLost(EngineContext& context, std::int64_t now, TickReport& report) {
  auto rows = co_await context.db
                  ->Prepare("SELECT " + QualifiedJobColumns() +
                            ", q.paused_mirror FROM cfq_jobs c JOIN cfq_queues q ON q.queue = "
                            "c.queue WHERE c.dispatch_deadline IS NOT NULL AND "
                            "c.dispatch_deadline < ? AND c.state IN ('waiting','delayed',"
                            "'prioritized') ORDER BY c.dispatch_deadline LIMIT ?")
                  .Bind(now, kTickRowsPerStep)
                  .All();
  if (!rows.ok()) co_return rows.status();
  if (rows->results.empty()) co_return Status::Ok();
  std::map<std::string, std::optional<std::int64_t>> oldest;  // By producer binding.
  sql::Batch batch(*context.db);
  struct Redo {
    std::size_t cas;
    Job job;
    std::int64_t available_at;
  };
  std::vector<Redo> redos;
  for (const auto& row : rows->results) {
    Job job = JobFromRow(row);
    const bool paused = sql::Int(row.values.at(kJobColumnCount)) != 0;
    auto config = co_await QueueConfigFor(context, job.queue_name);
    if (!config.ok()) continue;
    const store::Guard pre = store::GuardOf(job);
    if (paused) {  // T17: a paused queue's overdue rows are parked, not re-sent.
      store::Redispatch park;
      park.placement.state = job.state;
      park.placement.available_at = job.available_at;
      store::AppendRedispatch(batch, job, pre, park, now);
      ++report.parked;
      continue;
    }
    const std::string& binding = context.bindings.ProducerFor(job.queue_name);
    if (oldest.count(binding) == 0) {
      std::optional<std::int64_t> t;
      auto producer = context.env->Queue(binding);
      if (producer.ok()) {
        auto metrics = co_await (*producer)->Metrics();
        if (metrics.ok() && metrics->oldest_message_timestamp) {
          t = metrics->oldest_message_timestamp->unix_ms();
        }
      }
      oldest[binding] = t;
    }
    if (oldest[binding] && job.dispatch_at && *job.dispatch_at >= *oldest[binding]) {
      batch.Add(  // Maybe still in the backlog: look again later.
          "UPDATE cfq_jobs SET dispatch_deadline = ? WHERE queue = ? AND id = ? AND gen = ?",
          DispatchDeadline(job.available_at, now, *config, job.lost_count), job.queue_name, job.id,
          job.gen);
      ++report.extended;
      continue;
    }
    store::Redispatch r;  // T18.
    r.placement = Place(job.priority, job.lifo, job.available_at, now, *config, false);
    r.placement.dispatch_at = now;  // The row was dispatched; it is re-sent by whoever finds it.
    r.placement.dispatch_deadline =
        DispatchDeadline(job.available_at, now, *config, job.lost_count + 1);
    r.placement.state = job.state;
    r.event = "cfq:redispatched";
    r.event_data = {{"lostCount", job.lost_count + 1}};
    r.extra_sets = ", lost_count = lost_count + 1";
    const std::size_t cas = store::AppendRedispatch(batch, job, pre, r, now);
    redos.push_back({cas, std::move(job), r.placement.available_at});
  }
  if (batch.empty()) co_return Status::Ok();
  auto results = co_await batch.Run("tick:lost");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  for (const auto& redo : redos) {
    if (results->at(redo.cas).meta.changes == 0) continue;
    ++report.redispatched;
    post.Send(Envelope{redo.job.queue_name, redo.job.id, redo.job.gen + 1, redo.available_at,
                       redo.job.group_key});
  }
  co_await ApplyPostCommit(context, std::move(post));
  co_return Status::Ok();
}

// (5) The stall backstop: active rows past lease_until (+ grace). Live leases refresh the D1
// mirror; expired or missing ones are handed to the coordinator's alarm (T12/T13).
Task<Status> StallBackstop(EngineContext& context, std::int64_t now, TickReport& report) {
  auto rows = co_await context.db
                  ->Prepare(
                      "SELECT queue, id, gen FROM cfq_jobs WHERE state = 'active' AND "
                      "lease_until < ? - 1000 ORDER BY lease_until LIMIT ?")
                  .Bind(now, kTickRowsPerStep)
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::map<std::string, std::vector<LeaseRef>> by_queue;
  for (const auto& row : rows->results) {
    by_queue[sql::Str(row.values[0])].emplace_back(sql::Str(row.values[1]),
                                                   sql::Int(row.values[2]));
  }
  for (auto& [queue, items] : by_queue) {
    report.stalls_checked += static_cast<std::int64_t>(items.size());
    auto stub = context.Coordinator(queue);
    auto adopted = co_await stub->Call(&Coordinator::AdoptStalled, queue, items);
    if (!adopted.ok()) continue;
    sql::Batch batch(*context.db);
    for (const LeaseInfo& info : *adopted) {
      if (!info.live) continue;
      batch.Add(
          "UPDATE cfq_jobs SET lease_until = ? WHERE queue = ? AND id = ? AND state = 'active' "
          "AND gen = ?",
          info.expires_at, queue, info.id, info.token);
    }
    if (!batch.empty()) {
      auto refreshed = co_await batch.Run("tick:lease-mirror");
      (void)refreshed;  // A stale mirror only brings the row back to the next tick.
    }
  }
  co_return Status::Ok();
}

// (6) R-FLOW: dependencies still pending whose child finished or vanished (a crash between a
// finish and its parent's update), and parents whose count drifted.
Task<Status> RepairFlows(EngineContext& context, std::int64_t now, TickReport& report) {
  auto finished = co_await context.db
                      ->Prepare("SELECT " + QualifiedJobColumns() +
                                " FROM cfq_deps d JOIN cfq_jobs c ON c.queue = d.child_queue AND "
                                "c.id = d.child_id WHERE d.status = 'pending' AND c.state IN "
                                "('completed','failed') LIMIT ?")
                      .Bind(kTickRowsPerStep)
                      .All();
  if (!finished.ok()) co_return finished.status();
  auto vanished = co_await context.db
                      ->Prepare(
                          "SELECT d.parent_queue, d.parent_id, d.child_queue, d.child_id "
                          "FROM cfq_deps d WHERE d.status = 'pending' AND NOT EXISTS (SELECT "
                          "1 FROM cfq_jobs c WHERE c.queue = d.child_queue AND c.id = "
                          "d.child_id) UNION ALL SELECT d.parent_queue, d.parent_id, "
                          "d.child_queue, d.child_id FROM cfq_deps d WHERE d.status = "
                          "'failed' AND NOT EXISTS (SELECT 1 FROM cfq_jobs c WHERE c.queue = "
                          "d.child_queue AND c.id = d.child_id) LIMIT ?")
                      .Bind(kTickRowsPerStep)
                      .All();
  if (!vanished.ok()) co_return vanished.status();
  sql::Batch batch(*context.db);
  std::vector<store::FlowEffects> effects;
  for (const auto& row : finished->results) {
    const Job child = JobFromRow(row);
    const store::Guard post = store::GuardOf(child);
    if (child.state == JobState::kCompleted) {
      const std::string result =
          child.returnvalue.is_discarded() ? "null" : sql::Dump(child.returnvalue);
      effects.push_back(store::ChildCompleted(batch, child, post, result, now));
    } else {
      effects.push_back(store::ChildFailed(batch, child, post, child.failed_reason, now));
    }
    Json data = {{"child", child.queue_name + ":" + child.id}};
    if (child.parent) {
      store::QueueEvent(batch, child.parent->queue, "cfq:flow-repaired", std::move(data), now);
    }
  }
  for (const auto& row : vanished->results) {
    const auto& v = row.values;
    effects.push_back(store::ChildRemoved(batch, ParentRef{sql::Str(v[0]), sql::Str(v[1])},
                                          sql::Str(v[2]), sql::Str(v[3]), now));
  }
  // Counts that drifted from the dependency rows, and parents whose count reached zero.
  batch.Add(
      "UPDATE cfq_jobs SET pending_deps = (SELECT count(*) FROM cfq_deps d WHERE d.parent_queue "
      "= cfq_jobs.queue AND d.parent_id = cfq_jobs.id AND d.status IN ('pending','failed')) "
      "WHERE state = 'waiting-children' AND pending_deps <> (SELECT count(*) FROM cfq_deps d "
      "WHERE d.parent_queue = cfq_jobs.queue AND d.parent_id = cfq_jobs.id AND d.status IN "
      "('pending','failed'))");
  batch.Add(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'waiting', ?, "
      "json_object('prev', 'waiting-children', 'epoch', epoch, 'gen', gen + 1) FROM cfq_jobs "
      "WHERE state = 'waiting-children' AND pending_deps = 0 LIMIT ?",
      now, kTickRowsPerStep);
  const std::size_t released = batch.Add(
      "UPDATE cfq_jobs SET state = CASE WHEN available_at > ? THEN 'delayed' WHEN priority > 0 "
      "THEN 'prioritized' ELSE 'waiting' END, gen = gen + 1, dispatch_at = ?, "
      "dispatch_deadline = max(available_at, ?) + 300000 WHERE seq IN (SELECT seq FROM cfq_jobs "
      "WHERE state = 'waiting-children' AND pending_deps = 0 LIMIT ?) RETURNING queue, id, gen, "
      "available_at, dispatch_at, group_key",
      now, now, now, kTickRowsPerStep);
  auto results = co_await batch.Run("tick:flows");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  for (const auto& e : effects) CollectFlowEffects(*results, e, post);
  for (const auto& row : results->at(released).results) {
    CollectReleased(row.values, post);
    ++report.flows_repaired;
  }
  report.flows_repaired +=
      static_cast<std::int64_t>(finished->results.size() + vanished->results.size());
  co_await ApplyPostCommit(context, std::move(post));
  co_return Status::Ok();
}

// (7) Retention backstop: queues with finished rows under a keep policy get a sweep request (a
// coordinator whose alarms were abandoned still cleans up).
Task<Result<std::int64_t>> RequestSweeps(EngineContext& context) {
  auto rows = co_await context.db
                  ->Prepare(
                      "SELECT DISTINCT queue FROM cfq_jobs WHERE (keep_age_s IS NOT NULL OR "
                      "keep_count IS NOT NULL) AND state IN ('completed','failed') ORDER BY "
                      "queue")
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::int64_t n = 0;
  for (const auto& row : rows->results) {
    const std::string queue = sql::Str(row.values[0]);
    auto stub = context.Coordinator(queue);
    auto requested = co_await stub->Call(&Coordinator::RequestSweep, queue);
    if (requested.ok() && *requested) ++n;
  }
  co_return n;
}

}  // namespace

Task<Result<TickReport>> RunSchedulerTick(EngineContext& context) {
  TickReport report;
  const std::int64_t now = context.NowMs();
  auto fired = co_await FireDueSchedulers(context);
  if (!fired.ok()) co_return SchemaMissingOr(fired.status());
  report.scheduler_jobs = *fired;
  auto promoted = co_await Promote(context, now);
  if (!promoted.ok()) co_return promoted.status();
  report.promoted = *promoted;
  auto kicked = co_await KickDispatchers(context, now);
  if (!kicked.ok()) co_return kicked.status();
  report.kicked = *kicked;
  CFEMU_CO_RETURN_IF_ERROR(co_await RecoverLost(context, now, report));
  CFEMU_CO_RETURN_IF_ERROR(co_await StallBackstop(context, now, report));
  CFEMU_CO_RETURN_IF_ERROR(co_await RepairFlows(context, now, report));
  auto sweeps = co_await RequestSweeps(context);
  if (!sweeps.ok()) co_return sweeps.status();
  report.sweeps_requested = *sweeps;
  if (context.tracing()) {
    context.Trace(core::TraceEvent("engine.tick")
                      .Int("scheduler_jobs", report.scheduler_jobs)
                      .Int("promoted", report.promoted)
                      .Int("kicked", report.kicked)
                      .Int("redispatched", report.redispatched)
                      .Int("parked", report.parked)
                      .Int("flows_repaired", report.flows_repaired));
  }
  co_return report;
}

namespace {

struct TickState {
  EngineBindings bindings;
  EngineConfig config;
  core::Random random{0};
  std::uint64_t ticks = 0;
};

Task<Status> RunTick(std::shared_ptr<TickState> state, platform::Env& env) {
  auto context =
      MakeEngineContext(env, state->bindings, state->random.Fork(state->ticks++), state->config);
  if (!context.ok()) co_return context.status();
  auto report = co_await RunSchedulerTick(**context);
  co_return report.status();
}

}  // namespace

platform::ScheduledHandler MakeSchedulerHandler(EngineBindings bindings, EngineConfig config,
                                                core::Random random) {
  auto state = std::make_shared<TickState>();
  state->bindings = std::move(bindings);
  state->config = config;
  state->random = std::move(random);
  return [state](platform::ScheduledController&, platform::Env& env, platform::ExecutionContext&) {
    return RunTick(state, env);
  };
}

}  // namespace cfemu::engine
