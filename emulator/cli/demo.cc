#include "emulator/cli/demo.h"

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "emulator/cli/run.h"
#include "emulator/harness/demo_scenario.h"
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
  RunCommandOptions run;
  run.seed = options.seed;
  run.trace = options.trace_file;
  run.json = options.json;
  return RunParsedScenario(*scenario, run, "cfemu demo",
                           "cfemu demo --seed " + std::to_string(options.seed) + " --profile " +
                               std::string(ProfileName(scenario->profile)));
}

}  // namespace cfemu::emulator
