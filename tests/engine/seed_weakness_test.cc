// The seed's weaknesses (engine-spec.md §9, numbered as in seed-zintrust.md §9): one test per
// row, each asserting the behaviour the seed package got wrong, so that the seed's behaviour
// fails it. Rows 4 and 17 (the long pause) test its two halves; rows 8 and 12 have two
// scenarios each.
#include <set>

#include <gtest/gtest.h>

#include "emulator/config/wrangler_config.h"
#include "src/core/task.h"
#include "tests/engine/engine_probe.h"

namespace cfemu::testing {
namespace {

using core::Hours;
using core::Milliseconds;
using core::Minutes;
using core::Seconds;
using emulator::Fault;
using engine::FlowJob;
using engine::JobNode;
using engine::RepeatOptions;

Task<Result<Json>> AlwaysFail(JobContext&) { co_return Status::Unknown("always"); }

// Seed: "Coordinator not RPC-callable; silent no-op without binding".
TEST(SeedWeaknesses, W01_TheCoordinatorBindingIsRequiredAndServesEveryJob) {
  EngineWorld w;
  engine::EngineBindings no_coordinator;
  no_coordinator.coordinator = "MISSING_DO";
  auto engine = engine::Engine::Create(w.env(), no_coordinator, core::Random(1));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.code(), core::Code::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("MISSING_DO"), std::string::npos);
  // With the binding, the coordinator answers its RPCs and admits every job.
  w.sim().trace().KeepLines(true);
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  EXPECT_TRUE(w.Coordinator().paused);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  EXPECT_FALSE(*w.Run(w.queue().IsPaused()));
  const Job job = w.Add("x");
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  EXPECT_EQ(GrantTimes(w).size(), 1u);
  EXPECT_TRUE(w.Coordinator().leases.empty());
}

Task<Result<Json>> SlowFirstAttempt(JobContext& ctx) {
  const int attempt = ctx.attempt();
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(attempt == 1 ? 80 : 1)));
  co_return Json{{"by", attempt}};
}

// Seed: "Constant lease owner, no fencing, heartbeat ignored, lease kept on retry".
TEST(SeedWeaknesses, W02_AStaleConsumersCompletionChangesNothing) {
  EngineTestOptions options;
  // A partition: every coordinator call fails, so A's renewals fail and its lease expires.
  options.faults = Window(Fault::kO3Overloaded, Seconds(3), Seconds(45));
  EngineWorld w(options);
  w.SetProcessor(SlowFirstAttempt);
  const Job job = w.Add("x");
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(job.id), 2);
  EXPECT_EQ(w.runs()[0].token, 2);  // A: envelope gen 1 + 1.
  EXPECT_EQ(w.runs()[1].token, 4);  // B: after the stall's gen 3.
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->returnvalue, (Json{{"by", 2}}));  // B's result, not A's late one.
  const auto completed = EventsNamed(w, job.id, "completed");
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]["gen"], 4);
  EXPECT_EQ(LastEvent(w, job.id, "cfq:lease-lost")["token"], 2);
  EXPECT_TRUE(w.Coordinator().leases.empty());
}

// Seed: "Fixed window, producer-only, bypassed, moves available_at earlier, 1 token per
// addBulk".
TEST(SeedWeaknesses, W03_TheRateLimitHoldsOnEveryPathAndNeverMovesAJobEarlier) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 1;
  limiter.duration_ms = 1000;
  options.queue_config.limiter = limiter;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  w.SetProcessor(ByName);
  for (int i = 0; i < 2; ++i) w.Add("plain", Json{{"i", i}});
  std::vector<engine::BulkJob> bulk;
  for (int i = 0; i < 3; ++i) bulk.emplace_back("plain", Json{{"bulk", i}});
  ASSERT_TRUE(w.Run(w.queue().AddBulk(std::move(bulk))).ok());
  JobOptions retrying;
  retrying.attempts = 2;
  w.Add("flaky", Json::object(), retrying);
  JobOptions later;
  later.delay_ms = 4'000;
  const Job delayed = w.Add("plain", Json{{"delayed", true}}, later);
  RepeatOptions repeat;
  repeat.every_ms = 2'000;
  repeat.limit = 3;
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("tick", repeat)).ok());
  AddFlow(w,
          FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("child"), Leaf("child")}));
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 2 + 3 + 1 + 1 + 3 + 3);
  const auto grants = GrantTimes(w);
  EXPECT_GE(grants.size(), 14u);  // The flaky job is admitted twice.
  for (std::int64_t width : {1'000, 3'000, 10'000}) {
    EXPECT_LE(MaxInWindow(grants, width), 1 + width / 1'000) << "window " << width;
  }
  EXPECT_GT(w.QueryInt("SELECT count(*) FROM cfq_events WHERE data ->> 'reason' = "
                       "'rate-limit'"),
            0);
  // A rate-limited job is never made due earlier than its own time.
  EXPECT_GE(ColumnOf(w, delayed.id, "available_at"), delayed.available_at);
  for (const auto& run : w.runs()) {
    if (run.id == delayed.id) {
      EXPECT_GE(run.at.unix_ms(), delayed.available_at);
    }
  }
}

// Seed: "Scheduler ignores pause; pause burns retries -> DLQ" (the scheduler half).
TEST(SeedWeaknesses, W04_APausedQueueClaimsNoSlotAndGrantsNothingForFortyEightHours) {
  EngineWorld w;
  w.sim().trace().KeepLines(true);
  RepeatOptions repeat;
  repeat.every_ms = 60'000;
  repeat.limit = 10;
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("beat", repeat)).ok());
  w.RunFor(Seconds(5));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const std::int64_t paused_at = w.now_ms();
  const std::string iterations = "SELECT count(*) FROM cfq_jobs WHERE scheduler_id = 'beat'";
  const std::int64_t before = w.QueryInt(iterations);
  const Job job = w.Add("during");
  w.RunFor(Hours(48));
  EXPECT_EQ(w.QueryInt(iterations), before);  // No slot claimed while paused.
  for (std::int64_t t : GrantTimes(w)) EXPECT_LT(t, paused_at);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 0);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunFor(Minutes(5));
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  EXPECT_GT(w.QueryInt(iterations), before);  // Claims resume after the pause.
  auto info = w.Run(w.queue().GetJobScheduler("beat"));
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_GE((*info)->missed_count, 1);  // Skip policy: the missed slots are counted, not run.
}

