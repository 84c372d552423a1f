// Engine::Close (engine-spec.md §5: flushes coalesced writes, releases this process's leases)
// and the optional KV cache (§4.5 pause hint, §4.8 throttle keys): KV only ever hints, so a
// stale entry moves work between paths and never loses or duplicates a job.
#include <gtest/gtest.h>

#include "tests/engine/engine_probe.h"

namespace cfemu::testing {
namespace {

using core::Minutes;
using core::Seconds;

// Reports progress, then works for 30 s, one second at a time, stopping when aborted.
Task<Result<Json>> SlowWithProgress(JobContext& ctx) {
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.UpdateProgress(Json(50)));
  for (int i = 0; i < 30; ++i) {
    if (ctx.signal().aborted()) co_return Status::Unknown("stopped: " + ctx.signal().reason());
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Seconds(1)));
  }
  co_return Json{{"done", true}};
}

TEST(EngineClose, CloseWaitsForJobsInFlightWritesTheirProgressAndReleasesTheirLeases) {
  EngineTestOptions options;
  options.consumer.progress_flush_ms = 3'600'000;  // Only the finish writes the progress.
  EngineWorld w(options);
  w.SetProcessor(SlowWithProgress);
  const Job job = w.Add("slow");
  w.RunFor(Seconds(5));
  ASSERT_EQ(w.Get(job.id)->state, JobState::kActive);
  ASSERT_EQ(w.Coordinator().leases.size(), 1U);
  const Instant before = w.sim().now();
  w.Run(w.engine().Close());
  EXPECT_GE(w.sim().now() - before, Seconds(20));  // It waited for the job.
  EXPECT_TRUE(w.engine().closed());
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(done->progress, Json(50));
  EXPECT_TRUE(w.Coordinator().leases.empty());
  const auto refused = w.Run(w.queue().Add("late", Json::object(), JobOptions()));
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  const auto bulk = w.Run(w.queue().AddBulk({engine::BulkJob("late", Json::object())}));
  EXPECT_EQ(bulk.status().code(), core::Code::kFailedPrecondition);
}

TEST(EngineClose, ForceAbortsTheJobsInFlightAndStillAwaitsTheirFinish) {
  EngineWorld w;
  w.SetProcessor(SlowWithProgress);
  JobOptions once;
  once.attempts = 1;
  const Job job = w.Add("slow", Json::object(), once);
  w.RunFor(Seconds(5));
  const Instant before = w.sim().now();
  w.Run(w.engine().Close(/*force=*/true));
  EXPECT_LT(w.sim().now() - before, Seconds(5));
  const auto done = w.Get(job.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->failed_reason, "stopped: engine closing");
  EXPECT_TRUE(w.Coordinator().leases.empty());
}

TEST(EngineClose, AClosedEnginesConsumerClaimsNothingAndRetriesItsMessages) {
  EngineWorld w;
  w.Run(w.engine().Close());
  // Another producer (say, another Worker) still adds to the queue.
  auto other = engine::Engine::Create(w.env(), engine::EngineBindings(), core::Random(99));
  ASSERT_TRUE(other.ok());
  auto queue = w.Run(other->OpenQueue("jobs"));
  ASSERT_TRUE(queue.ok());
  auto added = w.Run(queue->Add("after-close", Json::object(), JobOptions()));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  w.RunFor(Seconds(5));
  const auto job = w.Get(added->id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kWaiting);
  EXPECT_EQ(job->attempts_started, 0);
  EXPECT_TRUE(w.runs().empty());
  w.SkipInvariantsAtExit();  // The job is left waiting on purpose.
}

// ---- KV pause hint (§4.5) -----------------------------------------------------------------

EngineTestOptions WithCache(bool pause_hint, bool throttle_cache) {
  EngineTestOptions options;
  options.kv_binding = "CACHE";
  options.engine_config.kv_pause_hint = pause_hint;
  options.engine_config.kv_throttle_cache = throttle_cache;
  return options;
}

TEST(KvCache, APausedQueuesHintLeavesNewRowsUndispatchedAndResumeSendsThem) {
  EngineWorld w(WithCache(/*pause_hint=*/true, /*throttle_cache=*/false));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const Job job = w.Add("hinted");
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));  // Left to the dispatch pass.
  w.RunFor(Minutes(2));
  EXPECT_EQ(w.Get(job.id)->state, JobState::kWaiting);
  EXPECT_EQ(w.Get(job.id)->attempts_started, 0);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.Get(job.id)->state, JobState::kCompleted);
  EXPECT_EQ(w.runs().size(), 1U);
}

