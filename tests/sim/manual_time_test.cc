// The manual-virtual-time runtime: sleeps complete only when the clock is advanced past them.
// The io_context is polled on this thread; nothing waits.
#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/sim/manual_time.h"

#include <optional>

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

}  // namespace
}  // namespace cfemu::emulator
