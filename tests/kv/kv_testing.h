// Helpers for the KV tests: a simulator with one KV namespace, bindings per (actor, location),
// bindings inside invocations, and synchronous wrappers that drive the loop until a call ends.
#pragma once

#include <utility>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/kv/kv_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/invocation.h"
#include "emulator/sim/simulator.h"
#include "src/core/ids.h"
#include "src/platform/kv.h"

namespace cfemu::testing {

using core::Code;
using core::Duration;
using core::Instant;
using core::Result;
using core::Seconds;
using core::Status;
using core::Task;
using emulator::Fault;
using emulator::FaultPlan;
using emulator::FaultRule;
using emulator::KvOptions;
using emulator::KvService;
using emulator::Profile;
using emulator::Simulator;
using emulator::SimulatorOptions;
using nlohmann::json;
using platform::KvGetOptions;
using platform::KvListOptions;
using platform::KvListResult;
using platform::KvNamespace;
using platform::KvPutOptions;
using platform::KvType;
using platform::KvValue;

struct KvSetup {
  std::uint64_t seed = 1;
  Profile profile = Profile::kStrict;
  // Strict profile plus the cache model, with K1, K2 and K5 always firing: production's
  // eventual consistency with no latency, so times in tests are exact.
  bool eventual = false;
  std::optional<FaultPlan> faults;
  KvOptions options;
};

// A strict plan that fires the given faults at every decision.
inline FaultPlan AlwaysFire(std::initializer_list<Fault> faults) {
  FaultPlan plan(Profile::kStrict);
  for (Fault fault : faults) plan.Set(fault, FaultRule{1.0, {}, {}, 1.0});
  return plan;
}

class KvHarness {
 public:
  explicit KvHarness(KvSetup setup = KvSetup()) {
    SimulatorOptions options;
    options.profile = setup.profile;
    options.faults = setup.faults;
    if (setup.eventual) {
      if (!options.faults) {
        options.faults =
            AlwaysFire({Fault::kK1StaleRead, Fault::kK2StaleNegative, Fault::kK5ExpiryFlaps});
      }
      setup.options.eventually_consistent = true;
    }
    sim_ = std::make_unique<Simulator>(setup.seed, options);
    sim_->trace().KeepLines(true);
    if (setup.options.title.empty() && setup.options.id.empty()) setup.options.title = "test";
    auto opened = KvService::Open(*sim_, setup.options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    kv_ = std::move(*opened);
  }

  Simulator& sim() { return *sim_; }
  KvService& kv() { return *kv_; }

  // The binding of `actor` (default: "worker@<location>") at `location`, outside invocations.
  KvNamespace& At(const std::string& location, std::string actor = "") {
    if (actor.empty()) actor = "worker@" + location;
    const std::string id = actor + "|" + location;
    auto it = bindings_.find(id);
    if (it == bindings_.end()) {
      scopes_.push_back(
          std::make_unique<emulator::ActorScope>(*sim_, actor, sim_->ClockFor(actor), nullptr));
      it = bindings_.emplace(id, kv_->Bind(*scopes_.back(), location)).first;
    }
    return *it->second;
  }

  // A binding of a fresh invocation (its own Env), as a queue batch or a cron tick gets.
  KvNamespace& InInvocation(const std::string& location,
                            std::shared_ptr<emulator::Invocation>* out = nullptr) {
    const std::string actor = "invocation-" + std::to_string(++invocations_);
    auto invocation = emulator::Invocation::Start(*sim_, actor, sim_->now() + core::Minutes(15));
    if (out != nullptr) *out = invocation;
    scopes_.push_back(
        std::make_unique<emulator::ActorScope>(*sim_, actor, sim_->ClockFor(actor), invocation));
    invocation_bindings_.push_back(kv_->Bind(*scopes_.back(), location));
    return *invocation_bindings_.back();
  }

  // ---- Synchronous calls: drive the simulator until the call completes. ----
  Result<std::optional<KvValue>> Get(KvNamespace& ns, std::string key,
                                     KvGetOptions options = KvGetOptions()) {
    return sim_->Run(ns.Get(std::move(key), std::move(options)));
  }
  // The text value, or "<null>" when absent, or the error's text.
  std::string Text(KvNamespace& ns, std::string key, KvGetOptions options = KvGetOptions()) {
    auto got = Get(ns, std::move(key), std::move(options));
    if (!got.ok()) return "error: " + got.status().message();
    if (!got->has_value()) return "<null>";
    return std::get<std::string>(**got);
  }
  Status Put(KvNamespace& ns, std::string key, std::string value,
             KvPutOptions options = KvPutOptions()) {
    return sim_->Run(
        ns.Put(std::move(key), platform::KvPutValue(std::move(value)), std::move(options)));
  }
  Status Delete(KvNamespace& ns, std::string key) { return sim_->Run(ns.Delete(std::move(key))); }
  Result<KvListResult> List(KvNamespace& ns, KvListOptions options = KvListOptions()) {
    return sim_->Run(ns.List(std::move(options)));
  }
  // Every name, following cursors until list_complete.
  std::vector<std::string> ListAll(KvNamespace& ns, std::string prefix = "", int limit = 1000) {
    std::vector<std::string> names;
    std::string cursor;
    for (int pages = 0; pages < 10'000; ++pages) {
      auto page = List(ns, KvListOptions(prefix, limit, cursor));
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (const auto& key : page->keys) names.push_back(key.name);
      if (page->list_complete) break;
      cursor = page->cursor;
    }
    return names;
  }

  void Advance(Duration d) { ASSERT_TRUE(sim_->RunFor(d).ok()); }
  // Trace lines whose event is `ev`.
  std::vector<json> Events(const std::string& ev) {
    std::vector<json> out;
    for (const auto& line : sim_->trace().lines()) {
      json parsed = json::parse(line);
      if (parsed["ev"] == ev) out.push_back(std::move(parsed));
    }
    return out;
  }

 private:
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<KvService> kv_;
  std::vector<std::unique_ptr<emulator::ActorScope>> scopes_;
  std::map<std::string, std::unique_ptr<KvNamespace>> bindings_;
  std::vector<std::unique_ptr<KvNamespace>> invocation_bindings_;
  int invocations_ = 0;
};

// The names on one page.
inline std::vector<std::string> Names(const KvListResult& page) {
  std::vector<std::string> names;
  for (const auto& key : page.keys) names.push_back(key.name);
  return names;
}

inline KvGetOptions Typed(KvType type) { return KvGetOptions(type); }

inline KvGetOptions WithCacheTtl(Duration ttl) {
  KvGetOptions options;
  options.cache_ttl = ttl;
  return options;
}

inline KvPutOptions WithTtl(std::int64_t seconds) {
  KvPutOptions options;
  options.expiration_ttl = seconds;
  return options;
}

inline KvPutOptions WithExpiration(std::int64_t unix_seconds) {
  KvPutOptions options;
  options.expiration = unix_seconds;
  return options;
}

inline KvPutOptions WithMetadata(json metadata) {
  KvPutOptions options;
  options.metadata = std::move(metadata);
  return options;
}

inline std::int64_t NowSeconds(Simulator& sim) { return sim.now().unix_ms() / 1000; }

}  // namespace cfemu::testing
