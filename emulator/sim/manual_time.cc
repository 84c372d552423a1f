#include "emulator/sim/manual_time.h"

#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cfemu::emulator {

namespace asio = boost::asio;
using core::Status;

// A sleep is an Asio timer that never expires by itself: AdvanceTo() cancels it once it is
// due, and `due` tells that wake-up apart from a cancellation.
struct ManualTimeRuntime::Sleeper {
  Sleeper(asio::io_context& io, core::TimerKind kind)
      : timer(io, asio::steady_timer::time_point::max()), kind(kind) {}
  asio::steady_timer timer;
  core::TimerKind kind;
  bool due = false;
};

// A pending RunUntilIdle: its caller waits on `timer`, which the run cancels when it ends.
struct ManualTimeRuntime::IdleRun {
  IdleRun(asio::io_context& io, core::Instant deadline, core::Duration max)
      : timer(io, asio::steady_timer::time_point::max()), deadline(deadline), max(max) {}
  asio::steady_timer timer;
  core::Instant deadline;
  core::Duration max;
  std::optional<Status> result;
};

ManualTimeRuntime::ManualTimeRuntime(asio::io_context& io, std::uint64_t seed, Profile profile,
                                     core::Instant start, bool trace)
    : HostBase(clock_, seed, profile, std::nullopt, trace), io_(io), clock_(start) {}

ManualTimeRuntime::~ManualTimeRuntime() = default;

core::Task<Status> ManualTimeRuntime::SleepUntil(core::Instant t, core::TimerKind kind,
                                                 const core::CancelToken& cancel) {
  // Not a coroutine: the token is copied now (callers may pass a temporary).
  return Sleep(t, kind, cancel);
}

core::Task<Status> ManualTimeRuntime::Sleep(core::Instant t, core::TimerKind kind,
                                            core::CancelToken cancel) {
  if (cancel && cancel->cancelled()) co_return Status::Cancelled(cancel->reason());
  if (t <= clock_.Now()) co_return Status::Ok();
  auto sleeper = std::make_shared<Sleeper>(io_, kind);
  sleepers_.emplace(t, sleeper);
  const core::CancelState::CallbackId id =
      cancel ? cancel->OnCancel([sleeper] { sleeper->timer.cancel(); }) : 0;
  boost::system::error_code error;
  co_await sleeper->timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
  if (cancel) cancel->Remove(id);
  if (cancel && cancel->cancelled()) co_return Status::Cancelled(cancel->reason());
  if (!sleeper->due) co_return Status::Cancelled("timer cancelled");
  co_return Status::Ok();
}

void ManualTimeRuntime::AdvanceTo(core::Instant t) {
  if (t <= clock_.Now()) return;
  clock_.Set(t);
  while (!sleepers_.empty() && sleepers_.begin()->first <= t) {
    const std::shared_ptr<Sleeper> sleeper = sleepers_.begin()->second.lock();
    sleepers_.erase(sleepers_.begin());
    if (!sleeper) continue;  // Its coroutine is gone.
    sleeper->due = true;
    sleeper->timer.cancel();
  }
}

std::optional<core::Instant> ManualTimeRuntime::NextSleeper(
    std::optional<core::TimerKind> kind) {
  for (auto it = sleepers_.begin(); it != sleepers_.end();) {
    const std::shared_ptr<Sleeper> sleeper = it->second.lock();
    if (!sleeper) {  // Its coroutine is gone (cancelled or destroyed).
      it = sleepers_.erase(it);
      continue;
    }
    if (!kind || sleeper->kind == *kind) return it->first;
    ++it;
  }
  return std::nullopt;
}

core::Task<Status> ManualTimeRuntime::RunUntilIdle(core::Duration max) {
  if (idle_run_) co_return Status::FailedPrecondition("an idle run is already going on");
  auto run = std::make_shared<IdleRun>(io_, clock_.Now() + max, max);
  idle_run_ = run;
  boost::system::error_code error;
  co_await run->timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
  co_return run->result.value_or(Status::Cancelled("the runtime stopped"));
}

void ManualTimeRuntime::StepIdleRun() {
  const auto finish = [this](Status status) {
    const std::shared_ptr<IdleRun> run = std::move(idle_run_);
    run->result = std::move(status);
    run->timer.cancel();
  };
  if (failure()) return finish(*failure());
  if (!NextSleeper(core::TimerKind::kForeground) && ServicesIdle()) return finish(Status::Ok());
  const std::optional<core::Instant> next = NextSleeper(std::nullopt);
  if (!next) {
    return finish(Status::FailedPrecondition(
        "run-until-idle: a service reports pending work but no timer is left to drive it"));
  }
  if (*next > idle_run_->deadline) {
    AdvanceTo(idle_run_->deadline);
    return finish(Status::Timeout("run-until-idle: still busy after " +
                                  idle_run_->max.ToString() + " of virtual time"));
  }
  AdvanceTo(*next);
}

bool ManualTimeRuntime::RunOne() {
  if (io_.stopped()) return false;
  if (idle_run_) {
    if (io_.poll() == 0 && idle_run_) StepIdleRun();
    return !io_.stopped();
  }
  return io_.run_one() > 0;
}

}  // namespace cfemu::emulator