TEST(KvCache, AStalePauseHintOnlyMovesTheSendToTheDispatcher) {
  EngineWorld w(WithCache(/*pause_hint=*/true, /*throttle_cache=*/false));
  // The hint says paused, the coordinator does not (a stale or hand-written KV value).
  platform::KvNamespace* kv = *w.env().Kv("CACHE");
  ASSERT_TRUE(w.Run(kv->Put("cfq:paused:jobs", std::string("1"))).ok());
  const Job job = w.Add("stale-hint");
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));
  w.RunFor(Minutes(2));  // The cron tick's dispatch kick sends it (R-DISPATCH).
  w.RunUntilIdle();
  EXPECT_EQ(w.Get(job.id)->state, JobState::kCompleted);
  EXPECT_EQ(w.runs().size(), 1U);
}

TEST(KvCache, WithoutTheHintAPausedQueuesAddIsParkedByTheConsumer) {
  EngineWorld w(WithCache(/*pause_hint=*/false, /*throttle_cache=*/false));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const Job job = w.Add("sent");
  EXPECT_FALSE(ColumnIsNull(w, job.id, "dispatch_at"));  // Sent, then parked (T17).
  w.RunFor(Minutes(1));
  EXPECT_TRUE(ColumnIsNull(w, job.id, "dispatch_at"));
  EXPECT_EQ(w.Get(job.id)->attempts_started, 0);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.Get(job.id)->state, JobState::kCompleted);
}

TEST(KvCache, AKvBindingIsRequiredForTheCacheOptions) {
  engine::EngineConfig config;
  config.kv_throttle_cache = true;
  EngineWorld w;
  auto engine = engine::Engine::Create(w.env(), engine::EngineBindings(), core::Random(1), config);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("kv_throttle_cache"), std::string::npos);
}

// ---- KV throttle keys (§4.8) --------------------------------------------------------------

JobOptions Throttled(std::int64_t ttl_ms) {
  JobOptions options;
  options.deduplication = engine::Dedup();
  options.deduplication->id = "t";
  options.deduplication->ttl_ms = ttl_ms;
  return options;
}

TEST(KvCache, AThrottleHitServedFromKvWritesNoD1BatchAndReturnsTheKeyedJob) {
  EngineWorld w(WithCache(/*pause_hint=*/false, /*throttle_cache=*/true));
  const Job first = w.Add("throttled", Json{{"n", 1}}, Throttled(120'000));
  ASSERT_TRUE(first.is_new);
  platform::KvNamespace* kv = *w.env().Kv("CACHE");
  auto entry = w.Run(kv->Get(engine::ThrottleKvKey("jobs", "t")));
  ASSERT_TRUE(entry.ok() && entry->has_value());
  const Json cached = Json::parse(std::get<std::string>(**entry));
  EXPECT_EQ(cached["jobId"], first.id);
  EXPECT_EQ(cached["expiresAt"], w.now_ms() + 120'000);
  const auto batches = w.world().d1("DB")->stats().batches;
  const Job second = w.Add("throttled", Json{{"n", 2}}, Throttled(120'000));
  EXPECT_FALSE(second.is_new);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.data, (Json{{"n", 1}}));
  EXPECT_EQ(w.world().d1("DB")->stats().batches, batches);
  w.RunUntilIdle();
  EXPECT_EQ(w.runs().size(), 1U);
}

TEST(KvCache, AnExpiredEmbeddedTtlFallsThroughToD1AndAddsANewJob) {
  EngineWorld w(WithCache(/*pause_hint=*/false, /*throttle_cache=*/true));
  // 5 s throttle: KV keeps the entry at least 60 s, the embedded expiry says 5 s.
  const Job first = w.Add("throttled", Json::object(), Throttled(5'000));
  w.RunFor(Seconds(10));
  const Job second = w.Add("throttled", Json::object(), Throttled(5'000));
  EXPECT_TRUE(second.is_new);
  EXPECT_NE(second.id, first.id);
  w.RunUntilIdle();
  EXPECT_EQ(w.runs().size(), 2U);
}

TEST(KvCache, RemovingTheKeyDropsTheCachedEntryAndAVanishedJobFallsThrough) {
  EngineWorld w(WithCache(/*pause_hint=*/false, /*throttle_cache=*/true));
  ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
  const Job first = w.Add("throttled", Json::object(), Throttled(600'000));
  auto removed = w.Run(w.queue().RemoveDeduplicationKey("t"));
  ASSERT_TRUE(removed.ok() && *removed);
  platform::KvNamespace* kv = *w.env().Kv("CACHE");
  auto entry = w.Run(kv->Get(engine::ThrottleKvKey("jobs", "t")));
  ASSERT_TRUE(entry.ok());
  EXPECT_FALSE(entry->has_value());
  const Job second = w.Add("throttled", Json::object(), Throttled(600'000));
  EXPECT_TRUE(second.is_new);
  // A cached entry whose job was removed is not trusted: the add goes to D1.
  ASSERT_TRUE(w.Run(w.queue().Remove(second.id)).ok());
  const Job third = w.Add("throttled", Json::object(), Throttled(600'000));
  EXPECT_TRUE(third.is_new);
  EXPECT_NE(third.id, second.id);
  EXPECT_NE(third.id, first.id);
  ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.runs().size(), 2U);  // first and third.
}

}  // namespace
}  // namespace cfemu::testing
