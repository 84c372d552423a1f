// The engine's pure parts: envelopes, backoff and placement, rate limiters, scheduler slots,
// option and config JSON. No world, no time but the `now` they are given.
#include <regex>

#include <gtest/gtest.h>

#include "src/core/cron.h"
#include "src/engine/coordinator/rate_limiter.h"
#include "src/engine/engine_context.h"
#include "src/engine/envelope.h"
#include "src/engine/job_scheduler.h"
#include "src/engine/queue_config.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {
namespace {

TEST(Envelope, ItsComputedSizeIsTheSerializedSize) {
  for (const auto& group : {std::optional<std::string>(), std::optional<std::string>("t\"7")}) {
    Envelope e{"emails", "id-\u00e9\"\\x", 12345, 1767225600123, group};
    EXPECT_EQ(EnvelopeBytes(e), EncodeEnvelope(e).dump().size());
  }
  // Every escape nlohmann writes (two-byte ones and \u00XX), and numbers of every length.
  const std::string controls = "\b\f\n\r\t\x01\x1f\x7f/";
  for (const std::int64_t n : {std::int64_t{0}, std::int64_t{9}, std::int64_t{10}, std::int64_t{-1},
                               INT64_MAX, INT64_MIN}) {
    Envelope e{"q-" + controls, "id" + controls, n, n, std::string("g") + controls};
    SCOPED_TRACE(n);
    EXPECT_EQ(EnvelopeBytes(e), EncodeEnvelope(e).dump().size());
  }
}

TEST(Envelope, DecodingClassifiesForeignNewerAndValidBodies) {
  Envelope e{"q", "a", 3, 10, std::string("g")};
  const DecodedEnvelope valid = DecodeEnvelope(platform::Body(EncodeEnvelope(e)));
  ASSERT_EQ(valid.kind, EnvelopeKind::kValid);
  EXPECT_EQ(valid.envelope.gen, 3);
  EXPECT_EQ(valid.envelope.group.value_or(""), "g");
  Json newer = {{"p", "cfq/2"}, {"q", "q"}};
  EXPECT_EQ(DecodeEnvelope(platform::Body(newer)).kind, EnvelopeKind::kNewerMajor);
  Json foreign = {{"hello", 1}};
  EXPECT_EQ(DecodeEnvelope(platform::Body(foreign)).kind, EnvelopeKind::kForeign);
  EXPECT_EQ(DecodeEnvelope(platform::Body(platform::Text{"not json"})).kind,
            EnvelopeKind::kForeign);
  Json bad_gen = {{"p", "cfq/1"}, {"q", "q"}, {"id", "a"}, {"gen", 0}, {"at", 1}};
  EXPECT_EQ(DecodeEnvelope(platform::Body(bad_gen)).kind, EnvelopeKind::kForeign);
}

// Job ids are UUIDv7 whose random bits count up within a millisecond: a bulk add's ids are
// consecutive (the indexes keyed by id grow at their end), and they increase across
// milliseconds and when the clock steps back.
TEST(SqlJsonList, WritesTheArrayJsonEachReadsWithStringsEscaped) {
  sql::JsonList empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.Text(), "[]");
  sql::JsonList ids;
  ids.Add("a\"b\\c");
  ids.Add("\xc3\xa9\n");
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(ids.Text()), nlohmann::json::array({"a\"b\\c", "\xc3\xa9\n"}));
  sql::JsonList rows;
  rows.AddRow("job-1", {3, -4});
  rows.AddRow("job-2", {});
  EXPECT_EQ(rows.Text(), R"([["job-1",3,-4],["job-2"]])");
}

TEST(JobIds, AreVersion7UuidsThatIncreaseWithinAndAcrossMilliseconds) {
  const std::regex uuid7("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  core::Random random(5);
  JobIdClock clock;
  const std::int64_t ms = 1767225600123;  // 0x019b76daa87b (48 bits).
  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(NewJobId(random, clock, ms));
  ids.push_back(NewJobId(random, clock, ms - 5));  // The clock stepped back.
  ids.push_back(NewJobId(random, clock, ms + 1));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_TRUE(std::regex_match(ids[i], uuid7)) << ids[i];
    if (i > 0) {
      EXPECT_LT(ids[i - 1], ids[i]) << i;
    }
  }
  EXPECT_EQ(ids.front().substr(0, 13), "019b76da-a87b");
  EXPECT_EQ(ids[ids.size() - 2].substr(0, 13), "019b76da-a87b");
  EXPECT_EQ(ids.back().substr(0, 13), "019b76da-a87c");
  // The counter carries from rand_b into rand_a.
  JobIdClock full;
  full.ms = ms;
  full.high = 0x123;
  full.low = (std::uint64_t{1} << 62) - 1;
  EXPECT_EQ(NewJobId(random, full, ms), "019b76da-a87b-7124-8000-000000000000");
  // Another engine's ids (another random start) are as valid and as ordered.
  core::Random other(6);
  JobIdClock other_clock;
  const std::string a = NewJobId(other, other_clock, ms);
  EXPECT_LT(a, NewJobId(other, other_clock, ms));
  EXPECT_NE(a, ids.front());
}

