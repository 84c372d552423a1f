// Host: what the emulated services need from a runtime. The simulator (virtual time) and the
// real-time runtime (`serve`) both implement it, so every service runs unchanged on either.
// Times given to a Host are true (base) times; per-actor clock views convert before calling.
#pragma once

#include <functional>
#include <string_view>

#include "emulator/sim/clock_view.h"
#include "emulator/sim/fault_plan.h"
#include "emulator/sim/latency.h"
#include "src/core/cancel.h"
#include "src/core/random.h"
#include "src/core/runtime.h"
#include "src/core/trace.h"

namespace cfemu::emulator {

class Host {
 public:
  virtual ~Host() = default;

  // The true clock: virtual time in simulation, the system clock in real time.
  virtual const core::Clock& clock() const = 0;
  // The clock view of a named actor (created on first use, identity until a clock fault moves
  // it). The reference stays valid for the Host's lifetime.
  virtual ClockView& ClockFor(std::string_view actor) = 0;

  // Completes with OK at true time `t`, or with kCancelled as soon as `cancel` (may be null) is
  // cancelled; at once if it already is.
  virtual core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind,
                                              const core::CancelToken& cancel) = 0;
  // Runs `task` to completion in the background. An exception escaping it fails the run.
  virtual void Spawn(core::Task<void> task) = 0;

  // Services report whether they still have work that must finish before the world is idle
  // (e.g. the broker: "no deliverable message"). Checks run in registration order. A service
  // removes its check (by the returned id) when it is destroyed.
  virtual int AddIdleCheck(std::function<bool()> is_idle) = 0;
  virtual void RemoveIdleCheck(int id) = 0;
  // Ends the run with a clear error (e.g. a killed invocation that keeps awaiting).
  virtual void Fail(core::Status error) = 0;

  virtual core::Random& random() = 0;  // The root stream: services Fork() from it by name.
  virtual core::TraceSink& trace() = 0;
  virtual FaultInjector& faults() = 0;
  virtual LatencyModel& latency() = 0;
  virtual Profile profile() const = 0;
};

}  // namespace cfemu::emulator
