// The coordinator's gates (engine-spec.md §4.3-4.5, §4.7): pause, rate limits (token bucket,
// fixed window, groups, manual), global concurrency, leases, stalls and fencing.
#include <algorithm>

#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"
#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Minutes;
using core::Seconds;

// Grant times of the coordinator (trace `engine.admit` with outcome granted).
std::vector<std::int64_t> GrantTimes(EngineWorld& w) {
  std::vector<std::int64_t> out;
  for (const std::string& line : TraceLines(w.sim(), "engine.admit")) {
    const Json event = Json::parse(line);
    if (event.value("outcome", "") == "granted") out.push_back(event["t"].get<std::int64_t>());
  }
  return out;
}

// The most grants in any window [t, t + width) (INV-07's left side).
int MaxInWindow(const std::vector<std::int64_t>& times, std::int64_t width) {
  int best = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    int n = 0;
    for (std::size_t j = i; j < times.size() && times[j] < times[i] + width; ++j) ++n;
    best = std::max(best, n);
  }
  return best;
}

TEST(EnginePause, ALongPauseBurnsNoAttemptAndFeedsNoDeadLetterQueue) {
  EngineWorld w;
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  EXPECT_TRUE(*w.Run(w.queue().IsPaused()));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(w.Add("p", Json{{"i", i}}).id);
  const auto counts = w.Counts();
  EXPECT_EQ(counts.at("paused"), 5);
  EXPECT_EQ(counts.at("waiting"), 0);
  w.RunFor(core::Hours(48));
  EXPECT_TRUE(w.runs().empty());
  for (const auto& id : ids) {
    const auto job = w.Get(id);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->attempts_started, 0);
    EXPECT_EQ(job->state, JobState::kWaiting);
  }
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dead_letters"), 0);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  for (const auto& id : ids) EXPECT_EQ(w.StateOf(id), JobState::kCompleted);
  EXPECT_EQ(w.runs().size(), 5u);
  const auto names = w.EventNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "paused"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "resumed"), names.end());
}

TEST(EngineRateLimit, TheTokenBucketBoundsGrantsInEveryWindowAndUsesNoAttempt) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 2;
  limiter.duration_ms = 1000;
  options.queue_config.limiter = limiter;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  std::vector<engine::BulkJob> jobs;
  for (int i = 0; i < 20; ++i) jobs.emplace_back("r", Json{{"i", i}});
  ASSERT_TRUE(w.Run(w.queue().AddBulk(std::move(jobs))).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 20);
  const auto grants = GrantTimes(w);
  ASSERT_EQ(grants.size(), 20u);
  for (std::int64_t width : {1000, 2000, 5000}) {
    EXPECT_LE(MaxInWindow(grants, width), 2 + 2 * width / 1000) << "window " << width;
  }
  EXPECT_EQ(w.QueryInt("SELECT max(attempts_made) FROM cfq_jobs"), 1);
}

TEST(EngineRateLimit, FixedWindowModeGrantsAtMostMaxPerWindow) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.mode = engine::LimiterConfig::Mode::kFixedWindow;
  limiter.max = 3;
  limiter.duration_ms = 2000;
  options.queue_config.limiter = limiter;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  std::vector<engine::BulkJob> jobs;
  for (int i = 0; i < 12; ++i) jobs.emplace_back("r", Json{{"i", i}});
  ASSERT_TRUE(w.Run(w.queue().AddBulk(std::move(jobs))).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 12);
  const auto grants = GrantTimes(w);
  ASSERT_EQ(grants.size(), 12u);
  EXPECT_LE(MaxInWindow(grants, 2000), 3);
}

TEST(EngineRateLimit, GroupLimitsApplyPerGroupKey) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 1;
  limiter.duration_ms = 1000;
  options.queue_config.group_limiter = limiter;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  std::map<std::string, std::string> group_of;
  for (int i = 0; i < 10; ++i) {
    JobOptions o;
    o.group_key = i % 2 == 0 ? "tenant-a" : "tenant-b";
    const Job job = w.Add("g", Json{{"i", i}}, o);
    group_of[job.id] = *o.group_key;
  }
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 10);
  std::map<std::string, std::vector<std::int64_t>> by_group;
  for (const auto& run : w.runs()) by_group[group_of[run.id]].push_back(run.at.unix_ms());
  for (auto& [group, times] : by_group) {
    std::sort(times.begin(), times.end());
    EXPECT_LE(MaxInWindow(times, 1000), 1) << group;
  }
  // Both groups progress side by side: each group's second job starts before the other
  // group's last one.
  EXPECT_LT(by_group["tenant-a"][1], by_group["tenant-b"].back());
}

