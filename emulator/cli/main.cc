// cfemu: the command line. Picks the runtime and the profile; everything else lives in the
// libraries. Subcommands arrive with their issues: run, explore, serve, migrate.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "emulator/cli/demo.h"
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
      "Run the built-in queue demo (producers, failing consumer, retries, DLQ, pull consumer) "
      "on virtual time and print its report");
  demo_cmd->add_option("--seed", demo.seed, "Seed of the run")->capture_default_str();
  demo_cmd->add_option("--profile", profile, "Fault profile: strict, fidelity or robustness")
      ->check(CLI::IsMember({"strict", "fidelity", "robustness"}))
      ->capture_default_str();
  demo_cmd->add_flag("--json", demo.json, "Print one JSON object on stdout");
  demo_cmd->add_option("--trace", demo.trace_file, "Write the trace (JSONL) to this file");
  demo_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
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
  return 2;
}
