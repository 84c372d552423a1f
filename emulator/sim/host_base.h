// What every runtime shares: the seeded services (random, trace, faults, latency), per-actor
// clock views, idle checks and the run's failure. The simulator and the real-time runtime add
// their clock, sleeping and spawning.
#pragma once

#include <utility>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "emulator/sim/host.h"

namespace cfemu::emulator {

class HostBase : public Host {
 public:
  // `clock` is the runtime's true clock; it may be a member the subclass constructs later, as
  // it is not read before the first event.
  HostBase(const core::Clock& clock, std::uint64_t seed, Profile profile,
           std::optional<FaultPlan> faults, bool trace);

  ClockView& ClockFor(std::string_view actor) override;
  int AddIdleCheck(std::function<bool()> is_idle) override;
  void RemoveIdleCheck(int id) override;
  void Fail(core::Status error) override;
  core::Random& random() override { return random_; }
  core::TraceSink& trace() override { return trace_; }
  FaultInjector& faults() override { return faults_; }
  LatencyModel& latency() override { return latency_; }
  Profile profile() const override { return profile_; }

  std::uint64_t seed() const { return random_.seed(); }
  const std::optional<core::Status>& failure() const { return failure_; }

 protected:
  // True when every registered service reports itself idle.
  bool ServicesIdle() const;
  // co_spawn on `io`; an exception escaping `task` fails the run.
  void SpawnOn(boost::asio::io_context& io, core::Task<void> task);
  // The clock faults T1-T3, one round: each actor's clock view may jump forward (T1), take on
  // skew and drift (T2) or step back (T3). Durable Objects run on the true clock (the
  // coordinator measures leases on it), so no fault here touches them.
  void PerturbClockViews();
  bool ClockFaultsEnabled() const;

 private:
  const core::Clock& clock_;
  Profile profile_;
  core::Random random_;
  core::TraceSink trace_;
  LatencyModel latency_;
  FaultInjector faults_;
  std::map<std::string, std::unique_ptr<ClockView>, std::less<>> views_;
  std::map<int, std::function<bool()>> idle_checks_;  // By id, in registration order.
  int next_idle_check_ = 1;
  std::optional<core::Status> failure_;
};

}  // namespace cfemu::emulator
