// What REST calls change survives a restart on the same persistence directory: queues and
// consumers with their settings and messages, D1 databases with their tables, KV namespaces with
// their values, deletions and updates of configured resources (World + catalog.sqlite).
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "src/core/ids.h"
#include "tests/http/http_testing.h"
#include "tests/testing/test_dir.h"

namespace cfemu::testing {
namespace {

std::string D1Path(const std::string& suffix = "") {
  return "/client/v4/accounts/acc/d1/database" + suffix;
}

std::string KvPath(const std::string& suffix = "") {
  return "/client/v4/accounts/acc/storage/kv/namespaces" + suffix;
}

std::string QueuePath(const std::string& name, const std::string& suffix = "") {
  return QueuesPath("/" + core::DeriveHexId("queue", name) + suffix);
}

// One World after another on the same directory; each test's "before" runs on the first.
class HttpPersistence : public ::testing::Test {
 protected:
  HttpPersistence() { Restart(); }

  // Stops the server and its World (as a process that exits), then starts new ones.
  void Restart() {
    client_.reset();
    server_.reset();
    emulator::WorldOptions options;
    options.persist_dir = dir_.path();
    server_ = std::make_unique<TestServer>(PullQueueSpec(), emulator::RestOptions{},
                                           emulator::HttpServerOptions{}, false, options);
    client_ = std::make_unique<Client>(server_->port());
  }
  Client& client() { return *client_; }
  Json Put(const std::string& target, const Json& body) {
    return OkResult(client_->Request("PUT", target, body.dump()));
  }
  Json Query(const std::string& database, const std::string& sql) {
    return OkResult(client_->Post(D1Path("/" + database + "/query"), {{"sql", sql}}));
  }

  ScopedTestDir dir_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(HttpPersistence, RestCreatedQueueKeepsItsConsumerSettingsAndMessages) {
  const Json queue =
      OkResult(client().Post(QueuesPath(), {{"queue_name", "emails"},
                                            {"settings", {{"message_retention_period", 7200}}}}));
  const Json consumer = OkResult(client().Post(
      QueuePath("emails", "/consumers"),
      {{"type", "http_pull"},
       {"dead_letter_queue", "emails-dead"},
       {"settings", {{"batch_size", 7}, {"max_retries", 4}, {"visibility_timeout_ms", 5000}}}}));
  for (const char* body : {"first", "second"}) {
    OkResult(client().Post(QueuePath("emails", "/messages"),
                           {{"body", body}, {"content_type", "text"}}));
  }
  Restart();
  const Json after = OkResult(client().Get(QueuePath("emails")));
  EXPECT_EQ(after["queue_id"], queue["queue_id"]);
  EXPECT_EQ(after["settings"]["message_retention_period"], 7200);
  const Json consumers = OkResult(client().Get(QueuePath("emails", "/consumers")));
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0]["consumer_id"], consumer["consumer_id"]);
  EXPECT_EQ(consumers[0]["dead_letter_queue"], "emails-dead");
  EXPECT_EQ(consumers[0]["settings"], consumer["settings"]);
  EXPECT_EQ(client().Get(QueuePath("emails-dead")).status, 200);
  const Json pulled =
      OkResult(client().Post(QueuePath("emails", "/messages/pull"), {{"batch_size", 10}}));
  ASSERT_EQ(pulled["messages"].size(), 2u);
  EXPECT_EQ(pulled["messages"][0]["body"], "first");
  EXPECT_EQ(pulled["messages"][1]["body"], "second");
}

TEST_F(HttpPersistence, RestCreatedD1DatabaseKeepsItsIdAndTables) {
  const Json created = OkResult(client().Post(D1Path(), {{"name", "reports"}}));
  const std::string id = created["uuid"];
  Query(id, "CREATE TABLE totals(day TEXT, n INTEGER); INSERT INTO totals VALUES ('mon', 3)");
  Restart();
  const Json after = OkResult(client().Get(D1Path("/" + id)));
  EXPECT_EQ(after["name"], "reports");
  EXPECT_EQ(after["created_at"], created["created_at"]);
  const Json rows = Query(id, "SELECT day, n FROM totals")[0]["results"];
  EXPECT_EQ(rows, Json::parse(R"([{"day":"mon","n":3}])"));
}

TEST_F(HttpPersistence, RestCreatedKvNamespaceKeepsItsIdTitleAndValues) {
  const Json created = OkResult(client().Post(KvPath(), {{"title", "sessions"}}));
  const std::string values = KvPath("/" + created["id"].get<std::string>() + "/values/");
  OkResult(client().Request("PUT", values + "alice", "logged-in",
                            {{"Content-Type", "application/octet-stream"}}));
  Put(KvPath("/" + created["id"].get<std::string>()), {{"title", "user-sessions"}});
  Restart();
  EXPECT_EQ(OkResult(client().Get(KvPath("/" + created["id"].get<std::string>())))["title"],
            "user-sessions");
  const ClientResponse value = client().Get(values + "alice");
  EXPECT_EQ(value.status, 200);
  EXPECT_EQ(value.body, "logged-in");
}

TEST_F(HttpPersistence, DeletedConfiguredQueueStaysDeleted) {
  OkResult(client().Request("DELETE", QueuePath("jobs")));
  Restart();
  EXPECT_EQ(client().Get(QueuePath("jobs")).status, 404);
  const Json queues = OkResult(client().Get(QueuesPath()));
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0]["queue_name"], "plain");
}

