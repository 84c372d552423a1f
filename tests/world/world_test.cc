// A World built from the wrangler.jsonc fixture: every binding reachable through an Env, the
// cron trigger wired to the Worker's scheduled handler, and persistence across a restart.
#include <filesystem>

#include <gtest/gtest.h>

#include "emulator/config/wrangler_config.h"
#include "src/platform/d1.h"
#include "src/platform/durable_object.h"
#include "src/platform/kv.h"
#include "tests/testing/queue_testing.h"
#include "tests/testing/test_dir.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using emulator::Simulator;
using emulator::World;

class Coordinator : public platform::DurableObject {
 public:
  using DurableObject::DurableObject;
  Task<Result<std::int64_t>> Bump() {
    auto current = co_await storage().Get("n");
    if (!current.ok()) co_return current.status();
    const std::int64_t next = (*current ? (*current)->get<std::int64_t>() : 0) + 1;
    Json value = next;
    CFEMU_CO_RETURN_IF_ERROR(co_await storage().Put("n", std::move(value)));
    co_return next;
  }
};

struct FixtureWorld {
  platform::DurableObjectRegistry registry;
  platform::EnvSpec spec;
  Recorder jobs;
  int scheduled_runs = 0;

  FixtureWorld() {
    registry.Register<Coordinator>("Coordinator");
    auto config = emulator::LoadWranglerConfig(emulator::DefaultWranglerConfig(), "wrangler.jsonc",
                                               &registry);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    spec = config->spec;
    for (auto& consumer : spec.consumers) consumer.handler = RecordingHandler(jobs);
    spec.scheduled = [this](platform::ScheduledController&, platform::Env&,
                            platform::ExecutionContext&) -> Task<Status> {
      ++scheduled_runs;
      co_return Status::Ok();
    };
  }
  emulator::WorldOptions Options(std::optional<std::filesystem::path> dir = std::nullopt) {
    emulator::WorldOptions options;
    options.registry = &registry;
    options.persist_dir = std::move(dir);
    return options;
  }
};

Task<Status> UseEveryBinding(platform::Env& env) {
  auto jobs = env.Queue("JOBS");
  if (!jobs.ok()) co_return jobs.status();
  Json body = {{"job", 1}};
  CFEMU_CO_RETURN_IF_ERROR((co_await (*jobs)->Send(std::move(body))).status());
  auto db = env.D1("DB");
  if (!db.ok()) co_return db.status();
  auto created = co_await (*db)->Prepare("CREATE TABLE jobs (id INTEGER PRIMARY KEY)").Run();
  CFEMU_CO_RETURN_IF_ERROR(created.status());
  auto inserted = co_await (*db)->Prepare("INSERT INTO jobs (id) VALUES (?)").Bind(7).Run();
  CFEMU_CO_RETURN_IF_ERROR(inserted.status());
  auto cache = env.Kv("CACHE");
  if (!cache.ok()) co_return cache.status();
  CFEMU_CO_RETURN_IF_ERROR(co_await (*cache)->Put("k", std::string("v")));
  auto coordinators = env.DurableObjects("COORDINATOR");
  if (!coordinators.ok()) co_return coordinators.status();
  auto stub = (*coordinators)->GetByName("main");
  auto bumped = co_await stub->Call(&Coordinator::Bump);
  co_return bumped.status();
}

TEST(World, TheWranglerFixtureBuildsAWorkingEnv) {
  Simulator sim(1);
  FixtureWorld fixture;
  auto world = World::Create(sim, fixture.spec, fixture.Options());
  ASSERT_TRUE(world.ok()) << world.status().ToString();
  platform::Env& env = (*world)->EnvFor("test");
  EXPECT_TRUE(sim.Run(UseEveryBinding(env)).ok());
  ASSERT_TRUE(sim.RunFor(core::Minutes(3)).ok());
  EXPECT_EQ(fixture.jobs.seen.size(), 1u);
  EXPECT_GE(fixture.scheduled_runs, 2);  // "* * * * *" fires every minute.
  EXPECT_EQ(env.D1("NOPE").code(), core::Code::kNotFound);
  EXPECT_EQ(env.Kv("NOPE").code(), core::Code::kNotFound);
  EXPECT_EQ(env.DurableObjects("NOPE").code(), core::Code::kNotFound);
}

TEST(World, AnUnregisteredClassIsAnError) {
  Simulator sim(1);
  FixtureWorld fixture;
  platform::DurableObjectRegistry empty;
  emulator::WorldOptions options;
  options.registry = &empty;
  auto world = World::Create(sim, fixture.spec, options);
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.status().message().find("Coordinator"), std::string::npos);
}

TEST(World, EveryServiceKeepsItsStateInThePersistenceDirectory) {
  ScopedTestDir scoped;
  const auto dir = scoped.path();
  {
    Simulator sim(1);
    FixtureWorld fixture;
    World world(sim, fixture.spec, fixture.Options(dir));
    ASSERT_TRUE(sim.Run(UseEveryBinding(world.EnvFor("test"))).ok());
    ASSERT_TRUE(sim.RunFor(Seconds(10)).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "d1"));
  EXPECT_TRUE(std::filesystem::exists(dir / "kv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "do" / "Coordinator"));
  {
    Simulator sim(2);
    FixtureWorld fixture;
    World world(sim, fixture.spec, fixture.Options(dir));
    platform::Env& env = world.EnvFor("test");
    auto rows = sim.Run((*env.D1("DB"))->Prepare("SELECT id FROM jobs").First("id"));
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_EQ(std::get<std::int64_t>(*rows), 7);
    auto value = sim.Run((*env.Kv("CACHE"))->Get("k"));
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(std::get<std::string>(**value), "v");
    auto stub = (*env.DurableObjects("COORDINATOR"))->GetByName("main");
    EXPECT_EQ(*sim.Run(stub->Call(&Coordinator::Bump)), 2);
  }
}

}  // namespace
}  // namespace cfemu::testing
