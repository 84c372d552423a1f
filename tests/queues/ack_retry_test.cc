// Acknowledgement and retries: failure semantics, first-call-wins, delay precedence
// (checklist 10-12).
#include <stdexcept>

#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::MessageBatch;
using platform::RetryOptions;

// Runs a world with one queue whose handler applies `script` on first delivery only (later
// deliveries return OK) and returns the recorder after the world is idle.
struct AckTest : ::testing::Test {
  Simulator sim{1};
  Recorder recorder;
  std::unique_ptr<World> world;

  void Run(int messages, std::function<Status(MessageBatch&)> first_delivery,
           Duration retry_delay = Duration::Zero()) {
    auto handler = RecordingHandler(recorder, [first_delivery](MessageBatch& batch) {
      if (batch.messages()[0].attempts() == 1) return first_delivery(batch);
      return Status::Ok();
    });
    auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
    spec.consumers[0].retry_delay = retry_delay;
    world = std::make_unique<World>(sim, spec);
    sim.trace().KeepLines(true);
    SendNumbers(sim, world->EnvFor("p"), messages);
    ASSERT_TRUE(sim.RunUntilIdle().ok());
  }
  int DeliveriesOf(int n) const {
    int count = 0;
    for (const auto& s : recorder.seen) count += NumberOf(s.body) == n ? 1 : 0;
    return count;
  }
};

