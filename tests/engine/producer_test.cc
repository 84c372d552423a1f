// The producer API (engine-spec.md §4.1, §4.8, §4.12): deduplication in its three modes,
// priorities and LIFO through the dispatcher, and the round-trip budget of an add.
#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"
#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Seconds;

JobOptions Dedupe(std::string id, std::optional<std::int64_t> ttl = std::nullopt,
                  bool extend = false, bool replace = false) {
  JobOptions options;
  engine::Dedup dedup;
  dedup.id = std::move(id);
  dedup.ttl_ms = ttl;
  dedup.extend = extend;
  dedup.replace = replace;
  options.deduplication = dedup;
  return options;
}

TEST(EngineDedupe, SimpleModeKeepsOneUnfinishedJobAndNeverResends) {
  EngineWorld w;
  w.SetProcessor(CompleteAfter(Seconds(5)));
  std::string first;
  for (int i = 0; i < 100; ++i) {
    const Job job = w.Add("sync", Json{{"i", i}}, Dedupe("account-1"));
    if (i == 0) first = job.id;
    EXPECT_EQ(job.id, first);
    EXPECT_EQ(job.is_new, i == 0);
  }
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(first), 1);
  EXPECT_EQ(static_cast<int>(w.runs().size()), 1);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'deduplicated'"), 99);
  // Once the job finished the key is released: the next add makes a new job.
  const Job next = w.Add("sync", Json::object(), Dedupe("account-1"));
  EXPECT_TRUE(next.is_new);
  EXPECT_NE(next.id, first);
}

