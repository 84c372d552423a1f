// The Queues REST API (cloudflare-platform.md §1.6-1.8): management, consumers, push, pull,
// ack/retry and purge, with production's field names.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "emulator/http/base64.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

class HttpQueues : public ::testing::Test {
 protected:
  HttpQueues() : client_(server_.port()), jobs_(QueuesPath("/" + server_.QueueId("jobs"))) {}

  Json Ok(const ClientResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json.value("success", false), true) << r.body;
    return r.json.is_object() ? r.json["result"] : Json();
  }
  Json Pull(int batch_size, const std::string& queue = "") {
    return Ok(client_.Post((queue.empty() ? jobs_ : queue) + "/messages/pull",
                           {{"batch_size", batch_size}}));
  }
  std::int64_t Backlog() {
    return Ok(client_.Get(jobs_ + "/metrics"))["backlog_count"].get<std::int64_t>();
  }

  TestServer server_;
  Client client_;
  std::string jobs_;
};

TEST_F(HttpQueues, ListReturnsTheConfiguredQueuesWithPageInfo) {
  const ClientResponse r = client_.Get(QueuesPath());
  const Json result = Ok(r);
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[0]["queue_name"], "jobs");
  EXPECT_EQ(result[0]["queue_id"], server_.QueueId("jobs"));
  EXPECT_EQ(result[0]["consumers_total_count"], 1);
  EXPECT_EQ(result[0]["consumers"][0]["type"], "http_pull");
  EXPECT_EQ(result[0]["settings"]["message_retention_period"], 345600);
  EXPECT_EQ(result[0]["settings"]["delivery_paused"], false);
  EXPECT_EQ(r.json["result_info"]["total_count"], 2);
  EXPECT_EQ(r.json["result_info"]["page"], 1);
}

TEST_F(HttpQueues, ListHonoursPageAndPerPage) {
  const ClientResponse r = client_.Get(QueuesPath("?page=2&per_page=1"));
  const Json result = Ok(r);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0]["queue_name"], "plain");
  EXPECT_EQ(r.json["result_info"]["total_pages"], 2);
}

TEST_F(HttpQueues, CreatedQueueCanBeFetchedByItsId) {
  const Json created = Ok(client_.Post(QueuesPath(), {{"queue_name", "emails"}}));
  EXPECT_EQ(created["queue_name"], "emails");
  const std::string id = created["queue_id"];
  EXPECT_EQ(id.size(), 32u);
  EXPECT_TRUE(created["created_on"].is_string());
  EXPECT_EQ(Ok(client_.Get(QueuesPath("/" + id)))["queue_name"], "emails");
}

