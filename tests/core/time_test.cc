#include "src/core/time.h"

#include <gtest/gtest.h>

namespace cfemu::core {
namespace {

TEST(Duration, ConstructorsAgreeOnMilliseconds) {
  EXPECT_EQ(Milliseconds(1500).ms(), 1500);
  EXPECT_EQ(Seconds(2).ms(), 2000);
  EXPECT_EQ(Minutes(3).ms(), 180'000);
  EXPECT_EQ(Hours(1).ms(), 3'600'000);
  EXPECT_EQ(Days(4).ms(), 345'600'000);
  EXPECT_EQ(Duration::Zero().ms(), 0);
  EXPECT_EQ(Duration().ms(), 0);
  EXPECT_GT(Duration::Infinite(), Days(365 * 10'000));
}

TEST(Duration, Arithmetic) {
  EXPECT_EQ(Seconds(1) + Milliseconds(500), Milliseconds(1500));
  EXPECT_EQ(Seconds(1) - Milliseconds(1500), Milliseconds(-500));
  EXPECT_EQ(-Seconds(3), Milliseconds(-3000));
  EXPECT_EQ(Seconds(3) * 4, Seconds(12));
  EXPECT_EQ(Seconds(3) / 2, Milliseconds(1500));
  Duration d = Seconds(1);
  d += Seconds(2);
  EXPECT_EQ(d, Seconds(3));
  d -= Milliseconds(1);
  EXPECT_EQ(d.ms(), 2999);
}

TEST(Duration, SecondsTruncate) {
  EXPECT_EQ(Milliseconds(1999).seconds(), 1);
  EXPECT_EQ(Milliseconds(999).seconds(), 0);
  EXPECT_EQ(Milliseconds(-1500).seconds(), -1);
}

TEST(Duration, Ordering) {
  EXPECT_LT(Milliseconds(999), Seconds(1));
  EXPECT_GT(Minutes(1), Seconds(59));
  EXPECT_EQ(Minutes(1), Seconds(60));
  EXPECT_LE(Seconds(1), Seconds(1));
}

TEST(Duration, ToStringPicksTheLargestExactUnit) {
  EXPECT_EQ(Milliseconds(1500).ToString(), "1500ms");
  EXPECT_EQ(Seconds(90).ToString(), "90s");
  EXPECT_EQ(Hours(2).ToString(), "2h");
  EXPECT_EQ(Minutes(90).ToString(), "5400s");
  EXPECT_EQ(Duration::Zero().ToString(), "0ms");
  EXPECT_EQ(Milliseconds(1).ToString(), "1ms");
  EXPECT_EQ(Seconds(-3).ToString(), "-3s");
  EXPECT_EQ(Days(1).ToString(), "24h");
}

TEST(Instant, Arithmetic) {
  const Instant t = Instant::FromUnixMs(10'000);
  EXPECT_EQ((t + Seconds(1)).unix_ms(), 11'000);
  EXPECT_EQ((t - Seconds(1)).unix_ms(), 9'000);
  EXPECT_EQ(Instant::FromUnixMs(12'500) - t, Milliseconds(2500));
  EXPECT_EQ(t - Instant::FromUnixMs(12'500), Milliseconds(-2500));
  Instant u = t;
  u += Minutes(1);
  EXPECT_EQ(u.unix_ms(), 70'000);
  EXPECT_LT(t, u);
  EXPECT_LT(u, Instant::Max());
  EXPECT_EQ(Instant().unix_ms(), 0);
}

TEST(Instant, VirtualEpochIsStartOf2026) {
  EXPECT_EQ(kVirtualEpoch.unix_ms(), 1'767'225'600'000);
  EXPECT_EQ(kVirtualEpoch.ToRfc3339(), "2026-01-01T00:00:00.000Z");
}

TEST(Instant, ToRfc3339AtTheUnixEpoch) {
  EXPECT_EQ(Instant::FromUnixMs(0).ToRfc3339(), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Instant::FromUnixMs(1).ToRfc3339(), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(Instant::FromUnixMs(86'399'999).ToRfc3339(), "1970-01-01T23:59:59.999Z");
}

TEST(Instant, ToRfc3339WithMillisecondsAndTimeOfDay) {
  const Instant t = kVirtualEpoch + Hours(13) + Minutes(4) + Seconds(5) + Milliseconds(67);
  EXPECT_EQ(t.ToRfc3339(), "2026-01-01T13:04:05.067Z");
  EXPECT_EQ((kVirtualEpoch - Milliseconds(1)).ToRfc3339(), "2025-12-31T23:59:59.999Z");
}

TEST(Instant, ToRfc3339OnLeapDays) {
  EXPECT_EQ(Instant::FromUnixMs(1'835'481'599'999).ToRfc3339(), "2028-02-29T23:59:59.999Z");
  EXPECT_EQ(Instant::FromUnixMs(1'835'481'600'000).ToRfc3339(), "2028-03-01T00:00:00.000Z");
  EXPECT_EQ(Instant::FromUnixMs(951'782'400'000).ToRfc3339(), "2000-02-29T00:00:00.000Z");
  // 2026 is not a leap year: Feb 28 + 1 day is Mar 1.
  EXPECT_EQ((kVirtualEpoch + Days(31 + 28)).ToRfc3339(), "2026-03-01T00:00:00.000Z");
}

TEST(Instant, ToRfc3339BeforeTheUnixEpoch) {
  EXPECT_EQ(Instant::FromUnixMs(-1).ToRfc3339(), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Instant::FromUnixMs(-86'400'000).ToRfc3339(), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(Instant::FromUnixMs(-86'400'001).ToRfc3339(), "1969-12-30T23:59:59.999Z");
  // 1900 is not a leap year (divisible by 100, not by 400).
  EXPECT_EQ(Instant::FromUnixMs(-2'203'848'000'000).ToRfc3339(), "1900-03-01T12:00:00.000Z");
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock;
  EXPECT_EQ(clock.Now(), kVirtualEpoch);
  clock.Advance(Seconds(5));
  EXPECT_EQ(clock.Now(), kVirtualEpoch + Seconds(5));
  clock.Set(Instant::FromUnixMs(42));
  EXPECT_EQ(clock.Now().unix_ms(), 42);
}

}  // namespace
}  // namespace cfemu::core
