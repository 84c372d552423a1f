// Coverage marks: COVER("queue.dlq.auto_created") counts how often a rare path ran, per thread
// (the explorer runs one environment per thread). Reports and tests read the counts to prove a
// fault site or an edge case was reached. Names are string literals.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cfemu::core {

void CoverHit(std::string_view name);  // REQUIRES: `name` has static storage.
std::int64_t CoverCount(std::string_view name);
std::map<std::string, std::int64_t> CoverSnapshot();
void CoverReset();

}  // namespace cfemu::core

#define COVER(name) ::cfemu::core::CoverHit(name)
