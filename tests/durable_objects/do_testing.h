// Helpers for Durable Object tests: a minimal Env (its Durable Object bindings only), a world of
// namespaces on a simulator, and test classes.
#pragma once

#include <utility>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/durable_objects/durable_object_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/simulator.h"
#include "src/platform/durable_object.h"

namespace cfemu::testing {

using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using platform::Json;

class DoWorld;

// An Env whose only bindings are the world's Durable Object namespaces.
class TestEnv final : public platform::Env {
 public:
  TestEnv(DoWorld& world, std::string actor, std::string clock_actor,
          std::shared_ptr<emulator::Invocation> invocation);
  Result<platform::QueueProducer*> Queue(std::string_view binding) override;
  Result<platform::DurableObjectNamespace*> DurableObjects(std::string_view binding) override;
  const core::Clock& clock() const override { return scope_.clock(); }
  core::Runtime& runtime() override { return runtime_; }
  std::string_view actor() const override { return scope_.actor(); }
  std::string_view compatibility_date() const override { return "2026-01-01"; }
  core::CancelToken cancel_token() const override { return scope_.token(); }
  void set_owner(const std::shared_ptr<TestEnv>& self) { runtime_.set_owner(self); }

 private:
  DoWorld& world_;
  emulator::ActorScope scope_;
  emulator::ActorRuntime runtime_;
  std::map<std::string, std::unique_ptr<platform::DurableObjectNamespace>, std::less<>> bound_;
};

// Durable Object namespaces (binding -> class) on one simulator.
class DoWorld {
 public:
  explicit DoWorld(emulator::Simulator& sim) : sim_(sim) {}

  emulator::Simulator& sim() { return sim_; }
  platform::DurableObjectRegistry& registry() { return registry_; }

  // Adds namespace `binding` for registered class `class_name`.
  emulator::DurableObjectService& AddNamespace(std::string binding, std::string class_name,
                                               emulator::DurableObjectOptions options = {});
  emulator::DurableObjectService* Find(std::string_view binding);
  // The Env of a caller outside any invocation.
  platform::Env& EnvFor(const std::string& actor);
  // The namespace binding `binding` in `actor`'s Env.
  platform::DurableObjectNamespace& Namespace(const std::string& actor, std::string_view binding);
  emulator::InvocationEnvFactory Factory();

 private:
  emulator::Simulator& sim_;
  platform::DurableObjectRegistry registry_;
  std::map<std::string, std::unique_ptr<emulator::DurableObjectService>, std::less<>> services_;
  std::map<std::string, std::shared_ptr<TestEnv>> envs_;
};

// A value that counts the copies made of it (moves are free).
struct CopyCount {
  CopyCount() = default;
  CopyCount(const CopyCount& other) : copies(other.copies + 1) {}
  CopyCount(CopyCount&&) = default;
  CopyCount& operator=(const CopyCount& other) {
    copies = other.copies + 1;
    return *this;
  }
  CopyCount& operator=(CopyCount&&) = default;
  int copies = 0;
};

// A counter whose value lives in storage ("count") and whose constructions are counted.
class Counter : public platform::DurableObject {
 public:
  static inline int constructions = 0;
  Counter(platform::DurableObjectState& state, platform::Env& env);
  Task<Result<std::int64_t>> Increment(std::int64_t by);
  Task<Result<std::int64_t>> Get();
  Task<Result<std::int64_t>> InMemoryCalls();
  // Appends `entry` to the in-memory log after sleeping `pause_ms` (an interleaving point).
  Task<Result<std::vector<std::string>>> Log(std::string entry, std::int64_t pause_ms);
  Task<Result<bool>> Throw();
  // How many copies of the argument were made on its way into the object.
  Task<Result<int>> Copies(CopyCount value);

 private:
  std::int64_t calls_ = 0;
  std::vector<std::string> log_;
};

// A strict-profile simulator (trace lines kept) where `fault` fires on every decision, at most
// `max_firings` times (nullopt: no cap).
std::unique_ptr<emulator::Simulator> SimulatorWithFault(emulator::Fault fault,
                                                        std::optional<std::int64_t> max_firings = 1,
                                                        std::uint64_t seed = 1);

}  // namespace cfemu::testing