TEST(EngineRateLimit, ManualRateLimitPutsTheJobBackWithoutUsingAnAttempt) {
  EngineWorld w;
  bool limited = false;
  w.SetProcessor([&limited](JobContext& ctx) -> Task<Result<Json>> {
    if (!limited) {
      limited = true;
      co_return co_await ctx.RateLimit(10'000);
    }
    co_return Json{{"ok", true}};
  });
  const std::int64_t t0 = w.now_ms();
  const Job job = w.Add("x");
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->attempts_made, 1);
  EXPECT_EQ(done->attempts_started, 2);
  ASSERT_EQ(w.runs().size(), 2u);
  EXPECT_GE(w.runs()[1].at.unix_ms(), t0 + 10'000);
}

TEST(EngineConcurrency, GlobalConcurrencyCapsLiveJobsAcrossInvocations) {
  EngineTestOptions options;
  options.queue_config.global_concurrency = 2;
  options.consumer.concurrency = 10;
  options.max_batch_size = 2;
  EngineWorld w(options);
  int running = 0;
  int most = 0;
  w.SetProcessor([&](JobContext& ctx) -> Task<Result<Json>> {
    most = std::max(most, ++running);
    const Status slept = co_await ctx.Sleep(Seconds(5));
    --running;
    if (!slept.ok()) co_return slept;
    co_return Json{{"ok", true}};
  });
  for (int i = 0; i < 10; ++i) w.Add("c", Json{{"i", i}});
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 10);
  EXPECT_LE(most, 2);
  EXPECT_EQ(w.QueryInt("SELECT max(attempts_started) FROM cfq_jobs"), 1);
}

TEST(EngineLeases, ALongJobKeepsItsLeaseByAutoRenewalAndRunsOnce) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Minutes(10)));
  const Job job = w.Add("long");
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 1);
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->stalled_counter, 0);
}

// The leases live in the coordinator's storage (written in sets that share owner, times and
// group): an evicted coordinator comes back with every lease as it was granted, and the
// leased jobs still run once.
TEST(EngineLeases, AnEvictedCoordinatorRebuildsEveryLeaseFromItsStorage) {
  EngineTestOptions options;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Minutes(2)));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    JobOptions o;
    if (i % 2 == 0) o.group_key = i == 0 ? "tenant-a" : "tenant-b";
    ids.push_back(w.Add("leased", Json{{"i", i}}, o).id);
  }
  w.RunFor(Seconds(5));
  const engine::CoordinatorSnapshot before = w.Coordinator();
  ASSERT_EQ(before.leases.size(), ids.size());
  auto stub = (*w.env().DurableObjects("COORDINATOR"))->GetByName(w.queue_name());
  ASSERT_TRUE(w.world().durable_objects("COORDINATOR")->EvictForTest(stub->id()).ok());
  const engine::CoordinatorSnapshot after = w.Coordinator();
  ASSERT_EQ(after.leases.size(), before.leases.size());
  for (std::size_t i = 0; i < before.leases.size(); ++i) {
    EXPECT_EQ(after.leases[i].id, before.leases[i].id);
    EXPECT_EQ(after.leases[i].token, before.leases[i].token);
    EXPECT_EQ(after.leases[i].expires_at, before.leases[i].expires_at);
    EXPECT_TRUE(after.leases[i].live);
  }
  w.RunUntilIdle();
  for (const std::string& id : ids) {
    EXPECT_EQ(w.StateOf(id), JobState::kCompleted) << id;
    EXPECT_EQ(w.RunsOf(id), 1) << id;
  }
  EXPECT_TRUE(w.Coordinator().leases.empty());
}

TEST(EngineLeases, AWorkerKilledMidJobStallsItAndTheJobFailsAfterMaxStalledCount) {
  EngineWorld w;                               // maxStalledCount 1: the second stall fails the job.
  w.SetProcessor(CompleteAfter(Minutes(20)));  // Past the 15-minute invocation limit.
  const Job job = w.Add("crash");
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->failed_reason, "job stalled more than allowable limit");
  EXPECT_EQ(done->stalled_counter, 2);
  EXPECT_EQ(done->attempts_made, 0);
  EXPECT_EQ(w.RunsOf(job.id), 2);
  const auto names = w.EventNames(job.id);
  EXPECT_EQ(std::count(names.begin(), names.end(), "stalled"), 2);
}