TEST(EngineDedupe, ThrottleModeHoldsTheKeyForItsTtlEvenAfterTheJobFinished) {
  EngineWorld w;
  const Job first = w.Add("ping", Json::object(), Dedupe("k", 60'000));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(first.id), JobState::kCompleted);
  const Job again = w.Add("ping", Json::object(), Dedupe("k", 60'000));
  EXPECT_FALSE(again.is_new);
  EXPECT_EQ(again.id, first.id);
  w.RunFor(Seconds(61));
  const Job later = w.Add("ping", Json::object(), Dedupe("k", 60'000));
  EXPECT_TRUE(later.is_new);
  auto key = w.Run(w.queue().GetDeduplicationJobId("k"));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->value_or(""), later.id);
}

TEST(EngineDedupe, DebounceReplaceSwapsTheDelayedJobForTheNewOne) {
  EngineWorld w;
  JobOptions options = Dedupe("search", 10'000, /*extend=*/false, /*replace=*/true);
  options.delay_ms = 5'000;
  const Job first = w.Add("index", Json{{"q", "a"}}, options);
  w.RunFor(Seconds(2));
  const Job second = w.Add("index", Json{{"q", "ab"}}, options);
  EXPECT_TRUE(second.is_new);
  EXPECT_NE(second.id, first.id);
  EXPECT_FALSE(w.Get(first.id).has_value());  // Replaced (T27).
  w.RunUntilIdle();
  EXPECT_EQ(w.RunsOf(first.id), 0);  // Its envelope was stale.
  EXPECT_EQ(w.RunsOf(second.id), 1);
  const auto job = w.Get(second.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->data, (Json{{"q", "ab"}}));
}

TEST(EngineDedupe, DebounceExtendPushesTheKeysExpiry) {
  EngineWorld w;
  const JobOptions options = Dedupe("k", 10'000, /*extend=*/true);
  const Job first = w.Add("x", Json::object(), options);
  w.RunFor(Seconds(8));
  EXPECT_FALSE(w.Add("x", Json::object(), options).is_new);  // Key now lives until t = 18 s.
  w.RunFor(Seconds(5));                                      // t = 13 s: past the first TTL.
  EXPECT_FALSE(w.Add("x", Json::object(), options).is_new);
  w.RunFor(Seconds(11));
  EXPECT_TRUE(w.Add("x", Json::object(), options).is_new);
  (void)first;
}

TEST(EngineDedupe, RemovingTheKeyLetsTheNextAddThrough) {
  EngineWorld w;
  const Job first = w.Add("x", Json::object(), Dedupe("k"));
  auto removed = w.Run(w.queue().RemoveDeduplicationKey("k"));
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  const Job second = w.Add("x", Json::object(), Dedupe("k"));
  EXPECT_TRUE(second.is_new);
  EXPECT_NE(first.id, second.id);
}

TEST(EngineOrdering, StrictOrderStartsJobsInPriorityThenFifoOrder) {
  EngineTestOptions options;
  options.queue_config.strict_order = true;
  options.queue_config.dispatch_window = 1;
  options.consumer.concurrency = 1;
  options.max_batch_size = 1;
  options.max_concurrency = 1;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Seconds(1)));
  std::vector<std::pair<std::string, int>> added;
  const int priorities[] = {5, 0, 3, 0, 5, 1};
  for (int i = 0; i < 6; ++i) {
    JobOptions o;
    o.priority = priorities[i];
    added.emplace_back(w.Add("p", Json{{"i", i}}, o).id, i);
  }
  w.RunUntilIdle();
  ASSERT_EQ(w.runs().size(), 6u);
  // Priority 0 (none) first in FIFO order, then 1, 3, 5, 5.
  const std::vector<int> expected = {1, 3, 5, 2, 0, 4};
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(w.runs()[k].id, added[expected[k]].first) << "position " << k;
  }
}

TEST(EngineOrdering, LifoJobsStartNewestFirst) {
  EngineTestOptions options;
  options.queue_config.dispatch_window = 1;
  options.consumer.concurrency = 1;
  options.max_batch_size = 1;
  options.max_concurrency = 1;
  EngineWorld w(options);
  w.SetProcessor(CompleteAfter(Seconds(1)));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());  // All four wait for the dispatcher together.
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    JobOptions o;
    o.lifo = true;
    ids.push_back(w.Add("l", Json{{"i", i}}, o).id);
    w.RunFor(core::Milliseconds(10));  // Distinct creation times (LIFO is by created_at).
  }
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  ASSERT_EQ(w.runs().size(), 4u);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(w.runs()[k].id, ids[3 - k]) << "position " << k;
}

// INV-14: every dispatch pass of a busy dispatcher queue is traced with its window and ranks,
// and the checker holds it to them.
TEST(EngineOrdering, EveryDispatchPassKeepsItsWindowAndSendsTheBestRankedRows) {
  EngineTestOptions options;
  options.queue_config.dispatch_window = 3;
  options.consumer.concurrency = 2;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  w.SetProcessor(CompleteAfter(Seconds(1)));
  for (int i = 0; i < 40; ++i) {
    JobOptions o;
    o.priority = 1 + (i * 7) % 5;
    (void)w.Add("p", Json{{"i", i}}, o);
  }
  w.RunUntilIdle();
  const auto passes = TraceLines(w.sim(), "engine.dispatch-pass");
  ASSERT_GE(passes.size(), 10u);
  int sent = 0;
  for (const auto& line : passes) {
    const Json pass = Json::parse(line);
    EXPECT_LE(pass["outstanding"].get<int>(), 3) << line;
    sent += pass["sent"].get<int>();
  }
  EXPECT_GE(sent, 40);
  w.ExpectInvariants(/*quiescent=*/true);
}

TEST(EngineOrdering, TheCheckerReportsAPassThatLeavesABetterRankedRowOrOverrunsItsWindow) {
  EngineWorld w;
  w.sim().trace().Emit("coordinator", core::TraceEvent("engine.dispatch-pass")
                                          .Str("queue", "jobs")
                                          .Int("sent", 2)
                                          .Int("outstanding", 5)
                                          .Int("window", 4)
                                          .Str("last", "2.0.10")
                                          .Str("next", "1.0.11"));
  bool reported = false;
  for (const auto& result : w.CheckInvariants()) {
    if (result.id != "INV-14") continue;
    reported = !result.ok;
    EXPECT_NE(result.detail.find("window 4"), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("left rank 1.0.11"), std::string::npos) << result.detail;
  }
  EXPECT_TRUE(reported);
  w.SkipInvariantsAtExit();
}

// INV-07 counts each grant that took tokens at the coordinator's decision, and each refund
// when it happens: claims land after D1 round trips of varying length, so their own times would
// bunch grants that the bucket spaced out.
TEST(EngineInvariants, TheRateIsMeasuredAtGrantDecisionsAndARefundGivesItsTokenBack) {
  EngineTestOptions options;
  engine::LimiterConfig limiter;
  limiter.max = 5;
  limiter.duration_ms = 1000;
  options.queue_config.limiter = limiter;
  EngineWorld w(options);
  auto grant = [&](const std::string& job, std::int64_t decided_at) {
    w.sim().trace().Emit("coordinator", core::TraceEvent("engine.admit")
                                            .Str("queue", "jobs")
                                            .Str("job", job)
                                            .Int("gen", 1)
                                            .Str("outcome", "granted")
                                            .Int("token", 2)
                                            .Int("retry_at", 0)
                                            .Int("decided_at", decided_at)
                                            .Bool("took", true)
                                            .Str("group", ""));
  };
  auto inv07 = [&] {
    for (const auto& result : w.CheckInvariants()) {
      if (result.id == "INV-07") return result;
    }
    return engine::InvariantResult();
  };
  const std::int64_t t0 = w.now_ms();
  for (int i = 0; i < 5; ++i) grant("a" + std::to_string(i), t0);
  w.RunFor(Seconds(1));
  // Traced late, decided a second apart: within the bucket.
  for (int i = 0; i < 5; ++i) grant("b" + std::to_string(i), t0 + 1000);
  EXPECT_TRUE(inv07().ok) << inv07().detail;
  // A sixth grant in the same instant would exceed the capacity, unless a refund gave one back.
  grant("c0", t0 + 1001);
  w.sim().trace().Emit("coordinator", core::TraceEvent("engine.refunded")
                                          .Str("queue", "jobs")
                                          .Str("job", "b0")
                                          .Int("token", 2)
                                          .Int("at", t0 + 1000)
                                          .Str("group", ""));
  EXPECT_TRUE(inv07().ok) << inv07().detail;
  grant("c1", t0 + 1001);  // Now the bucket is over.
  EXPECT_FALSE(inv07().ok);
  w.SkipInvariantsAtExit();
}

// The D1 batches of one job's path, by label: add, claim, finish (the coordinator's periodic
// retention sweep is per queue, not per job).
std::map<std::string, int> JobBatches(EngineWorld& w) {
  std::map<std::string, int> out;
  for (const std::string& line : TraceLines(w.sim(), "d1.batch")) {
    std::string label = Json::parse(line).value("label", "");
    label = label.substr(0, label.find(':'));
    if (label == "add-bulk") label = "add";
    if (label == "add" || label == "claim" || label == "finish") ++out[label];
  }
  return out;
}

TEST(EngineBudget, AnAddIsOneD1BatchAndAPlainJobCostsThreeEndToEnd) {
  EngineWorld w;
  w.sim().trace().KeepLines(true);
  const Job job = w.Add("x");
  EXPECT_EQ(JobBatches(w)["add"], 1);  // add = 1 batch (engine-spec.md §7.2).
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  const auto batches = JobBatches(w);
  EXPECT_EQ(batches.at("claim"), 1);
  EXPECT_EQ(batches.at("finish"), 1);
}

TEST(EngineBudget, AWaveOfJobsSharesItsClaimAndFinishBatches) {
  EngineTestOptions options;
  options.consumer.concurrency = 10;
  EngineWorld w(options);
  w.sim().trace().KeepLines(true);
  std::vector<engine::BulkJob> jobs;
  for (int i = 0; i < 10; ++i) jobs.emplace_back("w", Json{{"i", i}});
  ASSERT_TRUE(w.Run(w.queue().AddBulk(std::move(jobs))).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.Counts().at("completed"), 10);
  const auto batches = JobBatches(w);
  EXPECT_EQ(batches.at("add"), 1);
  EXPECT_EQ(batches.at("claim"), 1);   // One wave of ten.
  EXPECT_EQ(batches.at("finish"), 1);  // They finish together: one group commit.
}

}  // namespace
}  // namespace cfemu::testing