TEST_F(AckTest, ExplicitAckSurvivesHandlerThrow) {
  Run(3, [](MessageBatch& batch) {
    batch.messages()[0].Ack();
    throw std::runtime_error("boom");
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  EXPECT_EQ(DeliveriesOf(1), 2);
  EXPECT_EQ(DeliveriesOf(2), 2);
  EXPECT_EQ(TraceLines(sim, "queue.handler_exception").size(), 1u);
}

TEST_F(AckTest, FailedHandlerRetriesEveryMessageNotExplicitlyAcked) {
  Run(4, [](MessageBatch& batch) {
    batch.messages()[1].Ack();
    batch.messages()[3].Ack();
    return Status::Unknown("handler failed");
  });
  EXPECT_EQ(DeliveriesOf(0), 2);
  EXPECT_EQ(DeliveriesOf(1), 1);
  EXPECT_EQ(DeliveriesOf(2), 2);
  EXPECT_EQ(DeliveriesOf(3), 1);
  EXPECT_EQ(world->queues().Find("jobs")->stats().invocations_failed, 1);
}

TEST_F(AckTest, AckAllMakesTheBatchSucceedEvenIfTheHandlerThrows) {
  Run(3, [](MessageBatch& batch) {
    batch.AckAll();
    throw std::runtime_error("after ackAll");
    return Status::Ok();
  });
  for (int n = 0; n < 3; ++n) EXPECT_EQ(DeliveriesOf(n), 1) << n;
}

TEST_F(AckTest, AckThenRetryKeepsTheAck) {
  Run(1, [](MessageBatch& batch) {
    batch.messages()[0].Ack();
    batch.messages()[0].Retry();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  const auto ignored = TraceLines(sim, "queue.call_ignored");
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_NE(ignored[0].find("called after ack()"), std::string::npos);
}

TEST_F(AckTest, RetryThenAckKeepsTheRetry) {
  Run(1, [](MessageBatch& batch) {
    batch.messages()[0].Retry();
    batch.messages()[0].Ack();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 2);
  EXPECT_EQ(TraceLines(sim, "queue.call_ignored").size(), 1u);
}

TEST_F(AckTest, PerMessageRetryBeatsALaterAckAll) {
  Run(3, [](MessageBatch& batch) {
    batch.messages()[1].Retry();
    batch.AckAll();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  EXPECT_EQ(DeliveriesOf(1), 2);
  EXPECT_EQ(DeliveriesOf(2), 1);
}

TEST_F(AckTest, PerMessageAckBeatsALaterRetryAll) {
  Run(3, [](MessageBatch& batch) {
    batch.messages()[0].Ack();
    batch.RetryAll();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  EXPECT_EQ(DeliveriesOf(1), 2);
  EXPECT_EQ(DeliveriesOf(2), 2);
}

TEST_F(AckTest, AckAfterRetryAllIsIgnoredWithAWarning) {
  Run(2, [](MessageBatch& batch) {
    batch.RetryAll();
    batch.messages()[0].Ack();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 2);
  EXPECT_EQ(DeliveriesOf(1), 2);
  const auto ignored = TraceLines(sim, "queue.call_ignored");
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_NE(ignored[0].find("called after retryAll()"), std::string::npos);
}

TEST_F(AckTest, RetryAfterAckAllIsIgnoredWithAWarning) {
  Run(2, [](MessageBatch& batch) {
    batch.AckAll();
    batch.messages()[0].Retry();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  EXPECT_EQ(TraceLines(sim, "queue.call_ignored").size(), 1u);
}

TEST_F(AckTest, RetryAllAfterAckAllAndAckAllAfterRetryAllAreIgnored) {
  Run(2, [](MessageBatch& batch) {
    batch.AckAll();
    batch.RetryAll();
    return Status::Ok();
  });
  EXPECT_EQ(DeliveriesOf(0), 1);
  EXPECT_EQ(DeliveriesOf(1), 1);
  EXPECT_EQ(TraceLines(sim, "queue.call_ignored").size(), 1u);
}

TEST(AckPrecedence, AckAllAfterRetryAllIsIgnored) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](MessageBatch& batch) {
    if (batch.messages()[0].attempts() == 1) {
      batch.RetryAll();
      batch.AckAll();
    }
    return Status::Ok();
  });
  World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 4u);
}

// Checklist 12: message > retryAll > consumer retry_delay > 0.
TEST(RetryDelay, PrecedenceIsMessageThenRetryAllThenConsumer) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](MessageBatch& batch) {
    if (batch.messages()[0].attempts() > 1) return Status::Ok();
    batch.messages()[0].Retry(RetryOptions(5));  // Message delay.
    batch.messages()[1].Retry();                 // No own delay: retryAll's applies.
    batch.messages()[3].Retry(RetryOptions(0));  // 0 overrides every default.
    batch.RetryAll(RetryOptions(10));            // Applies to 1 and 2.
    return Status::Ok();
  });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
  spec.consumers[0].retry_delay = Seconds(30);
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(sim, spec);
  std::vector<platform::MessageSendRequest> four;
  for (int n = 0; n < 4; ++n) four.emplace_back(Json{{"n", n}});
  ASSERT_TRUE(SendBatch(sim, world.EnvFor("p"), std::move(four)).ok());
  const Instant t0 = sim.now();
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  std::map<int, Duration> redelivered_after;
  for (const auto& s : recorder.seen) {
    if (s.attempts == 2) redelivered_after[NumberOf(s.body)] = s.at - t0;
  }
  EXPECT_EQ(redelivered_after[0], Seconds(5));
  EXPECT_EQ(redelivered_after[1], Seconds(10));
  EXPECT_EQ(redelivered_after[2], Seconds(10));
  EXPECT_EQ(redelivered_after[3], Duration::Zero());
}

TEST(RetryDelay, ConsumerRetryDelayAppliesToImplicitRetries) {
  Simulator sim(1);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](MessageBatch& batch) {
    return batch.messages()[0].attempts() == 1 ? Status::Unknown("fail") : Status::Ok();
  });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
  spec.consumers[0].retry_delay = Seconds(30);
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(sim, spec);
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 2u);
  EXPECT_EQ(recorder.seen[1].at - t0, Seconds(30));
}

TEST(RetryDelay, OutOfRangeRetryDelayFallsBackToTheNextSettingAndIsTraced) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [](MessageBatch& batch) {
    if (batch.messages()[0].attempts() == 1) batch.messages()[0].Retry(RetryOptions(90'000));
    return Status::Ok();
  });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
  spec.consumers[0].retry_delay = Seconds(7);
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(sim, spec);
  const Instant t0 = sim.now();
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 2u);
  EXPECT_EQ(recorder.seen[1].at - t0, Seconds(7));
  EXPECT_EQ(TraceLines(sim, "queue.call_ignored").size(), 1u);
}

TEST(AckAfterEnd, AckAfterTheInvocationEndedChangesNothing) {
  Simulator sim(1);
  sim.trace().KeepLines(true);
  std::vector<platform::Message> kept;
  Recorder recorder;
  auto handler = RecordingHandler(recorder, [&kept](MessageBatch& batch) {
    kept = batch.messages();
    batch.messages()[0].Retry();
    return Status::Ok();
  });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
  spec.consumers[0].max_retries = 0;
  World world(sim, spec);
  SendNumbers(sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(kept.size(), 1u);
  kept[0].Ack();  // The batch already resolved: a no-op, traced.
  EXPECT_EQ(TraceLines(sim, "queue.call_ignored").size(), 1u);
  EXPECT_EQ(world.queues().Find("jobs")->stats().deleted, 1);
  EXPECT_EQ(world.queues().Find("jobs")->stats().acked, 0);
}

}  // namespace
}  // namespace cfemu::testing
