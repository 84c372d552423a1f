// A table of bad requests (issue 6, robustness): each gets its HTTP status and v4 envelope
// error code, and none changes any state.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/core/ids.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

struct BadRequest {
  std::string name;
  std::string method;
  std::string target;  // "{jobs}" stands for the path of queue "jobs".
  std::string body;
  int status;
  int code;
};

std::string ManyMessages(int n) {
  Json messages = Json::array();
  for (int i = 0; i < n; ++i) messages.push_back({{"body", i}});
  return Json{{"messages", messages}}.dump();
}

std::string Target(const std::string& target, TestServer& server) {
  const std::string db = "/client/v4/accounts/acc/d1/database/" + core::DeriveUuid("d1", "main");
  if (target.rfind("{jobs}", 0) == 0) {
    return QueuesPath("/" + server.QueueId("jobs")) + target.substr(6);
  }
  if (target.rfind("{db}", 0) == 0) return db + target.substr(4);
  if (target.rfind("{kv}", 0) == 0) {
    return "/client/v4/accounts/acc/storage/kv/namespaces/" + core::DeriveHexId("kv", "CACHE") +
           target.substr(4);
  }
  return target;
}

// The database's schema, to compare before and after.
Json Schema(TestServer& server) {
  Client client(server.port());
  return client
      .Post(Target("{db}/query", server), {{"sql", "SELECT type, name, sql FROM sqlite_master"}})
      .json["result"];
}

std::string ManyKeys(int n) {
  Json keys = Json::array();
  for (int i = 0; i < n; ++i) keys.push_back("k" + std::to_string(i));
  return Json{{"keys", keys}}.dump();
}

