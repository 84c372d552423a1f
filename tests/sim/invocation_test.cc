#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/sim/invocation.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/simulator.h"
#include "src/core/runtime.h"

namespace cfemu::emulator {
namespace {

using core::Code;
using core::Duration;
using core::Hours;
using core::Instant;
using core::Minutes;
using core::Seconds;
using core::Status;
using core::Task;

constexpr core::TimerKind kForeground = core::TimerKind::kForeground;

struct Outcome {
  bool done = false;
  Status status;
  Instant at;
};

Task<void> RuntimeSleep(core::Runtime& runtime, Instant t, const core::Clock& base, Outcome* out) {
  out->status = co_await runtime.SleepUntil(t);
  out->at = base.Now();
  out->done = true;
}

Task<void> RuntimeSleepFor(core::Runtime& runtime, const core::Clock& view, Duration d,
                           const core::Clock& base, Outcome* out) {
  out->status = co_await core::SleepFor(runtime, view, d);
  out->at = base.Now();
  out->done = true;
}

// A handler that ignores kCancelled and keeps calling the platform: a livelock.
Task<void> IgnoreCancellation(core::Runtime& runtime, const core::Clock& view, int* calls) {
  for (int i = 0; i < 5'000; ++i) {
    const Status status = co_await core::SleepFor(runtime, view, Seconds(1));
    ++*calls;
    (void)status;  // Wrong: it should stop once the status is kCancelled.
  }
}

Task<void> SleepWithToken(Simulator& sim, Duration d, core::CancelToken token, Outcome* out) {
  out->status = co_await sim.SleepUntil(sim.now() + d, core::TimerKind::kForeground, token);
  out->at = sim.now();
  out->done = true;
}

TEST(Invocation, KillReasonNames) {
  EXPECT_EQ(KillReasonName(KillReason::kNone), "none");
  EXPECT_EQ(KillReasonName(KillReason::kCrash), "crash");
  EXPECT_EQ(KillReasonName(KillReason::kCpuLimit), "cpu_limit");
  EXPECT_EQ(KillReasonName(KillReason::kWallClock), "wall_clock");
}

TEST(Invocation, EnterAwaitIsOkNormally) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  EXPECT_EQ(invocation->actor(), "consumer");
  EXPECT_EQ(invocation->deadline(), sim.now() + Minutes(15));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(invocation->EnterAwait("queue.send").ok());
  EXPECT_EQ(invocation->awaits(), 10);
  EXPECT_FALSE(invocation->killed());
  EXPECT_EQ(invocation->kill_reason(), KillReason::kNone);
  EXPECT_FALSE(invocation->token()->cancelled());
  invocation->Finish();
}

TEST(Invocation, ArmKillAtAwaitKillsAtTheJthAwait) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  Invocation* raw = invocation.get();
  int kills = 0;
  bool token_cancelled_in_callback = false;
  invocation->OnKill([&kills, &token_cancelled_in_callback, raw] {
    ++kills;
    token_cancelled_in_callback = raw->token()->cancelled();
  });
  EXPECT_TRUE(invocation->EnterAwait("before.arm").ok());
  invocation->ArmKillAtAwait(3, Fault::kQ1ConsumerCrash, "queue.dispatch");
  EXPECT_TRUE(invocation->EnterAwait("a").ok());
  EXPECT_TRUE(invocation->EnterAwait("b").ok());
  EXPECT_EQ(kills, 0);
  const Status killed = invocation->EnterAwait("c");
  EXPECT_EQ(killed.code(), Code::kCancelled);
  EXPECT_TRUE(invocation->killed());
  EXPECT_EQ(invocation->kill_reason(), KillReason::kCrash);
  EXPECT_TRUE(invocation->token()->cancelled());
  EXPECT_EQ(kills, 1);
  EXPECT_TRUE(token_cancelled_in_callback);
  EXPECT_EQ(sim.faults().fired(Fault::kQ1ConsumerCrash), 1);
  EXPECT_EQ(sim.faults().FiredBySite().at("Q1@queue.dispatch"), 1);
  // Every later await is cancelled at once, and the callback does not run again.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(invocation->EnterAwait("d").code(), Code::kCancelled);
  EXPECT_EQ(kills, 1);
  EXPECT_EQ(sim.faults().fired(Fault::kQ1ConsumerCrash), 1);
  bool traced = false;
  for (const std::string& line : sim.trace().lines()) {
    if (line.find(R"("ev":"invocation.killed")") == std::string::npos) continue;
    traced = true;
    EXPECT_NE(line.find(R"("reason":"crash")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("site":"c")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("awaits":4)"), std::string::npos) << line;
  }
  EXPECT_TRUE(traced);
  EXPECT_TRUE(sim.RunFor(Seconds(1)).ok());
}

