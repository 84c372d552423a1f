// scenarios/demo.json, compiled into the binary (`cfemu demo`).
#pragma once

#include <string_view>

namespace cfemu::emulator {

std::string_view DemoScenarioJson();

}  // namespace cfemu::emulator