// Seed: "Retry race doubles executions, bypasses backoff".
TEST(SeedWeaknesses, W05_AttemptsThreeExponentialMeansThreeRunsAtTheComputedTimes) {
  EngineWorld w;
  w.SetProcessor(AlwaysFail);
  JobOptions options;
  options.attempts = 3;
  options.backoff = engine::Backoff("exponential", 2'000);
  const Job job = w.Add("retry", Json::object(), options);
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(job.id), 3);
  EXPECT_EQ(w.StateOf(job.id), JobState::kFailed);
  const auto retries = EventRows(w, job.id, "delayed");
  ASSERT_EQ(retries.size(), 2u);
  const std::int64_t expected[] = {2'000, 4'000};
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(retries[k].second["delay"], expected[k]);
    const std::int64_t due = retries[k].first + expected[k];
    const std::int64_t started = w.runs()[k + 1].at.unix_ms();
    EXPECT_GE(started, due) << "retry " << k;
    EXPECT_LT(started, due + 2'000) << "retry " << k;  // Whole-second delay + batch window.
  }
}

// Seed: "Consumer re-runs any non-canceled job".
TEST(SeedWeaknesses, W06_DuplicatedAndReorderedDeliveriesRunEachClaimOnce) {
  EngineTestOptions options;
  emulator::FaultPlan plan;
  Sometimes(plan, Fault::kQ3DuplicateDelivery, 0.5, Minutes(2));
  Sometimes(plan, Fault::kQ4Reorder, 0.5, Minutes(2));
  options.faults = plan;
  options.consumer.concurrency = 5;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Seconds(2)));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(w.Add("d", Json{{"i", i}}).id);
  w.RunUntilIdle();
  EXPECT_GT(w.sim().faults().fired(Fault::kQ3DuplicateDelivery), 0);
  EXPECT_GT(StatsOf(w, "jobs").duplicated, 0);
  for (const auto& id : ids) {
    EXPECT_EQ(w.RunsOf(id), 1) << id;
    EXPECT_EQ(ColumnOf(w, id, "attempts_started"), 1) << id;
    EXPECT_EQ(w.StateOf(id), JobState::kCompleted) << id;
  }
  w.ExpectInvariants(/*quiescent=*/true);  // INV-04: executions <= claims.
}

// Seed: "Dedupe hit re-sends and resets state".
TEST(SeedWeaknesses, W07_ADedupeHitNeverTouchesTheJobNorSends) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(5)));
  JobOptions options;
  options.deduplication = engine::Dedup();
  options.deduplication->id = "account-9";
  const Job first = w.Add("sync", Json{{"n", 0}}, options);
  w.RunFor(Seconds(2));
  ASSERT_EQ(w.StateOf(first.id), JobState::kActive);
  const std::int64_t gen = ColumnOf(w, first.id, "gen");
  for (int i = 1; i < 100; ++i) {
    const Job again = w.Add("sync", Json{{"n", i}}, options);
    EXPECT_FALSE(again.is_new);
    EXPECT_EQ(again.id, first.id);
  }
  EXPECT_EQ(w.StateOf(first.id), JobState::kActive);  // Not reset to waiting.
  EXPECT_EQ(ColumnOf(w, first.id, "gen"), gen);
  w.RunUntilIdle();
  EXPECT_EQ(StatsOf(w, "jobs").sent, 1);
  EXPECT_EQ(w.runs().size(), 1u);
  EXPECT_EQ(w.Get(first.id)->data, (Json{{"n", 0}}));
}

// Seed: "Stall re-runs live jobs, no max, manual heartbeat" (the live long job).
TEST(SeedWeaknesses, W08_ATenMinuteJobWithAThirtySecondLockRunsOnce) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Minutes(10)));
  const Job job = w.Add("long");
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 1);
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->stalled_counter, 0);
  EXPECT_EQ(done->attempts_started, 1);
  EXPECT_EQ(CountOf(w.EventNames(job.id), "stalled"), 0);
}

// Seed: "Stall re-runs live jobs, no max, manual heartbeat" (the crashing worker).
TEST(SeedWeaknesses, W08_AWorkerKilledEveryTimeFailsTheJobAfterTwoStalls) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Minutes(20)));  // Killed at the 15-minute invocation limit.
  const Job job = w.Add("crash");
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->failed_reason, engine::kStalledTooOften);
  EXPECT_EQ(done->stalled_counter, 2);
  EXPECT_EQ(done->attempts_made, 0);
  EXPECT_EQ(w.RunsOf(job.id), 2);
  EXPECT_EQ(CountOf(w.EventNames(job.id), "stalled"), 2);
}

// Seed: "promote duplicates; retry works on active/completed".
TEST(SeedWeaknesses, W09_PromotingTwiceRunsOnceAndRetryRefusesUnfinishedJobs) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(30)));
  JobOptions options;
  options.delay_ms = Hours(1).ms();
  const Job delayed = w.Add("later", Json::object(), options);
  EXPECT_TRUE(*w.Run(w.queue().Promote(delayed.id)));
  EXPECT_FALSE(*w.Run(w.queue().Promote(delayed.id)));
  EXPECT_EQ(*w.Run(w.queue().PromoteJobs()), 0);
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.StateOf(delayed.id), JobState::kActive);
  EXPECT_EQ(w.Run(w.queue().RetryJob(delayed.id)).code(), core::Code::kNotInState);
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const Job waiting = w.Add("waiting");
  EXPECT_EQ(w.Run(w.queue().RetryJob(waiting.id)).code(), core::Code::kNotInState);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(delayed.id), 1);  // The hour-delayed envelope was made stale.
  EXPECT_EQ(CountOf(w.EventNames(delayed.id), "completed"), 1);
  EXPECT_EQ(w.RunsOf(waiting.id), 1);
}

// Seed: "Flow parent double release".
TEST(SeedWeaknesses, W10_FiftySiblingsWithDuplicatedDeliveriesReleaseTheParentOnce) {
  EngineTestOptions options;
  emulator::FaultPlan plan;
  Sometimes(plan, Fault::kQ3DuplicateDelivery, 0.5, Minutes(2));
  options.faults = plan;
  options.consumer.concurrency = 50;
  options.max_batch_size = 50;
  EngineWorld w(options);
  std::vector<FlowJob> children;
  for (int i = 0; i < 50; ++i) children.push_back(Leaf("s" + std::to_string(i)));
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), children));
  w.RunUntilIdle();
  EXPECT_GT(w.sim().faults().fired(Fault::kQ3DuplicateDelivery), 0);
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  EXPECT_EQ(w.RunsOf(root.job.id), 1);
  EXPECT_EQ(CountOf(w.EventNames(root.job.id), "waiting"), 1);  // Released once.
  EXPECT_EQ(ColumnOf(w, root.job.id, "pending_deps"), 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_deps WHERE parent_id = '" + root.job.id +
                       "' AND status = 'processed'"),
            50);
  EXPECT_EQ(static_cast<int>(w.runs().size()), 51);
}

Task<void> TickOnce(std::shared_ptr<engine::EngineContext> context) {
  auto report = co_await engine::RunSchedulerTick(*context);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
}

