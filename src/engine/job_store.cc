#include "src/engine/job_store.h"

#include <utility>

#include "src/core/trace.h"

namespace cfemu::engine::store {

using Json = nlohmann::json;
using sql::D1Param;

namespace {

constexpr std::string_view kGuardSql =
    "EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ? AND gen = ?)";
constexpr std::string_view kDepPendingSql =
    "EXISTS (SELECT 1 FROM cfq_deps WHERE parent_queue = ? AND parent_id = ? AND "
    "child_queue = ? AND child_id = ? AND status = 'pending')";
constexpr std::string_view kDepOpenSql =
    "EXISTS (SELECT 1 FROM cfq_deps WHERE parent_queue = ? AND parent_id = ? AND "
    "child_queue = ? AND child_id = ? AND status IN ('pending', 'failed'))";
constexpr std::string_view kChildGoneSql =
    "NOT EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ?)";

void PushGuard(std::vector<D1Param>& params, const Guard& guard) {
  params.emplace_back(guard.queue);
  params.emplace_back(guard.id);
  params.emplace_back(std::string(JobStateName(guard.state)));
  params.emplace_back(guard.gen);
}

std::string S(std::string_view text) { return std::string(text); }

std::string MinuteBuckets(std::int64_t now) {
  return "[" + std::to_string(now / 60'000 * 60'000) + ",-1]";
}

// The parent and child of a dependency edge, as the four parameters of kDep*Sql.
struct Edge {
  std::string parent_queue, parent_id, child_queue, child_id;
  void Push(std::vector<D1Param>& params) const {
    params.emplace_back(parent_queue);
    params.emplace_back(parent_id);
    params.emplace_back(child_queue);
    params.emplace_back(child_id);
  }
};

Edge EdgeOf(const ParentRef& parent, const std::string& child_queue, const std::string& child_id) {
  return Edge{parent.queue, parent.id, child_queue, child_id};
}

// The condition that makes a flow statement apply exactly once: the child's resolution (by
// `dep_sql`, whose edge is `edge`) and `extra` (the child's post-guard, or its absence).
struct Cause {
  std::string sql;
  std::vector<D1Param> params;
};

Cause CauseOf(std::string_view dep_sql, const Edge& edge, std::string_view extra_sql,
              const std::vector<D1Param>& extra_params) {
  Cause cause;
  cause.sql = S(dep_sql) + " AND " + S(extra_sql);
  edge.Push(cause.params);
  cause.params.insert(cause.params.end(), extra_params.begin(), extra_params.end());
  return cause;
}

void Append(std::vector<D1Param>& params, const std::vector<D1Param>& more) {
  params.insert(params.end(), more.begin(), more.end());
}

// T20's `waiting` event for the parent of `edge`, placed before the release it announces.
// `when_zero`: the release waits for pending_deps to reach 0 (completion, ignore, remove), so
// the event needs pending_deps = 1 before the decrement; continue releases at once.
void ReleaseEvent(sql::Batch& batch, const Edge& edge, const Cause& cause, bool when_zero,
                  std::int64_t now) {
  std::vector<D1Param> params{now, edge.parent_queue, edge.parent_id};
  Append(params, cause.params);
  batch.AddParams(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'waiting', "
      "?, json_object('prev', 'waiting-children', 'epoch', epoch, 'gen', gen + 1) FROM "
      "cfq_jobs WHERE queue = ? AND id = ? AND state = 'waiting-children'" +
          S(when_zero ? " AND pending_deps = 1" : "") + " AND " + cause.sql,
      std::move(params));
}

std::size_t ReleaseCas(sql::Batch& batch, const Edge& edge, const Cause& cause, bool when_zero,
                       std::int64_t now) {
  std::vector<D1Param> params{now, now, now, now, now, edge.parent_queue, edge.parent_id};
  Append(params, cause.params);
  const std::string eligible = S(kEligibleSql);
  return batch.AddParams(
      "UPDATE cfq_jobs SET state = CASE WHEN available_at > ? THEN 'delayed' WHEN priority > 0 "
      "THEN 'prioritized' ELSE 'waiting' END, gen = gen + 1, dispatch_at = CASE WHEN " +
          eligible + " THEN ? END, dispatch_deadline = CASE WHEN " + eligible +
          " THEN max(available_at, ?) + coalesce((SELECT q.config ->> 'dispatchTimeoutMs' FROM "
          "cfq_queues q WHERE q.queue = cfq_jobs.queue), 300000) END WHERE queue = ? AND id = ? "
          "AND state = 'waiting-children'" +
          S(when_zero ? " AND pending_deps = 0" : "") + " AND " + cause.sql +
          " RETURNING queue, id, gen, available_at, dispatch_at, group_key",
      std::move(params));
}

void Decrement(sql::Batch& batch, const Edge& edge, const Cause& cause) {
  std::vector<D1Param> params{edge.parent_queue, edge.parent_id};
  Append(params, cause.params);
  batch.AddParams(
      "UPDATE cfq_jobs SET pending_deps = pending_deps - 1 WHERE queue = ? AND id = ? AND " +
          cause.sql,
      std::move(params));
}

// Release-at-zero: event, decrement, release. The dep flip must come after (it ends `cause`).
FlowEffects DecrementAndRelease(sql::Batch& batch, const Edge& edge, const Cause& cause,
                                std::int64_t now) {
  FlowEffects effects;
  ReleaseEvent(batch, edge, cause, /*when_zero=*/true, now);
  Decrement(batch, edge, cause);
  effects.release = ReleaseCas(batch, edge, cause, /*when_zero=*/true, now);
  return effects;
}

// UPDATE cfq_deps SET <sets> for the edge, guarded by the dep being pending and `extra`.
void FlipDep(sql::Batch& batch, const Edge& edge, const std::string& sets,
             std::vector<D1Param> set_params, std::string_view extra_sql,
             const std::vector<D1Param>& extra_params) {
  std::vector<D1Param> params = std::move(set_params);
  edge.Push(params);
  Append(params, extra_params);
  batch.AddParams("UPDATE cfq_deps SET " + sets +
                      " WHERE parent_queue = ? AND parent_id = ? AND child_queue = ? AND "
                      "child_id = ? AND status = 'pending' AND " +
                      S(extra_sql),
                  std::move(params));
}

std::vector<D1Param> GuardParams(const Guard& guard) {
  std::vector<D1Param> params;
  PushGuard(params, guard);
  return params;
}

std::string JsonText(const std::vector<std::string>& lines) { return sql::Dump(Json(lines)); }

}  // namespace

void Event(sql::Batch& batch, const Guard& guard, std::string_view event, Json data,
           std::int64_t epoch, std::int64_t event_gen, std::int64_t now) {
  data["epoch"] = epoch;
  data["gen"] = event_gen;
  std::vector<D1Param> params{guard.queue, guard.id, S(event), now, sql::Dump(data)};
  PushGuard(params, guard);
  batch.AddParams(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, ?, ?, ?, ? WHERE " +
          S(kGuardSql),
      std::move(params));
}

void EventText(sql::Batch& batch, const Guard& guard, std::string_view event,
               const std::string& members, std::int64_t epoch, std::int64_t event_gen,
               std::int64_t now) {
  std::string data = "{" + members + (members.empty() ? "" : ",") +
                     "\"epoch\":" + std::to_string(epoch) +
                     ",\"gen\":" + std::to_string(event_gen) + "}";
  std::vector<D1Param> params{guard.queue, guard.id, S(event), now, std::move(data)};
  PushGuard(params, guard);
  batch.AddParams(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, ?, ?, ?, ? WHERE " +
          S(kGuardSql),
      std::move(params));
}

void EventUnless(sql::Batch& batch, const Guard& unless, std::string_view event, Json data,
                 std::int64_t now) {
  std::vector<D1Param> params{unless.queue, unless.id, S(event), now, sql::Dump(data)};
  PushGuard(params, unless);
  batch.AddParams(
      "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT ?, ?, ?, ?, ? WHERE NOT " +
          S(kGuardSql),
      std::move(params));
}

void QueueEvent(sql::Batch& batch, const std::string& queue, std::string_view event, Json data,
                std::int64_t now) {
  batch.Add("INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (?, NULL, ?, ?, ?)",
            queue, S(event), now, sql::Dump(data));
}

void Metric(sql::Batch& batch, const Guard& guard, std::string_view kind, std::int64_t now) {
  std::vector<D1Param> params{guard.queue, S(kind), MinuteBuckets(now)};
  PushGuard(params, guard);
  batch.AddParams(
      "INSERT INTO cfq_metrics (queue, kind, minute, n) SELECT ?, ?, m.value, 1 FROM "
      "json_each(?) m WHERE " +
          S(kGuardSql) + " ON CONFLICT (queue, kind, minute) DO UPDATE SET n = n + 1",
      std::move(params));
}

void FlushBuffered(sql::Batch& batch, const Guard& guard, const Buffered& buffered,
                   std::int64_t epoch, std::int64_t now) {
  if (buffered.progress) {
    const std::string progress = sql::Dump(*buffered.progress);
    // The event first: the update does not change the guard, but keep the rule uniform.
    EventText(batch, guard, "progress", "\"data\":" + progress, epoch, guard.gen, now);
    std::vector<D1Param> params{progress};
    PushGuard(params, guard);
    batch.AddParams(
        "UPDATE cfq_jobs SET progress = ? WHERE queue = ? AND id = ? AND state = ? AND gen = ?",
        std::move(params));
  }
  if (!buffered.logs.empty()) {
    Json lines = Json::array();
    for (const auto& [at, message] : buffered.logs) lines.push_back(Json::array({at, message}));
    std::vector<D1Param> params{guard.queue, guard.id, sql::Dump(lines)};
    PushGuard(params, guard);
    batch.AddParams(
        "INSERT INTO cfq_logs (queue, job_id, at, message) SELECT ?, ?, j.value ->> 0, "
        "j.value ->> 1 FROM json_each(?) j WHERE " +
            S(kGuardSql),
        std::move(params));
    if (buffered.keep_logs) {
      batch.Add(
          "DELETE FROM cfq_logs WHERE queue = ? AND job_id = ? AND lid <= (SELECT lid FROM "
          "cfq_logs WHERE queue = ? AND job_id = ? ORDER BY lid DESC LIMIT 1 OFFSET ?)",
          guard.queue, guard.id, guard.queue, guard.id,
          static_cast<std::int64_t>(*buffered.keep_logs));
    }
  }
}

// ---- Flows ----------------------------------------------------------------------------------

FlowEffects ChildCompleted(sql::Batch& batch, const Job& child, const Guard& child_post,
                           const std::string& result_json, std::int64_t now) {
  if (!child.parent) return {};
  const Edge edge = EdgeOf(*child.parent, child.queue_name, child.id);
  const std::vector<D1Param> post = GuardParams(child_post);
  const Cause cause = CauseOf(kDepPendingSql, edge, kGuardSql, post);
  FlowEffects effects = DecrementAndRelease(batch, edge, cause, now);
  FlipDep(batch, edge, "status = 'processed', result = ?, updated_at = ?", {result_json, now},
          kGuardSql, post);
  return effects;
}

FlowEffects ChildFailed(sql::Batch& batch, const Job& child, const Guard& child_post,
                        const std::string& reason, std::int64_t now) {
  if (!child.parent) return {};
  const Edge edge = EdgeOf(*child.parent, child.queue_name, child.id);
  const std::vector<D1Param> post = GuardParams(child_post);
  const Cause cause = CauseOf(kDepPendingSql, edge, kGuardSql, post);
  FlowEffects effects;
  switch (child.parent_policy) {
    case ParentPolicy::kNone:
      break;
    case ParentPolicy::kFail: {
      const std::string parent_reason =
          "child " + child.queue_name + ":" + child.id + " failed: " + reason;
      std::vector<D1Param> params{now, parent_reason, edge.parent_queue, edge.parent_id};
      Append(params, cause.params);
      batch.AddParams(
          "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'failed', "
          "?, json_object('failedReason', ?, 'prev', 'waiting-children', 'epoch', epoch, 'gen', "
          "gen + 1) FROM cfq_jobs WHERE queue = ? AND id = ? AND state = 'waiting-children' "
          "AND " +
              cause.sql,
          std::move(params));
      std::vector<D1Param> metric{edge.parent_queue, MinuteBuckets(now), edge.parent_queue,
                                  edge.parent_id};
      Append(metric, cause.params);
      batch.AddParams(
          "INSERT INTO cfq_metrics (queue, kind, minute, n) SELECT ?, 'failed', m.value, 1 FROM "
          "json_each(?) m WHERE EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND "
          "state = 'waiting-children') AND " +
              cause.sql + " ON CONFLICT (queue, kind, minute) DO UPDATE SET n = n + 1",
          std::move(metric));
      std::vector<D1Param> cas{now, parent_reason, edge.parent_queue, edge.parent_id};
      Append(cas, cause.params);
      effects.failed_parent = batch.AddParams(
          "UPDATE cfq_jobs SET state = 'failed', gen = gen + 1, finished_at = ?, "
          "failed_reason = ?, dispatch_at = NULL, dispatch_deadline = NULL WHERE queue = ? AND "
          "id = ? AND state = 'waiting-children' AND " +
              cause.sql + " RETURNING queue, id, gen",
          std::move(cas));
      break;
    }
    case ParentPolicy::kContinue: {
      ReleaseEvent(batch, edge, cause, /*when_zero=*/false, now);
      effects.release = ReleaseCas(batch, edge, cause, /*when_zero=*/false, now);
      break;
    }
    case ParentPolicy::kIgnore:
    case ParentPolicy::kRemove:
      effects = DecrementAndRelease(batch, edge, cause, now);
      break;
  }
  if (child.parent_policy == ParentPolicy::kRemove) {
    std::vector<D1Param> params;
    edge.Push(params);
    Append(params, post);
    batch.AddParams(
        "DELETE FROM cfq_deps WHERE parent_queue = ? AND parent_id = ? AND child_queue = ? AND "
        "child_id = ? AND status = 'pending' AND " +
            S(kGuardSql),
        std::move(params));
  } else {
    const std::string status = child.parent_policy == ParentPolicy::kIgnore ? "ignored" : "failed";
    FlipDep(batch, edge, "status = '" + status + "', failed_reason = ?, updated_at = ?",
            {reason, now}, kGuardSql, post);
  }
  return effects;
}

FlowEffects ChildRemoved(sql::Batch& batch, const ParentRef& parent, const std::string& child_queue,
                         const std::string& child_id, std::int64_t now) {
  const Edge edge = EdgeOf(parent, child_queue, child_id);
  const std::vector<D1Param> gone{child_queue, child_id};
  const Cause cause = CauseOf(kDepOpenSql, edge, kChildGoneSql, gone);
  FlowEffects effects = DecrementAndRelease(batch, edge, cause, now);
  std::vector<D1Param> params;
  edge.Push(params);
  Append(params, gone);
  batch.AddParams(
      "DELETE FROM cfq_deps WHERE parent_queue = ? AND parent_id = ? AND child_queue = ? AND "
      "child_id = ? AND status IN ('pending', 'failed') AND " +
          S(kChildGoneSql),
      std::move(params));
  return effects;
}

// ---- Terminal templates ---------------------------------------------------------------------

namespace {

void ReleaseDedupe(sql::Batch& batch, const Job& job, const Guard& post) {
  if (!job.dedup_id) return;
  std::vector<D1Param> params{job.queue_name, *job.dedup_id, job.id};
  PushGuard(params, post);
  batch.AddParams(
      "DELETE FROM cfq_dedupe WHERE queue = ? AND dedup_id = ? AND job_id = ? AND "
      "mode = 'simple' AND " +
          S(kGuardSql),
      std::move(params));
}

void DeleteIfRemoved(sql::Batch& batch, const Guard& post, const KeepPolicy& keep) {
  if (!keep.remove) return;
  batch.AddParams("DELETE FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ? AND gen = ?",
                  GuardParams(post));
}

}  // namespace

CompletionIndexes AppendCompletion(sql::Batch& batch, const Job& job, std::int64_t token,
                                   const Completion& completion, std::int64_t now) {
  const Guard pre(job.queue_name, job.id, JobState::kActive, token);
  const Guard post(job.queue_name, job.id, JobState::kCompleted, token);
  FlushBuffered(batch, pre, completion.buffered, job.epoch, now);
  Metric(batch, pre, "completed", now);
  CompletionIndexes out;
  std::vector<D1Param> params{completion.result_json, now, sql::Nullable(completion.keep.age_s),
                              sql::Nullable(completion.keep.count)};
  PushGuard(params, pre);
  out.cas = batch.AddParams(
      "UPDATE cfq_jobs SET state = 'completed', result = ?, finished_at = ?, "
      "attempts_made = attempts_made + 1, keep_age_s = ?, keep_count = ?, lease_owner = NULL, "
      "lease_until = NULL WHERE queue = ? AND id = ? AND state = ? AND gen = ?",
      std::move(params));
  ReleaseDedupe(batch, job, post);
  out.flow = ChildCompleted(batch, job, post, completion.result_json, now);
  DeleteIfRemoved(batch, post, completion.keep);
  return out;
}

std::size_t AppendPlainCompletions(sql::Batch& batch, const std::string& queue,
                                   const std::vector<PlainCompletion>& jobs,
                                   const std::string& result_json, const KeepPolicy& keep,
                                   std::int64_t now) {
  sql::JsonList rows;
  for (const PlainCompletion& job : jobs) rows.AddRow(job.id, {job.token});
  const std::string list = rows.Text();
  // The rows still active at the run's token (the pre-state guard of each job), as `c`.
  const std::string active =
      " FROM json_each(?) w CROSS JOIN cfq_jobs c ON c.queue = ? AND c.id = w.value ->> 0 WHERE "
      "c.state = 'active' AND c.gen = w.value ->> 1";
  const std::size_t cas = batch.Add(
      "UPDATE cfq_jobs SET state = 'completed', result = ?, finished_at = ?, attempts_made = "
      "attempts_made + 1, keep_age_s = ?, keep_count = ?, lease_owner = NULL, lease_until = NULL "
      "WHERE seq IN (SELECT c.seq" +
          active + ") RETURNING id",
      result_json, now, sql::Nullable(keep.age_s), sql::Nullable(keep.count), list, queue);
  // changes() is the number of rows the completion above changed (a trigger's rows not counted).
  batch.Add(
      "INSERT INTO cfq_metrics (queue, kind, minute, n) SELECT ?, 'completed', m.value, "
      "changes() FROM json_each(?) m WHERE changes() > 0 ON CONFLICT (queue, kind, minute) DO "
      "UPDATE SET n = n + excluded.n",
      queue, MinuteBuckets(now));
  if (keep.remove) {
    batch.Add(
        "DELETE FROM cfq_jobs WHERE seq IN (SELECT c.seq FROM json_each(?) w CROSS JOIN "
        "cfq_jobs c ON c.queue = ? AND c.id = w.value ->> 0 WHERE c.state = 'completed' "
        "AND c.gen = w.value ->> 1)",
        list, queue);
  }
  return cas;
}

FailureIndexes AppendFailure(sql::Batch& batch, const Job& job, const Guard& pre,
                             const Failure& failure, std::int64_t now) {
  const Guard post(pre.queue, pre.id, JobState::kFailed, pre.gen + 1);
  FlushBuffered(batch, pre, failure.buffered, job.epoch, now);
  const std::int32_t attempts_made = job.attempts_made + (failure.count_attempt ? 1 : 0);
  Json data = {{"failedReason", failure.reason},
               {"prev", std::string(JobStateName(pre.state))},
               {"attemptsMade", attempts_made}};
  if (failure.dead_lettered) data["deadLettered"] = true;
  Event(batch, pre, "failed", std::move(data), job.epoch, post.gen, now);
  if (failure.exhausted) {
    Json exhausted = {{"attemptsMade", attempts_made}};
    Event(batch, pre, "retries-exhausted", std::move(exhausted), job.epoch, post.gen, now);
  }
  Metric(batch, pre, "failed", now);
  FailureIndexes out;
  std::vector<D1Param> params{now,
                              static_cast<std::int64_t>(failure.count_attempt ? 1 : 0),
                              static_cast<std::int64_t>(failure.stalled ? 1 : 0),
                              failure.reason,
                              JsonText(failure.stacktrace),
                              sql::Nullable(failure.keep.age_s),
                              sql::Nullable(failure.keep.count),
                              static_cast<std::int64_t>(failure.dead_lettered ? 1 : 0)};
  PushGuard(params, pre);
  out.cas = batch.AddParams(
      "UPDATE cfq_jobs SET state = 'failed', gen = gen + 1, finished_at = ?, "
      "attempts_made = attempts_made + ?, stalled_count = stalled_count + ?, failed_reason = ?, "
      "stacktrace = ?, keep_age_s = ?, "
      "keep_count = ?, dead_lettered = ?, lease_owner = NULL, lease_until = NULL, "
      "dispatch_at = NULL, dispatch_deadline = NULL WHERE queue = ? AND id = ? AND state = ? AND "
      "gen = ?",
      std::move(params));
  out.flow = AppendFailurePost(batch, job, post, failure, now);
  return out;
}

FlowEffects AppendFailurePost(sql::Batch& batch, const Job& job, const Guard& post,
                              const Failure& failure, std::int64_t now) {
  ReleaseDedupe(batch, job, post);
  FlowEffects effects;
  if (job.parent) effects = ChildFailed(batch, job, post, failure.reason, now);
  DeleteIfRemoved(batch, post, failure.keep);
  return effects;
}

std::size_t AppendRedispatch(sql::Batch& batch, const Job& job, const Guard& pre,
                             const Redispatch& redispatch, std::int64_t now) {
  FlushBuffered(batch, pre, redispatch.buffered, job.epoch, now);
  if (!redispatch.event.empty()) {
    Event(batch, pre, redispatch.event, redispatch.event_data, job.epoch, pre.gen + 1, now);
  }
  const Placement& p = redispatch.placement;
  std::vector<D1Param> params{S(JobStateName(p.state)), p.available_at,
                              sql::Nullable(p.dispatch_at), sql::Nullable(p.dispatch_deadline)};
  Append(params, redispatch.extra_params);
  PushGuard(params, pre);
  return batch.AddParams(
      "UPDATE cfq_jobs SET state = ?, gen = gen + 1, available_at = ?, dispatch_at = ?, "
      "dispatch_deadline = ?, lease_owner = NULL, lease_until = NULL" +
          redispatch.extra_sets +
          " WHERE queue = ? AND id = ? AND state = ? AND gen = ? RETURNING gen",
      std::move(params));
}

}  // namespace cfemu::engine::store
