// The producer binding: validation, limits with production's codes, delays (checklist 1-5).
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Simulator;
using emulator::World;
using platform::MessageSendRequest;
using platform::SendOptions;
using platform::Text;

std::string TextOfSize(std::size_t n) { return std::string(n, 'x'); }

struct ProducerTest : ::testing::Test {
  Simulator sim{1};
  Recorder recorder;
  std::unique_ptr<World> world;
  platform::Env* env = nullptr;

  void Build(platform::EnvSpec spec, emulator::WorldOptions options = {}) {
    world = std::make_unique<World>(sim, std::move(spec), options);
    env = &world->EnvFor("producer");
  }
  void BuildWithConsumer() {
    Build(OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  }
};

TEST_F(ProducerTest, SendRejectsAnUndefinedBody) {
  BuildWithConsumer();
  auto sent = Send(sim, *env, Json(Json::value_t::discarded));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.code(), Code::kInvalidArgument);
  EXPECT_EQ(sent.status().cf_code(), 10203);
  EXPECT_EQ(world->queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST_F(ProducerTest, SendBatchRejectsAnEmptyBatch) {
  BuildWithConsumer();
  auto sent = SendBatch(sim, *env, {});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.code(), Code::kInvalidArgument);
  EXPECT_EQ(sent.status().message(), "sendBatch() requires at least one message (10203)");
}

TEST_F(ProducerTest, SendMatchesContentTypeCaseInsensitivelyButSendBatchDoesNot) {
  BuildWithConsumer();
  EXPECT_TRUE(Send(sim, *env, Text{"a"}, SendOptions("TEXT")).ok());
  std::vector<MessageSendRequest> batch;
  batch.emplace_back(Text{"a"}, SendOptions("TEXT"));
  auto rejected = SendBatch(sim, *env, std::move(batch));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().message(), "Unsupported queue message content type: TEXT (10203)");
  std::vector<MessageSendRequest> lower;
  lower.emplace_back(Text{"a"}, SendOptions("text"));
  EXPECT_TRUE(SendBatch(sim, *env, std::move(lower)).ok());
}

TEST_F(ProducerTest, UnknownContentTypeIsRejected) {
  BuildWithConsumer();
  auto sent = Send(sim, *env, Text{"a"}, SendOptions("xml"));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.status().cf_code(), 10203);
}

TEST_F(ProducerTest, DefaultContentTypeIsJsonOnCurrentCompatibilityDates) {
  BuildWithConsumer();
  ASSERT_TRUE(Send(sim, *env, Text{"hello"}).ok());
  ASSERT_TRUE(sim.RunFor(Seconds(6)).ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(std::get<Json>(recorder.seen[0].body), Json("hello"));
  // A binary body under the json default is refused rather than serialized as {}.
  auto bytes = Send(sim, *env, core::BytesOf("raw"));
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Send(sim, *env, core::BytesOf("raw"), SendOptions("bytes")).ok());
}

TEST_F(ProducerTest, DefaultContentTypeIsV8BeforeTheJsonMessagesDate) {
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.compatibility_date = "2024-01-01";
  Build(std::move(spec));
  ASSERT_TRUE(Send(sim, *env, Text{"hello"}).ok());
  ASSERT_TRUE(Send(sim, *env, core::BytesOf("raw")).ok());  // v8 carries binary.
  ASSERT_TRUE(sim.RunFor(Seconds(6)).ok());
  ASSERT_EQ(recorder.seen.size(), 2u);
  EXPECT_EQ(std::get<Text>(recorder.seen[0].body).value, "hello");
  EXPECT_EQ(std::get<core::Bytes>(recorder.seen[1].body), core::BytesOf("raw"));
}

TEST_F(ProducerTest, TextContentTypeRequiresAStringBody) {
  BuildWithConsumer();
  auto sent = Send(sim, *env, Json{{"a", 1}}, SendOptions("text"));
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.status().message().find("requires a value of type string"), std::string::npos);
}

