#include "emulator/sim/actor_runtime.h"

namespace cfemu::emulator {

namespace {

core::Task<void> KeepAlive([[maybe_unused]] std::shared_ptr<void> owner, core::Task<void> task) {
  co_await std::move(task);
}

}  // namespace

void ActorRuntime::Spawn(core::Task<void> task) {
  if (auto owner = owner_.lock()) {
    scope_.host().Spawn(KeepAlive(std::move(owner), std::move(task)));
  } else {
    scope_.host().Spawn(std::move(task));
  }
}

core::Task<core::Status> ActorRuntime::SleepUntil(core::Instant t, core::TimerKind kind) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("runtime.sleep"));
  co_return co_await scope_.host().SleepUntil(scope_.clock().ToBase(t), kind, scope_.token());
}

}  // namespace cfemu::emulator