TEST(Invocation, CpuKillIsReportedAsCpuLimit) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  invocation->ArmKillAtAwait(1, Fault::kW1CpuKill, "invocation.cpu");
  EXPECT_EQ(invocation->EnterAwait("a").code(), Code::kCancelled);
  EXPECT_EQ(invocation->kill_reason(), KillReason::kCpuLimit);
  EXPECT_EQ(sim.faults().fired(Fault::kW1CpuKill), 1);
}

TEST(Invocation, ArmKillAfterMutationKillsAtTheNextAwait) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  invocation->ArmKillAfterMutation(Fault::kQ2CrashAfterEffect, "queue.handler");
  EXPECT_TRUE(invocation->EnterAwait("read").ok());
  EXPECT_TRUE(invocation->EnterAwait("read").ok());
  invocation->NoteMutation();
  EXPECT_FALSE(invocation->killed());  // The effect happened; the kill comes at the next await.
  EXPECT_EQ(invocation->EnterAwait("after.write").code(), Code::kCancelled);
  EXPECT_EQ(invocation->kill_reason(), KillReason::kCrash);
  EXPECT_EQ(sim.faults().FiredBySite().at("Q2@queue.handler"), 1);
}

TEST(Invocation, ManyAwaitsAfterAKillFailTheRun) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  invocation->Kill(KillReason::kCrash, std::nullopt, "", "test");
  for (std::int64_t i = 0; i < kMaxAwaitsAfterKill; ++i) {
    ASSERT_EQ(invocation->EnterAwait("loop").code(), Code::kCancelled);
  }
  EXPECT_FALSE(sim.failure().has_value());
  EXPECT_EQ(invocation->EnterAwait("loop").code(), Code::kCancelled);
  ASSERT_TRUE(sim.failure().has_value());
  EXPECT_EQ(sim.failure()->code(), Code::kFailedPrecondition);
  EXPECT_NE(sim.failure()->message().find("consumer"), std::string::npos);
  EXPECT_NE(sim.failure()->message().find("kCancelled"), std::string::npos);
  EXPECT_EQ(sim.RunFor(Seconds(1)), *sim.failure());
}

TEST(Invocation, AHandlerThatIgnoresCancellationFailsTheSimulation) {
  Simulator sim(1);
  const Instant start = sim.now();
  auto invocation = Invocation::Start(sim, "consumer", start + Minutes(15));
  ClockView& view = sim.ClockFor("consumer");
  ActorScope scope(sim, "consumer", view, invocation);
  ActorRuntime runtime(scope);
  invocation->ArmKillAtAwait(2, Fault::kQ1ConsumerCrash, "queue.dispatch");
  int calls = 0;
  sim.Spawn(IgnoreCancellation(runtime, view, &calls));
  const Status status = sim.RunFor(Minutes(1));
  EXPECT_EQ(status.code(), Code::kFailedPrecondition) << status.ToString();
  EXPECT_NE(status.message().find("killed (crash)"), std::string::npos) << status.ToString();
  EXPECT_GT(calls, kMaxAwaitsAfterKill);
  EXPECT_EQ(sim.now(), start + Seconds(1));  // Killed at its second sleep; no time passed after.
}

