// D1's limits (checklist 35, 36): statement length, columns, value and row size, function
// arguments, LIKE patterns, database size and the 30 s query time; the optional cap of queries
// per invocation. Every over-limit input is an error, never a crash.
#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

std::string Repeat(char c, std::size_t n) { return std::string(n, c); }

// Checklist 35.
TEST(D1, StatementsLongerThanOneHundredThousandBytesAreRefused) {
  D1Harness h;
  const std::string prefix = "SELECT '";
  const std::string suffix = "' AS s";
  const std::size_t fill = 100'000 - prefix.size() - suffix.size();
  auto fits = h.All(prefix + Repeat('x', fill) + suffix);
  EXPECT_TRUE(fits.ok()) << fits.status().ToString();
  auto too_long = h.All(prefix + Repeat('x', fill + 1) + suffix);
  EXPECT_EQ(too_long.code(), Code::kTooLarge);
  EXPECT_EQ(too_long.status().message(), "D1_ERROR: statement too long: SQLITE_TOOBIG");
  // The limit is per statement: a batch of two long statements is fine.
  std::vector<D1PreparedStatement> batch;
  batch.push_back(h.db().Prepare(prefix + Repeat('y', fill) + suffix));
  batch.push_back(h.db().Prepare(prefix + Repeat('z', fill) + suffix));
  EXPECT_TRUE(h.Batch(std::move(batch)).ok());
}

std::string Columns(int n) {
  std::string sql = "CREATE TABLE wide (";
  for (int i = 0; i < n; ++i) sql += (i ? ", c" : "c") + std::to_string(i);
  return sql + ")";
}

// Checklist 35.
TEST(D1, TablesHaveAtMostOneHundredColumns) {
  D1Harness h;
  EXPECT_TRUE(h.All(Columns(100)).ok());
  auto wider = h.All(Columns(101).replace(13, 4, "wider"));
  EXPECT_EQ(wider.code(), Code::kTooLarge);
  EXPECT_EQ(wider.status().message(), "D1_ERROR: too many columns on wider: SQLITE_ERROR");
}

// Checklist 35.
TEST(D1, StringsBlobsAndRowsAreAtMostTwoMillionBytes) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (a, b)");
  const std::string at_limit = Repeat('s', 2'000'000 - 100);
  EXPECT_TRUE(h.All("INSERT INTO t VALUES (?, 1)", {at_limit}).ok());
  auto string = h.All("INSERT INTO t VALUES (?, 1)", {Repeat('s', 2'000'001)});
  EXPECT_EQ(string.code(), Code::kTooLarge);
  EXPECT_EQ(string.status().message(), "D1_ERROR: string or blob too big: SQLITE_TOOBIG");
  auto blob = h.All("INSERT INTO t VALUES (?, 1)", {core::Bytes(2'000'001, 7)});
  EXPECT_EQ(blob.code(), Code::kTooLarge);
  // Two values under the limit whose row is over it.
  const std::string half = Repeat('h', 1'100'000);
  auto row = h.All("INSERT INTO t VALUES (?, ?)", {half, half});
  EXPECT_EQ(row.code(), Code::kTooLarge);
  auto built = h.All("SELECT zeroblob(2000001)");
  EXPECT_EQ(built.code(), Code::kTooLarge);
  EXPECT_EQ(h.Count("t"), 1);
}

// Checklist 35.
TEST(D1, FunctionsTakeAtMostThirtyTwoArguments) {
  D1Harness h;
  std::string args = "1";
  for (int i = 1; i < 32; ++i) args += ", 1";
  EXPECT_TRUE(h.All("SELECT max(" + args + ")").ok());
  auto refused = h.All("SELECT max(" + args + ", 1)");
  EXPECT_EQ(refused.code(), Code::kTooLarge);
  EXPECT_EQ(refused.status().message(),
            "D1_ERROR: too many arguments on function max: SQLITE_ERROR");
}

// Checklist 35.
TEST(D1, LikeAndGlobPatternsAreAtMostFiftyBytes) {
  D1Harness h;
  EXPECT_TRUE(h.All("SELECT 'a' LIKE ?", {Repeat('%', 50)}).ok());
  auto refused = h.All("SELECT 'a' LIKE ?", {Repeat('%', 51)});
  EXPECT_EQ(refused.code(), Code::kTooLarge);
  EXPECT_EQ(refused.status().message(), "D1_ERROR: LIKE or GLOB pattern too complex: SQLITE_ERROR");
  EXPECT_EQ(h.All("SELECT 'a' GLOB ?", {Repeat('*', 51)}).code(), Code::kTooLarge);
}

