// The D1 binding API (cloudflare-platform.md §2.1-§2.4; checklist 26-33, 37, 39): statements,
// type mapping, result objects, first/raw, batch, exec, sessions and error texts.
#include <limits>

#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

using nlohmann::json;
using platform::D1Rows;

// Checklist 26.
TEST(D1, PreparedStatementsAreImmutableAndBindReturnsANewOne) {
  D1Harness h;
  const D1PreparedStatement statement = h.db().Prepare("SELECT ?1 AS a");
  const D1PreparedStatement one = statement.Bind(1);
  const D1PreparedStatement two = statement.Bind(2);
  EXPECT_TRUE(statement.params().empty());
  EXPECT_EQ(IntOf(*h.Run(one.First("a"))), 1);
  EXPECT_EQ(IntOf(*h.Run(two.First("a"))), 2);
  EXPECT_EQ(IntOf(*h.Run(one.First("a"))), 1);  // Running it changed nothing either.
  // Prepare() compiles nothing: bad SQL fails only when it runs.
  const D1PreparedStatement bad = h.db().Prepare("SELEC 1");
  EXPECT_EQ(h.Run(bad.All()).code(), Code::kInvalidArgument);
}

// Checklist 26.
TEST(D1, OnlyAnonymousAndNumberedPlaceholdersBind) {
  D1Harness h;
  auto row = h.First("SELECT ? AS a, ?3 AS c, ?2 AS b", {10, 20, 30});
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(IntOf(*(*row)->Get("a")), 10);
  EXPECT_EQ(IntOf(*(*row)->Get("b")), 20);
  EXPECT_EQ(IntOf(*(*row)->Get("c")), 30);
  for (const char* sql : {"SELECT :x", "SELECT @x", "SELECT $x"}) {
    auto named = h.All(sql, {1});
    EXPECT_EQ(named.code(), Code::kInvalidArgument) << sql;
    EXPECT_TRUE(
        named.status().message().starts_with("D1_ERROR: Named parameters are not supported"))
        << named.status().message();
  }
  auto wrong = h.All("SELECT ?, ?", {1});
  EXPECT_EQ(wrong.status().message(),
            "D1_ERROR: Wrong number of parameter bindings for SQL query.");
}

std::string Placeholders(int n) {
  std::string sql = "SELECT 0";
  for (int i = 0; i < n; ++i) sql += "+?";
  return sql + " AS total";
}

// Checklist 26 and 35: at most 100 bound parameters.
TEST(D1, AtMostOneHundredBoundParameters) {
  D1Harness h;
  std::vector<D1Param> hundred(100, D1Param(std::int64_t{1}));
  auto ok = h.FirstValue(Placeholders(100), "total", hundred);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(IntOf(*ok), 100);
  std::vector<D1Param> more(101, D1Param(std::int64_t{1}));
  auto refused = h.FirstValue(Placeholders(101), "total", more);
  EXPECT_EQ(refused.code(), Code::kTooLarge);
  EXPECT_EQ(refused.status().message(), "D1_ERROR: too many SQL variables: SQLITE_ERROR");
  EXPECT_EQ(h.All("SELECT ?101", {1}).code(), Code::kTooLarge);
}

// Checklist 27.
TEST(D1, BindMapsJavaScriptValuesToSqliteTypes) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (i INTEGER PRIMARY KEY, v)");
  const std::vector<std::pair<D1Param, std::string>> cases = {
      {D1Param(nullptr), "null"},
      {D1Param(std::int64_t{7}), "integer"},
      {D1Param(1.5), "real"},
      {D1Param(3.0), "integer"},  // A JS number with an integral value.
      {D1Param(std::string("text")), "text"},
      {D1Param(true), "integer"},
      {D1Param(core::Bytes{1, 2, 3}), "blob"},
      {D1Param(json(2.25)), "real"},
      {D1Param(json("s")), "text"},
      {D1Param(json(false)), "integer"},
      {D1Param(json(nullptr)), "null"},
      {D1Param(json::array({0, 255})), "blob"},  // A JS array of bytes.
  };
  for (const auto& [param, type] : cases) {
    auto inserted = h.Run(h.db()
                              .Prepare("INSERT INTO t (v) VALUES (?) RETURNING typeof(v) AS type")
                              .Bind(param)
                              .First("type"));
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
    EXPECT_EQ(TextOf(*inserted), type);
  }
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT v FROM t WHERE typeof(v) = 'integer' AND v < 2", "v")),
            1);  // true binds as 1.
}

