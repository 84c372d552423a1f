// The broker on disk: a restart finds every message in the state it was in (checklist item 67's
// counterpart for Queues; the kill -9 test of `serve` builds on it).
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"
#include "tests/testing/test_dir.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;

struct PersistTest : ::testing::Test {
  ScopedTestDir scoped;
  std::filesystem::path dir = scoped.path();
  emulator::WorldOptions Options() {
    emulator::WorldOptions options;
    options.persist_dir = dir;
    return options;
  }
};

TEST_F(PersistTest, StoredDelayedAndDeadLetteredMessagesSurviveARestart) {
  platform::EnvSpec spec = OneQueue("jobs");
  spec.queues.push_back({"dead"});
  {
    Simulator sim(1);
    World world(sim, spec, Options());
    SendNumbers(sim, world.EnvFor("p"), 2);
    ASSERT_TRUE(
        Send(sim, world.EnvFor("p"), Json{{"n", 9}}, platform::SendOptions::Delay(600)).ok());
  }
  Simulator sim(2);
  Recorder recorder;
  spec.consumers.push_back(PushConsumer("jobs", RecordingHandler(recorder)));
  World world(sim, spec, Options());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 3);
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  EXPECT_EQ(recorder.seen.size(), 2u);  // The delayed one still waits.
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 3u);
  EXPECT_EQ(NumberOf(recorder.seen[2].body), 9);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST_F(PersistTest, AnInvocationCutShortByTheRestartCountsAsAFailedAttempt) {
  platform::EnvSpec spec;
  {
    Simulator sim(1);
    Recorder recorder;
    auto slow = AsyncRecordingHandler(recorder,
                                      [](platform::MessageBatch&, platform::Env& env,
                                         platform::ExecutionContext&) -> Task<Status> {
                                        co_return co_await core::SleepFor(
                                            env.runtime(), env.clock(), core::Minutes(5));
                                      });
    spec = OneQueue("jobs", {PushConsumer("jobs", slow)});
    World world(sim, spec, Options());
    SendNumbers(sim, world.EnvFor("p"), 1);
    ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());  // Delivered; the handler is still running.
    ASSERT_EQ(recorder.seen.size(), 1u);
  }  // The process stops here.
  Simulator sim(2);
  Recorder recorder;
  spec.consumers[0].handler = RecordingHandler(recorder);
  World world(sim, spec, Options());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(recorder.seen[0].attempts, 2);
}

TEST_F(PersistTest, APullLeaseStillAcksAfterARestart) {
  platform::EnvSpec spec = OneQueue("jobs", {PullConsumer("jobs")});
  platform::LeaseId lease;
  {
    Simulator sim(1);
    World world(sim, spec, Options());
    SendNumbers(sim, world.EnvFor("p"), 2);
    auto pull = *world.queues().PullConsumerFor("jobs");
    auto pulled = sim.Run(pull->Pull(1, std::nullopt));
    ASSERT_EQ(pulled->messages.size(), 1u);
    lease = pulled->messages[0].lease_id;
  }
  Simulator sim(2);
  World world(sim, spec, Options());
  auto pull = *world.queues().PullConsumerFor("jobs");
  auto acked = sim.Run(pull->Ack({lease}, {}));
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->ack_count, 1);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 1);
  auto next = sim.Run(pull->Pull(5, std::nullopt));
  ASSERT_EQ(next->messages.size(), 1u);
  EXPECT_EQ(NumberOf(next->messages[0].body), 1);
}

TEST_F(PersistTest, BodiesOfEveryContentTypeComeBackIntact) {
  platform::EnvSpec spec = OneQueue("jobs");
  spec.compatibility_date = "2024-01-01";  // v8 default, to carry a V8Blob.
  {
    Simulator sim(1);
    World world(sim, spec, Options());
    auto& env = world.EnvFor("p");
    ASSERT_TRUE(Send(sim, env, platform::Text{"t\xc3\xa9"}, platform::SendOptions("text")).ok());
    ASSERT_TRUE(
        Send(sim, env, core::BytesOf(std::string("\0\1\2", 3)), platform::SendOptions("bytes"))
            .ok());
    ASSERT_TRUE(Send(sim, env, Json{{"a", 1}}, platform::SendOptions("json")).ok());
    ASSERT_TRUE(Send(sim, env, platform::V8Blob{core::BytesOf("v8")}).ok());
  }
  Simulator sim(2);
  Recorder recorder;
  spec.consumers.push_back(PushConsumer("jobs", RecordingHandler(recorder)));
  World world(sim, spec, Options());
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 4u);
  EXPECT_EQ(std::get<platform::Text>(recorder.seen[0].body).value, "t\xc3\xa9");
  EXPECT_EQ(std::get<core::Bytes>(recorder.seen[1].body).size(), 3u);
  EXPECT_EQ(std::get<Json>(recorder.seen[2].body), (Json{{"a", 1}}));
  EXPECT_EQ(std::get<platform::V8Blob>(recorder.seen[3].body).bytes, core::BytesOf("v8"));
}

}  // namespace
}  // namespace cfemu::testing
