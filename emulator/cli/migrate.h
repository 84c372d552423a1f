// `cfemu migrate --persist DIR [--database NAME] [--config wrangler.jsonc]`: applies the job
// engine's schema migrations (engine-spec.md §6) to a persisted D1 database, the one `serve`
// and `run --persist` use: DIR/d1/<database_id>.sqlite, including a database created over the
// REST API (found in DIR's catalog). A second run is a no-op.
#pragma once

#include <string>

namespace cfemu::emulator {

struct MigrateOptions {
  std::string persist_dir;
  // database_name or binding, or the name or id of a database created over REST; empty: the
  // only configured D1 database.
  std::string database;
  std::string config;  // wrangler.jsonc; empty: the compiled-in fixture.
};

// Returns the process exit code: 0 migrated or up to date, 1 the migration failed, 2 bad input.
int RunMigrate(const MigrateOptions& options);

}  // namespace cfemu::emulator
