#include "emulator/cli/demo.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "emulator/harness/demo_scenario.h"
#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {

int RunDemo(const DemoOptions& options) {
  const nlohmann::json json = nlohmann::json::parse(DemoScenarioJson(), nullptr, false);
  auto scenario = ParseScenario(json, "scenarios/demo.json");
  if (!scenario.ok()) {  // Only a broken build gets here.
    std::fprintf(stderr, "cfemu demo: %s\n", scenario.status().message().c_str());
    return 1;
  }
  if (options.profile) scenario->profile = *options.profile;
  ScenarioRunOptions run;
  run.seed = options.seed;
  std::ofstream trace;
  if (!options.trace_file.empty()) {
    trace.open(options.trace_file, std::ios::out | std::ios::trunc);
    if (!trace) {
      std::fprintf(stderr, "cfemu demo: cannot write the trace to '%s'\n",
                   options.trace_file.c_str());
      return 2;
    }
    run.trace = &trace;
  }
  nlohmann::json report = RunScenario(*scenario, run);
  report["replay"] = "cfemu demo --seed " + std::to_string(options.seed) + " --profile " +
                     std::string(ProfileName(scenario->profile));
  if (options.json) {
    std::cout << report.dump() << "\n";
  } else {
    PrintScenarioReport(report, std::cout);
  }
  return report["ok"].get<bool>() ? 0 : 1;
}

}  // namespace cfemu::emulator
