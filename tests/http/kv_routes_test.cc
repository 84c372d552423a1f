// The KV REST API (cloudflare-platform.md §3.4, checklist 51): namespaces, values (raw and
// multipart with metadata, expiration), metadata, key lists with cursors, and bulk calls.
// Expiry runs on manual virtual time, so the test moves the clock instead of waiting.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "emulator/http/base64.h"
#include "src/core/ids.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

class HttpKv : public ::testing::Test {
 protected:
  HttpKv()
      : server_(PullQueueSpec(), {}, {}, /*manual_time=*/true),
        client_(server_.port()),
        cache_(Namespaces("/" + core::DeriveHexId("kv", "CACHE"))) {}

  static std::string Namespaces(const std::string& suffix = "") {
    return "/client/v4/accounts/acc/storage/kv/namespaces" + suffix;
  }
  Json Ok(const ClientResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json.value("success", false), true) << r.body;
    return r.json.is_object() ? r.json["result"] : Json();
  }
  void Put(const std::string& key, const std::string& value, const std::string& query = "") {
    Ok(client_.Request("PUT", cache_ + "/values/" + key + query, value,
                       {{"Content-Type", "application/octet-stream"}}));
  }

  TestServer server_;
  Client client_;
  std::string cache_;
};

TEST_F(HttpKv, ListsTheConfiguredNamespace) {
  const ClientResponse r = client_.Get(Namespaces());
  const Json result = Ok(r);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0]["id"], core::DeriveHexId("kv", "CACHE"));
  EXPECT_EQ(result[0]["title"], "CACHE");
  EXPECT_EQ(result[0]["supports_url_encoding"], true);
  EXPECT_EQ(r.json["result_info"]["total_count"], 1);
  EXPECT_EQ(r.json["result_info"]["per_page"], 20);
}

TEST_F(HttpKv, NamespacesCanBeCreatedRenamedAndDeleted) {
  const Json created = Ok(client_.Post(Namespaces(), {{"title", "sessions"}}));
  EXPECT_EQ(created["title"], "sessions");
  const std::string path = Namespaces("/" + created["id"].get<std::string>());
  EXPECT_EQ(Ok(client_.Request("PUT", path, Json{{"title", "users"}}.dump()))["title"], "users");
  EXPECT_EQ(Ok(client_.Get(path))["title"], "users");
  Ok(client_.Request("DELETE", path));
  const ClientResponse gone = client_.Get(path);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.error_code(), 10013);
}

