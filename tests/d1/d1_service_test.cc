// The service around the database: canonical snapshots for checkers, persistence in a WAL
// file, the REST query entry point, identities, and the trace of every call.
#include <filesystem>

#include "src/core/ids.h"
#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

using platform::D1Rows;

TEST(D1, SnapshotIsCanonicalAndSortedByPrimaryKey) {
  D1Harness a;
  D1Harness b;
  a.MustExec(
      "CREATE TABLE t (k TEXT PRIMARY KEY, v)\nCREATE TABLE r (v)\n"
      "INSERT INTO t VALUES ('b', 2.0), ('a', x'00ff')\nINSERT INTO r VALUES (NULL), ('it''s')");
  b.MustExec(
      "CREATE TABLE r (v)\nCREATE TABLE t (k TEXT PRIMARY KEY, v)\n"
      "INSERT INTO r VALUES (NULL), ('it''s')\nINSERT INTO t VALUES ('a', x'00ff'), ('b', 2.0)");
  auto snapshot = a.db().SnapshotForTest();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(*snapshot,
            "schema table r: CREATE TABLE r (v)\n"
            "schema table t: CREATE TABLE t (k TEXT PRIMARY KEY, v)\n"
            "table r\n"
            "  NULL\n"
            "  'it''s'\n"
            "table t\n"
            "  'a', X'00FF'\n"
            "  'b', 2.0\n");
  // Rows of r arrive in the same rowid order, so the two databases compare equal.
  EXPECT_EQ(*snapshot, *b.db().SnapshotForTest());
  EXPECT_TRUE(a.service().IntegrityCheck().ok());
}

TEST(D1, AFileDatabaseUsesWalAndKeepsEveryCommittedRowAcrossReopening) {
  TestDirectory dir;
  const std::filesystem::path file = dir.path() / "db.sqlite";
  std::string snapshot;
  std::string bookmark;
  {
    D1Harness h(FileConfig(file));
    h.MustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(h.All("INSERT INTO t (v) VALUES (?)", {std::to_string(i)}).ok());
    }
    std::vector<D1PreparedStatement> failed;
    failed.push_back(h.db().Prepare("INSERT INTO t (v) VALUES ('rolled back')"));
    failed.push_back(h.db().Prepare("INSERT INTO t (id) VALUES (1)"));
    ASSERT_FALSE(h.Batch(std::move(failed)).ok());
    snapshot = *h.db().SnapshotForTest();
    auto session = h.db().WithSession("first-primary");
    ASSERT_TRUE(h.Run((*session)->database().Prepare("SELECT 1").All()).ok());
    bookmark = *(*session)->GetBookmark();
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "db.sqlite-wal"));
  }
  D1Harness reopened(FileConfig(file));
  EXPECT_EQ(reopened.Count("t"), 20);
  EXPECT_EQ(*reopened.db().SnapshotForTest(), snapshot);
  // Bookmarks from before the restart still parse and compare lower than new ones.
  auto session = reopened.db().WithSession(bookmark);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_TRUE(reopened.Run((*session)->database().Prepare("SELECT 1").All()).ok());
  EXPECT_LT(bookmark, *(*session)->GetBookmark());
}

TEST(D1, RestQueryRunsEveryStatementOfTheTextAsOneTransaction) {
  D1Harness h;
  auto results =
      h.Run(h.service().Query("CREATE TABLE t (v); INSERT INTO t VALUES (?); SELECT v FROM t",
                              {std::int64_t{5}}, D1Rows::kObjects));
  EXPECT_EQ(results.status().message(),
            "D1_ERROR: When executing multiple SQL statements in a single call, only the last "
            "statement can have parameters.");
  results =
      h.Run(h.service().Query("CREATE TABLE t (v); INSERT INTO t VALUES (5); "
                              "SELECT v FROM t WHERE v = ?",
                              {std::int64_t{5}}, D1Rows::kArraysWithNames));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);  // One result per statement.
  EXPECT_EQ((*results)[1].meta.changes, 1);
  EXPECT_EQ((*results)[2].columns, std::vector<std::string>{"v"});
  EXPECT_EQ(IntOf((*results)[2].results[0].values[0]), 5);
  // A failing statement rolls the whole text back.
  auto failed = h.Run(h.service().Query("INSERT INTO t VALUES (6); INSERT INTO nope VALUES (1)", {},
                                        D1Rows::kObjects));
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(h.Count("t"), 1);
  std::vector<D1PreparedStatement> batch;
  batch.push_back(D1PreparedStatement(nullptr, "INSERT INTO t VALUES (?)").Bind(7));
  batch.push_back(D1PreparedStatement(nullptr, "SELECT count(*) AS n FROM t"));
  auto batched = h.Run(h.service().QueryBatch(std::move(batch), D1Rows::kObjects));
  ASSERT_TRUE(batched.ok());
  EXPECT_EQ(IntOf(*(*batched)[1].results[0].Get("n")), 2);
}

TEST(D1, IdsAreDerivedFromTheNameUnlessGiven) {
  emulator::Simulator sim(1);
  emulator::D1Options options;
  options.name = "jobs";
  auto derived = emulator::D1Service::Open(sim, options);
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ((*derived)->id(), core::DeriveUuid("d1", "jobs"));
  options.id = "not-a-uuid";
  EXPECT_EQ(emulator::D1Service::Open(sim, options).code(), Code::kInvalidArgument);
  options.name.clear();
  EXPECT_EQ(emulator::D1Service::Open(sim, options).code(), Code::kInvalidArgument);
}

TEST(D1, EveryCallIsTracedWhenTracingIsOn) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (v)");
  ASSERT_TRUE(h.All("INSERT INTO t VALUES (1)").ok());
  ASSERT_FALSE(h.All("SELECT * FROM nope").ok());
  const auto queries = h.TraceLines("d1.query");
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_NE(queries[0].find("\"changes\":1"), std::string::npos) << queries[0];
  EXPECT_NE(queries[0].find("\"actor\":\"test\""), std::string::npos);
  EXPECT_EQ(h.TraceLines("d1.exec").size(), 1u);
  const auto failures = h.TraceLines("d1.failed");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("\"code\":\"invalid_argument\""), std::string::npos) << failures[0];
  EXPECT_EQ(h.service().stats().calls, 3);
  EXPECT_EQ(h.service().stats().failed, 1);
  EXPECT_EQ(h.service().stats().committed, 2);
}

TEST(D1, SameSeedSameTrace) {
  auto run = [](std::uint64_t seed) {
    D1Config config;
    config.seed = seed;
    config.profile = emulator::Profile::kRobustness;  // Latency and every fault kind.
    D1Harness h(config);
    (void)h.Exec("CREATE TABLE t (v)");
    for (int i = 0; i < 200; ++i) (void)h.All("INSERT INTO t VALUES (random())");
    return h.sim().trace().HashHex();
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

}  // namespace
}  // namespace cfemu::testing
