// The output gate (checklist 56) and the Durable Object faults O1-O8.
#include <gtest/gtest.h>

#include "tests/durable_objects/do_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Milliseconds;
using core::Seconds;
using emulator::Fault;
using emulator::FaultPlan;
using emulator::FaultRule;
using emulator::Profile;
using emulator::Simulator;
using emulator::SimulatorOptions;

// Writes two keys synchronously, then calls another object (an outgoing message).
class Writer : public platform::DurableObject {
 public:
  using DurableObject::DurableObject;
  Task<Result<bool>> WriteThenCall() {
    auto kv = *storage().kv();
    CFEMU_CO_RETURN_IF_ERROR(kv->Put("a", Json(1)));
    CFEMU_CO_RETURN_IF_ERROR(kv->Put("b", Json(2)));
    auto ns = env().DurableObjects("COUNTER");
    if (!ns.ok()) co_return ns.status();
    auto peer = (*ns)->GetByName("peer");
    auto sent = co_await peer->Call(&Counter::Increment, 1);
    if (!sent.ok()) co_return sent.status();
    co_return true;
  }
  Task<Result<std::int64_t>> Keys() {
    auto listed = co_await storage().List();
    if (!listed.ok()) co_return listed.status();
    co_return static_cast<std::int64_t>(listed->size());
  }
};

struct FaultWorld {
  std::unique_ptr<Simulator> sim;
  std::unique_ptr<DoWorld> world;
  explicit FaultWorld(std::unique_ptr<Simulator> s) : sim(std::move(s)) {
    Counter::constructions = 0;
    world = std::make_unique<DoWorld>(*sim);
    world->registry().Register<Counter>("Counter");
    world->registry().Register<Writer>("Writer");
    world->AddNamespace("COUNTER", "Counter");
    world->AddNamespace("WRITER", "Writer");
  }
  platform::DurableObjectNamespace& ns(std::string_view binding) {
    return world->Namespace("client", binding);
  }
};

// Exactly the first commit of coalesced writes fails (O2 at do.storage.commit), nothing else.
std::unique_ptr<Simulator> FailFirstCommit() {
  SimulatorOptions options;
  FaultPlan plan(Profile::kStrict);
  plan.Force({Fault::kO2ResetMidRequest, "do.storage.commit", 1});
  plan.set_forced_only(true);
  options.faults = plan;
  return std::make_unique<Simulator>(1, options);
}

TEST(OutputGate, AFailedWriteDiscardsTheOutgoingCallAndResetsTheObject) {
  FaultWorld w(FailFirstCommit());
  auto writer = w.ns("WRITER").GetByName("w");
  auto result = w.sim->Run(writer->Call(&Writer::WriteThenCall));
  EXPECT_EQ(result.code(), Code::kUnavailable);
  // The outgoing call never left: the peer was never created.
  EXPECT_EQ(Counter::constructions, 0);
  auto fresh = w.ns("WRITER").GetByName("w");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Writer::Keys)), 0);  // Neither write was committed.
  EXPECT_EQ(w.world->Find("WRITER")->stats().resets, 1);
  EXPECT_EQ(w.sim->faults().FiredBySite().at("O2@do.storage.commit"), 1);
}

TEST(OutputGate, WithoutAFailureWritesCommitBeforeTheCallLeaves) {
  FaultWorld w(std::make_unique<Simulator>(1));
  auto writer = w.ns("WRITER").GetByName("w");
  EXPECT_TRUE(w.sim->Run(writer->Call(&Writer::WriteThenCall)).ok());
  EXPECT_EQ(*w.sim->Run(writer->Call(&Writer::Keys)), 2);
  auto peer = w.ns("COUNTER").GetByName("peer");
  EXPECT_EQ(*w.sim->Run(peer->Call(&Counter::Get)), 1);
}

TEST(DoFaults, O1RandomEvictionLosesMemoryNotStorage) {
  FaultWorld w(SimulatorWithFault(Fault::kO1Eviction));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::Increment, 4)), 4);
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::InMemoryCalls)), 1);  // A new incarnation.
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::Get)), 4);
  EXPECT_EQ(Counter::constructions, 2);
}

TEST(DoFaults, O2CallFailsBeforeApplyingAndBreaksTheStub) {
  FaultWorld w(SimulatorWithFault(Fault::kO2ResetMidRequest));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kUnavailable);
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kFailedPrecondition);
  auto fresh = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Counter::Increment, 1)), 1);  // Not applied before.
}

