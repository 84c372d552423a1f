// The `ctx` of an invocation (a queue batch, a cron tick): WaitUntil() tasks run alongside the
// handler, and the invocation succeeds only if the handler and every WaitUntil task return OK.
//
// Ownership avoids a cycle: the event that WaitAll() waits on is owned by the pending tasks
// only (never by the waiting frame, which the event's waiter list owns), so a simulator torn
// down with tasks pending frees everything.
#pragma once

#include <memory>

#include "emulator/sim/clock_view.h"
#include "emulator/sim/host.h"
#include "emulator/sim/invocation.h"
#include "src/platform/queue.h"

namespace cfemu::emulator {

class InvocationContext final : public platform::ExecutionContext {
 public:
  // REQUIRES: `invocation` started; `view` is the clock view of the invoked Worker.
  InvocationContext(Host& host, std::shared_ptr<Invocation> invocation, const ClockView& view);

  void WaitUntil(core::Task<core::Status> task) override;
  core::Instant Deadline() const override;

  // Completes when every WaitUntil task has finished (at once when there is none).
  // REQUIRES: the context outlives the wait.
  core::Task<void> WaitAll();
  // False once any WaitUntil task failed (returned non-OK or threw).
  bool all_ok() const { return state_->ok; }

 private:
  struct State {
    int pending = 0;
    bool ok = true;
    std::weak_ptr<core::Event> done;  // Owned by the pending tasks.
  };
  static core::Task<void> Track(std::shared_ptr<State> state, std::shared_ptr<core::Event> done,
                                core::Task<core::Status> task);

  Host& host_;
  std::shared_ptr<Invocation> invocation_;
  const ClockView& view_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace cfemu::emulator