Task<void> UpsertOnce(engine::Queue* queue, RepeatOptions repeat) {
  std::string id = "race";
  auto upserted = co_await queue->UpsertJobScheduler(std::move(id), std::move(repeat));
  EXPECT_TRUE(upserted.ok()) << upserted.status().ToString();
}

// Seed: "Repeatables unclaimed, not queue-scoped".
TEST(SeedWeaknesses, W11_OverlappingTicksAndUpsertsFireEverySlotOnce) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.every_ms = 3'000;
  for (int round = 0; round < 4; ++round) {
    std::vector<Task<void>> all;
    for (int i = 0; i < 5; ++i) all.push_back(TickOnce(w.engine().context()));
    for (int i = 0; i < 3; ++i) all.push_back(UpsertOnce(&w.queue(), repeat));
    w.Run(core::WhenAll(std::move(all)));
    w.RunFor(Seconds(15));
  }
  // Schedulers are queue-scoped: the same id in another queue is another scheduler.
  auto other = w.Run(w.engine().OpenQueue("other"));
  ASSERT_TRUE(other.ok());
  RepeatOptions twice;
  twice.every_ms = 3'000;
  twice.limit = 2;
  ASSERT_TRUE(w.Run(other->UpsertJobScheduler("race", twice)).ok());
  w.RunFor(Seconds(10));
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE queue = 'other' AND "
                       "scheduler_id = 'race'"),
            2);
  platform::D1Database& db = **w.env().D1("DB");
  auto rows = w.Run(db.Prepare("SELECT id FROM cfq_jobs WHERE queue = 'jobs' AND scheduler_id = "
                               "'race' ORDER BY available_at, seq")
                        .All());
  ASSERT_TRUE(rows.ok());
  std::vector<std::int64_t> slots;
  for (const auto& row : rows->results) {
    const std::string id = engine::sql::Str(row.values[0]);
    EXPECT_EQ(id.rfind("repeat:race:", 0), 0u) << id;
    slots.push_back(std::stoll(id.substr(id.rfind(':') + 1)));
  }
  ASSERT_GE(slots.size(), 10u);
  for (std::size_t i = 1; i < slots.size(); ++i) EXPECT_GT(slots[i], slots[i - 1]);
  EXPECT_EQ(std::set<std::int64_t>(slots.begin(), slots.end()).size(), slots.size());
  auto info = w.Run(w.queue().GetJobScheduler("race"));
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->iteration_count, static_cast<std::int64_t>(slots.size()));
  w.ExpectInvariants();  // INV-10.
}

// Seed: "Insert -> markDispatched window".
TEST(SeedWeaknesses, W12_ACrashAfterTheInsertBeforeTheSendIsRecoveredByRLost) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  // Every send of the first ten seconds is refused: the rows commit, their envelopes never go.
  options.faults = Window(Fault::kQ8ProducerRejected, Duration::Zero(), Seconds(10));
  EngineWorld w(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const Job job = w.Add("lost", Json{{"i", i}});
    EXPECT_TRUE(job.dispatch_at.has_value());  // The outbox mark is in the insert batch.
    ids.push_back(job.id);
  }
  EXPECT_EQ(StatsOf(w, "jobs").sent, 0);
  w.RunFor(Minutes(4));
  for (const auto& id : ids) {
    EXPECT_EQ(w.StateOf(id), JobState::kCompleted) << id;
    EXPECT_EQ(ColumnOf(w, id, "lost_count"), 1) << id;
    EXPECT_EQ(CountOf(w.EventNames(id), "cfq:redispatched"), 1) << id;
    EXPECT_EQ(w.RunsOf(id), 1) << id;
  }
}

// Seed: "Insert -> markDispatched window" (the add's reply is lost after its batch commits).
TEST(SeedWeaknesses, W12_AnAddWhoseReplyIsLostIsRetriedWithItsJobIdAndRunsOnce) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  emulator::FaultRule lost_reply;
  lost_reply.probability = 1.0;
  lost_reply.max_firings = 1;
  const core::Instant t5 = core::kVirtualEpoch + Seconds(5);
  lost_reply.windows.push_back({t5, t5 + Seconds(5)});
  emulator::FaultPlan plan;
  plan.Set(Fault::kD2IndeterminateWrite, lost_reply);
  options.faults = plan;
  EngineWorld w(options);
  w.RunFor(Milliseconds(core::kVirtualEpoch.unix_ms() + 5'000 - w.now_ms()));
  JobOptions once;
  once.job_id = "once";
  auto first = w.TryAdd("x", Json::object(), once);  // Committed; its reply is lost.
  EXPECT_EQ(w.sim().faults().fired(Fault::kD2IndeterminateWrite), 1);
  if (!first.ok()) {
    EXPECT_EQ(first.code(), core::Code::kIndeterminate);
  }
  const Job again = w.Add("x", Json::object(), once);  // The caller retries with its jobId.
  EXPECT_EQ(again.id, "once");
  w.RunFor(Minutes(4));
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE id = 'once'"), 1);
  EXPECT_EQ(w.StateOf("once"), JobState::kCompleted);
  EXPECT_EQ(w.RunsOf("once"), 1);
}

// Seed: "Plain messages acked and lost".
TEST(SeedWeaknesses, W13_ForeignMessagesAreQuarantinedAndAckedBesideRealJobs) {
  EngineWorld w;
  const Job job = w.Add("real");
  SendRaw(w, platform::Body(Json{{"hello", "world"}}));
  SendRaw(w, platform::Body(platform::Text{"plain text"}));
  SendRaw(w, platform::Body(Json{{"p", "cfq/1"}, {"q", "jobs"}}));  // No id: malformed.
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);  // Per-message isolation.
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dead_letters WHERE source = 'quarantine' AND "
                       "outcome = 'quarantined'"),
            3);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'cfq:quarantined'"), 3);
  const auto& stats = StatsOf(w, "jobs");
  EXPECT_EQ(stats.retried, 0);
  EXPECT_EQ(stats.acked, stats.sent);
  EXPECT_EQ(StatsOf(w, "jobs-dlq").sent, 0);
}

