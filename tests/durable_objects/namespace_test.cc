// Ids, stubs, instances, input gates and E-order (checklist 52-55, 59).
#include <set>

#include <gtest/gtest.h>

#include "src/core/ids.h"
#include "tests/durable_objects/do_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Milliseconds;
using core::Seconds;
using emulator::Simulator;

struct NamespaceTest : ::testing::Test {
  Simulator sim{1};
  DoWorld world{sim};
  void SetUp() override {
    Counter::constructions = 0;
    world.registry().Register<Counter>("Counter");
    world.AddNamespace("COUNTER", "Counter");
  }
  platform::DurableObjectNamespace& ns() { return world.Namespace("client", "COUNTER"); }
};

TEST_F(NamespaceTest, IdFromNameIsDeterministicPerNamespace) {
  const auto a = ns().IdFromName("alpha");
  EXPECT_EQ(a.ToString(), ns().IdFromName("alpha").ToString());
  EXPECT_NE(a.ToString(), ns().IdFromName("beta").ToString());
  EXPECT_TRUE(core::IsLowerHex(a.ToString(), 64));
  EXPECT_EQ(a.name(), std::optional<std::string>("alpha"));
  world.registry().Register<Counter>("Other");
  world.AddNamespace("OTHER", "Other");
  EXPECT_NE(world.Namespace("client", "OTHER").IdFromName("alpha").ToString(), a.ToString());
}

TEST_F(NamespaceTest, NewUniqueIdIsRandomAndHasNoName) {
  const auto a = ns().NewUniqueId();
  const auto b = ns().NewUniqueId();
  EXPECT_NE(a.ToString(), b.ToString());
  EXPECT_TRUE(core::IsLowerHex(a.ToString(), 64));
  EXPECT_FALSE(a.name().has_value());
  EXPECT_TRUE(a.Equals(a));
  EXPECT_FALSE(a.Equals(b));
}

TEST_F(NamespaceTest, IdFromStringRejectsMalformedAndForeignIds) {
  const auto id = ns().IdFromName("alpha");
  auto back = ns().IdFromString(id.ToString());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->Equals(id));
  EXPECT_EQ(ns().IdFromString("xyz").code(), Code::kInvalidArgument);
  EXPECT_EQ(ns().IdFromString(std::string(64, 'a')).code(), Code::kInvalidArgument);
  world.registry().Register<Counter>("Other");
  world.AddNamespace("OTHER", "Other");
  const auto foreign = world.Namespace("client", "OTHER").IdFromName("alpha");
  EXPECT_EQ(ns().IdFromString(foreign.ToString()).code(), Code::kInvalidArgument);
}

TEST_F(NamespaceTest, StubsNeedNoIoAndObjectsAreCreatedOnTheFirstCall) {
  auto stub = ns().GetByName("lazy");
  ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  EXPECT_EQ(Counter::constructions, 0);
  EXPECT_FALSE(world.Find("COUNTER")->IsLive(stub->id()));
  auto value = sim.Run(stub->Call(&Counter::Increment, 5));
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(*value, 5);
  EXPECT_EQ(Counter::constructions, 1);
}

TEST_F(NamespaceTest, OneInstancePerIdAcrossStubs) {
  auto a = ns().GetByName("shared");
  auto b = ns().GetByName("shared");
  EXPECT_EQ(*sim.Run(a->Call(&Counter::InMemoryCalls)), 1);
  EXPECT_EQ(*sim.Run(b->Call(&Counter::InMemoryCalls)), 2);
  EXPECT_EQ(Counter::constructions, 1);
  auto other = ns().GetByName("other");
  EXPECT_EQ(*sim.Run(other->Call(&Counter::InMemoryCalls)), 1);
  EXPECT_EQ(Counter::constructions, 2);
}

TEST_F(NamespaceTest, ArgumentsAndResultsAreCopies) {
  auto stub = ns().GetByName("copies");
  std::string entry = "first";
  auto call = stub->Call(&Counter::Log, entry, 0);
  entry = "changed after the call was made";
  auto log = sim.Run(std::move(call));
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0], "first");
}

// One copy per call, as one structured clone: of a value the caller keeps, none of a value it
// hands over. The argument is not copied again on its way to the method.
TEST_F(NamespaceTest, AnArgumentIsCopiedOnceAndAMovedOneNotAtAll) {
  auto stub = ns().GetByName("copies");
  CopyCount kept;
  EXPECT_EQ(*sim.Run(stub->Call(&Counter::Copies, kept)), 1);
  EXPECT_EQ(*sim.Run(stub->Call(&Counter::Copies, CopyCount())), 0);
}