TEST(Transitions, BackoffFollowsItsTypeAndJitterStaysWithinBounds) {
  core::Random random(1);
  const Job job;
  const AttemptFailure failure;
  const BackoffStrategies none;
  EXPECT_EQ(*ComputeBackoff(std::nullopt, 1, failure, job, none, random), 0);
  EXPECT_EQ(*ComputeBackoff(Backoff("fixed", 700), 3, failure, job, none, random), 700);
  EXPECT_EQ(*ComputeBackoff(Backoff("exponential", 1000), 1, failure, job, none, random), 1000);
  EXPECT_EQ(*ComputeBackoff(Backoff("exponential", 1000), 4, failure, job, none, random), 8000);
  for (int i = 0; i < 100; ++i) {
    const std::int64_t d =
        *ComputeBackoff(Backoff("exponential", 1000, 0.5), 2, failure, job, none, random);
    EXPECT_GE(d, 1000);
    EXPECT_LE(d, 2000);
  }
  EXPECT_EQ(ComputeBackoff(Backoff("custom", 1), 1, failure, job, none, random).code(),
            core::Code::kNotFound);
  BackoffStrategies custom;
  custom["linear"] = [](std::int32_t made, const std::string&, const std::string&, const Job&) {
    return std::int64_t{made} * 100;
  };
  EXPECT_EQ(*ComputeBackoff(Backoff("linear", 0), 3, failure, job, custom, random), 300);
}

TEST(Transitions, AFailureRetriesUntilAttemptsRunOut) {
  core::Random random(1);
  Job job;
  job.attempts_max = 3;
  JobOptions options;
  const QueueConfig config;
  AttemptFailure failure;
  failure.reason = "x";
  job.attempts_made = 1;
  EXPECT_TRUE(DecideFailure(job, options, config, failure, {}, random).retry);
  job.attempts_made = 2;
  const FailureDecision last = DecideFailure(job, options, config, failure, {}, random);
  EXPECT_FALSE(last.retry);
  EXPECT_TRUE(last.exhausted);
  job.attempts_made = 0;
  failure.unrecoverable = true;
  EXPECT_FALSE(DecideFailure(job, options, config, failure, {}, random).retry);
}

