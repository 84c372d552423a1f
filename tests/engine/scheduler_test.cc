// Job schedulers (engine-spec.md §4.9, T26, INV-10) and the cron tick's recovery paths
// (§4.15: R-PROMOTE, R-LOST).
#include <set>

#include <gtest/gtest.h>

#include "src/core/task.h"
#include "src/engine/sql.h"
#include "emulator/testing/engine_world.h"

namespace cfemu::testing {
namespace {

using core::Hours;
using core::Minutes;
using core::Seconds;
using engine::RepeatOptions;

std::vector<std::int64_t> SlotsOf(EngineWorld& w, const std::string& scheduler) {
  platform::D1Database& db = **w.env().D1("DB");
  auto rows = w.Run(db.Prepare("SELECT id, available_at FROM cfq_jobs WHERE scheduler_id = ? "
                               "ORDER BY available_at")
                        .Bind(scheduler)
                        .All());
  EXPECT_TRUE(rows.ok());
  std::vector<std::int64_t> out;
  for (const auto& row : rows->results) {
    const std::string id = engine::sql::Str(row.values[0]);
    const std::int64_t slot = std::stoll(id.substr(id.rfind(':') + 1));
    // A slot fires at its time, or at once when it was missed.
    EXPECT_GE(engine::sql::Int(row.values[1]), slot) << id;
    out.push_back(slot);
  }
  return out;
}

TEST(EngineSchedulers, AnEverySchedulerFiresEachSlotOnceUpToItsLimit) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.every_ms = 10'000;
  repeat.limit = 5;
  auto first = w.Run(w.queue().UpsertJobScheduler("heartbeat", repeat,
                                                  engine::JobTemplate("beat", Json{{"x", 1}})));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());  // The first iteration exists on return.
  EXPECT_EQ((*first)->id.rfind("repeat:heartbeat:", 0), 0u);
  w.RunFor(Minutes(5));
  const auto slots = SlotsOf(w, "heartbeat");
  ASSERT_EQ(slots.size(), 5u);
  for (std::size_t i = 1; i < slots.size(); ++i) EXPECT_EQ(slots[i] - slots[i - 1], 10'000);
  EXPECT_EQ(w.Counts().at("completed"), 5);
  auto info = w.Run(w.queue().GetJobScheduler("heartbeat"));
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->iteration_count, 5);
  EXPECT_FALSE((*info)->next_run_at.has_value());  // Exhausted.
}

TEST(EngineSchedulers, ACronSchedulerFiresOnItsMinutesWithoutDrift) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.pattern = "*/5 * * * *";
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("five", repeat)).ok());
  w.RunFor(Hours(1) + Seconds(30));
  const auto slots = SlotsOf(w, "five");
  ASSERT_GE(slots.size(), 12u);
  for (std::int64_t slot : slots) EXPECT_EQ(slot % 300'000, 0) << slot;
  const std::set<std::int64_t> unique(slots.begin(), slots.end());
  EXPECT_EQ(unique.size(), slots.size());
  // Each iteration starts at its slot, not later: no drift.
  for (const auto& run : w.runs()) {
    const std::int64_t slot = std::stoll(run.id.substr(run.id.rfind(':') + 1));
    EXPECT_GE(run.at.unix_ms(), slot);
    EXPECT_LT(run.at.unix_ms(), slot + 3'000);
  }
}

TEST(EngineSchedulers, WeekdayDialectsAgreeOnMondayOverAYear) {
  EngineTestOptions options;
  options.crons = std::vector<std::string>{"0 * * * *"};  // An hourly tick keeps a year quick.
  EngineWorld w(options);
  RepeatOptions bullmq;
  bullmq.pattern = "0 9 * * 1";  // BullMQ: 1 = Monday.
  RepeatOptions cloudflare;
  cloudflare.pattern = "0 9 * * 2";  // Cloudflare: 2 = Monday.
  cloudflare.dow_dialect = "cloudflare";
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("bullmq", bullmq)).ok());
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("cloudflare", cloudflare)).ok());
  w.RunFor(core::Days(365));
  const auto a = SlotsOf(w, "bullmq");
  const auto b = SlotsOf(w, "cloudflare");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 52u);  // 2026-01-05 ... 2026-12-28.
  for (std::int64_t slot : a) {
    const std::int64_t days = slot / 86'400'000;
    EXPECT_EQ((days + 4) % 7, 1) << slot;  // 1970-01-01 was a Thursday (4).
    EXPECT_EQ(slot % 86'400'000, 9 * 3'600'000);
  }
}

core::Task<void> Tick(std::shared_ptr<engine::EngineContext> context) {
  auto report = co_await engine::RunSchedulerTick(*context);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
}

core::Task<void> Upsert(engine::Queue* queue, RepeatOptions repeat) {
  auto upserted = co_await queue->UpsertJobScheduler("race", repeat);
  EXPECT_TRUE(upserted.ok()) << upserted.status().ToString();
}