TEST(Invocation, WatchdogKillsAtTheDeadline) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  const Instant start = sim.now();
  auto invocation = Invocation::Start(sim, "consumer", start + Minutes(15));
  Instant killed_at;
  invocation->OnKill([&] { killed_at = sim.now(); });
  Outcome outcome;
  sim.Spawn(SleepWithToken(sim, Hours(1), invocation->token(), &outcome));
  ASSERT_TRUE(sim.RunFor(Minutes(14)).ok());
  EXPECT_FALSE(invocation->killed());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_TRUE(invocation->killed());
  EXPECT_EQ(invocation->kill_reason(), KillReason::kWallClock);
  EXPECT_EQ(killed_at, start + Minutes(15));
  ASSERT_TRUE(outcome.done);
  EXPECT_EQ(outcome.status.code(), Code::kCancelled);
  EXPECT_EQ(outcome.at, start + Minutes(15));
  EXPECT_EQ(sim.faults().total_fired(), 0);  // The plain wall limit is not a fault.
  bool traced = false;
  for (const std::string& line : sim.trace().lines()) {
    traced = traced || line.find(R"("reason":"wall_clock")") != std::string::npos;
  }
  EXPECT_TRUE(traced);
}

TEST(Invocation, EarlyDeadlineFaultIsRecordedWhenTheWatchdogKills) {
  Simulator sim(1);
  auto invocation =
      Invocation::Start(sim, "consumer", sim.now() + Minutes(2), Fault::kW2WallClockKill);
  ASSERT_TRUE(sim.RunFor(Minutes(3)).ok());
  EXPECT_EQ(invocation->kill_reason(), KillReason::kWallClock);
  EXPECT_EQ(sim.faults().fired(Fault::kW2WallClockKill), 1);
  EXPECT_EQ(sim.faults().FiredBySite().at("W2@invocation.deadline"), 1);
}

TEST(Invocation, FinishCancelsTheWatchdog) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  bool killed = false;
  invocation->OnKill([&] { killed = true; });
  ASSERT_TRUE(sim.RunFor(Minutes(1)).ok());
  EXPECT_EQ(sim.pending_timers(), 1u);  // The watchdog.
  invocation->MarkReturned();
  EXPECT_TRUE(invocation->returned());
  EXPECT_FALSE(invocation->finished());
  invocation->Finish();
  EXPECT_TRUE(invocation->finished());
  ASSERT_TRUE(sim.RunFor(Hours(1)).ok());
  EXPECT_FALSE(invocation->killed());
  EXPECT_FALSE(killed);
  EXPECT_EQ(sim.pending_timers(), 0u);
  EXPECT_FALSE(invocation->token()->cancelled());
  // A finished invocation is not killed later either.
  invocation->Kill(KillReason::kCrash, Fault::kQ1ConsumerCrash, "late", "late");
  EXPECT_FALSE(invocation->killed());
  EXPECT_FALSE(killed);
  EXPECT_EQ(sim.faults().total_fired(), 0);
}

TEST(Invocation, WatchdogDoesNotKeepRunUntilIdleBusy) {
  Simulator sim(1);
  const Instant start = sim.now();
  auto invocation = Invocation::Start(sim, "consumer", start + Minutes(15));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(sim.now(), start);
  EXPECT_FALSE(invocation->killed());
}

TEST(ActorScope, WithoutAnInvocationEverythingIsAllowed) {
  Simulator sim(1);
  ActorScope scope(sim, "cron", sim.ClockFor("cron"), nullptr);
  EXPECT_EQ(scope.actor(), "cron");
  EXPECT_EQ(&scope.host(), &sim);
  EXPECT_EQ(scope.token(), nullptr);
  EXPECT_TRUE(scope.Enter("kv.get").ok());
  EXPECT_FALSE(scope.AfterReturn());
  scope.NoteMutation();
  const Instant start = sim.now();
  EXPECT_TRUE(sim.Run(scope.Sleep(core::Milliseconds(5))).ok());
  EXPECT_EQ(sim.now(), start + core::Milliseconds(5));
}

TEST(ActorScope, ReflectsItsInvocation) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  ActorScope scope(sim, "consumer", sim.ClockFor("consumer"), invocation);
  EXPECT_EQ(scope.token(), invocation->token());
  EXPECT_TRUE(scope.Enter("queue.send").ok());
  EXPECT_EQ(invocation->awaits(), 1);
  EXPECT_FALSE(scope.AfterReturn());
  invocation->Finish();
  EXPECT_TRUE(scope.AfterReturn());
}

