// Consumer: processor runs, JobContext, and the finish batches (engine-spec.md §4.2 steps 5-6,
// T10, T11, T14, T15). Finishes that are ready together are written in one batch (group
// commit); each job's statements are guarded by its own token, so one job's lost lease never
// affects another's finish.
#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <tuple>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/engine/consumer_internal.h"
#include "src/engine/coordinator/coordinator.h"
#include "src/engine/job_row.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

// ---- JobContext ------------------------------------------------------------------------------

const Job& JobContext::job() const { return run_.job; }
std::int32_t JobContext::attempt() const { return run_.job.attempts_started; }
std::int64_t JobContext::token() const { return run_.token; }
platform::Env& JobContext::env() { return *run_.invocation->env; }
core::Random& JobContext::random() { return run_.invocation->context->random; }
const AbortSignal& JobContext::signal() const { return run_.signal; }

Task<Status> JobContext::Sleep(core::Duration duration) {
  platform::Env& e = env();
  return core::SleepFor(e.runtime(), e.clock(), duration);
}

namespace {

std::optional<std::int32_t> KeepLogsOf(const Job& job) {
  if (!job.opts.is_object()) return std::nullopt;
  const auto it = job.opts.find("keepLogs");
  if (it == job.opts.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int32_t>();
}

// Writes the buffered progress and logs now if the flush period has passed since the last.
Task<Status> MaybeFlush(JobRun& run) {
  EngineContext& context = *run.invocation->context;
  const std::int64_t now = context.NowMs();
  const std::int64_t period = run.invocation->state->options.progress_flush_ms;
  if (now - run.last_flush < period) co_return Status::Ok();  // The finish batch writes it.
  store::Buffered buffered = std::move(run.buffered);
  run.buffered = store::Buffered();
  buffered.keep_logs = KeepLogsOf(run.job);
  run.last_flush = now;
  sql::Batch batch(*context.db);
  const store::Guard guard(run.job.queue_name, run.job.id, JobState::kActive, run.token);
  store::FlushBuffered(batch, guard, buffered, run.job.epoch, now);
  auto written = co_await batch.Run("progress");
  co_return written.status();
}

}  // namespace

Task<Status> JobContext::UpdateProgress(Json progress) {
  run_.buffered.progress = std::move(progress);
  return MaybeFlush(run_);
}

Task<Status> JobContext::Log(std::string message) {
  run_.buffered.logs.emplace_back(run_.invocation->context->NowMs(), std::move(message));
  return MaybeFlush(run_);
}

namespace {

Task<bool> HeartbeatRun(JobRun& run) {
  Invocation& inv = *run.invocation;
  const std::string queue = run.job.queue_name;
  auto stub = inv.context->Coordinator(queue);
  std::vector<LeaseRef> items{LeaseRef(run.job.id, run.token)};
  auto renewed = co_await stub->Call(&Coordinator::Renew, queue, inv.owner, std::move(items));
  if (!renewed.ok()) co_return !run.signal.aborted();  // Unknown: the lease may still hold.
  if (!renewed->at(0)) run.signal.Abort("lease lost");
  co_return renewed->at(0);
}

Task<Status> RateLimitRun(JobRun& run, std::int64_t ms) {
  Invocation& inv = *run.invocation;
  const std::int64_t until = inv.context->NowMs() + std::max<std::int64_t>(ms, 0);
  const std::string queue = run.job.queue_name;
  auto stub = inv.context->Coordinator(queue);
  auto limited = co_await stub->Call(&Coordinator::RateLimitUntil, queue, until);
  if (!limited.ok()) co_return limited.status();
  run.rate_limited_until = until;
  co_return Status::RateLimited("rate limited for " + std::to_string(ms) + " ms");
}

Task<Result<std::map<std::string, Json>>> ChildrenValuesOf(EngineContext& context,
                                                           std::string queue, std::string id) {
  auto rows = co_await context.db
                  ->Prepare(
                      "SELECT child_queue, child_id, result FROM cfq_deps WHERE "
                      "parent_queue = ? AND parent_id = ? AND status = 'processed' ORDER "
                      "BY child_queue, child_id")
                  .Bind(queue, id)
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::map<std::string, Json> out;
  for (const auto& row : rows->results) {
    out[sql::Str(row.values[0]) + ":" + sql::Str(row.values[1])] = sql::JsonOf(row.values[2]);
  }
  co_return out;
}

}  // namespace

Task<bool> JobContext::Heartbeat() { return HeartbeatRun(run_); }

void JobContext::Discard() { run_.discarded = true; }

Status JobContext::MoveToDelayed(std::int64_t timestamp_ms) {
  run_.delayed_until = timestamp_ms;
  return Status::Delayed("moved to delayed until " + std::to_string(timestamp_ms));
}

Task<Status> JobContext::RateLimit(std::int64_t ms) { return RateLimitRun(run_, ms); }

Task<Result<std::map<std::string, Json>>> JobContext::GetChildrenValues() {
  return ChildrenValuesOf(*run_.invocation->context, run_.job.queue_name, run_.job.id);
}

// ---- Processing ------------------------------------------------------------------------------

namespace {

JobOptions OptionsOf(const Job& job) {
  auto options = JobOptionsFromJson(job.opts);
  return options.ok() ? *options : JobOptions();
}

// What the processor's result means for the row (pure apart from the jitter draw).
void DecideFinish(Invocation& inv, JobRun& run, const Result<Json>& result, std::int64_t now) {
  Status failure;
  if (result.ok()) {
    run.result_json = sql::Dump(*result);
    if (static_cast<std::int64_t>(run.result_json.size()) <= run.config.result_limit) {
      run.kind = FinishKind::kComplete;
      return;
    }
    failure = Status::TooLarge("the return value is " + std::to_string(run.result_json.size()) +
                               " bytes of JSON, over the limit of " +
                               std::to_string(run.config.result_limit));
    run.result_json = "null";
  } else {
    failure = result.status();
  }
  if (failure.code() == core::Code::kDelayed) {
    run.kind = FinishKind::kDelay;
    run.delayed_until = std::max(run.delayed_until.value_or(now), now);
    return;
  }
  if (failure.code() == core::Code::kRateLimited) {
    run.kind = FinishKind::kDelay;
    run.delayed_until = std::max(run.rate_limited_until.value_or(now), now);
    return;
  }
  AttemptFailure attempt;
  attempt.reason =
      failure.message().empty() ? std::string(core::CodeName(failure.code())) : failure.message();
  attempt.stacktrace =
      TrimStacktrace({failure.ToString()},
                     OptionsOf(run.job).stack_trace_limit.value_or(run.config.stack_trace_limit));
  attempt.unrecoverable = failure.code() == core::Code::kUnrecoverable;
  attempt.discarded = run.discarded;
  run.stacktrace = attempt.stacktrace;
  run.decision = DecideFailure(run.job, OptionsOf(run.job), run.config, attempt,
                               inv.state->options.backoff_strategies, inv.context->random);
  run.kind = run.decision.retry ? FinishKind::kRetry : FinishKind::kFail;
}

bool Killed(Invocation& inv) {
  const core::CancelToken token = inv.env->cancel_token();
  return token && token->cancelled();
}

Task<Result<Json>> RunProcessor(Processor& processor, JobContext& ctx) {
  try {
    co_return co_await processor(ctx);
  } catch (const std::exception& e) {
    co_return Status::Unknown(std::string("uncaught exception: ") + e.what());
  } catch (...) {
    co_return Status::Unknown("uncaught exception: (not a std::exception)");
  }
}

}  // namespace

Task<void> ProcessJob(Invocation& inv, JobRun& run, FinishCommitter& committer) {
  JobContext ctx(run);
  if (inv.context->tracing()) {
    inv.context->Trace(core::TraceEvent("engine.run")
                           .Str("queue", run.job.queue_name)
                           .Str("job", run.job.id)
                           .Int("gen", run.token)
                           .Int("attempt", run.job.attempts_started));
  }
  Result<Json> result = co_await RunProcessor(inv.state->processor, ctx);
  if (Killed(inv)) co_return;  // A killed invocation has no further effect: R-STALL re-runs it.
  const core::Code code = result.ok() ? core::Code::kOk : result.code();
  if (code != core::Code::kOk && code != core::Code::kDelayed && code != core::Code::kRateLimited &&
      !run.discarded) {
    // Job::discard() may have been called from outside the processor (failure path only).
    auto discarded = co_await inv.context->db
                         ->Prepare(
                             "SELECT discarded FROM cfq_jobs WHERE queue = ? AND id = ? AND "
                             "gen = ?")
                         .Bind(run.job.queue_name, run.job.id, run.token)
                         .First(std::string("discarded"));
    if (discarded.ok() && sql::Int(*discarded) != 0) run.discarded = true;
  }
  if (inv.context->config.broken_rule == EngineConfig::BrokenRule::kNoFencing) {
    // The deliberately broken rule: finish whatever run holds the row now.
    auto current =
        co_await inv.context->db
            ->Prepare("SELECT gen FROM cfq_jobs WHERE queue = ? AND id = ? AND state = ?")
            .Bind(run.job.queue_name, run.job.id, std::string("active"))
            .First(std::string("gen"));
    if (current.ok() && !sql::IsNull(*current)) run.fence = sql::Int(*current);
  }
  DecideFinish(inv, run, result, inv.context->NowMs());
  co_await committer.Submit(run);
}

// ---- Finish batches --------------------------------------------------------------------------

namespace {

struct BuiltFinish {
  std::vector<std::size_t> cas;
  // Whether cas[i] is a group CAS (applied = the run's id among its RETURNING rows) rather than
  // the run's own (applied = it changed a row).
  std::vector<bool> grouped;
  std::vector<store::FlowEffects> flows;
  std::vector<Placement> placements;
};

Placement PlaceAgain(const JobRun& run, std::int64_t available_at, std::int64_t now) {
  return Place(run.job.priority, run.job.lifo, std::max(available_at, now), now, run.config,
               /*known_paused=*/false);
}

// A completion that needs none of the per-job statements (flows, dedupe, buffered writes).
bool IsPlainCompletion(const JobRun& run) {
  return run.kind == FinishKind::kComplete && !run.job.parent && !run.job.dedup_id &&
         !run.buffered.progress && run.buffered.logs.empty();
}

// The statements of one run's finish (T10, T11, T14, T15); returns its CAS index.
std::size_t AppendOne(sql::Batch& batch, JobRun& run, std::int64_t now, store::FlowEffects& flow,
                      Placement& placement) {
  const Job& job = run.job;
  const store::Guard pre(job.queue_name, job.id, JobState::kActive, run.fence);
  store::Buffered buffered = run.buffered;
  buffered.keep_logs = KeepLogsOf(job);
  switch (run.kind) {
    case FinishKind::kComplete: {
      store::Completion completion;
      completion.result_json = run.result_json;
      completion.keep = KeepPolicyOf(OptionsOf(job).remove_on_complete);
      completion.buffered = std::move(buffered);
      const auto indexes = store::AppendCompletion(batch, job, run.fence, completion, now);
      flow = indexes.flow;
      return indexes.cas;
    }
    case FinishKind::kFail: {
      store::Failure failure;
      failure.reason = run.decision.reason;
      failure.stacktrace = run.stacktrace;
      failure.exhausted = run.decision.exhausted;
      failure.keep = KeepPolicyOf(OptionsOf(job).remove_on_fail);
      failure.buffered = std::move(buffered);
      const auto indexes = store::AppendFailure(batch, job, pre, failure, now);
      flow = indexes.flow;
      return indexes.cas;
    }
    case FinishKind::kRetry:
    case FinishKind::kDelay: {
      const bool retry = run.kind == FinishKind::kRetry;
      placement = PlaceAgain(
          run, retry ? now + run.decision.backoff_ms : run.delayed_until.value_or(now), now);
      // T15 is active -> delayed even when the time has come: the row is a due delayed row
      // (claimable, or flipped by the dispatch pass) and records `delayed`, as INV-03 counts.
      if (!retry) placement.state = JobState::kDelayed;
      store::Redispatch r;
      r.placement = placement;
      r.event = placement.state == JobState::kDelayed ? "delayed" : "waiting";
      r.event_data = {{"prev", "active"}, {"delay", placement.available_at - now}};
      if (retry) {
        r.event_data["failedReason"] = run.decision.reason;
        r.event_data["attemptsMade"] = job.attempts_made + 1;
        r.extra_sets = ", attempts_made = attempts_made + 1, failed_reason = ?, stacktrace = ?";
        r.extra_params = {run.decision.reason, sql::Dump(Json(run.stacktrace))};
      }
      r.buffered = std::move(buffered);
      return store::AppendRedispatch(batch, job, pre, r, now);
    }
  }
  return 0;
}

BuiltFinish BuildFinishes(sql::Batch& batch, const std::vector<JobRun*>& group, std::int64_t now) {
  BuiltFinish built;
  built.cas.resize(group.size());
  built.grouped.resize(group.size());
  built.flows.resize(group.size());
  built.placements.resize(group.size());
  // Plain completions sharing a return value and a keep policy are written together.
  std::map<std::tuple<std::string, bool, std::optional<std::int64_t>, std::optional<std::int64_t>>,
           std::vector<std::size_t>>
      plain;
  for (std::size_t i = 0; i < group.size(); ++i) {
    JobRun& run = *group[i];
    if (IsPlainCompletion(run)) {
      const KeepPolicy keep = KeepPolicyOf(OptionsOf(run.job).remove_on_complete);
      plain[{run.result_json, keep.remove, keep.age_s, keep.count}].push_back(i);
      continue;
    }
    built.cas[i] = AppendOne(batch, run, now, built.flows[i], built.placements[i]);
  }
  for (const auto& [key, members] : plain) {
    std::vector<store::PlainCompletion> jobs;
    for (std::size_t i : members) jobs.push_back({group[i]->job.id, group[i]->fence});
    KeepPolicy keep;
    keep.remove = std::get<1>(key);
    keep.age_s = std::get<2>(key);
    keep.count = std::get<3>(key);
    const std::size_t cas = store::AppendPlainCompletions(
        batch, group[members.front()]->job.queue_name, jobs, std::get<0>(key), keep, now);
    for (std::size_t i : members) {
      built.cas[i] = cas;
      built.grouped[i] = true;
    }
  }
  return built;
}

// Diagnostics for finishes that changed nothing (their lease was lost): recorded unguarded, in
// a batch of their own, so the common path pays nothing for them.
Task<void> RecordLeaseLost(EngineContext& context, const std::vector<JobRun*>& lost,
                           const std::string& owner) {
  if (lost.empty()) co_return;
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  for (const JobRun* run : lost) {
    Json data = {{"token", run->token}, {"owner", owner}};
    batch.Add(
        "INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (?, ?, "
        "'cfq:lease-lost', ?, ?)",
        run->job.queue_name, run->job.id, now, sql::Dump(data));
  }
  auto written = co_await batch.Run("lease-lost");
  (void)written;  // Diagnostics only.
}

// After an indeterminate reply: did this run's finish land? (row as read now)
enum class Landing { kApplied, kPending, kLost };

Landing LandingOf(const JobRun& run, const std::optional<Job>& row) {
  if (!row) {
    const JobOptions options = OptionsOf(run.job);
    const bool removed =
        (run.kind == FinishKind::kComplete && KeepPolicyOf(options.remove_on_complete).remove) ||
        (run.kind == FinishKind::kFail && KeepPolicyOf(options.remove_on_fail).remove);
    return removed ? Landing::kApplied : Landing::kLost;
  }
  if (row->state == JobState::kActive && row->gen == run.fence) return Landing::kPending;
  switch (run.kind) {
    case FinishKind::kComplete:
      return row->state == JobState::kCompleted && row->gen == run.fence ? Landing::kApplied
                                                                         : Landing::kLost;
    case FinishKind::kFail:
      return row->state == JobState::kFailed && row->gen == run.fence + 1 ? Landing::kApplied
                                                                          : Landing::kLost;
    case FinishKind::kRetry:
    case FinishKind::kDelay: {
      const std::int32_t made = run.job.attempts_made + (run.kind == FinishKind::kRetry ? 1 : 0);
      const bool ours = IsDispatchable(row->state) && row->gen == run.fence + 1 &&
                        row->attempts_made == made &&
                        row->stalled_counter == run.job.stalled_counter;
      return ours ? Landing::kApplied : Landing::kLost;
    }
  }
  return Landing::kLost;
}

Task<Result<std::map<std::string, Job>>> ReadRows(EngineContext& context, const std::string& queue,
                                                  const std::vector<JobRun*>& group) {
  Json ids = Json::array();
  for (const JobRun* run : group) ids.push_back(run->job.id);
  auto rows = co_await context.db
                  ->Prepare("SELECT " + std::string(kJobColumns) +
                            " FROM cfq_jobs WHERE queue = ? AND id IN (SELECT value FROM "
                            "json_each(?))")
                  .Bind(queue, sql::Dump(ids))
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::map<std::string, Job> out;
  for (const auto& row : rows->results) {
    Job job = JobFromRow(row);
    out.emplace(job.id, std::move(job));
  }
  co_return out;
}

void TraceFinish(EngineContext& context, const JobRun& run) {
  if (!context.tracing()) return;
  static constexpr const char* kKinds[] = {"completed", "retry", "failed", "delayed"};
  context.Trace(core::TraceEvent("engine.finished")
                    .Str("queue", run.job.queue_name)
                    .Str("job", run.job.id)
                    .Int("gen", run.token)
                    .Str("outcome", kKinds[static_cast<int>(run.kind)])
                    .Bool("applied", run.applied));
}

}  // namespace

Task<void> FinishCommitter::Submit(JobRun& run) {
  pending_.push_back(&run);
  if (flushing_) {
    co_await run.done.Wait();
    co_return;
  }
  flushing_ = true;
  // Let every processor that finishes at this instant join the group.
  auto executor = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(executor, boost::asio::use_awaitable);
  while (!pending_.empty()) {
    std::vector<JobRun*> group = std::move(pending_);
    pending_.clear();
    co_await Flush(group);
    for (JobRun* r : group) {
      r->finished = true;
      r->done.Set();
    }
  }
  flushing_ = false;
}

Task<void> FinishCommitter::Flush(std::vector<JobRun*> group) {
  EngineContext& context = *invocation_.context;
  platform::Env& env = *invocation_.env;
  const std::string queue = group.front()->job.queue_name;
  PostCommit post;
  std::vector<JobRun*> remaining = group;
  std::vector<JobRun*> lost;
  // A finish that fails is retried while it may still land; it is never turned into a job
  // failure (§4.2 step 6). Unreachable D1: give up after ~6 s and let the lease expire.
  for (int attempt = 0; attempt < 7 && !remaining.empty(); ++attempt) {
    const std::int64_t now = context.NowMs();
    sql::Batch batch(*context.db);
    BuiltFinish built = BuildFinishes(batch, remaining, now);
    auto results = co_await batch.Run("finish:" + invocation_.owner);
    if (results.ok()) {
      std::map<std::size_t, std::set<std::string>> changed;  // Group CAS -> ids it changed.
      for (std::size_t i = 0; i < remaining.size(); ++i) {
        if (!built.grouped[i] || changed.count(built.cas[i]) > 0) continue;
        auto& ids = changed[built.cas[i]];
        for (const auto& row : results->at(built.cas[i]).results) {
          ids.insert(sql::Str(row.values.at(0)));
        }
      }
      for (std::size_t i = 0; i < remaining.size(); ++i) {
        JobRun& run = *remaining[i];
        run.applied = built.grouped[i] ? changed[built.cas[i]].count(run.job.id) > 0
                                       : results->at(built.cas[i]).meta.changes > 0;
        if (!run.applied) {
          lost.push_back(&run);
          continue;
        }
        CollectFlowEffects(*results, built.flows[i], post);
        if (run.kind == FinishKind::kRetry || run.kind == FinishKind::kDelay) {
          const Placement& p = built.placements[i];
          if (p.dispatch_at) {
            post.Send(
                Envelope{queue, run.job.id, run.fence + 1, p.available_at, run.job.group_key});
          } else if (p.needs_dispatcher) {
            post.Kick(queue, p.available_at);
          }
        }
      }
      remaining.clear();
      break;
    }
    const core::Code code = results.code();
    if (code == core::Code::kCancelled) co_return;
    if (code == core::Code::kIndeterminate || code == core::Code::kTimeout) {
      auto rows = co_await ReadRows(context, queue, remaining);
      if (rows.ok()) {
        std::vector<JobRun*> pending;
        for (JobRun* run : remaining) {
          const auto it = rows->find(run->job.id);
          const std::optional<Job> row =
              it == rows->end() ? std::nullopt : std::optional<Job>(it->second);
          const Landing landing = LandingOf(*run, row);
          if (landing == Landing::kPending) {
            pending.push_back(run);
            continue;
          }
          run->applied = landing == Landing::kApplied;
          if (run->applied && row && row->dispatch_at) {
            post.Send(Envelope{queue, row->id, row->gen, row->available_at, row->group_key});
          }
        }
        remaining = std::move(pending);
        continue;
      }
    }
    const Status slept =
        co_await core::SleepFor(env.runtime(), env.clock(), core::Milliseconds(100LL << attempt));
    if (!slept.ok()) co_return;
  }
  for (JobRun* run : group) TraceFinish(context, *run);
  co_await ApplyPostCommit(context, std::move(post));
  co_await RecordLeaseLost(context, lost, invocation_.owner);
}

}  // namespace cfemu::engine