Task<std::vector<Result<std::vector<std::string>>>> LogConcurrently(
    platform::DurableObjectStub& first, platform::DurableObjectStub& second) {
  std::vector<Task<Result<std::vector<std::string>>>> calls;
  calls.push_back(first.Call(&Counter::Log, std::string("a"), 100));  // Sleeps 100 ms.
  calls.push_back(second.Call(&Counter::Log, std::string("b"), 0));
  co_return co_await core::WhenAll(std::move(calls));
}

TEST_F(NamespaceTest, EventsInterleaveOnlyAtAwaits) {
  auto first = ns().GetByName("interleave");
  auto second = ns().GetByName("interleave");
  const auto results = sim.Run(LogConcurrently(*first, *second));
  // "b" ran while "a" slept: the object is single-threaded but interleaves at awaits.
  ASSERT_TRUE(results[0].ok());
  EXPECT_EQ(*results[0], (std::vector<std::string>{"b", "a"}));
}

TEST_F(NamespaceTest, CallsOnOneStubAreAdmittedInOrder) {
  // With seeded latency per call, later calls may be faster; E-order still holds per stub.
  emulator::SimulatorOptions options;
  options.profile = emulator::Profile::kFidelity;
  options.faults = emulator::FaultPlan(emulator::Profile::kStrict);
  Simulator fidelity(3, options);
  fidelity.latency().Configure("do.call",
                               emulator::LatencyDist::Uniform(Milliseconds(1), Milliseconds(200)));
  DoWorld other(fidelity);
  other.registry().Register<Counter>("Counter");
  other.AddNamespace("COUNTER", "Counter");
  auto stub = other.Namespace("client", "COUNTER").GetByName("ordered");
  std::vector<Task<Result<std::vector<std::string>>>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(stub->Call(&Counter::Log, std::to_string(i), 0));
  const auto results = fidelity.Run(core::WhenAll(std::move(calls)));
  const auto& last = *results.back();
  ASSERT_EQ(last.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(last[i], std::to_string(i));
}

TEST_F(NamespaceTest, AThrowingCallBreaksTheStubButNotANewOne) {
  auto stub = ns().GetByName("breaks");
  auto thrown = sim.Run(stub->Call(&Counter::Throw));
  ASSERT_FALSE(thrown.ok());
  EXPECT_NE(thrown.status().message().find("method threw"), std::string::npos);
  EXPECT_EQ(sim.Run(stub->Call(&Counter::Get)).code(), Code::kFailedPrecondition);
  auto fresh = ns().GetByName("breaks");
  EXPECT_TRUE(sim.Run(fresh->Call(&Counter::Get)).ok());
}

TEST_F(NamespaceTest, AnErrorResultDoesNotBreakTheStub) {
  auto stub = ns().GetByName("errors");
  // Counter::Increment returns the storage error as a value; a value never breaks the stub.
  auto ok = sim.Run(stub->Call(&Counter::Increment, 1));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(sim.Run(stub->Call(&Counter::Get)).ok());
}

// The input gate: an event arriving while another one's storage operation is in flight starts
// only after it.
class SlowStorage : public platform::DurableObject {
 public:
  using DurableObject::DurableObject;
  Task<Result<std::int64_t>> ReadModifyWrite() {
    auto current = co_await storage().Get("n");
    if (!current.ok()) co_return current.status();
    const std::int64_t next = (*current ? (*current)->get<std::int64_t>() : 0) + 1;
    Json value = next;
    CFEMU_CO_RETURN_IF_ERROR(co_await storage().Put("n", std::move(value)));
    co_return next;
  }
};

TEST(InputGate, StorageOperationsHoldNewEventsSoReadModifyWriteIsRaceFree) {
  emulator::SimulatorOptions options;
  options.profile = emulator::Profile::kFidelity;
  options.faults = emulator::FaultPlan(emulator::Profile::kStrict);
  Simulator sim(5, options);
  sim.latency().Configure("do.storage.get", emulator::LatencyDist::Constant(Milliseconds(50)));
  sim.latency().Configure("do.storage.put", emulator::LatencyDist::Constant(Milliseconds(50)));
  DoWorld world(sim);
  world.registry().Register<SlowStorage>("Slow");
  world.AddNamespace("SLOW", "Slow");
  auto& ns = world.Namespace("client", "SLOW");
  std::vector<std::unique_ptr<platform::DurableObjectStub>> stubs;
  std::vector<Task<Result<std::int64_t>>> calls;
  for (int i = 0; i < 10; ++i) {
    stubs.push_back(ns.GetByName("gate"));
    calls.push_back(stubs.back()->Call(&SlowStorage::ReadModifyWrite));
  }
  const auto results = sim.Run(core::WhenAll(std::move(calls)));
  std::set<std::int64_t> values;
  for (const auto& r : results) values.insert(*r);
  EXPECT_EQ(values.size(), 10u);  // No lost update: 1..10, each once.
  EXPECT_EQ(*values.rbegin(), 10);
}

}  // namespace
}  // namespace cfemu::testing
