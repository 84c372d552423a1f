// Queue management (engine-spec.md §3 T22-T25, §4.5, §4.11, §4.13): pause/resume, retry,
// promote, remove, clean, drain, obliterate, redrive. Each transition reads the row, decides in
// C++ and writes one batch guarded by the row's (state, gen) as read, so a concurrent change
// makes it a no-op rather than a double transition.
#include <algorithm>

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/effects.h"
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

namespace {

JobOptions OptionsOf(const Job& job) {
  auto options = JobOptionsFromJson(job.opts);
  return options.ok() ? *options : JobOptions();
}

Task<Result<std::vector<Job>>> ReadJobs(EngineContext& context, std::string sql_text,
                                        std::vector<D1Param> params) {
  auto rows = co_await context.db->Prepare(std::move(sql_text)).Bind(std::move(params)).All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::vector<Job> jobs;
  for (const auto& row : rows->results) jobs.push_back(JobFromRow(row));
  co_return jobs;
}

// The same with the parameters as arguments. Not a coroutine: the vector is built here, because
// GCC 12 cannot compile a braced initializer list inside a co_await expression.
template <class... Args>
Task<Result<std::vector<Job>>> Read(EngineContext& context, std::string sql_text, Args&&... args) {
  std::vector<D1Param> params;
  (params.emplace_back(std::forward<Args>(args)), ...);
  return ReadJobs(context, std::move(sql_text), std::move(params));
}

std::string SelectJobs(const std::string& where) {
  return "SELECT " + std::string(kJobColumns) + " FROM cfq_jobs WHERE " + where;
}

// The pause flag's mirrors: D1 (steers the cron) with its event, then the optional KV hint.
Task<Status> MirrorPause(EngineContext& context, std::string queue, bool paused, bool changed) {
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  batch.Add("UPDATE cfq_queues SET paused_mirror = ?, updated_at = ? WHERE queue = ?",
            static_cast<std::int64_t>(paused ? 1 : 0), now, queue);
  if (changed) store::QueueEvent(batch, queue, paused ? "paused" : "resumed", Json::object(), now);
  auto written = co_await batch.Run(paused ? "pause" : "resume");
  if (!written.ok()) co_return SchemaMissingOr(written.status());
  if (context.kv != nullptr) {
    const Status hinted =
        co_await context.kv->Put("cfq:paused:" + queue, std::string(paused ? "1" : "0"));
    (void)hinted;  // Best effort: a stale hint only moves sends between actor and dispatcher.
  }
  co_return Status::Ok();
}

// T23 (retry, redrive): a finished row back to waiting/prioritized with a new epoch.
std::size_t AppendRetry(sql::Batch& batch, const Job& job, const QueueConfig& config,
                        bool reset_attempts, std::int64_t now, Placement& placement) {
  const store::Guard pre = store::GuardOf(job);
  placement = Place(job.priority, job.lifo, now, now, config, /*known_paused=*/false);
  Json data = {{"prev", std::string(JobStateName(job.state))}};
  store::Event(batch, pre, "waiting", std::move(data), job.epoch + 1, job.gen + 1, now);
  if (job.parent) {
    // A child retried while its parent still waits: its dependency is pending again.
    batch.Add(
        "UPDATE cfq_jobs SET pending_deps = pending_deps + 1 WHERE queue = ? AND id = ? AND "
        "state = 'waiting-children' AND EXISTS (SELECT 1 FROM cfq_deps WHERE parent_queue = ? "
        "AND parent_id = ? AND child_queue = ? AND child_id = ? AND status IN ('processed', "
        "'ignored')) AND EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ? "
        "AND gen = ?)",
        job.parent->queue, job.parent->id, job.parent->queue, job.parent->id, job.queue_name,
        job.id, job.queue_name, job.id, std::string(JobStateName(job.state)), job.gen);
    batch.Add(
        "UPDATE cfq_deps SET status = 'pending', result = NULL, failed_reason = NULL, "
        "updated_at = ? WHERE parent_queue = ? AND parent_id = ? AND child_queue = ? AND "
        "child_id = ? AND EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND state = "
        "'waiting-children') AND EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND "
        "state = ? AND gen = ?)",
        now, job.parent->queue, job.parent->id, job.queue_name, job.id, job.parent->queue,
        job.parent->id, job.queue_name, job.id, std::string(JobStateName(job.state)), job.gen);
  }
  const std::string reset =
      reset_attempts ? ", attempts_made = 0, attempts_started = 0, stalled_count = 0" : "";
  return batch.Add(
      "UPDATE cfq_jobs SET state = ?, epoch = epoch + 1, gen = gen + 1, result = NULL, "
      "failed_reason = NULL, stacktrace = NULL, finished_at = NULL, processed_at = NULL, "
      "dead_lettered = 0, discarded = 0, keep_age_s = NULL, keep_count = NULL, available_at = ?, "
      "dispatch_at = ?, dispatch_deadline = ?, lost_count = 0" +
          reset + " WHERE queue = ? AND id = ? AND state = ? AND gen = ?",
      std::string(JobStateName(placement.state)), placement.available_at,
      sql::Nullable(placement.dispatch_at), sql::Nullable(placement.dispatch_deadline),
      job.queue_name, job.id, std::string(JobStateName(job.state)), job.gen);
}

void OweDispatch(PostCommit& post, const Job& job, const Placement& placement) {
  if (placement.dispatch_at) {
    post.Send(Envelope{job.queue_name, job.id, job.gen + 1, placement.available_at, job.group_key});
  } else {
    post.Kick(job.queue_name, placement.available_at);
  }
}

// Applies T23 to `jobs` in one batch; returns how many changed.
Task<Result<std::int64_t>> RetryRows(EngineContext& context, const QueueConfig& config,
                                     std::vector<Job> jobs, bool reset_attempts, bool redrive) {
  if (jobs.empty()) co_return std::int64_t{0};
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  std::vector<std::size_t> cas;
  std::vector<Placement> placements(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    cas.push_back(AppendRetry(batch, jobs[i], config, reset_attempts, now, placements[i]));
    if (redrive) {
      batch.Add(
          "UPDATE cfq_dead_letters SET outcome = 'redriven' WHERE queue = ? AND job_id = ? AND "
          "source = 'dlq' AND outcome = 'dead-lettered'",
          jobs[i].queue_name, jobs[i].id);
    }
  }
  auto results = co_await batch.Run(redrive ? "redrive" : "retry");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  std::int64_t changed = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (results->at(cas[i]).meta.changes == 0) continue;
    ++changed;
    OweDispatch(post, jobs[i], placements[i]);
  }
  co_await ApplyPostCommit(context, std::move(post));
  co_return changed;
}

}  // namespace

