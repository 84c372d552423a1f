#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/sim/simulator.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/core/cancel.h"
#include "src/core/task.h"

namespace cfemu::emulator {
namespace {

using core::CancelToken;
using core::Code;
using core::Duration;
using core::Hours;
using core::Instant;
using core::Milliseconds;
using core::Minutes;
using core::Seconds;
using core::Status;
using core::Task;
using core::TimerKind;

struct Wake {
  int id;
  Instant at;
};

Task<void> SleepAndLog(Simulator& sim, Instant t, int id, std::vector<Wake>* log,
                       TimerKind kind = TimerKind::kForeground) {
  const Status slept = co_await sim.SleepUntil(t, kind, nullptr);
  EXPECT_TRUE(slept.ok()) << slept.ToString();
  log->push_back(Wake{id, sim.now()});
}

struct Outcome {
  bool done = false;
  Status status;
  Instant at;
};

Task<void> SleepRecording(Simulator& sim, Instant t, CancelToken token, Outcome* out,
                          TimerKind kind = TimerKind::kForeground) {
  out->status = co_await sim.SleepUntil(t, kind, token);
  out->at = sim.now();
  out->done = true;
}

Task<void> CancelAfter(Simulator& sim, Duration d, CancelToken token) {
  (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  token->Cancel("stopped by test");
}

Task<void> ThrowAfter(Simulator& sim, Duration d) {
  (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  throw std::runtime_error("boom");
}

Task<int> AddAfter(Simulator& sim, Duration d, int a, int b) {
  (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  co_return a + b;
}

std::vector<int> Ids(const std::vector<Wake>& log) {
  std::vector<int> ids;
  for (const Wake& wake : log) ids.push_back(wake.id);
  return ids;
}

// The wake-up order of eight timers that all fire at the same instant.
std::vector<int> SameInstantOrder(std::uint64_t seed) {
  std::vector<Wake> log;
  Simulator sim(seed);
  const Instant t = sim.now() + Seconds(1);
  for (int i = 0; i < 8; ++i) sim.Spawn(SleepAndLog(sim, t, i, &log));
  EXPECT_TRUE(sim.RunUntilIdle().ok());
  for (const Wake& wake : log) EXPECT_EQ(wake.at, t);
  return Ids(log);
}

TEST(Simulator, StartsAtTheVirtualEpochOrTheGivenStart) {
  Simulator sim(1);
  EXPECT_EQ(sim.now(), core::kVirtualEpoch);
  EXPECT_EQ(sim.clock().Now(), core::kVirtualEpoch);
  EXPECT_EQ(sim.seed(), 1u);
  SimulatorOptions options;
  options.start = Instant::FromUnixMs(0);
  Simulator from_zero(1, options);
  EXPECT_EQ(from_zero.now(), Instant::FromUnixMs(0));
}

TEST(Simulator, RunForAdvancesVirtualTimeExactly) {
  SimulatorOptions options;
  options.start = Instant::FromUnixMs(1'000);
  Simulator sim(1, options);
  ASSERT_TRUE(sim.RunFor(Seconds(5)).ok());
  EXPECT_EQ(sim.now(), Instant::FromUnixMs(6'000));
  // A year of virtual time passes at once: nothing waits on the wall clock.
  ASSERT_TRUE(sim.RunFor(core::Days(365)).ok());
  EXPECT_EQ(sim.now(), Instant::FromUnixMs(6'000) + core::Days(365));
  ASSERT_TRUE(sim.RunFor(Duration::Zero()).ok());
  EXPECT_EQ(sim.now(), Instant::FromUnixMs(6'000) + core::Days(365));
}

TEST(Simulator, RunUntilSetsTheClockAndNeverMovesItBack) {
  Simulator sim(1);
  const Instant start = sim.now();
  ASSERT_TRUE(sim.RunUntil(start + Minutes(3)).ok());
  EXPECT_EQ(sim.now(), start + Minutes(3));
  ASSERT_TRUE(sim.RunUntil(start).ok());
  EXPECT_EQ(sim.now(), start + Minutes(3));
}

TEST(Simulator, RunUntilFiresTimersUpToAndIncludingTheLimit) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + Seconds(5), 1, &log));
  ASSERT_TRUE(sim.RunUntil(start + Milliseconds(4'999)).ok());
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(sim.pending_timers(), 1u);
  ASSERT_TRUE(sim.RunUntil(start + Seconds(5)).ok());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at, start + Seconds(5));
  EXPECT_EQ(sim.pending_timers(), 0u);
  EXPECT_EQ(sim.timers_fired(), 1u);
}

TEST(Simulator, TimersFireInTimeOrder) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  const int seconds[] = {30, 10, 20, 5, 25};
  for (int s : seconds) sim.Spawn(SleepAndLog(sim, start + Seconds(s), s, &log));
  ASSERT_TRUE(sim.RunFor(Minutes(1)).ok());
  EXPECT_EQ(Ids(log), (std::vector<int>{5, 10, 20, 25, 30}));
  for (const Wake& wake : log) EXPECT_EQ(wake.at, start + Seconds(wake.id));
  EXPECT_EQ(sim.now(), start + Minutes(1));
}

TEST(Simulator, PastDeadlinesFireAtTheCurrentTime) {
  Simulator sim(1);
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  const Instant now = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, now - Seconds(5), 1, &log));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at, now);
}

TEST(Simulator, SameInstantTimersAreOrderedBySeed) {
  const std::vector<int> first = SameInstantOrder(1);
  EXPECT_EQ(first, SameInstantOrder(1));  // Same seed: same order.
  std::vector<int> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));

  // Some other seed in a small range orders them differently.
  std::optional<std::uint64_t> differing;
  for (std::uint64_t seed = 2; seed < 50 && !differing; ++seed) {
    if (SameInstantOrder(seed) != first) differing = seed;
  }
  ASSERT_TRUE(differing.has_value()) << "no seed in [2, 50) reorders same-instant timers";
  EXPECT_EQ(SameInstantOrder(*differing), SameInstantOrder(*differing));
}

TEST(Simulator, SameInstantOrderIsNotSimplyRegistrationOrder) {
  // Across seeds, the first timer registered is not always the first to fire.
  bool saw_other_first = false;
  for (std::uint64_t seed = 1; seed < 50 && !saw_other_first; ++seed) {
    saw_other_first = SameInstantOrder(seed).front() != 0;
  }
  EXPECT_TRUE(saw_other_first);
}

TEST(Simulator, RunReturnsTheTasksValue) {
  Simulator sim(1);
  const Instant start = sim.now();
  EXPECT_EQ(sim.Run(AddAfter(sim, Seconds(2), 40, 2)), 42);
  EXPECT_EQ(sim.now(), start + Seconds(2));
}

TEST(Simulator, RunRethrowsTheTasksException) {
  Simulator sim(1);
  EXPECT_THROW(sim.Run(ThrowAfter(sim, Seconds(1))), std::runtime_error);
}

TEST(SimulatorDeathTest, RunOfATaskThatCanNeverCompleteIsACheckFailure) {
  EXPECT_DEATH(
      {
        Simulator sim(1);
        core::Event never;
        sim.Run(never.Wait());
      },
      "can never complete");
}

TEST(Simulator, RunUntilIdleStopsWhenTheLastForegroundTimerFired) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + Hours(3), 1, &log));
  sim.Spawn(SleepAndLog(sim, start + Hours(1), 2, &log));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(Ids(log), (std::vector<int>{2, 1}));
  EXPECT_EQ(sim.now(), start + Hours(3));
  EXPECT_TRUE(sim.IsIdle());
}

TEST(Simulator, BackgroundTimersDoNotKeepRunUntilIdleBusy) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + Hours(1), 1, &log, TimerKind::kBackground));
  sim.Spawn(SleepAndLog(sim, start + Seconds(2), 2, &log, TimerKind::kBackground));
  sim.Spawn(SleepAndLog(sim, start + Seconds(5), 3, &log));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  // The earlier background timer fired on the way; the later one is still pending.
  EXPECT_EQ(Ids(log), (std::vector<int>{2, 3}));
  EXPECT_EQ(sim.now(), start + Seconds(5));
  EXPECT_EQ(sim.pending_timers(), 1u);
  EXPECT_TRUE(sim.IsIdle());
  // Only background work left: idle at once, time does not move.
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(sim.now(), start + Seconds(5));
  // RunFor still fires it.
  ASSERT_TRUE(sim.RunFor(Hours(1)).ok());
  EXPECT_EQ(Ids(log), (std::vector<int>{2, 3, 1}));
}

