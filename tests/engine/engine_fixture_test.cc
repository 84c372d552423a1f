// The public GoogleTest fixture (emulator/testing/engine_test.h): it builds its world from a
// wrangler.jsonc, names the queue its helpers act on, and fails a test whose run broke an
// invariant.
#include "emulator/testing/engine_test.h"

#include <gtest/gtest-spi.h>

namespace cfemu::testing {
namespace {

constexpr char kMailWorker[] = R"({
  "name": "mail",
  "queues": {
    "producers": [{ "queue": "mail", "binding": "MAIL" }],
    "consumers": [{ "queue": "mail", "dead_letter_queue": "mail-dlq" }, { "queue": "mail-dlq" }],
  },
  "d1_databases": [{ "binding": "STORE", "database_name": "mail-jobs" }],
  "durable_objects": { "bindings": [{ "name": "COORD", "class_name": "Coordinator" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Coordinator"] }],
  "triggers": { "crons": ["*/10 * * * *"] },
})";

EngineTestOptions MailOptions() {
  EngineTestOptions options;
  options.wrangler_text = kMailWorker;
  options.queue = "mail";
  options.bindings.d1 = "STORE";
  options.bindings.coordinator = "COORD";
  options.bindings.queue = "MAIL";
  return options;
}

// Runs the fixture's SetUp and TearDown by hand, so a test can watch what TearDown reports.
class ManualFixture : public EngineTest {
 public:
  explicit ManualFixture(EngineTestOptions options) : options_(std::move(options)) {}
  EngineTestOptions Options() const override { return options_; }
  void TestBody() override {}
  void Begin() { SetUp(); }
  void End() { TearDown(); }
  using EngineTest::Add;
  using EngineTest::ExpectQuiescentAtEnd;
  using EngineTest::RunUntilIdle;
  using EngineTest::world;

 private:
  EngineTestOptions options_;
};

class MailFixtureTest : public EngineTest {
 protected:
  EngineTestOptions Options() const override { return MailOptions(); }
};

TEST_F(MailFixtureTest, TheWorldIsBuiltFromTheWorkersOwnWranglerConfig) {
  EXPECT_EQ(world().queue_name(), "mail");
  const auto job = Add("notify", {{"user", 7}});
  RunUntilIdle();
  EXPECT_EQ(StateOf(job.id), engine::JobState::kCompleted);
  EXPECT_EQ(Counts()["completed"], 1);
  // The jobs live in the Worker's own D1 binding and its own coordinator runs the queue.
  EXPECT_EQ(world().QueryInt("SELECT count(*) FROM cfq_jobs WHERE queue = 'mail'"), 1);
  EXPECT_EQ(world().Coordinator().leases.size(), 0u);
  EXPECT_EQ(world().EventNames(job.id).back(), "completed");
  ExpectQuiescentAtEnd();
}

TEST(EngineTestFixture, TearDownFailsATestWhoseRunBrokeAnInvariant) {
  ManualFixture fixture(MailOptions());
  fixture.Begin();
  const auto job = fixture.Add("notify");
  fixture.RunUntilIdle();
  // Corrupt the row as a buggy engine would: more attempts made than allowed (INV-03).
  fixture.world().QueryInt("UPDATE cfq_jobs SET attempts_made = 9, attempts_started = 9 "
                           "WHERE id = '" + job.id + "' RETURNING 1");
  EXPECT_NONFATAL_FAILURE(fixture.End(), "INV-03");
}

TEST(EngineTestFixture, TearDownPassesAnUntouchedRun) {
  ManualFixture fixture(MailOptions());
  fixture.Begin();
  fixture.Add("notify");
  fixture.RunUntilIdle();
  fixture.ExpectQuiescentAtEnd();
  fixture.End();
  EXPECT_FALSE(::testing::Test::HasFailure());
}

TEST(EngineTestFixture, AnInvalidWranglerConfigIsReportedWithTheFieldAtFault) {
  EngineTestOptions options = MailOptions();
  options.wrangler_text = R"({"queues": {"consumers": [{"queue": 5}]}})";
  EXPECT_NONFATAL_FAILURE(
      {
        EngineWorld world(options);
        EXPECT_FALSE(world.ok());
      },
      "queue");
}

TEST(EngineTestFixture, AFaultPlanFileIsLoadedAsTheCliReadsIt) {
  auto missing = LoadFaultPlanFile("/nonexistent/plan.json");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("/nonexistent/plan.json"), std::string::npos);
}

}  // namespace
}  // namespace cfemu::testing
