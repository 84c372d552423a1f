#include "emulator/world.h"

#include "emulator/env_spec_check.h"
#include "emulator/queues/producer.h"
#include "emulator/sim/actor_runtime.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

class WorldEnv final : public platform::Env {
 public:
  WorldEnv(World& world, std::string actor, std::string_view clock_actor,
           std::shared_ptr<Invocation> invocation)
      : world_(world),
        scope_(world.host(), std::move(actor), world.host().ClockFor(clock_actor),
               std::move(invocation)),
        runtime_(scope_) {}

  Result<platform::QueueProducer*> Queue(std::string_view binding) override {
    if (const auto it = producers_.find(binding); it != producers_.end()) return it->second.get();
    for (const auto& spec : world_.spec().producers) {
      if (spec.binding != binding) continue;
      QueueBroker& queue = world_.queues().EnsureQueue(spec.queue);
      auto producer =
          std::make_unique<ProducerBinding>(world_.queues(), queue, spec.delivery_delay, scope_);
      platform::QueueProducer* raw = producer.get();
      producers_.emplace(std::string(binding), std::move(producer));
      return raw;
    }
    return Status::NotFound("no queue producer binding named '" + std::string(binding) + "'");
  }
  const core::Clock& clock() const override { return scope_.clock(); }
  core::Runtime& runtime() override { return runtime_; }
  std::string_view actor() const override { return scope_.actor(); }
  std::string_view compatibility_date() const override { return world_.spec().compatibility_date; }
  core::CancelToken cancel_token() const override { return scope_.token(); }
  void runtime_owner(const std::shared_ptr<WorldEnv>& self) { runtime_.set_owner(self); }

 private:
  World& world_;
  ActorScope scope_;
  ActorRuntime runtime_;
  std::map<std::string, std::unique_ptr<ProducerBinding>, std::less<>> producers_;
};

}  // namespace

World::World(Host& host, platform::EnvSpec spec, WorldOptions options)
    : host_(host), spec_(std::move(spec)) {
  const Status valid = ValidateEnvSpec(spec_);
  CHECK_MSG(valid.ok(), valid.ToString());
  BrokerOptions broker_options;
  broker_options.limits = options.queue_limits;
  broker_options.compatibility_date = spec_.compatibility_date;
  broker_options.compatibility_flags = spec_.compatibility_flags;
  broker_ = std::make_unique<Broker>(
      host_, std::move(broker_options),
      [this](std::string actor, std::string clock_actor, std::shared_ptr<Invocation> invocation) {
        return NewEnv(std::move(actor), std::move(clock_actor), std::move(invocation));
      });
  for (const auto& queue : spec_.queues) {
    auto created = broker_->CreateQueue(queue);
    CHECK_MSG(created.ok(), created.status().ToString());
  }
  for (const auto& producer : spec_.producers) broker_->EnsureQueue(producer.queue);
  for (const auto& consumer : spec_.consumers) {
    auto added = broker_->AddConsumer(consumer);
    CHECK_MSG(added.ok(), added.status().ToString());
  }
}

Result<std::unique_ptr<World>> World::Create(Host& host, platform::EnvSpec spec,
                                             WorldOptions options) {
  CFEMU_RETURN_IF_ERROR(ValidateEnvSpec(spec));
  return std::make_unique<World>(host, std::move(spec), std::move(options));
}

World::~World() = default;

platform::Env& World::EnvFor(std::string_view actor) {
  auto it = envs_.find(actor);
  if (it == envs_.end()) {
    it = envs_.emplace(std::string(actor), NewEnv(std::string(actor), std::string(actor), nullptr))
             .first;
  }
  return *it->second;
}

std::shared_ptr<platform::Env> World::NewEnv(std::string actor, std::string clock_actor,
                                             std::shared_ptr<Invocation> invocation) {
  auto env =
      std::make_shared<WorldEnv>(*this, std::move(actor), clock_actor, std::move(invocation));
  env->runtime_owner(env);
  return env;
}

}  // namespace cfemu::emulator