// Seed: "Child failure/removal/zero children block parent; released parent never sent".
TEST(SeedWeaknesses, W14_EveryFailurePolicyAndARemovedChildLetTheParentMoveOn) {
  EngineWorld w;
  w.SetProcessor(ByName);
  std::map<std::string, JobNode> flows;
  for (const std::string policy : {"fail", "ignore", "remove", "continue", "none"}) {
    JobOptions child;
    child.fail_parent_on_failure = policy == "fail";
    child.ignore_dependency_on_failure = policy == "ignore";
    child.remove_dependency_on_failure = policy == "remove";
    child.continue_parent_on_failure = policy == "continue";
    flows[policy] = AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(),
                                       {Leaf("ok"), Leaf("fail", child)}));
  }
  const JobNode childless = AddFlow(w, FlowJob("lonely", "jobs"));
  EXPECT_EQ(childless.job.state, JobState::kWaiting);  // Zero children: a normal job.
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(flows["fail"].job.id), JobState::kFailed);
  EXPECT_EQ(w.StateOf(flows["ignore"].job.id), JobState::kCompleted);
  EXPECT_EQ(w.StateOf(flows["remove"].job.id), JobState::kCompleted);
  EXPECT_EQ(w.StateOf(flows["continue"].job.id), JobState::kCompleted);
  EXPECT_EQ(w.StateOf(childless.job.id), JobState::kCompleted);
  auto removed = w.Run(w.queue().GetDependencies(flows["remove"].job.id));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->processed.size(), 1u);
  EXPECT_TRUE(removed->failed.empty() && removed->ignored.empty());
  // No policy: the parent waits; removing the failed child releases it, and it is sent.
  const std::string waiting = flows["none"].job.id;
  EXPECT_EQ(w.StateOf(waiting), JobState::kWaitingChildren);
  ASSERT_TRUE(*w.Run(w.queue().Remove(flows["none"].children[1].job.id)));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(waiting), JobState::kCompleted);
  EXPECT_EQ(w.RunsOf(waiting), 1);
}

// Seed: "Lost queued messages never recovered".
TEST(SeedWeaknesses, W15_PurgingThePhysicalQueueLosesNoJob) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  EngineWorld w(options);
  ASSERT_TRUE(w.world().queues().Pause("jobs").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(w.Add("plain", Json{{"i", i}}).id);
  for (int i = 0; i < 3; ++i) {
    JobOptions o;
    o.priority = 1 + i;
    ids.push_back(w.Add("prioritized", Json{{"i", i}}, o).id);
  }
  JobOptions later;
  later.delay_ms = 10'000;
  ids.push_back(w.Add("delayed", Json::object(), later).id);
  w.RunFor(Seconds(2));  // The dispatcher sent the prioritized rows too.
  auto purged = w.world().queues().Purge("jobs");
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 14);
  ASSERT_TRUE(w.world().queues().Resume("jobs").ok());
  w.RunFor(Minutes(10));
  for (const auto& id : ids) {
    EXPECT_EQ(w.StateOf(id), JobState::kCompleted) << id;
    EXPECT_EQ(w.RunsOf(id), 1) << id;
  }
  if (HasFailure()) ADD_FAILURE() << w.DescribeUnfinished();
}

Task<Result<Json>> FinishAtTwentySeconds(JobContext& ctx) {
  const core::Instant target = core::kVirtualEpoch + Seconds(20);
  const core::Instant now = ctx.env().clock().Now();
  if (now < target) CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(target - now));
  co_return Json{{"done", true}};
}

// Seed: "Bookkeeping exception fails a successful job; pre-try exception aborts batch".
TEST(SeedWeaknesses, W16_AD1FaultOnFinishNeverTurnsASuccessIntoAFailure) {
  for (const Fault fault : {Fault::kD1RetryableError, Fault::kD2IndeterminateWrite}) {
    EngineTestOptions options;
    // Every D1 call fails (or loses its reply) for the second after the processor returns.
    options.faults = Window(fault, Seconds(20), Seconds(21));
    EngineWorld w(options);
    w.SetProcessor(FinishAtTwentySeconds);
    const Job job = w.Add("x");
    w.RunUntilIdle();
    const std::string which(emulator::Describe(fault).id);
    EXPECT_GT(w.sim().faults().fired(fault), 0) << which;
    const auto done = w.Get(job.id);
    ASSERT_TRUE(done) << which;
    EXPECT_EQ(done->state, JobState::kCompleted) << which;
    EXPECT_EQ(done->attempts_made, 1) << which;
    EXPECT_EQ(done->returnvalue, (Json{{"done", true}})) << which;
    EXPECT_EQ(w.RunsOf(job.id), 1) << which;
    EXPECT_EQ(CountOf(w.EventNames(job.id), "completed"), 1) << which;
    EXPECT_EQ(CountOf(w.EventNames(job.id), "failed"), 0) << which;
  }
}

// Seed: "Long pause -> DLQ".
TEST(SeedWeaknesses, W17_AFortyEightHourPauseBurnsNoAttemptAndFeedsNoDeadLetterQueue) {
  EngineWorld w;
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(w.Add("p", Json{{"i", i}}).id);
  JobOptions later;
  later.delay_ms = Hours(2).ms();  // Comes due during the pause.
  ids.push_back(w.Add("p", Json{{"later", true}}, later).id);
  w.RunFor(Hours(48));
  EXPECT_TRUE(w.runs().empty());
  for (const auto& id : ids) EXPECT_EQ(ColumnOf(w, id, "attempts_started"), 0) << id;
  EXPECT_EQ(StatsOf(w, "jobs").retried, 0);  // The pause used no message.retry().
  EXPECT_EQ(StatsOf(w, "jobs").dead_lettered, 0);
  EXPECT_EQ(StatsOf(w, "jobs-dlq").sent, 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dead_letters"), 0);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  for (const auto& id : ids) {
    const auto job = w.Get(id);
    ASSERT_TRUE(job) << id;
    EXPECT_EQ(job->state, JobState::kCompleted) << id;
    EXPECT_EQ(job->attempts_made, 1) << id;
  }
}

// Seed: "Number = age; count prunes by one job's option".
TEST(SeedWeaknesses, W18_RetentionKeepsTheNewestNPerRowPolicyAndSparesRowsWithoutOne) {
  EngineWorld w;
  w.SetProcessor(ByName);
  std::vector<std::string> plain;
  for (int i = 0; i < 2; ++i) plain.push_back(w.Add("keep", Json{{"i", i}}).id);
  w.RunFor(Seconds(2));
  JobOptions young;
  engine::KeepJobs ten_seconds;
  ten_seconds.age_sec = 10;
  young.remove_on_complete = ten_seconds;
  const Job aged = w.Add("aged", Json::object(), young);
  w.RunFor(Seconds(2));
  JobOptions keep3;
  keep3.remove_on_complete = std::int64_t{3};
  JobOptions keep1_failed;
  keep1_failed.remove_on_fail = std::int64_t{1};
  std::vector<std::string> counted;
  std::vector<std::string> failed;
  for (int i = 0; i < 6; ++i) {
    counted.push_back(w.Add("count", Json{{"i", i}}, keep3).id);
    if (i < 3) failed.push_back(w.Add("fail", Json{{"i", i}}, keep1_failed).id);
    w.RunFor(Seconds(2));
  }
  w.RunUntilIdle();
  w.RunFor(Seconds(30));  // Past the sweep period and the age policy.
  for (const auto& id : plain) EXPECT_TRUE(JobExists(w, id)) << id;  // No policy: kept.
  EXPECT_FALSE(JobExists(w, aged.id));
  for (std::size_t i = 0; i < counted.size(); ++i) {
    EXPECT_EQ(JobExists(w, counted[i]), i >= 3) << "count job " << i;  // The newest three.
  }
  for (std::size_t i = 0; i < failed.size(); ++i) {
    EXPECT_EQ(JobExists(w, failed[i]), i == 2) << "failed job " << i;
  }
  w.RunFor(Hours(1));  // N is a count, not an age: the survivors stay.
  EXPECT_EQ(w.Counts().at("completed"), 2 + 3);
  EXPECT_EQ(w.Counts().at("failed"), 1);
}

