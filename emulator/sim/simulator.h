// The simulation runtime (DESIGN.md, "The runtime model"): all services of one world run on one
// io_context used as a FIFO run queue, and time is virtual. When no handler is ready, the driver
// pops the earliest timer from its heap, sets the clock and posts the timer's handler. Timers at
// the same instant are ordered by a seeded draw, so different seeds explore different
// interleavings and the same seed replays exactly. Simulation never blocks on the OS.
#pragma once

#include <utility>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "emulator/sim/host_base.h"
#include "src/core/unique_function.h"

namespace cfemu::emulator {

struct SimulatorOptions {
  core::Instant start = core::kVirtualEpoch;
  Profile profile = Profile::kStrict;
  std::optional<FaultPlan> faults;  // Unset: the profile's plan.
  bool trace = true;                // Off in throughput benchmarks.
};

class Simulator final : public HostBase {
 public:
  explicit Simulator(std::uint64_t seed, SimulatorOptions options = {});
  ~Simulator() override;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  core::Instant now() const { return clock_.Now(); }

  // Drives the loop until `task` completes and returns its value. A task that can never
  // complete (nothing ready, no timer left) or a failed run is a CHECK failure.
  template <class T>
  T Run(core::Task<T> task);
  void Run(core::Task<void> task);

  // Runs every event up to and including `t`, then sets the clock to `t`.
  core::Status RunUntil(core::Instant t);
  core::Status RunFor(core::Duration d) { return RunUntil(now() + d); }
  // Runs until nothing is ready, no foreground timer remains and every service is idle;
  // kTimeout when `max` passes first.
  core::Status RunUntilIdle(core::Duration max = core::Hours(24));
  bool IsIdle() const;

  // Host.
  const core::Clock& clock() const override { return clock_; }
  core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind,
                                      const core::CancelToken& cancel) override;
  void Spawn(core::Task<void> task) override { SpawnOn(io_, std::move(task)); }

  // Statistics for reports and the simulator benchmark.
  std::uint64_t handlers_run() const { return handlers_run_; }
  std::uint64_t timers_fired() const { return timers_fired_; }
  std::size_t pending_timers() const { return live_timers_; }

 private:
  class VirtualClock final : public core::Clock {
   public:
    core::Instant Now() const override { return now; }
    core::Instant now;
  };
  struct TimerSlot {
    core::UniqueFunction<void(core::Status)> handler;
    core::CancelToken cancel;
    core::CancelState::CallbackId cancel_id = 0;
    std::uint32_t generation = 0;
    core::TimerKind kind = core::TimerKind::kForeground;
    bool live = false;
  };
  struct HeapEntry {
    core::Instant t;
    std::uint64_t tie;
    std::uint64_t seq;
    std::uint32_t slot;
    std::uint32_t generation;
  };

  core::Task<void> DriveClockFaults();
  void AddTimer(core::Instant t, core::TimerKind kind, core::CancelToken cancel,
                core::UniqueFunction<void(core::Status)> handler);
  void CancelTimer(std::uint32_t slot, std::uint32_t generation);
  void ReleaseSlot(std::uint32_t slot);
  void Poll();
  // Pops the earliest live timer, advances the clock and posts its handler. False when none.
  bool FireNext(std::optional<core::Instant> limit);
  template <class Done>
  void DriveUntil(Done done);

  VirtualClock clock_;
  core::Random ties_;
  std::uint64_t handlers_run_ = 0;
  std::uint64_t timers_fired_ = 0;
  std::uint64_t timer_seq_ = 0;
  std::size_t live_timers_ = 0;
  std::size_t live_foreground_ = 0;
  // Destruction order matters: the timer slots go first (a suspended coroutine's handler posts
  // its unwinding to io_ when destroyed), then io_ (which destroys every queued handler and so
  // every suspended frame), and only then the trace, faults and clock views frames may use.
  // A World must be destroyed before its Simulator.
  boost::asio::io_context io_{1};
  std::vector<TimerSlot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<HeapEntry> heap_;
};

template <class Done>
void Simulator::DriveUntil(Done done) {
  while (true) {
    Poll();
    if (done()) return;
    CHECK_MSG(!failure(), failure()->ToString());
    CHECK_MSG(FireNext(std::nullopt),
              "Simulator::Run: the task can never complete (nothing is ready and no timer is "
              "pending)");
  }
}

template <class T>
T Simulator::Run(core::Task<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io_, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    done = true;
  });
  DriveUntil([&] { return done; });
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace cfemu::emulator
