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

std::unique_ptr<Simulator> WithFault(Fault fault, std::optional<std::int64_t> max = 1) {
  SimulatorOptions options;
  FaultPlan plan(Profile::kStrict);
  FaultRule rule;
  rule.probability = 1.0;
  rule.max_firings = max;
  plan.Set(fault, rule);
  options.faults = plan;
  auto sim = std::make_unique<Simulator>(1, options);
  sim->trace().KeepLines(true);
  return sim;
}

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
  FaultWorld w(WithFault(Fault::kO1Eviction));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::Increment, 4)), 4);
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::InMemoryCalls)), 1);  // A new incarnation.
  EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::Get)), 4);
  EXPECT_EQ(Counter::constructions, 2);
}

TEST(DoFaults, O2CallFailsBeforeApplyingAndBreaksTheStub) {
  FaultWorld w(WithFault(Fault::kO2ResetMidRequest));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kUnavailable);
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kFailedPrecondition);
  auto fresh = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Counter::Increment, 1)), 1);  // Not applied before.
}

TEST(DoFaults, O3OverloadedCallIsNotApplied) {
  FaultWorld w(WithFault(Fault::kO3Overloaded));
  auto stub = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kOverloaded);
  auto fresh = w.ns("COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(fresh->Call(&Counter::Increment, 1)), 1);
}

TEST(DoFaults, O8IndeterminateCallWasApplied) {
  FaultWorld w(WithFault(Fault::kO8StubIndeterminate));
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

TEST(DoFaults, O5AlarmFailureAfterRunningMeansItRunsTwice) {
  Ticker::runs.clear();
  FaultWorld w(WithFault(Fault::kO5AlarmFailure));
  w.world->registry().Register<Ticker>("Ticker");
  w.world->AddNamespace("TICKER", "Ticker");
  auto stub = w.ns("TICKER").GetByName("t");
  ASSERT_TRUE(w.sim->Run(stub->Call(&Ticker::Arm)).ok());
  ASSERT_TRUE(w.sim->RunUntilIdle().ok());
  EXPECT_EQ(Ticker::runs.size(), 2u);  // At least once: the handler ran, failed, ran again.
}

TEST(DoFaults, O6LateAlarmRunsAfterItsTime) {
  Ticker::runs.clear();
  FaultWorld w(WithFault(Fault::kO6LateAlarm));
  w.world->registry().Register<Ticker>("Ticker");
  w.world->AddNamespace("TICKER", "Ticker");
  auto stub = w.ns("TICKER").GetByName("t");
  const Instant t0 = w.sim->now();
  ASSERT_TRUE(w.sim->Run(stub->Call(&Ticker::Arm)).ok());
  ASSERT_TRUE(w.sim->RunUntilIdle().ok());
  ASSERT_EQ(Ticker::runs.size(), 1u);
  EXPECT_GE(Ticker::runs[0] - t0, Seconds(1));
}

TEST(DoFaults, O7InterleavesEventsAtAnInjectedAwait) {
  FaultWorld w(WithFault(Fault::kO7Interleaving));
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
