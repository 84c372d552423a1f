// A World is one emulated Cloudflare account as a set of Workers sees it: the services built
// from an EnvSpec (queues, D1 databases, KV namespaces, Durable Object namespaces, cron
// triggers), on one Host (the simulator or the real-time runtime). It hands out per-actor Envs
// whose bindings carry the actor's clock view, cancel token, KV location and trace label. The
// CLI, the harness, `serve` and tests build Worlds; the simulator knows no services.
//
// With a persistence directory every service keeps its state there, in the layout of
// cpp-contract.md: d1/<database_id>.sqlite, kv/<namespace_id>.sqlite,
// do/<class_name>/<object_id>.sqlite, queues/<queue_id>.sqlite.
//
// A World must be destroyed before its Host.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/cron/cron_service.h"
#include "emulator/d1/d1_service.h"
#include "emulator/durable_objects/durable_object_service.h"
#include "emulator/kv/kv_service.h"
#include "emulator/queues/broker.h"
#include "emulator/sim/host.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

// The id a D1 binding's database has (and its file is named after, when persisted):
// wrangler's database_id, or a UUID derived from database_name.
std::string D1DatabaseId(const platform::D1BindingSpec& binding);

struct WorldOptions {
  QueueLimits queue_limits;
  // The classes Durable Object bindings name (by wrangler class_name). Required when the spec
  // binds any; must outlive the World.
  const platform::DurableObjectRegistry* registry = nullptr;
  std::optional<std::filesystem::path> persist_dir;
  // Actors are spread over this many KV locations (each with its own read cache).
  int kv_locations = 3;
  CronOptions cron;
};

class World {
 public:
  // REQUIRES: the spec is valid and every service opens (a CHECK otherwise); Create() returns
  // the error instead.
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
  // Services by binding name (nullptr when there is none).
  D1Service* d1(std::string_view binding);
  KvService* kv(std::string_view binding);
  DurableObjectService* durable_objects(std::string_view binding);
  CronService& cron() { return *cron_; }
  const std::map<std::string, std::unique_ptr<D1Service>, std::less<>>& d1_services() const {
    return d1_;
  }
  const std::map<std::string, std::unique_ptr<KvService>, std::less<>>& kv_services() const {
    return kv_;
  }

  // The KV location an actor reads from and writes to.
  platform::LocationId LocationOf(std::string_view actor) const;
  Host& host() const { return host_; }
  const platform::EnvSpec& spec() const { return spec_; }
  const WorldOptions& options() const { return options_; }

 private:
  World(Host& host, platform::EnvSpec spec, WorldOptions options, bool);
  core::Status Init();
  core::Status OpenStorage();
  core::Status OpenDurableObjects();
  std::optional<std::filesystem::path> PersistPath(const std::string& dir,
                                                   const std::string& file) const;

  Host& host_;
  platform::EnvSpec spec_;
  WorldOptions options_;
  std::unique_ptr<Broker> broker_;
  std::map<std::string, std::unique_ptr<D1Service>, std::less<>> d1_;  // By binding.
  std::map<std::string, std::unique_ptr<KvService>, std::less<>> kv_;  // By binding.
  // Namespaces by class (bindings of one class share it), and bindings to classes.
  std::map<std::string, std::unique_ptr<DurableObjectService>, std::less<>> durable_objects_;
  std::map<std::string, std::string, std::less<>> durable_object_bindings_;
  std::unique_ptr<CronService> cron_;
  std::map<std::string, std::shared_ptr<platform::Env>, std::less<>> envs_;
};

}  // namespace cfemu::emulator
