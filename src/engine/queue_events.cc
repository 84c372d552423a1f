#include "src/engine/queue_events.h"

#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

QueueEvents::QueueEvents(std::shared_ptr<EngineContext> context, std::string queue,
                         EventsOptions options)
    : context_(std::move(context)), queue_(std::move(queue)), options_(options) {
  if (options_.after) {
    started_ = true;
    last_ = *options_.after;
  }
}

namespace {

// Events of `queue` after `after`; of one job when `job_id` is set.
Task<Result<std::vector<QueueEvent>>> Poll(EngineContext& context, std::string queue,
                                           std::int64_t after, std::int64_t limit,
                                           std::optional<std::string> job_id = std::nullopt) {
  const std::string sql = std::string(
                              "SELECT eid, queue, job_id, event, at, data FROM cfq_events WHERE "
                              "queue = ? AND eid > ?") +
                          (job_id ? " AND job_id = ?" : "") + " ORDER BY eid LIMIT ?";
  // Not a conditional expression inside the co_await: GCC 12 destroys such temporaries twice.
  std::vector<platform::D1Param> params = {queue, after};
  if (job_id) params.emplace_back(*job_id);
  params.emplace_back(limit);
  const auto statement = context.db->Prepare(sql).Bind(std::move(params));
  auto rows = co_await statement.All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::vector<QueueEvent> out;
  for (const auto& row : rows->results) {
    const auto& v = row.values;
    out.push_back({sql::Int(v[0]), sql::Str(v[1]), sql::OptStr(v[2]), sql::Str(v[3]),
                   sql::Int(v[4]), sql::JsonOf(v[5])});
  }
  co_return out;
}

Task<Result<std::vector<QueueEvent>>> NextEvents(std::shared_ptr<EngineContext> context,
                                                 std::string queue, EventsOptions options,
                                                 bool* started, std::int64_t* last) {
  if (!*started) {  // "$": only what comes after now.
    auto max = co_await context->db
                   ->Prepare("SELECT coalesce(max(eid), 0) FROM cfq_events WHERE queue = ?")
                   .Bind(queue)
                   .First();
    if (!max.ok()) co_return SchemaMissingOr(max.status());
    *last = *max ? sql::Int((*max)->values.at(0)) : 0;
    *started = true;
  }
  for (int round = 0; round < 2; ++round) {
    auto events = co_await Poll(*context, queue, *last, options.batch);
    if (!events.ok()) co_return events.status();
    if (!events->empty() || round == 1) {
      if (!events->empty()) *last = events->back().id;
      co_return std::move(*events);
    }
    platform::Env& env = *context->env;
    const Status slept = co_await core::SleepFor(env.runtime(), env.clock(),
                                                 core::Milliseconds(options.poll_interval_ms),
                                                 core::TimerKind::kBackground);
    if (!slept.ok()) co_return slept;
  }
  co_return std::vector<QueueEvent>();
}

}  // namespace

Task<Result<std::vector<QueueEvent>>> QueueEvents::Next() {
  return NextEvents(context_, queue_, options_, &started_, &last_);
}

namespace {

Task<Result<Json>> Wait(Queue* queue, QueueEvents* events, std::string id,
                        std::optional<std::int64_t> ttl_ms) {
  const EngineContext& context = *queue->context();
  const std::int64_t start = context.NowMs();
  while (true) {
    auto job = co_await queue->GetJob(id);
    if (!job.ok()) co_return job.status();
    if (!*job) co_return Status::NotFound("job " + queue->name() + ":" + id + " does not exist");
    if ((*job)->state == JobState::kCompleted) co_return (*job)->returnvalue;
    if ((*job)->state == JobState::kFailed) co_return Status::Unknown((*job)->failed_reason);
    if (ttl_ms && context.NowMs() - start >= *ttl_ms) {
      co_return Status::Timeout("job " + id + " did not finish within " + std::to_string(*ttl_ms) +
                                " ms");
    }
    auto next = co_await events->Next();  // Waits a poll interval when nothing happened.
    if (!next.ok()) co_return next.status();
  }
}

}  // namespace

Task<Result<std::vector<QueueEvent>>> GetJobEvents(Queue& queue, std::string id,
                                                   std::int64_t after, std::int64_t limit) {
  const std::shared_ptr<EngineContext> context = queue.context();  // Alive across the await.
  co_return co_await Poll(*context, queue.name(), after, limit, std::move(id));
}

Task<Result<Json>> WaitUntilFinished(Queue& queue, QueueEvents& events, std::string id,
                                     std::optional<std::int64_t> ttl_ms) {
  return Wait(&queue, &events, std::move(id), ttl_ms);
}

}  // namespace cfemu::engine
