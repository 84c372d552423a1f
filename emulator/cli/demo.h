// `cfemu demo`: runs the demo scenario (scenarios/demo.json, compiled into the binary) through
// the scenario harness: the job engine end to end under production's faults — a rate-limited
// burst, retries with backoff, a worker killed at the 15-minute limit, a flow, a job scheduler,
// a pause and a resume — and prints its report (job counts, timings, messages, faults fired,
// every invariant of engine-spec.md §8, the checks and the trace hash).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "emulator/sim/fault.h"

namespace cfemu::emulator {

struct DemoOptions {
  std::uint64_t seed = 1;
  std::optional<Profile> profile;  // Unset: the scenario's (fidelity).
  bool json = false;
  std::string trace_file;  // Empty: no trace file.
};

// Runs the demo and prints its report on stdout. Returns the process exit code: 0 when every
// check held, 1 when one was violated, 2 on bad input.
int RunDemo(const DemoOptions& options);

}  // namespace cfemu::emulator
