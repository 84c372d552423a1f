#include "emulator/sim/actor_runtime.h"

namespace cfemu::emulator {

core::Task<core::Status> ActorRuntime::SleepUntil(core::Instant t, core::TimerKind kind) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("runtime.sleep"));
  co_return co_await scope_.host().SleepUntil(scope_.clock().ToBase(t), kind, scope_.token());
}

}  // namespace cfemu::emulator