TEST(DoFaults, O3OverloadedCallIsNotApplied) {
  FaultWorld w(SimulatorWithFault(Fault::kO3Overloaded));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kOverloaded);
  auto fresh = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Counter::Increment, 1)), 1);
}

TEST(DoFaults, O8IndeterminateCallWasApplied) {
  FaultWorld w(SimulatorWithFault(Fault::kO8StubIndeterminate));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kIndeterminate);
  auto fresh = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Counter::Get)), 1);  // It happened.
}

class Ticker : public platform::DurableObject {
 public:
  static inline std::vector<Instant> runs;
  using DurableObject::DurableObject;
  Task<Result<bool>> Arm() {
    CFEMU_CO_RETURN_IF_ERROR(co_await storage().SetAlarm(env().clock().Now()));
    co_return true;
  }
  Task<Status> Alarm(platform::AlarmInfo) override {
    runs.push_back(env().clock().Now());
    co_return Status::Ok();
  }
};

// Its first construction blocks other events for 40 s (past any limit); later ones for 100 ms.
class SlowLoader : public platform::DurableObject {
 public:
  static inline int constructions = 0;
  SlowLoader(platform::DurableObjectState& state, platform::Env& env) : DurableObject(state, env) {
    const std::int64_t ms = constructions++ == 0 ? 40'000 : 100;
    (void)state.BlockConcurrencyWhile([this, ms]() -> Task<Status> {
      co_return co_await core::SleepFor(this->env().runtime(), this->env().clock(),
                                        Milliseconds(ms));
    });
  }
  Task<Result<bool>> Touch() { co_return true; }
};

std::int64_t CountLines(Simulator& sim, std::string_view a, std::string_view b) {
  std::int64_t n = 0;
  for (const auto& line : sim.trace().lines()) {
    n += line.find(a) != std::string::npos && line.find(b) != std::string::npos ? 1 : 0;
  }
  return n;
}

TEST(DoFaults, O4BlockConcurrencyWhileCutShortResetsTheObject) {
  SimulatorOptions options;
  FaultPlan plan(Profile::kStrict);
  plan.Force({Fault::kO4BlockConcurrencyTimeout, "do.block_concurrency", 1});
  plan.set_forced_only(true);
  options.faults = plan;
  auto sim = std::make_unique<Simulator>(1, options);
  sim->trace().KeepLines(true);
  FaultWorld w(std::move(sim));
  SlowLoader::constructions = 0;
  w.world->registry().Register<SlowLoader>("SlowLoader");
  auto& service = w.world->AddNamespace("LOADER", "SlowLoader");
  auto stub = w.ns("LOADER").GetByName("x");
  const Instant t0 = w.sim->now();
  EXPECT_TRUE(w.sim->Run(stub->Call(&SlowLoader::Touch)).ok());
  // The fault drew a limit under 30 s: the object reset before the ordinary timeout, and the
  // call waited for a fresh incarnation (whose 100 ms load ran under the ordinary limit).
  EXPECT_LT(w.sim->now() - t0, Seconds(30));
  EXPECT_EQ(service.stats().resets, 1);
  EXPECT_EQ(service.stats().constructions, 2);
  EXPECT_EQ(w.sim->faults().fired(Fault::kO4BlockConcurrencyTimeout), 1);
  EXPECT_EQ(w.sim->faults().FiredBySite().at("O4@do.block_concurrency"), 1);
  EXPECT_EQ(CountLines(*w.sim, "\"ev\":\"fault.fired\"", "\"fault\":\"O4\""), 1);
  EXPECT_EQ(CountLines(*w.sim, "\"ev\":\"do.reset\"", "blockConcurrencyWhile() exceeded 30 s"), 1);
}

TEST(DoFaults, O5AlarmFailureAfterRunningMeansItRunsTwice) {
  Ticker::runs.clear();
  FaultWorld w(SimulatorWithFault(Fault::kO5AlarmFailure));
  w.world->registry().Register<Ticker>("Ticker");
  w.world->AddNamespace("TICKER", "Ticker");
  auto stub = w.ns("TICKER").GetByName("t");
  ASSERT_TRUE(w.sim->Run(stub->Call(&Ticker::Arm)).ok());
  ASSERT_TRUE(w.sim->RunUntilIdle().ok());
  EXPECT_EQ(Ticker::runs.size(), 2u);  // At least once: the handler ran, failed, ran again.
}

