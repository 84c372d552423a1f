// The cron trigger (emulator/cron): checklist items 71-75 of cloudflare-platform.md §8, the
// manual trigger behind /cdn-cgi/handler/scheduled, the wall limit and overlapping runs.
#include <gtest/gtest.h>

#include "src/core/log.h"
#include "tests/cron/cron_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Days;
using core::Hours;
using core::Minutes;
using core::Seconds;
using emulator::CronOptions;
using emulator::CronService;
using emulator::ScheduledOutcome;
using emulator::ScheduledRun;
using emulator::Simulator;

std::unique_ptr<CronService> MakeService(Simulator& sim, CronOptions options = {}) {
  return std::make_unique<CronService>(sim, std::move(options), TestEnvFactory(sim));
}

std::vector<std::string> ScheduledTimes(const Seen& seen) {
  std::vector<std::string> out;
  for (const auto& run : seen.runs) out.push_back(run.scheduled_time.ToRfc3339());
  return out;
}

// ---- 71: every documented form parses; a bad one is refused with the parser's error --------

TEST(CronService, AcceptsEveryDocumentedCronFormAndRefusesInvalidOnes) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  EXPECT_TRUE(cron->AddWorker(Worker({"*/3 * * * *", "0 17 * * sun", "10 7 * * mon-fri",
                                      "0 18 * * 6L", "59 23 LW * *", "0 0 15W jan-jun *",
                                      "0 12 * * 2#1", "0 0 L * 1,7", "5-10,30/15 1-23/2 * * *"},
                                     RecordingHandler(seen)))
                  .ok());
  const core::Status bad = cron->AddWorker(Worker({"0 0 * * *", "0 0 * * 0"}, nullptr, "other"));
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "crons[1]: invalid cron expression \"0 0 * * 0\": day-of-week: 0 is out of range 1-7 "
            "(1 = Sunday)");
  const core::Status twice = cron->AddWorker(Worker({"0 0 * * *", "0 0 * * *"}, nullptr, "x"));
  EXPECT_EQ(twice.code(), Code::kInvalidArgument);
  EXPECT_EQ(cron->trigger_count(), 9);
}

TEST(CronService, ExpressionThatNeverMatchesIsAcceptedAndNeverFires) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"0 0 30 2 *"}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Days(400)).ok());
  EXPECT_TRUE(seen->runs.empty());
  EXPECT_EQ(TraceLines(*sim, "cron.never_matches").size(), 1u);
  EXPECT_EQ(sim->pending_timers(), 0u);  // Its tick loop ended instead of waiting forever.
}

// ---- 72: UTC, minute granularity, each matching trigger once per minute ---------------------

TEST(CronService, FiresEachMatchingTriggerOncePerUtcMinute) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"*/5 * * * *", "0 * * * *"}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Hours(1) - core::Milliseconds(1)).ok());
  int every_five = 0;
  int hourly = 0;
  for (const auto& run : seen->runs) {
    EXPECT_EQ(run.scheduled_time.unix_ms() % 300'000, 0);  // On the minute, in UTC.
    EXPECT_EQ(run.started, run.scheduled_time);
    every_five += run.cron == "*/5 * * * *";
    hourly += run.cron == "0 * * * *";
  }
  EXPECT_EQ(every_five, 12);  // 00:00, 00:05, ..., 00:55: once each.
  EXPECT_EQ(hourly, 1);       // 00:00, as its own run alongside the other trigger.
  EXPECT_EQ(TraceLines(*sim, "cron.fired").size(), 13u);
  EXPECT_EQ(cron->stats().ticks, 13);
}

TEST(CronService, TicksNeverKeepRunUntilIdleBusy) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, RecordingHandler(seen, Seconds(20)))).ok());
  const Instant start = sim->now();
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(sim->now(), start);  // Only background tick timers remain.
  ASSERT_TRUE(sim->RunFor(Seconds(5)).ok());
  EXPECT_EQ(cron->in_flight(), 1);  // The 00:00 run is going: now the world is busy.
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(sim->now(), start + Seconds(20));
  EXPECT_EQ(cron->in_flight(), 0);
}

// ---- 73: controller fields; waitUntil runs to completion -----------------------------------

TEST(CronService, ControllerCarriesTheCronAsConfiguredTheScheduledMinuteAndTypeScheduled) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  const std::string configured = "*/2  *  * * *";  // Spacing kept as written.
  ASSERT_TRUE(cron->AddWorker(Worker({configured}, RecordingHandler(seen))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(3)).ok());
  ASSERT_EQ(seen->runs.size(), 2u);
  EXPECT_EQ(seen->runs[0].cron, configured);
  EXPECT_EQ(seen->runs[0].type, "scheduled");
  EXPECT_EQ(ScheduledTimes(*seen),
            (std::vector<std::string>{"2026-01-01T00:00:00.000Z", "2026-01-01T00:02:00.000Z"}));
  EXPECT_EQ(cron->runs().back().cron, configured);
}

