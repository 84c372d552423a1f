#include "emulator/world.h"

#include "emulator/env_spec_check.h"
#include "emulator/queues/producer.h"
#include "emulator/sim/actor_runtime.h"
#include "src/core/ids.h"
#include "src/core/log.h"

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
        runtime_(scope_),
        location_(world.LocationOf(scope_.actor())) {}

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
    return NotBound("queue producer", binding);
  }
  Result<platform::D1Database*> D1(std::string_view binding) override {
    if (const auto it = d1_.find(binding); it != d1_.end()) return it->second.get();
    D1Service* service = world_.d1(binding);
    if (service == nullptr) return NotBound("D1 database", binding);
    return d1_.emplace(std::string(binding), service->Bind(scope_)).first->second.get();
  }
  Result<platform::KvNamespace*> Kv(std::string_view binding) override {
    if (const auto it = kv_.find(binding); it != kv_.end()) return it->second.get();
    KvService* service = world_.kv(binding);
    if (service == nullptr) return NotBound("KV namespace", binding);
    return kv_.emplace(std::string(binding), service->Bind(scope_, location_)).first->second.get();
  }
  Result<platform::DurableObjectNamespace*> DurableObjects(std::string_view binding) override {
    if (const auto it = namespaces_.find(binding); it != namespaces_.end()) {
      return it->second.get();
    }
    DurableObjectService* service = world_.durable_objects(binding);
    if (service == nullptr) return NotBound("Durable Object namespace", binding);
    return namespaces_.emplace(std::string(binding), service->Bind(scope_)).first->second.get();
  }
  const core::Clock& clock() const override { return scope_.clock(); }
  core::Runtime& runtime() override { return runtime_; }
  std::string_view actor() const override { return scope_.actor(); }
  std::string_view compatibility_date() const override { return world_.spec().compatibility_date; }
  core::CancelToken cancel_token() const override { return scope_.token(); }
  bool tracing() const override { return world_.host().trace().enabled(); }
  void Trace(const core::TraceEvent& event) override {
    world_.host().trace().Emit(scope_.actor(), event);
  }
  void runtime_owner(const std::shared_ptr<WorldEnv>& self) { runtime_.set_owner(self); }

 private:
  World& world_;
  ActorScope scope_;
  ActorRuntime runtime_;
  platform::LocationId location_;
  std::map<std::string, std::unique_ptr<ProducerBinding>, std::less<>> producers_;
  std::map<std::string, std::unique_ptr<platform::D1Database>, std::less<>> d1_;
  std::map<std::string, std::unique_ptr<platform::KvNamespace>, std::less<>> kv_;
  std::map<std::string, std::unique_ptr<platform::DurableObjectNamespace>, std::less<>> namespaces_;
};

}  // namespace

std::string D1DatabaseId(const platform::D1BindingSpec& binding) {
  return binding.database_id.empty() ? core::DeriveUuid("d1", binding.database_name)
                                     : binding.database_id;
}

World::World(Host& host, platform::EnvSpec spec, WorldOptions options, bool)
    : host_(host), spec_(std::move(spec)), options_(std::move(options)) {}

World::World(Host& host, platform::EnvSpec spec, WorldOptions options)
    : World(host, std::move(spec), std::move(options), true) {
  const Status ready = Init();
  CHECK_MSG(ready.ok(), ready.ToString());
}

Result<std::unique_ptr<World>> World::Create(Host& host, platform::EnvSpec spec,
                                             WorldOptions options) {
  std::unique_ptr<World> world(new World(host, std::move(spec), std::move(options), true));
  CFEMU_RETURN_IF_ERROR(world->Init());
  return world;
}

World::~World() = default;

std::optional<std::filesystem::path> World::PersistPath(const std::string& dir,
                                                        const std::string& file) const {
  if (!options_.persist_dir) return std::nullopt;
  return *options_.persist_dir / dir / file;
}