TEST(Transitions, PlacementSendsDirectlyOnlyWhatTheDispatcherNeedNotOrder) {
  const QueueConfig config;
  const Placement plain = Place(0, false, 1000, 1000, config, false);
  EXPECT_EQ(plain.state, JobState::kWaiting);
  EXPECT_TRUE(plain.dispatch_at.has_value());
  const Placement prioritized = Place(3, false, 1000, 1000, config, false);
  EXPECT_EQ(prioritized.state, JobState::kPrioritized);
  EXPECT_FALSE(prioritized.dispatch_at.has_value());
  EXPECT_TRUE(prioritized.needs_dispatcher);
  const Placement far = Place(0, false, 1000 + 3'600'000, 1000, config, false);
  EXPECT_EQ(far.state, JobState::kDelayed);
  EXPECT_FALSE(far.dispatch_at.has_value());
  EXPECT_FALSE(far.needs_dispatcher);  // The cron promotes it.
  EXPECT_FALSE(Place(0, false, 1000, 1000, config, true).dispatch_at.has_value());
  EXPECT_EQ(EnvelopeDelaySeconds(2001, 1000, config), 2);  // Rounded up.
  EXPECT_EQ(DispatchDeadline(1000, 500, config, 10), 1000 + 300'000 * 64);
}

TEST(RateLimiter, ATokenBucketGrantsItsCapacityThenRefillsAtItsRate) {
  LimiterConfig limiter;
  limiter.max = 2;
  limiter.duration_ms = 1000;
  BucketState bucket;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(CheckBucket(limiter, bucket, 0).grantable);
    TakeFromBucket(limiter, bucket, 0);
  }
  const BucketCheck denied = CheckBucket(limiter, bucket, 0);
  EXPECT_FALSE(denied.grantable);
  EXPECT_EQ(denied.retry_at, 500);
  EXPECT_EQ(DenyFromBucket(limiter, bucket, 0, denied), 500);
  EXPECT_EQ(DenyFromBucket(limiter, bucket, 0, CheckBucket(limiter, bucket, 0)), 1000);  // Spaced.
  EXPECT_TRUE(CheckBucket(limiter, bucket, 500).grantable);
  EmptyBucketUntil(limiter, bucket, 10'000);
  EXPECT_FALSE(CheckBucket(limiter, bucket, 9'999).grantable);
  EXPECT_TRUE(CheckBucket(limiter, bucket, 10'500).grantable);
}

TEST(RateLimiter, AFixedWindowSpacesDenialsByWholeWindows) {
  LimiterConfig limiter;
  limiter.mode = LimiterConfig::Mode::kFixedWindow;
  limiter.max = 2;
  limiter.duration_ms = 1000;
  BucketState bucket;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(CheckBucket(limiter, bucket, 100).grantable);
    TakeFromBucket(limiter, bucket, 100);
  }
  std::vector<std::int64_t> retries;
  for (int k = 0; k < 4; ++k) {
    const BucketCheck check = CheckBucket(limiter, bucket, 200);
    ASSERT_FALSE(check.grantable);
    retries.push_back(DenyFromBucket(limiter, bucket, 200, check));
  }
  EXPECT_EQ(retries, (std::vector<std::int64_t>{1100, 1100, 2100, 2100}));
  EXPECT_TRUE(CheckBucket(limiter, bucket, 1100).grantable);
}

TEST(SchedulerSlots, SkipFiresOneMissedSlotAndCatchUpFiresThemAll) {
  SchedulerRow row;
  row.every_ms = 60'000;
  row.next_run_at = 0;
  const SlotPlan skip = PlanSlots(row, nullptr, 30 * 60'000, 90'000, 60'000);
  ASSERT_FALSE(skip.fire.empty());
  EXPECT_EQ(skip.fire.front(), 28 * 60'000);  // The most recent missed slot.
  EXPECT_EQ(skip.skipped, 28);
  row.missed_policy = "catchUp";
  row.max_catch_up = 10;
  const SlotPlan catch_up = PlanSlots(row, nullptr, 30 * 60'000, 90'000, 60'000);
  EXPECT_EQ(catch_up.fire.size(), 10u);
  EXPECT_EQ(catch_up.fire.front(), 0);
  EXPECT_EQ(catch_up.next_run_at.value_or(-1), 10 * 60'000);
  row.missed_policy = "skip";
  row.limit = 3;
  row.iteration_count = 2;
  row.next_run_at = 29 * 60'000;
  const SlotPlan limited = PlanSlots(row, nullptr, 30 * 60'000, 90'000, 60'000);
  EXPECT_EQ(limited.fire.size(), 1u);
  EXPECT_FALSE(limited.next_run_at.has_value());
}

TEST(SchedulerSlots, CronSlotsAreTheMatchesAfterTheLast) {
  SchedulerRow row;
  row.pattern = "*/15 * * * *";
  auto expr = core::ParseCron(*row.pattern, core::CronDialect::kBullMQ);
  ASSERT_TRUE(expr.ok());
  EXPECT_EQ(NextSlot(row, &*expr, 0).value_or(-1), 15 * 60'000);
  EXPECT_EQ(NextSlot(row, &*expr, 15 * 60'000).value_or(-1), 30 * 60'000);
}

TEST(Options, JobOptionsRoundTripThroughBullMqJson) {
  Json json = {{"jobId", "a"},
               {"delay", 5},
               {"priority", 3},
               {"attempts", 4},
               {"backoff", {{"type", "exponential"}, {"delay", 100}}},
               {"removeOnComplete", {{"age", 60}, {"count", 10}}},
               {"removeOnFail", 5},
               {"deduplication", {{"id", "d"}, {"ttl", 1000}}},
               {"groupKey", "g"},
               {"failParentOnFailure", true}};
  auto options = JobOptionsFromJson(json);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(JobOptionsToJson(*options), json);
  EXPECT_EQ(JobOptionsFromJson(Json{{"nope", 1}}).code(), core::Code::kInvalidArgument);
  JobOptions two;
  two.fail_parent_on_failure = two.continue_parent_on_failure = true;
  EXPECT_EQ(ValidateJobOptions(two).code(), core::Code::kInvalidArgument);
}

TEST(Options, QueueConfigRoundTripsAndNamesBadFields) {
  QueueConfig config;
  config.limiter = LimiterConfig();
  config.limiter->max = 5;
  config.global_concurrency = 3;
  auto back = QueueConfigFromJson(QueueConfigToJson(config));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(QueueConfigToJson(*back), QueueConfigToJson(config));
  auto bad = QueueConfigFromJson(Json{{"lockDurationMs", 10}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("lockDurationMs"), std::string::npos);
  EXPECT_FALSE(ValidateQueueName("bad name").ok());
  EXPECT_TRUE(ValidateQueueName("emails:v2").ok());
}

}  // namespace
}  // namespace cfemu::engine