Task<Status> Queue::Pause() {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  auto stub = context_->Coordinator(name_);
  auto changed = co_await stub->Call(&Coordinator::Pause, name_);
  if (!changed.ok()) co_return changed.status();
  // Traced once the coordinator's reply says the flag is stored (the checkers' INV-08).
  if (context_->tracing()) context_->Trace(core::TraceEvent("engine.paused").Str("queue", name_));
  co_return co_await MirrorPause(*context_, name_, true, *changed);
}

Task<Status> Queue::Resume() {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  // Traced before the call: grants may start as soon as the coordinator clears the flag, before
  // its reply is back (a pause is traced after the reply, for the same reason).
  if (context_->tracing()) context_->Trace(core::TraceEvent("engine.resumed").Str("queue", name_));
  auto stub = context_->Coordinator(name_);
  auto changed = co_await stub->Call(&Coordinator::Resume, name_);
  if (!changed.ok()) co_return changed.status();
  co_return co_await MirrorPause(*context_, name_, false, *changed);
}

Task<Result<bool>> Queue::IsPaused() {
  auto stub = context_->Coordinator(name_);
  co_return co_await stub->Call(&Coordinator::IsPaused, name_);
}

Task<Status> Queue::RetryJob(std::string id, RetryOptions options) {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  auto jobs = co_await Read(*context_, SelectJobs("queue = ? AND id = ?"), name_, id);
  if (!jobs.ok()) co_return jobs.status();
  if (jobs->empty()) co_return Status::NotFound("job " + name_ + ":" + id + " does not exist");
  if (!IsFinished(jobs->front().state)) {
    co_return Status::NotInState("job " + id + " is " +
                                 std::string(JobStateName(jobs->front().state)) +
                                 ", not completed or failed");
  }
  auto changed =
      co_await RetryRows(*context_, *config, std::move(*jobs), options.reset_attempts, false);
  if (!changed.ok()) co_return changed.status();
  if (*changed == 0) co_return Status::NotInState("job " + id + " changed meanwhile");
  co_return Status::Ok();
}

