// The build id printed beside every replay command and in every report: the version and the
// git commit the binary was built from ("0.1.0+1a2b3c4d5e6f", "-dirty" with local changes).
// A replay is exact only with the same build.
#pragma once

#include <string_view>

namespace cfemu::core {

std::string_view BuildId();

}  // namespace cfemu::core
