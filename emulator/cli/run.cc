#include "emulator/cli/run.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {

int RunParsedScenario(const Scenario& scenario, const RunCommandOptions& options,
                      const std::string& command, std::optional<std::string> replay) {
  ScenarioRunOptions run;
  run.seed = options.seed;
  const auto broken = BrokenRuleFromName(options.broken_rule);
  if (!broken) {
    std::fprintf(stderr, "%s: --break: unknown rule '%s' (expected none or no-fencing)\n",
                 command.c_str(), options.broken_rule.c_str());
    return 2;
  }
  run.broken_rule = *broken;
  if (!options.faults.empty()) {
    auto plan = LoadFaultPlanFile(options.faults);
    if (!plan.ok()) {
      std::fprintf(stderr, "%s: %s\n", command.c_str(), plan.status().message().c_str());
      return 2;
    }
    run.faults = std::move(*plan);
    run.faults_file = options.faults;
  }
  std::ofstream trace;
  if (!options.trace.empty()) {
    trace.open(options.trace, std::ios::out | std::ios::trunc);
    if (!trace) {
      std::fprintf(stderr, "%s: cannot write the trace to '%s'\n", command.c_str(),
                   options.trace.c_str());
      return 2;
    }
    run.trace = &trace;
  }
  // The wall time is measured here, outside the simulated run it reports on.
  const auto wall_start = std::chrono::steady_clock::now();
  nlohmann::json report = RunScenario(scenario, run);
  report["wall_duration_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - wall_start)
                                   .count();
  if (replay) report["replay"] = *replay;
  if (options.json) {
    std::cout << report.dump() << "\n";
  } else {
    PrintScenarioReport(report, std::cout);
  }
  return report["ok"].get<bool>() ? 0 : 1;
}

int RunScenarioCommand(const RunCommandOptions& options) {
  auto scenario = LoadScenario(options.scenario);
  if (!scenario.ok()) {
    std::fprintf(stderr, "cfemu run: %s\n", scenario.status().message().c_str());
    return 2;
  }
  return RunParsedScenario(*scenario, options, "cfemu run", std::nullopt);
}

}  // namespace cfemu::emulator
