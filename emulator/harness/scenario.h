// A scenario (scenarios/README.md documents every field): the environment, the workload, how
// the Worker's processors behave per job name, the fault plan, the virtual duration, a liveness
// phase after the faults heal, and what to expect. Loaded from JSON with an error naming the
// field and what was expected for anything malformed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/sim/fault.h"
#include "emulator/sim/fault_plan.h"
#include "src/core/status.h"
#include "src/engine/flow_producer.h"
#include "src/engine/queue.h"
#include "src/engine/queue_config.h"

namespace cfemu::emulator {

// The Cloudflare consumer settings of the engine's queue and the engine consumer's options.
struct ScenarioConsumer {
  int max_batch_size = 10;
  std::int64_t max_batch_timeout_ms = 5'000;
  int max_retries = 10;  // Infrastructure retries before the DLQ (engine-spec §4.2 advice).
  std::optional<int> max_concurrency;
  int concurrency = 10;  // Processors in flight per invocation.
  std::optional<int> prefetch;
};

// How the engine uses Workers KV (engine-spec.md §4.8): off unless the scenario names a KV
// binding of its wrangler.jsonc.
struct ScenarioEngine {
  std::string kv_binding;        // Empty: the engine uses no KV.
  bool kv_pause_hint = false;    // Consult the KV pause hint before a direct send.
  bool kv_throttle_cache = false;  // Cache throttle deduplication keys in KV.
};

// How the processor behaves for one job name. Each draw is seeded by (job id, attempt), so a
// replay makes the same choices.
struct AttemptRule {
  double probability = 0.0;
  std::vector<int> attempts;  // Attempts (1-based) on which it always happens.
  bool Applies(int attempt, double draw) const;
  bool Set() const { return probability > 0 || !attempts.empty(); }
};

struct ProcessorBehaviour {
  std::int64_t min_ms = 1'000;  // Run time, drawn uniformly in [min_ms, max_ms].
  std::int64_t max_ms = 1'000;
  AttemptRule fail;  // The attempt fails (retried while attempts remain).
  std::string fail_message = "processor failed";
  AttemptRule unrecoverable;  // The attempt fails and the job fails at once.
  AttemptRule stall;          // The worker hangs for hang_ms (killed at the 15-minute limit).
  std::int64_t hang_ms = 20 * 60'000;
  bool side_effect = false;             // Records one effect in the ledger before finishing.
  AttemptRule crash_after_side_effect;  // Records the effect, then hangs until killed.
  nlohmann::json result = nlohmann::json{{"ok", true}};
  bool sum_children = false;  // Returns {"total": sum of the children's numeric values}.
};

// Behaviours by job name; "*" = every other name.
using Processors = std::map<std::string, ProcessorBehaviour>;
// The behaviour of `job_name`: its own, else "*", else the default one.
const ProcessorBehaviour& BehaviourFor(const Processors& processors, const std::string& job_name);
// A `processors` object of the scenario format (also `cfemu serve --processors FILE`); errors
// name `origin` and the field.
core::Result<Processors> ParseProcessors(const nlohmann::json& json, const std::string& origin);

// A job scheduler as a scenario step and the admin API give it: {"repeat": {"pattern" or
// "every_ms", "limit", "start_date_ms", "end_date_ms", "immediately", "offset_ms",
// "dow_dialect", "missed_policy", "max_catch_up"}, "template": {"name", "data", "opts"}}.
struct SchedulerSpec {
  engine::RepeatOptions repeat;
  engine::JobTemplate job_template;
};
core::Result<SchedulerSpec> ParseSchedulerSpec(const nlohmann::json& json,
                                               const std::string& origin);

struct ScenarioStep {
  enum class Kind {
    kAdd,
    kRate,
    kFlow,
    kScheduler,
    kPause,
    kResume,
    kRetryFailed,
    kPromote,
    kSend,
    // On a Cloudflare queue (`physical_queue`), as its dashboard or REST API would: delete every
    // message, pause delivery to its consumer, resume it.
    kPurgeQueue,
    kPauseDelivery,
    kResumeDelivery
  };
  Kind kind = Kind::kAdd;
  std::int64_t at_ms = 0;
  std::string queue = "jobs";
  // The Worker that acts (its KV location and clock): producers in different locations see
  // each other's KV writes late.
  std::string producer = "producer";
  // kAdd: `count` jobs, `every_ms` apart (0: one bulk add). kRate: `per_second` for `for_ms`.
  std::string name;
  nlohmann::json data = nlohmann::json::object();
  engine::JobOptions options;
  int count = 1;
  std::int64_t every_ms = 0;
  double per_second = 0;
  std::int64_t for_ms = 0;
  engine::FlowJob flow;      // kFlow.
  std::string scheduler_id;  // kScheduler.
  engine::RepeatOptions repeat;
  engine::JobTemplate job_template;
  // kSend: `count` raw messages sent to a queue binding, not through the engine (foreign
  // messages): `data` as a JSON body, or `text` as a text body.
  std::string binding;
  std::optional<std::string> text;
  std::string physical_queue;  // kPurgeQueue, kPauseDelivery, kResumeDelivery.