// Seed: "cron ignored, drift, repeat on add ignored, no template opts".
TEST(SeedWeaknesses, W19_CronSchedulersFireOnTheirSlotsForAYearInBothDialects) {
  EngineTestOptions options;
  options.crons = std::vector<std::string>{"0 * * * *"};  // Hourly: a year stays quick.
  EngineWorld w(options);
  JobOptions repeat_in_add;
  repeat_in_add.has_repeat = true;
  EXPECT_EQ(w.TryAdd("x", Json::object(), repeat_in_add).code(), core::Code::kInvalidArgument);
  RepeatOptions bullmq;
  bullmq.pattern = "0 6 * * 0";  // BullMQ: 0 = Sunday.
  RepeatOptions cloudflare;
  cloudflare.pattern = "0 6 * * 1";  // Cloudflare: 1 = Sunday.
  cloudflare.dow_dialect = "cloudflare";
  JobOptions template_options;
  template_options.attempts = 3;
  ASSERT_TRUE(
      w.Run(w.queue().UpsertJobScheduler(
                "bullmq", bullmq, engine::JobTemplate("weekly", Json::object(), template_options)))
          .ok());
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("cloudflare", cloudflare)).ok());
  w.RunFor(core::Days(365));
  std::map<std::string, std::vector<std::int64_t>> slots;
  for (const auto& run : w.runs()) {
    const std::string scheduler = run.id.substr(7, run.id.rfind(':') - 7);
    const std::int64_t slot = std::stoll(run.id.substr(run.id.rfind(':') + 1));
    slots[scheduler].push_back(slot);
    EXPECT_GE(run.at.unix_ms(), slot) << run.id;
    EXPECT_LT(run.at.unix_ms(), slot + 3'000) << run.id;  // No drift.
  }
  EXPECT_EQ(slots["bullmq"], slots["cloudflare"]);
  EXPECT_EQ(slots["bullmq"].size(), 52u);  // The Sundays of 2026.
  for (std::int64_t slot : slots["bullmq"]) {
    EXPECT_EQ((slot / 86'400'000 + 4) % 7, 0) << slot;  // 1970-01-01 was a Thursday.
    EXPECT_EQ(slot % 86'400'000, 6 * 3'600'000) << slot;
  }
  EXPECT_EQ(w.QueryInt("SELECT min(attempts_max) FROM cfq_jobs WHERE scheduler_id = 'bullmq'"), 3);
}

// Seed: "No LIFO; priority at tick granularity; immediate sends skip priority".
TEST(SeedWeaknesses, W20_StrictOrderStartsJobsByPriorityThenFifoOneEnvelopeAtATime) {
  EngineTestOptions options;
  options.queue_config.strict_order = true;
  options.queue_config.dispatch_window = 1;
  options.max_batch_size = 1;
  options.max_concurrency = 1;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Seconds(1)));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const int priorities[] = {3, 0, 2, 0, 1, 3, 2, 0};
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    JobOptions o;
    o.priority = priorities[i];
    const Job job = w.Add("p", Json{{"i", i}}, o);
    EXPECT_FALSE(job.dispatch_at.has_value()) << i;  // Even priority 0 waits for the dispatcher.
    ids.push_back(job.id);
  }
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  for (int step = 0; step < 40 && w.runs().size() < 8; ++step) {
    w.RunFor(Milliseconds(500));
    EXPECT_LE(w.Coordinator().inflight, 1);  // INV-14: the window.
  }
  w.RunUntilIdle();
  ASSERT_EQ(w.runs().size(), 8u);
  const int expected[] = {1, 3, 7, 4, 2, 6, 0, 5};
  for (int k = 0; k < 8; ++k) EXPECT_EQ(w.runs()[k].id, ids[expected[k]]) << "position " << k;
}

// Seed: "Delayed shows queued; zero counts omitted".
TEST(SeedWeaknesses, W21_ADelayedJobShowsAsDelayedAndCountsAreZeroFilled) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = 60'000;
  const Job job = w.Add("later", Json::object(), options);
  EXPECT_EQ(*w.Run(w.queue().GetJobState(job.id)), "delayed");
  EXPECT_EQ(*w.Run(w.queue().GetJobState("no-such-job")), "unknown");
  const auto counts = w.Counts();
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [state, n] : counts) EXPECT_EQ(n, state == "delayed" ? 1 : 0) << state;
  auto some = w.Run(w.queue().GetJobCounts({"wait", "delayed", "paused", "repeat"}));
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (std::map<std::string, std::int64_t>{
                       {"wait", 0}, {"delayed", 1}, {"paused", 0}, {"repeat", 0}}));
}

Task<Result<Json>> LogThenFail(JobContext& ctx) {
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Log("tried"));
  co_return Status::Unknown("no");
}

// Seed: "Soft remove; retry keeps attempts; two retry behaviours".
TEST(SeedWeaknesses, W22_RemoveIsHardForceRemoveFencesAndRetryHasOneBehaviour) {
  EngineWorld w;
  w.SetProcessor(LogThenFail);
  JobOptions two;
  two.attempts = 2;
  const Job job = w.Add("x", Json::object(), two);
  w.RunUntilIdle();
  ASSERT_EQ(w.Get(job.id)->attempts_made, 2);
  ASSERT_TRUE(w.Run(w.queue().RetryJob(job.id)).ok());  // resetAttempts by default.
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 4);  // Two fresh attempts.
  ASSERT_TRUE(w.Run(w.queue().RetryJob(job.id, engine::RetryOptions(false))).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 5);  // Attempts kept: one more run, then failed for good.
  EXPECT_EQ(w.Get(job.id)->attempts_made, 3);
  EXPECT_EQ(w.Get(job.id)->epoch, 2);
  // Remove is a delete: the row, its logs and its non-terminal events are gone.
  EXPECT_GT(w.QueryInt("SELECT count(*) FROM cfq_logs WHERE job_id = '" + job.id + "'"), 0);
  ASSERT_TRUE(*w.Run(w.queue().Remove(job.id)));
  EXPECT_FALSE(JobExists(w, job.id));
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_logs WHERE job_id = '" + job.id + "'"), 0);
  for (const auto& name : w.EventNames(job.id)) {
    EXPECT_TRUE(name == "failed" || name == "removed") << name;
  }
  // Force-removing an active job revokes its lease at once.
  w.SetProcessor(CompleteAfter(Seconds(60)));
  const Job active = w.Add("y");
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.Coordinator().leases.size(), 1u);
  ASSERT_TRUE(*w.Run(w.queue().Remove(active.id, engine::RemoveOptions(true, true))));
  EXPECT_TRUE(w.Coordinator().leases.empty());
  w.RunUntilIdle();
  EXPECT_FALSE(JobExists(w, active.id));  // The late completion wrote nothing.
  EXPECT_EQ(CountOf(w.EventNames(active.id), "completed"), 0);
}

