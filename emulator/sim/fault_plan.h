// A fault plan says which faults of the catalogue may fire, how often, and when; the injector
// draws each decision at its named site from the fault's own seeded stream, and records every
// firing (trace `fault.fired`, a coverage mark, a counter). Plans come from a profile (every
// fault the profile allows at its default probability), from "swarm" mode (the seed picks which
// faults are on and how hard), or from explicit rules; forced decisions replay a shrunk plan.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "emulator/sim/fault.h"
#include "src/core/random.h"
#include "src/core/trace.h"

namespace cfemu::emulator {

struct FaultWindow {
  core::Instant from;   // Inclusive.
  core::Instant until;  // Exclusive.
};

struct FaultRule {
  double probability = 0.0;          // Per decision at a site.
  std::vector<FaultWindow> windows;  // Non-empty: fires only inside one of them.
  std::optional<std::int64_t> max_firings;
  double intensity = 1.0;  // Scales drawn magnitudes (pause length, lateness, ...).
};

// "The n-th decision of `fault` at `site` fires" (n counts from 1).
struct ForcedDecision {
  Fault fault;
  std::string site;
  std::int64_t n = 1;
  friend auto operator<=>(const ForcedDecision&, const ForcedDecision&) = default;
};

class FaultPlan {
 public:
  // Every fault whose kind `profile` allows, at its default probability.
  explicit FaultPlan(Profile profile = Profile::kStrict);
  // The seed picks which allowed faults are on (each with probability 1/2) and scales each
  // one's probability by a factor in [1/8, 8].
  static FaultPlan Swarm(Profile profile, core::Random& random);

  Profile profile() const { return profile_; }
  // An explicit rule wins over the profile (a plan may enable a fault its profile excludes).
  void Set(Fault fault, FaultRule rule) { rules_[Index(fault)] = std::move(rule); }
  void Disable(Fault fault) { rules_[Index(fault)].reset(); }
  const std::optional<FaultRule>& rule(Fault fault) const { return rules_[Index(fault)]; }

  // Forced decisions fire regardless of probability; with forced_only, nothing else fires.
  void Force(ForcedDecision decision) { forced_.insert(std::move(decision)); }
  void set_forced_only(bool forced_only) { forced_only_ = forced_only; }
  bool forced_only() const { return forced_only_; }
  const std::set<ForcedDecision>& forced() const { return forced_; }

 private:
  static std::size_t Index(Fault fault) { return static_cast<std::size_t>(fault); }
  Profile profile_;
  std::array<std::optional<FaultRule>, kFaultCount> rules_;
  std::set<ForcedDecision> forced_;
  bool forced_only_ = false;
};

class FaultInjector {
 public:
  FaultInjector(FaultPlan plan, core::Random root, core::TraceSink& trace,
                const core::Clock& clock);

  const FaultPlan& plan() const { return plan_; }
  // Cheap test for hot paths: false when the fault can never fire under this plan.
  bool Enabled(Fault fault) const { return active_[static_cast<std::size_t>(fault)]; }

  // Draws the decision at `site` without recording a firing (for faults that take effect
  // later, such as a kill armed for the j-th await); Record() when it takes effect.
  bool Decide(Fault fault, std::string_view site);
  void Record(Fault fault, std::string_view site, std::string_view actor = "sim");
  // Decide() and, when it fires, Record().
  bool Fire(Fault fault, std::string_view site, std::string_view actor = "sim") {
    if (!Enabled(fault)) return false;
    if (!Decide(fault, site)) return false;
    Record(fault, site, actor);
    return true;
  }

  // The fault's own stream, for drawing parameters after a decision.
  core::Random& RandomFor(Fault fault) { return streams_[static_cast<std::size_t>(fault)]; }
  double Intensity(Fault fault) const;

  std::int64_t fired(Fault fault) const { return fired_[static_cast<std::size_t>(fault)]; }
  std::int64_t total_fired() const;
  // Fault id -> firings, for reports ("faults fired by kind"); only faults that fired.
  std::map<std::string, std::int64_t> FiredById() const;
  // "Q3@queue.ack" -> firings: which fault sites fired how often.
  const std::map<std::string, std::int64_t>& FiredBySite() const { return fired_by_site_; }
  // Every firing as the decision that made it, in order: forcing exactly these (forced_only)
  // replays the run's faults; `explore --shrink` minimizes this list.
  const std::vector<ForcedDecision>& FiredDecisions() const { return fired_decisions_; }

 private:
  bool DrawDecision(Fault fault, std::string_view site, std::int64_t n);

  FaultPlan plan_;
  core::TraceSink& trace_;
  const core::Clock& clock_;
  std::array<bool, kFaultCount> active_{};
  std::vector<core::Random> streams_;
  std::array<std::int64_t, kFaultCount> fired_{};
  struct SiteDecisions {
    std::int64_t count = 0;       // Decisions drawn at the site.
    std::int64_t last_fired = 0;  // The latest one that fired (what Record() records).
  };
  std::array<std::map<std::string, SiteDecisions, std::less<>>, kFaultCount> decisions_;
  std::vector<ForcedDecision> fired_decisions_;
  std::map<std::string, std::int64_t> fired_by_site_;
};

}  // namespace cfemu::emulator
