// cfemu: the command line. Picks the runtime and the profile; everything else lives in the
// libraries.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "emulator/cli/demo.h"
#include "emulator/cli/migrate.h"
#include "src/core/build_info.h"
#include "src/core/log.h"

namespace {

using cfemu::emulator::DemoOptions;
using cfemu::emulator::Profile;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cfemu: a deterministic local Cloudflare (Queues, D1, KV, Durable Objects, cron) for job "
      "queues, on a virtual clock."};
  app.set_version_flag("--version", std::string(cfemu::core::BuildId()));
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  DemoOptions demo;
  std::string profile = "fidelity";
  CLI::App* demo_cmd = app.add_subcommand(
      "demo",
      "Run the job engine demo (a rate-limited burst, retries, a stalled worker, a flow, a job "
      "scheduler, pause/resume) on virtual time and print its report");
  demo_cmd->add_option("--seed", demo.seed, "Seed of the run")->capture_default_str();
  demo_cmd->add_option("--profile", profile, "Fault profile: strict, fidelity or robustness")
      ->check(CLI::IsMember({"strict", "fidelity", "robustness"}))
      ->capture_default_str();
  demo_cmd->add_flag("--json", demo.json, "Print one JSON object on stdout");
  demo_cmd->add_option("--trace", demo.trace_file, "Write the trace (JSONL) to this file");
  demo_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  cfemu::emulator::MigrateOptions migrate;
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate", "Apply the job engine's schema migrations to a persisted D1 database");
  migrate_cmd->add_option("--persist", migrate.persist_dir,
                          "Persistence directory (the database is DIR/d1/<database_id>.sqlite)")
      ->required();
  migrate_cmd->add_option("--database", migrate.database,
                          "database_name or binding (default: the only D1 database)");
  migrate_cmd->add_option("--config", migrate.config,
                          "wrangler.jsonc (default: the compiled-in job queue wiring)");
  migrate_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  cfemu::core::SetLogLevel(*cfemu::core::ParseLogLevel(log_level));

  if (demo_cmd->parsed()) {
    demo.profile = *cfemu::emulator::ProfileFromName(profile);
    return cfemu::emulator::RunDemo(demo);
  }
  if (migrate_cmd->parsed()) return cfemu::emulator::RunMigrate(migrate);
  return 2;
}
