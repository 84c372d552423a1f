#include "emulator/sim/realtime.h"

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/core/log.h"

namespace cfemu::emulator {

namespace asio = boost::asio;
using core::Status;

core::Instant SystemClock::Now() const {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return core::Instant::FromUnixMs(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count());
}

RealTimeRuntime::RealTimeRuntime(asio::io_context& io, std::uint64_t seed, Profile profile,
                                 bool trace)
    : io_(io),
      profile_(profile),
      random_(seed),
      trace_(trace),
      latency_(random_.Fork("sim/latency"), profile),
      faults_(FaultPlan(profile), random_.Fork("sim/faults"), trace_, clock_) {
  trace_.set_clock(&clock_);
}

ClockView& RealTimeRuntime::ClockFor(std::string_view actor) {
  auto it = views_.find(actor);
  if (it == views_.end()) {
    it = views_.emplace(std::string(actor), std::make_unique<ClockView>(clock_)).first;
  }
  return *it->second;
}

core::Task<Status> RealTimeRuntime::SleepUntil(core::Instant t, core::TimerKind,
                                               const core::CancelToken& cancel) {
  // Not a coroutine: the token is copied now. A coroutine would keep a reference to it, and
  // callers may pass a temporary that is gone before the task first runs (ActorScope::Sleep).
  return SleepOnTimer(t, cancel);
}

core::Task<Status> RealTimeRuntime::SleepOnTimer(core::Instant t, core::CancelToken cancel) {
  if (cancel && cancel->cancelled()) co_return Status::Cancelled(cancel->reason());
  auto timer = std::make_shared<asio::system_timer>(io_);
  timer->expires_at(std::chrono::system_clock::time_point(std::chrono::milliseconds(t.unix_ms())));
  const core::CancelState::CallbackId id =
      cancel ? cancel->OnCancel([timer] { timer->cancel(); }) : 0;
  boost::system::error_code error;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
  if (cancel) cancel->Remove(id);
  if (cancel && cancel->cancelled()) co_return Status::Cancelled(cancel->reason());
  if (error == asio::error::operation_aborted) co_return Status::Cancelled("timer cancelled");
  co_return Status::Ok();
}

void RealTimeRuntime::Spawn(core::Task<void> task) {
  asio::co_spawn(io_, std::move(task), [this](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      Fail(Status::Unknown(std::string("uncaught exception in a spawned task: ") + e.what()));
    } catch (...) {
      Fail(Status::Unknown("uncaught non-standard exception in a spawned task"));
    }
  });
}

int RealTimeRuntime::AddIdleCheck(std::function<bool()> is_idle) {
  const int id = next_idle_check_++;
  idle_checks_.emplace(id, std::move(is_idle));
  return id;
}

void RealTimeRuntime::RemoveIdleCheck(int id) { idle_checks_.erase(id); }

void RealTimeRuntime::Fail(Status error) {
  CFEMU_LOG(core::LogLevel::kError, "runtime failure: {}", error.ToString());
  if (!failure_) failure_ = std::move(error);
}

}  // namespace cfemu::emulator
