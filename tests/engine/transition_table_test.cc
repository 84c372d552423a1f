// The transition table of engine-spec.md §3, row by row (T01-T27): each test drives the row
// through the public API, then checks its guard (what must hold for it to happen, or what
// happens when it does not) and its side effects in D1 — state, gen, dispatch marks, events
// with their epoch and gen, counts. Envelopes are held back by pausing the physical queue
// where a row must be seen before a consumer claims it.
#include <gtest/gtest.h>

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

void HoldEnvelopes(EngineWorld& w) { ASSERT_TRUE(w.world().queues().Pause("jobs").ok()); }
void ReleaseEnvelopes(EngineWorld& w) { ASSERT_TRUE(w.world().queues().Resume("jobs").ok()); }

// Runs virtual time up to `at` after the virtual epoch.
void RunUntil(EngineWorld& w, Duration at) {
  const std::int64_t left = core::kVirtualEpoch.unix_ms() + at.ms() - w.now_ms();
  if (left > 0) w.RunFor(Milliseconds(left));
}

const ProcessorRun* RunOf(EngineWorld& w, const std::string& id, int nth = 0) {
  for (const auto& run : w.runs()) {
    if (run.id == id && nth-- == 0) return &run;
  }
  return nullptr;
}

TEST(Transitions, T01_AnAddInsertsAWaitingRowAtGenOneMarkedDispatchedInItsBatch) {
  EngineWorld w;
  HoldEnvelopes(w);
  const Job job = w.Add("a", Json{{"k", 1}});
  EXPECT_TRUE(job.is_new);
  EXPECT_EQ(job.state, JobState::kWaiting);
  EXPECT_EQ(job.gen, 1);
  EXPECT_EQ(job.available_at, job.timestamp);
  ASSERT_TRUE(job.dispatch_at.has_value());
  EXPECT_EQ(*job.dispatch_at, job.timestamp);  // The outbox mark, in the insert batch.
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_deadline"), job.timestamp + 300'000);
  const auto events = w.Events(job.id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].first, "added");
  EXPECT_EQ(events[1].first, "waiting");
  for (const auto& [name, data] : events) {
    EXPECT_EQ(data["gen"], 1) << name;
    EXPECT_EQ(data["epoch"], 0) << name;
  }
  EXPECT_EQ(w.Counts().at("waiting"), 1);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 1);
  // Guard: (queue, id) must be free; a taken id changes and sends nothing.
  JobOptions fixed;
  fixed.job_id = "order-1";
  EXPECT_TRUE(w.Add("o", Json{{"n", 1}}, fixed).is_new);
  const Job again = w.Add("o", Json{{"n", 2}}, fixed);
  EXPECT_FALSE(again.is_new);
  EXPECT_EQ(again.data, (Json{{"n", 1}}));
  EXPECT_EQ(w.EventNames("order-1"), (std::vector<std::string>{"added", "waiting", "duplicated"}));
  // Guard: the deduplication key must be won.
  JobOptions keyed;
  keyed.deduplication = engine::Dedup();
  keyed.deduplication->id = "key";
  const Job winner = w.Add("d", Json::object(), keyed);
  EXPECT_EQ(w.Add("d", Json::object(), keyed).id, winner.id);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE name = 'd'"), 1);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 3);
  EXPECT_EQ(w.Counts().at("waiting"), 3);
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(w.RunsOf("order-1"), 1);
  EXPECT_EQ(w.RunsOf(winner.id), 1);
}

TEST(Transitions, T02_ADelayedAddIsSentAtOnceOnlyWhenEligibleAndDueWithinTheHorizon) {
  EngineWorld w;
  HoldEnvelopes(w);
  JobOptions soon;
  soon.delay_ms = 30'000;
  const Job near = w.Add("near", Json::object(), soon);
  EXPECT_EQ(near.state, JobState::kDelayed);
  EXPECT_EQ(near.gen, 1);
  EXPECT_EQ(near.available_at, near.timestamp + 30'000);
  ASSERT_TRUE(near.dispatch_at.has_value());
  EXPECT_EQ(*near.dispatch_at, near.timestamp);  // Sent now, with its delay.
  EXPECT_EQ(w.EventNames(near.id), (std::vector<std::string>{"added", "delayed"}));
  EXPECT_EQ(LastEvent(w, near.id, "delayed")["delay"], 30'000);
  EXPECT_EQ(LastEvent(w, near.id, "delayed")["gen"], 1);
  JobOptions far;
  far.delay_ms = Hours(1).ms();  // Beyond the 15-minute promote horizon: the cron's.
  const Job beyond = w.Add("far", Json::object(), far);
  EXPECT_FALSE(beyond.dispatch_at.has_value());
  JobOptions ranked;
  ranked.delay_ms = 30'000;
  ranked.priority = 2;  // Not eligible: the dispatcher's.
  const Job prioritized = w.Add("ranked", Json::object(), ranked);
  EXPECT_EQ(prioritized.state, JobState::kDelayed);
  EXPECT_FALSE(prioritized.dispatch_at.has_value());
  EXPECT_EQ(StatsOf(w, "jobs").sent, 1);
  EXPECT_EQ(w.Counts().at("delayed"), 3);
  ReleaseEnvelopes(w);
  w.RunFor(Minutes(2));
  for (const Job* job : {&near, &prioritized}) {
    EXPECT_EQ(w.StateOf(job->id), JobState::kCompleted) << job->name;
    const ProcessorRun* run = RunOf(w, job->id);
    ASSERT_NE(run, nullptr) << job->name;
    EXPECT_GE(run->at.unix_ms(), job->available_at) << job->name;
  }
  EXPECT_EQ(w.StateOf(beyond.id), JobState::kDelayed);
  EXPECT_TRUE(ColumnIsNull(w, beyond.id, "dispatch_at"));
  EXPECT_EQ(ColumnOf(w, beyond.id, "gen"), 1);
}

TEST(Transitions, T03_APrioritizedAddWaitsForTheDispatcherAndEmitsWaiting) {
  EngineWorld w;
  HoldEnvelopes(w);
  JobOptions options;
  options.priority = 4;
  const Job job = w.Add("p", Json::object(), options);
  EXPECT_EQ(job.state, JobState::kPrioritized);
  EXPECT_EQ(job.gen, 1);
  EXPECT_FALSE(job.dispatch_at.has_value());  // Undispatched at insert: the DO is kicked.
  EXPECT_EQ(w.EventNames(job.id), (std::vector<std::string>{"added", "waiting"}));
  EXPECT_EQ(LastEvent(w, job.id, "waiting")["gen"], 1);
  EXPECT_EQ(w.Counts().at("prioritized"), 1);
  EXPECT_EQ(w.Counts().at("waiting"), 0);
  w.RunFor(Seconds(1));  // The kick's dispatch pass (T05).
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_FALSE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_EQ(StatsOf(w, "jobs").sent, 1);
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  EXPECT_EQ(LastEvent(w, job.id, "active")["gen"], 3);
}

TEST(Transitions, T03_APrioritizedRowWhoseKickIsLostIsDispatchedByTheCron) {
  EngineTestOptions options;
  options.faults = Window(Fault::kO3Overloaded, Seconds(5), Seconds(8));  // The kick fails.
  EngineWorld w(options);
  RunUntil(w, Seconds(5));
  JobOptions ranked;
  ranked.priority = 1;
  const Job job = w.Add("p", Json::object(), ranked);
  EXPECT_GT(w.sim().faults().fired(Fault::kO3Overloaded), 0);
  w.RunFor(Seconds(30));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));  // Nobody was told.
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 1);
  w.RunFor(Minutes(3));  // R-DISPATCH: the minute's tick kicks the coordinator.
  if (w.StateOf(job.id) != JobState::kCompleted) ADD_FAILURE() << w.DescribeUnfinished();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  ASSERT_EQ(w.RunsOf(job.id), 1);
  EXPECT_GE(RunOf(w, job.id)->at.unix_ms(), core::kVirtualEpoch.unix_ms() + 60'000);
}