platform::ScheduledHandler WaitUntilHandler(std::shared_ptr<Seen> seen, Status tail) {
  return [seen, tail](platform::ScheduledController&, platform::Env& env,
                      platform::ExecutionContext& ctx) -> Task<Status> {
    ctx.WaitUntil([](platform::Env& env, std::shared_ptr<Seen> seen, Status tail) -> Task<Status> {
      (void)co_await core::SleepFor(env.runtime(), env.clock(), Seconds(30));
      seen->runs.push_back({"waitUntil", env.clock().Now(), env.clock().Now(), ""});
      co_return tail;
    }(env, seen, tail));
    co_return Status::Ok();
  };
}

TEST(CronService, OutcomeWaitsForEveryWaitUntilTaskAndFailsWithIt) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto ok_seen = std::make_shared<Seen>();
  auto bad_seen = std::make_shared<Seen>();
  ASSERT_TRUE(
      cron->AddWorker(Worker({"0 * * * *"}, WaitUntilHandler(ok_seen, Status::Ok()), "a")).ok());
  ASSERT_TRUE(cron->AddWorker(Worker({"0 * * * *"},
                                     WaitUntilHandler(bad_seen, Status::Unknown("late boom")), "b"))
                  .ok());
  ASSERT_TRUE(sim->RunFor(Seconds(29)).ok());
  EXPECT_TRUE(cron->runs().empty());  // The handlers returned; their waitUntil tasks have not.
  ASSERT_TRUE(sim->RunFor(Seconds(1)).ok());
  ASSERT_EQ(cron->runs().size(), 2u);
  for (const ScheduledRun& run : cron->runs()) {
    EXPECT_EQ(run.finished, run.started + Seconds(30));
    EXPECT_EQ(run.outcome,
              run.script_name == "a" ? ScheduledOutcome::kOk : ScheduledOutcome::kException);
  }
  EXPECT_EQ(ok_seen->runs.size(), 1u);
  EXPECT_EQ(bad_seen->runs.size(), 1u);
}

// ---- 74: no handler; outcomes; retries unless NoRetry() ------------------------------------

TEST(CronService, WorkerWithoutAScheduledHandlerFailsLogsAWarningAndIsNotRetried) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.retry_failures = true;
  auto cron = MakeService(*sim, options);
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, nullptr)).ok());
  const core::LogLevel level = core::GetLogLevel();
  core::SetLogLevel(core::LogLevel::kWarn);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(sim->RunFor(Minutes(10)).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  core::SetLogLevel(level);
  ASSERT_EQ(cron->runs().size(), 11u);  // One per tick, never retried.
  for (const ScheduledRun& run : cron->runs()) {
    EXPECT_EQ(run.outcome, ScheduledOutcome::kNoHandler);
    EXPECT_TRUE(run.no_retry);
    EXPECT_EQ(run.error, "Handler does not export a scheduled() function");
  }
  EXPECT_EQ(cron->stats().retries, 0);
  EXPECT_EQ(cron->stats().failed, 11);
  const std::string warning = "Did you remember to export a scheduled() function?";
  ASSERT_NE(log.find(warning), std::string::npos) << log;
  EXPECT_EQ(log.find(warning, log.find(warning) + 1), std::string::npos);  // Logged once.
  EXPECT_NE(TraceLines(*sim, "cron.fired")[0].find("\"outcome\":\"no_handler\""),
            std::string::npos);
}

TEST(CronService, FailedRunIsRetriedWithDoublingBackoff) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.retry_failures = true;
  options.max_retries = 3;
  options.retry_delay = Minutes(1);
  auto cron = MakeService(*sim, options);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(
      cron->AddWorker(Worker({"0 * * * *"}, RecordingHandler(seen, {}, Status::Unknown("boom"))))
          .ok());
  ASSERT_TRUE(sim->RunFor(Seconds(1)).ok());
  ASSERT_TRUE(sim->RunUntilIdle().ok());  // Ticks are background; pending retries are not.
  const Instant hour = Utc(2026, 1, 1);
  EXPECT_EQ(sim->now(), hour + Minutes(7));
  ASSERT_TRUE(sim->RunFor(Minutes(30)).ok());
  ASSERT_EQ(seen->runs.size(), 4u);  // The run and three retries, then it gives up.
  const std::vector<Instant> expected = {hour, hour + Minutes(1), hour + Minutes(3),
                                         hour + Minutes(7)};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seen->runs[i].started, expected[i]);
    EXPECT_EQ(seen->runs[i].scheduled_time, hour);  // Retries keep the scheduled minute.
    EXPECT_EQ(cron->runs()[i].attempt, static_cast<int>(i) + 1);
    EXPECT_EQ(cron->runs()[i].error, "boom");
  }
  EXPECT_EQ(cron->stats().retries, 3);
}