TEST_F(HttpKv, ATakenTitleIs400With10014) {
  const ClientResponse r = client_.Post(Namespaces(), {{"title", "CACHE"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 10014);
}

TEST_F(HttpKv, AConfiguredNamespaceIsNotDeleted) {
  EXPECT_EQ(client_.Request("DELETE", cache_).status, 400);
  EXPECT_EQ(client_.Get(cache_).status, 200);
}

TEST_F(HttpKv, ValuesAreStoredAndReturnedAsRawBytes) {
  const std::string bytes("a\0b\xff\n", 5);
  Put("k", bytes);
  const ClientResponse r = client_.Get(cache_ + "/values/k");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, bytes);
  EXPECT_EQ(r.headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(r.headers.count("expiration"), 0u);
}

TEST_F(HttpKv, AMissingKeyIs404With10009) {
  const ClientResponse r = client_.Get(cache_ + "/values/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), 10009);
  EXPECT_EQ(client_.Get(cache_ + "/metadata/nope").status, 404);
}

TEST_F(HttpKv, KeysWithSlashesAndSpacesRoundTrip) {
  Put("user%2F42%20x", "v");
  EXPECT_EQ(client_.Get(cache_ + "/values/user%2F42%20x").body, "v");
  EXPECT_EQ(Ok(client_.Get(cache_ + "/keys"))[0]["name"], "user/42 x");
}

TEST_F(HttpKv, MultipartPutStoresTheValueAndItsMetadata) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"value\"; filename=\"blob\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"v\":1}\r\n"
      "--XyZ--\r\n";
  Ok(client_.Request("PUT", cache_ + "/values/m", body,
                     {{"Content-Type", "multipart/form-data; boundary=XyZ"}}));
  EXPECT_EQ(client_.Get(cache_ + "/values/m").body, "hello");
  EXPECT_EQ(Ok(client_.Get(cache_ + "/metadata/m")), Json::parse(R"({"v":1})"));
  EXPECT_EQ(Ok(client_.Get(cache_ + "/keys"))[0]["metadata"], Json::parse(R"({"v":1})"));
}

TEST_F(HttpKv, MalformedMultipartIs400AndStoresNothing) {
  const ClientResponse r = client_.Request("PUT", cache_ + "/values/m", "--XyZ\r\nbroken",
                                           {{"Content-Type", "multipart/form-data; boundary=XyZ"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(client_.Get(cache_ + "/values/m").status, 404);
}

TEST_F(HttpKv, ExpirationTtlSetsTheHeaderAndTheKeyExpires) {
  Put("t", "v", "?expiration_ttl=60");
  const ClientResponse r = client_.Get(cache_ + "/values/t");
  EXPECT_EQ(r.headers.at("expiration"), std::to_string(core::kVirtualEpoch.unix_ms() / 1000 + 60));
  EXPECT_EQ(Ok(client_.Get(cache_ + "/keys"))[0]["expiration"],
            core::kVirtualEpoch.unix_ms() / 1000 + 60);
  server_.AdvanceTime(core::Seconds(59));
  EXPECT_EQ(client_.Get(cache_ + "/values/t").status, 200);
  server_.AdvanceTime(core::Seconds(1));
  EXPECT_EQ(client_.Get(cache_ + "/values/t").status, 404);
  EXPECT_TRUE(Ok(client_.Get(cache_ + "/keys")).empty());
}

TEST_F(HttpKv, AbsoluteExpirationIsKept) {
  const std::int64_t at = core::kVirtualEpoch.unix_ms() / 1000 + 3600;
  Put("e", "v", "?expiration=" + std::to_string(at));
  EXPECT_EQ(client_.Get(cache_ + "/values/e").headers.at("expiration"), std::to_string(at));
}

TEST_F(HttpKv, ATtlUnderSixtySecondsIsRefused) {
  const ClientResponse r = client_.Request("PUT", cache_ + "/values/t?expiration_ttl=10", "v");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(client_.Get(cache_ + "/values/t").status, 404);
}

TEST_F(HttpKv, DeletedValueIsGone) {
  Put("d", "v");
  Ok(client_.Request("DELETE", cache_ + "/values/d"));
  EXPECT_EQ(client_.Get(cache_ + "/values/d").status, 404);
  Ok(client_.Request("DELETE", cache_ + "/values/d"));  // Deleting a missing key succeeds.
}

TEST_F(HttpKv, KeysAreListedByPrefixInPagesWithACursor) {
  for (const char* key : {"a3", "a1", "b1", "a2", "a5", "a4"}) Put(key, "v");
  std::vector<std::string> names;
  std::string cursor;
  int pages = 0;
  do {
    const ClientResponse r = client_.Get(cache_ + "/keys?prefix=a&limit=2" +
                                         (cursor.empty() ? "" : "&cursor=" + cursor));
    for (const auto& key : Ok(r)) names.push_back(key["name"]);
    EXPECT_EQ(r.json["result_info"]["count"], Ok(r).size());
    cursor = r.json["result_info"]["cursor"];
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(names, (std::vector<std::string>{"a1", "a2", "a3", "a4", "a5"}));
}

TEST_F(HttpKv, BulkPutGetAndDelete) {
  const Json pairs = Json::parse(R"([
    {"key": "x", "value": "1", "metadata": {"m": true}},
    {"key": "y", "value": ")" + emulator::Base64Encode("{\"n\":2}") +
                                 R"(", "base64": true},
    {"key": "z", "value": "3", "expiration_ttl": 120}
  ])");
  const Json put = Ok(client_.Request("PUT", cache_ + "/bulk", pairs.dump()));
  EXPECT_EQ(put["successful_key_count"], 3);
  EXPECT_TRUE(put["unsuccessful_keys"].empty());
  EXPECT_EQ(client_.Get(cache_ + "/values/y").body, "{\"n\":2}");

  const Json text = Ok(client_.Post(cache_ + "/bulk/get", {{"keys", {"x", "y", "missing"}}}));
  EXPECT_EQ(text["values"], Json::parse(R"({"x":"1","y":"{\"n\":2}","missing":null})"));
  const Json json = Ok(client_.Post(cache_ + "/bulk/get", {{"keys", {"y"}}, {"type", "json"}}));
  EXPECT_EQ(json["values"]["y"], Json::parse(R"({"n":2})"));
  const Json meta =
      Ok(client_.Post(cache_ + "/bulk/get", {{"keys", {"x", "z"}}, {"withMetadata", true}}));
  EXPECT_EQ(meta["values"]["x"]["metadata"], Json::parse(R"({"m":true})"));
  EXPECT_EQ(meta["values"]["z"]["expiration"], core::kVirtualEpoch.unix_ms() / 1000 + 120);

  const Json deleted = Ok(client_.Post(cache_ + "/bulk/delete", Json{"x", "y"}));
  EXPECT_EQ(deleted["successful_key_count"], 2);
  EXPECT_EQ(client_.Get(cache_ + "/values/x").status, 404);
  Ok(client_.Request("DELETE", cache_ + "/bulk", Json{"z"}.dump()));
  EXPECT_TRUE(Ok(client_.Get(cache_ + "/keys")).empty());
}

TEST_F(HttpKv, AMalformedBulkWriteChangesNothing) {
  const ClientResponse r = client_.Request("PUT", cache_ + "/bulk",
                                           R"([{"key":"ok","value":"1"},{"key":"bad","value":5}])");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(client_.Get(cache_ + "/values/ok").status, 404);
}

TEST_F(HttpKv, UnknownAndMalformedNamespaceIds) {
  const ClientResponse unknown = client_.Get(Namespaces("/00000000000000000000000000000000/keys"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.error_code(), 10013);
  const ClientResponse malformed = client_.Get(Namespaces("/..%2F..%2Fkeys"));
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.error_code(), 7003);
}

}  // namespace
}  // namespace cfemu::testing
