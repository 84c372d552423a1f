// The manual-virtual-time runtime: sleeps complete only when the clock is advanced past them.
// The io_context is polled on this thread; nothing waits.
#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/sim/manual_time.h"

#include <optional>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "src/core/cancel.h"
#include "src/core/task.h"

namespace cfemu::emulator {
namespace {

using core::Seconds;
using core::Status;

core::Task<void> SleepThenRecord(ManualTimeRuntime& runtime, core::Instant t,
                                 core::CancelToken cancel, std::optional<Status>& out) {
  out = co_await runtime.SleepUntil(t, core::TimerKind::kForeground, cancel);
}

TEST(ManualTimeRuntime, ClockMovesOnlyWhenAdvanced) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  EXPECT_EQ(runtime.clock().Now(), core::kVirtualEpoch);
  runtime.AdvanceBy(Seconds(5));
  EXPECT_EQ(runtime.clock().Now(), core::kVirtualEpoch + Seconds(5));
  runtime.AdvanceTo(core::kVirtualEpoch);  // Never back.
  EXPECT_EQ(runtime.clock().Now(), core::kVirtualEpoch + Seconds(5));
}

TEST(ManualTimeRuntime, SleepCompletesWhenTheClockReachesIt) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  std::optional<Status> done;
  runtime.Spawn(SleepThenRecord(runtime, core::kVirtualEpoch + Seconds(10), nullptr, done));
  io.poll();
  EXPECT_FALSE(done);
  runtime.AdvanceBy(Seconds(9));
  io.poll();
  EXPECT_FALSE(done);
  runtime.AdvanceBy(Seconds(1));
  io.poll();
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->ok());
  EXPECT_EQ(runtime.sleepers(), 0u);
}

TEST(ManualTimeRuntime, CancelledSleepCompletesWithCancelled) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  auto token = core::MakeCancelToken();
  std::optional<Status> done;
  runtime.Spawn(SleepThenRecord(runtime, core::kVirtualEpoch + Seconds(10), token, done));
  io.poll();
  token->Cancel("killed");
  io.poll();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), core::Code::kCancelled);
}

// A chain of sleeps, each recording the time it woke at: what RunUntilIdle must step through.
core::Task<void> SleepChain(ManualTimeRuntime& runtime, std::vector<core::Instant>& woke,
                            int steps, core::TimerKind kind) {
  for (int i = 0; i < steps; ++i) {
    const Status slept =
        co_await runtime.SleepUntil(runtime.clock().Now() + Seconds(10), kind, nullptr);
    if (!slept.ok()) co_return;
    woke.push_back(runtime.clock().Now());
  }
}

core::Task<void> IdleRun(ManualTimeRuntime& runtime, core::Duration max,
                         std::optional<Status>& out) {
  out = co_await runtime.RunUntilIdle(max);
}

TEST(ManualTimeRuntime, RunUntilIdleStepsFromTimerToTimerUntilNoForegroundSleeperIsLeft) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  std::vector<core::Instant> woke;
  std::vector<core::Instant> background;
  runtime.Spawn(SleepChain(runtime, woke, 3, core::TimerKind::kForeground));
  runtime.Spawn(SleepChain(runtime, background, 100, core::TimerKind::kBackground));
  std::optional<Status> done;
  runtime.Spawn(IdleRun(runtime, core::Hours(1), done));
  while (!done && runtime.RunOne()) {
  }
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->ok()) << done->ToString();
  // Each sleeper saw its own due time, not a later jump.
  EXPECT_EQ(woke, (std::vector<core::Instant>{core::kVirtualEpoch + Seconds(10),
                                              core::kVirtualEpoch + Seconds(20),
                                              core::kVirtualEpoch + Seconds(30)}));
  EXPECT_EQ(runtime.clock().Now(), core::kVirtualEpoch + Seconds(30));
  EXPECT_EQ(background.size(), 3u);  // Background timers run on the way, never keep it busy.
  EXPECT_FALSE(runtime.idle_run_pending());
}

TEST(ManualTimeRuntime, RunUntilIdleTimesOutAtItsMaximumWithTheClockThere) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  std::vector<core::Instant> woke;
  runtime.Spawn(SleepChain(runtime, woke, 100, core::TimerKind::kForeground));
  std::optional<Status> done;
  runtime.Spawn(IdleRun(runtime, Seconds(35), done));
  while (!done && runtime.RunOne()) {
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), core::Code::kTimeout) << done->ToString();
  EXPECT_EQ(woke.size(), 3u);
  EXPECT_EQ(runtime.clock().Now(), core::kVirtualEpoch + Seconds(35));
}

TEST(ManualTimeRuntime, OneIdleRunAtATime) {
  boost::asio::io_context io;
  ManualTimeRuntime runtime(io, 1, Profile::kStrict);
  std::vector<core::Instant> woke;
  runtime.Spawn(SleepChain(runtime, woke, 2, core::TimerKind::kForeground));
  std::optional<Status> first;
  std::optional<Status> second;
  runtime.Spawn(IdleRun(runtime, core::Hours(1), first));
  runtime.Spawn(IdleRun(runtime, core::Hours(1), second));
  while (!first && runtime.RunOne()) {
  }
  ASSERT_TRUE(second);
  EXPECT_EQ(second->code(), core::Code::kFailedPrecondition);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->ok());
}

}  // namespace
}  // namespace cfemu::emulator