TEST(CronService, NoRetryStopsTheRetryOfAFailedRun) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.retry_failures = true;
  auto cron = MakeService(*sim, options);
  int calls = 0;
  ASSERT_TRUE(
      cron->AddWorker(Worker({"0 * * * *"},
                             [&calls](platform::ScheduledController& controller, platform::Env&,
                                      platform::ExecutionContext&) -> Task<Status> {
                               ++calls;
                               controller.NoRetry();
                               co_return Status::Unknown("boom");
                             }))
          .ok());
  ASSERT_TRUE(sim->RunFor(Minutes(30)).ok());
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(cron->runs().size(), 1u);
  EXPECT_TRUE(cron->runs()[0].no_retry);
  EXPECT_EQ(cron->runs()[0].outcome, ScheduledOutcome::kException);
}

TEST(CronService, StrictProfileDoesNotRetryByDefaultAndFidelityDoes) {
  for (emulator::Profile profile : {emulator::Profile::kStrict, emulator::Profile::kFidelity}) {
    emulator::SimulatorOptions sim_options;
    sim_options.profile = profile;
    sim_options.faults = emulator::FaultPlan(emulator::Profile::kStrict);  // No faults.
    Simulator sim(1, sim_options);
    auto cron = MakeService(sim);
    auto seen = std::make_shared<Seen>();
    ASSERT_TRUE(
        cron->AddWorker(Worker({"0 * * * *"}, RecordingHandler(seen, {}, Status::Unknown("x"))))
            .ok());
    ASSERT_TRUE(sim.RunFor(Minutes(30)).ok());
    EXPECT_EQ(seen->runs.size(), profile == emulator::Profile::kStrict ? 1u : 4u)
        << emulator::ProfileName(profile);
  }
}

TEST(CronService, ExceptionEscapingTheHandlerIsAFailedRun) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"},
                                     [](platform::ScheduledController&, platform::Env&,
                                        platform::ExecutionContext&) -> Task<Status> {
                                       throw std::runtime_error("kaboom");
                                       co_return Status::Ok();
                                     }))
                  .ok());
  ASSERT_TRUE(sim->RunFor(Seconds(1)).ok());
  ASSERT_EQ(cron->runs().size(), 1u);
  EXPECT_EQ(cron->runs()[0].outcome, ScheduledOutcome::kException);
  EXPECT_EQ(cron->runs()[0].error, "uncaught exception: kaboom");
  EXPECT_FALSE(sim->failure().has_value());
}

TEST(CronService, RunPastTheFifteenMinuteWallLimitIsKilled) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"0 0 * * *"}, RecordingHandler(seen, Minutes(20)))).ok());
  ASSERT_TRUE(sim->RunFor(Seconds(1)).ok());
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  ASSERT_EQ(cron->runs().size(), 1u);
  const ScheduledRun& run = cron->runs()[0];
  EXPECT_EQ(run.outcome, ScheduledOutcome::kKilled);
  EXPECT_EQ(run.finished - run.started, core::limits::kCronWallTime);
  EXPECT_EQ(run.error, "the invocation was killed (wall_clock)");
  EXPECT_EQ(TraceLines(*sim, "invocation.killed").size(), 1u);
}

// ---- 75: trigger count per account --------------------------------------------------------

TEST(CronService, TriggerCountIsLimitedPerAccount) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.max_triggers = core::limits::kCronTriggersFree;
  auto cron = MakeService(*sim, options);
  ASSERT_TRUE(cron->AddWorker(Worker({"1 * * * *", "2 * * * *", "3 * * * *"}, nullptr, "a")).ok());
  const core::Status over =
      cron->AddWorker(Worker({"4 * * * *", "5 * * * *", "6 * * * *"}, nullptr, "b"));
  EXPECT_EQ(over.code(), Code::kResourceExhausted);
  EXPECT_EQ(over.message(),
            "crons: 6 Cron Triggers would exceed the account limit of 5 (Workers Free: 5, "
            "Workers Paid: 250)");
  EXPECT_EQ(cron->trigger_count(), 3);  // Nothing of the refused Worker was registered.
  EXPECT_TRUE(cron->AddWorker(Worker({"4 * * * *", "5 * * * *"}, nullptr, "b")).ok());
  EXPECT_EQ(cron->trigger_count(), 5);
}