TEST(Simulator, RunUntilIdleTimesOutAfterMax) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + Hours(2), 1, &log));
  const Status status = sim.RunUntilIdle(Hours(1));
  EXPECT_EQ(status.code(), Code::kTimeout) << status.ToString();
  EXPECT_EQ(sim.now(), start + Hours(1));
  EXPECT_TRUE(log.empty());
  EXPECT_FALSE(sim.IsIdle());
  ASSERT_TRUE(sim.RunUntilIdle(Hours(1)).ok());
  EXPECT_EQ(sim.now(), start + Hours(2));
}

TEST(Simulator, RunUntilIdleTimesOutWhenAServiceStaysBusy) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + core::Days(2), 1, &log, TimerKind::kBackground));
  const int id = sim.AddIdleCheck([] { return false; });
  EXPECT_EQ(sim.RunUntilIdle(Hours(24)).code(), Code::kTimeout);
  EXPECT_EQ(sim.now(), start + Hours(24));
  sim.RemoveIdleCheck(id);
}

TEST(Simulator, RunUntilIdleReportsBusyServicesWithNothingToDriveThem) {
  Simulator sim(1);
  const int id = sim.AddIdleCheck([] { return false; });
  EXPECT_EQ(sim.RunUntilIdle().code(), Code::kFailedPrecondition);
  sim.RemoveIdleCheck(id);
  EXPECT_TRUE(sim.RunUntilIdle().ok());
}