TEST(Transitions, T04_AFlowWritesItsWholeTreeInOneBatchAndSendsOnlyTheLeaves) {
  EngineWorld w;
  w.sim().trace().KeepLines(true);
  HoldEnvelopes(w);
  const int calls = D1Calls(w);
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("a"), Leaf("b")}));
  EXPECT_EQ(D1Calls(w) - calls, 1);
  EXPECT_EQ(root.job.state, JobState::kWaitingChildren);
  EXPECT_EQ(root.job.pending_deps, 2);
  EXPECT_FALSE(root.job.dispatch_at.has_value());
  ASSERT_EQ(root.children.size(), 2u);
  for (const JobNode& child : root.children) {
    EXPECT_EQ(child.job.state, JobState::kWaiting);
    EXPECT_TRUE(child.job.dispatch_at.has_value());
    ASSERT_TRUE(child.job.parent.has_value());
    EXPECT_EQ(child.job.parent->id, root.job.id);
  }
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_deps WHERE parent_id = '" + root.job.id +
                       "' AND status = 'pending'"),
            2);
  EXPECT_EQ(w.EventNames(root.job.id), (std::vector<std::string>{"added", "waiting-children"}));
  EXPECT_EQ(LastEvent(w, root.job.id, "waiting-children")["gen"], 1);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 2);
  EXPECT_EQ(w.Counts().at("waiting-children"), 1);
  // Guard: every node id must be free, or nothing of the tree is written.
  JobOptions taken;
  taken.job_id = root.children[0].job.id;
  auto producer = w.engine().GetFlowProducer();
  auto conflict = w.Run(producer.Add(
      FlowJob("other", "jobs", Json::object(), JobOptions(), {Leaf("c"), Leaf("d", taken)})));
  EXPECT_EQ(conflict.code(), core::Code::kAlreadyExists);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs"), 3);
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  ASSERT_EQ(w.runs().size(), 3u);
  EXPECT_EQ(w.runs().back().id, root.job.id);
}

TEST(Transitions, T05_ADispatchPassSendsUndispatchedRowsInRankOrderWithinTheWindow) {
  EngineTestOptions options;
  options.queue_config.dispatch_window = 2;
  EngineWorld w(options);
  HoldEnvelopes(w);
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  std::map<int, std::string> by_priority;
  for (int priority : {3, 1, 2}) {
    JobOptions o;
    o.priority = priority;
    by_priority[priority] = w.Add("p", Json{{"priority", priority}}, o).id;
  }
  w.RunFor(Minutes(2));  // Guard: a paused queue gets no pass.
  for (const auto& [priority, id] : by_priority) {
    EXPECT_TRUE(ColumnIsNull(w, id, "dispatch_at")) << priority;
    EXPECT_EQ(ColumnOf(w, id, "gen"), 1) << priority;
  }
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunFor(Seconds(1));
  for (int priority : {1, 2}) {  // The top two by rank fill the window.
    const std::string& id = by_priority[priority];
    EXPECT_EQ(ColumnOf(w, id, "gen"), 2) << priority;
    EXPECT_EQ(ColumnOf(w, id, "dispatch_deadline") - ColumnOf(w, id, "dispatch_at"), 300'000)
        << priority;
    EXPECT_EQ(ColumnOf(w, id, "state = 'prioritized'"), 1) << priority;
  }
  EXPECT_TRUE(ColumnIsNull(w, by_priority[3], "dispatch_at"));
  EXPECT_EQ(ColumnOf(w, by_priority[3], Json("gen")), 1);
  EXPECT_EQ(w.Coordinator().inflight, 2);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 2);
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  ASSERT_EQ(w.runs().size(), 3u);
  EXPECT_EQ(w.runs().back().id, by_priority[3]);
}

TEST(Transitions, T06_TheCronSendsAFarDelayedRowOnceItIsWithinTheHorizon) {
  EngineWorld w;
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  JobOptions options;
  options.delay_ms = Minutes(20).ms();
  const Job job = w.Add("far", Json::object(), options);
  EXPECT_FALSE(job.dispatch_at.has_value());
  w.RunFor(Minutes(7));  // Within the horizon since minute 5, but the queue is paused.
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 1);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  const std::int64_t resumed = w.now_ms();
  w.RunFor(Seconds(61));  // The next minute's tick.
  EXPECT_EQ(w.StateOf(job.id), JobState::kDelayed);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_GE(ColumnOf(w, job.id, "dispatch_at"), resumed);
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_deadline"), job.available_at + 300'000);
  EXPECT_EQ(w.EventNames(job.id), (std::vector<std::string>{"added", "delayed"}));
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(job.id), 1);
  EXPECT_GE(RunOf(w, job.id)->at.unix_ms(), job.available_at);
  EXPECT_EQ(RunOf(w, job.id)->token, 3);
}