Task<Result<std::int64_t>> Queue::RetryJobs(RetryJobsOptions options) {
  if (!IsFinished(options.state)) {
    co_return Status::InvalidArgument("retryJobs: state must be completed or failed");
  }
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  std::int64_t total = 0;
  const std::int64_t before = options.timestamp.value_or(INT64_MAX);
  while (true) {
    auto jobs = co_await Read(
        *context_, SelectJobs("queue = ? AND state = ? AND finished_at < ? ORDER BY seq LIMIT ?"),
        name_, std::string(JobStateName(options.state)), before,
        std::max<std::int64_t>(1, options.count));
    if (!jobs.ok()) co_return jobs.status();
    if (jobs->empty()) break;
    const std::size_t read = jobs->size();
    auto changed = co_await RetryRows(*context_, *config, std::move(*jobs), true, false);
    if (!changed.ok()) co_return changed.status();
    total += *changed;
    if (*changed == 0 || static_cast<std::int64_t>(read) < options.count) break;
  }
  co_return total;
}

namespace {

Task<Result<std::int64_t>> PromoteRows(EngineContext& context, const QueueConfig& config,
                                       std::vector<Job> jobs) {
  if (jobs.empty()) co_return std::int64_t{0};
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  std::vector<std::size_t> cas;
  std::vector<Placement> placements;
  for (const Job& job : jobs) {
    store::Redispatch r;
    r.placement = Place(job.priority, job.lifo, now, now, config, false);
    r.event = "waiting";
    r.event_data = {{"prev", "delayed"}, {"promoted", true}};
    placements.push_back(r.placement);
    cas.push_back(store::AppendRedispatch(batch, job, store::GuardOf(job), r, now));
  }
  auto results = co_await batch.Run("promote");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  std::int64_t changed = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (results->at(cas[i]).meta.changes == 0) continue;
    ++changed;
    OweDispatch(post, jobs[i], placements[i]);
  }
  co_await ApplyPostCommit(context, std::move(post));
  co_return changed;
}

}  // namespace

Task<Result<bool>> Queue::Promote(std::string id) {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  auto jobs =
      co_await Read(*context_, SelectJobs("queue = ? AND id = ? AND state = 'delayed'"), name_, id);
  if (!jobs.ok()) co_return jobs.status();
  auto changed = co_await PromoteRows(*context_, *config, std::move(*jobs));
  if (!changed.ok()) co_return changed.status();
  co_return *changed > 0;
}

Task<Result<std::int64_t>> Queue::PromoteJobs(std::int64_t count) {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  auto jobs = co_await Read(
      *context_, SelectJobs("queue = ? AND state = 'delayed' ORDER BY available_at, seq LIMIT ?"),
      name_, std::max<std::int64_t>(1, count));
  if (!jobs.ok()) co_return jobs.status();
  co_return co_await PromoteRows(*context_, *config, std::move(*jobs));
}

