#include "emulator/harness/shrink.h"

#include <algorithm>
#include <map>
#include <utility>

namespace cfemu::emulator {

namespace {

using Json = nlohmann::json;
using Decisions = std::vector<ForcedDecision>;

class Search {
 public:
  Search(const Scenario& scenario, const ShrinkOptions& options, std::string failure)
      : scenario_(scenario), options_(options), failure_(std::move(failure)) {}

  // Whether forcing exactly `decisions` shows the failure (results are cached).
  bool Fails(const Decisions& decisions) {
    if (const auto it = cache_.find(decisions); it != cache_.end()) return it->second;
    if (Exhausted()) return false;
    const Json report = Run(decisions);
    const bool fails = !report["ok"].get<bool>() && FailureOf(report) == failure_;
    cache_.emplace(decisions, fails);
    if (fails) best_size_ = std::min(best_size_, decisions.size());
    if (options_.progress) options_.progress(runs_, best_size_);
    return fails;
  }

  Json Run(const Decisions& decisions) {
    FaultPlan plan(scenario_.profile);
    for (const auto& d : decisions) plan.Force(d);
    plan.set_forced_only(true);
    ScenarioRunOptions run;
    run.seed = options_.seed;
    run.faults = std::move(plan);
    run.broken_rule = options_.broken_rule;
    ++runs_;
    return RunScenario(scenario_, run);
  }

  bool Exhausted() const { return runs_ >= options_.max_runs; }
  int runs() const { return runs_; }
  void SetBest(std::size_t size) { best_size_ = size; }

 private:
  const Scenario& scenario_;
  const ShrinkOptions& options_;
  const std::string failure_;
  std::map<Decisions, bool> cache_;
  int runs_ = 0;
  std::size_t best_size_ = 0;
};

// The n parts of `all`, in order, as even as possible.
std::vector<Decisions> Split(const Decisions& all, std::size_t n) {
  std::vector<Decisions> parts;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t end = begin + (all.size() - begin) / (n - i);
    parts.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(begin),
                       all.begin() + static_cast<std::ptrdiff_t>(end));
    begin = end;
  }
  return parts;
}

Decisions Without(const std::vector<Decisions>& parts, std::size_t skip) {
  Decisions out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != skip) out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  return out;
}

// ddmin: the smallest failing subset of `failing` it finds, 1-minimal unless the run budget
// ran out first.
Decisions Ddmin(Search& search, Decisions failing) {
  if (failing.empty() || search.Fails({})) return {};
  std::size_t n = 2;
  while (failing.size() >= 2 && !search.Exhausted()) {
    n = std::min(n, failing.size());
    const auto parts = Split(failing, n);
    bool reduced = false;
    for (std::size_t i = 0; i < parts.size() && !reduced; ++i) {
      if (search.Fails(parts[i])) {
        failing = parts[i];
        n = 2;
        reduced = true;
      }
    }
    for (std::size_t i = 0; i < parts.size() && !reduced && n > 2; ++i) {
      Decisions rest = Without(parts, i);
      if (search.Fails(rest)) {
        failing = std::move(rest);
        n = std::max<std::size_t>(n - 1, 2);
        reduced = true;
      }
    }
    if (reduced) continue;
    if (n >= failing.size()) break;
    n = std::min(failing.size(), n * 2);
  }
  return failing;
}

}  // namespace

std::string FailureOf(const Json& report) {
  const Json* c = FirstFailedCheck(report);
  if (c == nullptr) return std::string();
  return c->contains("id") ? (*c)["id"].get<std::string>() : (*c)["name"].get<std::string>();
}

ShrinkResult ShrinkFailure(const Scenario& scenario, const ShrinkOptions& options) {
  ShrinkResult out;
  ScenarioRunOptions first;
  first.seed = options.seed;
  first.broken_rule = options.broken_rule;
  first.fired = &out.original;
  const Json report = RunScenario(scenario, first);
  out.runs = 1;
  if (report["ok"].get<bool>()) {
    out.report = report;
    return out;
  }
  out.failure = FailureOf(report);
  Search search(scenario, options, out.failure);
  out.reproduced = search.Fails(out.original);
  if (!out.reproduced) {
    out.minimal = out.original;
    out.report = report;
    out.runs += search.runs();
    return out;
  }
  search.SetBest(out.original.size());
  out.minimal = Ddmin(search, out.original);
  out.exhausted = search.Exhausted();
  out.report = search.Run(out.minimal);  // The report of the plan that is written out.
  out.runs += search.runs();
  return out;
}

Json ForcedPlanJson(const Scenario& scenario, const std::vector<ForcedDecision>& decisions) {
  Json forced = Json::array();
  for (const auto& d : decisions) {
    forced.push_back({{"fault", std::string(Describe(d.fault).id)}, {"site", d.site}, {"n", d.n}});
  }
  return Json{{"profile", std::string(ProfileName(scenario.profile))},
              {"forced", forced},
              {"forced_only", true}};
}

}  // namespace cfemu::emulator
