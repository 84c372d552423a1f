// Runs one scenario at one seed on virtual time: builds the World from the scenario's
// wrangler.jsonc, wires the engine's consumer (with the scenario's processor behaviours), DLQ
// consumer and cron tick, plays the workload, lets the faults act for `duration_s`, heals them
// for the liveness phase, then checks the engine's invariants (online and at the end) and the
// scenario's expectations. The report is one JSON object (DESIGN.md's run report).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/harness/scenario.h"
#include "emulator/sim/fault_plan.h"
#include "src/engine/engine_context.h"

namespace cfemu::emulator {

struct ScenarioRunOptions {
  std::uint64_t seed = 1;
  // Replaces the scenario's fault plan (`--faults PLAN.json`); faults still heal at duration_s.
  std::optional<FaultPlan> faults;
  std::string faults_file;        // For the replay command.
  std::ostream* trace = nullptr;  // The trace as JSONL, when set.
  // A deliberately broken engine rule (`--break`), to show that the checkers catch it.
  engine::EngineConfig::BrokenRule broken_rule = engine::EngineConfig::BrokenRule::kNone;
  // When set, receives every fault decision that fired, in order (what `--shrink` minimizes).
  std::vector<ForcedDecision>* fired = nullptr;
};

// "no-fencing" <-> BrokenRule::kNoFencing; nullopt for an unknown name.
std::optional<engine::EngineConfig::BrokenRule> BrokenRuleFromName(std::string_view name);
std::string BrokenRuleName(engine::EngineConfig::BrokenRule rule);

// The run report: scenario, purpose, seed, profile, build, trace_format, trace_hash,
// trace_events, virtual_duration_ms, jobs (counts by state), by_name, messages, faults_fired,
// fault_sites, effects, invariants [{id, name, ok, detail, required}], checks [{name, ok,
// detail}], ok, replay, and broken_rule when one was set. Never throws; a failure to build the
// world is a failed check. (`cfemu run` adds wall_duration_ms, measured outside the run.)
nlohmann::json RunScenario(const Scenario& scenario, const ScenarioRunOptions& options);

// The report's first failing required invariant, else its first failing check; null if none.
const nlohmann::json* FirstFailedCheck(const nlohmann::json& report);

// The fault plan a scenario runs with at `seed` (profile or swarm, the scenario's rules, every
// rule limited to [0, duration_s) unless it names its own windows). A forced-only plan given in
// ScenarioRunOptions::faults keeps these rules for its draws (so drawn magnitudes replay) and
// fires exactly its forced decisions.
FaultPlan ScenarioFaultPlan(const Scenario& scenario, std::uint64_t seed);

// Human-readable form of a report.
void PrintScenarioReport(const nlohmann::json& report, std::ostream& out);

}  // namespace cfemu::emulator