TEST(DoFaults, O6LateAlarmRunsAfterItsTime) {
  Ticker::runs.clear();
  FaultWorld w(SimulatorWithFault(Fault::kO6LateAlarm));
  w.world->registry().Register<Ticker>("Ticker");
  w.world->AddNamespace("TICKER", "Ticker");
  auto stub = w.ns("TICKER").GetByName("t");
  const Instant t0 = w.sim->now();
  ASSERT_TRUE(w.sim->Run(stub->Call(&Ticker::Arm)).ok());
  ASSERT_TRUE(w.sim->RunUntilIdle().ok());
  ASSERT_EQ(Ticker::runs.size(), 1u);
  EXPECT_GE(Ticker::runs[0] - t0, Seconds(1));
}

// Its first alarm runs for 10 s (a non-storage await, so calls interleave); later ones at once.
class SlowAlarm : public platform::DurableObject {
 public:
  struct Run {
    Instant start;
    Instant end;
  };
  static inline std::vector<Run> runs;
  using DurableObject::DurableObject;
  Task<Result<bool>> ArmIn(std::int64_t ms) {
    CFEMU_CO_RETURN_IF_ERROR(co_await storage().SetAlarm(env().clock().Now() + Milliseconds(ms)));
    co_return true;
  }
  Task<Result<std::optional<Instant>>> Pending() { co_return co_await storage().GetAlarm(); }
  Task<Status> Alarm(platform::AlarmInfo) override {
    const Instant start = env().clock().Now();
    if (runs.empty()) {
      CFEMU_CO_RETURN_IF_ERROR(
          co_await core::SleepFor(env().runtime(), env().clock(), Seconds(10)));
    }
    runs.push_back({start, env().clock().Now()});
    co_return Status::Ok();
  }
};

// O6 (workerd's scheduler: "one alarm queued behind"): an alarm set while the handler runs
// does not overlap it and is not lost; it runs once, right after the running one ends, and a
// later SetAlarm replaces it rather than queueing a second one.
TEST(DoFaults, O6ANewAlarmSetWhileOneRunsIsQueuedBehindIt) {
  SlowAlarm::runs.clear();
  FaultWorld w(std::make_unique<Simulator>(1));
  w.world->registry().Register<SlowAlarm>("SlowAlarm");
  w.world->AddNamespace("SLOW", "SlowAlarm");
  auto stub = w.ns("SLOW").GetByName("s");
  const Instant t0 = w.sim->now();
  ASSERT_TRUE(w.sim->Run(stub->Call(&SlowAlarm::ArmIn, 0)).ok());
  ASSERT_TRUE(w.sim->RunFor(Seconds(1)).ok());                     // The first alarm is running.
  ASSERT_TRUE(w.sim->Run(stub->Call(&SlowAlarm::ArmIn, 0)).ok());  // Due at once...
  ASSERT_TRUE(w.sim->Run(stub->Call(&SlowAlarm::ArmIn, 2'000)).ok());  // ...then replaced.
  EXPECT_EQ(**w.sim->Run(stub->Call(&SlowAlarm::Pending)), t0 + Seconds(3));
  ASSERT_TRUE(w.sim->RunUntilIdle().ok());
  ASSERT_EQ(SlowAlarm::runs.size(), 2u);
  EXPECT_EQ(SlowAlarm::runs[0].start, t0);
  EXPECT_EQ(SlowAlarm::runs[0].end, t0 + Seconds(10));
  EXPECT_EQ(SlowAlarm::runs[1].start, SlowAlarm::runs[0].end);  // Behind it, not beside it.
  EXPECT_FALSE(w.sim->Run(stub->Call(&SlowAlarm::Pending))->has_value());
}

TEST(DoFaults, O7InterleavesEventsAtAnInjectedAwait) {
  FaultWorld w(SimulatorWithFault(Fault::kO7Interleaving));
  auto first = w.ns("COUNTER").GetByName("c");
  auto second = w.ns("COUNTER").GetByName("c");
  std::vector<Task<Result<std::vector<std::string>>>> calls;
  calls.push_back(first->Call(&Counter::Log, std::string("a"), 0));
  calls.push_back(second->Call(&Counter::Log, std::string("b"), 0));
  const auto results = w.sim->Run(core::WhenAll(std::move(calls)));
  // "a" was delayed at the injected await; "b" went first.
  EXPECT_EQ(*results[0], (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(w.sim->faults().fired(Fault::kO7Interleaving), 1);
}

}  // namespace
}  // namespace cfemu::testing
