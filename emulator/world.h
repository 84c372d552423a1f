// A World is one emulated Cloudflare account as a set of Workers sees it: the services built
// from an EnvSpec, on one Host (the simulator or the real-time runtime). It hands out per-actor
// Envs whose bindings carry the actor's clock view, cancel token and trace label. The CLI, the
// harness, `serve` and tests build Worlds; the simulator knows no services.
//
// A World must be destroyed before its Host.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "emulator/queues/broker.h"
#include "emulator/sim/host.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

struct WorldOptions {
  QueueLimits queue_limits;
};

class World {
 public:
  // REQUIRES: ValidateEnvSpec(spec) is OK (a CHECK otherwise); Create() returns the error.
  World(Host& host, platform::EnvSpec spec, WorldOptions options = {});
  static core::Result<std::unique_ptr<World>> Create(Host& host, platform::EnvSpec spec,
                                                     WorldOptions options = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // The Env of a named actor outside any invocation (a test, a producer). Same actor, same Env.
  platform::Env& EnvFor(std::string_view actor);
  // A fresh Env for an invocation: `clock_actor` names the clock view (the Worker script). It
  // lives while the invocation, or any task spawned through its runtime, still runs.
  std::shared_ptr<platform::Env> NewEnv(std::string actor, std::string clock_actor,
                                        std::shared_ptr<Invocation> invocation);

  Broker& queues() { return *broker_; }
  const Broker& queues() const { return *broker_; }
  Host& host() const { return host_; }
  const platform::EnvSpec& spec() const { return spec_; }

 private:
  Host& host_;
  platform::EnvSpec spec_;
  std::unique_ptr<Broker> broker_;
  std::map<std::string, std::shared_ptr<platform::Env>, std::less<>> envs_;
};

}  // namespace cfemu::emulator