// Checklist 27.
TEST(D1, UndefinedAndObjectsFailWithTypeErrorWhenTheStatementRuns) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (v)");
  const D1PreparedStatement insert = h.db().Prepare("INSERT INTO t VALUES (?)");
  const D1PreparedStatement undefined = insert.Bind(json(json::value_t::discarded));
  EXPECT_FALSE(undefined.status().ok());  // Known at once...
  auto ran = h.Run(undefined.Run());      // ...and enforced when it runs.
  EXPECT_EQ(ran.code(), Code::kInvalidArgument);
  EXPECT_EQ(ran.status().message(),
            "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'");
  auto object = h.Run(insert.Bind(json{{"a", 1}}).Run());
  EXPECT_EQ(object.status().message(),
            "D1_TYPE_ERROR: Type 'object' not supported for value '[object Object]'");
  auto array = h.Run(insert.Bind(json::array({1, 300})).Run());
  EXPECT_EQ(array.status().message(),
            "D1_TYPE_ERROR: Type 'object' not supported for value '1,300'");
  EXPECT_EQ(h.Count("t"), 0);
}

// Checklist 28.
TEST(D1, BlobsReadBackAsBytesAndIntegersKeepSixtyFourBits) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (b BLOB, n INTEGER)");
  const core::Bytes bytes = {0, 1, 127, 128, 255};
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::int64_t above_js = (std::int64_t{1} << 53) + 1;
  ASSERT_TRUE(h.All("INSERT INTO t VALUES (?, ?), (zeroblob(0), ?)", {bytes, big, above_js}).ok());
  auto rows = h.All("SELECT b, n FROM t ORDER BY rowid");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->results.size(), 2u);
  EXPECT_EQ(std::get<core::Bytes>(rows->results[0].values[0]), bytes);
  EXPECT_EQ(IntOf(rows->results[0].values[1]), big);
  EXPECT_EQ(std::get<core::Bytes>(rows->results[1].values[0]), core::Bytes());
  EXPECT_EQ(IntOf(rows->results[1].values[1]), above_js);
}

// Checklist 29.
TEST(D1, RunAndAllReturnSuccessResultsAndEveryMetaField) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  auto insert = h.Run(h.db().Prepare("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')").Run());
  ASSERT_TRUE(insert.ok()) << insert.status().ToString();
  EXPECT_TRUE(insert->success);
  EXPECT_TRUE(insert->results.empty());
  const platform::D1Meta& meta = insert->meta;
  EXPECT_EQ(meta.changes, 3);
  EXPECT_EQ(meta.last_row_id, 3);
  EXPECT_TRUE(meta.changed_db);
  EXPECT_GT(meta.size_after, 0);
  EXPECT_EQ(meta.size_after % 4096, 0);
  EXPECT_EQ(meta.rows_written, 3);
  EXPECT_GT(meta.duration, 0.0);  // Modelled from VM steps, never from a clock.
  EXPECT_EQ(meta.sql_duration_ms, meta.duration);
  EXPECT_EQ(meta.served_by, "cfemu");
  EXPECT_TRUE(meta.served_by_primary);
  EXPECT_EQ(meta.total_attempts, 1);
  auto select = h.All("SELECT * FROM t");
  ASSERT_TRUE(select.ok());
  EXPECT_EQ(select->columns, (std::vector<std::string>{"id", "v"}));
  EXPECT_EQ(select->results.size(), 3u);
  EXPECT_EQ(select->meta.rows_read, 3);
  EXPECT_EQ(select->meta.rows_written, 0);
  EXPECT_EQ(select->meta.changes, 0);
  EXPECT_FALSE(select->meta.changed_db);
  EXPECT_EQ(select->meta.size_after, meta.size_after);
  auto update = h.All("UPDATE t SET v = 'z' WHERE id = 2");
  EXPECT_EQ(update->meta.rows_read, 1);
  EXPECT_EQ(update->meta.rows_written, 1);
}

