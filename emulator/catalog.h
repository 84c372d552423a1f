// The catalog of a persistence directory: what management calls (the REST API's, through the
// World and the Broker) changed about the account's resources, so that a restarted World can
// apply it over the configured services. It lives in <persist_dir>/catalog.sqlite (WAL); each
// write is one transaction, committed before the call that made it returns.
//
// What it holds, and what each row means at start-up:
// - queues: every queue a call created or whose settings or pause state a call set, with those
//   settings. `live` false: a queue of the configuration that was deleted (the row of a deleted
//   queue the configuration does not name is removed). `replaced`: a queue of that name was
//   deleted at least once, so the configuration's queue and its consumers no longer apply.
// - consumers: each consumer slot (queue, index) a call added, updated or removed, with its
//   settings. Slots keep their index, so the consumer ids derived from it stay the same.
// - d1_databases, kv_namespaces: those created over REST (by id), and the titles of renamed
//   configured namespaces.
// - worker_schedules: a Worker's crons as the last PUT .../schedules set them (possibly none),
//   each with the time it was first set; they replace the configuration's triggers.
//
// Invariant: the catalog never names a file; ids are derived from names by the callers, so no
// user text reaches a path.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/status.h"
#include "src/core/time.h"
#include "src/platform/d1.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

namespace sqlite {
class Connection;
}  // namespace sqlite

struct CatalogQueue {
  platform::QueueSpec spec;
  bool paused = false;
  bool live = true;
  bool replaced = false;  // Set by DeleteQueue; kept by PutQueue.
};

struct CatalogConsumer {
  int index = 0;
  bool removed = false;
  platform::ConsumerSpec spec;  // Without its handler: a worker consumer keeps its own.
};

struct CatalogD1Database {
  std::string id;
  std::string name;
  core::Instant created_at;
};

struct CatalogKvNamespace {
  std::string id;
  std::string title;
  bool configured = false;  // A configured namespace's new title, not a namespace to open.
};

struct CatalogCron {
  std::string cron;
  core::Instant created_on;
};

struct CatalogSchedules {
  std::string script;
  std::vector<CatalogCron> crons;  // In order; empty: the Worker's triggers were all removed.
};

// Everything the catalog holds, in a deterministic order (names, then indexes, then ids).
struct CatalogContents {
  std::vector<CatalogQueue> queues;
  std::map<std::string, std::vector<CatalogConsumer>, std::less<>> consumers;  // By queue.
  std::vector<CatalogD1Database> d1_databases;
  std::vector<CatalogKvNamespace> kv_namespaces;
  std::vector<CatalogSchedules> schedules;  // By script.

  // True when the configuration's queue of this name no longer applies.
  bool Replaced(std::string_view queue) const;
};

class Catalog {
 public:
  // Creates the file and its tables when missing. kUnavailable when it cannot be opened.
  static core::Result<std::unique_ptr<Catalog>> Open(const std::filesystem::path& file);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // kUnavailable for a row that cannot be read back (a damaged file).
  core::Result<CatalogContents> Load();

  // Inserts or replaces the queue's settings and pause state; marks it live.
  core::Status PutQueue(const platform::QueueSpec& spec, bool paused);
  // Forgets the queue's consumer slots. `keep_tombstone` (a configured queue): the row stays,
  // not live and replaced; otherwise it is removed.
  core::Status DeleteQueue(std::string_view name, bool keep_tombstone);
  core::Status PutConsumer(std::string_view queue, const CatalogConsumer& consumer);

  core::Status PutD1Database(const CatalogD1Database& database);
  core::Status DeleteD1Database(std::string_view id);
  core::Status PutKvNamespace(const CatalogKvNamespace& ns);
  core::Status DeleteKvNamespace(std::string_view id);
  // Inserts or replaces the Worker's crons.
  core::Status PutSchedules(const CatalogSchedules& schedules);

 private:
  explicit Catalog(std::unique_ptr<sqlite::Connection> connection);
  core::Status Exec(std::string_view sql, std::vector<platform::D1Param> params);

  std::unique_ptr<sqlite::Connection> connection_;
};

}  // namespace cfemu::emulator
