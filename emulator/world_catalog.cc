// The World's account-level resources and its catalog: D1 databases and KV namespaces created,
// renamed and deleted over REST, the broker's reports of queue and consumer changes, and the
// start-up pass that applies the catalog over the configured services.
#include "emulator/world.h"

#include "src/core/ids.h"
#include "src/core/log.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

void WarnNotRestored(std::string_view what, const Status& status) {
  CFEMU_LOG_WARN("persist: {} was not restored: {}", what, status.ToString());
}

// Removes a resource's SQLite file and its WAL files (absent ones are fine).
void RemoveFiles(const std::optional<std::filesystem::path>& file) {
  if (!file) return;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::error_code ignored;
    std::filesystem::remove(file->string() + suffix, ignored);
  }
}

// Opens a resource created over REST, then records it. Files a deletion left behind (the
// process died before removing them) go first, so it starts empty; when the record fails, it
// is closed and its files go again.
template <class Open, class Record>
auto OpenRecorded(const std::optional<std::filesystem::path>& file, Open open, Record record)
    -> decltype(open()) {
  RemoveFiles(file);
  auto service = open();
  if (!service.ok()) return service;
  const Status recorded = record();
  if (!recorded.ok()) {
    service->reset();
    RemoveFiles(file);
    return recorded;
  }
  return service;
}

// Deletes a resource created over REST (`noun` names its kind in errors): from the catalog
// first, then from memory (nothing is using it: the REST paths never suspend inside a service)
// and from disk. A configured one stays: Workers hold bindings to it.
template <class Entries, class NameOf, class Unrecord>
Status DeleteRecorded(Entries& entries, std::string_view id, std::string_view noun, NameOf name_of,
                      const std::optional<std::filesystem::path>& file, Unrecord unrecord) {
  const auto it = entries.find(id);
  if (it == entries.end()) {
    return Status::NotFound("The " + std::string(noun) + " " + std::string(id) +
                            " could not be found");
  }
  if (!it->second.owned) {
    return Status::FailedPrecondition(std::string(noun) + " '" + name_of(it->second) +
                                      "' is bound in wrangler.jsonc; cfemu does not delete it");
  }
  CFEMU_RETURN_IF_ERROR(unrecord());
  entries.erase(it);
  RemoveFiles(file);
  return Status::Ok();
}

}  // namespace

// ---- Start-up -------------------------------------------------------------------------------

// Queues first (created or updated, paused or not), then their consumer slots, and deletions
// last, so that a dead letter queue a consumer re-creates is deleted again as it was.
void World::RestoreQueues(const CatalogContents& catalog) {
  for (const CatalogQueue& row : catalog.queues) {
    if (!row.live) continue;
    const std::string& name = row.spec.name;
    Status done = broker_->Find(name) != nullptr ? broker_->UpdateQueue(row.spec)
                                                 : broker_->CreateQueue(row.spec).status();
    if (done.ok()) done = row.paused ? broker_->Pause(name) : broker_->Resume(name);
    if (!done.ok()) WarnNotRestored("queue '" + name + "'", done);
  }
  for (const auto& [queue, rows] : catalog.consumers) RestoreConsumers(queue, rows);
  for (const CatalogQueue& row : catalog.queues) {
    if (row.live || broker_->Find(row.spec.name) == nullptr) continue;
    const Status deleted = broker_->DeleteQueue(row.spec.name);
    if (!deleted.ok()) WarnNotRestored("the deletion of queue '" + row.spec.name + "'", deleted);
  }
}

// Slots in index order: an existing one is updated or removed, a new one added (and removed
// again if it was), so every consumer gets back its index and with it its id.
void World::RestoreConsumers(const std::string& name, const std::vector<CatalogConsumer>& rows) {
  for (const CatalogConsumer& row : rows) {
    QueueBroker* queue = broker_->Find(name);
    if (queue == nullptr) return;
    const std::string what = "consumer " + std::to_string(row.index) + " of queue '" + name + "'";
    Status done;
    if (row.index < queue->consumer_count()) {
      if (queue->consumer_removed(row.index)) continue;
      done = row.removed ? broker_->RemoveConsumer(name, row.index)
                         : broker_->UpdateConsumer(row.index, row.spec);
    } else if (row.spec.type == platform::ConsumerType::kWorker) {
      done = Status::FailedPrecondition("a worker consumer comes from the configuration only");
    } else {
      if (row.index > queue->consumer_count()) {
        CFEMU_LOG_WARN("persist: {} is restored as consumer {}: the configuration changed", what,
                       queue->consumer_count());
      }
      auto added = broker_->AddConsumer(row.spec);
      done = added.ok() && row.removed ? broker_->RemoveConsumer(name, *added) : added.status();
    }
    if (!done.ok()) WarnNotRestored(what, done);
  }
}

void World::RestoreStorage(const CatalogContents& catalog) {
  for (const CatalogD1Database& row : catalog.d1_databases) {
    if (d1_databases_.count(row.id) > 0) continue;  // Configured since.
    auto service = OpenD1(row.name, row.id);
    if (!service.ok()) {
      WarnNotRestored("D1 database '" + row.name + "'", service.status());
      continue;
    }
    D1Service& opened = **service;
    d1_databases_[row.id] = {&opened, std::move(*service), row.created_at};
  }
  for (const CatalogKvNamespace& row : catalog.kv_namespaces) {
    if (KvNamespaceEntry* existing = FindKvNamespace(row.id)) {
      existing->title = row.title;
      continue;
    }
    if (row.configured) continue;  // No longer configured: nothing to rename.
    auto service = OpenKv(row.title, row.id);
    if (!service.ok()) {
      WarnNotRestored("KV namespace '" + row.title + "'", service.status());
      continue;
    }
    KvService& opened = **service;
    kv_namespaces_[row.id] = {&opened, std::move(*service), row.title};
  }
}

