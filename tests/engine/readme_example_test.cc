// The job engine example of the README, compiled and run, so the README stays true.
#include <gtest/gtest.h>

#include "emulator/config/wrangler_config.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/engine/engine.h"

namespace {

using namespace cfemu;
using platform::Json;

TEST(EngineReadmeExample, AddsAJobThatFailsOnceAndCompletesOnItsRetry) {
  emulator::Simulator sim(/*seed=*/7);
  platform::DurableObjectRegistry registry;
  engine::EngineBindings bindings;                  // D1 "DB", DO "COORDINATOR", queue "JOBS".
  engine::RegisterCoordinator(registry, bindings);  // The coordinator Durable Object class.
  auto wrangler = emulator::LoadWranglerConfig(emulator::DefaultWranglerConfig(),
                                               "wrangler.jsonc", &registry);
  platform::EnvSpec spec = wrangler->spec;  // fixtures/wrangler.jsonc: queue, DLQ, D1, KV, DO, cron.
  engine::Consumer consumer(
      bindings, engine::EngineConfig(),
      [](engine::JobContext& ctx) -> core::Task<core::Result<Json>> {
        CFEMU_CO_RETURN_IF_ERROR(co_await ctx.UpdateProgress(Json(50)));
        CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Seconds(3)));  // Virtual seconds.
        if (ctx.attempt() == 1) co_return core::Status::Unavailable("SMTP timeout");
        co_return Json{{"sent", ctx.job().data["to"]}};
      },
      engine::ConsumerOptions(), core::Random(1));
  engine::DeadLetterConsumer dead_letters(bindings, engine::EngineConfig(),
                                          engine::DeadLetterOptions(), core::Random(2));
  for (auto& c : spec.consumers) {
    c.handler = c.queue == "jobs" ? consumer.Handler() : dead_letters.Handler();
  }
  spec.scheduled = engine::MakeSchedulerHandler(bindings, engine::EngineConfig(), core::Random(3));
  emulator::WorldOptions world_options;
  world_options.registry = &registry;
  auto world = emulator::World::Create(sim, spec, world_options);

  auto engine = engine::Engine::Create((*world)->EnvFor("producer"), bindings, core::Random(4));
  auto migrated = sim.Run(engine->Migrate());
  auto queue = sim.Run(engine->OpenQueue("emails"));
  engine::JobOptions options;
  options.attempts = 3;
  options.backoff = engine::Backoff("exponential", 1000);
  auto job = sim.Run(queue->Add("welcome", Json{{"to", "a@b.c"}}, options));
  core::Status idle = sim.RunUntilIdle();
  auto done = sim.Run(queue->GetJob(job->id));  // completed, {"sent": "a@b.c"}, 2 attempts.

  ASSERT_TRUE(wrangler.ok() && world.ok() && engine.ok() && migrated.ok() && queue.ok());
  ASSERT_TRUE(job.ok() && idle.ok() && done.ok() && done->has_value());
  const engine::Job& finished = **done;
  EXPECT_EQ(finished.state, engine::JobState::kCompleted);
  EXPECT_EQ(finished.returnvalue, (Json{{"sent", "a@b.c"}}));
  EXPECT_EQ(finished.progress, Json(50));
  EXPECT_EQ(finished.attempts_made, 2);
  EXPECT_EQ(finished.failed_reason, "SMTP timeout");  // The last failure stays on the row.
}

}  // namespace
