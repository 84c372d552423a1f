// Consumer concurrency and the invocation wall-clock limit (checklist 17, W2).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::MessageBatch;

AsyncBatchScript SleepFor(Duration d, Status result = Status::Ok()) {
  return
      [d, result](MessageBatch&, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
        CFEMU_CO_RETURN_IF_ERROR(co_await core::SleepFor(env.runtime(), env.clock(), d));
        co_return result;
      };
}

TEST(Concurrency, UnsetMaxConcurrencyStartsAtOneAndScalesWithTheBacklog) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", AsyncRecordingHandler(
                                                              recorder, SleepFor(Seconds(10))))}));
  auto& env = world.EnvFor("p");
  for (int i = 0; i < 10; ++i) {
    std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(i)));
    ASSERT_TRUE(SendBatch(sim, env, std::move(batch)).ok());
  }
  ASSERT_TRUE(sim.RunFor(Seconds(5)).ok());
  EXPECT_EQ(recorder.running, 1);  // One invocation until a batch completes.
  ASSERT_TRUE(sim.RunFor(Seconds(6)).ok());
  EXPECT_GT(recorder.running, 1);  // Then ceil(ready / max_batch_size) of them.
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 1000u);
  EXPECT_GE(recorder.max_running, 50);
  EXPECT_LE(recorder.max_running, 250);
}

TEST(Concurrency, MaxConcurrencyCapsParallelInvocations) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue(
      "jobs", {PushConsumer("jobs", AsyncRecordingHandler(recorder, SleepFor(Seconds(10))))});
  spec.consumers[0].max_concurrency = 3;
  World world(sim, spec);
  for (int i = 0; i < 5; ++i) {
    std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(i)));
    ASSERT_TRUE(SendBatch(sim, world.EnvFor("p"), std::move(batch)).ok());
  }
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.max_running, 3);
  EXPECT_EQ(recorder.seen.size(), 500u);
}

TEST(Concurrency, FailedInvocationsHalveConcurrencyButRetriesDoNot) {
  // Phase 1 grows concurrency with a large backlog; then every invocation fails and the number
  // running at once falls back; explicit retry() never counts as a failure.
  for (bool explicit_retry : {false, true}) {
    Simulator sim(1);
    Recorder recorder;
    int phase = 1;
    auto handler = AsyncRecordingHandler(
        recorder,
        [&phase, explicit_retry](MessageBatch& batch, platform::Env& env,
                                 platform::ExecutionContext&) -> Task<Status> {
          CFEMU_CO_RETURN_IF_ERROR(
              co_await core::SleepFor(env.runtime(), env.clock(), Seconds(10)));
          if (phase == 1) co_return Status::Ok();
          if (explicit_retry) {
            batch.RetryAll();
            co_return Status::Ok();
          }
          co_return Status::Unknown("failing");
        });
    auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
    spec.consumers[0].max_retries = 100;
    World world(sim, spec);
    for (int i = 0; i < 60; ++i) {
      std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(i)));
      ASSERT_TRUE(SendBatch(sim, world.EnvFor("p"), std::move(batch)).ok());
    }
    ASSERT_TRUE(sim.RunFor(Seconds(25)).ok());
    const int grown = recorder.running;
    EXPECT_GT(grown, 8) << explicit_retry;
    phase = 2;
    ASSERT_TRUE(sim.RunFor(Seconds(60)).ok());
    if (explicit_retry) {
      EXPECT_GE(recorder.running, grown / 2) << "retry() must not scale down";
    } else {
      EXPECT_LE(recorder.running, 2) << "failures halve concurrency each time";
    }
  }
}

TEST(Concurrency, InvocationIsKilledAtTheFifteenMinuteWallLimit) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder recorder;
  Status slept;
  auto handler = AsyncRecordingHandler(
      recorder,
      [&slept](MessageBatch& batch, platform::Env& env,
               platform::ExecutionContext& ctx) -> Task<Status> {
        if (batch.messages()[0].attempts() > 1) co_return Status::Ok();
        EXPECT_EQ(ctx.Deadline() - env.clock().Now(), core::Minutes(15));
        slept = co_await core::SleepFor(env.runtime(), env.clock(), core::Minutes(20));
        co_return slept;
      });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(slept.code(), core::Code::kCancelled);  // The pending sleep ended at the kill.
  ASSERT_EQ(recorder.seen.size(), 2u);
  // Killed 15 minutes after the first delivery; the retry waits one batch window (5 s).
  EXPECT_EQ(recorder.seen[1].at, t0 + Seconds(5) + core::Minutes(15) + Seconds(5));
  EXPECT_EQ(world.queues().Find("jobs")->stats().invocations_killed, 1);
  const auto killed = TraceLines(sim, "invocation.killed");
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_NE(killed[0].find("wall_clock"), std::string::npos);
}

}  // namespace
}  // namespace cfemu::testing
