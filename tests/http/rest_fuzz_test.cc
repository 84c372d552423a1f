// Seeded random requests straight into the REST router (no sockets; the World runs on the
// simulator, so every run is the same): whatever arrives — mangled paths and ids, bad escapes,
// truncated or mutated JSON, random bytes, odd content types — the answer is well formed, and
// nothing crashes or hangs. A deterministic stand-in for the libFuzzer target of issue 6.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/http/rest_api.h"
#include "emulator/sim/simulator.h"
#include "src/core/ids.h"
#include "src/core/random.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

template <class T>
const T& Pick(core::Random& random, const std::vector<T>& items) {
  return items[static_cast<std::size_t>(random.Below(items.size()))];
}

std::string Segment(core::Random& random) {
  static const std::vector<std::string> kSegments = {core::DeriveHexId("queue", "jobs"),
                                                     core::DeriveHexId("queue", "plain"),
                                                     core::DeriveUuid("d1", "main"),
                                                     core::DeriveHexId("kv", "CACHE"),
                                                     "00000000000000000000000000000000",
                                                     "..",
                                                     "%2e%2e",
                                                     "%2F",
                                                     "%zz",
                                                     "%00",
                                                     "a%20b",
                                                     std::string(600, 'k'),
                                                     "",
                                                     "x"};
  return Pick(random, kSegments);
}

std::string Path(core::Random& random) {
  static const std::vector<std::string> kTemplates = {
      "/client/v4/accounts/@/queues",
      "/client/v4/accounts/@/queues/@",
      "/client/v4/accounts/@/queues/@/messages",
      "/client/v4/accounts/@/queues/@/messages/batch",
      "/client/v4/accounts/@/queues/@/messages/pull",
      "/client/v4/accounts/@/queues/@/messages/ack",
      "/client/v4/accounts/@/queues/@/consumers/@",
      "/client/v4/accounts/@/queues/@/purge",
      "/client/v4/accounts/@/d1/database/@/query",
      "/client/v4/accounts/@/d1/database/@/raw",
      "/client/v4/accounts/@/storage/kv/namespaces/@/values/@",
      "/client/v4/accounts/@/storage/kv/namespaces/@/keys?prefix=@&limit=@&cursor=@",
      "/client/v4/accounts/@/storage/kv/namespaces/@/bulk",
      "/cdn-cgi/handler/scheduled?cron=@&time=@",
      "/@/@",
  };
  std::string out;
  for (char c : Pick(random, kTemplates)) {
    out += c == '@' ? Segment(random) : std::string(1, c);
  }
  return out;
}

std::string Body(core::Random& random) {
  static const std::vector<std::string> kBodies = {
      R"({"body":{"n":1}})",
      R"({"body":"x","content_type":"text","delay_seconds":5})",
      R"({"messages":[{"body":1},{"body":"s","content_type":"text"}],"delay_seconds":0})",
      R"({"batch_size":3,"visibility_timeout_ms":1000})",
      R"({"acks":[{"lease_id":"x"}],"retries":[{"lease_id":"y","delay_seconds":1}]})",
      R"({"sql":"SELECT ?1, ?2","params":[1,"a"]})",
      R"j({"batch":[{"sql":"CREATE TABLE IF NOT EXISTS t(a)"},{"sql":"SELECT * FROM t"}]})j",
      R"([{"key":"k","value":"djE=","base64":true,"expiration_ttl":60}])",
      R"({"keys":["k","x"],"type":"json","withMetadata":true})",
      R"({"queue_name":"fuzz-q","settings":{"delivery_delay":1}})",
      R"({"type":"http_pull","settings":{"batch_size":100}})",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
      "1e999999",
      "",
  };
  std::string body = Pick(random, kBodies);
  const int mutations = static_cast<int>(random.Below(4));
  for (int i = 0; i < mutations && !body.empty(); ++i) {
    const auto at = static_cast<std::size_t>(random.Below(body.size()));
    switch (random.Below(3)) {
      case 0:
        body.resize(at);  // Truncated.
        break;
      case 1:
        body[at] = static_cast<char>(random.Below(256));  // A flipped byte.
        break;
      default:
        body.insert(at, std::string(1 + random.Below(8), static_cast<char>(random.Below(256))));
    }
  }
  return body;
}

void ExpectWellFormed(const emulator::HttpRequest& request, const emulator::HttpResponse& r) {
  SCOPED_TRACE(request.method + " " + request.target + " " + request.body);
  ASSERT_GE(r.status, 200);
  ASSERT_LT(r.status, 600);
  if (r.content_type != "application/json") {
    // The two answers outside the envelope: KV values and cron triggers.
    EXPECT_TRUE(r.content_type == "application/octet-stream" ||
                r.content_type.rfind("text/plain", 0) == 0)
        << r.content_type;
    return;
  }
  const Json body = Json::parse(r.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << r.body;
  if (!body.contains("success")) {  // Cron's format=json answer.
    EXPECT_TRUE(body.contains("outcome")) << r.body;
    return;
  }
  ASSERT_TRUE(body["success"].is_boolean()) << r.body;
  ASSERT_TRUE(body["errors"].is_array()) << r.body;
  ASSERT_TRUE(body["messages"].is_array()) << r.body;
  ASSERT_TRUE(body.contains("result")) << r.body;
  EXPECT_EQ(body["success"].get<bool>(), r.status < 400) << r.body;
  if (!body["success"].get<bool>()) {
    ASSERT_FALSE(body["errors"].empty()) << r.body;
    EXPECT_TRUE(body["result"].is_null()) << r.body;
    for (const Json& e : body["errors"]) {
      EXPECT_GE(e.value("code", 0), 1000) << r.body;
      EXPECT_TRUE(e["message"].is_string()) << r.body;
    }
  }
}

TEST(HttpRestFuzz, SeededRandomRequestsAllGetWellFormedAnswers) {
  emulator::SimulatorOptions options;
  options.trace = false;
  emulator::Simulator sim(1, options);
  emulator::World world(sim, PullQueueSpec());
  emulator::RestApi api(world, {});
  core::Random random(42);
  static const std::vector<std::string> kMethods = {"GET",    "POST", "PUT", "PATCH",
                                                    "DELETE", "HEAD", "BREW"};
  static const std::vector<std::string> kTypes = {"application/json", "application/octet-stream",
                                                  "multipart/form-data; boundary=b",
                                                  "multipart/form-data", "text/plain"};
  std::map<int, int> statuses;
  for (int i = 0; i < 20'000; ++i) {
    emulator::HttpRequest request;
    request.method = Pick(random, kMethods);
    request.target = Path(random);
    request.headers["content-type"] = Pick(random, kTypes);
    request.body = Body(random);
    if (random.Chance(0.1))
      request.body = "--b\r\nContent-Disposition: name=value\r\n\r\nv\r\n--b--";
    (void)api.BodyLimit(request);
    const emulator::HttpResponse response = sim.Run(api.Handle(request));
    ExpectWellFormed(request, response);
    if (HasFatalFailure()) return;
    ++statuses[response.status];
  }
  // The generator reaches the handlers, not only the router's refusals.
  for (int status : {200, 400, 404, 405}) EXPECT_GT(statuses[status], 100) << status;
}

}  // namespace
}  // namespace cfemu::testing
