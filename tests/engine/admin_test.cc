// Management and getters (engine-spec.md §3 T22-T25, §4.11, §4.13, §4.14, §5): promote,
// retry, remove, clean, drain, obliterate, retention, dead letters and redrive, events, logs,
// progress, metrics, paging and search; schema migration and required bindings.
#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"
#include "src/engine/sql.h"

namespace cfemu::testing {
namespace {

using core::Minutes;
using core::Seconds;

TEST(EngineAdmin, PromoteMakesADelayedJobDueNowExactlyOnce) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = core::Hours(1).ms();
  const Job job = w.Add("later", Json::object(), options);
  auto promoted = w.Run(w.queue().Promote(job.id));
  ASSERT_TRUE(promoted.ok());
  EXPECT_TRUE(*promoted);
  EXPECT_FALSE(*w.Run(w.queue().Promote(job.id)));  // No longer delayed.
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 1);  // The original (delayed) envelope was made stale.
  EXPECT_LT(w.runs()[0].at.unix_ms(), job.available_at);
}

TEST(EngineAdmin, RetryJobStartsANewEpochWithResetAttempts) {
  EngineWorld w;
  bool fail = true;
  w.SetProcessor([&fail](JobContext&) -> Task<Result<Json>> {
    if (fail) co_return Status::Unknown("no");
    co_return Json{{"ok", true}};
  });
  const Job job = w.Add("x");
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kFailed);
  EXPECT_EQ(w.Run(w.queue().RetryJob("missing")).code(), core::Code::kNotFound);
  fail = false;
  ASSERT_TRUE(w.Run(w.queue().RetryJob(job.id)).ok());
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->epoch, 1);
  EXPECT_EQ(done->attempts_made, 1);
  EXPECT_EQ(w.Run(w.queue().RetryJob(job.id)).ok(), true);  // Completed jobs may be retried.
  auto active = w.Add("y");
  EXPECT_EQ(w.Run(w.queue().RetryJob(active.id)).code(), core::Code::kNotInState);
}

TEST(EngineAdmin, RemoveDeletesAJobAndRecordsTheRemoval) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = 60'000;
  const Job job = w.Add("x", Json::object(), options);
  auto removed = w.Run(w.queue().Remove(job.id));
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(w.Get(job.id).has_value());
  EXPECT_EQ(w.EventNames(job.id), std::vector<std::string>{"removed"});
  EXPECT_FALSE(*w.Run(w.queue().Remove(job.id)));
  w.RunUntilIdle();
  EXPECT_TRUE(w.runs().empty());
}

TEST(EngineAdmin, ForceRemovingAnActiveJobFencesItsConsumer) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(60)));
  const Job job = w.Add("x");
  w.RunFor(Seconds(5));
  EXPECT_EQ(w.StateOf(job.id), JobState::kActive);
  EXPECT_EQ(w.Run(w.queue().Remove(job.id)).code(), core::Code::kFailedPrecondition);
  auto removed = w.Run(w.queue().Remove(job.id, engine::RemoveOptions(true, true)));
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  w.RunUntilIdle();
  EXPECT_FALSE(w.Get(job.id).has_value());  // The late completion changed nothing.
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'completed'"), 0);
}

TEST(EngineAdmin, CleanRemovesOldFinishedJobsAndReturnsTheirIds) {
  EngineWorld w;
  for (int i = 0; i < 4; ++i) w.Add("c", Json{{"i", i}});
  w.RunUntilIdle();
  w.RunFor(Minutes(10));
  w.Add("fresh");
  w.RunUntilIdle();
  auto cleaned = w.Run(w.queue().Clean(5 * 60'000, 100, JobState::kCompleted));
  ASSERT_TRUE(cleaned.ok());
  EXPECT_EQ(cleaned->size(), 4u);
  EXPECT_EQ(w.Counts().at("completed"), 1);
  const auto names = w.EventNames();
  EXPECT_EQ(names.back(), "cleaned");
}

TEST(EngineAdmin, DrainRemovesWaitingJobsAndObliterateRemovesTheQueue) {
  EngineWorld w;
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  for (int i = 0; i < 7; ++i) w.Add("d", Json{{"i", i}});
  ASSERT_TRUE(w.Run(w.queue().Drain()).ok());
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs"), 0);
  w.Add("e");
  ASSERT_TRUE(w.Run(w.queue().Obliterate()).ok());
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs"), 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_queues"), 0);
  EXPECT_FALSE(w.Coordinator().paused);
  // The queue opens again on the next add and works.
  const Job again = w.Add("f");
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(again.id), JobState::kCompleted);
}