// Seed: "Dedupe TTL KV-only, D1 forever, unit mix-ups".
TEST(SeedWeaknesses, W23_AThrottleTtlIsInMillisecondsAndKeptInD1) {
  EngineWorld w;
  JobOptions options;
  options.deduplication = engine::Dedup();
  options.deduplication->id = "k";
  options.deduplication->ttl_ms = 1'500;
  const Job first = w.Add("t", Json::object(), options);
  EXPECT_EQ(w.QueryInt("SELECT expires_at - created_at FROM cfq_dedupe WHERE dedup_id = 'k'"),
            1'500);
  w.RunFor(Milliseconds(1'000));
  EXPECT_EQ(w.Add("t", Json::object(), options).id, first.id);
  w.RunFor(Milliseconds(600));  // 1.6 s after the first add: the key expired.
  const Job second = w.Add("t", Json::object(), options);
  EXPECT_TRUE(second.is_new);
  EXPECT_NE(second.id, first.id);
}

// Seed: "Backoff from CF delivery count, implicit exponential, no jitter".
TEST(SeedWeaknesses, W24_BackoffComesFromD1AttemptsNoneIsImmediateAndJitterStaysInBounds) {
  EngineWorld w;
  w.SetProcessor(AlwaysFail);
  JobOptions none;
  none.attempts = 3;
  const Job immediate = w.Add("none", Json::object(), none);
  JobOptions jittered;
  jittered.attempts = 4;
  jittered.backoff = engine::Backoff("exponential", 4'000, 0.5);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(w.Add("jitter", Json{{"i", i}}, jittered).id);
  w.RunUntilIdle();
  // No backoff: each retry is immediate (waiting, no delay), never an implicit exponential.
  const auto retries = EventsNamed(w, immediate.id, "waiting");
  ASSERT_EQ(retries.size(), 3u);  // The add's and two retries'.
  EXPECT_EQ(retries[1]["delay"], 0);
  EXPECT_TRUE(EventsNamed(w, immediate.id, "delayed").empty());
  std::set<std::int64_t> first_delays;
  for (const auto& id : ids) {
    const auto delays = EventsNamed(w, id, "delayed");
    ASSERT_EQ(delays.size(), 3u) << id;
    for (std::size_t k = 0; k < 3; ++k) {
      const std::int64_t full = 4'000LL << k;
      const std::int64_t delay = delays[k]["delay"].get<std::int64_t>();
      EXPECT_GE(delay, full / 2) << id << " retry " << k;
      EXPECT_LE(delay, full) << id << " retry " << k;
    }
    first_delays.insert(delays[0]["delay"].get<std::int64_t>());
  }
  EXPECT_GT(first_delays.size(), 1u);  // Seeded jitter, not a constant.
  // Attempts are D1's: 1, 2, 3, 4, while every Cloudflare message was acked, never retried.
  std::vector<int> attempts;
  for (const auto& run : w.runs()) {
    if (run.id == ids[0]) attempts.push_back(run.attempt);
  }
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(StatsOf(w, "jobs").retried, 0);
}

emulator::FaultPlan RobustnessFor(Duration active) {
  emulator::FaultPlan plan(emulator::Profile::kRobustness);
  for (const auto& info : emulator::AllFaults()) {
    auto rule = plan.rule(info.fault);
    if (!rule) continue;
    rule->windows.push_back({core::kVirtualEpoch, core::kVirtualEpoch + active});
    plan.Set(info.fault, *rule);
  }
  return plan;
}

Task<Result<Json>> ShortWork(JobContext& ctx) {
  core::Random random = ctx.random().Fork(ctx.job().id + "#" + std::to_string(ctx.attempt()));
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Milliseconds(random.Range(0, 3'000))));
  if (ctx.job().name == "flaky" && random.Chance(0.5)) co_return Status::Unknown("flaky");
  co_return Json{{"done", true}};
}

// Seed: "No transactions, blind overwrites".
TEST(SeedWeaknesses, W25_GuardedTransitionsHoldUnderFiftyInterleavings) {
  std::int64_t fired = 0;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    EngineTestOptions options;
    options.seed = seed;
    options.profile = emulator::Profile::kRobustness;
    options.faults = RobustnessFor(Seconds(40));
    options.queue_config.dispatch_timeout_ms = 30'000;
    options.consumer.concurrency = 4;
    options.max_retries = 10;
    EngineWorld w(options);
    w.SetProcessor(ShortWork);
    for (int i = 0; i < 4; ++i) (void)w.TryAdd("plain", Json{{"i", i}});
    JobOptions retrying;
    retrying.attempts = 3;
    for (int i = 0; i < 2; ++i) (void)w.TryAdd("flaky", Json{{"i", i}}, retrying);
    JobOptions ignore;
    ignore.ignore_dependency_on_failure = true;
    auto producer = w.engine().GetFlowProducer();
    (void)w.Run(producer.Add(FlowJob("plain", "jobs", Json::object(), JobOptions(),
                                     {FlowJob("flaky", "jobs", Json::object(), ignore)})));
    w.RunFor(Minutes(45));
    fired += w.sim().faults().total_fired();
    w.ExpectInvariants(/*quiescent=*/true);
    const auto counts = w.Counts();
    EXPECT_EQ(counts.at("waiting") + counts.at("active") + counts.at("prioritized") +
                  counts.at("delayed") + counts.at("waiting-children"),
              0)
        << "seed " << seed;
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed << "\n" << w.DescribeUnfinished();
      return;
    }
  }
  EXPECT_GT(fired, 50);  // The interleavings did meet faults.
}

Task<void> AddInto(engine::Queue* queue, JobOptions options, std::vector<Job>* out) {
  std::string name = "d";
  Json data = Json::object();
  auto job = co_await queue->Add(std::move(name), std::move(data), std::move(options));
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  if (job.ok()) out->push_back(*job);
}

// Seed: "No unique keys; global PK; KV TTL < 60 throws after insert".
TEST(SeedWeaknesses, W26_OneIdInTwoQueuesIsTwoJobsAndConcurrentDedupeAddsMakeOne) {
  EngineWorld w;
  auto other = w.Run(w.engine().OpenQueue("other"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  JobOptions same;
  same.job_id = "same-id";
  const Job mine = w.Add("mine", Json{{"q", "jobs"}}, same);
  auto theirs = w.Run(other->Add("theirs", Json{{"q", "other"}}, same));
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  EXPECT_TRUE(mine.is_new);
  EXPECT_TRUE(theirs->is_new);
  JobOptions dedupe;
  dedupe.deduplication = engine::Dedup();
  dedupe.deduplication->id = "together";
  dedupe.deduplication->ttl_ms = 30'000;  // Throttle: under 60 s, fine in D1.
  std::vector<Job> added;
  std::vector<Task<void>> adds;
  for (int i = 0; i < 10; ++i) adds.push_back(AddInto(&w.queue(), dedupe, &added));
  w.Run(core::WhenAll(std::move(adds)));
  ASSERT_EQ(added.size(), 10u);
  int created = 0;
  for (const Job& job : added) {
    created += job.is_new ? 1 : 0;
    EXPECT_EQ(job.id, added[0].id);
  }
  EXPECT_EQ(created, 1);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf("same-id"), JobState::kCompleted);
  auto theirs_done = w.Run(other->GetJob("same-id"));
  ASSERT_TRUE(theirs_done.ok() && theirs_done->has_value());
  EXPECT_EQ((*theirs_done)->state, JobState::kCompleted);
  EXPECT_EQ((*theirs_done)->data, (Json{{"q", "other"}}));
  EXPECT_EQ(w.Get("same-id")->data, (Json{{"q", "jobs"}}));
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE name = 'd'"), 1);
}

Task<Result<Json>> ChattyJob(JobContext& ctx) {
  for (int i = 0; i < 10; ++i) CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Log("line"));
  co_return Json{{"ok", true}};
}

// Seed: "Events/logs unbounded; orphans; heartbeat writes".
TEST(SeedWeaknesses, W27_EventsAndLogsAreBoundedAndLeaveNoOrphans) {
  EngineTestOptions options;
  options.queue_config.max_len_events = 20;
  EngineWorld w(options);
  w.SetProcessor(ChattyJob);
  JobOptions few_logs;
  few_logs.keep_logs = 3;
  const Job trimmed = w.Add("trimmed", Json::object(), few_logs);
  JobOptions gone;
  gone.remove_on_complete = true;
  std::vector<std::string> removed;
  for (int i = 0; i < 30; ++i) removed.push_back(w.Add("gone", Json{{"i", i}}, gone).id);
  w.RunUntilIdle();
  w.RunFor(Seconds(10));  // The coordinator's sweep trims the stream.
  EXPECT_LE(w.QueryInt("SELECT count(*) FROM cfq_events WHERE queue = 'jobs'"), 20 + 5);
  auto logs = w.Run(w.queue().GetLogs(trimmed.id));
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->count, 3);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_logs l WHERE NOT EXISTS (SELECT 1 FROM "
                       "cfq_jobs j WHERE j.queue = l.queue AND j.id = l.job_id)"),
            0);
  for (const auto& id : removed) EXPECT_FALSE(JobExists(w, id)) << id;
  w.ExpectInvariants(/*quiescent=*/true);  // INV-16.
}

Task<Result<Json>> SlowUnlessFlaky(JobContext& ctx) {
  if (ctx.job().name == "flaky" && ctx.attempt() == 1) co_return Status::Unknown("flaky");
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(10)));
  co_return Json{{"ok", true}};
}

