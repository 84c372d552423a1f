// The manual-virtual-time runtime (cpp-contract.md, Time): real sockets and handlers on an
// io_context the caller runs, but a virtual clock that moves only when told to (AdvanceTo), so
// a client in a test, or later `serve --virtual-time`, can move every service's clock at once
// (queue delays and leases, KV expiry, alarms, cron). Same Host interface as the simulator.
//
// An advance jumps: every sleeper due by the new time wakes, in time order, and sees the new
// time as now (the simulator instead stops the clock at each timer on the way).
#pragma once

#include <utility>

#include <map>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "emulator/sim/host_base.h"

namespace cfemu::emulator {

class ManualTimeRuntime final : public HostBase {
 public:
  // `io` must outlive the runtime; the caller runs it. The clock starts at `start`.
  ManualTimeRuntime(boost::asio::io_context& io, std::uint64_t seed, Profile profile,
                    core::Instant start = core::kVirtualEpoch, bool trace = false);
  ~ManualTimeRuntime() override;

  const core::Clock& clock() const override { return clock_; }
  core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind,
                                      const core::CancelToken& cancel) override;
  void Spawn(core::Task<void> task) override { SpawnOn(io_, std::move(task)); }

  // Moves the clock to `t` (never back) and wakes every sleeper due by then; they run when the
  // io_context next runs handlers. Call on the io_context's thread.
  void AdvanceTo(core::Instant t);
  void AdvanceBy(core::Duration d) { AdvanceTo(clock_.Now() + d); }
  std::size_t sleepers() const { return sleepers_.size(); }

  // Runs until idle, as the simulator's RunUntilIdle does, while the io_context keeps serving:
  // whenever no handler is ready (see RunOne), the clock moves to the earliest sleeper, until
  // every service reports idle and no foreground sleeper is left (Ok), `max` of virtual time has
  // passed (kTimeout, the clock at now + max), or a service reports work that no sleeper will
  // drive (kFailedPrecondition). One run at a time: kFailedPrecondition while one is going on.
  // The task completes on the io_context's thread when the run ends.
  core::Task<core::Status> RunUntilIdle(core::Duration max);
  bool idle_run_pending() const { return idle_run_ != nullptr; }

  // One turn of the loop that drives this runtime (serve --virtual-time): runs the handlers
  // that are ready; when none is and an idle run is pending, takes one step of it; otherwise
  // blocks for the next handler. False once the io_context has stopped or ran out of work.
  bool RunOne();

 private:
  struct Sleeper;
  struct IdleRun;
  // One step of the pending idle run; REQUIRES: idle_run_pending() and no handler ready.
  void StepIdleRun();
  // The earliest sleeper still waiting (of `kind` only, when given).
  std::optional<core::Instant> NextSleeper(std::optional<core::TimerKind> kind);
  core::Task<core::Status> Sleep(core::Instant t, core::TimerKind kind, core::CancelToken cancel);

  boost::asio::io_context& io_;
  core::ManualClock clock_;
  std::multimap<core::Instant, std::weak_ptr<Sleeper>> sleepers_;
  std::shared_ptr<IdleRun> idle_run_;
};

}  // namespace cfemu::emulator
