// cfemu: the command line. Picks the runtime and the profile; everything else lives in the
// libraries.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "emulator/cli/demo.h"
#include "emulator/cli/explore.h"
#include "emulator/cli/migrate.h"
#include "emulator/cli/run.h"
#include "emulator/cli/serve.h"
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
  std::string profile;
  CLI::App* demo_cmd = app.add_subcommand(
      "demo",
      "Run the demo scenario (scenarios/demo.json, compiled in: a rate-limited burst, retries, "
      "a stalled worker, a flow, a job scheduler, pause/resume) and print its report");
  demo_cmd->add_option("--seed", demo.seed, "Seed of the run")->capture_default_str();
  demo_cmd
      ->add_option("--profile", profile,
                   "Fault profile: strict, fidelity or robustness (default: the scenario's, "
                   "fidelity)")
      ->check(CLI::IsMember({"strict", "fidelity", "robustness"}));
  demo_cmd->add_flag("--json", demo.json, "Print one JSON object on stdout");
  demo_cmd->add_option("--trace", demo.trace_file, "Write the trace (JSONL) to this file");
  demo_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  cfemu::emulator::RunCommandOptions run;
  CLI::App* run_cmd = app.add_subcommand(
      "run",
      "Run a scenario (scenarios/*.json) at one seed on virtual time: faults, invariants, "
      "expectations, report; exit 0 held, 1 violated (prints the replay command), 2 bad input");
  run_cmd->add_option("scenario", run.scenario, "Scenario file (JSON)")->required();
  run_cmd->add_option("--seed", run.seed, "Seed of the run")->capture_default_str();
  run_cmd->add_option("--faults", run.faults,
                      "Fault plan file (JSON) replacing the scenario's own plan");
  run_cmd->add_option("--trace", run.trace, "Write the trace (JSONL) to this file");
  run_cmd->add_flag("--json", run.json, "Print one JSON object on stdout");
  run_cmd
      ->add_option("--break", run.broken_rule,
                   "Run with a deliberately broken engine rule, to see the checkers catch it: "
                   "no-fencing (a finish ignores its lease token)")
      ->check(CLI::IsMember({"none", "no-fencing"}));
  run_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  cfemu::emulator::ExploreOptions explore;
  CLI::App* explore_cmd = app.add_subcommand(
      "explore",
      "Run many seeds of a scenario on J threads, each seed twice (determinism), with a progress "
      "bar; print failing seeds with their replay commands and the fault sites that fired");
  explore_cmd->add_option("scenario", explore.scenario, "Scenario file (JSON)")->required();
  explore_cmd->add_option("--seeds", explore.seeds, "How many seeds")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->capture_default_str();
  explore_cmd->add_option("--from", explore.from, "First seed")->capture_default_str();
  explore_cmd->add_option("--jobs", explore.jobs, "Threads (one environment each)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  explore_cmd->add_flag("--json", explore.json, "Print one JSON object on stdout");
  explore_cmd->add_flag("--shrink", explore.shrink,
                        "Shrink each failing seed (up to 3) to its smallest fault schedule that "
                        "still violates the same invariant, written as a --faults plan");
  explore_cmd
      ->add_option("--shrink-dir", explore.shrink_dir,
                   "Where --shrink writes SCENARIO-seedN.faults.json")
      ->capture_default_str();
  explore_cmd
      ->add_option("--break", explore.broken_rule,
                   "Run with a deliberately broken engine rule: no-fencing")
      ->check(CLI::IsMember({"none", "no-fencing"}));
  explore_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  cfemu::emulator::MigrateOptions migrate;
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate", "Apply the job engine's schema migrations to a persisted D1 database");
  migrate_cmd
      ->add_option("--persist", migrate.persist_dir,
                   "Persistence directory (the database is DIR/d1/<database_id>.sqlite)")
      ->required();
  migrate_cmd->add_option("--database", migrate.database,
                          "database_name or binding, or the name or id of a database created "
                          "over the REST API (default: the only configured D1 database)");
  migrate_cmd->add_option("--config", migrate.config,
                          "wrangler.jsonc (default: the compiled-in job queue wiring)");
  migrate_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  cfemu::emulator::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "Serve the Cloudflare v4 REST API (Queues, D1, KV, cron) and the job engine's admin API on "
      "localhost over a World built from a wrangler.jsonc, in real time, until SIGINT or "
      "SIGTERM");
  serve_cmd->add_option("--config", serve.config,
                        "wrangler.jsonc (default: the compiled-in job queue wiring)");
  serve_cmd->add_option("--host", serve.host, "Address to listen on (an IP address)")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve.port, "Port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve_cmd->add_option("--persist", serve.persist_dir,
                        "Keep queues, D1, KV and Durable Objects in this directory (default: in "
                        "memory)");
  serve_cmd->add_option("--token", serve.token,
                        "Require 'Authorization: Bearer TOKEN' on /client/v4/** and /admin/v1/** "
                        "(default: accept any or none)");
  serve_cmd->add_flag("--virtual-time", serve.virtual_time,
                      "Run on virtual time (from 2026-01-01T00:00:00Z) that moves only through "
                      "POST /admin/v1/time/advance and /admin/v1/time/run-until-idle");
  serve_cmd
      ->add_option("--processors", serve.processors,
                   "JSON file: how the engine's processor behaves per job name (the scenario "
                   "format's \"processors\"; default: every job completes at once)")
      ->check(CLI::ExistingFile);
  serve_cmd
      ->add_option("--trace-tail", serve.trace_tail,
                   "Trace lines kept for GET /admin/v1/trace (0: tracing off)")
      ->capture_default_str();
  serve_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  cfemu::core::SetLogLevel(*cfemu::core::ParseLogLevel(log_level));

  if (demo_cmd->parsed()) {
    if (!profile.empty()) demo.profile = *cfemu::emulator::ProfileFromName(profile);
    return cfemu::emulator::RunDemo(demo);
  }
  if (migrate_cmd->parsed()) return cfemu::emulator::RunMigrate(migrate);
  if (serve_cmd->parsed()) return cfemu::emulator::RunServe(serve);
  if (run_cmd->parsed()) return cfemu::emulator::RunScenarioCommand(run);
  if (explore_cmd->parsed()) return cfemu::emulator::RunExploreCommand(explore);
  return 2;
}