TEST_F(HttpPersistence, RecreatedConfiguredQueueComesBackWithoutTheConfiguredConsumer) {
  OkResult(client().Request("DELETE", QueuePath("jobs")));
  OkResult(client().Post(QueuesPath(), {{"queue_name", "jobs"}}));
  OkResult(client().Post(QueuePath("jobs", "/messages"), {{"body", 1}}));
  Restart();
  EXPECT_TRUE(OkResult(client().Get(QueuePath("jobs", "/consumers"))).empty());
  EXPECT_EQ(OkResult(client().Get(QueuePath("jobs", "/metrics")))["backlog_count"], 1);
}

TEST_F(HttpPersistence, UpdatedSettingsOfAConfiguredQueueAndConsumerStayUpdated) {
  Put(QueuePath("jobs"),
      {{"settings", {{"message_retention_period", 3600}, {"delivery_paused", true}}}});
  const std::string consumer_id =
      OkResult(client().Get(QueuePath("jobs", "/consumers")))[0]["consumer_id"];
  const std::string consumer = QueuePath("jobs", "/consumers/" + consumer_id);
  Put(consumer, {{"settings", {{"max_retries", 9}, {"batch_size", 3}}}});
  Restart();
  const Json queue = OkResult(client().Get(QueuePath("jobs")));
  EXPECT_EQ(queue["settings"]["message_retention_period"], 3600);
  EXPECT_EQ(queue["settings"]["delivery_paused"], true);
  const Json settings = OkResult(client().Get(consumer))["settings"];
  EXPECT_EQ(settings["max_retries"], 9);
  EXPECT_EQ(settings["batch_size"], 3);
}

TEST_F(HttpPersistence, ARemovedConsumerKeepsTheIdsOfTheConsumersAfterIt) {
  const std::string consumers = QueuePath("plain", "/consumers");
  const Json first = OkResult(client().Post(consumers, {{"type", "http_pull"}}));
  const Json second = OkResult(client().Post(consumers, {{"type", "http_pull"}}));
  OkResult(client().Request("DELETE", consumers + "/" + first["consumer_id"].get<std::string>()));
  Restart();
  const Json after = OkResult(client().Get(consumers));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["consumer_id"], second["consumer_id"]);
}

TEST_F(HttpPersistence, DeletedRestResourcesStayDeletedAndTheirNamesStartEmpty) {
  const std::string db = OkResult(client().Post(D1Path(), {{"name", "scratch"}}))["uuid"];
  Query(db, "CREATE TABLE t(a)");
  const std::string ns = OkResult(client().Post(KvPath(), {{"title", "scratch"}}))["id"];
  OkResult(client().Request("PUT", KvPath("/" + ns + "/values/k"), "v",
                            {{"Content-Type", "application/octet-stream"}}));
  OkResult(client().Post(QueuesPath(), {{"queue_name", "scratch"}}));
  OkResult(client().Request("DELETE", D1Path("/" + db)));
  OkResult(client().Request("DELETE", KvPath("/" + ns)));
  OkResult(client().Request("DELETE", QueuePath("scratch")));
  Restart();
  EXPECT_EQ(client().Get(D1Path("/" + db)).status, 404);
  EXPECT_EQ(client().Get(KvPath("/" + ns)).status, 404);
  EXPECT_EQ(client().Get(QueuePath("scratch")).status, 404);
  EXPECT_EQ(OkResult(client().Post(D1Path(), {{"name", "scratch"}}))["uuid"], db);
  EXPECT_EQ(client().Post(D1Path("/" + db + "/query"), {{"sql", "SELECT * FROM t"}}).status, 400);
  EXPECT_EQ(OkResult(client().Post(KvPath(), {{"title", "scratch"}}))["id"], ns);
  EXPECT_EQ(client().Get(KvPath("/" + ns + "/values/k")).status, 404);
}

}  // namespace
}  // namespace cfemu::testing
