// The D1 REST API (cloudflare-platform.md §2.6, checklist 38): databases, and query/raw with
// params, several statements and batches, in production's result shapes.
#include <string>

#include <gtest/gtest.h>

#include "src/core/ids.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

class HttpD1 : public ::testing::Test {
 protected:
  HttpD1() : client_(server_.port()), main_(Databases("/" + core::DeriveUuid("d1", "main"))) {}

  static std::string Databases(const std::string& suffix = "") {
    return "/client/v4/accounts/acc/d1/database" + suffix;
  }
  Json Ok(const ClientResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json.value("success", false), true) << r.body;
    return r.json.is_object() ? r.json["result"] : Json();
  }
  Json Query(const Json& body, const std::string& route = "/query") {
    return Ok(client_.Post(main_ + route, body));
  }

  TestServer server_;
  Client client_;
  std::string main_;
};

TEST_F(HttpD1, ListsTheConfiguredDatabase) {
  const ClientResponse r = client_.Get(Databases());
  const Json result = Ok(r);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0]["name"], "main");
  EXPECT_EQ(result[0]["uuid"], core::DeriveUuid("d1", "main"));
  EXPECT_EQ(result[0]["version"], "production");
  EXPECT_EQ(result[0]["read_replication"]["mode"], "disabled");
  EXPECT_TRUE(result[0]["file_size"].is_number_integer());
  EXPECT_EQ(r.json["result_info"]["total_count"], 1);
}

TEST_F(HttpD1, ListIsPagedAsTheOfficialClientWalksIt) {
  Ok(client_.Post(Databases(), {{"name", "second"}}));
  EXPECT_EQ(Ok(client_.Get(Databases("?page=1&per_page=1"))).size(), 1u);
  EXPECT_EQ(Ok(client_.Get(Databases("?page=2&per_page=1"))).size(), 1u);
  // The client asks for the next page until one comes back empty.
  EXPECT_TRUE(Ok(client_.Get(Databases("?page=2"))).empty());
  EXPECT_EQ(client_.Get(Databases("?per_page=x")).status, 400);
}

TEST_F(HttpD1, CreatedDatabaseCanBeQueriedAndDeleted) {
  const Json created = Ok(client_.Post(Databases(), {{"name", "scratch"}}));
  EXPECT_EQ(created["name"], "scratch");
  const std::string path = Databases("/" + created["uuid"].get<std::string>());
  EXPECT_EQ(Ok(client_.Get(path))["name"], "scratch");
  Ok(client_.Post(path + "/query", {{"sql", "CREATE TABLE t(a)"}}));
  EXPECT_EQ(Ok(client_.Get(Databases())).size(), 2u);
  Ok(client_.Request("DELETE", path));
  const ClientResponse gone = client_.Get(path);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.error_code(), 7404);
}