Status World::Init() {
  CFEMU_RETURN_IF_ERROR(ValidateEnvSpec(spec_));
  CatalogContents catalog;
  if (options_.persist_dir) {
    for (const char* dir : {"d1", "kv", "do", "queues"}) {
      std::error_code error;
      std::filesystem::create_directories(*options_.persist_dir / dir, error);
      if (error) {
        return Status::Unavailable("cannot create " + (*options_.persist_dir / dir).string() +
                                   ": " + error.message());
      }
    }
    auto opened = Catalog::Open(*options_.persist_dir / "catalog.sqlite");
    if (!opened.ok()) return opened.status();
    catalog_ = std::move(*opened);
    auto loaded = catalog_->Load();
    if (!loaded.ok()) return loaded.status();
    catalog = std::move(*loaded);
  }
  CFEMU_RETURN_IF_ERROR(OpenQueues(catalog));
  CFEMU_RETURN_IF_ERROR(OpenStorage());
  RestoreStorage(catalog);
  CFEMU_RETURN_IF_ERROR(OpenDurableObjects());
  return OpenCron(catalog);
}

// The configured triggers, or the crons a PUT .../schedules set since (the catalog's), with the
// creation times they had.
Status World::OpenCron(const CatalogContents& catalog) {
  cron_ = std::make_unique<CronService>(
      host_, options_.cron,
      [this](std::string actor, std::string clock_actor, std::shared_ptr<Invocation> invocation) {
        return NewEnv(std::move(actor), std::move(clock_actor), std::move(invocation));
      });
  std::vector<std::string> crons = spec_.crons;
  const CatalogSchedules* set = nullptr;
  for (const CatalogSchedules& row : catalog.schedules) {
    if (row.script == spec_.script_name) {
      set = &row;
    } else {
      CFEMU_LOG_WARN(
          "persist: the schedules of Worker '{}' were not restored: this World runs "
          "Worker '{}'",
          row.script, spec_.script_name);
    }
  }
  if (set != nullptr) {
    crons.clear();
    for (const CatalogCron& cron : set->crons) crons.push_back(cron.cron);
  }
  if (!crons.empty()) {
    CFEMU_RETURN_IF_ERROR(cron_->AddWorker({spec_.script_name, crons, spec_.scheduled}));
  }
  if (set != nullptr) {
    for (const CatalogCron& cron : set->crons) {
      cron_->RestoreCreatedOn(spec_.script_name, cron.cron, cron.created_on);
    }
  }
  return Status::Ok();
}

// The configured queues, producers and consumers, except those of queues the catalog says were
// deleted since; then the catalog's changes, after which the broker reports new ones.
Status World::OpenQueues(const CatalogContents& catalog) {
  BrokerOptions broker_options;
  broker_options.limits = options_.queue_limits;
  broker_options.compatibility_date = spec_.compatibility_date;
  broker_options.compatibility_flags = spec_.compatibility_flags;
  if (options_.persist_dir) broker_options.queues_dir = *options_.persist_dir / "queues";
  broker_ = std::make_unique<Broker>(
      host_, std::move(broker_options),
      [this](std::string actor, std::string clock_actor, std::shared_ptr<Invocation> invocation) {
        return NewEnv(std::move(actor), std::move(clock_actor), std::move(invocation));
      });
  for (const auto& queue : spec_.queues) {
    if (catalog.Replaced(queue.name)) continue;
    auto created = broker_->CreateQueue(queue);
    if (!created.ok()) return created.status();
  }
  for (const auto& producer : spec_.producers) {
    if (!catalog.Replaced(producer.queue)) broker_->EnsureQueue(producer.queue);
  }
  for (const auto& consumer : spec_.consumers) {
    if (catalog.Replaced(consumer.queue)) continue;
    auto added = broker_->AddConsumer(consumer);
    if (!added.ok()) return added.status();
  }
  RestoreQueues(catalog);
  if (catalog_) broker_->set_observer(this);
  return Status::Ok();
}