TEST(Transitions, T07_ADueUndispatchedDelayedRowBecomesReadyWithItsGenUnchanged) {
  EngineWorld w;
  HoldEnvelopes(w);
  JobOptions ranked;
  ranked.priority = 2;
  ranked.delay_ms = 10'000;
  const Job job = w.Add("ranked", Json::object(), ranked);
  JobOptions plain;
  plain.delay_ms = 5'000;
  const Job sent = w.Add("plain", Json::object(), plain);  // Its envelope is in flight.
  ASSERT_FALSE(job.dispatch_at.has_value());
  w.RunFor(Seconds(12));
  // The flip keeps gen 1 (the waiting event says so); the pass then dispatched it (gen 2).
  const Json flipped = LastEvent(w, job.id, "waiting");
  EXPECT_EQ(flipped["prev"], Json("delayed"));
  EXPECT_EQ(flipped["gen"], 1);
  EXPECT_EQ(w.StateOf(job.id), JobState::kPrioritized);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  // Guard: a dispatched delayed row is not flipped; its envelope stays valid.
  EXPECT_EQ(w.StateOf(sent.id), JobState::kDelayed);
  EXPECT_EQ(ColumnOf(w, sent.id, "gen"), 1);
  EXPECT_TRUE(EventsNamed(w, sent.id, "waiting").empty());
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  EXPECT_EQ(LastEvent(w, job.id, "active")["gen"], 3);
  EXPECT_EQ(LastEvent(w, sent.id, "active")["prev"], Json("delayed"));
  EXPECT_EQ(LastEvent(w, sent.id, "active")["gen"], 2);
}

TEST(Transitions, T08_AClaimMakesTheJobActiveWithTokenEnvGenPlusOne) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(30)));
  const Job job = w.Add("x");
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.RunsOf(job.id), 1);
  const ProcessorRun& run = *RunOf(w, job.id);
  EXPECT_EQ(run.token, 2);
  EXPECT_EQ(run.attempt, 1);
  EXPECT_EQ(w.StateOf(job.id), JobState::kActive);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "processed_at"), run.at.unix_ms());
  EXPECT_EQ(ColumnOf(w, job.id, "lease_until"), run.at.unix_ms() + 30'000);
  EXPECT_FALSE(ColumnIsNull(w, job.id, "lease_owner"));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_deadline"));
  const Json active = LastEvent(w, job.id, "active");
  EXPECT_EQ(active["prev"], Json("waiting"));
  EXPECT_EQ(active["gen"], 2);
  EXPECT_EQ(active["epoch"], 0);
  EXPECT_EQ(active["attempt"], 1);
  EXPECT_EQ(w.Counts().at("active"), 1);
  const auto leases = w.Coordinator().leases;
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].token, 2);
  // Guard: gen = env.gen. A stale envelope (gen 1) is answered busy and acked.
  SendEnvelope(w, job.id, 1, job.available_at);
  w.RunFor(Seconds(5));
  EXPECT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  // Guard: available_at <= now. An early envelope is sent again, not claimed.
  JobOptions later;
  later.delay_ms = 60'000;
  const Job delayed = w.Add("later", Json::object(), later);
  SendEnvelope(w, delayed.id, 1, delayed.available_at);
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(delayed.id), 1);
  EXPECT_GE(RunOf(w, delayed.id)->at.unix_ms(), delayed.available_at);
  EXPECT_EQ(StatsOf(w, "jobs").retried, 0);
}

TEST(Transitions, T09_ARenewExtendsTheCoordinatorLeaseWithoutAD1Write) {
  EngineWorld w;
  w.sim().trace().KeepLines(true);
  w.SetProcessor(CompleteAfter(Minutes(2)));
  const Job job = w.Add("long");
  w.RunFor(Seconds(5));
  const auto before = w.Coordinator().leases;
  ASSERT_EQ(before.size(), 1u);
  const std::int64_t since = w.now_ms();
  w.RunFor(Seconds(60));
  const auto after = w.Coordinator().leases;
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].token, before[0].token);
  EXPECT_TRUE(after[0].live);
  EXPECT_GE(after[0].expires_at, before[0].expires_at + 45'000);  // Renewed every 15 s.
  for (const auto& label : BatchLabelsSince(w, since)) {
    EXPECT_EQ(label.rfind("tick", 0), 0u) << label;  // Only the cron's own batches.
  }
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), before[0].token);
  EXPECT_EQ(w.EventNames(job.id), (std::vector<std::string>{"added", "waiting", "active"}));
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(w.Get(job.id)->stalled_counter, 0);
}

TEST(Transitions, T10_ACompletionIsGuardedByTheTokenAndAppliesTheCompletionTemplate) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(1), Json{{"v", 7}}));
  JobOptions options;
  options.remove_on_complete = std::int64_t{5};
  options.deduplication = engine::Dedup();
  options.deduplication->id = "once";
  const Job job = w.Add("x", Json::object(), options);
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  const std::int64_t token = RunOf(w, job.id)->token;
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->gen, token);  // The CAS at the token; completion bumps nothing.
  EXPECT_EQ(done->returnvalue, (Json{{"v", 7}}));
  EXPECT_EQ(done->attempts_made, 1);
  ASSERT_TRUE(done->finished_on.has_value());
  EXPECT_EQ(ColumnOf(w, job.id, "keep_count"), 5);
  for (const char* column : {"lease_owner", "lease_until", "dispatch_at"}) {
    EXPECT_TRUE(ColumnIsNull(w, job.id, column)) << column;
  }
  const Json completed = LastEvent(w, job.id, "completed");
  EXPECT_EQ(completed["returnvalue"], (Json{{"v", 7}}));
  EXPECT_EQ(completed["gen"], token);
  EXPECT_EQ(completed["epoch"], 0);
  EXPECT_EQ(w.QueryInt("SELECT n FROM cfq_metrics WHERE kind = 'completed' AND minute = -1"), 1);
  EXPECT_EQ(w.Counts().at("completed"), 1);
  EXPECT_TRUE(w.Coordinator().leases.empty());
  EXPECT_TRUE(w.Add("x", Json::object(), options).is_new);  // The simple key was released.
  // Guard: state = active and gen = token. The spent token writes nothing.
  EXPECT_EQ(w.Run(w.queue().MoveToFailed(job.id, "late", token)).code(), core::Code::kLeaseLost);
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
}

TEST(Transitions, T11_AFailedAttemptWithAttemptsLeftGoesBackWithGenPlusOneAndItsBackoff) {
  EngineWorld w;
  w.SetProcessor(FailTimes(1, "boom"));
  JobOptions backoff;
  backoff.attempts = 3;
  backoff.backoff = engine::Backoff("fixed", 10'000);
  const Job job = w.Add("backoff", Json::object(), backoff);
  JobOptions none;
  none.attempts = 2;
  const Job immediate = w.Add("immediate", Json::object(), none);
  w.RunFor(Seconds(5));
  const std::int64_t token = RunOf(w, job.id)->token;
  const std::int64_t failed_at = EventTime(w, job.id, "delayed");
  EXPECT_EQ(w.StateOf(job.id), JobState::kDelayed);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), token + 1);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_made"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "available_at"), failed_at + 10'000);
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_at"), failed_at);  // Eligible: the consumer sends.
  EXPECT_TRUE(ColumnIsNull(w, job.id, "lease_owner"));
  EXPECT_EQ(w.Get(job.id)->failed_reason, "boom");
  const Json delayed = LastEvent(w, job.id, "delayed");
  EXPECT_EQ(delayed["prev"], Json("active"));
  EXPECT_EQ(delayed["delay"], 10'000);
  EXPECT_EQ(delayed["attemptsMade"], 1);
  EXPECT_EQ(delayed["failedReason"], Json("boom"));
  EXPECT_EQ(delayed["gen"], token + 1);
  // No backoff: back to waiting at once, never delayed.
  EXPECT_TRUE(EventsNamed(w, immediate.id, "delayed").empty());
  EXPECT_EQ(EventsNamed(w, immediate.id, "waiting").size(), 2u);
  w.RunUntilIdle();
  EXPECT_EQ(w.Get(job.id)->attempts_made, 2);
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  EXPECT_GE(RunOf(w, job.id, 1)->at.unix_ms(), failed_at + 10'000);
  EXPECT_EQ(w.StateOf(immediate.id), JobState::kCompleted);
}

Task<Result<Json>> StallFirstAttempt(JobContext& ctx) {
  // The first attempt outlives the 15-minute invocation: the worker is killed mid-job.
  if (ctx.attempt() == 1) CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Minutes(20)));
  co_return Json{{"attempt", ctx.attempt()}};
}

