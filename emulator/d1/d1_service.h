// One emulated D1 database (cloudflare-platform.md §2): its SQLite store, its identity, the
// bindings actors use, and the REST-style query entry point. Each actor's Env gets its own
// binding (Bind), which carries that actor's scope: trace label, cancel token, latency, faults
// and the per-invocation query count.
//
// Invariants: the database is one SQLite connection used from the loop's thread only; every
// call through a binding or Query() is one transaction; the id is stable (wrangler's
// database_id, or a UUID derived from the name), so no user text reaches a file path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/d1/d1_limits.h"
#include "emulator/d1/d1_store.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/host.h"
#include "src/platform/d1.h"

namespace cfemu::emulator {

struct D1Options {
  std::string name;  // wrangler's database_name.
  std::string id;    // wrangler's database_id; empty: core::DeriveUuid("d1", name).
  std::optional<std::filesystem::path> file;  // SQLite in WAL mode when set, else in memory.
  D1Limits limits;                            // Paid plan by default.
  // Checklist 36: cap queries per invocation at limits.queries_per_invocation. Unset: off in
  // the strict profile, on otherwise.
  std::optional<bool> cap_queries_per_invocation;
};

// Counters for reports and tests.
struct D1Stats {
  std::int64_t calls = 0;       // Calls that reached the database (statements, batches, exec).
  std::int64_t failed = 0;      // Of those, calls that failed and changed nothing.
  std::int64_t committed = 0;   // Calls that committed a write.
  std::int64_t statements = 0;  // Statements run (a batch counts each).
  std::int64_t batches = 0;     // Of the calls, batch() calls.
};

class D1Service {
 public:
  // kInvalidArgument for an empty name or a malformed id; kUnavailable when the file cannot
  // be opened.
  static core::Result<std::unique_ptr<D1Service>> Open(Host& host, D1Options options);
  ~D1Service();
  D1Service(const D1Service&) = delete;
  D1Service& operator=(const D1Service&) = delete;

  // The binding of one actor (`env.DB`). REQUIRES: the service and `scope` outlive it.
  std::unique_ptr<platform::D1Database> Bind(const ActorScope& scope);

  const std::string& name() const { return options_.name; }
  const std::string& id() const { return options_.id; }
  const D1Options& options() const { return options_; }
  bool caps_queries() const { return caps_queries_; }

  // The REST API and `cfemu migrate` (platform §2.6): `sql` may hold several ';'-separated
  // statements, run in order as one transaction with one result each; `params` bind to the
  // last statement (earlier ones may have none, as workerd runs multi-statement SQL). No
  // latency and no faults: the REST path serves tools, not the simulated Workers.
  core::Task<core::Result<std::vector<platform::D1Result>>> Query(
      std::string sql, std::vector<platform::D1Param> params, platform::D1Rows rows);
  // The `{batch: [...]}` form: every statement's results, as one transaction.
  core::Task<core::Result<std::vector<platform::D1Result>>> QueryBatch(
      std::vector<platform::D1PreparedStatement> statements, platform::D1Rows rows);

  // For checkers (no latency, no faults): see D1Store.
  core::Result<std::string> SnapshotForTest() { return store_->Snapshot(); }
  core::Status IntegrityCheck() { return store_->IntegrityCheck(); }

  const D1Stats& stats() const { return stats_; }

  // Internal to the bindings.
  Host& host() const { return host_; }
  D1Store& store() { return *store_; }
  D1Stats& mutable_stats() { return stats_; }

 private:
  D1Service(Host& host, D1Options options, std::unique_ptr<D1Store> store);
  core::Result<std::vector<platform::D1Result>> RunRest(
      std::vector<platform::D1PreparedStatement> statements, platform::D1Rows rows,
      bool per_statement);

  Host& host_;
  D1Options options_;
  std::unique_ptr<D1Store> store_;
  bool caps_queries_;
  D1Stats stats_;
};

}  // namespace cfemu::emulator