// Checklist 35: the size cap (10 GB paid, 500 MB free) through max_page_count, lowered here.
TEST(D1, ADatabaseCannotGrowPastItsSizeCap) {
  D1Config config;
  config.limits.max_database_bytes = 64 * 4096;
  D1Harness h(config);
  h.MustExec("CREATE TABLE t (v BLOB)");
  Status full;
  int inserted = 0;
  for (; inserted < 200 && full.ok(); ++inserted) {
    full = h.All("INSERT INTO t VALUES (randomblob(4000))").status();
  }
  EXPECT_EQ(full.code(), Code::kResourceExhausted);
  EXPECT_EQ(full.message(), "D1_ERROR: database or disk is full: SQLITE_FULL");
  EXPECT_LE(h.service().store().size_bytes(), config.limits.max_database_bytes);
  // Reads and deletes still work at the cap.
  EXPECT_EQ(h.Count("t"), inserted - 1);
  EXPECT_TRUE(h.All("DELETE FROM t").ok());
  EXPECT_TRUE(h.All("INSERT INTO t VALUES (randomblob(4000))").ok());
  EXPECT_EQ(emulator::D1Limits::Free().max_database_bytes, 500'000'000);
  EXPECT_EQ(emulator::D1Limits().max_database_bytes, 10'000'000'000);
}

// Checklist 35: 30 s of query time, modelled as a budget of VM steps (no clock is read).
TEST(D1, AQueryOverItsTimeBudgetIsInterruptedAndChangesNothing) {
  D1Config config;
  config.limits.max_query_duration = core::Milliseconds(10);  // 1,000,000 VM steps.
  D1Harness h(config);
  h.MustExec("CREATE TABLE t (v)");
  const core::Instant before = h.sim().now();
  auto runaway = h.All(
      "INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
      "SELECT i FROM n");
  EXPECT_EQ(runaway.code(), Code::kTimeout);
  EXPECT_EQ(runaway.status().message(),
            "D1_ERROR: D1 DB exceeded its CPU time limit and was reset.");
  EXPECT_EQ(h.sim().now(), before);  // Virtual time did not move.
  EXPECT_EQ(h.Count("t"), 0);
  // The budget is per call: the next one starts afresh.
  EXPECT_TRUE(h.All("INSERT INTO t VALUES (1)").ok());
}

// Checklist 36: a cap of 50 (free) or 1,000 (paid) queries per invocation, when on.
TEST(D1, QueriesPerInvocationAreCappedWhenTheCapIsOn) {
  D1Config config;
  config.in_invocation = true;
  config.cap_queries = true;
  config.limits = emulator::D1Limits::Free();
  D1Harness h(config);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(h.All("SELECT 1").ok()) << i;
  auto refused = h.All("SELECT 1");
  EXPECT_EQ(refused.code(), Code::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "D1_ERROR: Too many API requests by single worker invocation.");
  EXPECT_EQ(emulator::D1Limits().queries_per_invocation, 1'000);
}

// Checklist 36: off in the strict profile, on in the others, outside invocations never.
TEST(D1, TheQueryCapIsOffInStrictAndOnInOtherProfiles) {
  D1Config strict;
  strict.in_invocation = true;
  strict.limits.queries_per_invocation = 3;
  D1Harness off(strict);
  EXPECT_FALSE(off.service().caps_queries());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(off.All("SELECT 1").ok());
  D1Config fidelity = strict;
  fidelity.profile = emulator::Profile::kFidelity;
  fidelity.faults = emulator::FaultPlan(emulator::Profile::kStrict);  // No faults, only the cap.
  D1Harness on(fidelity);
  EXPECT_TRUE(on.service().caps_queries());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(on.All("SELECT 1").ok());
  EXPECT_EQ(on.All("SELECT 1").code(), Code::kResourceExhausted);
  D1Config outside = fidelity;
  outside.in_invocation = false;
  D1Harness free_actor(outside);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(free_actor.All("SELECT 1").ok());
}

}  // namespace
}  // namespace cfemu::testing
