// The Queues fault sites (faults-and-invariants.md §2.1 and §2.6): each fault, forced on by a
// plan, has exactly the documented effect, and is traced and counted.
#include <gtest/gtest.h>

#include "tests/testing/queue_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Fault;
using emulator::FaultPlan;
using emulator::FaultRule;
using emulator::Profile;
using emulator::Simulator;
using emulator::SimulatorOptions;
using emulator::World;
using platform::MessageBatch;

// A strict simulator (no latency, no limits) whose plan enables exactly `fault`.
std::unique_ptr<Simulator> WithFault(Fault fault, double probability = 1.0,
                                     std::optional<std::int64_t> max_firings = 1,
                                     std::uint64_t seed = 1) {
  SimulatorOptions options;
  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = probability;
  rule.max_firings = max_firings;
  plan.Set(fault, rule);
  options.faults = plan;
  auto sim = std::make_unique<Simulator>(seed, options);
  sim->trace().KeepLines(true);
  return sim;
}

// A handler that sleeps one second per message, then acks it; it ignores kCancelled on
// purpose, so that calls after a kill can be checked.
AsyncBatchScript SlowAcker() {
  return [](MessageBatch& batch, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
    for (auto& m : batch.messages()) {
      (void)co_await core::SleepFor(env.runtime(), env.clock(), Seconds(1));
      m.Ack();
    }
    co_return Status::Ok();
  };
}

TEST(Faults, Q1CrashBeforeAckRedeliversOnlyMessagesNotAckedBeforeTheKill) {
  auto sim = WithFault(Fault::kQ1ConsumerCrash);
  Recorder recorder;
  World world(
      *sim, OneQueue("jobs", {PushConsumer("jobs", AsyncRecordingHandler(recorder, SlowAcker()))}));
  SendNumbers(*sim, world.EnvFor("p"), 5);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(sim->faults().fired(Fault::kQ1ConsumerCrash), 1);
  int once = 0;
  int twice = 0;
  for (int n = 0; n < 5; ++n) {
    int deliveries = 0;
    for (const auto& s : recorder.seen) deliveries += NumberOf(s.body) == n ? 1 : 0;
    once += deliveries == 1;
    twice += deliveries == 2;
  }
  EXPECT_EQ(once + twice, 5);
  EXPECT_GE(twice, 1);  // At least the message being processed at the kill comes back.
  // Acks the handler still made after the kill were ignored and traced.
  EXPECT_EQ(TraceLines(*sim, "queue.ack_after_kill").size(), static_cast<std::size_t>(twice));
  EXPECT_EQ(TraceLines(*sim, "invocation.killed").size(), 1u);
  EXPECT_EQ(TraceLines(*sim, "fault.fired").size(), 1u);
}

TEST(Faults, Q2CrashAfterASideEffectRepeatsTheEffect) {
  auto sim = WithFault(Fault::kQ2CrashAfterEffect);
  Recorder recorder;
  auto handler = AsyncRecordingHandler(
      recorder,
      [](MessageBatch& batch, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
        auto effects = env.Queue("EFFECTS");
        for (auto& m : batch.messages()) {
          Json effect = {{"for", NumberOf(m.body())}};
          CFEMU_CO_RETURN_IF_ERROR((co_await (*effects)->Send(std::move(effect))).status());
          CFEMU_CO_RETURN_IF_ERROR(co_await core::SleepFor(env.runtime(), env.clock(), Seconds(1)));
          m.Ack();
        }
        co_return Status::Ok();
      });
  auto spec = OneQueue("jobs", {PushConsumer("jobs", handler)});
  spec.producers.push_back({"EFFECTS", "effects", std::nullopt});
  World world(*sim, spec);
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(sim->faults().fired(Fault::kQ2CrashAfterEffect), 1);
  EXPECT_EQ(recorder.seen.size(), 2u);
  // The effect of the killed attempt happened, and happened again on the retry.
  EXPECT_EQ(world.queues().Find("effects")->Metrics().backlog_count, 2);
}

TEST(Faults, Q3DuplicateDeliveryRepeatsAnAckedMessageWithTheSameAttempts) {
  auto sim = WithFault(Fault::kQ3DuplicateDelivery);
  Recorder recorder;
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(recorder.AttemptsOf(recorder.seen[0].id), (std::vector<int>{1, 1}));
  EXPECT_EQ(world.queues().Find("jobs")->stats().duplicated, 1);
  EXPECT_EQ(TraceLines(*sim, "queue.duplicated").size(), 1u);
}

