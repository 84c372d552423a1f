// The broker on disk: a restart finds every message in the state it was in (checklist item 67's
// counterpart for Queues; the kill -9 test of `serve` builds on it).
#include <filesystem>
#include <map>

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

// The consumer of "jobs": one retry, then the dead letter queue "dead".
platform::ConsumerSpec JobsConsumer(platform::QueueHandler handler) {
  platform::ConsumerSpec jobs = PushConsumer("jobs", std::move(handler));
  jobs.max_retries = 1;
  jobs.dead_letter_queue = "dead";
  return jobs;
}

// Before the restart: {"n": 0} exhausts its retries into a dead letter queue that has no
// consumer, {"n": 1} waits on a 600 s retry delay, {"n": 9} on a 600 s send delay, and two more
// are stored, not yet delivered.
TEST_F(PersistTest, StoredDelayedAndDeadLetteredMessagesSurviveARestart) {
  platform::EnvSpec spec = OneQueue("jobs");
  spec.queues.push_back({"dead"});
  Instant retry_not_before;
  Instant dead_sent_at;
  emulator::SimulatorOptions restart;
  {
    Simulator sim(1);
    Recorder recorder;
    platform::EnvSpec before = spec;
    const BatchScript retry = [](platform::MessageBatch& batch) {
      for (auto& m : batch.messages()) {
        if (NumberOf(m.body()) == 0) m.Retry();
        if (NumberOf(m.body()) == 1) m.Retry(platform::RetryOptions(600));
      }
      return Status::Ok();
    };
    before.consumers.push_back(JobsConsumer(RecordingHandler(recorder, retry)));
    World world(sim, before, Options());
    SendNumbers(sim, world.EnvFor("p"), 2);
    ASSERT_TRUE(sim.RunFor(Seconds(30)).ok());
    ASSERT_EQ(recorder.seen.size(), 3u);
    std::map<int, std::string> ids;
    for (const auto& seen : recorder.seen) ids[NumberOf(seen.body)] = seen.id;
    ASSERT_EQ(recorder.AttemptsOf(ids[0]), (std::vector<int>{1, 2}));  // Then dead-lettered.
    ASSERT_EQ(recorder.AttemptsOf(ids[1]), std::vector<int>{1});       // Then retried in 600 s.
    retry_not_before = recorder.TimesOf(ids[1]).front() + Seconds(600);
    dead_sent_at = recorder.seen[0].timestamp;
    ASSERT_EQ(world.queues().Find("jobs")->stats().dead_lettered, 1);
    ASSERT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 1);
    ASSERT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 1);  // The retry waits.
    ASSERT_TRUE(
        Send(sim, world.EnvFor("p"), Json{{"n", 9}}, platform::SendOptions::Delay(600)).ok());
    ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json{{"n", 5}}).ok());
    ASSERT_TRUE(Send(sim, world.EnvFor("p"), Json{{"n", 6}}).ok());
    ASSERT_EQ(recorder.seen.size(), 3u);  // The last two are stored, not delivered.
    restart.start = sim.now() + core::Minutes(1);  // The clock moves on while it is down.
  }  // The process stops here.
  Simulator sim(2, restart);
  Recorder recorder;
  Recorder dead;
  spec.consumers.push_back(JobsConsumer(RecordingHandler(recorder)));
  spec.consumers.push_back(PushConsumer("dead", RecordingHandler(dead), "dlq"));
  World world(sim, spec, Options());
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 4);
  EXPECT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 1);
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  ASSERT_EQ(recorder.seen.size(), 2u);  // The stored ones; the delayed and retried ones wait.
  EXPECT_EQ(NumberOf(recorder.seen[0].body), 5);
  EXPECT_EQ(NumberOf(recorder.seen[1].body), 6);
  ASSERT_EQ(dead.seen.size(), 1u);  // The dead-lettered message, intact.
  EXPECT_EQ(NumberOf(dead.seen[0].body), 0);
  EXPECT_EQ(dead.seen[0].timestamp, dead_sent_at);
  EXPECT_EQ(dead.seen[0].attempts, 1);
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 4u);
  std::map<int, Seen> late;
  for (std::size_t i = 2; i < 4; ++i) late[NumberOf(recorder.seen[i].body)] = recorder.seen[i];
  ASSERT_EQ(late.count(1), 1u);
  ASSERT_EQ(late.count(9), 1u);
  EXPECT_EQ(late[1].attempts, 2);  // The retry kept its attempt count...
  EXPECT_GE(late[1].at, retry_not_before);  // ...and its delay.
  EXPECT_EQ(late[9].attempts, 1);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
  EXPECT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 0);
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
