#include "emulator/sim/fault_plan.h"

#include <string>

#include "src/core/cover.h"

namespace cfemu::emulator {

FaultPlan::FaultPlan(Profile profile) : profile_(profile) {
  for (const auto& info : AllFaults()) {
    if (ProfileAllows(profile, info.kind)) {
      rules_[Index(info.fault)] = FaultRule{info.default_probability, {}, {}, 1.0};
    }
  }
}

FaultPlan FaultPlan::Swarm(Profile profile, core::Random& random) {
  FaultPlan plan(profile);
  for (const auto& info : AllFaults()) {
    auto& rule = plan.rules_[Index(info.fault)];
    if (!rule) continue;
    if (!random.Chance(0.5)) {
      rule.reset();
      continue;
    }
    // A factor 2^k for k uniform in [-3, 3]: from an eighth to eight times the default.
    const std::int64_t k = random.Range(-3, 3);
    double factor = 1.0;
    for (std::int64_t i = 0; i < (k < 0 ? -k : k); ++i) factor *= 2.0;
    if (k < 0) factor = 1.0 / factor;
    rule->probability = std::min(1.0, rule->probability * factor);
    rule->intensity = factor < 1.0 ? 1.0 : factor;
  }
  return plan;
}

FaultInjector::FaultInjector(FaultPlan plan, core::Random root, core::TraceSink& trace,
                             const core::Clock& clock)
    : plan_(std::move(plan)), trace_(trace), clock_(clock) {
  streams_.reserve(kFaultCount);
  for (const auto& info : AllFaults()) {
    streams_.push_back(root.Fork(std::string("fault/") + std::string(info.id)));
    const auto& rule = plan_.rule(info.fault);
    bool forced = false;
    for (const auto& decision : plan_.forced()) forced = forced || decision.fault == info.fault;
    active_[static_cast<std::size_t>(info.fault)] =
        forced || (!plan_.forced_only() && rule.has_value() && rule->probability > 0);
  }
}

bool FaultInjector::Decide(Fault fault, std::string_view site) {
  const auto index = static_cast<std::size_t>(fault);
  if (!active_[index]) return false;
  auto& counters = decisions_[index];
  auto it = counters.find(site);
  if (it == counters.end()) it = counters.emplace(std::string(site), SiteDecisions{}).first;
  const std::int64_t n = ++it->second.count;
  const bool fires = DrawDecision(fault, site, n);
  if (fires) it->second.last_fired = n;
  return fires;
}

bool FaultInjector::DrawDecision(Fault fault, std::string_view site, std::int64_t n) {
  const auto index = static_cast<std::size_t>(fault);
  // The rule's draw is taken even when a forced decision settles it, so that a forced replay
  // consumes the fault's stream as the original run did (and draws the same magnitudes).
  bool drawn = false;
  const auto& rule = plan_.rule(fault);
  if (rule && !(rule->max_firings && fired_[index] >= *rule->max_firings)) {
    bool inside = rule->windows.empty();
    const core::Instant now = clock_.Now();
    for (const auto& window : rule->windows) {
      inside = inside || (now >= window.from && now < window.until);
    }
    drawn = inside && streams_[index].Chance(rule->probability);
  }
  if (!plan_.forced().empty() &&
      plan_.forced().count(ForcedDecision{fault, std::string(site), n}) > 0) {
    return true;
  }
  return !plan_.forced_only() && drawn;
}

void FaultInjector::Record(Fault fault, std::string_view site, std::string_view actor) {
  const auto index = static_cast<std::size_t>(fault);
  const FaultInfo& info = Describe(fault);
  ++fired_[index];
  std::string key(info.id);
  key += '@';
  key += site;
  ++fired_by_site_[key];
  core::CoverHit(info.cover);
  const auto& counters = decisions_[index];
  const auto it = counters.find(site);
  const std::int64_t n = it == counters.end() ? 0 : it->second.last_fired;
  // n = 0: a firing no decision made (an idle eviction): it happens again on any replay, and a
  // plan cannot force it.
  if (n > 0) fired_decisions_.push_back(ForcedDecision{fault, std::string(site), n});
  if (trace_.enabled()) {
    trace_.Emit(actor, core::TraceEvent("fault.fired")
                           .Str("fault", std::string(info.id))
                           .Str("kind", std::string(KindName(info.kind)))
                           .Str("site", std::string(site))
                           .Int("n", n));
  }
}

double FaultInjector::Intensity(Fault fault) const {
  const auto& rule = plan_.rule(fault);
  return rule ? rule->intensity : 1.0;
}

std::int64_t FaultInjector::total_fired() const {
  std::int64_t total = 0;
  for (std::int64_t n : fired_) total += n;
  return total;
}

std::map<std::string, std::int64_t> FaultInjector::FiredById() const {
  std::map<std::string, std::int64_t> out;
  for (const auto& info : AllFaults()) {
    const std::int64_t n = fired_[static_cast<std::size_t>(info.fault)];
    if (n > 0) out.emplace(std::string(info.id), n);
  }
  return out;
}

}  // namespace cfemu::emulator