TEST(ActorRuntime, PendingSleepOfAKilledInvocationCompletesAtOnce) {
  Simulator sim(1);
  const Instant start = sim.now();
  auto invocation = Invocation::Start(sim, "consumer", start + Minutes(15));
  ClockView& view = sim.ClockFor("consumer");
  ActorScope scope(sim, "consumer", view, invocation);
  ActorRuntime runtime(scope);
  Outcome outcome;
  sim.Spawn(RuntimeSleep(runtime, view.Now() + Hours(1), sim.clock(), &outcome));
  ASSERT_TRUE(sim.RunFor(Seconds(1)).ok());
  EXPECT_FALSE(outcome.done);
  invocation->Kill(KillReason::kCrash, Fault::kQ1ConsumerCrash, "queue.dispatch", "test");
  ASSERT_TRUE(sim.RunFor(Duration::Zero()).ok());
  ASSERT_TRUE(outcome.done);
  EXPECT_EQ(outcome.status.code(), Code::kCancelled);
  EXPECT_EQ(outcome.at, start + Seconds(1));
  // A sleep started after the kill does not even register a timer.
  const Status late = sim.Run(runtime.SleepUntil(view.Now() + Hours(1), kForeground));
  EXPECT_EQ(late.code(), Code::kCancelled);
  EXPECT_EQ(sim.now(), start + Seconds(1));
}

TEST(ActorRuntime, SleepsAreMeasuredOnTheActorsClockView) {
  Simulator sim(1);
  const Instant start = sim.now();
  ClockView& skewed = sim.ClockFor("skewed");
  skewed.Step(Seconds(10));
  ActorScope skewed_scope(sim, "skewed", skewed, nullptr);
  ActorRuntime skewed_runtime(skewed_scope);
  ClockView& plain = sim.ClockFor("plain");
  ActorScope plain_scope(sim, "plain", plain, nullptr);
  ActorRuntime plain_runtime(plain_scope);

  Outcome skewed_until;
  Outcome plain_until;
  Outcome skewed_for;
  const Instant wake = start + Minutes(1);  // Read on each actor's own view.
  sim.Spawn(RuntimeSleep(skewed_runtime, wake, sim.clock(), &skewed_until));
  sim.Spawn(RuntimeSleep(plain_runtime, wake, sim.clock(), &plain_until));
  sim.Spawn(RuntimeSleepFor(skewed_runtime, skewed, Seconds(30), sim.clock(), &skewed_for));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_TRUE(skewed_until.done && plain_until.done && skewed_for.done);
  EXPECT_TRUE(skewed_until.status.ok());
  EXPECT_EQ(skewed_until.at, start + Seconds(50));  // 10 s earlier in base time.
  EXPECT_EQ(plain_until.at, start + Minutes(1));
  EXPECT_EQ(skewed_for.at, start + Seconds(30));  // A duration keeps its length.
}

TEST(ActorRuntime, SleepsCountAsAwaitsOfTheInvocation) {
  Simulator sim(1);
  auto invocation = Invocation::Start(sim, "consumer", sim.now() + Minutes(15));
  ClockView& view = sim.ClockFor("consumer");
  ActorScope scope(sim, "consumer", view, invocation);
  ActorRuntime runtime(scope);
  invocation->ArmKillAtAwait(2, Fault::kQ1ConsumerCrash, "queue.dispatch");
  EXPECT_TRUE(sim.Run(runtime.SleepUntil(view.Now() + Seconds(1), kForeground)).ok());
  const Status second = sim.Run(runtime.SleepUntil(view.Now() + Seconds(1), kForeground));
  EXPECT_EQ(second.code(), Code::kCancelled);
  EXPECT_EQ(invocation->awaits(), 2);
  EXPECT_TRUE(invocation->killed());
}

TEST(ActorRuntime, SpawnRunsOnTheHost) {
  Simulator sim(1);
  ActorScope scope(sim, "a", sim.ClockFor("a"), nullptr);
  ActorRuntime runtime(scope);
  Outcome outcome;
  runtime.Spawn(SleepWithToken(sim, Seconds(2), nullptr, &outcome));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_TRUE(outcome.done);
  EXPECT_TRUE(outcome.status.ok());
}

}  // namespace
}  // namespace cfemu::emulator