TEST(CronService, PaidLimitIsTheDefaultAndTheLimitCanBeTurnedOff) {
  auto sim = SimWithFault(std::nullopt);
  std::vector<std::string> crons;
  for (int i = 0; i < 251; ++i)
    crons.push_back(std::to_string(i % 60) + " " + std::to_string(i / 60) + " * * *");
  auto paid = MakeService(*sim);
  EXPECT_EQ(paid->AddWorker(Worker(crons, nullptr)).code(), Code::kResourceExhausted);
  CronOptions unlimited;
  unlimited.max_triggers.reset();
  auto off = MakeService(*sim, unlimited);
  EXPECT_TRUE(off->AddWorker(Worker(crons, nullptr)).ok());
}

// ---- Manual triggering (the C++ side of /cdn-cgi/handler/scheduled) ------------------------

TEST(CronService, ManualTriggerRunsTheHandlerOnceAndReturnsItsOutcome) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.retry_failures = true;
  auto cron = MakeService(*sim, options);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"0 0 1 1 *"}, RecordingHandler(seen, Seconds(2)))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(5)).ok());
  seen->runs.clear();
  const Instant chosen = Utc(2030, 6, 1, 12, 0);
  core::Result<ScheduledRun> run = sim->Run(cron->Trigger("not even a cron", chosen));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->outcome, ScheduledOutcome::kOk);
  EXPECT_TRUE(run->manual);
  ASSERT_EQ(seen->runs.size(), 1u);
  EXPECT_EQ(seen->runs[0].cron, "not even a cron");  // Passed through, as Miniflare does.
  EXPECT_EQ(seen->runs[0].scheduled_time, chosen);
  // The time defaults to now.
  core::Result<ScheduledRun> now_run = sim->Run(cron->Trigger("0 0 1 1 *"));
  ASSERT_TRUE(now_run.ok());
  EXPECT_EQ(now_run->scheduled_time, now_run->started);
  EXPECT_EQ(cron->stats().manual, 2);
}

TEST(CronService, ManualTriggerOfAFailingHandlerIsNotRetried) {
  auto sim = SimWithFault(std::nullopt);
  CronOptions options;
  options.retry_failures = true;
  auto cron = MakeService(*sim, options);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(
      cron->AddWorker(Worker({}, RecordingHandler(seen, {}, Status::Unknown("nope")), "w")).ok());
  core::Result<ScheduledRun> run = sim->Run(cron->Trigger("* * * * *", std::nullopt, "w"));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->outcome, ScheduledOutcome::kException);
  EXPECT_EQ(run->error, "nope");
  ASSERT_TRUE(sim->RunFor(Hours(1)).ok());
  EXPECT_EQ(seen->runs.size(), 1u);
}

TEST(CronService, ManualTriggerNeedsAKnownAndUnambiguousWorker) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  EXPECT_EQ(sim->Run(cron->Trigger("* * * * *")).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(cron->AddWorker(Worker({}, nullptr, "a")).ok());
  ASSERT_TRUE(cron->AddWorker(Worker({}, nullptr, "b")).ok());
  EXPECT_EQ(sim->Run(cron->Trigger("* * * * *")).code(), Code::kFailedPrecondition);
  EXPECT_EQ(sim->Run(cron->Trigger("* * * * *", std::nullopt, "c")).code(), Code::kNotFound);
  core::Result<ScheduledRun> run = sim->Run(cron->Trigger("* * * * *", std::nullopt, "b"));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->outcome, ScheduledOutcome::kNoHandler);
}

// ---- Overlap without faults: production has no mutual exclusion ----------------------------

TEST(CronService, LongRunsOverlapTheNextTickWithoutMutualExclusion) {
  auto sim = SimWithFault(std::nullopt);
  auto cron = MakeService(*sim);
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, RecordingHandler(seen, Seconds(90)))).ok());
  ASSERT_TRUE(sim->RunFor(Minutes(3)).ok());
  EXPECT_EQ(seen->max_running, 2);
  EXPECT_GE(cron->stats().overlapped, 2);
  EXPECT_FALSE(TraceLines(*sim, "cron.overlap").empty());
}

TEST(CronService, DestroyingTheServiceStopsItsTicks) {
  auto sim = SimWithFault(std::nullopt);
  auto seen = std::make_shared<Seen>();
  auto cron = MakeService(*sim);
  ASSERT_TRUE(cron->AddWorker(Worker({"* * * * *"}, RecordingHandler(seen, Seconds(30)))).ok());
  ASSERT_TRUE(sim->RunFor(Seconds(10)).ok());
  cron.reset();  // A run is in flight; it finishes without touching the service.
  ASSERT_TRUE(sim->RunFor(Minutes(5)).ok());
  EXPECT_EQ(seen->runs.size(), 1u);
  EXPECT_EQ(seen->running, 0);
}

}  // namespace
}  // namespace cfemu::testing