TEST(EngineRetention, KeepPoliciesAreAppliedPerRow) {
  EngineWorld w;
  JobOptions drop;
  drop.remove_on_complete = true;
  JobOptions keep_two;
  keep_two.remove_on_complete = std::int64_t{2};
  JobOptions keep_all;  // No policy: never removed by another job's policy.
  const Job kept = w.Add("keep", Json::object(), keep_all);
  const Job dropped = w.Add("drop", Json::object(), drop);
  w.RunFor(Seconds(2));
  std::vector<std::string> counted;
  for (int i = 0; i < 5; ++i) {
    counted.push_back(w.Add("count", Json{{"i", i}}, keep_two).id);
    w.RunFor(Seconds(1));
  }
  w.RunUntilIdle();
  w.RunFor(Seconds(30));  // Past the coordinator's sweep period.
  EXPECT_FALSE(w.Get(dropped.id).has_value());
  EXPECT_TRUE(w.Get(kept.id).has_value());
  int left = 0;
  for (const auto& id : counted) left += w.Get(id).has_value() ? 1 : 0;
  EXPECT_EQ(left, 2);
  // The kept job is ranked beyond 2 among the completed rows, but its own policy keeps it.
  // The terminal event of a removed job stays for QueueEvents and waitUntilFinished.
  const auto names = w.EventNames(dropped.id);
  EXPECT_NE(std::find(names.begin(), names.end(), "completed"), names.end());
}

TEST(EngineDeadLetters, InfrastructureFailuresEndInTheDlqAsDeadLetteredJobsThatCanBeRedriven) {
  EngineTestOptions options;
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  emulator::FaultRule outage;
  outage.probability = 1.0;
  outage.windows.push_back({core::kVirtualEpoch + Seconds(1), core::kVirtualEpoch + Seconds(60)});
  plan.Set(emulator::Fault::kO3Overloaded, outage);  // The coordinator refuses every call.
  options.faults = plan;
  options.consumer.infra_retry_delay_seconds = 5;
  EngineWorld w(options);
  const Job job = w.Add("x");
  w.RunFor(Minutes(2));
  const auto failed = w.Get(job.id);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_TRUE(failed->dead_lettered);
  EXPECT_EQ(failed->attempts_made, 0);
  EXPECT_EQ(w.RunsOf(job.id), 0);
  auto letters = w.Run(w.queue().GetDeadLetters());
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].outcome, "dead-lettered");
  EXPECT_EQ((*letters)[0].job_id.value_or(""), job.id);
  engine::RedriveOptions redrive;
  redrive.all = true;
  auto redriven = w.Run(w.queue().Redrive(redrive));
  ASSERT_TRUE(redriven.ok());
  EXPECT_EQ(*redriven, 1);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  letters = w.Run(w.queue().GetDeadLetters());
  EXPECT_EQ((*letters)[0].outcome, "redriven");
}

TEST(EngineDeadLetters, AForeignMessageIsQuarantinedAndAcked) {
  EngineWorld w;
  platform::Json body = {{"hello", "world"}};
  auto sent = w.Run((*w.env().Queue("JOBS"))->Send(std::move(body)));
  ASSERT_TRUE(sent.ok());
  w.RunUntilIdle();
  auto letters = w.Run(w.queue().GetDeadLetters());
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].source, "quarantine");
  EXPECT_EQ((*letters)[0].body, R"({"hello":"world"})");
  auto metrics = w.Run((*w.env().Queue("JOBS"))->Metrics());
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->backlog_count, 0);  // Acked, not retried.
}

TEST(EngineEvents, QueueEventsFollowTheStreamAndWaitUntilFinishedReturnsTheValue) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(3), Json{{"v", 42}}));
  w.Add("before");
  w.RunUntilIdle();
  auto stream = w.engine().GetQueueEvents("jobs");
  auto first = w.Run(stream.Next());  // "$": only what happens from now on.
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->empty());
  auto waiting = w.engine().GetQueueEvents("jobs");
  const Job job = w.Add("x");
  auto value = w.Run(engine::WaitUntilFinished(w.queue(), waiting, job.id, 60'000));
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(*value, (Json{{"v", 42}}));
  std::vector<std::string> seen;
  while (true) {
    auto next = w.Run(stream.Next());
    ASSERT_TRUE(next.ok());
    if (next->empty()) break;
    for (const auto& e : *next) seen.push_back(e.event);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"added", "waiting", "active", "completed"}));
}