std::vector<BadRequest> Table() {
  const std::string big(129 * 1000, 'x');
  return {
      {"truncated JSON", "POST", "{jobs}/messages", R"({"body": "x")", 400, 10208},
      {"not JSON", "POST", "{jobs}/messages", "hello", 400, 10208},
      {"JSON array, not object", "POST", "{jobs}/messages", "[1,2]", 400, 10207},
      {"invalid UTF-8", "POST", "{jobs}/messages", "{\"body\": \"\xff\xfe\"}", 400, 10208},
      {"overlong UTF-8", "POST", "{jobs}/messages", "{\"body\": \"\xc0\xaf\"}", 400, 10208},
      {"nesting too deep", "POST", "{jobs}/messages",
       "{\"body\":" + std::string(100, '[') + std::string(100, ']') + "}", 400, 10207},
      {"content type v8", "POST", "{jobs}/messages", R"({"body":"x","content_type":"v8"})", 400,
       10203},
      {"content type not a string", "POST", "{jobs}/messages", R"({"body":"x","content_type":1})",
       400, 10207},
      {"text body not a string", "POST", "{jobs}/messages",
       R"({"body":{"a":1},"content_type":"text"})", 400, 10203},
      {"missing body", "POST", "{jobs}/messages", R"({"content_type":"json"})", 400, 10203},
      {"delay as string", "POST", "{jobs}/messages", R"({"body":1,"delay_seconds":"5"})", 400,
       10207},
      {"negative delay", "POST", "{jobs}/messages", R"({"body":1,"delay_seconds":-1})", 400, 10203},
      {"delay over 24 h", "POST", "{jobs}/messages", R"({"body":1,"delay_seconds":86401})", 400,
       10203},
      {"huge delay", "POST", "{jobs}/messages", R"({"body":1,"delay_seconds":1e300})", 400, 10207},
      {"huge integer delay", "POST", "{jobs}/messages",
       R"({"body":1,"delay_seconds":123456789012345678901234567890})", 400, 10207},
      {"fractional delay", "POST", "{jobs}/messages", R"({"body":1,"delay_seconds":1.5})", 400,
       10207},
      {"129 KB message", "POST", "{jobs}/messages", Json{{"body", big}}.dump(), 400, 10204},
      {"101-message batch", "POST", "{jobs}/messages/batch", ManyMessages(101), 400, 10206},
      {"empty batch", "POST", "{jobs}/messages/batch", R"({"messages":[]})", 400, 10203},
      {"messages not an array", "POST", "{jobs}/messages/batch", R"({"messages":"x"})", 400, 10207},
      {"batch delay out of range", "POST", "{jobs}/messages/batch",
       R"({"messages":[{"body":1}],"delay_seconds":90000})", 400, 10202},
      {"one bad message in a batch", "POST", "{jobs}/messages/batch",
       R"({"messages":[{"body":1},{"body":2,"content_type":"bytes"}]})", 400, 10203},
      {"batch_size as string", "POST", "{jobs}/messages/pull", R"({"batch_size":"5"})", 400, 10207},
      {"batch_size 0", "POST", "{jobs}/messages/pull", R"({"batch_size":0})", 400, 10207},
      {"batch_size 101", "POST", "{jobs}/messages/pull", R"({"batch_size":101})", 400, 10207},
      {"visibility over 12 h", "POST", "{jobs}/messages/pull",
       R"({"visibility_timeout_ms":43200001})", 400, 10207},
      {"acks not an array", "POST", "{jobs}/messages/ack", R"({"acks":{"lease_id":"x"}})", 400,
       10207},
      {"lease id not a string", "POST", "{jobs}/messages/ack", R"({"acks":[{"lease_id":7}]})", 400,
       10207},
      {"retry delay as string", "POST", "{jobs}/messages/ack",
       R"({"retries":[{"lease_id":"x","delay_seconds":"1"}]})", 400, 10207},
      {"queue name not a string", "POST", "/client/v4/accounts/a/queues", R"({"queue_name":5})",
       400, 10207},
      {"queue name missing", "POST", "/client/v4/accounts/a/queues", "{}", 400, 10207},
      {"queue name too long", "POST", "/client/v4/accounts/a/queues",
       Json{{"queue_name", std::string(64, 'a')}}.dump(), 400, 10107},
      {"retention too short", "PATCH", "{jobs}", R"({"settings":{"message_retention_period":1}})",
       400, 10207},
      {"settings not an object", "PATCH", "{jobs}", R"({"settings":[]})", 400, 10207},
      {"consumer batch_size 0", "POST", "{jobs}/consumers",
       R"({"type":"http_pull","settings":{"batch_size":0}})", 400, 10207},
      {"consumer DLQ is itself", "POST", "{jobs}/consumers",
       R"({"type":"http_pull","dead_letter_queue":"jobs"})", 400, 10207},
      {"path traversal in queue id", "POST",
       "/client/v4/accounts/a/queues/..%2F..%2Fetc%2Fpasswd/messages", R"({"body":1})", 400, 7003},
      {"dot-dot queue id", "GET", "/client/v4/accounts/a/queues/../metrics", "", 400, 7003},
      {"encoded NUL in id", "GET", "/client/v4/accounts/a/queues/ab%00cd", "", 400, 7003},
      {"bad escape in id", "GET", "/client/v4/accounts/a/queues/%zz", "", 400, 7003},
      {"non-hex queue id", "GET", "/client/v4/accounts/a/queues/NOTAQUEUEID", "", 400, 7003},
      {"unknown queue id", "POST",
       "/client/v4/accounts/a/queues/00000000000000000000000000000000/messages", R"({"body":1})",
       404, 10104},
      {"unknown consumer id", "GET", "{jobs}/consumers/00000000000000000000000000000000", "", 404,
       10104},
      {"unknown route", "GET", "/client/v4/accounts/a/nothing", "", 404, 7000},
      {"unknown route outside the API", "GET", "/etc/passwd", "", 404, 7000},
      {"method not allowed", "DELETE", "{jobs}/messages", "", 405, 7001},
      {"ATTACH in a D1 query", "POST", "{db}/query",
       R"({"sql":"ATTACH DATABASE '/tmp/evil.sqlite' AS evil"})", 400, 7500},
      {"BEGIN in a D1 query", "POST", "{db}/query", R"({"sql":"BEGIN TRANSACTION"})", 400, 7500},
      {"D1 sql not a string", "POST", "{db}/query", R"({"sql":["SELECT 1"]})", 400, 7400},
      {"D1 params not an array", "POST", "{db}/raw", R"({"sql":"SELECT ?","params":1})", 400, 7400},
      {"unknown D1 database", "POST",
       "/client/v4/accounts/a/d1/database/00000000-0000-0000-0000-000000000000/query",
       R"({"sql":"SELECT 1"})", 404, 7404},
      {"path traversal in a D1 id", "GET", "/client/v4/accounts/a/d1/database/..%2f..%2fetc", "",
       400, 7003},
      {"KV bulk write not an array", "PUT", "{kv}/bulk", R"({"key":"a","value":"b"})", 400, 10001},
      {"KV bulk write with a number value", "PUT", "{kv}/bulk", R"([{"key":"a","value":1}])", 400,
       10001},
      {"KV bulk write with bad base64", "PUT", "{kv}/bulk",
       R"([{"key":"a","value":"%%%","base64":true}])", 400, 10001},
      {"KV bulk get of 101 keys", "POST", "{kv}/bulk/get", ManyKeys(101), 400, 10001},
      {"KV bulk get of type arrayBuffer", "POST", "{kv}/bulk/get",
       R"({"keys":["a"],"type":"arrayBuffer"})", 400, 10001},
      {"KV bulk delete of numbers", "POST", "{kv}/bulk/delete", "[1,2]", 400, 10001},
      {"KV expiration_ttl not a number", "PUT", "{kv}/values/a?expiration_ttl=soon", "v", 400,
       10001},
      {"KV key of 513 bytes", "PUT", "{kv}/values/" + std::string(513, 'k'), "v", 400, 10001},
      {"KV list limit 0", "GET", "{kv}/keys?limit=0", "", 400, 10001},
      {"KV malformed cursor", "GET", "{kv}/keys?cursor=%%%", "", 400, 10001},
      {"unknown KV namespace", "GET",
       "/client/v4/accounts/a/storage/kv/namespaces/00000000000000000000000000000000/keys", "", 404,
       10013},
      {"path traversal in a KV namespace id", "GET",
       "/client/v4/accounts/a/storage/kv/namespaces/..%2F..%2Fetc/keys", "", 400, 7003},
      {"oversize body", "POST", "/client/v4/accounts/a/queues",
       Json{{"queue_name", std::string(70 * 1024, 'a')}}.dump(), 413, 6008},
  };
}