// Checklist 30.
TEST(D1, FirstReturnsTheFirstRowOrAColumnAndReportsAMissingColumn) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  auto none = h.First("SELECT * FROM t");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto no_rows_column = h.FirstValue("SELECT * FROM t", "missing");
  ASSERT_TRUE(no_rows_column.ok());  // No rows: null, even for a missing column.
  EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(*no_rows_column));
  h.MustExec("INSERT INTO t (v) VALUES ('a'), ('b')");
  auto row = h.First("SELECT * FROM t ORDER BY id");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ(TextOf(*(*row)->Get("v")), "a");
  EXPECT_EQ(TextOf(*h.FirstValue("SELECT * FROM t ORDER BY id DESC", "v")), "b");
  // Row objects keep the last of several columns with one name, as production's do.
  EXPECT_EQ(TextOf(*h.FirstValue("SELECT 'first' AS v, 'last' AS v", "v")), "last");
  auto missing = h.FirstValue("SELECT * FROM t", "missing");
  EXPECT_EQ(missing.code(), Code::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "D1_COLUMN_NOTFOUND: Column not found (missing)");
}

// Checklist 31.
TEST(D1, RawReturnsArraysAndOptionallyColumnNamesFirst) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (a, b)\nINSERT INTO t VALUES (1, 'x'), (2, 'y')");
  auto raw = h.Raw("SELECT a, b FROM t ORDER BY a");
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 2u);
  EXPECT_EQ(IntOf((*raw)[1][0]), 2);
  EXPECT_EQ(TextOf((*raw)[1][1]), "y");
  auto named = h.Raw("SELECT a, b FROM t ORDER BY a", /*column_names=*/true);
  ASSERT_EQ(named->size(), 3u);
  EXPECT_EQ(TextOf((*named)[0][0]), "a");
  EXPECT_EQ(TextOf((*named)[0][1]), "b");
  auto empty = h.Raw("SELECT a, b FROM t WHERE 0", /*column_names=*/true);
  ASSERT_EQ(empty->size(), 1u);  // The names come back without rows.
}

// Checklist 32.
TEST(D1, BatchRunsStatementsInOrderAsOneTransaction) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (k TEXT PRIMARY KEY)");
  std::vector<D1PreparedStatement> batch;
  batch.push_back(h.db().Prepare("INSERT INTO t VALUES (?)").Bind("a"));
  batch.push_back(h.db().Prepare("INSERT INTO t VALUES (?)").Bind("b"));
  batch.push_back(h.db().Prepare("SELECT count(*) AS n FROM t"));
  auto results = h.Batch(std::move(batch), "label");
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ(IntOf(*(*results)[2].results[0].Get("n")), 2);  // Sees the statements before it.
  ASSERT_EQ(h.TraceLines("d1.batch").size(), 1u);
  EXPECT_NE(h.TraceLines("d1.batch")[0].find("\"label\":\"label\""), std::string::npos);
}

// Checklist 32.
TEST(D1, BatchRollsBackEntirelyOnFailure) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (k TEXT PRIMARY KEY)\nCREATE TABLE log (m TEXT)");
  std::vector<D1PreparedStatement> batch;
  batch.push_back(h.db().Prepare("INSERT INTO log VALUES ('first')"));
  batch.push_back(h.db().Prepare("INSERT INTO t VALUES ('a')"));
  batch.push_back(h.db().Prepare("INSERT INTO t VALUES ('a')"));
  batch.push_back(h.db().Prepare("INSERT INTO log VALUES ('never')"));
  auto failed = h.Batch(std::move(batch));
  EXPECT_EQ(failed.code(), Code::kFailedPrecondition);
  EXPECT_EQ(failed.status().message(),
            "D1_ERROR: UNIQUE constraint failed: t.k: SQLITE_CONSTRAINT (extended: "
            "SQLITE_CONSTRAINT_PRIMARYKEY)");
  EXPECT_EQ(h.Count("t"), 0);
  EXPECT_EQ(h.Count("log"), 0);
}

