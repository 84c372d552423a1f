#include "tests/durable_objects/do_testing.h"

#include <stdexcept>

namespace cfemu::testing {

TestEnv::TestEnv(DoWorld& world, std::string actor, std::string clock_actor,
                 std::shared_ptr<emulator::Invocation> invocation)
    : world_(world),
      scope_(world.sim(), std::move(actor), world.sim().ClockFor(clock_actor),
             std::move(invocation)),
      runtime_(scope_) {}

Result<platform::QueueProducer*> TestEnv::Queue(std::string_view binding) {
  return NotBound("queue", binding);
}

Result<platform::DurableObjectNamespace*> TestEnv::DurableObjects(std::string_view binding) {
  if (const auto it = bound_.find(binding); it != bound_.end()) return it->second.get();
  emulator::DurableObjectService* service = world_.Find(binding);
  if (service == nullptr) return NotBound("Durable Object namespace", binding);
  auto ns = service->Bind(scope_);
  platform::DurableObjectNamespace* raw = ns.get();
  bound_.emplace(std::string(binding), std::move(ns));
  return raw;
}

emulator::InvocationEnvFactory DoWorld::Factory() {
  return [this](std::string actor, std::string clock_actor,
                std::shared_ptr<emulator::Invocation> invocation) {
    auto env = std::make_shared<TestEnv>(*this, std::move(actor), std::move(clock_actor),
                                         std::move(invocation));
    env->set_owner(env);
    return std::shared_ptr<platform::Env>(env);
  };
}

emulator::DurableObjectService& DoWorld::AddNamespace(std::string binding, std::string class_name,
                                                      emulator::DurableObjectOptions options) {
  options.class_name = class_name;
  const auto* entry = registry_.Find(class_name);
  EXPECT_NE(entry, nullptr) << class_name;
  if (entry != nullptr) options.entry = *entry;
  auto service = emulator::DurableObjectService::Create(sim_, std::move(options), Factory());
  EXPECT_TRUE(service.ok()) << service.status().ToString();
  auto& slot = services_[binding];
  slot = std::move(*service);
  return *slot;
}

emulator::DurableObjectService* DoWorld::Find(std::string_view binding) {
  const auto it = services_.find(binding);
  return it == services_.end() ? nullptr : it->second.get();
}

platform::Env& DoWorld::EnvFor(const std::string& actor) {
  auto it = envs_.find(actor);
  if (it == envs_.end()) {
    auto env = std::make_shared<TestEnv>(*this, actor, actor, nullptr);
    env->set_owner(env);
    it = envs_.emplace(actor, env).first;
  }
  return *it->second;
}

platform::DurableObjectNamespace& DoWorld::Namespace(const std::string& actor,
                                                     std::string_view binding) {
  auto ns = EnvFor(actor).DurableObjects(binding);
  EXPECT_TRUE(ns.ok()) << ns.status().ToString();
  return **ns;
}

Counter::Counter(platform::DurableObjectState& state, platform::Env& env)
    : DurableObject(state, env) {
  ++constructions;
}

Task<Result<std::int64_t>> Counter::Increment(std::int64_t by) {
  ++calls_;
  auto current = co_await storage().Get("count");
  if (!current.ok()) co_return current.status();
  const std::int64_t next = (*current ? (*current)->get<std::int64_t>() : 0) + by;
  Json value = next;
  CFEMU_CO_RETURN_IF_ERROR(co_await storage().Put("count", std::move(value)));
  co_return next;
}

Task<Result<std::int64_t>> Counter::Get() {
  ++calls_;
  auto current = co_await storage().Get("count");
  if (!current.ok()) co_return current.status();
  co_return *current ? (*current)->get<std::int64_t>() : 0;
}

Task<Result<std::int64_t>> Counter::InMemoryCalls() { co_return ++calls_; }

Task<Result<std::vector<std::string>>> Counter::Log(std::string entry, std::int64_t pause_ms) {
  if (pause_ms > 0) {
    CFEMU_CO_RETURN_IF_ERROR(
        co_await core::SleepFor(env().runtime(), env().clock(), core::Milliseconds(pause_ms)));
  }
  log_.push_back(std::move(entry));
  co_return log_;
}

Task<Result<int>> Counter::Copies(CopyCount value) { co_return value.copies; }

Task<Result<bool>> Counter::Throw() {
  throw std::runtime_error("method threw");
  co_return true;
}

std::unique_ptr<emulator::Simulator> SimulatorWithFault(emulator::Fault fault,
                                                        std::optional<std::int64_t> max_firings,
                                                        std::uint64_t seed) {
  emulator::SimulatorOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  emulator::FaultRule rule;
  rule.probability = 1.0;
  rule.max_firings = max_firings;
  plan.Set(fault, rule);
  options.faults = plan;
  auto sim = std::make_unique<emulator::Simulator>(seed, options);
  sim->trace().KeepLines(true);
  return sim;
}

}  // namespace cfemu::testing