TEST_F(HttpQueues, CreatingATakenNameIs409) {
  const ClientResponse r = client_.Post(QueuesPath(), {{"queue_name", "jobs"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.error_code(), 11009);
}

TEST_F(HttpQueues, CreatingAnInvalidNameIs400) {
  const ClientResponse r = client_.Post(QueuesPath(), {{"queue_name", "Not_Valid"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 10107);
}

TEST_F(HttpQueues, UpdateChangesSettingsAndPausesDelivery) {
  const Json updated = Ok(client_.Request(
      "PATCH", jobs_,
      Json{{"settings", {{"delivery_paused", true}, {"message_retention_period", 3600}}}}.dump()));
  EXPECT_EQ(updated["settings"]["delivery_paused"], true);
  EXPECT_EQ(updated["settings"]["message_retention_period"], 3600);
  Ok(client_.Post(jobs_ + "/messages", {{"body", "x"}, {"content_type", "text"}}));
  EXPECT_TRUE(Pull(10)["messages"].empty());
  Ok(client_.Request("PUT", jobs_, Json{{"settings", {{"delivery_paused", false}}}}.dump()));
  EXPECT_EQ(Pull(10)["messages"].size(), 1u);
}

TEST_F(HttpQueues, RenamingIsRefused) {
  const ClientResponse r = client_.Request("PUT", jobs_, Json{{"queue_name", "other"}}.dump());
  EXPECT_EQ(r.status, 400);
}

TEST_F(HttpQueues, DeletedQueueIs404With10104) {
  Ok(client_.Request("DELETE", jobs_));
  const ClientResponse r = client_.Get(jobs_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), 10104);
  EXPECT_EQ(Ok(client_.Get(QueuesPath())).size(), 1u);
}

TEST_F(HttpQueues, ConsumersCanBeCreatedListedUpdatedAndDeleted) {
  const std::string plain = QueuesPath("/" + server_.QueueId("plain"));
  const Json created = Ok(client_.Post(
      plain + "/consumers",
      {{"type", "http_pull"},
       {"dead_letter_queue", "plain-dlq"},
       {"settings", {{"batch_size", 7}, {"max_retries", 2}, {"visibility_timeout_ms", 5000}}}}));
  EXPECT_EQ(created["type"], "http_pull");
  EXPECT_EQ(created["dead_letter_queue"], "plain-dlq");
  EXPECT_EQ(created["settings"]["batch_size"], 7);
  EXPECT_EQ(created["settings"]["visibility_timeout_ms"], 5000);
  const std::string consumer = plain + "/consumers/" + created["consumer_id"].get<std::string>();
  EXPECT_EQ(Ok(client_.Get(plain + "/consumers")).size(), 1u);
  const Json updated =
      Ok(client_.Request("PUT", consumer, Json{{"settings", {{"max_retries", 9}}}}.dump()));
  EXPECT_EQ(updated["settings"]["max_retries"], 9);
  EXPECT_EQ(updated["settings"]["batch_size"], 7);
  EXPECT_EQ(Ok(client_.Get(consumer))["settings"]["max_retries"], 9);
  Ok(client_.Request("DELETE", consumer));
  EXPECT_EQ(client_.Get(consumer).status, 404);
  EXPECT_TRUE(Ok(client_.Get(plain + "/consumers")).empty());
  // The dead letter queue named by the consumer was created, as production does.
  EXPECT_EQ(Ok(client_.Get(QueuesPath())).size(), 3u);
}

TEST_F(HttpQueues, WorkerConsumersCannotBeCreatedOverRest) {
  const ClientResponse r =
      client_.Post(jobs_ + "/consumers", {{"type", "worker"}, {"script_name", "w"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 10207);
}

TEST_F(HttpQueues, PushedJsonIsPulledBase64EncodedWithItsLease) {
  const Json pushed = Ok(client_.Post(jobs_ + "/messages", {{"body", {{"n", 1}}}}));
  EXPECT_EQ(pushed["metadata"]["metrics"]["backlog_count"], 1);
  const Json pulled = Pull(5);
  EXPECT_EQ(pulled["message_backlog_count"], 1);
  ASSERT_EQ(pulled["messages"].size(), 1u);
  const Json& m = pulled["messages"][0];
  EXPECT_EQ(emulator::Base64Decode(m["body"].get<std::string>()), R"({"n":1})");
  EXPECT_EQ(m["attempts"], 1);
  EXPECT_EQ(m["id"].get<std::string>().size(), 32u);
  EXPECT_TRUE(m["timestamp_ms"].is_number_integer());
  EXPECT_TRUE(m["lease_id"].is_string());
  EXPECT_EQ(m["metadata"]["CF-Content-Type"], "json");
}

TEST_F(HttpQueues, TextIsPulledAsPlainText) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", "héllo"}, {"content_type", "text"}}));
  const Json m = Pull(1)["messages"][0];
  EXPECT_EQ(m["body"], "héllo");
  EXPECT_EQ(m["metadata"]["CF-Content-Type"], "text");
}

TEST_F(HttpQueues, BatchPushThenPullEveryMessage) {
  Json messages = Json::array();
  for (int i = 0; i < 10; ++i) messages.push_back({{"body", i}});
  const Json pushed = Ok(client_.Post(jobs_ + "/messages/batch", {{"messages", messages}}));
  EXPECT_EQ(pushed["metadata"]["metrics"]["backlog_count"], 10);
  EXPECT_EQ(Pull(100)["messages"].size(), 10u);
}

TEST_F(HttpQueues, DelayedMessagesAreNotPulledYet) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}, {"delay_seconds", 3600}}));
  Json batch = {{"messages", {{{"body", 2}}}}, {"delay_seconds", 3600}};
  Ok(client_.Post(jobs_ + "/messages/batch", batch));
  EXPECT_TRUE(Pull(10)["messages"].empty());
  EXPECT_EQ(Backlog(), 2);
}

