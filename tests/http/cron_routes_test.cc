// Manual cron triggers (checklist 76): /cdn-cgi/handler/scheduled and its aliases run the
// Worker's scheduled() handler once and answer its outcome as plain text or JSON.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/http/http_testing.h"
#include "tests/testing/test_dir.h"

namespace cfemu::testing {
namespace {

struct Seen {
  std::vector<std::string> crons;
  std::vector<std::int64_t> times;
};

core::Task<core::Status> Record(std::shared_ptr<Seen> seen, bool fail, std::string cron,
                                std::int64_t scheduled_ms) {
  seen->crons.push_back(std::move(cron));
  seen->times.push_back(scheduled_ms);
  co_return fail ? core::Status::Unknown("boom") : core::Status::Ok();
}

// A Worker with one cron whose handler records each run and fails when told to. The handler
// is a plain lambda that starts a coroutine taking everything by value: a coroutine lambda's
// captures would die with whichever copy of the std::function ran it.
platform::EnvSpec CronSpec(std::shared_ptr<Seen> seen, bool fail) {
  platform::EnvSpec spec = PullQueueSpec();
  spec.crons = {"7 * * * *"};  // Not due at the start: only manual runs happen.
  spec.scheduled = [seen, fail](platform::ScheduledController& controller, platform::Env&,
                                platform::ExecutionContext&) {
    return Record(seen, fail, controller.cron(), controller.scheduled_time().unix_ms());
  };
  return spec;
}

// What the handler saw, read on the server's thread (the handler runs there).
Seen Snapshot(TestServer& server, const std::shared_ptr<Seen>& seen) {
  Seen copy;
  server.OnLoop([&] { copy = *seen; });
  return copy;
}

TEST(HttpCronTrigger, RunsTheHandlerWithTheGivenCronAndTime) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  const ClientResponse r =
      client.Get("/cdn-cgi/handler/scheduled?cron=*%2F5+*+*+*+*&time=1767225900000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  const Seen after = Snapshot(server, seen);
  ASSERT_EQ(after.crons.size(), 1u);
  EXPECT_EQ(after.crons[0], "*/5 * * * *");
  EXPECT_EQ(after.times[0], 1767225900000);
}

TEST(HttpCronTrigger, AliasesAndJsonFormat) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  for (const char* path : {"/__scheduled", "/cdn-cgi/mf/scheduled", "/cdn-cgi/local/scheduled"}) {
    EXPECT_EQ(client.Request("POST", std::string(path) + "?cron=x").status, 200) << path;
  }
  const ClientResponse r = client.Get("/cdn-cgi/handler/scheduled?format=json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json, Json::parse(R"({"outcome":"ok","noRetry":false})"));
  const Seen after = Snapshot(server, seen);
  EXPECT_EQ(after.crons.size(), 4u);
  EXPECT_EQ(after.times.back(), core::kVirtualEpoch.unix_ms());  // Default: now.
}

TEST(HttpCronTrigger, AFailingHandlerAnswers500WithItsOutcome) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, true), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  const ClientResponse r = client.Get("/cdn-cgi/handler/scheduled");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "exception");
}

TEST(HttpCronTrigger, ABadTimeIs400) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  EXPECT_EQ(client.Get("/cdn-cgi/handler/scheduled?time=soon").status, 400);
  EXPECT_TRUE(Snapshot(server, seen).crons.empty());
}

TEST(HttpCronTrigger, NeedsNoTokenButTheApiDoes) {
  auto seen = std::make_shared<Seen>();
  emulator::RestOptions rest;
  rest.token = "t";
  TestServer server(CronSpec(seen, false), rest, {}, /*manual_time=*/true);
  Client client(server.port());
  EXPECT_EQ(client.Get("/cdn-cgi/handler/scheduled").status, 200);
  EXPECT_EQ(client.Get(QueuesPath()).status, 403);
}

// ---- Schedules REST (checklist 77) ----------------------------------------------------------

constexpr char kSchedules[] = "/client/v4/accounts/acc/workers/scripts/worker/schedules";