TEST(EngineLeases, AStaleConsumersCompletionChangesNothing) {
  // Consumer A claims the job; every coordinator call fails for 40 s (a partition), so A's
  // renewals fail and its lease expires; the alarm stalls the job and consumer B runs it. A
  // completes late: fenced by the generation, its result is discarded.
  EngineTestOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  emulator::FaultRule partition;
  partition.probability = 1.0;
  const Instant t0 = core::kVirtualEpoch;
  partition.windows.push_back({t0 + Seconds(3), t0 + Seconds(45)});
  plan.Set(emulator::Fault::kO3Overloaded, partition);
  options.faults = plan;
  EngineWorld w(options);
  int calls = 0;
  w.SetProcessor([&calls](JobContext& ctx) -> Task<Result<Json>> {
    const int mine = ++calls;
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(mine == 1 ? 80 : 1)));
    co_return Json{{"by", mine}};
  });
  const Job job = w.Add("x");
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->returnvalue, (Json{{"by", 2}}));
  EXPECT_EQ(w.RunsOf(job.id), 2);
  EXPECT_EQ(done->stalled_counter, 1);
  const auto names = w.EventNames(job.id);
  EXPECT_EQ(std::count(names.begin(), names.end(), "completed"), 1);
  EXPECT_NE(std::find(names.begin(), names.end(), "cfq:lease-lost"), names.end());
}

}  // namespace
}  // namespace cfemu::testing

namespace cfemu::testing {
namespace {

// Regression: the coordinator's alarm failed seven times in a row while D1 was failing, the
// platform dropped it after its sixth retry, and the coordinator, believing an alarm was set,
// never armed another: an expired lease stayed unseen and its job active forever. The alarm now
// retries on its own schedule until it succeeds.
TEST(EngineLeases, AnAlarmThatFailsPastThePlatformsRetriesStillStallsTheExpiredLease) {
  EngineTestOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  emulator::FaultRule d1_down;
  d1_down.probability = 1.0;  // Every D1 call fails from 15 to 20 minutes.
  d1_down.windows.push_back({core::kVirtualEpoch + Minutes(15), core::kVirtualEpoch + Minutes(20)});
  plan.Set(emulator::Fault::kD1RetryableError, d1_down);
  options.faults = plan;
  EngineWorld w(options);
  w.SetProcessor([](JobContext& ctx) -> Task<Result<Json>> {
    // The first run outlives the 15-minute invocation limit: the worker is killed and its lease
    // expires while D1 is down.
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(ctx.attempt() == 1 ? Minutes(20) : Seconds(1)));
    co_return Json{{"ok", true}};
  });
  JobOptions two;
  two.attempts = 2;
  const Job job = w.Add("long", Json::object(), two);
  w.RunFor(Minutes(40));
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted) << w.DescribeUnfinished();
  EXPECT_EQ(done->stalled_counter, 1);
  EXPECT_GT(w.sim().faults().fired(emulator::Fault::kD1RetryableError), 6);
}

}  // namespace
}  // namespace cfemu::testing

namespace cfemu::testing {
namespace {

// Regression: a claim batch that committed but whose reply was lost (D2) kept its leases and
// left the claimed rows active with nobody running them: 30 s later they "stalled" without
// having run, and two such losses failed a job. The consumer now reads back which grants became
// claims and runs those jobs.
TEST(EngineLeases, AClaimWhoseReplyIsLostIsReadBackAndRunsWithoutAStall) {
  EngineTestOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  emulator::FaultRule lost;
  lost.probability = 1.0;  // Commits around the claim lose their replies.
  lost.windows.push_back(
      {core::kVirtualEpoch + core::Milliseconds(500), core::kVirtualEpoch + Seconds(2)});
  plan.Set(emulator::Fault::kD2IndeterminateWrite, lost);
  options.faults = plan;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  const Job job = w.Add("once");
  w.RunFor(Seconds(10));
  ASSERT_GT(TraceLines(w.sim(), "fault.fired").size(), 0U);
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted) << w.DescribeUnfinished();
  EXPECT_EQ(done->stalled_counter, 0);
  EXPECT_EQ(done->attempts_started, 1);
  EXPECT_EQ(w.RunsOf(job.id), 1);
}

}  // namespace
}  // namespace cfemu::testing
