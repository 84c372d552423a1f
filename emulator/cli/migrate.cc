#include "emulator/cli/migrate.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "emulator/catalog.h"
#include "emulator/config/wrangler_config.h"
#include "emulator/d1/d1_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/engine/coordinator/coordinator.h"
#include "src/engine/schema.h"

namespace cfemu::emulator {

namespace {

// The database to migrate: its name (for messages) and its id (its file's name).
struct ChosenDatabase {
  std::string name;
  std::string id;
};

// The D1 databases created over the REST API in `dir` (`cfemu serve --persist`), from its
// catalog; none when the directory has no catalog (nothing is created then).
core::Result<std::vector<CatalogD1Database>> RestDatabases(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / "catalog.sqlite";
  std::error_code error;
  if (!std::filesystem::exists(file, error)) return std::vector<CatalogD1Database>();
  auto catalog = Catalog::Open(file);
  if (!catalog.ok()) return catalog.status();
  auto contents = (*catalog)->Load();
  if (!contents.ok()) return contents.status();
  return std::move(contents->d1_databases);
}

// The database `name` names: a configured one (database_name first, then binding), then one
// created over REST (by name, then id). With no name, the only configured one.
core::Result<ChosenDatabase> ChooseDatabase(const platform::EnvSpec& spec,
                                            const std::vector<CatalogD1Database>& created,
                                            const std::string& name) {
  std::string known;
  for (const auto& d : spec.d1_databases) {
    known += (known.empty() ? "" : ", ") + d.database_name + " (binding " + d.binding + ")";
  }
  for (const auto& d : created) {
    known += (known.empty() ? "" : ", ") + d.name + " (created over the REST API)";
  }
  if (name.empty()) {
    if (spec.d1_databases.size() == 1) {
      return ChosenDatabase{spec.d1_databases.front().database_name,
                            D1DatabaseId(spec.d1_databases.front())};
    }
    if (spec.d1_databases.empty() && created.empty()) {
      return core::Status::InvalidArgument("the configuration declares no D1 database");
    }
    return core::Status::InvalidArgument("choose a D1 database with --database: " + known);
  }
  for (const auto& d : spec.d1_databases) {
    if (d.database_name == name) return ChosenDatabase{d.database_name, D1DatabaseId(d)};
  }
  for (const auto& d : spec.d1_databases) {
    if (d.binding == name) return ChosenDatabase{d.database_name, D1DatabaseId(d)};
  }
  for (const auto& d : created) {
    if (d.name == name || d.id == name) return ChosenDatabase{d.name, d.id};
  }
  return core::Status::InvalidArgument("no D1 database named '" + name + "'; known: " +
                                       (known.empty() ? std::string("none") : known));
}

}  // namespace

int RunMigrate(const MigrateOptions& options) {
  if (options.persist_dir.empty()) {
    std::fprintf(stderr, "cfemu migrate: --persist DIR is required\n");
    return 2;
  }
  platform::DurableObjectRegistry registry;  // The fixture binds the coordinator's class.
  engine::RegisterCoordinator(registry, engine::EngineBindings());
  auto config = options.config.empty()
                    ? LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc", &registry)
                    : LoadWranglerConfigFile(options.config, &registry);
  if (!config.ok()) {
    std::fprintf(stderr, "cfemu migrate: %s\n", config.status().message().c_str());
    return 2;
  }
  auto created = RestDatabases(options.persist_dir);
  if (!created.ok()) {
    std::fprintf(stderr, "cfemu migrate: %s\n", created.status().ToString().c_str());
    return 1;
  }
  auto chosen = ChooseDatabase(config->spec, *created, options.database);
  if (!chosen.ok()) {
    std::fprintf(stderr, "cfemu migrate: %s\n", chosen.status().message().c_str());
    return 2;
  }
  const std::filesystem::path dir = std::filesystem::path(options.persist_dir) / "d1";
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    std::fprintf(stderr, "cfemu migrate: cannot create %s: %s\n", dir.c_str(),
                 error.message().c_str());
    return 1;
  }
  SimulatorOptions sim_options;
  sim_options.trace = false;
  Simulator sim(1, sim_options);
  D1Options d1;
  d1.name = chosen->name;
  d1.id = chosen->id;
  d1.file = dir / (d1.id + ".sqlite");
  auto service = D1Service::Open(sim, d1);
  if (!service.ok()) {
    std::fprintf(stderr, "cfemu migrate: %s\n", service.status().ToString().c_str());
    return 1;
  }
  ActorScope scope(sim, "migrate", sim.ClockFor("migrate"), nullptr);
  auto db = (*service)->Bind(scope);
  // The version row records when it was applied: real time, read here in the CLI.
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  auto report = sim.Run(engine::Migrate(*db, core::Instant::FromUnixMs(wall_ms)));
  if (!report.ok()) {
    std::fprintf(stderr, "cfemu migrate: %s\n", report.status().ToString().c_str());
    return 1;
  }
  const std::string file = d1.file->string();
  if (report->applied.empty()) {
    std::printf("%s (%s): schema is up to date (version %d); nothing to apply\n", d1.name.c_str(),
                file.c_str(), report->version);
    return 0;
  }
  for (int version : report->applied) {
    const auto& migration = engine::Migrations().at(static_cast<std::size_t>(version - 1));
    std::printf("%s (%s): applied migration %d (%s)\n", d1.name.c_str(), file.c_str(), version,
                migration.description.c_str());
  }
  return 0;
}

}  // namespace cfemu::emulator
