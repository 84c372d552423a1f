#include "emulator/sim/realtime.h"

#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

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
    : HostBase(clock_, seed, profile, std::nullopt, trace), io_(io) {}

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

}  // namespace cfemu::emulator