  bool on_physical_queue() const {
    return kind == Kind::kPurgeQueue || kind == Kind::kPauseDelivery ||
           kind == Kind::kResumeDelivery;
  }
};

struct CountExpectation {
  std::optional<std::int64_t> min;
  std::optional<std::int64_t> max;
};

struct ScenarioExpect {
  std::map<std::string, CountExpectation> counts;            // By state (and "paused").
  std::map<std::string, std::int64_t> scheduler_iterations;  // By "queue/id" or "id".
  // Each iteration of the scheduler started no earlier than its slot and at most this many ms
  // after it (no drift), by "queue/id" or "id".
  std::map<std::string, std::int64_t> scheduler_max_lateness_ms;
  // Faults that must have fired at least this often (the scenario exercises what it claims).
  std::map<std::string, std::int64_t> faults_fired;
  // Invariant ids that must hold; empty = all of them.
  std::vector<std::string> invariants;
  bool all_finished = true;  // No job left waiting, delayed, prioritized, active, or in a flow.
  // "once": each completed job with a side effect recorded exactly one; "at-least-once": one
  // or more, at most one per started attempt (non-idempotent processors, reported).
  std::string effects = "at-least-once";
};

struct Scenario {
  std::string name;
  std::string purpose;
  std::filesystem::path origin;  // The file it came from (errors and replay commands).
  std::optional<std::filesystem::path> wrangler;  // Relative to the scenario file.
  ScenarioConsumer consumer;
  ScenarioEngine engine;
  std::map<std::string, engine::QueueConfig> queues;  // Logical queues to open (>= "jobs").
  Profile profile = Profile::kFidelity;
  bool swarm = false;  // The seed picks which of the profile's faults are on and how hard.
  std::map<Fault, FaultRule> fault_rules;  // Over the profile (windows relative to start).
  std::vector<Fault> disabled_faults;
  std::int64_t duration_ms = 0;              // Faults are active only during this.
  std::int64_t liveness_ms = 2 * 3'600'000;  // Then every job must settle, faults healed.
  Processors processors;
  std::vector<ScenarioStep> workload;
  ScenarioExpect expect;

  const ProcessorBehaviour& BehaviourFor(const std::string& job_name) const;
};

// Parses a scenario; `origin` names the file in errors ("FILE: FIELD: expected ...").
core::Result<Scenario> ParseScenario(const nlohmann::json& json,
                                     const std::filesystem::path& origin);
// Reads and parses a file (JSON; comments are not allowed).
core::Result<Scenario> LoadScenario(const std::filesystem::path& path);

// A fault plan file (`--faults`, written by `explore --shrink`):
// {"profile": "fidelity", "rules": {"Q3": {...}}, "disable": [...], "forced": [{"fault": "Q3",
// "site": "queue.ack", "n": 2}], "forced_only": true}.
core::Result<FaultPlan> ParseFaultPlanFile(const nlohmann::json& json, const std::string& origin);
// Reads and parses a fault plan file (`cfemu run --faults`, the test fixture).
core::Result<FaultPlan> LoadFaultPlanFile(const std::filesystem::path& path);

}  // namespace cfemu::emulator
