// The one test file that uses real time: the real-time runtime over an io_context. Every run of
// the io_context is bounded (run_for at most 2 s), and nothing sleeps.
#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/sim/realtime.h"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/invocation.h"
#include "src/core/cancel.h"
#include "src/core/task.h"

namespace cfemu::emulator {
namespace {

using core::Code;
using core::Status;
using core::Task;
using core::TimerKind;

constexpr std::chrono::seconds kBound(2);

// Takes the token by value so that it lives in this frame for the whole wait.
Task<Status> Sleep(RealTimeRuntime& runtime, core::Instant t, core::CancelToken token) {
  co_return co_await runtime.SleepUntil(t, TimerKind::kForeground, token);
}

Task<void> Throw() {
  throw std::runtime_error("realtime boom");
  co_return;
}

void Start(boost::asio::io_context& io, Task<Status> task, std::optional<Status>* out) {
  boost::asio::co_spawn(io, std::move(task), [out](std::exception_ptr error, Status status) {
    if (error) {
      *out = Status::Unknown("exception");
    } else {
      *out = std::move(status);
    }
  });
}

TEST(RealTimeRuntime, ClockIsTheSystemClock) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, /*seed=*/1, Profile::kStrict);
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  const std::int64_t now = runtime.clock().Now().unix_ms();
  EXPECT_LT(std::llabs(now - wall), 60'000);
  EXPECT_GT(now, core::Instant::FromUnixMs(1'700'000'000'000).unix_ms());
  EXPECT_EQ(runtime.profile(), Profile::kStrict);
  EXPECT_FALSE(runtime.trace().enabled());
  EXPECT_FALSE(runtime.faults().Enabled(Fault::kQ3DuplicateDelivery));
}

TEST(RealTimeRuntime, SleepUntilAPastInstantCompletesOk) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  std::optional<Status> result;
  std::optional<Status> with_token;
  Start(io, Sleep(runtime, core::Instant::FromUnixMs(0), nullptr), &result);
  Start(io, Sleep(runtime, runtime.clock().Now() - core::Seconds(1), core::MakeCancelToken()),
        &with_token);
  io.run_for(kBound);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok()) << result->ToString();
  ASSERT_TRUE(with_token.has_value());
  EXPECT_TRUE(with_token->ok()) << with_token->ToString();
}

TEST(RealTimeRuntime, SleepWithACancelledTokenCompletesCancelled) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  core::CancelToken token = core::MakeCancelToken();
  token->Cancel("already cancelled");
  std::optional<Status> result;
  Start(io, Sleep(runtime, runtime.clock().Now() + core::Hours(1), token), &result);
  io.run_for(kBound);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code(), Code::kCancelled);
  EXPECT_EQ(result->message(), "already cancelled");
}

TEST(RealTimeRuntime, CancellingAPendingFarFutureSleepCompletesItPromptly) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  core::CancelToken token = core::MakeCancelToken();
  std::optional<Status> result;
  Start(io, Sleep(runtime, runtime.clock().Now() + core::Hours(1), token), &result);
  io.poll();  // Runs until the sleep waits on its timer; never blocks.
  EXPECT_FALSE(result.has_value());
  token->Cancel("shutting down");
  const auto begin = std::chrono::steady_clock::now();
  io.run_for(kBound);
  const auto elapsed = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code(), Code::kCancelled);
  EXPECT_EQ(result->message(), "shutting down");
  EXPECT_LT(elapsed, kBound);  // It returned because the work ran out, not at the bound.
}

TEST(RealTimeRuntime, SleepUntilKeepsItsOwnCopyOfTheToken) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  std::optional<core::CancelToken> slot(core::MakeCancelToken());
  const core::CancelToken token = *slot;
  Task<Status> sleep =
      runtime.SleepUntil(runtime.clock().Now() + core::Hours(1), TimerKind::kForeground, *slot);
  // The caller's variable is replaced before the task first runs: the task must not notice.
  slot.reset();
  slot.emplace(core::MakeCancelToken());
  std::optional<Status> result;
  Start(io, std::move(sleep), &result);
  io.poll();
  EXPECT_FALSE(result.has_value());
  token->Cancel("stop");
  io.run_for(kBound);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code(), Code::kCancelled);
}

// ActorScope::Sleep is not a coroutine: the token it passes is a temporary that is gone by
// the time the returned task first runs, so the runtime must not keep a reference to it.
TEST(RealTimeRuntime, ActorScopeSleepOfAKilledInvocationCompletesCancelled) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  auto invocation = std::make_shared<Invocation>(
      runtime, "consumer", runtime.clock().Now() + core::Minutes(15), std::nullopt);
  ActorScope scope(runtime, "consumer", runtime.ClockFor("consumer"), invocation);
  std::optional<Status> result;
  Start(io, scope.Sleep(core::Hours(1)), &result);
  io.poll();
  EXPECT_FALSE(result.has_value());
  invocation->Kill(KillReason::kCrash, std::nullopt, "test", "test");
  io.run_for(kBound);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code(), Code::kCancelled) << result->ToString();
}

TEST(RealTimeRuntime, ClockViewsArePerActor) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  ClockView& a = runtime.ClockFor("a");
  EXPECT_EQ(&a, &runtime.ClockFor("a"));
  EXPECT_NE(&a, &runtime.ClockFor("b"));
  EXPECT_TRUE(a.is_identity());
  a.Step(core::Hours(1));
  EXPECT_TRUE(runtime.ClockFor("b").is_identity());
  EXPECT_EQ(&a.base(), &runtime.clock());
}

TEST(RealTimeRuntime, ASpawnedTaskThatThrowsRecordsAFailure) {
  boost::asio::io_context io;
  RealTimeRuntime runtime(io, 1, Profile::kStrict);
  runtime.Spawn(Throw());
  io.run_for(kBound);
  ASSERT_TRUE(runtime.failure().has_value());
  EXPECT_EQ(runtime.failure()->code(), Code::kUnknown);
  EXPECT_NE(runtime.failure()->message().find("realtime boom"), std::string::npos);
}

}  // namespace
}  // namespace cfemu::emulator