TEST(Simulator, IdleChecksAreConsultedAndRemovable) {
  Simulator sim(1);
  bool busy = true;
  int calls = 0;
  const int id = sim.AddIdleCheck([&] {
    ++calls;
    return !busy;
  });
  EXPECT_FALSE(sim.IsIdle());
  EXPECT_GT(calls, 0);
  busy = false;
  EXPECT_TRUE(sim.IsIdle());
  busy = true;
  sim.RemoveIdleCheck(id);
  const int before = calls;
  EXPECT_TRUE(sim.IsIdle());
  EXPECT_EQ(calls, before);
}

TEST(Simulator, RunUntilIdleWaitsForAServiceDrivenByBackgroundTimers) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Wake> log;
  sim.Spawn(SleepAndLog(sim, start + Seconds(5), 1, &log, TimerKind::kBackground));
  sim.Spawn(SleepAndLog(sim, start + Seconds(9), 2, &log, TimerKind::kBackground));
  // The service is busy until its background work ran.
  const int id = sim.AddIdleCheck([&] { return !log.empty(); });
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(sim.now(), start + Seconds(5));
  EXPECT_EQ(Ids(log), (std::vector<int>{1}));
  sim.RemoveIdleCheck(id);
}

TEST(Simulator, CancellingATokenCompletesItsSleepAtOnce) {
  Simulator sim(1);
  const Instant start = sim.now();
  CancelToken token = core::MakeCancelToken();
  Outcome outcome;
  sim.Spawn(SleepRecording(sim, start + Hours(1), token, &outcome));
  sim.Spawn(CancelAfter(sim, Seconds(3), token));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_TRUE(outcome.done);
  EXPECT_EQ(outcome.status.code(), Code::kCancelled);
  EXPECT_EQ(outcome.status.message(), "stopped by test");
  EXPECT_EQ(outcome.at, start + Seconds(3));  // Not at its one-hour deadline.
  EXPECT_EQ(sim.now(), start + Seconds(3));
  EXPECT_EQ(sim.pending_timers(), 0u);
}

TEST(Simulator, CancellingFromOutsideTheLoopCompletesOnTheNextRun) {
  Simulator sim(1);
  const Instant start = sim.now();
  CancelToken token = core::MakeCancelToken();
  Outcome outcome;
  sim.Spawn(SleepRecording(sim, start + Hours(1), token, &outcome));
  ASSERT_TRUE(sim.RunFor(Seconds(1)).ok());
  EXPECT_FALSE(outcome.done);
  token->Cancel("shutdown");
  ASSERT_TRUE(sim.RunFor(Duration::Zero()).ok());
  ASSERT_TRUE(outcome.done);
  EXPECT_EQ(outcome.status.code(), Code::kCancelled);
  EXPECT_EQ(outcome.at, start + Seconds(1));
}

TEST(Simulator, SleepWithAnAlreadyCancelledTokenCompletesAtOnce) {
  Simulator sim(1);
  const Instant start = sim.now();
  CancelToken token = core::MakeCancelToken();
  token->Cancel("already");
  const Status status = sim.Run(sim.SleepUntil(start + Hours(1), TimerKind::kForeground, token));
  EXPECT_EQ(status.code(), Code::kCancelled);
  EXPECT_EQ(status.message(), "already");
  EXPECT_EQ(sim.now(), start);
  EXPECT_EQ(sim.pending_timers(), 0u);
}

TEST(Simulator, CancelOnlyAffectsSleepsOfThatToken) {
  Simulator sim(1);
  const Instant start = sim.now();
  CancelToken cancelled = core::MakeCancelToken();
  CancelToken other = core::MakeCancelToken();
  Outcome a;
  Outcome b;
  Outcome c;
  sim.Spawn(SleepRecording(sim, start + Seconds(10), cancelled, &a));
  sim.Spawn(SleepRecording(sim, start + Seconds(10), other, &b));
  sim.Spawn(SleepRecording(sim, start + Seconds(10), nullptr, &c));
  sim.Spawn(CancelAfter(sim, Seconds(1), cancelled));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(a.status.code(), Code::kCancelled);
  EXPECT_EQ(a.at, start + Seconds(1));
  EXPECT_TRUE(b.status.ok());
  EXPECT_EQ(b.at, start + Seconds(10));
  EXPECT_TRUE(c.status.ok());
  // A fired sleep no longer listens to its token.
  other->Cancel("late");
  ASSERT_TRUE(sim.RunFor(Seconds(1)).ok());
  EXPECT_TRUE(b.status.ok());
}