TEST(Faults, Q4ReorderingShufflesABatch) {
  auto sim = WithFault(Fault::kQ4Reorder);
  Recorder recorder;
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  std::vector<platform::MessageSendRequest> batch;
  for (int i = 0; i < 10; ++i) batch.emplace_back(Json{{"n", i}});
  ASSERT_TRUE(SendBatch(*sim, world.EnvFor("p"), std::move(batch)).ok());
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  std::vector<int> order;
  for (const auto& s : recorder.seen) order.push_back(NumberOf(s.body));
  ASSERT_EQ(order.size(), 10u);
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
  std::sort(order.begin(), order.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(order[i], i);
}

TEST(Faults, Q5LateDeliveryAddsAHeavyTail) {
  auto sim = WithFault(Fault::kQ5LateDelivery);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(*sim, spec);
  const Instant t0 = sim->now();
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_GE(recorder.seen[0].at - t0, Seconds(1));  // The tail's scale is one second.
}

TEST(Faults, Q6RetriesExhaustedEarlySendsTheMessageToTheDeadLetterQueue) {
  auto sim = WithFault(Fault::kQ6RetriesExhausted);
  Recorder recorder;
  auto spec =
      OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder, [](MessageBatch& b) {
                                       b.RetryAll();
                                       return Status::Ok();
                                     }))});
  spec.consumers[0].dead_letter_queue = "dead";
  World world(*sim, spec);
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(world.queues().Find("dead")->Metrics().backlog_count, 1);
}

TEST(Faults, Q7RetentionLossExpiresAMessageAndReportsIt) {
  auto sim = WithFault(Fault::kQ7RetentionLoss);
  Recorder recorder;
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  SendNumbers(*sim, world.EnvFor("p"), 2);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 1u);
  EXPECT_EQ(world.queues().Find("jobs")->stats().expired, 1);
  const auto expired = TraceLines(*sim, "queue.expired");
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_NE(expired[0].find("\"cause\":\"fault\""), std::string::npos);
}

TEST(Faults, Q8ProducerRejectionStoresNothing) {
  auto sim = WithFault(Fault::kQ8ProducerRejected);
  World world(*sim, OneQueue("jobs"));
  auto sent = Send(*sim, world.EnvFor("p"), Json(1));
  ASSERT_FALSE(sent.ok());
  EXPECT_TRUE(sent.status().cf_code() == 10250 || sent.status().cf_code() == 10251);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
  EXPECT_TRUE(Send(*sim, world.EnvFor("p"), Json(2)).ok());  // max_firings = 1.
}

TEST(Faults, Q9LostReplyStillEnqueuesTheMessage) {
  auto sim = WithFault(Fault::kQ9ProducerReplyLost);
  Recorder recorder;
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))}));
  auto sent = Send(*sim, world.EnvFor("p"), Json(1));
  EXPECT_EQ(sent.code(), Code::kIndeterminate);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(recorder.seen.size(), 1u);
}

// A handler that fires a send one second after returning, outside WaitUntil.
AsyncBatchScript SendAfterReturn() {
  return [](MessageBatch&, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
    env.runtime().Spawn([](platform::Env& e) -> Task<void> {
      (void)co_await core::SleepFor(e.runtime(), e.clock(), Seconds(1));
      auto late = e.Queue("LATE");
      Json body = {{"late", true}};
      auto sent = co_await (*late)->Send(std::move(body));
      EXPECT_TRUE(sent.ok());  // Reports OK either way.
    }(env));
    co_return Status::Ok();
  };
}

TEST(Faults, Q10SendAfterReturnIsDroppedWhileReportingOk) {
  for (bool fault_on : {true, false}) {
    auto sim = fault_on ? WithFault(Fault::kQ10SendAfterReturn) : std::make_unique<Simulator>(1);
    Recorder recorder;
    auto spec = OneQueue(
        "jobs", {PushConsumer("jobs", AsyncRecordingHandler(recorder, SendAfterReturn()))});
    spec.producers.push_back({"LATE", "late", std::nullopt});
    World world(*sim, spec);
    SendNumbers(*sim, world.EnvFor("p"), 1);
    ASSERT_TRUE(sim->RunUntilIdle().ok());
    ASSERT_TRUE(sim->RunFor(Seconds(5)).ok());
    EXPECT_EQ(world.queues().Find("late")->Metrics().backlog_count, fault_on ? 0 : 1);
  }
}

TEST(Faults, Q11EarlyLeaseExpiryRedeliversToASecondPullerAndTheFirstAckStillCounts) {
  auto sim = WithFault(Fault::kQ11PullLeaseExpiry);
  World world(*sim, OneQueue("jobs", {PullConsumer("jobs")}));
  SendNumbers(*sim, world.EnvFor("p"), 1);
  auto pull = *world.queues().PullConsumerFor("jobs");
  auto first = sim->Run(pull->Pull(1, std::nullopt));
  ASSERT_EQ(first->messages.size(), 1u);
  ASSERT_TRUE(sim->RunFor(Seconds(30) - core::Milliseconds(1)).ok());
  auto second = sim->Run(pull->Pull(1, std::nullopt));
  ASSERT_EQ(second->messages.size(), 1u);  // Before the 30 s visibility timeout.
  EXPECT_EQ(second->messages[0].attempts, 2);
  auto late = sim->Run(pull->Ack({first->messages[0].lease_id}, {}));
  EXPECT_EQ(late->ack_count, 1);
  EXPECT_EQ(world.queues().Find("jobs")->Metrics().backlog_count, 0);
}

