// Pull consumers through the C++ API: leases, visibility, acks and retries by lease id
// (checklist 19-22; the REST form belongs to `serve`).
#include <set>

#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::LeaseId;

using platform::RetryRequest;

struct PullTest : ::testing::Test {
  Simulator sim{1};
  std::unique_ptr<World> world;
  platform::PullConsumer* pull = nullptr;

  void Build(std::function<void(platform::EnvSpec&)> adjust = {}) {
    auto spec = OneQueue("jobs", {PullConsumer("jobs")});
    if (adjust) adjust(spec);
    world = std::make_unique<World>(sim, spec);
    auto consumer = world->queues().PullConsumerFor("jobs");
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    pull = *consumer;
    sim.trace().KeepLines(true);
  }
  platform::PullResult Pull(int batch = 5, std::optional<Duration> visibility = std::nullopt) {
    auto result = sim.Run(pull->Pull(batch, visibility));
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : platform::PullResult{};
  }
  platform::AckResult Ack(std::vector<LeaseId> acks, std::vector<RetryRequest> retries = {}) {
    auto result = sim.Run(pull->Ack(std::move(acks), std::move(retries)));
    EXPECT_TRUE(result.ok());
    return result.ok() ? *result : platform::AckResult{};
  }
  std::int64_t Backlog() { return world->queues().Find("jobs")->Metrics().backlog_count; }
};

TEST_F(PullTest, PullLeasesUpToFiveMessagesByDefault) {
  Build();
  const Instant t0 = sim.now();
  SendNumbers(sim, world->EnvFor("p"), 7);
  auto result = sim.Run(pull->Pull());
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->messages.size(), 5u);
  EXPECT_EQ(result->backlog_count, 7);
  const auto& m = result->messages[0];
  EXPECT_TRUE(core::IsLowerHex(m.id, 32));
  EXPECT_EQ(m.attempts, 1);
  EXPECT_EQ(m.timestamp, t0);
  EXPECT_FALSE(m.lease_id.empty());
  EXPECT_EQ(NumberOf(m.body), 0);
  EXPECT_NE(result->messages[0].lease_id, result->messages[1].lease_id);
  EXPECT_EQ(Pull(100).messages.size(), 2u);  // The other five are leased.
}

TEST_F(PullTest, PullBatchSizeAndVisibilityAreBounded) {
  Build();
  EXPECT_EQ(sim.Run(pull->Pull(101)).code(), Code::kInvalidArgument);
  EXPECT_EQ(sim.Run(pull->Pull(0)).code(), Code::kInvalidArgument);
  EXPECT_EQ(sim.Run(pull->Pull(5, core::Hours(12) + Seconds(1))).code(), Code::kInvalidArgument);
  EXPECT_TRUE(sim.Run(pull->Pull(100, core::Hours(12))).ok());
}

TEST_F(PullTest, PullBodiesKeepTheirTypeAndV8IsRefused) {
  Build();
  auto& env = world->EnvFor("p");
  ASSERT_TRUE(Send(sim, env, platform::Text{"plain"}, platform::SendOptions("text")).ok());
  ASSERT_TRUE(Send(sim, env, core::BytesOf("raw"), platform::SendOptions("bytes")).ok());
  auto v8 = Send(sim, env, platform::V8Blob{core::BytesOf("x")}, platform::SendOptions("v8"));
  ASSERT_FALSE(v8.ok());
  EXPECT_EQ(v8.code(), Code::kInvalidArgument);
  EXPECT_NE(v8.status().message().find("http_pull"), std::string::npos);
  const auto result = Pull(10);
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(std::get<platform::Text>(result.messages[0].body).value, "plain");
  EXPECT_EQ(std::get<core::Bytes>(result.messages[1].body), core::BytesOf("raw"));
}

TEST_F(PullTest, PullLeaseExpiryRedeliversWithAttemptsPlusOne) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 1);
  const auto first = Pull();
  ASSERT_EQ(first.messages.size(), 1u);
  ASSERT_TRUE(sim.RunFor(Seconds(29)).ok());
  EXPECT_TRUE(Pull().messages.empty());  // Still leased.
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  const auto second = Pull();
  ASSERT_EQ(second.messages.size(), 1u);
  EXPECT_EQ(second.messages[0].id, first.messages[0].id);
  EXPECT_EQ(second.messages[0].attempts, 2);
  EXPECT_NE(second.messages[0].lease_id, first.messages[0].lease_id);
  EXPECT_EQ(TraceLines(sim, "queue.lease_expired").size(), 1u);
}

TEST_F(PullTest, ConsumerVisibilityTimeoutIsTheDefaultLease) {
  Build([](platform::EnvSpec& spec) { spec.consumers[0].visibility_timeout = Seconds(5); });
  SendNumbers(sim, world->EnvFor("p"), 1);
  ASSERT_EQ(Pull().messages.size(), 1u);
  ASSERT_TRUE(sim.RunFor(Seconds(6)).ok());
  EXPECT_EQ(Pull().messages.size(), 1u);
}