TEST_F(HttpD1, ATakenNameIs409With7502) {
  const ClientResponse r = client_.Post(Databases(), {{"name", "main"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.error_code(), 7502);
}

TEST_F(HttpD1, AConfiguredDatabaseIsNotDeleted) {
  EXPECT_EQ(client_.Request("DELETE", main_).status, 400);
  EXPECT_EQ(client_.Get(main_).status, 200);
}

TEST_F(HttpD1, QueryReturnsRowObjectsAndMeta) {
  Query({{"sql", "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)"}});
  const Json inserted =
      Query({{"sql", "INSERT INTO t(name) VALUES (?), (?)"}, {"params", {"a", "b"}}});
  ASSERT_EQ(inserted.size(), 1u);
  EXPECT_EQ(inserted[0]["success"], true);
  const Json& meta = inserted[0]["meta"];
  EXPECT_EQ(meta["changes"], 2);
  EXPECT_EQ(meta["last_row_id"], 2);
  EXPECT_EQ(meta["changed_db"], true);
  EXPECT_GE(meta["rows_written"].get<int>(), 2);
  for (const char* field : {"duration", "rows_read", "size_after", "served_by_colo",
                            "served_by_primary", "served_by_region", "timings"}) {
    EXPECT_TRUE(meta.contains(field)) << field;
  }
  const Json selected = Query({{"sql", "SELECT id, name FROM t WHERE id = ?"}, {"params", {2}}});
  EXPECT_EQ(selected[0]["results"], Json::parse(R"([{"id":2,"name":"b"}])"));
}

TEST_F(HttpD1, SeveralStatementsGiveOneResultEach) {
  const Json results =
      Query({{"sql", "CREATE TABLE t(a); INSERT INTO t VALUES (1); SELECT a FROM t WHERE a = ?"},
             {"params", {1}}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[2]["results"], Json::parse(R"([{"a":1}])"));
}

TEST_F(HttpD1, RawReturnsColumnsAndRows) {
  Query({{"sql", "CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (2, 'y')"}});
  const Json results = Query({{"sql", "SELECT a, b FROM t ORDER BY a"}}, "/raw");
  EXPECT_EQ(results[0]["results"]["columns"], Json::parse(R"(["a","b"])"));
  EXPECT_EQ(results[0]["results"]["rows"], Json::parse(R"([[1,"x"],[2,"y"]])"));
}

TEST_F(HttpD1, ParamsKeepTheirTypes) {
  Query({{"sql", "CREATE TABLE t(a, b, c, d, e, f)"}});
  Query({{"sql", "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)"},
         {"params", Json::parse(R"([1, 2.5, "s", null, true, 9007199254740993])")}});
  const Json row =
      Query({{"sql", "SELECT a, b, c, d, e, f, typeof(b) AS tb FROM t"}})[0]["results"][0];
  EXPECT_EQ(row["a"], 1);
  EXPECT_EQ(row["b"], 2.5);
  EXPECT_EQ(row["c"], "s");
  EXPECT_TRUE(row["d"].is_null());
  EXPECT_EQ(row["e"], 1);
  EXPECT_EQ(row["f"].get<std::int64_t>(), 9007199254740993);
  EXPECT_EQ(row["tb"], "real");
}

TEST_F(HttpD1, BlobsReadBackAsArraysOfBytes) {
  const Json row = Query({{"sql", "SELECT x'00ff10' AS b"}})[0]["results"][0];
  EXPECT_EQ(row["b"], Json::parse("[0,255,16]"));
}

TEST_F(HttpD1, BatchIsOneTransaction) {
  Query({{"sql", "CREATE TABLE t(a UNIQUE)"}});
  const Json ok = Query({{"batch",
                          {{{"sql", "INSERT INTO t VALUES (?)"}, {"params", {1}}},
                           {{"sql", "SELECT count(*) AS n FROM t"}}}}});
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1]["results"][0]["n"], 1);
  const ClientResponse failed = client_.Post(
      main_ + "/query",
      {{"batch", {{{"sql", "INSERT INTO t VALUES (2)"}}, {{"sql", "INSERT INTO t VALUES (1)"}}}}});
  EXPECT_EQ(failed.status, 400);
  EXPECT_EQ(failed.error_code(), 7500);
  EXPECT_EQ(Query({{"sql", "SELECT count(*) AS n FROM t"}})[0]["results"][0]["n"], 1);
}

TEST_F(HttpD1, SqlErrorsAre400With7500AndD1ErrorText) {
  const ClientResponse r = client_.Post(main_ + "/query", {{"sql", "SELECT * FROM nope"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 7500);
  EXPECT_EQ(r.json["errors"][0]["message"].get<std::string>().rfind("D1_ERROR", 0), 0u) << r.body;
}

TEST_F(HttpD1, AttachIsRefusedAndChangesNothing) {
  const ClientResponse r =
      client_.Post(main_ + "/query", {{"sql", "ATTACH DATABASE '/tmp/x.sqlite' AS x"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 7500);
  EXPECT_EQ(Query({{"sql", "SELECT 1 AS one"}})[0]["results"][0]["one"], 1);
}

TEST_F(HttpD1, AnObjectParamIsATypeError) {
  const ClientResponse r =
      client_.Post(main_ + "/query", {{"sql", "SELECT ?"}, {"params", {{{"a", 1}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), 7500);
  EXPECT_NE(r.body.find("D1_TYPE_ERROR"), std::string::npos) << r.body;
}

TEST_F(HttpD1, MalformedBodiesAre400With7400) {
  for (const std::string body : {R"({"sql": 5})", R"({})", R"({"sql":"SELECT 1","params":{}})",
                                 R"({"batch":"x"})", R"({"batch":[]})", "not json"}) {
    const ClientResponse r = client_.Request("POST", main_ + "/query", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.error_code(), 7400) << body;
  }
}

TEST_F(HttpD1, UnknownAndMalformedIds) {
  const ClientResponse unknown =
      client_.Post(Databases("/00000000-0000-0000-0000-000000000000/query"), {{"sql", "SELECT 1"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.error_code(), 7404);
  const ClientResponse malformed = client_.Get(Databases("/not-a-uuid"));
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.error_code(), 7003);
}

}  // namespace
}  // namespace cfemu::testing
