// Push delivery: batching, the batch object, attempts, implicit acks (checklist 6-9).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;

TEST(Delivery, BatchIsDeliveredAsSoonAsMaxBatchSizeMessagesAreReady) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].max_batch_size = 4;
  spec.consumers[0].max_batch_timeout = Seconds(30);
  World world(sim, spec);
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 4);
  ASSERT_TRUE(sim.RunFor(Seconds(1)).ok());
  ASSERT_EQ(recorder.batches.size(), 1u);
  EXPECT_EQ(recorder.batches[0].size(), 4u);
  EXPECT_EQ(recorder.batch_times[0], t0);
}

TEST(Delivery, BatchFlushesAtTimeoutWhenNotFull) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].max_batch_timeout = Seconds(3);
  World world(sim, spec);
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  EXPECT_TRUE(recorder.batches.empty());
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  ASSERT_EQ(recorder.batches.size(), 1u);
  EXPECT_EQ(recorder.batches[0].size(), 3u);
  EXPECT_EQ(recorder.batch_times[0], t0 + Seconds(3));
}

TEST(Delivery, DefaultsAreTenMessagesFiveSecondsAndThreeRetries) {
  platform::ConsumerSpec defaults;
  EXPECT_EQ(defaults.max_batch_size, 10);
  EXPECT_EQ(defaults.max_batch_timeout, Seconds(5));
  EXPECT_EQ(defaults.max_retries, 3);
  EXPECT_EQ(defaults.retry_delay, Duration::Zero());
  EXPECT_FALSE(defaults.max_concurrency.has_value());
  EXPECT_EQ(defaults.visibility_timeout, Seconds(30));

  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 25);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.batches.size(), 3u);
  EXPECT_EQ(recorder.batches[0].size(), 10u);
  EXPECT_EQ(recorder.batches[1].size(), 10u);
  EXPECT_EQ(recorder.batches[2].size(), 5u);
  EXPECT_EQ(recorder.batch_times[2], t0 + Seconds(5));
}

TEST(Delivery, EmptyBatchesAreNeverPushed) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  ASSERT_TRUE(sim.RunFor(core::Hours(1)).ok());
  EXPECT_TRUE(recorder.batches.empty());
  EXPECT_EQ(world.queues().TotalStats().invocations, 0);
}

TEST(Delivery, ZeroBatchTimeoutDeliversAtOnce) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(sim, spec);
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.batch_times.size(), 1u);
  EXPECT_EQ(recorder.batch_times[0], t0);
}

TEST(Delivery, BatchExposesQueueMessagesAndBacklogMetadata) {
  Simulator sim(1);
  std::string queue_name;
  std::vector<std::string> ids;
  std::int64_t backlog = -1;
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [&](platform::MessageBatch& batch) {
    queue_name = batch.queue();
    backlog = batch.metadata().metrics.backlog_count;
    for (const auto& m : batch.messages()) ids.push_back(m.id());
    return Status::Ok();
  });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(queue_name, "jobs");
  ASSERT_EQ(ids.size(), 3u);
  for (const auto& id : ids) EXPECT_TRUE(core::IsLowerHex(id, 32)) << id;
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_EQ(backlog, 3);  // In-flight messages count in the backlog.
  EXPECT_EQ(NumberOf(recorder.seen[0].body), 0);
  EXPECT_EQ(recorder.seen[0].attempts, 1);
}

TEST(Delivery, AttemptsStartAtOneAndGrowOnEveryRedelivery) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](platform::MessageBatch& batch) {
    for (auto& m : batch.messages()) m.Retry();
    return Status::Ok();
  });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_FALSE(recorder.seen.empty());
  EXPECT_EQ(recorder.AttemptsOf(recorder.seen[0].id), (std::vector<int>{1, 2, 3, 4}));
}