TEST(Transitions, T12_AStalledJobGoesBackWithGenPlusOneAndNoAttemptParkedWhilePaused) {
  EngineWorld w;
  w.SetProcessor(StallFirstAttempt);
  const Job job = w.Add("x");
  w.RunFor(Minutes(5));
  ASSERT_EQ(w.StateOf(job.id), JobState::kActive);
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());  // Active jobs go on; the stall is parked.
  w.RunFor(Minutes(15));
  const std::int64_t token = RunOf(w, job.id)->token;
  EXPECT_EQ(w.StateOf(job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), token + 1);
  EXPECT_EQ(ColumnOf(w, job.id, "stalled_count"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_made"), 0);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 1);
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));  // The DO knows the queue is paused.
  const Json stalled = LastEvent(w, job.id, "stalled");
  EXPECT_EQ(stalled["prev"], Json("active"));
  EXPECT_EQ(stalled["stalledCount"], 1);
  EXPECT_EQ(stalled["gen"], token + 1);
  EXPECT_EQ(w.RunsOf(job.id), 1);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->stalled_counter, 1);
  EXPECT_EQ(done->attempts_made, 1);
  ASSERT_EQ(w.RunsOf(job.id), 2);
  EXPECT_EQ(RunOf(w, job.id, 1)->token, token + 3);  // Dispatched on resume, then claimed.
}

TEST(Transitions, T13_AJobStalledMoreThanMaxStalledCountFailsWithTheStallReason) {
  EngineTestOptions options;
  options.queue_config.max_stalled_count = 0;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Minutes(20)));
  const Job job = w.Add("x");
  w.RunUntilIdle();
  const std::int64_t token = RunOf(w, job.id)->token;
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->failed_reason, engine::kStalledTooOften);
  EXPECT_EQ(done->stalled_counter, 1);
  EXPECT_EQ(done->attempts_made, 0);
  EXPECT_EQ(done->gen, token + 1);
  EXPECT_TRUE(done->finished_on.has_value());
  EXPECT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(LastEvent(w, job.id, "stalled")["gen"], token + 1);
  const Json failed = LastEvent(w, job.id, "failed");
  EXPECT_EQ(failed["failedReason"], engine::kStalledTooOften);
  EXPECT_EQ(failed["gen"], token + 1);
  EXPECT_EQ(w.QueryInt("SELECT n FROM cfq_metrics WHERE kind = 'failed' AND minute = -1"), 1);
  EXPECT_EQ(w.Counts().at("failed"), 1);
}

Task<Result<Json>> FailureKinds(JobContext& ctx) {
  const std::string& name = ctx.job().name;
  if (name == "unrecoverable") co_return Status::Unrecoverable("bad input");
  if (name == "discarded") {
    ctx.Discard();
    co_return Status::Unknown("discarded");
  }
  if (name == "slow") {
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(30)));
    co_return Json{{"late", true}};
  }
  co_return Status::Unknown("failed " + name);
}

TEST(Transitions, T14_AnAttemptWithoutARetryFailsTheJobWithTheFailureTemplate) {
  EngineTestOptions options;
  options.consumer.concurrency = 6;
  options.queue_config.max_started_attempts = 2;
  options.consumer.backoff_strategies["never"] = [](std::int32_t, const std::string&,
                                                    const std::string&,
                                                    const Job&) -> std::int64_t { return -1; };
  EngineWorld w(options);
  w.SetProcessor(FailureKinds);
  std::map<std::string, std::string> ids;
  for (const std::string name :
       {"exhausted", "unrecoverable", "discarded", "never", "slow", "capped"}) {
    JobOptions o;
    o.attempts = name == "exhausted" ? 2 : 5;
    if (name == "never") o.backoff = engine::Backoff("never", 0);
    ids[name] = w.Add(name, Json::object(), o).id;
  }
  w.RunFor(Seconds(5));
  const std::string& slow = ids["slow"];
  ASSERT_EQ(w.StateOf(slow), JobState::kActive);
  const std::int64_t token = RunOf(w, slow)->token;
  EXPECT_EQ(w.Run(w.queue().MoveToFailed(slow, "manual", token + 1)).code(),
            core::Code::kLeaseLost);  // Guard: the token.
  ASSERT_TRUE(w.Run(w.queue().MoveToFailed(slow, "manual", token)).ok());
  w.RunUntilIdle();
  for (const auto& [name, id] : ids) {
    const auto job = w.Get(id);
    ASSERT_TRUE(job) << name;
    EXPECT_EQ(job->state, JobState::kFailed) << name;
    const bool twice = name == "exhausted" || name == "capped";  // capped: maxStartedAttempts.
    EXPECT_EQ(w.RunsOf(id), twice ? 2 : 1) << name;
    const std::int64_t last = RunOf(w, id, w.RunsOf(id) - 1)->token;
    EXPECT_EQ(job->gen, last + 1) << name;
    EXPECT_EQ(LastEvent(w, id, "failed")["gen"], last + 1) << name;
    if (name != "capped") {
      EXPECT_EQ(CountOf(w.EventNames(id), "retries-exhausted"), name == "exhausted" ? 1 : 0)
          << name;
    }
  }
  EXPECT_EQ(w.Get(ids["unrecoverable"])->failed_reason, "bad input");
  EXPECT_EQ(w.Get(slow)->failed_reason, "manual");
  EXPECT_EQ(CountOf(w.EventNames(slow), "completed"), 0);  // Its late result was fenced.
  EXPECT_EQ(CountOf(w.EventNames(slow), "cfq:lease-lost"), 1);
  EXPECT_EQ(w.Get(ids["capped"])->attempts_started, 2);
  EXPECT_EQ(w.Counts().at("failed"), 6);
}