TEST(EngineSchedulers, ConcurrentTicksAndUpsertsNeverFireASlotTwice) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.every_ms = 5'000;
  ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("race", repeat)).ok());
  for (int round = 0; round < 6; ++round) {
    std::vector<core::Task<void>> all;
    for (int i = 0; i < 5; ++i) all.push_back(Tick(w.engine().context()));
    for (int i = 0; i < 3; ++i) all.push_back(Upsert(&w.queue(), repeat));
    w.Run(core::WhenAll(std::move(all)));
    w.RunFor(Seconds(20));
  }
  const auto slots = SlotsOf(w, "race");
  const std::set<std::int64_t> unique(slots.begin(), slots.end());
  EXPECT_EQ(unique.size(), slots.size());
  for (std::size_t i = 1; i < slots.size(); ++i) EXPECT_GT(slots[i], slots[i - 1]);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_events WHERE event = 'added' AND job_id LIKE "
                       "'repeat:race:%'"),
            static_cast<std::int64_t>(slots.size()));
}

TEST(EngineSchedulers, SlotsMissedWhilePausedFollowTheMissedPolicy) {
  for (const std::string policy : {"skip", "catchUp"}) {
    EngineWorld w;
    RepeatOptions repeat;
    repeat.every_ms = 60'000;
    repeat.missed_policy = policy;
    ASSERT_TRUE(w.Run(w.queue().UpsertJobScheduler("m", repeat)).ok());
    w.RunFor(Seconds(30));
    ASSERT_TRUE(w.Run(w.queue().Pause()).ok());
    w.RunFor(Minutes(30));
    const std::size_t before = SlotsOf(w, "m").size();
    ASSERT_TRUE(w.Run(w.queue().Resume()).ok());
    w.RunFor(Minutes(2));
    const std::size_t after = SlotsOf(w, "m").size();
    auto info = w.Run(w.queue().GetJobScheduler("m"));
    ASSERT_TRUE(info.ok() && info->has_value());
    if (policy == "skip") {
      EXPECT_LE(after - before, 5u) << policy;  // One missed slot, then on-time ones.
      EXPECT_GE((*info)->missed_count, 25) << policy;
    } else {
      EXPECT_GE(after - before, 28u) << policy;  // Every missed slot, in order.
      EXPECT_EQ((*info)->missed_count, 0) << policy;
    }
  }
}

TEST(EngineSchedulers, TemplateOptionsMayNotSetIdsDelaysOrDedupe) {
  EngineWorld w;
  RepeatOptions repeat;
  repeat.every_ms = 1'000;
  JobOptions options;
  options.delay_ms = 5;
  auto refused = w.Run(
      w.queue().UpsertJobScheduler("t", repeat, engine::JobTemplate("n", Json::object(), options)));
  EXPECT_EQ(refused.code(), core::Code::kInvalidArgument);
  RepeatOptions both;
  both.every_ms = 1'000;
  both.pattern = "* * * * *";
  EXPECT_EQ(w.Run(w.queue().UpsertJobScheduler("t", both)).code(), core::Code::kInvalidArgument);
  RepeatOptions seconds;
  seconds.pattern = "0 * * * * *";
  EXPECT_EQ(w.Run(w.queue().UpsertJobScheduler("t", seconds)).code(), core::Code::kInvalidArgument);
}

TEST(EngineRecovery, JobsWhoseEnvelopesWerePurgedAreRedispatched) {
  EngineTestOptions options;
  options.queue_config.dispatch_timeout_ms = 60'000;
  EngineWorld w(options);
  ASSERT_TRUE(w.world().queues().Pause("jobs").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(w.Add("lost", Json{{"i", i}}).id);
  auto purged = w.world().queues().Purge("jobs");
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 5);
  ASSERT_TRUE(w.world().queues().Resume("jobs").ok());
  w.RunFor(Minutes(5));
  for (const auto& id : ids) {
    const auto job = w.Get(id);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->state, JobState::kCompleted) << id;
    EXPECT_EQ(job->lost_count, 1) << id;
  }
}

TEST(EngineRecovery, FarFutureDelaysAreSentByTheCronWithinTheHorizon) {
  EngineWorld w;
  JobOptions options;
  options.delay_ms = core::Days(3).ms();  // Beyond Cloudflare's 24 h per-message delay.
  const Job job = w.Add("far", Json::object(), options);
  EXPECT_FALSE(job.dispatch_at.has_value());
  w.RunFor(core::Days(3) - Minutes(20));
  EXPECT_FALSE(w.Get(job.id)->dispatch_at.has_value());
  w.RunFor(Minutes(21));
  EXPECT_EQ(w.StateOf(job.id), JobState::kCompleted);
  ASSERT_EQ(w.runs().size(), 1u);
  EXPECT_GE(w.runs()[0].at.unix_ms(), job.available_at);
}

}  // namespace
}  // namespace cfemu::testing
