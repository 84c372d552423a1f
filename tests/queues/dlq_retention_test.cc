// Retries running out, dead letter queues, retention (checklist 13-14).
#include <gtest/gtest.h>

#include "emulator/env_spec_check.h"
#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::MessageBatch;

Status RetryEverything(MessageBatch& batch) {
  for (auto& m : batch.messages()) m.Retry();
  return Status::Ok();
}

TEST(DeadLetter, MessageGoesToTheDeadLetterQueueAfterMaxRetries) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder main_seen;
  Recorder dead_seen;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(main_seen, RetryEverything)),
                                PushConsumer("jobs-dlq", RecordingHandler(dead_seen), "dlq")});
  spec.consumers[0].max_retries = 2;
  spec.consumers[0].dead_letter_queue = "jobs-dlq";
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(main_seen.seen.size(), 3u);  // max_retries + 1 deliveries.
  ASSERT_EQ(dead_seen.seen.size(), 1u);
  EXPECT_EQ(dead_seen.seen[0].id, main_seen.seen[0].id);                // Same id,
  EXPECT_EQ(dead_seen.seen[0].timestamp, main_seen.seen[0].timestamp);  // same send time,
  EXPECT_EQ(dead_seen.seen[0].attempts, 1);                             // attempts start again.
  EXPECT_EQ(NumberOf(dead_seen.seen[0].body), 0);
  EXPECT_EQ(world.queues().Find("jobs")->stats().dead_lettered, 1);
  const auto lines = TraceLines(sim, "queue.dead_lettered");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"attempts\":3"), std::string::npos) << lines[0];
}

TEST(DeadLetter, DefaultMaxRetriesGivesFourDeliveries) {
  Simulator sim(1);
  Recorder recorder;
  World world(
      sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, RetryEverything))}));
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 4u);
}

TEST(DeadLetter, MaxRetriesZeroMeansASingleDelivery) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, RetryEverything))});
  spec.consumers[0].max_retries = 0;
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 1u);
}

TEST(DeadLetter, MissingDeadLetterQueueIsCreated) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, RetryEverything))});
  spec.consumers[0].dead_letter_queue = "never-declared";
  spec.consumers[0].max_retries = 0;
  World world(sim, spec);
  ASSERT_NE(world.queues().Find("never-declared"), nullptr);
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  // No consumer on the dead letter queue: the messages wait there.
  EXPECT_EQ(world.queues().Find("never-declared")->Metrics().backlog_count, 2);
}

TEST(DeadLetter, ExhaustedMessageWithoutDeadLetterQueueIsDeletedAndReported) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, RetryEverything))});
  spec.consumers[0].max_retries = 1;
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(world.queues().Find("jobs")->stats().deleted, 1);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
  const auto lines = TraceLines(sim, "queue.deleted");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("retries_exhausted"), std::string::npos);
}

TEST(DeadLetter, AQueueCannotBeItsOwnDeadLetterQueue) {
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].dead_letter_queue = "jobs";
  const Status valid = emulator::ValidateEnvSpec(spec);
  ASSERT_FALSE(valid.ok());
  EXPECT_NE(valid.message().find("consumers[0].dead_letter_queue"), std::string::npos);
}

TEST(Retention, UndeliveredMessageExpiresAtRetentionAndIsReported) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  auto spec = OneQueue("jobs");
  spec.queues[0].message_retention_period = Seconds(60);
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunFor(Seconds(59)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 2);
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
  EXPECT_EQ(world.queues().Find("jobs")->stats().expired, 2);
  EXPECT_EQ(TraceLines(sim, "queue.expired").size(), 2u);
}

TEST(Retention, DefaultRetentionIsFourDays) {
  Simulator sim(1);
  World world(sim, OneQueue("jobs"));
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunFor(core::Days(4) - Seconds(1)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 1);
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(Retention, DeadLetterQueueWithoutConsumerKeepsMessagesUntilItsRetention) {
  Simulator sim(1);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, RetryEverything))});
  spec.queues.push_back({"dead"});
  spec.queues[1].message_retention_period = core::Hours(1);
  spec.consumers[0].dead_letter_queue = "dead";
  spec.consumers[0].max_retries = 0;
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunFor(core::Minutes(59)).ok());
  EXPECT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 1);
  ASSERT_TRUE(sim.RunFor(core::Minutes(2)).ok());
  EXPECT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 0);
  EXPECT_EQ(world.queues().Find("dead")->stats().expired, 1);
}

TEST(Retention, RetentionOutsideSixtySecondsToFourteenDaysIsRejected) {
  for (Duration bad : {Seconds(59), core::Days(14) + Seconds(1)}) {
    auto spec = OneQueue("jobs");
    spec.queues[0].message_retention_period = bad;
    const Status valid = emulator::ValidateEnvSpec(spec);
    EXPECT_FALSE(valid.ok()) << bad.ToString();
    EXPECT_NE(valid.message().find("queues[0].message_retention_period"), std::string::npos);
  }
  auto ok = OneQueue("jobs");
  ok.queues[0].message_retention_period = core::Days(14);
  EXPECT_TRUE(emulator::ValidateEnvSpec(ok).ok());
}

TEST(QueueNames, FollowCloudflareRules) {
  for (const std::string& bad :
       std::vector<std::string>{"Jobs", "jobs_1", "", std::string(64, 'a'), "../x"}) {
    EXPECT_FALSE(emulator::ValidateEnvSpec(OneQueue(bad)).ok()) << bad;
  }
  EXPECT_TRUE(emulator::ValidateEnvSpec(OneQueue("jobs-1")).ok());
  EXPECT_TRUE(emulator::ValidateEnvSpec(OneQueue(std::string(63, 'a'))).ok());
}

TEST(ConsumerSettings, OutOfRangeSettingsNameTheField) {
  Recorder recorder;
  struct Case {
    std::function<void(platform::ConsumerSpec&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& c) { c.max_batch_size = 101; }, "max_batch_size"},
      {[](auto& c) { c.max_batch_size = 0; }, "max_batch_size"},
      {[](auto& c) { c.max_batch_timeout = Seconds(61); }, "max_batch_timeout"},
      {[](auto& c) { c.max_retries = 101; }, "max_retries"},
      {[](auto& c) { c.retry_delay = Seconds(86'401); }, "retry_delay"},
      {[](auto& c) { c.max_concurrency = 251; }, "max_concurrency"},
      {[](auto& c) { c.max_concurrency = 0; }, "max_concurrency"},
      {[](auto& c) { c.handler = nullptr; }, "handler"},
  };
  for (const auto& c : cases) {
    auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
    c.mutate(spec.consumers[0]);
    const Status valid = emulator::ValidateEnvSpec(spec);
    ASSERT_FALSE(valid.ok()) << c.field;
    EXPECT_NE(valid.message().find("consumers[0]." + c.field), std::string::npos)
        << valid.message();
  }
}

}  // namespace
}  // namespace cfemu::testing