namespace {

// T24/T25 for `jobs`: `removed` events, deletions guarded by (state, gen), descendants (when
// asked), detaching from parents, simple dedupe keys. Returns the ids removed; revokes the
// leases of active ones.
Task<Result<std::vector<std::string>>> RemoveRows(EngineContext& context, std::vector<Job> jobs,
                                                  bool remove_children, bool force,
                                                  std::string reason) {
  std::vector<std::string> removed;
  if (jobs.empty()) co_return removed;
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  std::vector<std::size_t> deletes;
  std::vector<store::FlowEffects> flows;
  std::vector<std::size_t> descendants;
  for (const Job& job : jobs) {
    const store::Guard pre = store::GuardOf(job);
    Json data = {{"prev", std::string(JobStateName(job.state))}, {"reason", reason}};
    store::Event(batch, pre, "removed", std::move(data), job.epoch, job.gen, now);
    if (remove_children) {
      const std::string tree =
          "WITH RECURSIVE d(q, i) AS (SELECT child_queue, child_id FROM cfq_deps WHERE "
          "parent_queue = ? AND parent_id = ? UNION SELECT c.child_queue, c.child_id FROM cfq_deps "
          "c JOIN d ON c.parent_queue = d.q AND c.parent_id = d.i) SELECT q, i FROM d";
      const std::string states = force ? "state NOT IN ('completed', 'failed')"
                                       : "state NOT IN ('completed', 'failed', 'active')";
      batch.Add(
          "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT queue, id, 'removed', "
          "?, json_object('prev', state, 'reason', 'parent removed', 'epoch', epoch, 'gen', gen) "
          "FROM cfq_jobs WHERE (queue, id) IN (" +
              tree + ") AND " + states,
          now, job.queue_name, job.id);
      descendants.push_back(batch.Add("DELETE FROM cfq_jobs WHERE (queue, id) IN (" + tree +
                                          ") AND " + states + " RETURNING queue, id, state",
                                      job.queue_name, job.id));
    }
    if (job.dedup_id) {  // Before the deletion, under its guard.
      batch.Add(
          "DELETE FROM cfq_dedupe WHERE queue = ? AND dedup_id = ? AND job_id = ? AND EXISTS "
          "(SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ? AND gen = ?)",
          job.queue_name, *job.dedup_id, job.id, job.queue_name, job.id,
          std::string(JobStateName(job.state)), job.gen);
    }
    deletes.push_back(
        batch.Add("DELETE FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ? AND gen = ?",
                  job.queue_name, job.id, std::string(JobStateName(job.state)), job.gen));
    flows.push_back(job.parent
                        ? store::ChildRemoved(batch, *job.parent, job.queue_name, job.id, now)
                        : store::FlowEffects());
  }
  auto results = co_await batch.Run("remove");
  if (!results.ok()) co_return results.status();
  PostCommit post;
  std::vector<RowKey> revoke;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (results->at(deletes[i]).meta.changes == 0) continue;
    removed.push_back(jobs[i].id);
    if (jobs[i].state == JobState::kActive) revoke.push_back({jobs[i].queue_name, jobs[i].id});
    CollectFlowEffects(*results, flows[i], post);
  }
  for (std::size_t index : descendants) {
    for (const auto& row : results->at(index).results) {
      if (sql::Str(row.values[2]) == "active") {
        revoke.push_back({sql::Str(row.values[0]), sql::Str(row.values[1])});
      }
    }
  }
  for (const RowKey& key : revoke) {  // T25: the holder's abort signal fires on its next renew.
    auto stub = context.Coordinator(key.queue);
    auto revoked = co_await stub->Call(&Coordinator::Revoke, key.queue, key.id);
    (void)revoked;  // A lost revoke: the lease expires and the stall CAS finds no row.
  }
  co_await ApplyPostCommit(context, std::move(post));
  co_return removed;
}

}  // namespace

Task<Result<bool>> Queue::Remove(std::string id, RemoveOptions options) {
  auto jobs = co_await Read(*context_, SelectJobs("queue = ? AND id = ?"), name_, id);
  if (!jobs.ok()) co_return jobs.status();
  if (jobs->empty()) co_return false;
  if (jobs->front().state == JobState::kActive && !options.force) {
    co_return Status::FailedPrecondition("job " + name_ + ":" + id +
                                         " is active: remove it with force");
  }
  auto removed = co_await RemoveRows(*context_, std::move(*jobs), options.remove_children,
                                     options.force, "removed");
  if (!removed.ok()) co_return removed.status();
  co_return !removed->empty();
}

Task<Result<std::vector<std::string>>> Queue::Clean(std::int64_t grace_ms, std::int64_t limit,
                                                    JobState type) {
  if (limit < 1) co_return Status::InvalidArgument("clean: limit must be >= 1");
  const std::int64_t cutoff = context_->NowMs() - std::max<std::int64_t>(0, grace_ms);
  const std::string age = IsFinished(type) ? "finished_at" : "created_at";
  auto jobs = co_await Read(
      *context_, SelectJobs("queue = ? AND state = ? AND " + age + " <= ? ORDER BY seq LIMIT ?"),
      name_, std::string(JobStateName(type)), cutoff, limit);
  if (!jobs.ok()) co_return jobs.status();
  if (type == JobState::kActive && !jobs->empty()) {
    // Only active rows without a live lease (their holder is gone).
    std::vector<std::string> ids;
    for (const auto& job : *jobs) ids.push_back(job.id);
    auto stub = context_->Coordinator(name_);
    auto leases = co_await stub->Call(&Coordinator::LeaseStatus, name_, std::move(ids));
    if (!leases.ok()) co_return leases.status();
    std::vector<Job> idle;
    for (std::size_t i = 0; i < jobs->size(); ++i) {
      if (!leases->at(i).live) idle.push_back(std::move((*jobs)[i]));
    }
    *jobs = std::move(idle);
  }
  auto removed = co_await RemoveRows(*context_, std::move(*jobs), /*remove_children=*/false,
                                     /*force=*/true, "clean");
  if (!removed.ok()) co_return removed.status();
  sql::Batch batch(*context_->db);
  Json data = {{"count", removed->size()}, {"type", std::string(JobStateName(type))}};
  store::QueueEvent(batch, name_, "cleaned", std::move(data), context_->NowMs());
  auto written = co_await batch.Run("cleaned");
  if (!written.ok()) co_return written.status();
  co_return std::move(*removed);
}