Task<Result<Json>> DelayFirstAttempt(JobContext& ctx) {
  if (ctx.attempt() == 1) {
    co_return ctx.MoveToDelayed(ctx.env().clock().Now().unix_ms() + 20'000);
  }
  co_return Json{{"ok", true}};
}

TEST(Transitions, T15_MoveToDelayedPutsTheJobBackWithoutUsingAnAttempt) {
  EngineWorld w;
  w.SetProcessor(DelayFirstAttempt);
  const Job job = w.Add("x");
  w.RunFor(Seconds(5));
  const ProcessorRun& first = *RunOf(w, job.id);
  const std::int64_t until = first.at.unix_ms() + 20'000;
  EXPECT_EQ(w.StateOf(job.id), JobState::kDelayed);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), first.token + 1);
  EXPECT_EQ(ColumnOf(w, job.id, "available_at"), until);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_made"), 0);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 1);
  EXPECT_FALSE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "failed_reason"));
  const Json delayed = LastEvent(w, job.id, "delayed");
  EXPECT_EQ(delayed["prev"], Json("active"));
  EXPECT_EQ(delayed["gen"], first.token + 1);
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->attempts_made, 1);
  EXPECT_EQ(done->attempts_started, 2);
  ASSERT_EQ(w.RunsOf(job.id), 2);
  EXPECT_GE(RunOf(w, job.id, 1)->at.unix_ms(), until);
}

TEST(Transitions, T16_ARateLimitedEnvelopeReDelaysTheRowNeverEarlier) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 1;
  limiter.duration_ms = 60'000;
  options.queue_config.limiter = limiter;
  EngineWorld w(options);
  const Job first = w.Add("first");
  const Job second = w.Add("second");  // Same batch: denied after the first took the token.
  JobOptions later;
  later.delay_ms = Minutes(5).ms();
  const Job delayed = w.Add("delayed", Json::object(), later);
  SendEnvelope(w, delayed.id, 1, delayed.available_at);  // Arrives now, while the bucket is dry.
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.RunsOf(first.id), 1);
  // retryAt is later than the second job's time: available_at moves later, gen + 1, resent.
  EXPECT_EQ(w.StateOf(second.id), JobState::kDelayed);
  EXPECT_GT(ColumnOf(w, second.id, "available_at"), second.available_at);
  EXPECT_EQ(ColumnOf(w, second.id, "gen"), 2);
  EXPECT_FALSE(ColumnIsNull(w, second.id, "dispatch_at"));
  EXPECT_EQ(ColumnOf(w, second.id, "attempts_started"), 0);
  const Json limited = LastEvent(w, second.id, "delayed");
  EXPECT_EQ(limited["reason"], Json("rate-limit"));
  EXPECT_EQ(limited["gen"], 2);
  // retryAt is earlier than the delayed job's own time: available_at is kept (max).
  EXPECT_EQ(ColumnOf(w, delayed.id, "available_at"), delayed.available_at);
  EXPECT_EQ(ColumnOf(w, delayed.id, "gen"), 2);
  EXPECT_EQ(LastEvent(w, delayed.id, "delayed")["reason"], Json("rate-limit"));
  w.RunUntilIdle();
  for (const Job* job : {&first, &second, &delayed}) {
    EXPECT_EQ(w.StateOf(job->id), JobState::kCompleted) << job->name;
    EXPECT_EQ(w.RunsOf(job->id), 1) << job->name;
  }
  EXPECT_GE(RunOf(w, delayed.id)->at.unix_ms(), delayed.available_at);
  EXPECT_GE(RunOf(w, second.id)->at.unix_ms(), RunOf(w, first.id)->at.unix_ms() + 60'000);
}

TEST(Transitions, T17_APausedQueueParksDispatchedRowsWithoutAnAttemptOrAnEvent) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  EngineWorld w(options);
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  // The consumer parks: the producer does not know the pause and sends the envelope.
  const Job job = w.Add("x");
  ASSERT_TRUE(job.dispatch_at.has_value());
  w.RunFor(Seconds(5));
  EXPECT_EQ(w.StateOf(job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_deadline"));
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 0);
  EXPECT_EQ(w.EventNames(job.id), (std::vector<std::string>{"added", "waiting"}));
  EXPECT_EQ(StatsOf(w, "jobs").acked, 1);
  EXPECT_EQ(StatsOf(w, "jobs").retried, 0);
  // The cron parks an overdue dispatched row of a paused queue instead of re-sending it.
  HoldEnvelopes(w);
  const Job held = w.Add("held");
  w.RunFor(Minutes(3));
  EXPECT_EQ(ColumnOf(w, held.id, "gen"), 2);
  EXPECT_TRUE(ColumnIsNull(w, held.id, "dispatch_at"));
  EXPECT_EQ(ColumnOf(w, held.id, "lost_count"), 0);
  EXPECT_EQ(CountOf(w.EventNames(held.id), "cfq:redispatched"), 0);
  // Guard: gen = env.gen. The held envelope (gen 1) is stale now and parks nothing.
  ReleaseEnvelopes(w);
  w.RunFor(Seconds(5));
  EXPECT_EQ(ColumnOf(w, held.id, "gen"), 2);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  for (const Job* j : {&job, &held}) {
    EXPECT_EQ(w.StateOf(j->id), JobState::kCompleted) << j->name;
    EXPECT_EQ(w.RunsOf(j->id), 1) << j->name;
    EXPECT_EQ(RunOf(w, j->id)->token, 4) << j->name;  // Parked 2, dispatched 3, claimed 4.
  }
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_dead_letters"), 0);
}

