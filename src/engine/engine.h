// The job engine (engine-spec.md): BullMQ-class jobs on Cloudflare Queues + D1 + a coordinator
// Durable Object + cron. D1 is the only source of truth; queues carry a tiny envelope; the
// coordinator owns leases, the pause gate and rate buckets; the cron tick is the backstop.
//
// An Engine is built from an Env (a Worker's `env`): the bindings it names are resolved there,
// so every platform call carries that actor's clock view, cancel token and trace label. A
// producer builds one Engine and keeps it. Consumers, the coordinator and the cron tick run in
// invocations with Envs of their own: the Engine hands out their handlers (CreateConsumer,
// CreateDeadLetterConsumer, SchedulerHandler) and the coordinator class (RegisterCoordinator),
// which resolve the same binding names in each invocation's Env. The D1 and coordinator
// bindings are required: without them Create fails (kFailedPrecondition), never "coordination
// off".
//
//   auto engine = Engine::Create(env, EngineBindings(), random.Fork("producer"));
//   auto queue = co_await engine->OpenQueue("emails");
//   auto job = co_await queue->Add("welcome", Json{{"to", "a@b.c"}});
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/consumer.h"
#include "src/engine/coordinator/coordinator.h"
#include "src/engine/engine_context.h"
#include "src/engine/flow_producer.h"
#include "src/engine/queue.h"
#include "src/engine/queue_config.h"
#include "src/engine/queue_events.h"
#include "src/engine/scheduler_tick.h"
#include "src/engine/schema.h"
#include "src/platform/env.h"
#include "src/platform/scheduled.h"

namespace cfemu::engine {

class Engine {
 public:
  // kFailedPrecondition naming the binding when the D1 or coordinator binding is missing.
  // `random` is this engine's stream (job ids, add tokens); fork it per actor.
  static core::Result<Engine> Create(platform::Env& env, EngineBindings bindings,
                                     core::Random random, EngineConfig config = EngineConfig());

  // Applies the schema migrations (engine-spec.md §6); a second run is a no-op.
  core::Task<core::Result<MigrationReport>> Migrate();
  // Creates or updates the queue's row and counts, stores `config` and pushes it to the
  // queue's coordinator. Idempotent.
  core::Task<core::Result<Queue>> OpenQueue(std::string name, QueueConfig config = QueueConfig());
  // The logical queues opened so far (rows of cfq_queues), by name.
  core::Task<core::Result<std::vector<std::string>>> ListQueues();
  // A handle without a round trip; its first operation opens the queue with the defaults if it
  // was never opened (keeping the stored config if it was).
  core::Result<Queue> GetQueue(std::string name);

  FlowProducer GetFlowProducer() { return FlowProducer(context_); }
  QueueEvents GetQueueEvents(std::string queue, EventsOptions options = EventsOptions()) {
    return QueueEvents(context_, std::move(queue), options);
  }

  // A consumer for the Cloudflare queue(s) the engine's queues are bound to. Its random stream
  // is forked from this engine's.
  Consumer CreateConsumer(Processor processor, ConsumerOptions options = ConsumerOptions());
  DeadLetterConsumer CreateDeadLetterConsumer(DeadLetterOptions options = DeadLetterOptions());
  // The Worker's scheduled() handler: runs the scheduler tick (engine-spec.md §4.15).
  platform::ScheduledHandler SchedulerHandler();

  // Closes the engine (BullMQ's close): adds fail with kFailedPrecondition from now on, the
  // consumers it created claim nothing more (new messages are retried, R-INFRA), and the call
  // completes when their jobs in flight have finished: buffered progress and logs written,
  // leases released by the finish batches. With `force`, jobs in flight see their abort signal
  // at once ("engine closing"); a processor that ignores it is still awaited. Idempotent.
  core::Task<void> Close(bool force = false);
  bool closed() const { return context_->closed; }

  const EngineBindings& bindings() const { return context_->bindings; }
  const std::shared_ptr<EngineContext>& context() const { return context_; }

 private:
  explicit Engine(std::shared_ptr<EngineContext> context) : context_(std::move(context)) {}
  std::shared_ptr<EngineContext> context_;
};

}  // namespace cfemu::engine