Task<Status> Queue::Drain(bool delayed) {
  const std::string states =
      delayed ? "('waiting','prioritized','delayed')" : "('waiting','prioritized')";
  while (true) {
    auto jobs = co_await Read(
        *context_, SelectJobs("queue = ? AND state IN " + states + " ORDER BY seq LIMIT 500"),
        name_);
    if (!jobs.ok()) co_return jobs.status();
    if (jobs->empty()) break;
    auto removed = co_await RemoveRows(*context_, std::move(*jobs), false, false, "drain");
    if (!removed.ok()) co_return removed.status();
    if (removed->empty()) break;
  }
  co_return Status::Ok();
}

Task<Status> Queue::Obliterate(ObliterateOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(co_await Pause());
  auto active = co_await context_->db
                    ->Prepare("SELECT count(*) FROM cfq_jobs WHERE queue = ? AND state = 'active'")
                    .Bind(name_)
                    .First();
  if (!active.ok()) co_return active.status();
  if (*active && sql::Int((*active)->values.at(0)) > 0 && !options.force) {
    co_return Status::FailedPrecondition("queue " + name_ +
                                         " has active jobs: obliterate it with force");
  }
  const std::int64_t count = std::max<std::int64_t>(1, options.count);
  while (true) {  // In chunks, so a huge queue never needs one enormous transaction.
    auto deleted = co_await context_->db
                       ->Prepare(
                           "DELETE FROM cfq_jobs WHERE seq IN (SELECT seq FROM cfq_jobs "
                           "WHERE queue = ? LIMIT ?)")
                       .Bind(name_, count)
                       .Run();
    if (!deleted.ok()) co_return deleted.status();
    if (deleted->meta.changes < count) break;
  }
  sql::Batch batch(*context_->db);
  for (const char* table : {"cfq_events", "cfq_logs", "cfq_schedulers", "cfq_dedupe", "cfq_metrics",
                            "cfq_counts", "cfq_dead_letters", "cfq_queues"}) {
    batch.Add("DELETE FROM " + std::string(table) + " WHERE queue = ?", name_);
  }
  batch.Add("DELETE FROM cfq_deps WHERE parent_queue = ?", name_);
  auto cleared = co_await batch.Run("obliterate");
  if (!cleared.ok()) co_return cleared.status();
  if (context_->tracing()) context_->Trace(core::TraceEvent("engine.resumed").Str("queue", name_));
  auto stub = context_->Coordinator(name_);
  auto reset = co_await stub->Call(&Coordinator::Reset, name_);
  if (!reset.ok()) co_return reset.status();
  if (context_->kv != nullptr) {  // Best effort: KV only ever hints (engine-spec.md §4.5, §4.8).
    const Status gone = co_await context_->kv->Delete("cfq:paused:" + name_);
    (void)gone;
    const std::string prefix = ThrottleKvKey(name_, "");
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto listed = co_await context_->kv->List(platform::KvListOptions(prefix, 1000, cursor));
      if (!listed.ok()) break;
      for (const auto& key : listed->keys) {
        const Status deleted = co_await context_->kv->Delete(key.name);
        (void)deleted;
      }
      if (listed->list_complete) break;
      cursor = listed->cursor;
    }
  }
  context_->queues.erase(name_);
  if (context_->tracing()) {
    context_->Trace(core::TraceEvent("engine.obliterated").Str("queue", name_));
  }
  co_return Status::Ok();
}

Task<Result<std::int64_t>> Queue::Redrive(RedriveOptions options) {
  if (!options.all && options.ids.empty()) {
    co_return Status::InvalidArgument("redrive: give ids or all");
  }
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  std::vector<D1Param> params;
  params.emplace_back(name_);
  if (!options.all) params.emplace_back(sql::Dump(Json(options.ids)));
  auto jobs = co_await ReadJobs(
      *context_,
      SelectJobs("queue = ? AND state = 'failed' AND dead_lettered = 1" +
                 std::string(options.all ? "" : " AND id IN (SELECT value FROM json_each(?))") +
                 " ORDER BY seq"),
      std::move(params));
  if (!jobs.ok()) co_return jobs.status();
  co_return co_await RetryRows(*context_, *config, std::move(*jobs), options.reset_attempts, true);
}