TEST(Transitions, T18_ALostEnvelopeIsReDispatchedOnceItsDeadlinePassesAndTheBacklogIsClear) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  EngineWorld w(options);
  HoldEnvelopes(w);
  SendRaw(w, platform::Body(Json{{"older", "message"}}));  // Older than the job's envelope.
  const Job job = w.Add("x");
  const std::int64_t deadline = ColumnOf(w, job.id, "dispatch_deadline");
  w.RunFor(Seconds(150));
  // Guard (backlog check): the envelope may still be queued behind an older message, so the
  // deadline is extended instead.
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "lost_count"), 0);
  EXPECT_GT(ColumnOf(w, job.id, "dispatch_deadline"), deadline);
  auto purged = w.world().queues().Purge("jobs");
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2);
  w.RunFor(Seconds(100));
  EXPECT_EQ(w.StateOf(job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_EQ(ColumnOf(w, job.id, "lost_count"), 1);
  const std::int64_t redispatched_at = EventTime(w, job.id, "cfq:redispatched");
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_at"), redispatched_at);
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_deadline"), redispatched_at + 120'000);  // Doubled.
  const Json event = LastEvent(w, job.id, "cfq:redispatched");
  EXPECT_EQ(event["lostCount"], 1);
  EXPECT_EQ(event["gen"], 2);
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  EXPECT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(RunOf(w, job.id)->token, 3);
}

TEST(Transitions, T19_TheDlqConsumerFailsADispatchableJobAndIgnoresAStaleEnvelope) {
  EngineTestOptions options;
  // The coordinator refuses every call from 30 s to 90 s: envelopes go to the DLQ.
  options.faults = Window(Fault::kO3Overloaded, Seconds(30), Seconds(90));
  options.consumer.infra_retry_delay_seconds = 5;
  EngineWorld w(options);
  const Job done = w.Add("done");
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.StateOf(done.id), JobState::kCompleted);
  RunUntil(w, Seconds(31));
  const Job job = w.Add("x");
  SendEnvelope(w, done.id, 1, done.available_at);  // Stale: the row is at gen 2.
  w.RunFor(Minutes(2));
  const auto failed = w.Get(job.id);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_TRUE(failed->dead_lettered);
  EXPECT_EQ(failed->failed_reason.rfind("dead-lettered: ", 0), 0u) << failed->failed_reason;
  EXPECT_EQ(failed->gen, 2);
  EXPECT_EQ(failed->attempts_made, 0);
  EXPECT_EQ(failed->attempts_started, 0);
  EXPECT_EQ(LastEvent(w, job.id, "failed")["gen"], 2);
  EXPECT_EQ(w.RunsOf(job.id), 0);
  auto letters = w.Run(w.queue().GetDeadLetters());
  ASSERT_TRUE(letters.ok());
  std::map<std::string, std::string> outcome;
  for (const auto& letter : *letters) {
    EXPECT_EQ(letter.source, "dlq");
    outcome[letter.job_id.value_or("")] = letter.outcome;
  }
  EXPECT_EQ(outcome[job.id], Json("dead-lettered"));
  EXPECT_EQ(outcome[done.id], Json("stale-ignored"));  // Guard: gen = env.gen.
  EXPECT_EQ(w.StateOf(done.id), JobState::kCompleted);
  EXPECT_EQ(CountOf(w.EventNames(done.id), "failed"), 0);
}

TEST(Transitions, T20_TheLastResolvedChildReleasesTheParentWithGenPlusOne) {
  EngineWorld w;
  w.SetProcessor(ByName);
  JobOptions later;
  later.delay_ms = 30'000;
  const JobNode root = AddFlow(
      w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("a"), Leaf("b", later)}));
  JobOptions go_on;
  go_on.continue_parent_on_failure = true;
  const JobNode early = AddFlow(w, FlowJob("early", "jobs", Json::object(), JobOptions(),
                                           {Leaf("fail", go_on), Leaf("slow", later)}));
  w.RunFor(Seconds(10));
  // Guard: pending_deps = 0, or a `continue` child failed.
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kWaitingChildren);
  EXPECT_EQ(ColumnOf(w, root.job.id, "pending_deps"), 1);
  EXPECT_EQ(ColumnOf(w, root.job.id, "gen"), 1);
  EXPECT_EQ(w.StateOf(early.job.id), JobState::kCompleted);  // Released by the failure.
  EXPECT_EQ(LastEvent(w, early.job.id, "waiting")["prev"], Json("waiting-children"));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  const Json released = LastEvent(w, root.job.id, "waiting");
  EXPECT_EQ(released["prev"], Json("waiting-children"));
  EXPECT_EQ(released["gen"], 2);
  EXPECT_EQ(released["epoch"], 0);
  EXPECT_EQ(CountOf(w.EventNames(root.job.id), "waiting"), 1);
  EXPECT_EQ(RunOf(w, root.job.id)->token, 3);  // Its envelope (gen 2) was sent at release.
  EXPECT_GE(RunOf(w, root.job.id)->at.unix_ms(), RunOf(w, root.children[1].job.id)->at.unix_ms());
  EXPECT_EQ(ColumnOf(w, root.job.id, "pending_deps"), 0);
}

TEST(Transitions, T21_AFailingChildWithFailParentFailsItsParentOneLevelAtATime) {
  EngineWorld w;
  w.SetProcessor(ByName);
  JobOptions fail_parent;
  fail_parent.fail_parent_on_failure = true;
  const FlowJob middle("middle", "jobs", Json::object(), fail_parent, {Leaf("fail", fail_parent)});
  const JobNode root =
      AddFlow(w, FlowJob("top", "jobs", Json::object(), JobOptions(), {middle, Leaf("ok")}));
  const JobNode waits =
      AddFlow(w, FlowJob("waits", "jobs", Json::object(), JobOptions(), {Leaf("fail")}));
  w.RunUntilIdle();
  for (const JobNode* node : {&root.children[0], &root}) {
    const auto parent = w.Get(node->job.id);
    ASSERT_TRUE(parent) << node->job.name;
    EXPECT_EQ(parent->state, JobState::kFailed) << node->job.name;
    EXPECT_NE(parent->failed_reason.find("child failed"), std::string::npos)
        << parent->failed_reason;
    EXPECT_EQ(parent->gen, 2) << node->job.name;
    EXPECT_EQ(parent->attempts_made, 0) << node->job.name;
    EXPECT_TRUE(parent->finished_on.has_value()) << node->job.name;
    EXPECT_EQ(LastEvent(w, node->job.id, "failed")["gen"], 2) << node->job.name;
    EXPECT_EQ(w.RunsOf(node->job.id), 0) << node->job.name;
  }
  EXPECT_EQ(w.StateOf(root.children[1].job.id), JobState::kCompleted);
  // Guard: the failing child's policy is `fail`; without one the parent keeps waiting.
  EXPECT_EQ(w.StateOf(waits.job.id), JobState::kWaitingChildren);
  EXPECT_EQ(w.Counts().at("failed"), 4);
}

TEST(Transitions, T22_PromoteMakesADelayedJobDueNowWithGenPlusOne) {
  EngineWorld w;
  HoldEnvelopes(w);
  JobOptions options;
  options.delay_ms = Minutes(10).ms();  // Within the horizon: its envelope is already sent.
  const Job job = w.Add("later", Json::object(), options);
  ASSERT_TRUE(job.dispatch_at.has_value());
  ASSERT_TRUE(*w.Run(w.queue().Promote(job.id)));
  const std::int64_t promoted_at = EventTime(w, job.id, "waiting");
  EXPECT_EQ(w.StateOf(job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_EQ(ColumnOf(w, job.id, "available_at"), promoted_at);
  EXPECT_EQ(ColumnOf(w, job.id, "dispatch_at"), promoted_at);
  const Json waiting = LastEvent(w, job.id, "waiting");
  EXPECT_EQ(waiting["prev"], Json("delayed"));
  EXPECT_EQ(waiting["gen"], 2);
  EXPECT_FALSE(*w.Run(w.queue().Promote(job.id)));  // Guard: state = delayed.
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), 2);
  EXPECT_EQ(StatsOf(w, "jobs").sent, 2);  // The old envelope (now stale) and the new one.
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  ASSERT_EQ(w.RunsOf(job.id), 1);
  EXPECT_EQ(RunOf(w, job.id)->token, 3);
  EXPECT_LT(RunOf(w, job.id)->at.unix_ms(), job.available_at);
}

