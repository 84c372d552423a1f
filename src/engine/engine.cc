#include "src/engine/engine.h"

#include "src/engine/consumer_internal.h"

#include "src/engine/scheduler_tick.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

Result<Engine> Engine::Create(platform::Env& env, EngineBindings bindings, core::Random random,
                              EngineConfig config) {
  auto context = MakeEngineContext(env, std::move(bindings), std::move(random), config);
  if (!context.ok()) return context.status();
  return Engine(std::move(*context));
}

Task<Result<MigrationReport>> Engine::Migrate() {
  return engine::Migrate(*context_->db, context_->env->clock().Now());
}

namespace {

Task<Result<Queue>> OpenQueueTask(std::shared_ptr<EngineContext> context, std::string name,
                                  QueueConfig config) {
  CFEMU_CO_RETURN_IF_ERROR(co_await OpenQueueRows(*context, name, std::move(config)));
  co_return Queue(context, std::move(name));
}

Task<Result<std::vector<std::string>>> ListQueuesTask(std::shared_ptr<EngineContext> context) {
  const platform::D1PreparedStatement statement =
      context->db->Prepare("SELECT queue FROM cfq_queues ORDER BY queue");
  auto rows = co_await statement.All();
  if (!rows.ok()) co_return SchemaMissingOr(rows.status());
  std::vector<std::string> names;
  for (const auto& row : rows->results) names.push_back(sql::Str(row.values.at(0)));
  co_return names;
}

}  // namespace

Task<Result<std::vector<std::string>>> Engine::ListQueues() { return ListQueuesTask(context_); }

Task<Result<Queue>> Engine::OpenQueue(std::string name, QueueConfig config) {
  return OpenQueueTask(context_, std::move(name), std::move(config));
}

Result<Queue> Engine::GetQueue(std::string name) {
  CFEMU_RETURN_IF_ERROR(ValidateQueueName(name));
  return Queue(context_, std::move(name));
}

Consumer Engine::CreateConsumer(Processor processor, ConsumerOptions options) {
  Consumer consumer(context_->bindings, context_->config, std::move(processor), std::move(options),
                    context_->random.Fork("consumer"));
  consumer.state_->closed = context_->closed;
  context_->consumers.push_back(consumer.state_);
  return consumer;
}

core::Task<void> Engine::Close(bool force) {
  std::shared_ptr<EngineContext> context = context_;
  context->closed = true;
  std::vector<std::shared_ptr<ConsumerState>> consumers;
  for (const auto& weak : context->consumers) {
    if (auto state = weak.lock()) consumers.push_back(std::move(state));
  }
  for (const auto& state : consumers) {
    state->closed = true;
    if (!force) continue;
    for (Invocation* invocation : state->live) {
      for (auto& [queue, runs] : invocation->inflight) {
        for (auto& [id, run] : runs) run->signal.Abort("engine closing");
      }
    }
  }
  for (const auto& state : consumers) {
    while (state->running > 0) {
      state->idle.Reset();
      co_await state->idle.Wait();
    }
  }
  if (context->tracing()) context->Trace(core::TraceEvent("engine.closed").Bool("force", force));
}

DeadLetterConsumer Engine::CreateDeadLetterConsumer(DeadLetterOptions options) {
  return DeadLetterConsumer(context_->bindings, context_->config, options,
                            context_->random.Fork("dead-letter-consumer"));
}

platform::ScheduledHandler Engine::SchedulerHandler() {
  return MakeSchedulerHandler(context_->bindings, context_->config,
                              context_->random.Fork("scheduler"));
}

}  // namespace cfemu::engine
