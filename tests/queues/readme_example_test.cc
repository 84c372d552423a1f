// The C++ example of the README, compiled and run, so the README stays true.
#include <gtest/gtest.h>

#include "emulator/sim/simulator.h"
#include "emulator/world.h"

namespace {

using namespace cfemu;

TEST(ReadmeExample, SendsAJobAndTheConsumerAcksItOnVirtualTime) {
  emulator::Simulator sim(/*seed=*/7);  // Strict profile by default.
  platform::EnvSpec spec;
  spec.queues.push_back({"jobs"});
  spec.producers.push_back({"JOBS", "jobs", std::nullopt});
  platform::ConsumerSpec consumer;
  consumer.queue = "jobs";
  consumer.dead_letter_queue = "jobs-dlq";
  consumer.handler = [](platform::MessageBatch& batch, platform::Env& env,
                        platform::ExecutionContext&) -> core::Task<core::Status> {
    for (auto& message : batch.messages()) {
      CFEMU_CO_RETURN_IF_ERROR(
          co_await core::SleepFor(env.runtime(), env.clock(), core::Seconds(2)));  // Virtual.
      message.Ack();
    }
    co_return core::Status::Ok();
  };
  spec.consumers.push_back(consumer);
  emulator::World world(sim, spec);
  auto producer = *world.EnvFor("producer").Queue("JOBS");
  platform::Json body = {{"to", "a@b.c"}};
  auto sent = sim.Run(producer->Send(std::move(body)));
  const core::Status idle = sim.RunUntilIdle();

  ASSERT_TRUE(sent.ok());
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(world.queues().Find("jobs")->stats().acked, 1);
  EXPECT_EQ(sim.now(), core::kVirtualEpoch + core::Seconds(5) + core::Seconds(2));
}

}  // namespace
