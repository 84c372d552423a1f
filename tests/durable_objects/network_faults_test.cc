// The network between a caller and Durable Objects (faults N1-N3, faults-and-invariants.md):
// partitions that fail or hang calls for a while, replies lost after the call was applied, and
// delays with a huge tail that reorder replies.
#include <gtest/gtest.h>

#include "tests/durable_objects/do_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using core::Seconds;
using emulator::Fault;
using emulator::Simulator;

struct NetWorld {
  std::unique_ptr<Simulator> sim;
  std::unique_ptr<DoWorld> world;
  explicit NetWorld(std::unique_ptr<Simulator> s) : sim(std::move(s)) {
    world = std::make_unique<DoWorld>(*sim);
    world->registry().Register<Counter>("Counter");
    world->AddNamespace("COUNTER", "Counter");
  }
  std::unique_ptr<platform::DurableObjectStub> Stub() {
    return world->Namespace("client", "COUNTER").GetByName("c");
  }
};

TEST(NetworkFaults, N1APartitionFailsEveryCallOfTheActorUntilItHeals) {
  NetWorld w(SimulatorWithFault(Fault::kN1Partition, 1, 3));
  const core::Instant start = w.sim->now();
  // The first call starts the partition (1-60 s) and fails, at once or when it heals.
  EXPECT_EQ(w.sim->Run(w.Stub()->Call(&Counter::Increment, 1)).code(), Code::kUnavailable);
  // Every call during it fails without reaching the object.
  int failed = 0;
  while (true) {
    auto r = w.sim->Run(w.Stub()->Call(&Counter::Increment, 1));
    if (r.ok()) {
      EXPECT_EQ(*r, 1);  // No failed call was applied.
      break;
    }
    EXPECT_EQ(r.code(), Code::kUnavailable);
    ++failed;
    ASSERT_TRUE(w.sim->RunFor(Seconds(1)).ok());
    ASSERT_LT(w.sim->now() - start, Seconds(120)) << "the partition never healed";
  }
  EXPECT_GE(w.sim->now() - start, Seconds(1));
  EXPECT_EQ(w.sim->faults().FiredBySite().at("N1@rpc.partition"), 1);
  (void)failed;
}

TEST(NetworkFaults, N1APartitionIsPerCallingActor) {
  NetWorld w(SimulatorWithFault(Fault::kN1Partition, 1, 3));
  EXPECT_EQ(w.sim->Run(w.Stub()->Call(&Counter::Increment, 1)).code(), Code::kUnavailable);
  auto other = w.world->Namespace("other", "COUNTER").GetByName("c");
  EXPECT_EQ(*w.sim->Run(other->Call(&Counter::Increment, 1)), 1);
}

TEST(NetworkFaults, N2ALostReplyLeavesTheCallApplied) {
  NetWorld w(SimulatorWithFault(Fault::kN2ReplyLost, 1, 3));
  auto stub = w.Stub();
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Increment, 1)).code(), Code::kIndeterminate);
  EXPECT_EQ(w.sim->Run(stub->Call(&Counter::Get)).code(), Code::kFailedPrecondition);  // Broken.
  EXPECT_EQ(*w.sim->Run(w.Stub()->Call(&Counter::Get)), 1);  // It happened.
}

TEST(NetworkFaults, N3DelaysCallsWithAHeavyTailAndAppliesThem) {
  NetWorld w(SimulatorWithFault(Fault::kN3DelayReorder, 40, 3));
  const core::Instant start = w.sim->now();
  auto stub = w.Stub();
  for (int i = 1; i <= 20; ++i) EXPECT_EQ(*w.sim->Run(stub->Call(&Counter::Increment, 1)), i);
  // 40 delays (request and reply of 20 calls) of at least 50 ms each.
  EXPECT_EQ(w.sim->faults().fired(Fault::kN3DelayReorder), 40);
  EXPECT_GE(w.sim->now() - start, core::Milliseconds(40 * 50));
}

}  // namespace
}  // namespace cfemu::testing
