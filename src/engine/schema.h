// The engine's D1 schema (engine-spec.md §6) and its migrator. Migrations are versioned and
// sequential: each missing version runs as one D1 batch (never exec(), which splits on newlines
// and would break trigger bodies) whose first statements claim the version row, so two
// migrators racing on a fresh database cannot both apply it — the loser's batch fails on the
// version's primary key and rolls back entirely, and a second run of a finished migration is a
// read and nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"
#include "src/platform/d1.h"

namespace cfemu::engine {

struct Migration {
  int version = 0;
  std::string description;
  std::vector<std::string> statements;  // Tables, then indexes, then triggers.
};

// Every migration, in version order.
const std::vector<Migration>& Migrations();
int LatestSchemaVersion();

struct MigrationReport {
  std::vector<int> applied;  // Versions this call applied; empty when up to date.
  int version = 0;           // The schema version after the call.
};

// Applies the missing migrations to `db`, each as one batch; `now` is recorded per version.
// A migration another migrator applied concurrently counts as present, not as an error.
core::Task<core::Result<MigrationReport>> Migrate(platform::D1Database& db, core::Instant now);

// The schema version of `db`: 0 when the engine's tables do not exist.
core::Task<core::Result<int>> SchemaVersion(platform::D1Database& db);

}  // namespace cfemu::engine
