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

#include "emulator/sim/host_base.h"

namespace cfemu::emulator {

class SystemClock final : public core::Clock {
 public:
  core::Instant Now() const override;
};

class RealTimeRuntime final : public HostBase {
 public:
  // `io` must outlive the runtime; the caller runs it (one thread per environment).
  RealTimeRuntime(boost::asio::io_context& io, std::uint64_t seed, Profile profile,
                  bool trace = false);

  const core::Clock& clock() const override { return clock_; }
  core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind,
                                      const core::CancelToken& cancel) override;
  void Spawn(core::Task<void> task) override { SpawnOn(io_, std::move(task)); }

 private:
  // The coroutine behind SleepUntil, holding its own copy of the token.
  core::Task<core::Status> SleepOnTimer(core::Instant t, core::CancelToken cancel);

  boost::asio::io_context& io_;
  SystemClock clock_;
};

}  // namespace cfemu::emulator
