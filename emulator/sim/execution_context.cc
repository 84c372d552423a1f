#include "emulator/sim/execution_context.h"

namespace cfemu::emulator {

using core::Status;

InvocationContext::InvocationContext(Host& host, std::shared_ptr<Invocation> invocation,
                                     const ClockView& view)
    : host_(host), invocation_(std::move(invocation)), view_(view) {}

void InvocationContext::WaitUntil(core::Task<Status> task) {
  if (state_->pending++ == 0) state_->done.Reset();
  host_.Spawn(Track(state_, std::move(task)));
}

core::Instant InvocationContext::Deadline() const {
  return view_.FromBase(invocation_->deadline());
}

core::Task<void> InvocationContext::WaitAll() {
  // The state is held by this frame too: it outlives a context destroyed meanwhile.
  std::shared_ptr<State> state = state_;
  if (state->pending > 0) co_await state->done.Wait();
}

core::Task<void> InvocationContext::Track(std::shared_ptr<State> state, core::Task<Status> task) {
  Status status;
  try {
    status = co_await std::move(task);
  } catch (const std::exception& e) {
    status = Status::Unknown(std::string("uncaught exception: ") + e.what());
  } catch (...) {
    status = Status::Unknown("uncaught exception: unknown");
  }
  if (!status.ok()) state->ok = false;
  if (--state->pending == 0) state->done.Set();
}

}  // namespace cfemu::emulator