Task<Result<Json>> FailWhileTask(JobContext&, const bool* fail) {
  if (*fail) co_return Status::Unknown("no");
  co_return Json{{"ok", true}};
}

TEST(Transitions, T23_RetryStartsANewEpochResettingAttemptsUnlessAskedNot) {
  EngineWorld w;
  bool fail = true;
  w.SetProcessor([&fail](JobContext& ctx) { return FailWhileTask(ctx, &fail); });
  JobOptions two;
  two.attempts = 2;
  const Job job = w.Add("x", Json::object(), two);
  w.RunUntilIdle();
  const auto failed = w.Get(job.id);
  ASSERT_TRUE(failed && failed->state == JobState::kFailed);
  EXPECT_EQ(failed->attempts_made, 2);
  EXPECT_EQ(w.Run(w.queue().RetryJob("missing")).code(), core::Code::kNotFound);
  HoldEnvelopes(w);
  ASSERT_TRUE(w.Run(w.queue().RetryJob(job.id)).ok());
  EXPECT_EQ(w.StateOf(job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, job.id, "epoch"), 1);
  EXPECT_EQ(ColumnOf(w, job.id, "gen"), failed->gen + 1);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_made"), 0);
  EXPECT_EQ(ColumnOf(w, job.id, "attempts_started"), 0);
  for (const char* column : {"failed_reason", "finished_at", "result"}) {
    EXPECT_TRUE(ColumnIsNull(w, job.id, column)) << column;
  }
  EXPECT_FALSE(ColumnIsNull(w, job.id, "dispatch_at"));
  const Json waiting = LastEvent(w, job.id, "waiting");
  EXPECT_EQ(waiting["prev"], Json("failed"));
  EXPECT_EQ(waiting["epoch"], 1);
  EXPECT_EQ(waiting["gen"], failed->gen + 1);
  // Guard: only finished jobs.
  EXPECT_EQ(w.Run(w.queue().RetryJob(job.id)).code(), core::Code::kNotInState);
  fail = false;
  ReleaseEnvelopes(w);
  w.RunUntilIdle();
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->attempts_made, 1);
  EXPECT_EQ(LastEvent(w, job.id, "completed")["epoch"], 1);
  ASSERT_TRUE(w.Run(w.queue().RetryJob(job.id, engine::RetryOptions(false))).ok());
  EXPECT_EQ(LastEvent(w, job.id, "waiting")["prev"], Json("completed"));
  w.RunUntilIdle();
  EXPECT_EQ(w.Get(job.id)->attempts_made, 2);  // Kept, then counted again.
  EXPECT_EQ(w.Get(job.id)->epoch, 2);
}

TEST(Transitions, T24_RemoveDeletesANonActiveJobWithItsLogsKeyAndDependency) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(60)));
  JobOptions keyed;
  keyed.delay_ms = 60'000;
  keyed.deduplication = engine::Dedup();
  keyed.deduplication->id = "rk";
  const Job job = w.Add("x", Json::object(), keyed);
  ASSERT_TRUE(w.Run(w.queue().Log(job.id, "note")).ok());
  ASSERT_TRUE(*w.Run(w.queue().Remove(job.id)));
  EXPECT_FALSE(JobExists(w, job.id));
  EXPECT_EQ(w.EventNames(job.id), std::vector<std::string>{"removed"});
  const Json removed = LastEvent(w, job.id, "removed");
  EXPECT_EQ(removed["prev"], Json("delayed"));
  EXPECT_EQ(removed["gen"], 1);
  EXPECT_EQ(removed["epoch"], 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_logs WHERE job_id = '" + job.id + "'"), 0);
  EXPECT_FALSE(w.Run(w.queue().GetDeduplicationJobId("rk"))->has_value());
  EXPECT_EQ(w.Counts().at("delayed"), 0);
  EXPECT_FALSE(*w.Run(w.queue().Remove(job.id)));
  // A removed pending child is detached: its parent is released.
  JobOptions later;
  later.delay_ms = 60'000;
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("b", later)}));
  ASSERT_TRUE(*w.Run(w.queue().Remove(root.children[0].job.id)));
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kWaiting);
  EXPECT_EQ(ColumnOf(w, root.job.id, "pending_deps"), 0);
  w.RunFor(Seconds(5));
  // Guard: state <> active without force.
  ASSERT_EQ(w.StateOf(root.job.id), JobState::kActive);
  EXPECT_EQ(w.Run(w.queue().Remove(root.job.id)).code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kActive);
  // Removing a parent removes its unfinished children.
  const JobNode tree =
      AddFlow(w, FlowJob("tree", "jobs", Json::object(), JobOptions(), {Leaf("c", later)}));
  ASSERT_TRUE(*w.Run(w.queue().Remove(tree.job.id)));
  EXPECT_FALSE(JobExists(w, tree.children[0].job.id));
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(job.id), 0);  // Its envelope found no row.
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
}

Task<Result<Json>> WaitForAbort(JobContext& ctx, bool* aborted) {
  for (int i = 0; i < 120 && !ctx.signal().aborted(); ++i) {
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(1)));
  }
  *aborted = ctx.signal().aborted();
  co_return Json{{"late", true}};
}

TEST(Transitions, T25_ForceRemovingAnActiveJobRevokesItsLeaseAndFencesItsFinish) {
  EngineWorld w;
  bool aborted = false;
  w.SetProcessor([&aborted](JobContext& ctx) { return WaitForAbort(ctx, &aborted); });
  const Job job = w.Add("x");
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.StateOf(job.id), JobState::kActive);
  ASSERT_EQ(w.Coordinator().leases.size(), 1u);
  ASSERT_TRUE(*w.Run(w.queue().Remove(job.id, engine::RemoveOptions(true, true))));
  EXPECT_FALSE(JobExists(w, job.id));
  EXPECT_TRUE(w.Coordinator().leases.empty());  // DO.revoke.
  EXPECT_EQ(LastEvent(w, job.id, "removed")["prev"], Json("active"));
  w.RunFor(Seconds(20));  // The next renewal answers lost: the abort signal fires.
  EXPECT_TRUE(aborted);
  w.RunUntilIdle();
  EXPECT_FALSE(JobExists(w, job.id));
  EXPECT_EQ(CountOf(w.EventNames(job.id), "completed"), 0);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'cfq:lease-lost'"), 1);
  EXPECT_EQ(w.Counts().at("active"), 0);
}

