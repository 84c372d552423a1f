// Shrinking a failing seed (`cfemu explore --shrink`): the run's fault firings, replayed as
// forced decisions, are cut down by delta debugging (Zeller's ddmin) to a 1-minimal set that
// still violates the same invariant (or fails the same check), and written as a `--faults` plan
// (faults-and-invariants.md §4).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"
#include "emulator/sim/fault_plan.h"

namespace cfemu::emulator {

struct ShrinkOptions {
  std::uint64_t seed = 1;
  engine::EngineConfig::BrokenRule broken_rule = engine::EngineConfig::BrokenRule::kNone;
  int max_runs = 400;  // Scenario runs the search may spend.
  // Called after each run with the runs so far and the size of the smallest failing set.
  std::function<void(int runs, std::size_t size)> progress;
};

struct ShrinkResult {
  // The failure being kept: the first failing required invariant's id ("INV-06") or check's
  // name; empty when the seed did not fail.
  std::string failure;
  // Whether forcing the original firings (and nothing else) reproduced that failure; when not,
  // the failure depends on more than the fault decisions and cannot be shrunk this way.
  bool reproduced = false;
  std::vector<ForcedDecision> original;  // Every firing of the failing run.
  std::vector<ForcedDecision> minimal;   // The smallest set found that still fails.
  int runs = 0;
  bool exhausted = false;  // max_runs was reached before the set was 1-minimal.
  nlohmann::json report;   // The report of the run with the minimal set.
};

// The failure a report shows: first failing required invariant id, else failing check name.
std::string FailureOf(const nlohmann::json& report);

ShrinkResult ShrinkFailure(const Scenario& scenario, const ShrinkOptions& options);

// The `--faults` plan file that fires exactly `decisions` (forced_only).
nlohmann::json ForcedPlanJson(const Scenario& scenario,
                              const std::vector<ForcedDecision>& decisions);

}  // namespace cfemu::emulator
