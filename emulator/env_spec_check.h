// Validation of a whole EnvSpec before a World is built from it: every error names the field
// ("consumers[1].max_batch_size: 101 is out of range (1 to 100)").
#pragma once

#include "src/platform/env.h"

namespace cfemu::emulator {

core::Status ValidateEnvSpec(const platform::EnvSpec& spec);

}  // namespace cfemu::emulator