TEST(EngineEvents, WaitUntilFinishedRejectsWithTheFailedReason) {
  EngineWorld w;
  w.SetProcessor([](JobContext&) -> Task<Result<Json>> { co_return Status::Unknown("nope"); });
  auto events = w.engine().GetQueueEvents("jobs");
  const Job job = w.Add("x");
  auto value = w.Run(engine::WaitUntilFinished(w.queue(), events, job.id, 60'000));
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().message(), "nope");
}

TEST(EngineGetters, ProgressAndLogsAreCoalescedAndReadable) {
  EngineWorld w;
  w.SetProcessor([](JobContext& ctx) -> Task<Result<Json>> {
    for (int i = 1; i <= 5; ++i) {
      CFEMU_CO_RETURN_IF_ERROR(co_await ctx.UpdateProgress(Json(i * 20)));
      CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Log("step " + std::to_string(i)));
      CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(300)));
    }
    co_return Json{{"ok", true}};
  });
  const Job job = w.Add("x");
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->progress, Json(100));
  auto logs = w.Run(w.queue().GetLogs(job.id));
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->count, 5);
  EXPECT_EQ(logs->logs.front(), "step 1");
  EXPECT_EQ(logs->logs.back(), "step 5");
  const auto names = w.EventNames(job.id);
  // 1.5 s of work with a 1 s flush period: fewer progress events than updates.
  EXPECT_LT(std::count(names.begin(), names.end(), "progress"), 5);
}

TEST(EngineGetters, GetJobsPagesByOffsetAndCursorAndSearches) {
  EngineWorld w;
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    JobOptions o;
    o.job_id = "job-" + std::to_string(i);
    ids.push_back(w.Add(i % 2 == 0 ? "even" : "odd", Json{{"n", i}}, o).id);
  }
  engine::JobQuery query;
  query.types = {JobState::kWaiting};
  query.start = 2;
  query.end = 4;
  auto page = w.Run(w.queue().GetJobs(query));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 3u);
  EXPECT_EQ(page->jobs[0].id, "job-2");
  ASSERT_TRUE(page->next_cursor);
  engine::JobQuery next;
  next.types = {JobState::kWaiting};
  next.end = 2;
  next.cursor = page->next_cursor;
  auto second = w.Run(w.queue().GetJobs(next));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->jobs.size(), 3u);
  EXPECT_EQ(second->jobs[0].id, "job-5");
  engine::JobQuery search;
  search.name = "odd";
  search.data_contains = "\"n\":7";
  auto found = w.Run(w.queue().GetJobs(search));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->jobs.size(), 1u);
  EXPECT_EQ(found->jobs[0].id, "job-7");
  engine::JobQuery prefix;
  prefix.id_prefix = "job-1";
  EXPECT_EQ(w.Run(w.queue().GetJobs(prefix))->jobs.size(), 1u);
}

TEST(EngineGetters, MetricsCountFinishesPerMinuteNewestFirst) {
  EngineWorld w;
  for (int i = 0; i < 3; ++i) w.Add("m");
  w.RunUntilIdle();
  w.RunFor(Minutes(2));
  w.Add("m");
  w.RunUntilIdle();
  auto metrics = w.Run(w.queue().GetMetrics(engine::MetricKind::kCompleted));
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->count, 4);
  ASSERT_GE(metrics->data.size(), 3u);
  EXPECT_EQ(metrics->data.front(), 1);
  EXPECT_EQ(metrics->data.back(), 3);
}