TEST_F(HttpQueues, ConcurrentPullersGetDisjointMessages) {
  for (int i = 0; i < 4; ++i) Ok(client_.Post(jobs_ + "/messages", {{"body", i}}));
  Client other(server_.port());
  const Json a = Pull(2)["messages"];
  const Json b = Ok(other.Post(jobs_ + "/messages/pull", {{"batch_size", 10}}))["messages"];
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  std::set<std::string> ids;
  for (const Json* batch : {&a, &b}) {
    for (const auto& m : *batch) ids.insert(m["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(HttpQueues, AckRemovesMessagesAndUnknownLeasesOnlyWarn) {
  for (int i = 0; i < 2; ++i) Ok(client_.Post(jobs_ + "/messages", {{"body", i}}));
  const Json pulled = Pull(10)["messages"];
  Json acks = Json::array();
  for (const auto& m : pulled) acks.push_back({{"lease_id", m["lease_id"]}});
  acks.push_back({{"lease_id", "no-such-lease"}});
  const Json result = Ok(client_.Post(jobs_ + "/messages/ack", {{"acks", acks}}));
  EXPECT_EQ(result["ackCount"], 2);
  EXPECT_EQ(result["retryCount"], 0);
  EXPECT_TRUE(result["warnings"].contains("no-such-lease"));
  EXPECT_EQ(Backlog(), 0);
}

TEST_F(HttpQueues, UnknownLeasesChangeNothing) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json result =
      Ok(client_.Post(jobs_ + "/messages/ack",
                      {{"acks", {{{"lease_id", "x"}}}}, {"retries", {{{"lease_id", "y"}}}}}));
  EXPECT_EQ(result["ackCount"], 0);
  EXPECT_EQ(result["retryCount"], 0);
  EXPECT_EQ(result["warnings"].size(), 2u);
  EXPECT_EQ(Backlog(), 1);
  EXPECT_EQ(Pull(10)["messages"].size(), 1u);
}

TEST_F(HttpQueues, RetriedMessageComesBackWithTheNextAttempt) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull(1)["messages"][0];
  const Json result =
      Ok(client_.Post(jobs_ + "/messages/ack", {{"retries", {{{"lease_id", first["lease_id"]}}}}}));
  EXPECT_EQ(result["retryCount"], 1);
  const Json again = Pull(1)["messages"];
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["id"], first["id"]);
  EXPECT_EQ(again[0]["attempts"], 2);
}

TEST_F(HttpQueues, RetryWithDelayHoldsTheMessageBack) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull(1)["messages"][0];
  Ok(client_.Post(jobs_ + "/messages/ack",
                  {{"retries", {{{"lease_id", first["lease_id"]}, {"delay_seconds", 600}}}}}));
  EXPECT_TRUE(Pull(1)["messages"].empty());
  EXPECT_EQ(Backlog(), 1);
}

TEST_F(HttpQueues, PullFromAQueueWithoutAPullConsumerIs400) {
  const ClientResponse r =
      client_.Post(QueuesPath("/" + server_.QueueId("plain")) + "/messages/pull", Json::object());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 10207);
}

TEST_F(HttpQueues, PurgeDeletesEveryMessage) {
  for (int i = 0; i < 3; ++i) Ok(client_.Post(jobs_ + "/messages", {{"body", i}}));
  Ok(client_.Post(jobs_ + "/purge", {{"delete_messages_permanently", true}}));
  EXPECT_EQ(Backlog(), 0);
  const Json status = Ok(client_.Get(jobs_ + "/purge"));
  EXPECT_EQ(status["completed"], "true");
  EXPECT_TRUE(status["started_at"].is_string());
}

TEST_F(HttpQueues, PushToAQueueWithoutConsumersIsKeptForLater) {
  const std::string plain = QueuesPath("/" + server_.QueueId("plain"));
  Ok(client_.Post(plain + "/messages", {{"body", 1}}));
  EXPECT_EQ(Ok(client_.Get(plain + "/metrics"))["backlog_count"], 1);
  Ok(client_.Post(plain + "/consumers", {{"type", "http_pull"}}));
  EXPECT_EQ(Pull(10, plain)["messages"].size(), 1u);
}

TEST_F(HttpQueues, PeekShowsMessagesWithRefsAndPurgeDeletesByRef) {
  for (int i = 0; i < 3; ++i) Ok(client_.Post(jobs_ + "/messages", {{"body", i}}));
  const Json peeked = Ok(client_.Post(jobs_ + "/messages/peek", {{"batch_size", 2}}))["messages"];
  ASSERT_EQ(peeked.size(), 2u);
  EXPECT_TRUE(peeked[0]["ref"].is_string());
  EXPECT_FALSE(peeked[0].contains("lease_id"));
  EXPECT_EQ(Backlog(), 3);  // Peeking leased nothing: all three can still be pulled.
  const Json purged = Ok(client_.Post(
      jobs_ + "/messages/purge", {{"refs", {{{"ref", peeked[0]["ref"]}}, {{"ref", "nope"}}}}}));
  EXPECT_TRUE(purged["errors"].empty());
  EXPECT_TRUE(purged["warnings"].contains("nope"));
  EXPECT_EQ(Backlog(), 2);
  EXPECT_EQ(Pull(10)["messages"].size(), 2u);
}

}  // namespace
}  // namespace cfemu::testing
