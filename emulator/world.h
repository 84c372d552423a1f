// A World is one emulated Cloudflare account as a set of Workers sees it: the services built
// from an EnvSpec (queues, D1 databases, KV namespaces, Durable Object namespaces, cron
// triggers), on one Host (the simulator or the real-time runtime). It hands out per-actor Envs
// whose bindings carry the actor's clock view, cancel token, KV location and trace label. The
// CLI, the harness, `serve` and tests build Worlds; the simulator knows no services.
//
// With a persistence directory every service keeps its state there, in the layout of
// cpp-contract.md: d1/<database_id>.sqlite, kv/<namespace_id>.sqlite,
// do/<class_name>/<object_id>.sqlite, queues/<queue_id>.sqlite. The World also keeps a catalog
// there (catalog.sqlite, see catalog.h) of what management calls changed: queues and consumers
// created, updated or deleted through the Broker, and D1 databases and KV namespaces created,
// renamed or deleted through the World. A new World on the same directory opens the configured
// services, then applies the catalog (creates, updates, deletes), so the account looks as it
// did. Without a persistence directory nothing is written.
//
// A World must be destroyed before its Host.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/catalog.h"
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

// A D1 database of the account, as the REST API lists it.
struct D1DatabaseEntry {
  D1Service* service = nullptr;
  std::unique_ptr<D1Service> owned;  // Created over REST; null for configured ones.
  core::Instant created_at;
};

// A KV namespace of the account, as the REST API lists it (its title may be renamed).
struct KvNamespaceEntry {
  KvService* service = nullptr;
  std::unique_ptr<KvService> owned;  // Created over REST; null for configured ones.
  std::string title;
};

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

class World : private BrokerObserver {
 public:
  // REQUIRES: the spec is valid and every service opens (a CHECK otherwise); Create() returns
  // the error instead.
  World(Host& host, platform::EnvSpec spec, WorldOptions options = {});
  static core::Result<std::unique_ptr<World>> Create(Host& host, platform::EnvSpec spec,
                                                     WorldOptions options = {});
  ~World() override;
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

  // ---- The account's D1 databases and KV namespaces (the REST API's view) -------------------
  // Every one by id: the configured ones and those created over REST. With a persistence
  // directory, each change below is in the catalog before the call returns; a catalog error
  // (kUnavailable) leaves nothing changed.
  const std::map<std::string, D1DatabaseEntry, std::less<>>& d1_databases() const {
    return d1_databases_;
  }
  D1DatabaseEntry* FindD1Database(std::string_view id);
  // REQUIRES: a valid database name. kAlreadyExists when a database has that name (or id).
  core::Result<D1DatabaseEntry*> CreateD1Database(const std::string& name);
  // kNotFound; kFailedPrecondition for a configured database (Workers hold bindings to it).
  // Its file goes with it, so a new database of that name starts empty.
  core::Status DeleteD1Database(std::string_view id);
  const std::map<std::string, KvNamespaceEntry, std::less<>>& kv_namespaces() const {
    return kv_namespaces_;
  }
  KvNamespaceEntry* FindKvNamespace(std::string_view id);
  // REQUIRES: a valid title. kAlreadyExists when a namespace has that title (or id).
  core::Result<KvNamespaceEntry*> CreateKvNamespace(const std::string& title);
  // kNotFound; kAlreadyExists when another namespace has that title.
  core::Status RenameKvNamespace(std::string_view id, const std::string& title);
  // kNotFound; kFailedPrecondition for a configured namespace. Its file goes with it.
  core::Status DeleteKvNamespace(std::string_view id);

  // Replaces the Worker's cron triggers, as PUT .../workers/scripts/{name}/schedules does (see
  // CronService::SetSchedules for the rules and errors). With a persistence directory the crons
  // are in the catalog before this returns and replace the configuration's after a restart; a
  // catalog error (kUnavailable) leaves the previous crons in place.
  core::Status SetSchedules(const std::string& script_name, std::vector<std::string> crons);

  // The KV location an actor reads from and writes to.
  platform::LocationId LocationOf(std::string_view actor) const;
  Host& host() const { return host_; }
  const platform::EnvSpec& spec() const { return spec_; }
  const WorldOptions& options() const { return options_; }

 private:
  World(Host& host, platform::EnvSpec spec, WorldOptions options, bool);
  core::Status Init();
  core::Status OpenQueues(const CatalogContents& catalog);
  core::Status OpenStorage();
  core::Status OpenDurableObjects();
  core::Status OpenCron(const CatalogContents& catalog);
  std::optional<std::filesystem::path> PersistPath(const std::string& dir,
                                                   const std::string& file) const;
  // Applies the catalog over the configured services (world_catalog.cc).
  void RestoreQueues(const CatalogContents& catalog);
  void RestoreConsumers(const std::string& queue, const std::vector<CatalogConsumer>& rows);
  void RestoreStorage(const CatalogContents& catalog);
  core::Result<std::unique_ptr<D1Service>> OpenD1(std::string name, std::string id);
  core::Result<std::unique_ptr<KvService>> OpenKv(std::string title, std::string id);
  bool Configured(std::string_view queue) const;  // The configuration names this queue.
  core::Status OnQueueChanged(const QueueBroker& queue) override;
  core::Status OnQueueDeleted(std::string_view name) override;
  core::Status OnConsumerChanged(const QueueBroker& queue, int index) override;

  Host& host_;
  platform::EnvSpec spec_;
  WorldOptions options_;
  std::unique_ptr<Catalog> catalog_;  // With a persistence directory only.
  std::unique_ptr<Broker> broker_;
  std::map<std::string, std::unique_ptr<D1Service>, std::less<>> d1_;   // By binding.
  std::map<std::string, std::unique_ptr<KvService>, std::less<>> kv_;   // By binding.
  std::map<std::string, D1DatabaseEntry, std::less<>> d1_databases_;    // By id.
  std::map<std::string, KvNamespaceEntry, std::less<>> kv_namespaces_;  // By id.
  // Namespaces by class (bindings of one class share it), and bindings to classes.
  std::map<std::string, std::unique_ptr<DurableObjectService>, std::less<>> durable_objects_;
  std::map<std::string, std::string, std::less<>> durable_object_bindings_;
  std::unique_ptr<CronService> cron_;
  std::map<std::string, std::shared_ptr<platform::Env>, std::less<>> envs_;
};

}  // namespace cfemu::emulator