TEST(HttpBadRequests, EachGetsItsStatusAndEnvelopeCodeAndChangesNothing) {
  TestServer server;
  const std::string jobs = QueuesPath("/" + server.QueueId("jobs"));
  const Json schema_before = Schema(server);
  ASSERT_TRUE(schema_before.is_array());
  for (const BadRequest& bad : Table()) {
    SCOPED_TRACE(bad.name);
    const std::string target = Target(bad.target, server);
    Client client(server.port());  // Some bad requests close their connection.
    const ClientResponse r = client.Request(bad.method, target, bad.body);
    EXPECT_EQ(r.status, bad.status) << r.body;
    EXPECT_EQ(r.error_code(), bad.code) << r.body;
    EXPECT_EQ(r.json.value("success", true), false);
    EXPECT_TRUE(r.json.contains("result") && r.json["result"].is_null());
  }
  Client client(server.port());
  const ClientResponse queues = client.Get(QueuesPath());
  ASSERT_EQ(queues.status, 200);
  ASSERT_EQ(queues.json["result"].size(), 2u);
  for (const Json& queue : queues.json["result"]) {
    EXPECT_EQ(queue["consumers_total_count"], queue["queue_name"] == "jobs" ? 1 : 0);
    EXPECT_EQ(queue["settings"]["message_retention_period"], 345600);
  }
  EXPECT_EQ(client.Get(jobs + "/metrics").json["result"]["backlog_count"], 0);
  EXPECT_EQ(Schema(server), schema_before);
  const ClientResponse keys = client.Get(Target("{kv}/keys", server));
  ASSERT_EQ(keys.status, 200);
  EXPECT_EQ(keys.json["result"], Json::parse(R"([])")) << keys.body;
}

TEST(HttpBadRequests, TheServerStillAnswersAfterEveryBadRequestOnOneConnection) {
  TestServer server;
  Client client(server.port());
  for (const BadRequest& bad : Table()) {
    if (bad.status == 413) continue;  // Closes the connection by design.
    const std::string target = Target(bad.target, server);
    ASSERT_EQ(client.Request(bad.method, target, bad.body).status, bad.status) << bad.name;
  }
  EXPECT_EQ(client.Get(QueuesPath()).status, 200);
}

}  // namespace
}  // namespace cfemu::testing
