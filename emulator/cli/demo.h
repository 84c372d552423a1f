// `cfemu demo`: the job engine end to end, built in code and run on the simulation runtime: a
// rate-limited burst, jobs that fail and retry with backoff, a job whose worker is killed
// mid-run (a stall) and recovers, a flow, a job scheduler and a pause/resume, all on the
// fixture wiring (queue + DLQ + D1 + coordinator + minute cron). It prints job counts, timings,
// the faults that fired, every invariant of engine-spec.md §8 and the trace hash.
#pragma once

#include <cstdint>
#include <string>

#include "emulator/sim/fault.h"

namespace cfemu::emulator {

struct DemoOptions {
  std::uint64_t seed = 1;
  Profile profile = Profile::kFidelity;
  bool json = false;
  std::string trace_file;  // Empty: no trace file.
};

// Runs the demo and prints its report on stdout. Returns the process exit code: 0 when every
// check held, 1 when one was violated, 2 on bad input.
int RunDemo(const DemoOptions& options);

}  // namespace cfemu::emulator