TEST(Simulator, ASpawnedTaskThatThrowsFailsTheRun) {
  Simulator sim(1);
  sim.Spawn(ThrowAfter(sim, Seconds(2)));
  EXPECT_TRUE(sim.RunFor(Seconds(1)).ok());
  EXPECT_FALSE(sim.failure().has_value());
  const Status status = sim.RunFor(Seconds(5));
  EXPECT_FALSE(status.ok());
  ASSERT_TRUE(sim.failure().has_value());
  EXPECT_EQ(sim.failure()->code(), Code::kUnknown);
  EXPECT_NE(sim.failure()->message().find("boom"), std::string::npos);
  EXPECT_EQ(sim.RunUntilIdle(), *sim.failure());
}

TEST(Simulator, FailKeepsTheFirstError) {
  Simulator sim(1);
  sim.Fail(Status::FailedPrecondition("first"));
  sim.Fail(Status::Unknown("second"));
  EXPECT_EQ(sim.RunFor(Seconds(1)).message(), "first");
}

TEST(Simulator, ClockViewsArePerActor) {
  Simulator sim(1);
  ClockView& a = sim.ClockFor("worker-a");
  ClockView& b = sim.ClockFor("worker-b");
  EXPECT_EQ(&a, &sim.ClockFor("worker-a"));
  EXPECT_NE(&a, &b);
  EXPECT_TRUE(a.is_identity());
  EXPECT_EQ(a.Now(), sim.now());
  a.Step(Seconds(30));
  EXPECT_EQ(a.Now(), sim.now() + Seconds(30));
  EXPECT_EQ(b.Now(), sim.now());
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  EXPECT_EQ(a.Now(), sim.now() + Seconds(30));
  EXPECT_EQ(b.Now(), sim.now());
  EXPECT_EQ(sim.ClockFor("worker-a").offset(), Seconds(30));
}

TEST(Simulator, TraceIsStampedWithVirtualTime) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  ASSERT_TRUE(sim.RunFor(Milliseconds(1'234)).ok());
  sim.trace().Emit("test", core::TraceEvent("test.event"));
  ASSERT_EQ(sim.trace().lines().size(), 1u);
  EXPECT_EQ(sim.trace().lines()[0], R"({"actor":"test","ev":"test.event","t":1767225601234})");
  SimulatorOptions options;
  options.trace = false;
  Simulator quiet(1, options);
  EXPECT_FALSE(quiet.trace().enabled());
}

Task<void> RandomSleeper(Simulator& sim, int id, int rounds) {
  core::Random random = sim.random().Fork(static_cast<std::uint64_t>(id));
  for (int i = 0; i < rounds; ++i) {
    const Duration d = Milliseconds(random.Range(0, 3));
    (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
    sim.trace().Emit("sleeper", core::TraceEvent("test.woke").Int("id", id).Int("round", i));
  }
}

std::string TraceHashFor(std::uint64_t seed) {
  Simulator sim(seed);
  for (int id = 0; id < 5; ++id) sim.Spawn(RandomSleeper(sim, id, 20));
  EXPECT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(sim.trace().events(), 100);
  return sim.trace().HashHex();
}

TEST(Simulator, SameSeedReplaysTheSameTrace) {
  EXPECT_EQ(TraceHashFor(7), TraceHashFor(7));
  EXPECT_NE(TraceHashFor(7), TraceHashFor(8));
}

TEST(Simulator, UsesTheProfilesFaultPlanUnlessGivenOne) {
  Simulator strict(1);
  EXPECT_EQ(strict.profile(), Profile::kStrict);
  EXPECT_FALSE(strict.faults().Enabled(Fault::kQ3DuplicateDelivery));
  EXPECT_FALSE(strict.latency().enabled());

  SimulatorOptions fidelity_options;
  fidelity_options.profile = Profile::kFidelity;
  Simulator fidelity(1, fidelity_options);
  EXPECT_TRUE(fidelity.faults().Enabled(Fault::kQ3DuplicateDelivery));
  EXPECT_FALSE(fidelity.faults().Enabled(Fault::kT1ForwardJump));
  EXPECT_TRUE(fidelity.latency().enabled());

  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = 1.0;
  plan.Set(Fault::kT1ForwardJump, rule);
  SimulatorOptions explicit_options;
  explicit_options.profile = Profile::kFidelity;
  explicit_options.faults = plan;
  Simulator with_plan(1, explicit_options);
  EXPECT_TRUE(with_plan.faults().Enabled(Fault::kT1ForwardJump));
  EXPECT_FALSE(with_plan.faults().Enabled(Fault::kQ3DuplicateDelivery));
}

}  // namespace
}  // namespace cfemu::emulator
