// `cfemu run SCENARIO.json [--seed N] [--faults PLAN.json] [--trace FILE.jsonl] [--json]
// [--break RULE]`: runs
// one scenario at one seed on virtual time and prints its report (DESIGN.md, "The command
// line"). Exit codes: 0 every required invariant and expectation held, 1 one did not (the
// report prints the replay command), 2 bad input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "emulator/harness/scenario.h"

namespace cfemu::emulator {

struct RunCommandOptions {
  std::string scenario;
  std::uint64_t seed = 1;
  std::string faults;  // A fault plan file; empty: the scenario's own plan.
  std::string trace;   // JSONL trace file; empty: none.
  bool json = false;
  std::string broken_rule = "none";  // `--break`: see BrokenRuleFromName.
};

int RunScenarioCommand(const RunCommandOptions& options);

// Runs an already parsed scenario with `options` (its `scenario` field is not read) and prints
// the report; `command` names the command in messages ("cfemu run"), `replay` replaces the
// report's replay command when set. Returns the exit code.
int RunParsedScenario(const Scenario& scenario, const RunCommandOptions& options,
                      const std::string& command, std::optional<std::string> replay);

}  // namespace cfemu::emulator
