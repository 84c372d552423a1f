#include "emulator/sim/execution_context.h"

namespace cfemu::emulator {

using core::Status;

InvocationContext::InvocationContext(Host& host, std::shared_ptr<Invocation> invocation,
                                     const ClockView& view)
    : host_(host), invocation_(std::move(invocation)), view_(view) {}

void InvocationContext::WaitUntil(core::Task<Status> task) {
  std::shared_ptr<core::Event> done = state_->done.lock();
  if (!done) {
    done = std::make_shared<core::Event>();
    state_->done = done;
  }
  if (state_->pending++ == 0) done->Reset();
  host_.Spawn(Track(state_, std::move(done), std::move(task)));
}

core::Instant InvocationContext::Deadline() const {
  return view_.FromBase(invocation_->deadline());
}

core::Task<void> InvocationContext::WaitAll() {
  if (state_->pending == 0) co_return;
  core::Event* done = state_->done.lock().get();  // Kept alive by the pending tasks.
  if (done != nullptr) co_await done->Wait();
}

core::Task<void> InvocationContext::Track(std::shared_ptr<State> state,
                                          std::shared_ptr<core::Event> done,
                                          core::Task<Status> task) {
  Status status;
  try {
    status = co_await std::move(task);
  } catch (const std::exception& e) {
    status = Status::Unknown(std::string("uncaught exception: ") + e.what());
  } catch (...) {
    status = Status::Unknown("uncaught exception: unknown");
  }
  if (!status.ok()) state->ok = false;
  if (--state->pending == 0) done->Set();
}

}  // namespace cfemu::emulator
