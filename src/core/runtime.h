// The runtime a Worker's code sees: sleeping and spawning, nothing else. Three runtimes share
// this interface (cpp-contract.md, Time): the simulator (virtual time), real time (`serve`) and
// manual virtual time. Each actor gets its own Runtime, bound to its clock view and, inside an
// invocation, to its cancel token: `t` is read on the caller's clock view, and the sleep of a
// cancelled invocation completes with kCancelled.
#pragma once

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"

namespace cfemu::core {

// kBackground timers (cron, polls, periodic sweeps; retention, delay and lease timers of queues
// without a push consumer) do not keep RunUntilIdle busy.
enum class TimerKind { kForeground, kBackground };

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual Task<Status> SleepUntil(Instant t, TimerKind kind = TimerKind::kForeground) = 0;
  // Runs `task` to completion in the background. An exception escaping it is a programmer error.
  virtual void Spawn(Task<void> task) = 0;
};

// Sleeps for `d` measured on `clock` (the caller's clock view).
inline Task<Status> SleepFor(Runtime& runtime, const Clock& clock, Duration d,
                             TimerKind kind = TimerKind::kForeground) {
  return runtime.SleepUntil(clock.Now() + d, kind);
}

}  // namespace cfemu::core
