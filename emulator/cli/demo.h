// `cfemu demo`: a real queue scenario built in code (producers, a consumer that fails some
// messages, retries, a dead letter queue with its own consumer, a pull consumer), run on the
// simulation runtime, with a report of what happened. The scenario file format belongs to the
// harness; this program is its stand-in until then.
#pragma once

#include <cstdint>
#include <string>

#include "emulator/sim/fault.h"
#include "src/platform/env.h"

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