TEST(Faults, Q12RunsABatchBeyondTheConcurrencyLimit) {
  auto sim = WithFault(Fault::kQ12ConcurrentBatches);
  Recorder recorder;
  auto spec =
      OneQueue("jobs", {PushConsumer("jobs", AsyncRecordingHandler(recorder, SlowAcker()))});
  spec.consumers[0].max_concurrency = 1;
  spec.consumers[0].max_batch_size = 1;
  World world(*sim, spec);
  SendNumbers(*sim, world.EnvFor("p"), 3);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(recorder.max_running, 2);
}

TEST(Faults, Q13PausesDeliveryForAWhile) {
  auto sim = WithFault(Fault::kQ13PausePurge);
  Recorder recorder;
  auto spec = OneQueue("jobs", {PushConsumer("jobs", RecordingHandler(recorder))});
  spec.consumers[0].max_batch_timeout = Duration::Zero();
  World world(*sim, spec);
  const Instant t0 = sim->now();
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  ASSERT_EQ(recorder.seen.size(), 1u);
  EXPECT_GE(recorder.seen[0].at - t0, Seconds(1));
  EXPECT_EQ(TraceLines(*sim, "queue.paused").size(), 1u);
  EXPECT_EQ(TraceLines(*sim, "queue.resumed").size(), 1u);
}

TEST(Faults, W1CpuKillEndsTheInvocationAtARandomAwait) {
  auto sim = WithFault(Fault::kW1CpuKill);
  Recorder recorder;
  World world(
      *sim, OneQueue("jobs", {PushConsumer("jobs", AsyncRecordingHandler(recorder, SlowAcker()))}));
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  const auto killed = TraceLines(*sim, "invocation.killed");
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_NE(killed[0].find("cpu_limit"), std::string::npos);
  EXPECT_EQ(recorder.seen.size(), 2u);
}

TEST(Faults, W2WallClockKillCanComeBeforeFifteenMinutes) {
  auto sim = WithFault(Fault::kW2WallClockKill);
  Recorder recorder;
  auto handler = AsyncRecordingHandler(
      recorder, [](MessageBatch&, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
        co_return co_await core::SleepFor(env.runtime(), env.clock(), core::Minutes(14));
      });
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", handler)}));
  SendNumbers(*sim, world.EnvFor("p"), 1);
  ASSERT_TRUE(sim->RunUntilIdle().ok());
  EXPECT_EQ(sim->faults().fired(Fault::kW2WallClockKill), 1);
  EXPECT_EQ(recorder.seen.size(), 2u);
  EXPECT_NE(TraceLines(*sim, "invocation.killed")[0].find("wall_clock"), std::string::npos);
}

TEST(Faults, KilledInvocationThatKeepsAwaitingFailsTheRunWithAClearError) {
  auto sim = WithFault(Fault::kQ1ConsumerCrash);
  Recorder recorder;
  auto stubborn = AsyncRecordingHandler(
      recorder, [](MessageBatch&, platform::Env& env, platform::ExecutionContext&) -> Task<Status> {
        for (int i = 0; i < 5'000; ++i) {  // Ignores kCancelled: a livelock in production.
          (void)co_await core::SleepFor(env.runtime(), env.clock(), Seconds(1));
        }
        co_return Status::Ok();
      });
  World world(*sim, OneQueue("jobs", {PushConsumer("jobs", stubborn)}));
  SendNumbers(*sim, world.EnvFor("p"), 1);
  const Status run = sim->RunUntilIdle();
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.message().find("kept awaiting"), std::string::npos) << run.ToString();
}

TEST(Faults, StrictProfileFiresNothingAndFidelityNothingSynthetic) {
  for (Profile profile : {Profile::kStrict, Profile::kFidelity}) {
    SimulatorOptions options;
    options.profile = profile;
    Simulator sim(11, options);
    Recorder recorder;
    auto handler = RecordingHandler(recorder, [](MessageBatch& b) {
      return b.messages()[0].attempts() < 2 ? Status::Unknown("x") : Status::Ok();
    });
    World world(sim, OneQueue("jobs", {PushConsumer("jobs", handler), PullConsumer("jobs")}));
    for (int i = 0; i < 400; ++i) {
      // Fidelity may reject or lose a send (Q8, Q9): this workload accepts either.
      Json body = {{"n", i}};
      (void)Send(sim, world.EnvFor("p"), std::move(body));
    }
    ASSERT_TRUE(sim.RunUntilIdle().ok());
    if (profile == Profile::kStrict) {
      EXPECT_EQ(sim.faults().total_fired(), 0);
    } else {
      for (const auto& [id, count] : sim.faults().FiredById()) {
        const auto fault = emulator::FaultFromId(id);
        EXPECT_NE(emulator::Describe(*fault).kind, emulator::FaultKind::kSynthetic) << id;
      }
      EXPECT_GT(sim.faults().total_fired(), 0);
    }
  }
}

}  // namespace
}  // namespace cfemu::testing