TEST(Transitions, T26_ASchedulerSlotBecomesAnIterationJobOnceAndNotWhilePaused) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.every_ms = 60'000;
  repeat.limit = 5;
  auto first =
      w.Run(w.queue().UpsertJobScheduler("s", repeat, engine::JobTemplate("beat", Json::object())));
  ASSERT_TRUE(first.ok() && first->has_value());
  const Job& job = **first;
  const std::int64_t slot = std::stoll(job.id.substr(job.id.rfind(':') + 1));
  EXPECT_EQ(job.id, "repeat:s:" + std::to_string(slot));
  EXPECT_EQ(job.available_at, slot);
  EXPECT_EQ(job.scheduler_id.value_or(""), "s");
  EXPECT_EQ(w.EventNames(job.id).front(), "added");
  const std::string count = "SELECT count(*) FROM cfq_jobs WHERE scheduler_id = 's'";
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const std::int64_t before = w.QueryInt(count);
  w.RunFor(Minutes(5));
  EXPECT_EQ(w.QueryInt(count), before);  // Guard: the queue is not paused.
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunFor(Minutes(8));
  EXPECT_EQ(w.QueryInt(count), 5);  // Guard: iteration_count + n <= limit.
  auto info = w.Run(w.queue().GetJobScheduler("s"));
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->iteration_count, 5);
  EXPECT_FALSE((*info)->next_run_at.has_value());
  EXPECT_EQ(w.QueryInt("SELECT count(DISTINCT id) FROM cfq_jobs WHERE scheduler_id = 's' AND "
                       "state = 'completed'"),
            5);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'added' AND job_id LIKE "
                       "'repeat:s:%'"),
            5);
}

TEST(Transitions, T27_ADebounceReplaceSwapsTheDelayedJobAndRepointsTheKey) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = 5'000;
  options.deduplication = engine::Dedup();
  options.deduplication->id = "q";
  options.deduplication->ttl_ms = 10'000;
  options.deduplication->replace = true;
  const Job first = w.Add("index", Json{{"q", "a"}}, options);
  w.RunFor(Seconds(2));
  const Job second = w.Add("index", Json{{"q", "ab"}}, options);
  EXPECT_TRUE(second.is_new);
  EXPECT_NE(second.id, first.id);
  EXPECT_FALSE(JobExists(w, first.id));
  const Json removed = LastEvent(w, first.id, "removed");
  EXPECT_EQ(removed["prev"], Json("delayed"));
  EXPECT_EQ(removed["deduplicatedJobId"], second.id);
  // The `deduplicated` event of this row is checked in pending_bugs_test.cc (it is lost).
  EXPECT_EQ(w.Run(w.queue().GetDeduplicationJobId("q"))->value_or(""), second.id);
  EXPECT_EQ(w.QueryInt("SELECT expires_at FROM cfq_dedupe WHERE dedup_id = 'q'"),
            second.timestamp + 10'000);  // The TTL starts again.
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(first.id), 0);  // Its envelope is stale.
  EXPECT_EQ(w.RunsOf(second.id), 1);
  EXPECT_EQ(w.Get(second.id)->data, (Json{{"q", "ab"}}));
  // Guard: only a delayed job is replaced; a waiting one is a plain deduplication hit.
  JobOptions now = options;
  now.delay_ms = 0;
  now.deduplication->id = "r";
  w.SetProcessor(CompleteAfter(Seconds(10)));
  const Job waiting = w.Add("index", Json{{"r", 1}}, now);
  const Job hit = w.Add("index", Json{{"r", 2}}, now);
  EXPECT_FALSE(hit.is_new);
  EXPECT_EQ(hit.id, waiting.id);
  EXPECT_EQ(hit.data, (Json{{"r", 1}}));
}

// T27 (engine-spec.md §3, §4.8): a debounce `replace` deletes the old delayed job and records
// the events `removed` and `deduplicated {jobId, deduplicationId, deduplicatedJobId}`.
// Regression: the `deduplicated` event was written under the old job's id and deleted with its
// row by the delete trigger; it now belongs to the job that replaces it.
TEST(Transitions, T27_ADebounceReplaceKeepsItsDeduplicatedEvent) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = 5'000;
  options.deduplication = engine::Dedup();
  options.deduplication->id = "q";
  options.deduplication->ttl_ms = 10'000;
  options.deduplication->replace = true;
  const Job first = w.Add("index", Json{{"q", "a"}}, options);
  w.RunFor(Seconds(2));
  const Job second = w.Add("index", Json{{"q", "ab"}}, options);
  ASSERT_TRUE(second.is_new);
  ASSERT_FALSE(JobExists(w, first.id));
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'deduplicated'"), 1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'deduplicated' AND "
                       "data ->> 'deduplicationId' = 'q'"),
            1);
}

Task<Result<Json>> PutBackNow(JobContext& ctx) {
  if (ctx.attempt() > 1) co_return Json{{"ok", true}};
  if (ctx.job().name == "rate") co_return co_await ctx.RateLimit(0);
  co_return ctx.MoveToDelayed(ctx.env().clock().Now().unix_ms());
}

// T15 (engine-spec.md §3): DelayedError / RateLimitError / ctx.moveToDelayed(ts) take the job
// from active back to delayed without using an attempt, with the event `delayed
// {prev:"active"}`; INV-03 counts such returns by those events (attempts_started =
// attempts_made + stalls + T15 events + active).
// Regression: with a time that is not in the future (moveToDelayed(now), rateLimit(0)) the
// finish used to place the row as waiting with a `waiting` event, and INV-03 then reported
// "attempt accounting". A due delayed row is a valid state; the event is `delayed`.
TEST(Transitions, T15_PuttingAJobBackAtOrBeforeNowStillRecordsTheT15DelayedEvent) {
  EngineWorld w;
  w.SetProcessor(PutBackNow);
  const Job moved = w.Add("move");
  const Job limited = w.Add("rate");
  w.RunUntilIdle();
  for (const Job* job : {&moved, &limited}) {
    const auto done = w.Get(job->id);
    ASSERT_TRUE(done) << job->name;
    ASSERT_EQ(done->state, JobState::kCompleted) << job->name;
    ASSERT_EQ(done->attempts_started, 2) << job->name;
    EXPECT_EQ(done->attempts_made, 1) << job->name;
    EXPECT_EQ(LastEvent(w, job->id, "delayed")["prev"], Json("active")) << job->name;
  }
  for (const auto& result : w.CheckInvariants(/*quiescent=*/true)) {
    EXPECT_TRUE(result.ok) << result.id << " (" << result.name << "): " << result.detail;
  }
  w.SkipInvariantsAtExit();  // Reported just above.
}

}  // namespace
}  // namespace cfemu::testing
