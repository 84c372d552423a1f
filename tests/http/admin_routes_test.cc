// The engine admin API and run-until-idle over real loopback sockets, on what `cfemu serve
// --virtual-time` runs (ServeApp with the compiled-in fixture): jobs added over the admin API
// are consumed by the engine's push consumer, and the test moves the clock, so nothing waits.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

constexpr char kAdmin[] = "/admin/v1/queues/jobs";

// The queue's path, to append to. Out of line: GCC 12 at -O2 reports a false array-bounds
// error for appends to an inlined std::string(kAdmin) temporary.
[[gnu::noinline]] std::string AdminPath() { return kAdmin; }

class AdminApi : public ::testing::Test {
 protected:
  // Starts the server: the engine's processor behaves as `processors` say (scenario format).
  void Start(Json processors = Json::object(), std::size_t trace_tail = 10'000) {
    emulator::ServeAppOptions options;
    options.virtual_time = true;
    options.trace_tail = trace_tail;
    auto parsed = emulator::ParseProcessors(processors, "processors");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    options.processors = *parsed;
    server_ = std::make_unique<TestServer>(std::move(options));
    client_ = std::make_unique<Client>(server_->port());
  }

  Json Ok(const ClientResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json.is_object() ? r.json["result"] : Json();
  }
  Json Get(const std::string& path) { return Ok(client_->Get(path)); }
  Json Post(const std::string& path, const Json& body = Json::object()) {
    return Ok(client_->Post(path, body));
  }
  Json Add(const Json& job) { return Post(AdminPath() + "/jobs", job); }
  Json Job(const std::string& id) { return Get(AdminPath() + "/jobs/" + id); }
  Json RunUntilIdle(std::int64_t max_ms = 24LL * 3600 * 1000) {
    return Post("/admin/v1/time/run-until-idle", {{"max_ms", max_ms}});
  }
  std::int64_t Count(const std::string& state) {
    return Get(kAdmin)["counts"][state].get<std::int64_t>();
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(AdminApi, AnAddedJobRunsOnTheEnginesPushConsumerOnceTimeRunsUntilIdle) {
  Start();
  const Json added =
      Add({{"name", "email"}, {"data", {{"to", "a@b.c"}}}, {"opts", {{"jobId", "j1"}}}});
  EXPECT_EQ(added["id"], "j1");
  EXPECT_EQ(added["state"], "waiting");
  EXPECT_TRUE(added["isNew"]);
  const Json idle = RunUntilIdle();
  EXPECT_TRUE(idle["idle"]);
  // The fixture's batch window is 5 s: the clock moved to it, and no further.
  EXPECT_EQ(idle["now_ms"], core::kVirtualEpoch.unix_ms() + 5'000);
  const Json detail = Job("j1");
  EXPECT_EQ(detail["job"]["state"], "completed");
  EXPECT_EQ(detail["job"]["returnvalue"], Json({{"ok", true}}));
  EXPECT_EQ(detail["job"]["attemptsMade"], 1);
  std::vector<std::string> events;
  for (const Json& e : detail["events"]) events.push_back(e["event"]);
  EXPECT_EQ(events, (std::vector<std::string>{"added", "waiting", "active", "completed"}));
  EXPECT_EQ(Count("completed"), 1);
}

TEST_F(AdminApi, AnAddWithTheSameJobIdReturnsTheExistingJob) {
  Start();
  Add({{"name", "a"}, {"opts", {{"jobId", "same"}}}});
  const Json again = Add({{"name", "b"}, {"opts", {{"jobId", "same"}}}});
  EXPECT_FALSE(again["isNew"]);
  EXPECT_EQ(again["name"], "a");
  EXPECT_EQ(Count("waiting"), 1);
}

TEST_F(AdminApi, ProcessorsFromTheScenarioFormatFailRetryAndTakeTheirTime) {
  Start({{"flaky", {{"duration_ms", 2000}, {"fail", {{"attempts", {1}}}}, {"fail_message", "x"}}}});
  Add({{"name", "flaky"},
       {"opts",
        {{"jobId", "f"}, {"attempts", 3}, {"backoff", {{"type", "fixed"}, {"delay", 60000}}}}}});
  RunUntilIdle();
  const Json job = Job("f")["job"];
  EXPECT_EQ(job["state"], "completed");
  EXPECT_EQ(job["attemptsMade"], 2);
  EXPECT_EQ(job["stacktrace"].size(), 1u);
  // Two runs of 2 s, a 60 s backoff between them.
  EXPECT_GE(job["finishedOn"].get<std::int64_t>() - job["timestamp"].get<std::int64_t>(), 64'000);
}

TEST_F(AdminApi, APausedQueueKeepsItsJobsUntilResumed) {
  Start();
  EXPECT_TRUE(Post(AdminPath() + "/pause")["paused"]);
  Add({{"name", "held"}, {"opts", {{"jobId", "h"}}}});
  RunUntilIdle();
  EXPECT_EQ(Count("paused"), 1);
  EXPECT_EQ(Job("h")["job"]["attemptsMade"], 0);
  EXPECT_FALSE(Post(AdminPath() + "/resume")["paused"]);
  RunUntilIdle();
  EXPECT_EQ(Job("h")["job"]["state"], "completed");
}

TEST_F(AdminApi, ADelayedJobIsPromotedOrWaitedForOnVirtualTime) {
  Start();
  Add({{"name", "later"}, {"opts", {{"jobId", "d1"}, {"delay", 600'000}}}});
  Add({{"name", "later"}, {"opts", {{"jobId", "d2"}, {"delay", 600'000}}}});
  EXPECT_EQ(Job("d1")["job"]["state"], "delayed");
  EXPECT_TRUE(Post(AdminPath() + "/jobs/d1/promote")["promoted"]);
  const Json short_run = RunUntilIdle(60'000);
  EXPECT_FALSE(short_run["idle"]);  // d2 is still ten minutes away.
  EXPECT_EQ(short_run["now_ms"], core::kVirtualEpoch.unix_ms() + 60'000);
  EXPECT_EQ(Job("d1")["job"]["state"], "completed");
  EXPECT_EQ(Job("d2")["job"]["state"], "delayed");
  EXPECT_TRUE(RunUntilIdle()["idle"]);
  const Json d2 = Job("d2")["job"];
  EXPECT_EQ(d2["state"], "completed");
  EXPECT_GE(d2["processedOn"].get<std::int64_t>(), core::kVirtualEpoch.unix_ms() + 600'000);
}

TEST_F(AdminApi, JobsListByStateWithPagesSearchAndCursor) {
  Start();
  Post(AdminPath() + "/pause");
  Json jobs = Json::array();
  for (int i = 0; i < 5; ++i) {
    jobs.push_back({{"name", i % 2 ? "odd" : "even"},
                    {"data", {{"n", i}, {"tag", i == 3 ? "needle" : "hay"}}},
                    {"opts", {{"jobId", "job-" + std::to_string(i)}}}});
  }
  EXPECT_EQ(Post(AdminPath() + "/jobs", {{"jobs", jobs}}).size(), 5u);
  const std::string list = AdminPath() + "/jobs?state=waiting";
  const ClientResponse page = client_->Get(list + "&start=0&end=1");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.json["result"].size(), 2u);
  EXPECT_EQ(page.json["result"][0]["id"], "job-0");
  EXPECT_EQ(page.json["result_info"]["count"], 2);
  const Json cursor = page.json["result_info"]["cursor"];
  ASSERT_TRUE(cursor.is_string());
  const Json next = Get(list + "&end=1&cursor=" + cursor.get<std::string>());
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0]["id"], "job-2");
  EXPECT_EQ(Get(list + "&name=odd").size(), 2u);
  const Json found = Get(list + "&search=needle");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["id"], "job-3");
  EXPECT_EQ(Get(list + "&id_prefix=job-4").size(), 1u);
  EXPECT_TRUE(Get(AdminPath() + "/jobs?state=completed").empty());
}

TEST_F(AdminApi, FailedJobsAreRetriedOneOrAllAndFinishedOnesCleaned) {
  Start({{"doomed", {{"duration_ms", 0}, {"unrecoverable", {{"attempts", {1}}}}}}});
  Add({{"name", "doomed"}, {"opts", {{"jobId", "x"}}}});
  Add({{"name", "doomed"}, {"opts", {{"jobId", "y"}}}});
  RunUntilIdle();
  EXPECT_EQ(Count("failed"), 2);
  const Json retried = Post(AdminPath() + "/jobs/x/retry");
  EXPECT_EQ(retried["state"], "waiting");
  EXPECT_EQ(retried["epoch"], 1);
  RunUntilIdle();  // Attempt 1 of the new epoch fails again, as the rule says.
  EXPECT_EQ(Job("x")["job"]["state"], "failed");
  EXPECT_EQ(Post(AdminPath() + "/retry-jobs", {{"state", "failed"}})["retried"], 2);
  RunUntilIdle();
  const Json cleaned =
      Post(AdminPath() + "/clean", {{"grace_ms", 0}, {"limit", 10}, {"state", "failed"}});
  EXPECT_EQ(cleaned["removed"].size(), 2u);
  EXPECT_EQ(client_->Get(AdminPath() + "/jobs/x").status, 404);
}

TEST_F(AdminApi, RemoveDeletesAJobAndActiveJobsNeedForce) {
  Start({{"slow", {{"duration_ms", 600'000}}}});
  Add({{"name", "slow"}, {"opts", {{"jobId", "s"}}}});
  Add({{"name", "plain"}, {"opts", {{"jobId", "p"}, {"delay", 3'600'000}}}});
  EXPECT_TRUE(Ok(client_->Request("DELETE", AdminPath() + "/jobs/p"))["removed"]);
  EXPECT_FALSE(Ok(client_->Request("DELETE", AdminPath() + "/jobs/p"))["removed"]);
  Post("/admin/v1/time/advance", {{"ms", 10'000}});
  ASSERT_EQ(Job("s")["job"]["state"], "active");
  EXPECT_EQ(client_->Request("DELETE", AdminPath() + "/jobs/s").status, 400);
  EXPECT_TRUE(Ok(client_->Request("DELETE", AdminPath() + "/jobs/s?force=true"))["removed"]);
  RunUntilIdle();
  EXPECT_EQ(client_->Get(AdminPath() + "/jobs/s").status, 404);
}

TEST_F(AdminApi, ASchedulerFiresEverySlotUpToItsLimit) {
  Start();
  const Json put =
      Ok(client_->Request("PUT", AdminPath() + "/schedulers/tick",
                          Json({{"repeat", {{"every_ms", 60'000}, {"limit", 3}}},
                                {"template", {{"name", "report"}, {"data", {{"kind", "daily"}}}}}})
                              .dump()));
  EXPECT_EQ(put["scheduler"]["id"], "tick");
  EXPECT_EQ(put["scheduler"]["every"], 60'000);
  EXPECT_TRUE(put["next_job"].is_object());
  EXPECT_TRUE(RunUntilIdle()["idle"]);
  const Json info = Get(AdminPath() + "/schedulers/tick");
  EXPECT_EQ(info["iterationCount"], 3);
  EXPECT_EQ(Get(AdminPath() + "/schedulers").size(), 1u);
  EXPECT_EQ(Count("completed"), 3);
  EXPECT_TRUE(Ok(client_->Request("DELETE", AdminPath() + "/schedulers/tick"))["removed"]);
  EXPECT_EQ(client_->Get(AdminPath() + "/schedulers/tick").status, 404);
}

TEST_F(AdminApi, AForeignMessageIsQuarantinedAndListedWithTheDeadLetters) {
  Start();
  const std::string jobs = QueuesPath("/" + server_->QueueId("jobs"));
  ASSERT_EQ(client_->Post(jobs + "/messages", {{"body", {{"not", "an envelope"}}}}).status, 200);
  RunUntilIdle();
  const Json letters = Get(AdminPath() + "/dead-letters");
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["source"], "quarantine");
  EXPECT_EQ(letters[0]["outcome"], "quarantined");
}

TEST_F(AdminApi, ADeadLetteredJobIsRedrivenAndCompletes) {
  Start();
  // Delivery on the Cloudflare queue is paused: the job's envelope waits there.
  const std::string queue = QueuesPath("/" + server_->QueueId("jobs"));
  ASSERT_EQ(client_->Request("PATCH", queue, R"({"settings": {"delivery_paused": true}})").status,
            200);
  const Json job = Add({{"name", "lost"}, {"opts", {{"jobId", "dl"}}}});
  // The same envelope reaches the dead letter queue, as after max_retries infrastructure
  // failures.
  const std::string dlq = QueuesPath("/" + server_->QueueId("jobs-dlq"));
  const Json envelope = {
      {"p", "cfq/1"}, {"q", "jobs"}, {"id", "dl"}, {"gen", job["gen"]}, {"at", job["availableAt"]}};
  ASSERT_EQ(client_->Post(dlq + "/messages", {{"body", envelope}}).status, 200);
  RunUntilIdle();
  Json failed = Job("dl")["job"];
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_TRUE(failed["deadLettered"]);
  EXPECT_EQ(Get(AdminPath() + "/dead-letters")[0]["outcome"], "dead-lettered");
  EXPECT_EQ(client_->Post(AdminPath() + "/dead-letters/redrive", Json::object()).status, 400);
  EXPECT_EQ(Post(AdminPath() + "/dead-letters/redrive", {{"ids", {"dl"}}})["redriven"], 1);
  ASSERT_EQ(client_->Request("PATCH", queue, R"({"settings": {"delivery_paused": false}})").status,
            200);
  RunUntilIdle();
  EXPECT_EQ(Job("dl")["job"]["state"], "completed");
  EXPECT_EQ(Get(AdminPath() + "/dead-letters")[0]["outcome"], "redriven");
}

TEST_F(AdminApi, QueuesAreListedWithZeroFilledCountsAndConfiguredByPut) {
  Start();
  EXPECT_TRUE(Get("/admin/v1/queues").empty());
  const Json put =
      Ok(client_->Request("PUT", "/admin/v1/queues/emails", Json({{"maxStalledCount", 2}}).dump()));
  EXPECT_EQ(put["config"]["maxStalledCount"], 2);
  Add({{"name", "x"}});
  const Json list = Get("/admin/v1/queues");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "emails");
  EXPECT_EQ(list[0]["counts"]["failed"], 0);
  EXPECT_EQ(list[1]["name"], "jobs");
  EXPECT_EQ(list[1]["counts"]["waiting"], 1);
}

TEST_F(AdminApi, BadRequestsGetTheirErrorAndChangeNothing) {
  Start();
  const std::string jobs = AdminPath() + "/jobs";
  for (const auto& [path, body] : std::vector<std::pair<std::string, Json>>{
           {jobs, {{"data", 1}}},                                   // No name.
           {jobs, {{"name", "x"}, {"opts", {{"nope", 1}}}}},        // Unknown option.
           {jobs, {{"name", "x"}, {"opts", {{"attempts", "3"}}}}},  // Wrong type.
           {jobs, {{"jobs", Json::array()}}},                       // Empty bulk.
           {"/admin/v1/queues/bad%20name/jobs", {{"name", "x"}}},   // Queue name.
           {AdminPath() + "/clean", {{"state", "nowhere"}}},
           {AdminPath() + "/retry-jobs", {{"count", 0}}}}) {
    const ClientResponse r = client_->Post(path, body);
    EXPECT_EQ(r.status, 400) << path << " " << body.dump() << ": " << r.body;
    EXPECT_EQ(r.error_code(), 10001) << r.body;
  }
  EXPECT_EQ(client_->Get(jobs + "?state=sideways").status, 400);
  EXPECT_EQ(client_->Get(jobs + "?start=5&end=2").status, 400);
  EXPECT_EQ(client_->Get(jobs + "/missing").status, 404);
  EXPECT_EQ(client_->Request("POST", jobs, "{truncated").status, 400);
  EXPECT_EQ(Get("/admin/v1/queues").size(), 0u);  // Nothing was opened or added.
}

TEST_F(AdminApi, TheTraceTailNumbersLinesAndSaysWhenSomeWereDropped) {
  Start(Json::object(), /*trace_tail=*/20);
  Add({{"name", "traced"}});
  RunUntilIdle();
  const Json all = Get("/admin/v1/trace?limit=1000");
  EXPECT_TRUE(all["dropped"]);  // Many more than 20 lines since the migration.
  ASSERT_EQ(all["events"].size(), 20u);
  const std::int64_t last = all["last"];
  const Json tail = Get("/admin/v1/trace?after=" + std::to_string(last - 3));
  EXPECT_FALSE(tail["dropped"]);
  ASSERT_EQ(tail["events"].size(), 3u);
  EXPECT_EQ(tail["events"][2], all["events"][19]);
  EXPECT_TRUE(tail["events"][0].contains("ev"));
  EXPECT_TRUE(Get("/admin/v1/trace?after=" + std::to_string(last))["events"].empty());
}

TEST_F(AdminApi, TheAdminApiNeedsTheTokenWhenOneIsSet) {
  emulator::ServeAppOptions options;
  options.virtual_time = true;
  options.token = "secret";
  server_ = std::make_unique<TestServer>(std::move(options));
  client_ = std::make_unique<Client>(server_->port());
  EXPECT_EQ(client_->Get("/admin/v1/queues").status, 403);
  EXPECT_EQ(client_->Post("/admin/v1/time/run-until-idle", Json::object()).status, 403);
  EXPECT_EQ(client_->Get("/admin/v1/queues", {{"Authorization", "Bearer secret"}}).status, 200);
}

TEST_F(AdminApi, OnlyTheQueuesBoundToTheEngineGetItsConsumersOthersArePullOnly) {
  emulator::ServeAppOptions options;
  options.virtual_time = true;
  options.config_text = R"({
    "name": "w",
    "queues": {
      "producers": [{"queue": "jobs", "binding": "JOBS"}, {"queue": "mail", "binding": "MAIL"}],
      "consumers": [{"queue": "jobs", "dead_letter_queue": "jobs-dlq"}, {"queue": "jobs-dlq"},
                    {"queue": "mail"}]
    },
    "d1_databases": [{"binding": "DB", "database_name": "jobs"}],
    "durable_objects": {"bindings": [{"name": "COORDINATOR", "class_name": "Coordinator"}]},
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Coordinator"]}]
  })";
  server_ = std::make_unique<TestServer>(std::move(options));
  client_ = std::make_unique<Client>(server_->port());
  Add({{"name", "x"}, {"opts", {{"jobId", "e"}}}});
  const std::string mail = QueuesPath("/" + server_->QueueId("mail"));
  ASSERT_EQ(client_->Post(mail + "/messages", {{"body", "hello"}}).status, 200);
  RunUntilIdle();
  EXPECT_EQ(Job("e")["job"]["state"], "completed");  // jobs: the engine's push consumer.
  const ClientResponse pulled = client_->Post(mail + "/messages/pull", Json::object());
  ASSERT_EQ(pulled.status, 200) << pulled.body;  // mail: an http_pull consumer, untouched.
  EXPECT_EQ(pulled.json["result"]["messages"].size(), 1u);
  const std::string jobs = QueuesPath("/" + server_->QueueId("jobs"));
  EXPECT_EQ(client_->Post(jobs + "/messages/pull", Json::object()).status, 400);
}

TEST_F(AdminApi, WithoutTheEnginesBindingsTheWorkerConsumersArePulledAndNoAdminRouteExists) {
  emulator::ServeAppOptions options;
  options.virtual_time = true;
  options.config_text = R"({"name": "w", "queues": {"consumers": [{"queue": "work"}]}})";
  auto app_check = std::make_unique<TestServer>(options);
  Client client(app_check->port());
  EXPECT_EQ(client.Get("/admin/v1/queues").status, 404);
  const std::string work = QueuesPath("/" + app_check->QueueId("work"));
  ASSERT_EQ(client.Post(work + "/messages", {{"body", 1}}).status, 200);
  const ClientResponse pulled = client.Post(work + "/messages/pull", Json::object());
  ASSERT_EQ(pulled.status, 200) << pulled.body;
  EXPECT_EQ(pulled.json["result"]["messages"].size(), 1u);
}

}  // namespace
}  // namespace cfemu::testing
