// SQL features the job engine relies on (RETURNING, UPDATE ... FROM, the JSON functions,
// triggers), and SQL that reads the time or draws random values replaying on virtual time and
// the seed.
#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

TEST(D1, ReturningGivesTheWrittenRows) {
  D1Harness h;
  h.MustExec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, gen INTEGER DEFAULT 0)");
  auto inserted = h.All("INSERT INTO jobs (state) VALUES ('waiting'), ('waiting') RETURNING id");
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  ASSERT_EQ(inserted->results.size(), 2u);
  EXPECT_EQ(inserted->meta.changes, 2);
  auto claimed = h.All(
      "UPDATE jobs SET state = 'active', gen = gen + 1 WHERE id = ? AND state = 'waiting' "
      "RETURNING id, gen",
      {1});
  ASSERT_EQ(claimed->results.size(), 1u);
  EXPECT_EQ(IntOf(*claimed->results[0].Get("gen")), 1);
  auto again = h.All(
      "UPDATE jobs SET state = 'active' WHERE id = 1 AND state = 'waiting' "
      "RETURNING id");
  EXPECT_TRUE(again->results.empty());  // The guard missed: nothing written, nothing returned.
}

TEST(D1, UpdateFromJoinsAnotherTable) {
  D1Harness h;
  h.MustExec(
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY, queue TEXT, paused INTEGER DEFAULT 0)\n"
      "CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER)\n"
      "INSERT INTO jobs (queue) VALUES ('a'), ('b'), ('a')\n"
      "INSERT INTO queues VALUES ('a', 1), ('b', 0)");
  auto updated =
      h.All("UPDATE jobs SET paused = queues.paused FROM queues WHERE queues.name = jobs.queue");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->meta.changes, 3);
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT sum(paused) AS n FROM jobs", "n")), 2);
}

TEST(D1, JsonFunctionsWork) {
  D1Harness h;
  h.MustExec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, data TEXT)");
  ASSERT_TRUE(h.All("INSERT INTO jobs (data) VALUES (?)",
                    {std::string(R"({"to":"a@b","tags":["x","y"],"n":3})")})
                  .ok());
  auto row = h.First(
      "SELECT json_extract(data, '$.to') AS recipient, data ->> '$.n' AS n, "
      "json_array_length(data, '$.tags') AS tags, json_set(data, '$.n', 4) AS updated, "
      "json_valid(data) AS valid FROM jobs");
  ASSERT_TRUE(row.ok() && row->has_value()) << row.status().ToString();
  EXPECT_EQ(TextOf(*(*row)->Get("recipient")), "a@b");
  EXPECT_EQ(IntOf(*(*row)->Get("n")), 3);
  EXPECT_EQ(IntOf(*(*row)->Get("tags")), 2);
  EXPECT_EQ(TextOf(*(*row)->Get("updated")), R"({"to":"a@b","tags":["x","y"],"n":4})");
  EXPECT_EQ(IntOf(*(*row)->Get("valid")), 1);
  auto each = h.All("SELECT value FROM jobs, json_each(jobs.data, '$.tags') ORDER BY value");
  ASSERT_EQ(each->results.size(), 2u);
  auto grouped = h.FirstValue("SELECT json_group_array(id) AS ids FROM jobs", "ids");
  EXPECT_EQ(TextOf(*grouped), "[1]");
}

TEST(D1, TriggersRunInsideTheCallAndFailItWithRaise) {
  D1Harness h;
  h.MustExec(
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)\n"
      "CREATE TABLE events (job INTEGER, state TEXT)\n"
      "CREATE TRIGGER jobs_event AFTER UPDATE OF state ON jobs BEGIN INSERT INTO events VALUES "
      "(new.id, new.state); END\n"
      "CREATE TRIGGER jobs_final BEFORE UPDATE OF state ON jobs WHEN old.state = 'completed' "
      "BEGIN SELECT RAISE(ABORT, 'job is final'); END\n"
      "INSERT INTO jobs VALUES (1, 'waiting')");
  ASSERT_TRUE(h.All("UPDATE jobs SET state = 'completed' WHERE id = 1").ok());
  EXPECT_EQ(h.Count("events"), 1);
  auto refused = h.All("UPDATE jobs SET state = 'waiting' WHERE id = 1");
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "D1_ERROR: job is final: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_TRIGGER)");
  EXPECT_EQ(h.Count("events"), 1);
}

TEST(D1, SqlTimeIsVirtualTime) {
  D1Harness h;
  EXPECT_EQ(TextOf(*h.FirstValue("SELECT datetime('now') AS now", "now")), "2026-01-01 00:00:00");
  ASSERT_TRUE(h.sim().RunFor(core::Hours(25)).ok());
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT unixepoch('now') AS now", "now")),
            (core::kVirtualEpoch + core::Hours(25)).unix_ms() / 1000);
  h.MustExec("CREATE TABLE t (v, at TEXT DEFAULT CURRENT_TIMESTAMP)\nINSERT INTO t (v) VALUES (1)");
  EXPECT_EQ(TextOf(*h.FirstValue("SELECT at FROM t", "at")), "2026-01-02 01:00:00");
}

std::vector<std::int64_t> Draws(std::uint64_t seed) {
  D1Config config;
  config.seed = seed;
  D1Harness h(config);
  std::vector<std::int64_t> out;
  for (int i = 0; i < 3; ++i) out.push_back(IntOf(*h.FirstValue("SELECT random() AS r", "r")));
  const auto blob = h.FirstValue("SELECT randomblob(8) AS b", "b");
  out.push_back(std::get<core::Bytes>(*blob)[0]);
  return out;
}

TEST(D1, RandomValuesReplayWithTheSeed) {
  EXPECT_EQ(Draws(7), Draws(7));
  EXPECT_NE(Draws(7), Draws(8));
}

}  // namespace
}  // namespace cfemu::testing
