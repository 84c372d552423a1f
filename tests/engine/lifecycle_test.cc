// The common path of a job through the whole stack (engine-spec.md §3 T01, T08, T10, T11, T14;
// §4.1, §4.2, §4.6): add, envelope, admission, claim, processor, finish, events and counts.
#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"

namespace cfemu::testing {
namespace {

using core::Milliseconds;
using core::Seconds;

TEST(EngineLifecycle, AnAddedJobRunsOnceAndCompletesWithItsReturnValue) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(2), Json{{"sent", 1}}));
  const Job added = w.Add("email", Json{{"to", "a@b.c"}});
  EXPECT_TRUE(added.is_new);
  EXPECT_EQ(added.state, JobState::kWaiting);
  EXPECT_EQ(added.gen, 1);
  w.RunUntilIdle();
  const auto job = w.Get(added.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kCompleted);
  EXPECT_EQ(job->returnvalue, (Json{{"sent", 1}}));
  EXPECT_EQ(job->attempts_made, 1);
  EXPECT_EQ(job->attempts_started, 1);
  EXPECT_EQ(job->data, (Json{{"to", "a@b.c"}}));
  ASSERT_TRUE(job->finished_on && job->processed_on);
  EXPECT_EQ(*job->finished_on - *job->processed_on, 2000);
  EXPECT_EQ(w.RunsOf(added.id), 1);
  EXPECT_EQ(w.EventNames(added.id),
            (std::vector<std::string>{"added", "waiting", "active", "completed"}));
  const auto counts = w.Counts();
  EXPECT_EQ(counts.at("completed"), 1);
  EXPECT_EQ(counts.at("waiting"), 0);
  EXPECT_EQ(counts.at("active"), 0);
  EXPECT_EQ(counts.at("paused"), 0);
  // The coordinator released the lease and left no alarm behind once idle.
  EXPECT_TRUE(w.Coordinator().leases.empty());
}

TEST(EngineLifecycle, JobCountsListEveryStateWithZeros) {
  EngineWorld w;
  const auto counts = w.Counts();
  for (const char* state : {"waiting", "prioritized", "delayed", "waiting-children", "active",
                            "completed", "failed", "paused"}) {
    ASSERT_EQ(counts.count(state), 1u) << state;
    EXPECT_EQ(counts.at(state), 0) << state;
  }
  auto chosen = w.Run(w.queue().GetJobCounts({"wait", "repeat", "failed"}));
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->size(), 3u);
  EXPECT_EQ(chosen->at("wait"), 0);
  EXPECT_EQ(chosen->at("repeat"), 0);
  EXPECT_FALSE(w.Run(w.queue().GetJobCounts({"nonsense"})).ok());
}