// Checklist 33.
TEST(D1, ExecRunsOneStatementPerLineAndReportsTheFailingLine) {
  D1Harness h;
  auto ok = h.Exec("  CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2)\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->count, 3);
  EXPECT_GT(ok->duration, 0.0);
  auto failed =
      h.Exec("INSERT INTO a VALUES (3)\nINSERT INTO nope VALUES (1)\nINSERT INTO a VALUES (4)");
  EXPECT_EQ(failed.code(), Code::kInvalidArgument);
  EXPECT_EQ(failed.status().message(),
            "D1_EXEC_ERROR: Error in line 2: INSERT INTO nope VALUES (1): no such table: nope: "
            "SQLITE_ERROR");
  EXPECT_EQ(h.Count("a"), 3);  // Line 1 ran; line 3 never did.
  auto empty = h.Exec("");
  EXPECT_EQ(empty.status().message(),
            "D1_EXEC_ERROR: Error in line 1: : No SQL statements detected.");
}

// Checklist 37.
TEST(D1, SessionsKeepTheGreatestBookmarkTheyHaveSeen) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (v)");
  auto session = h.db().WithSession("first-primary");
  ASSERT_TRUE(session.ok());
  EXPECT_FALSE((*session)->GetBookmark().has_value());  // No query yet.
  platform::D1Database& db = (*session)->database();
  ASSERT_TRUE(h.Run(db.Prepare("INSERT INTO t VALUES (1)").Run()).ok());
  const std::optional<std::string> first = (*session)->GetBookmark();
  ASSERT_TRUE(first.has_value());
  std::vector<D1PreparedStatement> batch;
  batch.push_back(db.Prepare("INSERT INTO t VALUES (2)"));
  ASSERT_TRUE(h.Run(db.Batch(std::move(batch))).ok());
  const std::optional<std::string> second = (*session)->GetBookmark();
  ASSERT_TRUE(second.has_value());
  EXPECT_LT(*first, *second);
  // A session started from a bookmark begins there; reads keep the greatest one.
  auto resumed = h.db().WithSession(*first);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ((*resumed)->GetBookmark(), first);
  ASSERT_TRUE(h.Run((*resumed)->database().Prepare("SELECT * FROM t").All()).ok());
  EXPECT_EQ((*resumed)->GetBookmark(), second);
  EXPECT_TRUE(h.db().WithSession("first-unconstrained").ok());
  EXPECT_TRUE(h.db().WithSession("").ok());
}

// Checklist 37.
TEST(D1, MalformedForeignOrFutureBookmarksAreSessionErrors) {
  D1Harness h;
  D1Harness other(NamedConfig("other"));
  auto session = other.db().WithSession("first-primary");
  ASSERT_TRUE(other.Run((*session)->database().Prepare("SELECT 1").All()).ok());
  const std::string foreign = *(*session)->GetBookmark();
  auto own = h.db().WithSession("first-primary");
  ASSERT_TRUE(h.Run((*own)->database().Prepare("SELECT 1").All()).ok());
  std::string future = *(*own)->GetBookmark();
  future[0] = 'f';  // Far beyond this database's latest commit.
  for (const std::string& bad : {std::string("garbage"), foreign, future}) {
    auto refused = h.db().WithSession(bad);
    EXPECT_EQ(refused.code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(refused.status().message(), "D1_SESSION_ERROR: invalid bookmark or constraint");
  }
}

// Checklist 39.
TEST(D1, EveryBindingErrorCarriesProductionsPrefix) {
  D1Harness h;
  auto sql = h.All("SELECT * FROM missing");
  EXPECT_EQ(sql.status().message(), "D1_ERROR: no such table: missing: SQLITE_ERROR");
  EXPECT_EQ(sql.status().cf_code(), 7500);
  auto syntax = h.All("SELEC 1");
  EXPECT_EQ(syntax.status().message(), "D1_ERROR: near \"SELEC\": syntax error: SQLITE_ERROR");
  const std::vector<std::pair<Status, std::string>> errors = {
      {sql.status(), "D1_ERROR: "},
      {h.Run(h.db().Prepare("SELECT ?").Bind(json(json::value_t::discarded)).All()).status(),
       "D1_TYPE_ERROR: "},
      {h.FirstValue("SELECT 1 AS a", "b").status(), "D1_COLUMN_NOTFOUND: "},
      {h.Exec("BOGUS").status(), "D1_EXEC_ERROR: "},
      {h.db().WithSession("nope").status(), "D1_SESSION_ERROR: "},
      {h.Run(h.db().Dump()).status(), "D1_DUMP_ERROR: "},
  };
  for (const auto& [status, prefix] : errors) {
    EXPECT_FALSE(status.ok());
    EXPECT_TRUE(status.message().starts_with(prefix)) << status.message();
  }
}

// Dump() fails as it does on every current production database.
TEST(D1, DumpFailsAsOnCurrentDatabases) {
  D1Harness h;
  auto dump = h.Run(h.db().Dump());
  EXPECT_EQ(dump.code(), Code::kFailedPrecondition);
  EXPECT_EQ(dump.status().message(), "D1_DUMP_ERROR: Status + 400");
}

// A text of several statements runs them all; the result is the last one's.
TEST(D1, OneCallMayHoldSeveralStatementsOnlyTheLastWithParameters) {
  D1Harness h;
  auto result = h.All("CREATE TABLE t (v); INSERT INTO t VALUES (1); SELECT count(*) AS n FROM t");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(IntOf(*result->results[0].Get("n")), 1);
  auto params = h.All("INSERT INTO t VALUES (2); SELECT v FROM t WHERE v = ?", {2});
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->results.size(), 1u);
  auto early = h.All("INSERT INTO t VALUES (?); SELECT 1", {3});
  EXPECT_EQ(early.status().message(),
            "D1_ERROR: When executing multiple SQL statements in a single call, only the last "
            "statement can have parameters.");
  EXPECT_EQ(h.Count("t"), 2);
}

}  // namespace
}  // namespace cfemu::testing