// ---- Cron triggers --------------------------------------------------------------------------

Status World::SetSchedules(const std::string& script_name, std::vector<std::string> crons) {
  std::vector<std::string> before;
  for (const CronSchedule& s : cron_->Schedules(script_name)) before.push_back(s.cron);
  CFEMU_RETURN_IF_ERROR(cron_->SetSchedules(script_name, std::move(crons), spec_.scheduled));
  if (!catalog_) return Status::Ok();
  CatalogSchedules row{script_name, {}};
  for (const CronSchedule& s : cron_->Schedules(script_name)) {
    row.crons.push_back({s.cron, s.created_on});
  }
  const Status recorded = catalog_->PutSchedules(row);
  if (!recorded.ok()) {
    // Back to the crons it had (those kept keep their ticks; re-added ones start again).
    (void)cron_->SetSchedules(script_name, std::move(before), spec_.scheduled);
  }
  return recorded;
}

// ---- The broker's reports -------------------------------------------------------------------

bool World::Configured(std::string_view queue) const {
  for (const auto& spec : spec_.queues) {
    if (spec.name == queue) return true;
  }
  for (const auto& producer : spec_.producers) {
    if (producer.queue == queue) return true;
  }
  for (const auto& consumer : spec_.consumers) {
    if (consumer.queue == queue || consumer.dead_letter_queue == queue) return true;
  }
  return false;
}

Status World::OnQueueChanged(const QueueBroker& queue) {
  return catalog_->PutQueue(queue.spec(), queue.paused());
}

Status World::OnQueueDeleted(std::string_view name) {
  return catalog_->DeleteQueue(name, /*keep_tombstone=*/Configured(name));
}

Status World::OnConsumerChanged(const QueueBroker& queue, int index) {
  CatalogConsumer row;
  row.index = index;
  row.removed = queue.consumer_removed(index);
  row.spec = queue.consumer(index);
  row.spec.handler = nullptr;
  return catalog_->PutConsumer(queue.name(), row);
}

// ---- D1 databases and KV namespaces ---------------------------------------------------------

D1DatabaseEntry* World::FindD1Database(std::string_view id) {
  const auto it = d1_databases_.find(id);
  return it == d1_databases_.end() ? nullptr : &it->second;
}

Result<D1DatabaseEntry*> World::CreateD1Database(const std::string& name) {
  for (const auto& [id, database] : d1_databases_) {
    if (database.service->name() == name) {
      return Status::AlreadyExists("A database with that name already exists");
    }
  }
  const std::string id = core::DeriveUuid("d1", name);
  if (d1_databases_.count(id) > 0) {
    return Status::AlreadyExists("A database with that id already exists");
  }
  const core::Instant created_at = host_.clock().Now();
  auto service = OpenRecorded(
      PersistPath("d1", id + ".sqlite"), [&] { return OpenD1(name, id); },
      [&] {
        return catalog_ ? catalog_->PutD1Database({id, name, created_at}) : Status::Ok();
      });
  if (!service.ok()) return service.status();
  D1Service& opened = **service;
  return &(d1_databases_[id] = {&opened, std::move(*service), created_at});
}

Status World::DeleteD1Database(std::string_view id) {
  return DeleteRecorded(
      d1_databases_, id, "database",
      [](const D1DatabaseEntry& database) { return database.service->name(); },
      PersistPath("d1", std::string(id) + ".sqlite"),
      [&] { return catalog_ ? catalog_->DeleteD1Database(id) : Status::Ok(); });
}

KvNamespaceEntry* World::FindKvNamespace(std::string_view id) {
  const auto it = kv_namespaces_.find(id);
  return it == kv_namespaces_.end() ? nullptr : &it->second;
}

Result<KvNamespaceEntry*> World::CreateKvNamespace(const std::string& title) {
  for (const auto& [id, ns] : kv_namespaces_) {
    if (ns.title == title) {
      return Status::AlreadyExists("a namespace with this account ID and title already exists");
    }
  }
  const std::string id = core::DeriveHexId("kv-rest", title);
  if (kv_namespaces_.count(id) > 0) {
    return Status::AlreadyExists("a namespace with this id already exists");
  }
  auto service = OpenRecorded(
      PersistPath("kv", id + ".sqlite"), [&] { return OpenKv(title, id); },
      [&] {
        return catalog_ ? catalog_->PutKvNamespace({id, title, false}) : Status::Ok();
      });
  if (!service.ok()) return service.status();
  KvService& opened = **service;
  return &(kv_namespaces_[id] = {&opened, std::move(*service), title});
}

Status World::RenameKvNamespace(std::string_view id, const std::string& title) {
  KvNamespaceEntry* ns = FindKvNamespace(id);
  if (ns == nullptr) return Status::NotFound("namespace not found: " + std::string(id));
  if (title == ns->title) return Status::Ok();
  for (const auto& [other_id, other] : kv_namespaces_) {
    if (other.title == title) {
      return Status::AlreadyExists("a namespace with this account ID and title already exists");
    }
  }
  if (catalog_) {
    CFEMU_RETURN_IF_ERROR(catalog_->PutKvNamespace({std::string(id), title, !ns->owned}));
  }
  ns->title = title;
  return Status::Ok();
}

Status World::DeleteKvNamespace(std::string_view id) {
  return DeleteRecorded(
      kv_namespaces_, id, "namespace", [](const KvNamespaceEntry& ns) { return ns.title; },
      PersistPath("kv", std::string(id) + ".sqlite"),
      [&] { return catalog_ ? catalog_->DeleteKvNamespace(id) : Status::Ok(); });
}

}  // namespace cfemu::emulator