// Seed: "DO storage never GC'd; no alarms".
TEST(SeedWeaknesses, W28_AnIdleQueueLeavesNoLeaseNoWindowAndNoAlarm) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 5;
  limiter.duration_ms = 1'000;
  options.queue_config.limiter = limiter;
  options.consumer.concurrency = 5;
  EngineWorld w(options);
  w.SetProcessor(SlowUnlessFlaky);
  for (int i = 0; i < 4; ++i) w.Add("plain", Json{{"i", i}});
  JobOptions retrying;
  retrying.attempts = 2;
  w.Add("flaky", Json::object(), retrying);
  JobOptions prioritized;
  prioritized.priority = 3;
  w.Add("plain", Json{{"prioritized", true}}, prioritized);
  w.RunFor(Seconds(5));
  const auto busy = w.Coordinator();
  EXPECT_FALSE(busy.leases.empty());
  EXPECT_TRUE(busy.alarm_at.has_value());  // Armed at the leases' expiry.
  w.RunUntilIdle();
  w.RunFor(Minutes(1));
  EXPECT_EQ(w.Counts().at("completed"), 6);
  const auto idle = w.Coordinator();
  EXPECT_TRUE(idle.leases.empty());
  EXPECT_EQ(idle.inflight, 0);
  EXPECT_FALSE(idle.alarm_at.has_value()) << *idle.alarm_at;
}

Task<void> MigrateInto(engine::Engine* engine, std::vector<Result<engine::MigrationReport>>* out) {
  out->push_back(co_await engine->Migrate());
}

// Seed: "Concurrent migrator".
TEST(SeedWeaknesses, W29_MigrationsRunOnceEvenConcurrentlyAndASecondRunIsANoOp) {
  EngineTestOptions options;
  options.migrate = false;
  options.open_queue = false;
  EngineWorld w(options);
  std::vector<Result<engine::MigrationReport>> reports;
  std::vector<Task<void>> migrations;
  for (int i = 0; i < 2; ++i) migrations.push_back(MigrateInto(&w.engine(), &reports));
  w.Run(core::WhenAll(std::move(migrations)));
  ASSERT_EQ(reports.size(), 2u);
  std::size_t applied = 0;
  for (const auto& report : reports) {
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    applied += report->applied.size();
    EXPECT_EQ(report->version, engine::LatestSchemaVersion());
  }
  // Each migration was applied once, by one of the two.
  EXPECT_EQ(applied, static_cast<std::size_t>(engine::LatestSchemaVersion()));
  auto again = w.Run(w.engine().Migrate());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_schema"), engine::LatestSchemaVersion());
  EXPECT_TRUE(w.TryAdd("x").ok());
}

// Seed: "SQLite-only SQL behind a generic DB; ISO-string time".
TEST(SeedWeaknesses, W30_TimesAreIntegerMillisecondsEverywhere) {
  EngineWorld w;
  w.SetProcessor(ByName);
  JobOptions retrying;
  retrying.attempts = 2;
  retrying.backoff = engine::Backoff("fixed", 1'000);
  retrying.deduplication = engine::Dedup();
  retrying.deduplication->id = "d";
  retrying.deduplication->ttl_ms = 60'000;
  const Job job = w.Add("flaky", Json::object(), retrying);
  RepeatOptions repeat;
  repeat.every_ms = 60'000;
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("s", repeat)).ok());
  w.RunFor(Seconds(10));
  const std::string where = " FROM cfq_jobs WHERE id = '" + job.id + "'";
  for (const char* column : {"created_at", "available_at", "processed_at", "finished_at"}) {
    EXPECT_EQ(w.QueryInt(std::string("SELECT typeof(") + column + ") = 'integer'" + where), 1)
        << column;
  }
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done && done->finished_on);
  EXPECT_EQ(ColumnOf(w, job.id, "created_at"), done->timestamp);
  EXPECT_GE(done->timestamp, core::kVirtualEpoch.unix_ms());
  EXPECT_LE(*done->finished_on, w.now_ms());
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE typeof(at) <> 'integer'"), 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dedupe WHERE typeof(expires_at) <> "
                       "'integer'"),
            0);
  EXPECT_EQ(w.QueryInt("SELECT typeof(next_run_at) = 'integer' FROM cfq_schedulers"), 1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE typeof(available_at) <> 'integer' "
                       "OR typeof(created_at) <> 'integer'"),
            0);
}