namespace cfemu::testing {
namespace {

// SQLite's FAIL keeps a failing statement's earlier rows in autocommit mode; D1 runs every
// call in a transaction, so nothing of a failed call remains, however the conflict resolves.
TEST(D1, AFailedStatementLeavesNothingEvenWithFailConflictResolution) {
  D1Harness h;
  h.MustExec(
      "CREATE TABLE plain (k INTEGER UNIQUE)\n"
      "CREATE TABLE schema_fail (k INTEGER UNIQUE ON CONFLICT FAIL)\n"
      "CREATE TABLE guarded (k INTEGER)\n"
      "CREATE TRIGGER guard BEFORE INSERT ON guarded WHEN new.k = 2 BEGIN "
      "SELECT RAISE(FAIL, 'two'); END");
  EXPECT_FALSE(h.All("INSERT OR FAIL INTO plain VALUES (1), (2), (1)").ok());
  EXPECT_FALSE(h.All("INSERT INTO schema_fail VALUES (1), (2), (1)").ok());
  auto raised = h.All("INSERT INTO guarded VALUES (1), (2)");
  EXPECT_EQ(raised.status().message(),
            "D1_ERROR: two: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_TRIGGER)");
  EXPECT_EQ(h.Count("plain"), 0);
  EXPECT_EQ(h.Count("schema_fail"), 0);
  EXPECT_EQ(h.Count("guarded"), 0);
  // The same holds for statements the database has compiled before...
  EXPECT_FALSE(h.All("INSERT OR FAIL INTO plain VALUES (1), (2), (1)").ok());
  EXPECT_FALSE(h.All("INSERT INTO schema_fail VALUES (1), (2), (1)").ok());
  EXPECT_EQ(h.Count("plain") + h.Count("schema_fail"), 0);
  // ...and for one compiled before the schema learnt to FAIL.
  const std::string insert = "INSERT INTO late VALUES (?), (?)";
  h.MustExec("CREATE TABLE late (k INTEGER UNIQUE)");
  ASSERT_TRUE(h.All(insert, {1, 2}).ok());
  ASSERT_TRUE(h.All(insert, {3, 4}).ok());
  h.MustExec("DROP TABLE late\nCREATE TABLE late (k INTEGER UNIQUE ON CONFLICT FAIL)");
  ASSERT_TRUE(h.All(insert, {1, 2}).ok());
  EXPECT_FALSE(h.All(insert, {5, 5}).ok());
  EXPECT_EQ(h.Count("late"), 2);
}

// One plain statement the database has run before takes SQLite's autocommit path, with the
// same results as the transaction around it.
TEST(D1, RepeatedPlainStatementsBehaveAsTheFirstRun) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)");
  for (int i = 0; i < 3; ++i) {
    auto inserted = h.All("INSERT INTO t (v) VALUES (?)", {std::to_string(i)});
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
    EXPECT_EQ(inserted->meta.changes, 1);
    EXPECT_EQ(inserted->meta.last_row_id, i + 1);
    EXPECT_TRUE(inserted->meta.changed_db);
    EXPECT_GT(inserted->meta.size_after, 0);
    auto duplicate = h.All("INSERT INTO t (v) VALUES (?)", {std::to_string(i)});
    EXPECT_EQ(duplicate.code(), Code::kFailedPrecondition);
  }
  const std::uint64_t commits = h.service().store().commits();
  auto read = h.All("SELECT count(*) AS n FROM t");
  read = h.All("SELECT count(*) AS n FROM t");
  EXPECT_FALSE(read->meta.changed_db);
  EXPECT_EQ(h.service().store().commits(), commits);  // Reads commit nothing.
  EXPECT_EQ(IntOf(*read->results[0].Get("n")), 3);
}

}  // namespace
}  // namespace cfemu::testing