TEST_F(PullTest, ConcurrentPullersGetDisjointMessages) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 10);
  auto a = pull->Pull(5, std::nullopt);
  auto b = pull->Pull(5, std::nullopt);
  auto both = sim.Run(core::WhenAll<Result<platform::PullResult>>([&]() {
    std::vector<Task<Result<platform::PullResult>>> tasks;
    tasks.push_back(std::move(a));
    tasks.push_back(std::move(b));
    return tasks;
  }()));
  std::set<std::string> ids;
  for (const auto& result : both) {
    ASSERT_TRUE(result.ok());
    for (const auto& m : result->messages) EXPECT_TRUE(ids.insert(m.id).second) << m.id;
  }
  EXPECT_EQ(ids.size(), 10u);
}

TEST_F(PullTest, AckRemovesMessagesAndRetryRequeuesThem) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 3);
  const auto pulled = Pull();
  ASSERT_EQ(pulled.messages.size(), 3u);
  const auto result = Ack({pulled.messages[0].lease_id, pulled.messages[1].lease_id},
                          {RetryRequest(pulled.messages[2].lease_id)});
  EXPECT_EQ(result.ack_count, 2);
  EXPECT_EQ(result.retry_count, 1);
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(Backlog(), 1);
  const auto again = Pull();
  ASSERT_EQ(again.messages.size(), 1u);
  EXPECT_EQ(again.messages[0].id, pulled.messages[2].id);
  EXPECT_EQ(again.messages[0].attempts, 2);
}

TEST_F(PullTest, RetryDelayHoldsTheMessageBack) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 1);
  const auto pulled = Pull();
  Ack({}, {RetryRequest(pulled.messages[0].lease_id, 60)});
  ASSERT_TRUE(sim.RunFor(Seconds(59)).ok());
  EXPECT_TRUE(Pull().messages.empty());
  ASSERT_TRUE(sim.RunFor(Seconds(2)).ok());
  EXPECT_EQ(Pull().messages.size(), 1u);
}

TEST_F(PullTest, AckWithAnExpiredLeaseStillRemovesTheMessage) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 1);
  const auto first = Pull();
  ASSERT_TRUE(sim.RunFor(Seconds(31)).ok());
  const auto second = Pull();  // Re-leased to another puller.
  ASSERT_EQ(second.messages.size(), 1u);
  const auto late = Ack({first.messages[0].lease_id});
  EXPECT_EQ(late.ack_count, 1);
  EXPECT_EQ(Backlog(), 0);
  // The second holder's ack now finds nothing: a warning, no change.
  const auto stale = Ack({second.messages[0].lease_id});
  EXPECT_EQ(stale.ack_count, 0);
  EXPECT_EQ(stale.warnings.size(), 1u);
}

TEST_F(PullTest, UnknownLeaseAckIsAWarningThatChangesNothing) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 1);
  const auto result = Ack({"not-a-lease"}, {RetryRequest("also-not")});
  EXPECT_EQ(result.ack_count, 0);
  EXPECT_EQ(result.retry_count, 0);
  EXPECT_EQ(result.warnings.size(), 2u);
  EXPECT_EQ(Backlog(), 1);
}

TEST_F(PullTest, RetryWithAnExpiredLeaseIsAWarning) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 1);
  const auto first = Pull();
  ASSERT_TRUE(sim.RunFor(Seconds(31)).ok());
  const auto result = Ack({}, {RetryRequest(first.messages[0].lease_id)});
  EXPECT_EQ(result.retry_count, 0);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings.begin()->second.find("expired"), std::string::npos);
}

TEST_F(PullTest, LeaseExpiriesCountTowardsMaxRetries) {
  Build([](platform::EnvSpec& spec) {
    spec.consumers[0].max_retries = 1;
    spec.consumers[0].dead_letter_queue = "dead";
  });
  SendNumbers(sim, world->EnvFor("p"), 1);
  ASSERT_EQ(Pull().messages.size(), 1u);
  ASSERT_TRUE(sim.RunFor(Seconds(31)).ok());
  ASSERT_EQ(Pull().messages.size(), 1u);
  ASSERT_TRUE(sim.RunFor(Seconds(31)).ok());
  EXPECT_TRUE(Pull().messages.empty());
  EXPECT_EQ(world->queues().Find("dead")->Metrics().backlog_count, 1);
}

TEST_F(PullTest, PullOfAQueueWithoutPullConsumerIsAnError) {
  Simulator other(1);
  Recorder recorder;
  World push_only(other, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  EXPECT_EQ(push_only.queues().PullConsumerFor("jobs").code(), Code::kFailedPrecondition);
  EXPECT_EQ(push_only.queues().PullConsumerFor("nope").code(), Code::kNotFound);
}

TEST_F(PullTest, PullQueuesDoNotKeepRunUntilIdleBusy) {
  Build();
  SendNumbers(sim, world->EnvFor("p"), 3);
  EXPECT_TRUE(sim.RunUntilIdle(core::Minutes(1)).ok());
  EXPECT_EQ(Backlog(), 3);
}

}  // namespace
}  // namespace cfemu::testing
