// Pause, purge, metrics and the throughput/backlog limits (checklist 16, 18).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Simulator;
using emulator::SimulatorOptions;
using emulator::World;

TEST(Pause, PausedQueueAcceptsSendsButDeliversNothingUntilResumed) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  ASSERT_TRUE(world.queues().Pause("jobs").ok());
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim.RunFor(core::Hours(1)).ok());
  EXPECT_TRUE(recorder.seen.empty());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 3);
  ASSERT_TRUE(world.queues().Resume("jobs").ok());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 3u);
}

TEST(Pause, PausedQueueDoesNotKeepRunUntilIdleBusy) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  ASSERT_TRUE(world.queues().Pause("jobs").ok());
  SendNumbers(sim, world.EnvFor("p"), 3);
  EXPECT_TRUE(sim.RunUntilIdle(core::Minutes(10)).ok());
}

TEST(Pause, PausedPullQueueReturnsNoMessages) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(world.queues().Pause("jobs").ok());
  auto pull = world.queues().PullConsumerFor("jobs");
  EXPECT_TRUE(sim.Run((*pull)->Pull(10, std::nullopt))->messages.empty());
  ASSERT_TRUE(world.queues().Resume("jobs").ok());
  EXPECT_EQ(sim.Run((*pull)->Pull(10, std::nullopt))->messages.size(), 2u);
}

TEST(Pause, UnknownQueueIsNotFoundWithCode10104) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs"));
  const Status status = world.queues().Pause("nope");
  EXPECT_EQ(status.code(), Code::kNotFound);
  EXPECT_EQ(status.cf_code(), 10104);
}

TEST(Purge, PurgeDeletesEveryMessageInEveryState) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  ASSERT_TRUE(world.queues().Pause("jobs").ok());
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json(9), platform::SendOptions::Delay(600)).ok());
  auto purged = world.queues().Purge("jobs");
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 4);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_bytes, 0);
  ASSERT_TRUE(world.queues().Resume("jobs").ok());
  ASSERT_TRUE(sim.RunFor(core::Hours(1)).ok());
  EXPECT_TRUE(recorder.seen.empty());
  EXPECT_EQ(TraceLines(sim, "queue.purged").size(), 1u);
}

TEST(Purge, MessagesInFlightDuringAPurgeAreGoneWhenTheHandlerFinishes) {
  Simulator sim(1);
  Recorder recorder;
  emulator::Broker* broker = nullptr;
  auto handler =
      AsyncRecordingHandler(recorder,
                            [&broker](platform::MessageBatch&, platform::Env& env,
                                      platform::ExecutionContext&) -> Task<Status> {
                              (void)co_await core::SleepFor(env.runtime(), env.clock(), Seconds(5));
                              co_return Status::Unknown("fails after the purge");
                            });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  broker = &world.queues();
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunFor(Seconds(7)).ok());  // Delivered at 5 s, handler busy until 10 s.
  ASSERT_EQ(*broker->Purge("jobs"), 2);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 2u);  // The failure retried nothing.
}

TEST(Limits, ThroughputAndBacklogLimitsAreOffInTheStrictProfile) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs"));
  auto& env = world.EnvFor("p");
  for (int i = 0; i < 60; ++i) {  // 6,000 messages in the same virtual instant.
    std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(i)));
    ASSERT_TRUE(SendBatch(sim, env, std::move(batch)).ok());
  }
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 6000);
}

TEST(Limits, Over5000MessagesPerSecondIsRejectedWith10250InFidelity) {
  SimulatorOptions options;
  options.profile = emulator::Profile::kFidelity;
  options.faults = emulator::FaultPlan(emulator::Profile::kStrict);  // Limits, not faults.
  Simulator sim(1, options);
  World world(sim, OneQueue("jobs"));
  auto& env = world.EnvFor("p");
  int accepted = 0;
  Status rejected;
  for (int i = 0; i < 60 && rejected.ok(); ++i) {
    std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(i)));
    auto sent = SendBatch(sim, env, std::move(batch));
    if (sent.ok()) {
      accepted += 100;
    } else {
      rejected = sent.status();
    }
  }
  EXPECT_EQ(accepted, 5000);
  EXPECT_EQ(rejected.code(), Code::kOverloaded);
  EXPECT_EQ(rejected.cf_code(), 10250);
  EXPECT_EQ(rejected.message(), "Too Many Requests (10250)");
  ASSERT_TRUE(sim.RunFor(Seconds(1)).ok());  // The window slides.
  std::vector<platform::MessageSendRequest> batch(100, platform::MessageSendRequest(Json(0)));
  EXPECT_TRUE(SendBatch(sim, env, std::move(batch)).ok());
}

TEST(Limits, BacklogOverItsLimitIsRejectedWith10251) {
  Simulator sim(1);
  emulator::WorldOptions options;
  options.queue_limits.enforce_throughput_and_backlog = true;
  options.queue_limits.backlog_max_bytes = 1000;  // Lowered to reach the edge cheaply.
  World world(sim, OneQueue("jobs"), options);
  auto& env = world.EnvFor("p");
  // Each message is 900 bytes of text + 100 = 1,000 bytes.
  EXPECT_TRUE(
      Send(sim, env, platform::Text{std::string(900, 'x')}, platform::SendOptions("text")).ok());
  auto full = Send(sim, env, platform::Text{"x"}, platform::SendOptions("text"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.code(), Code::kResourceExhausted);
  EXPECT_EQ(full.status().cf_code(), 10251);
  EXPECT_EQ(full.status().message(), "Storage Limit Exceeded (10251)");
}

TEST(Metrics, BacklogCountsDelayedAndInFlightMessages) {
  Simulator sim(1);
  Recorder recorder;
  std::int64_t seen_backlog = -1;
  auto handler = AsyncRecordingHandler(
      recorder,
      [&seen_backlog](platform::MessageBatch& batch, platform::Env& env,
                      platform::ExecutionContext&) -> Task<Status> {
        seen_backlog = batch.metadata().metrics.backlog_count;
        (void)co_await core::SleepFor(env.runtime(), env.clock(), Seconds(30));
        co_return Status::Ok();
      });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json(9), platform::SendOptions::Delay(600)).ok());
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  EXPECT_EQ(seen_backlog, 3);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 3);
  ASSERT_TRUE(sim.RunFor(Seconds(30)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 1);
}

}  // namespace
}  // namespace cfemu::testing
