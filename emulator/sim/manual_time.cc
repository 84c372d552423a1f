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
  explicit Sleeper(asio::io_context& io) : timer(io, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool due = false;
};

ManualTimeRuntime::ManualTimeRuntime(asio::io_context& io, std::uint64_t seed, Profile profile,
                                     core::Instant start, bool trace)
    : HostBase(clock_, seed, profile, std::nullopt, trace), io_(io), clock_(start) {}

ManualTimeRuntime::~ManualTimeRuntime() = default;

core::Task<Status> ManualTimeRuntime::SleepUntil(core::Instant t, core::TimerKind,
                                                 const core::CancelToken& cancel) {
  // Not a coroutine: the token is copied now (callers may pass a temporary).
  return Sleep(t, cancel);
}

core::Task<Status> ManualTimeRuntime::Sleep(core::Instant t, core::CancelToken cancel) {
  if (cancel && cancel->cancelled()) co_return Status::Cancelled(cancel->reason());
  if (t <= clock_.Now()) co_return Status::Ok();
  auto sleeper = std::make_shared<Sleeper>(io_);
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

}  // namespace cfemu::emulator