TEST(HttpCronSchedules, GetListsTheConfiguredCronsWithTheirTimes) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  const ClientResponse r = client.Get(kSchedules);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json schedules = r.json["result"]["schedules"];
  ASSERT_EQ(schedules.size(), 1u);
  EXPECT_EQ(schedules[0]["cron"], "7 * * * *");
  EXPECT_EQ(schedules[0]["created_on"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(schedules[0]["modified_on"], schedules[0]["created_on"]);
}

TEST(HttpCronSchedules, PutReplacesTheCronsAndOnlyTheNewOnesFire) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  server.AdvanceTime(core::Minutes(1));
  const ClientResponse put =
      client.Request("PUT", kSchedules, R"([{"cron": "*/10 * * * *"}, {"cron": "7 * * * *"}])");
  ASSERT_EQ(put.status, 200) << put.body;
  const Json schedules = put.json["result"]["schedules"];
  ASSERT_EQ(schedules.size(), 2u);
  EXPECT_EQ(schedules[0]["cron"], "*/10 * * * *");
  EXPECT_EQ(schedules[0]["created_on"], "2026-01-01T00:01:00.000Z");
  EXPECT_EQ(schedules[1]["created_on"], "2026-01-01T00:00:00.000Z");  // Kept.
  ASSERT_EQ(client.Request("PUT", kSchedules, R"([{"cron": "*/10 * * * *"}])").status, 200);
  // To 01:09: the last tick is at 01:00, and each later step lets queued handlers run.
  for (int minute = 0; minute < 68; ++minute) server.AdvanceTime(core::Minutes(1));
  const Seen after = Snapshot(server, seen);
  EXPECT_EQ(after.crons, std::vector<std::string>(6, "*/10 * * * *"));  // No "7 * * * *".
}

TEST(HttpCronSchedules, BadSchedulesAreRefusedAndChangeNothing) {
  auto seen = std::make_shared<Seen>();
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true);
  Client client(server.port());
  for (const char* body : {R"([{"cron": "61 * * * *"}])", R"([{"cron": "* * * * *"},
                           {"cron": "* * * * *"}])",
                           R"({"cron": "* * * * *"})", R"([{"c": 1}])", R"([1])", "[{"}) {
    const ClientResponse r = client.Request("PUT", kSchedules, body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_FALSE(r.json["success"]) << r.body;
  }
  EXPECT_EQ(client.Get(kSchedules).json["result"]["schedules"][0]["cron"], "7 * * * *");
  const ClientResponse other =
      client.Get("/client/v4/accounts/acc/workers/scripts/other/schedules");
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.error_code(), 10007);
}

// With a persistence directory, the crons a PUT set replace the configured ones after a
// restart, each with the time it was first set, and they tick; a Worker whose crons were all
// removed stays without any.
TEST(HttpCronSchedules, PutCronsSurviveARestartWithTheirCreationTimes) {
  auto seen = std::make_shared<Seen>();
  ScopedTestDir dir;
  emulator::WorldOptions world;
  world.persist_dir = dir.path();
  {
    TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true, world);
    Client client(server.port());
    server.AdvanceTime(core::Minutes(5));
    ASSERT_EQ(
        client.Request("PUT", kSchedules, R"([{"cron": "*/10 * * * *"}, {"cron": "7 * * * *"}])")
            .status,
        200);
  }
  {
    // The clock starts again at the virtual epoch: the creation times come from the catalog.
    TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true, world);
    Client client(server.port());
    const Json schedules = client.Get(kSchedules).json["result"]["schedules"];
    ASSERT_EQ(schedules.size(), 2u);
    EXPECT_EQ(schedules[0]["cron"], "*/10 * * * *");
    EXPECT_EQ(schedules[0]["created_on"], "2026-01-01T00:05:00.000Z");
    EXPECT_EQ(schedules[1]["cron"], "7 * * * *");
    EXPECT_EQ(schedules[1]["created_on"], "2026-01-01T00:00:00.000Z");
    // They tick: at 00:00 (the restart is on a slot of "*/10"), 00:07 and 00:10. To 00:19: the
    // steps after the last tick let its queued handler run (one step is not always enough).
    for (int minute = 0; minute < 19; ++minute) server.AdvanceTime(core::Minutes(1));
    EXPECT_EQ(Snapshot(server, seen).crons,
              (std::vector<std::string>{"*/10 * * * *", "7 * * * *", "*/10 * * * *"}));
    ASSERT_EQ(client.Request("PUT", kSchedules, "[]").status, 200);
  }
  TestServer server(CronSpec(seen, false), {}, {}, /*manual_time=*/true, world);
  Client client(server.port());
  EXPECT_EQ(client.Get(kSchedules).json["result"]["schedules"], Json::array());
  for (int minute = 0; minute < 19; ++minute) server.AdvanceTime(core::Minutes(1));
  EXPECT_EQ(Snapshot(server, seen).crons.size(), 3u);  // Nothing ran after the restart.
}

}  // namespace
}  // namespace cfemu::testing
