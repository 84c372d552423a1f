// The real-time runtime, for `cfemu serve`: the system clock and Asio timers on an io_context
// the caller runs. Same Host interface as the simulator, so every service runs unchanged. Idle
// checks are kept but never consulted: real time does not jump to the next timer.
#pragma once

#include <utility>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "emulator/sim/host.h"

namespace cfemu::emulator {

class SystemClock final : public core::Clock {
 public:
  core::Instant Now() const override;
};

class RealTimeRuntime final : public Host {
 public:
  // `io` must outlive the runtime; the caller runs it (one thread per environment).
  RealTimeRuntime(boost::asio::io_context& io, std::uint64_t seed, Profile profile,
                  bool trace = false);

  const core::Clock& clock() const override { return clock_; }
  ClockView& ClockFor(std::string_view actor) override;
  core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind,
                                      const core::CancelToken& cancel) override;
  void Spawn(core::Task<void> task) override;
  int AddIdleCheck(std::function<bool()> is_idle) override;
  void RemoveIdleCheck(int id) override;
  void Fail(core::Status error) override;
  core::Random& random() override { return random_; }
  core::TraceSink& trace() override { return trace_; }
  FaultInjector& faults() override { return faults_; }
  LatencyModel& latency() override { return latency_; }
  Profile profile() const override { return profile_; }

  const std::optional<core::Status>& failure() const { return failure_; }

 private:
  // The coroutine behind SleepUntil, holding its own copy of the token.
  core::Task<core::Status> SleepOnTimer(core::Instant t, core::CancelToken cancel);

  boost::asio::io_context& io_;
  Profile profile_;
  SystemClock clock_;
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