TEST_F(ProducerTest, MessageOver128000BytesIsRejectedWith10204) {
  BuildWithConsumer();
  // 127,900 bytes of text + 100 bytes of metadata = exactly the limit.
  EXPECT_TRUE(Send(sim, *env, Text{TextOfSize(127'900)}, SendOptions("text")).ok());
  auto over = Send(sim, *env, Text{TextOfSize(127'901)}, SendOptions("text"));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), Code::kTooLarge);
  EXPECT_EQ(over.status().cf_code(), 10204);
  EXPECT_NE(over.status().message().find("(10204)"), std::string::npos);
}

TEST_F(ProducerTest, BatchOver100MessagesIsRejectedWith10206) {
  BuildWithConsumer();
  std::vector<MessageSendRequest> hundred(100, MessageSendRequest(Json(1)));
  EXPECT_TRUE(SendBatch(sim, *env, std::move(hundred)).ok());
  std::vector<MessageSendRequest> over(101, MessageSendRequest(Json(1)));
  auto sent = SendBatch(sim, *env, std::move(over));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.code(), Code::kTooLarge);
  EXPECT_EQ(sent.status().cf_code(), 10206);
}

TEST_F(ProducerTest, BatchOver256000BytesIsRejectedWith10205) {
  BuildWithConsumer();
  std::vector<MessageSendRequest> exact;
  exact.emplace_back(Text{TextOfSize(127'900)}, SendOptions("text"));
  exact.emplace_back(Text{TextOfSize(127'900)}, SendOptions("text"));
  EXPECT_TRUE(SendBatch(sim, *env, std::move(exact)).ok());
  std::vector<MessageSendRequest> over;  // Each message fits; together they do not.
  over.emplace_back(Text{TextOfSize(127'900)}, SendOptions("text"));
  over.emplace_back(Text{TextOfSize(1)}, SendOptions("text"));
  over.emplace_back(Text{TextOfSize(127'900)}, SendOptions("text"));
  auto sent = SendBatch(sim, *env, std::move(over));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.status().cf_code(), 10205);
  // Nothing of a rejected batch is stored.
  EXPECT_EQ(world->queues().Find("jobs")->stats().sent, 2);
}

TEST_F(ProducerTest, DelaySecondsMustBeWithinZeroTo86400) {
  BuildWithConsumer();
  EXPECT_TRUE(Send(sim, *env, Json(1), SendOptions::Delay(0)).ok());
  EXPECT_TRUE(Send(sim, *env, Json(1), SendOptions::Delay(86'400)).ok());
  for (int bad : {-1, 86'401}) {
    auto sent = Send(sim, *env, Json(1), SendOptions::Delay(bad));
    ASSERT_FALSE(sent.ok()) << bad;
    EXPECT_EQ(sent.status().cf_code(), 10203);
  }
  std::vector<MessageSendRequest> batch(1, MessageSendRequest(Json(1)));
  auto bad_batch = SendBatch(sim, *env, batch, 86'401);
  ASSERT_FALSE(bad_batch.ok());
  EXPECT_EQ(bad_batch.status().cf_code(), 10202);
  EXPECT_TRUE(SendBatch(sim, *env, batch, 0).ok());
}

TEST_F(ProducerTest, DelayLimitCanReproduceTheOlder43200SecondLimit) {
  emulator::WorldOptions options;
  options.queue_limits.max_delay_seconds = core::limits::kQueueLegacyMaxDelaySeconds;
  Build(OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}), options);
  EXPECT_TRUE(Send(sim, *env, Json(1), SendOptions::Delay(43'200)).ok());
  EXPECT_FALSE(Send(sim, *env, Json(1), SendOptions::Delay(43'201)).ok());
}

// Checklist 5: message > batch > queue delivery_delay; 0 turns a default off.
TEST_F(ProducerTest, SendDelayPrecedenceIsMessageThenBatchThenQueue) {
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.queues[0].delivery_delay = Seconds(60);
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  Build(std::move(spec));
  const Instant t0 = sim.now();
  ASSERT_TRUE(Send(sim, *env, Json{{"n", 0}}).ok());                          // Queue: 60 s.
  ASSERT_TRUE(Send(sim, *env, Json{{"n", 1}}, SendOptions::Delay(10)).ok());  // Message: 10 s.
  ASSERT_TRUE(Send(sim, *env, Json{{"n", 2}}, SendOptions::Delay(0)).ok());   // 0: no delay.
  std::vector<MessageSendRequest> batch;
  batch.emplace_back(Json{{"n", 3}});                         // Batch: 30 s.
  batch.emplace_back(Json{{"n", 4}}, SendOptions::Delay(5));  // Message beats batch: 5 s.
  ASSERT_TRUE(SendBatch(sim, *env, std::move(batch), 30).ok());
  std::vector<MessageSendRequest> zero;
  zero.emplace_back(Json{{"n", 5}});  // Batch 0 beats the queue.
  ASSERT_TRUE(SendBatch(sim, *env, std::move(zero), 0).ok());
  ASSERT_TRUE(sim.RunFor(core::Minutes(2)).ok());
  std::map<int, Duration> delay;
  for (const auto& s : recorder.seen) delay[NumberOf(s.body)] = s.at - t0;
  EXPECT_EQ(delay[0], Seconds(60));
  EXPECT_EQ(delay[1], Seconds(10));
  EXPECT_EQ(delay[2], Duration::Zero());
  EXPECT_EQ(delay[3], Seconds(30));
  EXPECT_EQ(delay[4], Seconds(5));
  EXPECT_EQ(delay[5], Duration::Zero());
}

TEST_F(ProducerTest, ProducerBindingDeliveryDelayOverridesTheQueueDefault) {
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.queues[0].delivery_delay = Seconds(60);
  spec.producers[0].delivery_delay = Seconds(20);
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  Build(std::move(spec));
  const Instant t0 = sim.now();
  ASSERT_TRUE(Send(sim, *env, Json{{"n", 0}}).ok());
  ASSERT_TRUE(sim.RunFor(core::Minutes(2)).ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(recorder.seen[0].at - t0, Seconds(20));
}

TEST_F(ProducerTest, SendReportsBacklogMetrics) {
  Build(OneQueue("jobs"));  // No consumer: messages stay.
  const Instant t0 = sim.now();
  auto first = Send(sim, *env, Text{"abc"}, SendOptions("text"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->metrics.backlog_count, 1);
  EXPECT_EQ(first->metrics.backlog_bytes, 103);
  EXPECT_EQ(first->metrics.oldest_message_timestamp, t0);
  ASSERT_TRUE(sim.RunFor(Seconds(3)).ok());
  auto second = Send(sim, *env, Text{"abcdef"}, SendOptions("text", 600));  // Delayed counts.
  EXPECT_EQ(second->metrics.backlog_count, 2);
  EXPECT_EQ(second->metrics.backlog_bytes, 209);
  EXPECT_EQ(second->metrics.oldest_message_timestamp, t0);
}

TEST_F(ProducerTest, MetricsOfAnEmptyQueueHaveNoOldestTimestamp) {
  Build(OneQueue("jobs"));
  auto producer = env->Queue("Q");
  ASSERT_TRUE(producer.ok());
  auto metrics = sim.Run((*producer)->Metrics());
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->backlog_count, 0);
  EXPECT_FALSE(metrics->oldest_message_timestamp.has_value());
}

TEST_F(ProducerTest, UnknownBindingIsNotFound) {
  Build(OneQueue("jobs"));
  auto producer = env->Queue("NOPE");
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.code(), Code::kNotFound);
}

TEST_F(ProducerTest, MessageIdsAre32HexCharactersAndTimestampsAreSendTimes) {
  BuildWithConsumer();
  ASSERT_TRUE(sim.RunFor(Seconds(42)).ok());
  const Instant sent_at = sim.now();
  ASSERT_TRUE(Send(sim, *env, Json(1)).ok());
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_TRUE(core::IsLowerHex(recorder.seen[0].id, 32));
  EXPECT_EQ(recorder.seen[0].timestamp, sent_at);
}

}  // namespace
}  // namespace cfemu::testing
