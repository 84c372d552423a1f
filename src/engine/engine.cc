#include "src/engine/engine.h"

#include "src/engine/scheduler_tick.h"

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

}  // namespace

Task<Result<Queue>> Engine::OpenQueue(std::string name, QueueConfig config) {
  return OpenQueueTask(context_, std::move(name), std::move(config));
}

Result<Queue> Engine::GetQueue(std::string name) {
  CFEMU_RETURN_IF_ERROR(ValidateQueueName(name));
  return Queue(context_, std::move(name));
}

Consumer Engine::CreateConsumer(Processor processor, ConsumerOptions options) {
  return Consumer(context_->bindings, context_->config, std::move(processor), std::move(options),
                  context_->random.Fork("consumer"));
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