Status World::OpenStorage() {
  for (const auto& binding : spec_.d1_databases) {
    auto service = OpenD1(binding.database_name, D1DatabaseId(binding));
    if (!service.ok()) return service.status();
    D1Service& opened = **service;
    d1_.emplace(binding.binding, std::move(*service));
    if (d1_databases_.count(opened.id()) > 0) continue;  // Two bindings, one database.
    d1_databases_[opened.id()] = {&opened, nullptr, host_.clock().Now()};
  }
  for (const auto& binding : spec_.kv_namespaces) {
    const std::string id =
        binding.id.empty() ? core::DeriveHexId("kv", binding.binding) : binding.id;
    auto service = OpenKv(binding.binding, id);
    if (!service.ok()) return service.status();
    KvService& opened = **service;
    kv_.emplace(binding.binding, std::move(*service));
    if (kv_namespaces_.count(opened.id()) > 0) continue;  // Two bindings, one namespace.
    kv_namespaces_[opened.id()] = {&opened, nullptr, opened.title()};
  }
  return Status::Ok();
}

Result<std::unique_ptr<D1Service>> World::OpenD1(std::string name, std::string id) {
  D1Options options;
  options.name = std::move(name);
  options.id = std::move(id);
  options.file = PersistPath("d1", options.id + ".sqlite");
  return D1Service::Open(host_, std::move(options));
}

Result<std::unique_ptr<KvService>> World::OpenKv(std::string title, std::string id) {
  KvOptions options;
  options.title = std::move(title);
  options.id = std::move(id);
  options.file = PersistPath("kv", options.id + ".sqlite");
  return KvService::Open(host_, std::move(options));
}

Status World::OpenDurableObjects() {
  for (const auto& binding : spec_.durable_objects) {
    durable_object_bindings_[binding.name] = binding.class_name;
    if (durable_objects_.count(binding.class_name) > 0) continue;
    const platform::DurableObjectRegistry::Entry* entry =
        options_.registry == nullptr ? nullptr : options_.registry->Find(binding.class_name);
    if (entry == nullptr) {
      return Status::FailedPrecondition("Durable Object binding '" + binding.name + "': class '" +
                                        binding.class_name + "' is not registered");
    }
    DurableObjectOptions options;
    options.class_name = binding.class_name;
    options.entry = *entry;
    for (const auto& declared : spec_.durable_object_classes) {
      if (declared.class_name == binding.class_name) {
        options.entry.backend = declared.sqlite ? platform::DurableObjectBackend::kSqlite
                                                : platform::DurableObjectBackend::kKv;
      }
    }
    options.compatibility_date = spec_.compatibility_date;
    if (options_.persist_dir) options.directory = *options_.persist_dir / "do" / binding.class_name;
    auto service = DurableObjectService::Create(
        host_, std::move(options),
        [this](std::string actor, std::string clock_actor, std::shared_ptr<Invocation> invocation) {
          return NewEnv(std::move(actor), std::move(clock_actor), std::move(invocation));
        });
    if (!service.ok()) return service.status();
    durable_objects_.emplace(binding.class_name, std::move(*service));
  }
  return Status::Ok();
}

D1Service* World::d1(std::string_view binding) {
  const auto it = d1_.find(binding);
  return it == d1_.end() ? nullptr : it->second.get();
}

KvService* World::kv(std::string_view binding) {
  const auto it = kv_.find(binding);
  return it == kv_.end() ? nullptr : it->second.get();
}

DurableObjectService* World::durable_objects(std::string_view binding) {
  const auto it = durable_object_bindings_.find(binding);
  if (it == durable_object_bindings_.end()) return nullptr;
  const auto service = durable_objects_.find(it->second);
  return service == durable_objects_.end() ? nullptr : service->second.get();
}

platform::LocationId World::LocationOf(std::string_view actor) const {
  const int locations = std::max(1, options_.kv_locations);
  return "colo-" + std::to_string(core::Fnv1a64(actor) % static_cast<std::uint64_t>(locations));
}

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
