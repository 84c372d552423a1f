#include "emulator/sim/clock_view.h"

#include <cstdint>
#include <cstdlib>
#include <memory>

#include <gtest/gtest.h>

#include "emulator/sim/fault_plan.h"
#include "emulator/sim/simulator.h"
#include "src/core/random.h"

namespace cfemu::emulator {
namespace {

using core::Duration;
using core::Instant;
using core::ManualClock;
using core::Milliseconds;
using core::Seconds;

TEST(ClockView, IsTheIdentityByDefault) {
  ManualClock base;
  ClockView view(base);
  EXPECT_TRUE(view.is_identity());
  EXPECT_EQ(&view.base(), &base);
  EXPECT_EQ(view.Now(), base.Now());
  base.Advance(Seconds(42));
  EXPECT_EQ(view.Now(), base.Now());
  const Instant t = Instant::FromUnixMs(123'456);
  EXPECT_EQ(view.FromBase(t), t);
  EXPECT_EQ(view.ToBase(t), t);
  EXPECT_EQ(view.offset(), Duration::Zero());
  EXPECT_EQ(view.drift_ppm(), 0);
}

TEST(ClockView, StepMovesTheViewForwardAndBackward) {
  ManualClock base;
  ClockView view(base);
  view.Step(Seconds(10));
  EXPECT_EQ(view.Now(), base.Now() + Seconds(10));
  EXPECT_FALSE(view.is_identity());
  view.Step(-Seconds(15));
  EXPECT_EQ(view.Now(), base.Now() - Seconds(5));
  EXPECT_EQ(view.offset(), -Seconds(5));
  base.Advance(Seconds(1));
  EXPECT_EQ(view.Now(), base.Now() - Seconds(5));  // A step does not change the rate.
  EXPECT_EQ(view.ToBase(view.Now()), base.Now());
  view.SetOffset(Duration::Zero());
  EXPECT_TRUE(view.is_identity());
  EXPECT_EQ(view.Now(), base.Now());
}

TEST(ClockView, PositiveDriftGainsAMillisecondPerSecondPerThousandPpm) {
  ManualClock base;
  ClockView view(base);
  view.SetDriftPpm(1000);
  EXPECT_EQ(view.drift_ppm(), 1000);
  const Instant view_start = view.Now();
  EXPECT_EQ(view_start, base.Now());  // Setting drift does not jump the view.
  base.Advance(Seconds(1));
  EXPECT_EQ(view.Now() - view_start, Milliseconds(1'001));
  base.Advance(Seconds(9));
  EXPECT_EQ(view.Now() - view_start, Milliseconds(10'010));
}

TEST(ClockView, NegativeDriftLosesTime) {
  ManualClock base;
  ClockView view(base);
  view.SetDriftPpm(-1000);
  const Instant view_start = view.Now();
  base.Advance(Seconds(1));
  EXPECT_EQ(view.Now() - view_start, Milliseconds(999));
  base.Advance(core::Hours(1) - Seconds(1));
  EXPECT_EQ(view.Now() - view_start, core::Hours(1) - Milliseconds(3'600));
}

TEST(ClockView, ChangingDriftKeepsTheTimeAccumulatedSoFar) {
  ManualClock base;
  ClockView view(base);
  view.Step(Seconds(2));
  view.SetDriftPpm(1000);
  base.Advance(Seconds(100));  // The view gained 100 ms on top of its 2 s offset.
  EXPECT_EQ(view.Now() - base.Now(), Milliseconds(2'100));
  view.SetDriftPpm(0);
  EXPECT_EQ(view.Now() - base.Now(), Milliseconds(2'100));
  base.Advance(Seconds(100));
  EXPECT_EQ(view.Now() - base.Now(), Milliseconds(2'100));
  EXPECT_EQ(view.offset(), Milliseconds(2'100));
}

// ToBase(v) is the earliest base instant at which the view reads at least v.
void ExpectToBaseInvertsFromBase(const ClockView& view, std::uint64_t seed) {
  core::Random random(seed);
  const Instant center = view.base().Now();
  for (int i = 0; i < 2'000; ++i) {
    const Instant v = center + Milliseconds(random.Range(-1'000'000'000, 1'000'000'000));
    const Instant b = view.ToBase(v);
    ASSERT_GE(view.FromBase(b), v) << "v=" << v.unix_ms() << " ppm=" << view.drift_ppm();
    ASSERT_LT(view.FromBase(b - Milliseconds(1)), v)
        << "v=" << v.unix_ms() << " ppm=" << view.drift_ppm();
    const Instant base_time = center + Milliseconds(random.Range(-1'000'000'000, 1'000'000'000));
    const Instant round_trip = view.ToBase(view.FromBase(base_time));
    ASSERT_LE(round_trip, base_time);
    ASSERT_EQ(view.FromBase(round_trip), view.FromBase(base_time));
    if (view.drift_ppm() >= 0) {
      ASSERT_EQ(round_trip, base_time);  // FromBase is injective.
    }
  }
}

TEST(ClockView, ToBaseInvertsFromBaseWithoutDrift) {
  ManualClock base;
  ClockView view(base);
  ExpectToBaseInvertsFromBase(view, 1);
  view.Step(Seconds(37));
  ExpectToBaseInvertsFromBase(view, 2);
  view.Step(-core::Hours(2));
  ExpectToBaseInvertsFromBase(view, 3);
}

TEST(ClockView, ToBaseInvertsFromBaseWithDrift) {
  const std::int64_t rates[] = {1, 999, 1'000, -1'000, 123'457, -250'000, 500'000, -999};
  std::uint64_t seed = 10;
  for (std::int64_t ppm : rates) {
    ManualClock base;
    ClockView view(base);
    view.Step(Milliseconds(1'234));
    base.Advance(Seconds(17));
    view.SetDriftPpm(ppm);  // Anchored here: the property must hold on both sides of it.
    base.Advance(Seconds(3));
    ExpectToBaseInvertsFromBase(view, ++seed);
  }
}

TEST(ClockView, AnInstantOnASteppedViewIsReachedEarlierInBaseTime) {
  ManualClock base;
  ClockView view(base);
  view.Step(Seconds(10));
  const Instant wake = core::kVirtualEpoch + Seconds(60);
  EXPECT_EQ(view.ToBase(wake), core::kVirtualEpoch + Seconds(50));
  // A relative wait keeps its length: the rate is unchanged.
  EXPECT_EQ(view.ToBase(view.Now() + Seconds(30)), base.Now() + Seconds(30));
}

}  // namespace
}  // namespace cfemu::emulator

namespace cfemu::emulator {
namespace {

std::unique_ptr<Simulator> WithClockFault(Fault fault) {
  SimulatorOptions options;
  FaultPlan plan(Profile::kStrict);
  FaultRule once;
  once.probability = 1.0;
  once.max_firings = 1;
  plan.Set(fault, once);
  options.faults = plan;
  return std::make_unique<Simulator>(1, options);
}

TEST(ClockFaults, T1JumpsAnActorsViewForwardByUpToALease) {
  auto sim = WithClockFault(Fault::kT1ForwardJump);
  ClockView& worker = sim->ClockFor("worker");
  ASSERT_TRUE(sim->RunFor(core::Seconds(11)).ok());  // One round of clock faults ran.
  EXPECT_EQ(sim->faults().fired(Fault::kT1ForwardJump), 1);
  EXPECT_GE(worker.Now() - sim->now(), core::Seconds(1));
  EXPECT_LE(worker.Now() - sim->now(), core::Seconds(30));
}

TEST(ClockFaults, T3StepsAnActorsViewBack) {
  auto sim = WithClockFault(Fault::kT3BackwardStep);
  ClockView& worker = sim->ClockFor("worker");
  ASSERT_TRUE(sim->RunFor(core::Seconds(11)).ok());
  EXPECT_LT(worker.Now(), sim->now());
  EXPECT_GE(worker.Now(), sim->now() - core::Seconds(5));
}

TEST(ClockFaults, T2GivesAnActorsViewAnOffsetAndADrift) {
  auto sim = WithClockFault(Fault::kT2Skew);
  ClockView& worker = sim->ClockFor("worker");
  ASSERT_TRUE(sim->RunFor(core::Seconds(11)).ok());
  EXPECT_EQ(sim->faults().fired(Fault::kT2Skew), 1);
  EXPECT_LE(std::abs(worker.drift_ppm()), 200);
  EXPECT_LE(std::abs(worker.offset().ms()), 2'000);
}

TEST(ClockFaults, AFaultFreeViewIsNeverPerturbed) {
  auto sim = WithClockFault(Fault::kT1ForwardJump);
  ClockView& coordinator = sim->ClockFor("Coordinator");
  coordinator.set_fault_free(true);
  ASSERT_TRUE(sim->RunFor(core::Minutes(5)).ok());
  EXPECT_EQ(coordinator.Now(), sim->now());
  EXPECT_EQ(sim->faults().fired(Fault::kT1ForwardJump), 0);
}

TEST(ClockFaults, WithoutClockFaultsNoDriverRuns) {
  Simulator sim(1);
  EXPECT_EQ(sim.pending_timers(), 0u);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
}

}  // namespace
}  // namespace cfemu::emulator
