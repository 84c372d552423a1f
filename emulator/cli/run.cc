#include "emulator/cli/run.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {

int RunScenarioCommand(const RunCommandOptions& options) {
  auto scenario = LoadScenario(options.scenario);
  if (!scenario.ok()) {
    std::fprintf(stderr, "cfemu run: %s\n", scenario.status().message().c_str());
    return 2;
  }
  ScenarioRunOptions run;
  run.seed = options.seed;
  if (!options.faults.empty()) {
    std::ifstream in(options.faults);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, false);
    if (!in || json.is_discarded()) {
      std::fprintf(stderr, "cfemu run: cannot read the fault plan '%s' (JSON expected)\n",
                   options.faults.c_str());
      return 2;
    }
    auto plan = ParseFaultPlanFile(json, options.faults);
    if (!plan.ok()) {
      std::fprintf(stderr, "cfemu run: %s\n", plan.status().message().c_str());
      return 2;
    }
    run.faults = std::move(*plan);
    run.faults_file = options.faults;
  }
  std::ofstream trace;
  if (!options.trace.empty()) {
    trace.open(options.trace, std::ios::out | std::ios::trunc);
    if (!trace) {
      std::fprintf(stderr, "cfemu run: cannot write the trace to '%s'\n", options.trace.c_str());
      return 2;
    }
    run.trace = &trace;
  }
  const nlohmann::json report = RunScenario(*scenario, run);
  if (options.json) {
    std::cout << report.dump() << "\n";
  } else {
    PrintScenarioReport(report, std::cout);
  }
  return report["ok"].get<bool>() ? 0 : 1;
}

}  // namespace cfemu::emulator