Task<Result<Json>> CountRun(JobContext& ctx, int* runs) {
  ++*runs;
  co_return Json{{"id", ctx.job().id}};
}

// Seed: "REST dequeue keeps only the first message; acks need process memory".
TEST(SeedWeaknesses, W31_APullConsumerHandlesEveryMessageOfAPulledBatch) {
  emulator::Simulator sim(/*seed=*/5);
  platform::DurableObjectRegistry registry;
  engine::EngineBindings bindings;
  engine::RegisterCoordinator(registry, bindings);
  auto config =
      emulator::LoadWranglerConfig(emulator::DefaultWranglerConfig(), "wrangler.jsonc", &registry);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  platform::EnvSpec spec = config->spec;
  spec.consumers = {PullConsumer("jobs")};  // An http_pull consumer instead of the Worker.
  spec.crons.clear();
  emulator::WorldOptions world_options;
  world_options.registry = &registry;
  auto world = emulator::World::Create(sim, spec, world_options);
  ASSERT_TRUE(world.ok()) << world.status().ToString();
  platform::Env& env = (*world)->EnvFor("producer");
  auto engine = engine::Engine::Create(env, bindings, core::Random(5));
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE(sim.Run(engine->Migrate()).ok());
  auto queue = sim.Run(engine->OpenQueue("jobs"));
  ASSERT_TRUE(queue.ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back((*sim.Run(queue->Add("pulled", Json{{"i", i}}))).id);
  ASSERT_TRUE(sim.Run((*env.Queue("JOBS"))->Send(platform::Body(Json{{"not", "ours"}}))).ok());
  auto pull = (*world)->queues().PullConsumerFor("jobs");
  ASSERT_TRUE(pull.ok());
  auto pulled = sim.Run((*pull)->Pull(10, std::nullopt));
  ASSERT_TRUE(pulled.ok());
  ASSERT_EQ(pulled->messages.size(), 6u);
  int runs = 0;
  engine::Consumer consumer =
      engine->CreateConsumer([&runs](JobContext& ctx) { return CountRun(ctx, &runs); });
  auto outcome = sim.Run(consumer.HandlePulled(std::move(pulled->messages), env));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->acks.size(), 6u);  // Every message, not the first.
  EXPECT_TRUE(outcome->retries.empty());
  EXPECT_EQ(runs, 5);
  auto acked = sim.Run((*pull)->Ack(outcome->acks, outcome->retries));
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->ack_count, 6);
  for (const auto& id : ids) {
    auto job = sim.Run(queue->GetJob(id));
    ASSERT_TRUE(job.ok() && job->has_value()) << id;
    EXPECT_EQ((*job)->state, JobState::kCompleted) << id;
  }
  auto letters = sim.Run(queue->GetDeadLetters());
  ASSERT_TRUE(letters.ok());
  EXPECT_EQ(letters->size(), 1u);  // The foreign message, quarantined.
}

// Seed: "Side-effect registration with no config; globalThis.env lookup; no close".
TEST(SeedWeaknesses, W32_EnginesUseExplicitBindingsAndUnknownNamesFail) {
  EngineWorld w;
  engine::EngineBindings custom;
  custom.queues["special"] = "JOBS";
  custom.kv = "CACHE";
  auto engine = engine::Engine::Create(w.env(), custom, core::Random(9));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ(engine->bindings().ProducerFor("special"), "JOBS");
  auto queue = w.Run(engine->OpenQueue("special"));
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  auto job = w.Run(queue->Add("x", Json::object()));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  w.RunUntilIdle();
  auto done = w.Run(queue->GetJob(job->id));
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_EQ((*done)->state, JobState::kCompleted);
  for (const std::string which : {"d1", "coordinator", "kv"}) {
    engine::EngineBindings bad;
    (which == "d1" ? bad.d1 : which == "coordinator" ? bad.coordinator : bad.kv) = "NOPE";
    auto refused = engine::Engine::Create(w.env(), bad, core::Random(9));
    EXPECT_EQ(refused.code(), core::Code::kFailedPrecondition) << which;
    EXPECT_NE(refused.status().message().find("NOPE"), std::string::npos) << which;
  }
  engine::EngineConfig hint;
  hint.kv_pause_hint = true;  // Needs a KV binding.
  EXPECT_EQ(engine::Engine::Create(w.env(), engine::EngineBindings(), core::Random(9), hint).code(),
            core::Code::kFailedPrecondition);
}

// Seed: "Many sequential round trips".
TEST(SeedWeaknesses, W33_AnAddIsOneD1BatchAndAConsumeAtMostTwo) {
  EngineWorld w;
  w.sim().trace().KeepLines(true);
  w.SetProcessor(ByName);
  int calls = D1Calls(w);
  const Job plain = w.Add("plain");
  EXPECT_EQ(D1Calls(w) - calls, 1);
  calls = D1Calls(w);
  JobOptions later;
  later.delay_ms = 5'000;
  w.Add("plain", Json::object(), later);
  EXPECT_EQ(D1Calls(w) - calls, 1);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 2);  // One send per add.
  w.RunUntilIdle();
  auto batches = BatchesByLabel(w);
  EXPECT_EQ(batches["add"], 2);
  EXPECT_LE(batches["claim"] + batches["finish"], 2 * 2);
  EXPECT_EQ(w.StateOf(plain.id), JobState::kCompleted);
  // A retry costs the same again: one claim and one finish per attempt, and one send.
  JobOptions retrying;
  retrying.attempts = 2;
  const std::int64_t sent = StatsOf(w, "jobs").sent;
  w.Add("flaky", Json::object(), retrying);
  w.RunUntilIdle();
  const auto after = BatchesByLabel(w);
  EXPECT_EQ(after.at("claim") - batches["claim"], 2);
  EXPECT_EQ(after.at("finish") - batches["finish"], 2);
  EXPECT_EQ(StatsOf(w, "jobs").sent - sent, 2);  // The add's and the retry's.
}

}  // namespace
}  // namespace cfemu::testing
