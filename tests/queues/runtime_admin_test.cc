// Queues created, changed and deleted at runtime, as the REST API does it: delete, settings,
// consumer update and removal (checklist 24, cloudflare-platform.md §1.8).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Simulator;
using emulator::World;

TEST(RuntimeQueues, CreatedQueueIsFoundByItsId) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs"));
  platform::QueueSpec spec;
  spec.name = "fresh";
  auto created = world.queues().CreateQueue(spec);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(world.queues().FindById((*created)->id()), *created);
  EXPECT_EQ(world.queues().FindById("00000000000000000000000000000000"), nullptr);
}

TEST(RuntimeQueues, DeletedQueueIsGoneAndItsNameCanBeReused) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  emulator::QueueBroker* old = world.queues().Find("jobs");
  ASSERT_TRUE(world.queues().DeleteQueue("jobs").ok());
  EXPECT_EQ(world.queues().Find("jobs"), nullptr);
  EXPECT_TRUE(old->deleted());
  EXPECT_EQ(old->Metrics().backlog_count, 0);
  EXPECT_EQ(world.queues().DeleteQueue("jobs").code(), Code::kNotFound);
  platform::QueueSpec spec;
  spec.name = "jobs";
  EXPECT_TRUE(world.queues().CreateQueue(spec).ok());
}

TEST(RuntimeQueues, SendToADeletedQueueIsNotFoundWith10104) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  platform::Env& env = world.EnvFor("p");
  ASSERT_TRUE(Send(sim, env, Json(0)).ok());  // Binds the producer to the queue.
  ASSERT_TRUE(world.queues().DeleteQueue("jobs").ok());
  auto sent = Send(sim, env, Json(1));
  EXPECT_EQ(sent.code(), Code::kNotFound);
  EXPECT_EQ(sent.status().cf_code(), 10104);
}

TEST(RuntimeQueues, UpdatedDeliveryDelayAppliesToLaterSends) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  platform::QueueSpec spec = world.queues().Find("jobs")->spec();
  spec.delivery_delay = Seconds(60);
  ASSERT_TRUE(world.queues().UpdateQueue(spec).ok());
  SendNumbers(sim, world.EnvFor("p"), 1);
  auto pull = world.queues().PullConsumerFor("jobs");
  EXPECT_TRUE(sim.Run((*pull)->Pull(10, std::nullopt))->messages.empty());
  ASSERT_TRUE(sim.RunFor(Seconds(60)).ok());
  EXPECT_EQ(sim.Run((*pull)->Pull(10, std::nullopt))->messages.size(), 1u);
}

TEST(RuntimeQueues, ShorterRetentionExpiresOldMessages) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunFor(Seconds(120)).ok());
  platform::QueueSpec spec = world.queues().Find("jobs")->spec();
  spec.message_retention_period = Seconds(60);
  ASSERT_TRUE(world.queues().UpdateQueue(spec).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(RuntimeQueues, InvalidSettingsAreRefused) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs"));
  platform::QueueSpec spec = world.queues().Find("jobs")->spec();
  spec.message_retention_period = Seconds(1);
  EXPECT_EQ(world.queues().UpdateQueue(spec).code(), Code::kInvalidArgument);
}

TEST(RuntimeConsumers, UpdatedVisibilityTimeoutAppliesToLaterPulls) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  platform::ConsumerSpec spec = world.queues().Find("jobs")->consumer(0);
  spec.visibility_timeout = Seconds(5);
  ASSERT_TRUE(world.queues().UpdateConsumer(0, spec).ok());
  SendNumbers(sim, world.EnvFor("p"), 1);
  auto pull = world.queues().PullConsumerFor("jobs");
  ASSERT_EQ(sim.Run((*pull)->Pull(10, std::nullopt))->messages.size(), 1u);
  ASSERT_TRUE(sim.RunFor(Seconds(5)).ok());
  auto again = sim.Run((*pull)->Pull(10, std::nullopt));
  ASSERT_EQ(again->messages.size(), 1u);
  EXPECT_EQ(again->messages[0].attempts, 2);
}

TEST(RuntimeConsumers, RemovedConsumerReleasesItsMessages) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(world.queues().RemoveConsumer("jobs", 0).ok());
  emulator::QueueBroker* queue = world.queues().Find("jobs");
  EXPECT_EQ(queue->Metrics().backlog_count, 0);
  EXPECT_TRUE(queue->consumer_removed(0));
  EXPECT_EQ(world.queues().PullConsumerFor("jobs").code(), Code::kFailedPrecondition);
  EXPECT_EQ(world.queues().RemoveConsumer("jobs", 0).code(), Code::kNotFound);
}

TEST(RuntimeConsumers, MessagesSentAfterARemovalGoToTheRemainingConsumers) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  ASSERT_TRUE(world.queues().RemoveConsumer("jobs", 0).ok());
  ASSERT_TRUE(world.queues().AddConsumer(PullConsumer("jobs")).ok());
  SendNumbers(sim, world.EnvFor("p"), 2);
  auto pull = world.queues().PullConsumerFor("jobs");
  ASSERT_TRUE(pull.ok());
  auto pulled = sim.Run((*pull)->Pull(10, std::nullopt));
  ASSERT_EQ(pulled->messages.size(), 2u);
  std::vector<platform::LeaseId> acks;
  for (const auto& m : pulled->messages) acks.push_back(m.lease_id);
  ASSERT_EQ(sim.Run((*pull)->Ack(acks, {}))->ack_count, 2);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(PeekAndPurgeRefs, PeekShowsMessagesWithoutLeasingThem) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  emulator::QueueBroker* queue = world.queues().Find("jobs");
  const auto peeked = queue->Peek(2);
  ASSERT_EQ(peeked.size(), 2u);
  EXPECT_EQ(NumberOf(peeked[0].body), 0);
  EXPECT_EQ(peeked[0].attempts, 1);
  auto pull = world.queues().PullConsumerFor("jobs");
  EXPECT_EQ(sim.Run((*pull)->Pull(10, std::nullopt))->messages.size(), 3u);  // Nothing leased.
}

TEST(PeekAndPurgeRefs, PurgeRefsDeletesOnlyTheNamedMessages) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(sim, world.EnvFor("p"), 3);
  emulator::QueueBroker* queue = world.queues().Find("jobs");
  const auto peeked = queue->Peek(10);
  const auto warnings = queue->PurgeRefs({peeked[1].ref, "1-nope", "junk", peeked[1].ref});
  EXPECT_EQ(warnings.size(), 3u);  // "1-nope", "junk", and the repeat: its message is gone.
  EXPECT_TRUE(warnings.count("junk"));
  EXPECT_EQ(queue->Metrics().backlog_count, 2);
  auto pull = world.queues().PullConsumerFor("jobs");
  auto pulled = sim.Run((*pull)->Pull(10, std::nullopt));
  ASSERT_EQ(pulled->messages.size(), 2u);
  EXPECT_EQ(NumberOf(pulled->messages[0].body), 0);
  EXPECT_EQ(NumberOf(pulled->messages[1].body), 2);
}

}  // namespace
}  // namespace cfemu::testing