TEST(EngineLifecycle, AFailedAttemptRetriesAfterItsFixedBackoffThenCompletes) {
  EngineWorld w;
  w.SetProcessor(FailTimes(2));
  JobOptions options;
  options.attempts = 3;
  options.backoff = engine::Backoff("fixed", 5'000);
  const Job added = w.Add("flaky", Json::object(), options);
  w.RunUntilIdle();
  const auto job = w.Get(added.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kCompleted);
  EXPECT_EQ(job->attempts_made, 3);
  ASSERT_EQ(w.RunsOf(added.id), 3);
  const auto& runs = w.runs();
  // Each retry starts no earlier than the failure time plus the backoff (INV-13).
  EXPECT_GE((runs[1].at - runs[0].at).ms(), 5'000);
  EXPECT_GE((runs[2].at - runs[1].at).ms(), 5'000);
  EXPECT_EQ(runs[0].attempt, 1);
  EXPECT_EQ(runs[2].attempt, 3);
}

TEST(EngineLifecycle, ExponentialBackoffDoublesFromTheFirstDelay) {
  EngineWorld w;
  w.SetProcessor(FailTimes(3));
  JobOptions options;
  options.attempts = 4;
  options.backoff = engine::Backoff("exponential", 2'000);
  const Job added = w.Add("flaky", Json::object(), options);
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(added.id), 4);
  const auto& runs = w.runs();
  // Envelope delays are whole seconds rounded up, so each gap is the backoff plus < 1 s plus
  // the batch window.
  EXPECT_GE((runs[1].at - runs[0].at).ms(), 2'000);
  EXPECT_GE((runs[2].at - runs[1].at).ms(), 4'000);
  EXPECT_GE((runs[3].at - runs[2].at).ms(), 8'000);
  EXPECT_LT((runs[3].at - runs[2].at).ms(), 8'000 + 3'000);
}

TEST(EngineLifecycle, AttemptsExhaustedFailTheJobWithRetriesExhausted) {
  EngineWorld w;
  w.SetProcessor(FailTimes(100, "always"));
  JobOptions options;
  options.attempts = 2;
  const Job added = w.Add("doomed", Json::object(), options);
  w.RunUntilIdle();
  const auto job = w.Get(added.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_EQ(job->failed_reason, "always");
  EXPECT_EQ(job->attempts_made, 2);
  EXPECT_FALSE(job->dead_lettered);
  EXPECT_EQ(w.RunsOf(added.id), 2);
  const auto names = w.EventNames(added.id);
  EXPECT_EQ(names.back(), "retries-exhausted");
  EXPECT_EQ(names[names.size() - 2], "failed");
  EXPECT_EQ(w.Counts().at("failed"), 1);
}

TEST(EngineLifecycle, AnUnrecoverableErrorFailsAtOnce) {
  EngineWorld w;
  w.SetProcessor(
      [](JobContext&) -> Task<Result<Json>> { co_return Status::Unrecoverable("bad input"); });
  JobOptions options;
  options.attempts = 5;
  const Job added = w.Add("x", Json::object(), options);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(added.id), JobState::kFailed);
  EXPECT_EQ(w.RunsOf(added.id), 1);
}

TEST(EngineLifecycle, AnExceptionEscapingTheProcessorIsAFailedAttempt) {
  EngineWorld w;
  w.SetProcessor([](JobContext&) -> Task<Result<Json>> {
    throw std::runtime_error("kaput");
    co_return Json();
  });
  const Job added = w.Add("x");
  w.RunUntilIdle();
  const auto job = w.Get(added.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_EQ(job->failed_reason, "uncaught exception: kaput");
}

TEST(EngineLifecycle, ADelayedJobIsVisibleAsDelayedAndStartsNoEarlier) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = 30'000;
  const std::int64_t t0 = w.now_ms();
  const Job added = w.Add("later", Json::object(), options);
  EXPECT_EQ(added.state, JobState::kDelayed);
  EXPECT_EQ(w.Counts().at("delayed"), 1);
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(added.id), 1);
  EXPECT_GE(w.runs()[0].at.unix_ms(), t0 + 30'000);
  EXPECT_EQ(w.StateOf(added.id), JobState::kCompleted);
}

TEST(EngineLifecycle, ADuplicateJobIdReturnsTheExistingJobAndSendsNothing) {
  EngineWorld w;
  JobOptions options;
  options.job_id = "order-7";
  const Job first = w.Add("order", Json{{"n", 1}}, options);
  const Job second = w.Add("order", Json{{"n", 2}}, options);
  EXPECT_TRUE(first.is_new);
  EXPECT_FALSE(second.is_new);
  EXPECT_EQ(second.id, "order-7");
  EXPECT_EQ(second.data, (Json{{"n", 1}}));
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf("order-7"), 1);
  const auto names = w.EventNames("order-7");
  EXPECT_NE(std::find(names.begin(), names.end(), "duplicated"), names.end());
}

TEST(EngineLifecycle, BadOptionsAreRefusedWithTheOptionNamed) {
  EngineWorld w;
  JobOptions options;
  options.priority = -1;
  auto job = w.TryAdd("x", Json::object(), options);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.code(), core::Code::kInvalidArgument);
  EXPECT_NE(job.status().message().find("priority"), std::string::npos);
  EXPECT_EQ(w.TryAdd("").code(), core::Code::kInvalidArgument);
  JobOptions repeat;
  repeat.has_repeat = true;
  EXPECT_NE(w.TryAdd("x", Json::object(), repeat).status().message().find("upsertJobScheduler"),
            std::string::npos);
}

TEST(EngineLifecycle, AddBulkWritesEveryJobInOneBatchPerChunk) {
  EngineWorld w;
  std::vector<engine::BulkJob> jobs;
  for (int i = 0; i < 1200; ++i) jobs.emplace_back("bulk", Json{{"i", i}});
  auto added = w.Run(w.queue().AddBulk(std::move(jobs)));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(added->size(), 1200u);
  EXPECT_EQ((*added)[7].data, (Json{{"i", 7}}));
  EXPECT_TRUE((*added)[1199].is_new);
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 1200);
  EXPECT_EQ(static_cast<int>(w.runs().size()), 1200);
}

}  // namespace
}  // namespace cfemu::testing