TEST(Delivery, HandlerSuccessAcksEveryMessageNotExplicitlyRetried) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](platform::MessageBatch& batch) {
    for (auto& m : batch.messages()) {
      if (NumberOf(m.body()) == 1 && m.attempts() == 1) m.Retry();
    }
    return Status::Ok();
  });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  std::map<int, int> deliveries;
  for (const auto& s : recorder.seen) ++deliveries[NumberOf(s.body)];
  EXPECT_EQ(deliveries[0], 1);
  EXPECT_EQ(deliveries[1], 2);
  EXPECT_EQ(deliveries[2], 1);
  EXPECT_EQ(world.queues().Find("jobs")->stats().acked, 3);
}

TEST(Delivery, FailingWaitUntilTaskFailsTheInvocation) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = AsyncRecordingHandler(
      recorder,
      [](platform::MessageBatch& batch, platform::Env& env,
         platform::ExecutionContext& ctx) -> Task<Status> {
        const bool first = batch.messages()[0].attempts() == 1;
        ctx.WaitUntil([](platform::Env& e, bool fail) -> Task<Status> {
          (void)co_await core::SleepFor(e.runtime(), e.clock(), Seconds(1));
          co_return fail ? Status::Unknown("background work failed") : Status::Ok();
        }(env, first));
        co_return Status::Ok();
      });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.AttemptsOf(recorder.seen[0].id), (std::vector<int>{1, 2}));
}

TEST(Delivery, WaitUntilTasksFinishBeforeTheOutcomeIsDecided) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder recorder;
  auto handler = AsyncRecordingHandler(recorder,
                                       [](platform::MessageBatch&, platform::Env& env,
                                          platform::ExecutionContext& ctx) -> Task<Status> {
                                         ctx.WaitUntil([](platform::Env& e) -> Task<Status> {
                                           co_return co_await core::SleepFor(e.runtime(), e.clock(),
                                                                             Seconds(10));
                                         }(env));
                                         co_return Status::Ok();
                                       });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunFor(Seconds(14)).ok());
  EXPECT_TRUE(TraceLines(sim, "queue.acked").empty());
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  const auto acked = TraceLines(sim, "queue.acked");
  ASSERT_EQ(acked.size(), 1u);
  const auto expected_t = (t0 + Seconds(15)).unix_ms();
  EXPECT_NE(acked[0].find("\"t\":" + std::to_string(expected_t)), std::string::npos) << acked[0];
}

TEST(Delivery, MessagesWaitForAConsumerInsteadOfBeingDropped) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs"));
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim.RunFor(core::Hours(1)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 3);
  ASSERT_TRUE(world.queues().AddConsumer(PushConsumer("jobs", RecordingHandler(recorder))).ok());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 3u);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(Delivery, ALateConsumerStillHonoursTheSendDelay) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs"));
  const Instant t0 = sim.now();
  ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json(1), platform::SendOptions::Delay(600)).ok());
  ASSERT_TRUE(sim.RunFor(Seconds(60)).ok());
  auto spec = PushConsumer("jobs", RecordingHandler(recorder));
  spec.max_batch_timeout = Duration::Zero();
  ASSERT_TRUE(world.queues().AddConsumer(spec).ok());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(recorder.seen[0].at, t0 + Seconds(600));
}

TEST(Delivery, WithoutFaultsMessagesArriveInSendOrder) {
  // Cloudflare promises no order; without injected reordering the emulator keeps FIFO, so
  // order-dependent bugs show up only when fault Q4 is on (see FaultsTest).
  Simulator sim(3);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  SendNumbers(sim, world.EnvFor("p"), 30);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(NumberOf(recorder.seen[i].body), i);
}

TEST(Delivery, RunUntilIdleWaitsForDelayedMessagesOfPushQueues) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  const Instant t0 = sim.now();
  ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json(1), platform::SendOptions::Delay(3600)).ok());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(recorder.seen[0].at, t0 + core::Hours(1) + Seconds(5));
}

}  // namespace
}  // namespace cfemu::testing
