// Several consumers on one queue: each gets every message, with its own retries and dead
// letter queue (checklist 25).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::MessageBatch;

TEST(MultiConsumer, EveryConsumerReceivesEveryMessage) {
  Simulator sim(1);
  Recorder a;
  Recorder b;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(a), "worker-a"),
                                     PushConsumer("jobs", RecordingHandler(b), "worker-b")}));
  SendNumbers(sim, world.EnvFor("p"), 5);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(a.seen.size(), 5u);
  EXPECT_EQ(b.seen.size(), 5u);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(MultiConsumer, RetriesAndDeadLetterQueuesArePerConsumer) {
  Simulator sim(1);
  Recorder ok;
  Recorder failing;
  Recorder dead;
  auto fail = RecordingHandler(failing, [](MessageBatch& batch) {
    batch.RetryAll();
    return Status::Ok();
  });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(ok), "worker-a"),
                                PushConsumer("jobs", fail, "worker-b"),
                                PushConsumer("dead-b", RecordingHandler(dead), "dlq")});
  spec.consumers[1].max_retries = 2;
  spec.consumers[1].dead_letter_queue = "dead-b";
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(ok.seen.size(), 1u);
  EXPECT_EQ(failing.AttemptsOf(failing.seen[0].id), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(dead.seen.size(), 1u);
}

TEST(MultiConsumer, MessageLeavesOnlyWhenEveryConsumerResolvedIt) {
  Simulator sim(1);
  Recorder fast;
  Recorder slow;
  auto slow_handler = AsyncRecordingHandler(
      slow, [](MessageBatch&, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
        co_return co_await core::SleepFor(env.runtime(), env.clock(), core::Minutes(1));
      });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(fast), "fast"),
                                     PushConsumer("jobs", slow_handler, "slow")}));
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunFor(Seconds(30)).ok());
  EXPECT_EQ(fast.seen.size(), 1u);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 1);
  ASSERT_TRUE(sim.RunFor(core::Minutes(1)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(MultiConsumer, PushAndPullConsumersShareAQueue) {
  Simulator sim(1);
  Recorder push;
  World world(
      sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(push)), PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  EXPECT_EQ(push.seen.size(), 2u);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 2);  // Pull still owes them.
  auto pull = *world.queues().PullConsumerFor("jobs");
  auto pulled = sim.Run(pull->Pull(10, std::nullopt));
  ASSERT_EQ(pulled->messages.size(), 2u);
  std::vector<platform::LeaseId> leases;
  for (const auto& m : pulled->messages) leases.push_back(m.lease_id);
  ASSERT_EQ(sim.Run(pull->Ack(leases, {}))->ack_count, 2);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(MultiConsumer, ASecondConsumerFromTheSameWorkerIsRejected) {
  Simulator sim(1);
  Recorder recorder;
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  auto again = world.queues().AddConsumer(PushConsumer("jobs", RecordingHandler(recorder)));
  EXPECT_EQ(again.code(), core::Code::kAlreadyExists);
}

}  // namespace
}  // namespace cfemu::testing