// A database left at schema version 1 is refused with an instruction, then upgraded in place
// by version 2: its rebuilt tables keep their rows and rules, and the events are written.
TEST(EngineSetup, AnOlderSchemaIsRefusedUntilMigratedThenUpgradedInPlace) {
  EngineTestOptions options;
  options.migrate = false;
  options.open_queue = false;
  EngineWorld w(options);
  platform::D1Database& db = **w.env().D1("DB");
  std::vector<platform::D1PreparedStatement> v1;
  v1.push_back(db.Prepare(
      "CREATE TABLE cfq_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"));
  v1.push_back(db.Prepare("INSERT INTO cfq_schema (version, applied_at) VALUES (1, 0)"));
  for (const std::string& sql : engine::Migrations().front().statements) {
    v1.push_back(db.Prepare(sql));
  }
  // Rows written under version 1: a job, a dependency edge and a deduplication key (by hand,
  // not by an engine: the invariants, which would see a parent without a row, are not checked).
  w.SkipInvariantsAtExit();
  v1.push_back(db.Prepare(
      "INSERT INTO cfq_jobs (queue, id, name, data, opts, state, order_key, available_at, "
      "add_token, created_at) VALUES ('jobs', 'old-1', 'x', '{\"a\":1}', '{}', 'waiting', 1, 1, "
      "'t', 1)"));
  v1.push_back(db.Prepare(
      "INSERT INTO cfq_deps (parent_queue, parent_id, child_queue, child_id, status, policy, "
      "updated_at) VALUES ('jobs', 'p', 'jobs', 'old-1', 'pending', 'ignore', 1)"));
  v1.push_back(db.Prepare(
      "INSERT INTO cfq_dedupe (queue, dedup_id, job_id, mode, created_at) VALUES ('jobs', 'k', "
      "'old-1', 'simple', 1)"));
  ASSERT_TRUE(w.Run(db.Batch(std::move(v1))).ok());
  auto refused = w.Run(w.engine().OpenQueue("jobs"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("schema version 1, this build needs 2"),
            std::string::npos)
      << refused.status().ToString();
  auto upgraded = w.Run(w.engine().Migrate());
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ(upgraded->applied, std::vector<int>{2});
  // The rebuilt tables kept their rows, indexes and triggers, and their rules.
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE id = 'old-1' AND state = 'waiting' "
                       "AND data = '{\"a\":1}' AND parent_policy IS NULL"),
            1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_deps WHERE child_id = 'old-1' AND policy = "
                       "'ignore'"),
            1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dedupe WHERE job_id = 'old-1'"), 1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                       "('cfq_jobs', 'cfq_deps', 'cfq_dedupe') AND name NOT LIKE 'sqlite_%'"),
            13);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 6);
  for (const char* bad : {"UPDATE cfq_jobs SET state = 'bogus' WHERE id = 'old-1'",
                          "UPDATE cfq_jobs SET parent_policy = 'drop' WHERE id = 'old-1'",
                          "UPDATE cfq_deps SET status = 'done' WHERE child_id = 'old-1'",
                          "UPDATE cfq_dedupe SET mode = 'forever' WHERE job_id = 'old-1'"}) {
    auto rejected = w.Run(db.Prepare(bad).Run());
    ASSERT_FALSE(rejected.ok()) << bad;
    EXPECT_NE(rejected.status().message().find("CHECK constraint failed"), std::string::npos)
        << rejected.status().ToString();
  }
  ASSERT_TRUE(w.Run(w.engine().OpenQueue("jobs")).ok());
  const Job job = w.Add("x");
  w.RunUntilIdle();
  EXPECT_EQ(w.EventNames(job.id),
            (std::vector<std::string>{"added", "waiting", "active", "completed"}));
}

TEST(EngineSetup, MigrationsApplyOnceAndTheSecondRunIsANoOp) {
  EngineTestOptions options;
  options.migrate = false;
  options.open_queue = false;
  EngineWorld w(options);
  EXPECT_EQ(w.TryAdd("x").code(), core::Code::kFailedPrecondition);  // No schema yet.
  auto first = w.Run(w.engine().Migrate());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->applied, (std::vector<int>{1, 2}));
  auto second = w.Run(w.engine().Migrate());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(second->version, 2);
  EXPECT_TRUE(w.TryAdd("x").ok());
}

TEST(EngineSetup, TheD1AndCoordinatorBindingsAreRequired) {
  EngineWorld w;
  engine::EngineBindings no_db;
  no_db.d1 = "NOPE";
  auto engine = engine::Engine::Create(w.env(), no_db, core::Random(1));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.code(), core::Code::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("NOPE"), std::string::npos);
  engine::EngineBindings no_do;
  no_do.coordinator = "NONE";
  EXPECT_EQ(engine::Engine::Create(w.env(), no_do, core::Random(1)).code(),
            core::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace cfemu::testing
