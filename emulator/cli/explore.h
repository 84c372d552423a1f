// `cfemu explore SCENARIO --seeds N [--from S] [--jobs J] [--json] [--shrink] [--break RULE]`:
// runs many seeds of one scenario, J at a time on their own threads (one environment per
// thread), each seed twice so that determinism is checked on every seed, with a progress bar on
// a terminal; then a summary (seeds per second, failing seeds with their replay commands,
// determinism mismatches, which fault sites fired how often). With --shrink, each failing seed
// (up to 3) is shrunk to its smallest fault schedule and written as a --faults plan. Exit codes:
// 0 every seed held and replayed to the same trace hash, 1 otherwise, 2 bad input.
#pragma once

#include <cstdint>
#include <string>

namespace cfemu::emulator {

struct ExploreOptions {
  std::string scenario;
  std::uint64_t seeds = 100;
  std::uint64_t from = 1;
  int jobs = 2;
  bool json = false;
  bool shrink = false;               // Shrink failing seeds (up to 3) into --faults plans.
  std::string shrink_dir = ".";      // Where the shrunk plans are written.
  std::string broken_rule = "none";  // `--break`: see BrokenRuleFromName.
};

int RunExploreCommand(const ExploreOptions& options);

}  // namespace cfemu::emulator
