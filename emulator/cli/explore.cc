#include "emulator/cli/explore.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"
#include "emulator/harness/shrink.h"

namespace cfemu::emulator {

namespace {

using Json = nlohmann::json;

struct SeedOutcome {
  std::uint64_t seed = 0;
  bool ok = true;
  bool replayed = true;  // The second run gave the same trace hash.
  std::string trace_hash;
  std::string first_failure;  // "INV-07 rate never exceeded: ..." or a check's name and detail.
  std::map<std::string, std::int64_t> fault_sites;
};

std::string FirstFailure(const Json& report) {
  const Json* c = FirstFailedCheck(report);
  if (c == nullptr) return std::string();
  std::string line = c->contains("id") ? (*c)["id"].get<std::string>() + " " : "";
  line += (*c)["name"].get<std::string>();
  const std::string detail = (*c)["detail"].get<std::string>();
  if (!detail.empty()) line += ": " + detail.substr(0, 300);
  return line;
}

SeedOutcome Explore(const Scenario& scenario, std::uint64_t seed,
                    engine::EngineConfig::BrokenRule broken_rule) {
  ScenarioRunOptions options;
  options.seed = seed;
  options.broken_rule = broken_rule;
  const Json first = RunScenario(scenario, options);
  const Json second = RunScenario(scenario, options);
  SeedOutcome out;
  out.seed = seed;
  out.trace_hash = first["trace_hash"].get<std::string>();
  out.replayed = out.trace_hash == second["trace_hash"].get<std::string>();
  out.ok = first["ok"].get<bool>() && out.replayed;
  out.first_failure = FirstFailure(first);
  if (!out.replayed) {
    out.first_failure = "not deterministic: trace " + out.trace_hash + " then " +
                        second["trace_hash"].get<std::string>();
  }
  for (const auto& [site, n] : first["fault_sites"].items()) {
    out.fault_sites[site] = n.get<std::int64_t>();
  }
  return out;
}

void DrawProgress(std::uint64_t done, std::uint64_t total, std::uint64_t failing, double seconds) {
  constexpr int kWidth = 30;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::fprintf(stderr, "\r[%s%s] %llu/%llu seeds, %llu failing, %.1f seeds/s ",
               std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               static_cast<unsigned long long>(failing), seconds > 0 ? done / seconds : 0.0);
  std::fflush(stderr);
}

// Shrinks up to three failing seeds (not the nondeterministic ones: their failure is the
// mismatch itself) and writes each minimal schedule as a --faults plan.
Json ShrinkFailures(const Scenario& scenario, const ExploreOptions& options,
                    engine::EngineConfig::BrokenRule broken, const std::string& broken_flag,
                    const std::vector<SeedOutcome>& outcomes, bool progress) {
  Json out = Json::array();
  for (const auto& o : outcomes) {
    if (o.ok || !o.replayed) continue;
    if (out.size() == 3) break;
    ShrinkOptions shrink;
    shrink.seed = o.seed;
    shrink.broken_rule = broken;
    if (progress) {
      shrink.progress = [seed = o.seed](int runs, std::size_t size) {
        std::fprintf(stderr, "\rshrinking seed %llu: %d runs, %zu fault decisions ",
                     static_cast<unsigned long long>(seed), runs, size);
        std::fflush(stderr);
      };
    }
    const ShrinkResult result = ShrinkFailure(scenario, shrink);
    if (progress) std::fprintf(stderr, "\n");
    Json entry = {{"seed", o.seed},
                  {"failure", result.failure},
                  {"reproduced", result.reproduced},
                  {"original_faults", result.original.size()},
                  {"minimal_faults", result.minimal.size()},
                  {"runs", result.runs},
                  {"exhausted", result.exhausted},
                  {"plan", ForcedPlanJson(scenario, result.minimal)}};
    if (result.reproduced) {
      const std::filesystem::path file =
          std::filesystem::path(options.shrink_dir) /
          (scenario.name + "-seed" + std::to_string(o.seed) + ".faults.json");
      std::error_code ignored;
      std::filesystem::create_directories(options.shrink_dir, ignored);
      std::ofstream written(file, std::ios::out | std::ios::trunc);
      written << entry["plan"].dump(2) << "\n";
      entry["file"] = written ? file.string() : std::string();
      entry["replay"] = "cfemu run " + options.scenario + " --seed " + std::to_string(o.seed) +
                        " --faults " + file.string() + broken_flag;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

void PrintShrunk(const Json& s) {
  std::cout << "  SHRUNK seed " << s["seed"] << " (" << s["failure"].get<std::string>() << "): ";
  if (!s["reproduced"].get<bool>()) {
    std::cout << "forcing its " << s["original_faults"]
              << " fault firings alone does not reproduce the failure; replay it by seed\n";
    return;
  }
  std::cout << s["original_faults"] << " fault firings -> " << s["minimal_faults"] << " in "
            << s["runs"] << " runs" << (s["exhausted"].get<bool>() ? " (run budget spent)" : "")
            << "\n";
  for (const auto& d : s["plan"]["forced"]) {
    std::cout << "       " << d["fault"].get<std::string>() << " at "
              << d["site"].get<std::string>() << " (decision " << d["n"] << ")\n";
  }
  if (s.value("file", std::string()).empty()) {
    std::cout << "       (the plan could not be written)\n";
  } else {
    std::cout << "       replay: " << s["replay"].get<std::string>() << "\n";
  }
}

}  // namespace

int RunExploreCommand(const ExploreOptions& options) {
  auto scenario = LoadScenario(options.scenario);
  if (!scenario.ok()) {
    std::fprintf(stderr, "cfemu explore: %s\n", scenario.status().message().c_str());
    return 2;
  }
  if (options.seeds == 0 || options.jobs < 1 || options.jobs > 256) {
    std::fprintf(stderr, "cfemu explore: --seeds must be at least 1 and --jobs 1 to 256\n");
    return 2;
  }
  const auto broken = BrokenRuleFromName(options.broken_rule);
  if (!broken) {
    std::fprintf(stderr, "cfemu explore: --break: unknown rule '%s'\n",
                 options.broken_rule.c_str());
    return 2;
  }
  const std::string broken_flag = *broken == engine::EngineConfig::BrokenRule::kNone
                                      ? std::string()
                                      : " --break " + options.broken_rule;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const bool progress = !options.json && isatty(STDERR_FILENO) != 0;
  std::vector<SeedOutcome> outcomes(options.seeds);
  std::atomic<std::uint64_t> next{0};
  std::mutex mutex;  // Guards the progress counters and the terminal.
  std::uint64_t done = 0;
  std::uint64_t failing = 0;
  auto worker = [&] {
    while (true) {
      const std::uint64_t index = next.fetch_add(1);
      if (index >= options.seeds) return;
      outcomes[index] = Explore(*scenario, options.from + index, *broken);
      const std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (!outcomes[index].ok) ++failing;
      if (progress) DrawProgress(done, options.seeds, failing, elapsed());
    }
  };
  std::vector<std::thread> threads;
  const int jobs = static_cast<int>(std::min<std::uint64_t>(options.jobs, options.seeds));
  for (int i = 0; i < jobs; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (progress) std::fprintf(stderr, "\n");
  const double seconds = elapsed();

  std::map<std::string, std::int64_t> coverage;
  Json failures = Json::array();
  std::uint64_t nondeterministic = 0;
  for (const auto& o : outcomes) {
    for (const auto& [site, n] : o.fault_sites) coverage[site] += n;
    if (!o.replayed) ++nondeterministic;
    if (o.ok) continue;
    failures.push_back({{"seed", o.seed},
                        {"failure", o.first_failure},
                        {"trace_hash", o.trace_hash},
                        {"replay", "cfemu run " + options.scenario + " --seed " +
                                       std::to_string(o.seed) + broken_flag}});
  }
  Json shrunk = Json::array();
  if (options.shrink) {
    shrunk = ShrinkFailures(*scenario, options, *broken, broken_flag, outcomes, progress);
  }
  const Json summary = {{"scenario", scenario->name},
                        {"seeds", {{"from", options.from}, {"count", options.seeds}}},
                        {"jobs", jobs},
                        {"runs_per_seed", 2},
                        {"wall_seconds", seconds},
                        {"seeds_per_second", seconds > 0 ? options.seeds / seconds : 0.0},
                        {"failing", failures.size()},
                        {"nondeterministic", nondeterministic},
                        {"failures", failures},
                        {"fault_coverage", coverage},
                        {"shrunk", shrunk},
                        {"ok", failures.empty()}};
  if (options.json) {
    std::cout << summary.dump() << "\n";
  } else {
    std::cout << "cfemu explore: " << scenario->name << ", seeds " << options.from << " to "
              << options.from + options.seeds - 1 << ", " << jobs
              << " threads, each seed run twice\n";
    std::printf("  %.1f s, %.1f seeds/s; %zu failing, %llu not deterministic\n", seconds,
                summary["seeds_per_second"].get<double>(), failures.size(),
                static_cast<unsigned long long>(nondeterministic));
    std::cout << "  fault sites fired (all seeds): "
              << (coverage.empty() ? std::string("none") : Json(coverage).dump()) << "\n";
    for (const auto& f : failures) {
      std::cout << "  FAIL seed " << f["seed"] << ": " << f["failure"].get<std::string>()
                << "\n       replay: " << f["replay"].get<std::string>() << "\n";
    }
    for (const auto& s : shrunk) PrintShrunk(s);
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace cfemu::emulator