Task<Result<bool>> Queue::RemoveDeduplicationKey(std::string dedup_id) {
  sql::Batch batch(*context_->db);
  const std::size_t deleted =
      batch.Add("DELETE FROM cfq_dedupe WHERE queue = ? AND dedup_id = ?", name_, dedup_id);
  Json data = {{"deduplicationId", dedup_id}};
  store::QueueEvent(batch, name_, "cfq:dedupe-key-removed", std::move(data), context_->NowMs());
  auto results = co_await batch.Run("remove-dedupe-key");
  if (!results.ok()) co_return SchemaMissingOr(results.status());
  if (context_->kv != nullptr && context_->config.kv_throttle_cache) {
    const Status gone = co_await context_->kv->Delete(ThrottleKvKey(name_, dedup_id));
    (void)gone;  // A stale entry lives at most KV's cache TTL (documented).
  }
  co_return results->at(deleted).meta.changes > 0;
}

Task<Status> Queue::Log(std::string id, std::string message) {
  const std::int64_t now = context_->NowMs();
  auto written = co_await context_->db
                     ->Prepare(
                         "INSERT INTO cfq_logs (queue, job_id, at, message) SELECT ?, ?, ?, "
                         "? WHERE EXISTS (SELECT 1 FROM cfq_jobs WHERE queue = ? AND id = ?)")
                     .Bind(name_, id, now, message, name_, id)
                     .Run();
  if (!written.ok()) co_return SchemaMissingOr(written.status());
  if (written->meta.changes == 0) co_return Status::NotFound("job " + id + " does not exist");
  co_return Status::Ok();
}

Task<Status> Queue::UpdateProgress(std::string id, Json progress) {
  auto jobs = co_await Read(*context_, SelectJobs("queue = ? AND id = ?"), name_, id);
  if (!jobs.ok()) co_return jobs.status();
  if (jobs->empty()) co_return Status::NotFound("job " + id + " does not exist");
  sql::Batch batch(*context_->db);
  store::Buffered buffered;
  buffered.progress = std::move(progress);
  const Job& job = jobs->front();
  store::FlushBuffered(batch, store::GuardOf(job), buffered, job.epoch, context_->NowMs());
  auto written = co_await batch.Run("progress");
  co_return written.status();
}

Task<Status> Queue::MoveToFailed(std::string id, std::string reason, std::int64_t token) {
  auto config = co_await QueueConfigFor(*context_, name_);
  if (!config.ok()) co_return config.status();
  auto jobs = co_await Read(*context_, SelectJobs("queue = ? AND id = ?"), name_, id);
  if (!jobs.ok()) co_return jobs.status();
  if (jobs->empty()) co_return Status::NotFound("job " + id + " does not exist");
  const Job& job = jobs->front();
  if (job.state != JobState::kActive || job.gen != token) {
    co_return Status::LeaseLost("job " + id + " is not active with token " + std::to_string(token));
  }
  const std::int64_t now = context_->NowMs();
  store::Failure failure;
  failure.reason = std::move(reason);
  failure.exhausted = job.attempts_made + 1 >= job.attempts_max;
  failure.keep = KeepPolicyOf(OptionsOf(job).remove_on_fail);
  sql::Batch batch(*context_->db);
  const auto indexes = store::AppendFailure(batch, job, store::GuardOf(job), failure, now);
  auto results = co_await batch.Run("move-to-failed");
  if (!results.ok()) co_return results.status();
  if (results->at(indexes.cas).meta.changes == 0) {
    co_return Status::LeaseLost("job " + id + " changed meanwhile");
  }
  PostCommit post;
  CollectFlowEffects(*results, indexes.flow, post);
  auto stub = context_->Coordinator(name_);
  auto revoked = co_await stub->Call(&Coordinator::Revoke, name_, id);
  (void)revoked;  // The holder's finish changes nothing now; its lease is not needed.
  co_await ApplyPostCommit(*context_, std::move(post));
  co_return Status::Ok();
}

Task<Status> Queue::Discard(std::string id) {
  auto updated = co_await context_->db
                     ->Prepare(
                         "UPDATE cfq_jobs SET discarded = 1 WHERE queue = ? AND id = ? AND "
                         "state = 'active'")
                     .Bind(name_, id)
                     .Run();
  if (!updated.ok()) co_return SchemaMissingOr(updated.status());
  if (updated->meta.changes == 0) co_return Status::NotInState("job " + id + " is not active");
  co_return Status::Ok();
}

}  // namespace cfemu::engine
