// The Worker that runs the job engine on a World, as the harness, the test fixture and
// `cfemu serve` build it: which consumer gets which engine handler, and a processor that
// behaves per job name as a scenario's `processors` say (engine-spec.md §4.2; scenario format).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "emulator/harness/scenario.h"
#include "emulator/sim/fault_plan.h"
#include "src/engine/consumer.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

// Side effects recorded by processors with `side_effect`: "queue/job id" -> effects.
using Ledger = std::map<std::string, std::int64_t>;

// Runs one attempt as `behaviour` says: sleeps its duration, then fails, hangs, records its
// side effect in `ledger` (when given) or returns its result. Every draw is seeded by (job id,
// attempt), so a replay makes the same choices. N4 (side-effect failure) fires through `faults`.
core::Task<core::Result<nlohmann::json>> RunBehaviour(const ProcessorBehaviour& behaviour,
                                                      engine::JobContext& ctx, Ledger* ledger,
                                                      FaultInjector& faults);

struct EngineHandlers {
  platform::QueueHandler consumer;      // The engine's consumer (engine::Consumer::Handler).
  platform::QueueHandler dead_letters;  // The engine's dead-letter consumer.
  platform::ScheduledHandler tick;      // The scheduler tick of the cron trigger.
};

struct WiredConsumer {
  std::string queue;
  bool dead_letters = false;  // The dead-letter consumer (else the engine's consumer).
};

// Gives the Worker of `spec` the engine's handlers: a queue that some consumer names as its
// dead_letter_queue gets the dead-letter consumer; every other worker consumer gets the engine's
// consumer, then `adjust` (batch settings); the cron trigger runs the tick. http_pull consumers
// are left as they are. Returns the consumers wired, in order.
std::vector<WiredConsumer> WireEngineHandlers(
    platform::EnvSpec& spec, const EngineHandlers& handlers,
    const std::function<void(platform::ConsumerSpec&)>& adjust = {});

}  // namespace cfemu::emulator
