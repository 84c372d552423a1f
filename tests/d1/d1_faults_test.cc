// The D1 fault sites (faults-and-invariants.md §2.2): each fault, forced on by a plan, has
// exactly its documented effect, and is traced and counted.
#include <algorithm>

#include "emulator/d1/d1_errors.h"
#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

using emulator::Fault;

D1Harness WithFault(Fault fault, std::optional<std::int64_t> max_firings = 1) {
  D1Config config;
  config.faults = OnlyFault(fault, 1.0, max_firings);
  return D1Harness(config);
}

bool IsOneOf(std::string_view message, std::span<const std::string_view> texts) {
  return std::any_of(texts.begin(), texts.end(), [&](std::string_view text) {
    return message == "D1_ERROR: " + std::string(text);
  });
}

TEST(D1Faults, D1RetryableErrorBeforeCommitHasNoEffect) {
  D1Harness h = WithFault(Fault::kD1RetryableError);
  auto failed = h.Exec("CREATE TABLE t (v)");
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_TRUE(IsOneOf(failed.status().message(), emulator::d1_errors::kRetryable))
      << failed.status().message();
  EXPECT_EQ(h.sim().faults().fired(Fault::kD1RetryableError), 1);
  EXPECT_EQ(h.TraceLines("fault.fired").size(), 1u);
  EXPECT_FALSE(h.All("SELECT * FROM t").ok());     // The table was never created.
  EXPECT_TRUE(h.Exec("CREATE TABLE t (v)").ok());  // The retry works.
}

TEST(D1Faults, D2IndeterminateWriteCommitsAndLosesTheReply) {
  D1Harness h = WithFault(Fault::kD2IndeterminateWrite);
  ASSERT_TRUE(h.All("SELECT 1").ok());  // A read has no write whose reply could be lost.
  EXPECT_EQ(h.sim().faults().fired(Fault::kD2IndeterminateWrite), 0);
  auto created = h.Exec("CREATE TABLE t (v)");
  EXPECT_EQ(created.code(), Code::kIndeterminate);
  EXPECT_EQ(created.status().message(), "D1_ERROR: Network connection lost.");
  EXPECT_EQ(h.sim().faults().fired(Fault::kD2IndeterminateWrite), 1);
  auto inserted = h.All("INSERT INTO t VALUES (1)");  // The table exists: it committed.
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(h.Count("t"), 1);
}

TEST(D1Faults, D3TimeoutOrOverloadHasNoEffect) {
  int timeouts = 0;
  int overloads = 0;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    D1Config config;
    config.seed = seed;
    config.faults = OnlyFault(Fault::kD3TimeoutOverload);
    D1Harness h(config);
    const core::Instant before = h.sim().now();
    auto failed = h.Exec("CREATE TABLE t (v)");
    if (failed.code() == Code::kTimeout) {
      ++timeouts;
      EXPECT_GE(h.sim().now() - before, core::Seconds(1));  // It waited in the queue first.
      EXPECT_TRUE(failed.status().message() ==
                      "D1_ERROR: D1 DB is overloaded. Requests queued for too long." ||
                  failed.status().message() ==
                      "D1_ERROR: D1 DB storage operation exceeded timeout which caused object "
                      "to be reset.")
          << failed.status().message();
    } else {
      ++overloads;
      EXPECT_EQ(failed.code(), Code::kOverloaded);
      EXPECT_EQ(failed.status().message(),
                "D1_ERROR: D1 DB is overloaded. Too many requests queued.");
    }
    EXPECT_FALSE(h.All("SELECT * FROM t").ok());
  }
  EXPECT_GT(timeouts, 0);
  EXPECT_GT(overloads, 0);
}

TEST(D1Faults, D4BatchStatementFailureRollsBackTheWholeBatch) {
  D1Harness h = WithFault(Fault::kD4BatchRollback);
  h.MustExec("CREATE TABLE t (v)");
  std::vector<D1PreparedStatement> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(h.db().Prepare("INSERT INTO t VALUES (?)").Bind(i));
  auto failed = h.Batch(batch);
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_TRUE(failed.status().message().starts_with("D1_ERROR: "));
  EXPECT_EQ(h.sim().faults().fired(Fault::kD4BatchRollback), 1);
  EXPECT_EQ(h.Count("t"), 0);
  EXPECT_TRUE(h.Batch(batch).ok());
  EXPECT_EQ(h.Count("t"), 5);
}

TEST(D1Faults, D5ReadOnlyQueriesAreRetriedAndReportTheirAttempts) {
  D1Harness h = WithFault(Fault::kD5ReadAutoRetry, /*max_firings=*/1);
  h.MustExec("CREATE TABLE t (v)");
  ASSERT_TRUE(h.All("INSERT INTO t VALUES (1)").ok());
  ASSERT_TRUE(h.All("INSERT INTO t VALUES (2)").ok());
  EXPECT_EQ(h.sim().faults().fired(Fault::kD5ReadAutoRetry), 0);  // Writes are never retried.
  // Read-only is known once the database has compiled the statement (its first run).
  EXPECT_EQ(h.All("SELECT v FROM t")->meta.total_attempts, 1);
  auto read = h.All("SELECT v FROM t");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->meta.total_attempts, 2);
  EXPECT_EQ(read->results.size(), 2u);
  EXPECT_EQ(h.sim().faults().fired(Fault::kD5ReadAutoRetry), 1);
  EXPECT_EQ(h.All("SELECT v FROM t")->meta.total_attempts, 1);
  // When every attempt fails (three), the caller sees the error.
  D1Harness always = WithFault(Fault::kD5ReadAutoRetry, /*max_firings=*/std::nullopt);
  ASSERT_TRUE(always.All("SELECT 1").ok());
  auto failed = always.All("SELECT 1");
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_EQ(always.sim().faults().fired(Fault::kD5ReadAutoRetry), 3);
  auto write = always.All("CREATE TABLE t (v)");
  ASSERT_TRUE(write.ok());
  EXPECT_EQ(write->meta.total_attempts, 1);
  EXPECT_EQ(always.sim().faults().fired(Fault::kD5ReadAutoRetry), 3);
}

TEST(D1Faults, D6LatencyTailDelaysTheCall) {
  D1Harness h = WithFault(Fault::kD6LatencyTail);
  const core::Instant before = h.sim().now();
  ASSERT_TRUE(h.All("SELECT 1").ok());
  EXPECT_GE(h.sim().now() - before, core::Milliseconds(20));  // At least the Pareto scale.
  EXPECT_EQ(h.sim().faults().fired(Fault::kD6LatencyTail), 1);
  const core::Instant after = h.sim().now();
  ASSERT_TRUE(h.All("SELECT 1").ok());
  EXPECT_EQ(h.sim().now(), after);  // Strict: no latency without the fault.
}

TEST(D1Faults, D7ObjectResetBetweenTwoCallsFailsTheSecondWithoutEffect) {
  D1Harness h = WithFault(Fault::kD7ObjectReset);
  ASSERT_TRUE(h.Exec("CREATE TABLE t (v)").ok());  // The first call never meets a reset.
  auto failed = h.All("INSERT INTO t VALUES (1)");
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_TRUE(IsOneOf(failed.status().message(), emulator::d1_errors::kObjectReset))
      << failed.status().message();
  EXPECT_EQ(h.Count("t"), 0);
  EXPECT_EQ(h.sim().faults().fired(Fault::kD7ObjectReset), 1);
  EXPECT_EQ(h.TraceLines("d1.failed").size(), 1u);
}

TEST(D1Faults, KilledInvocationsGetCancelledAndChangeNothing) {
  D1Config config;
  config.in_invocation = true;
  D1Harness h(config);
  h.MustExec("CREATE TABLE t (v)");
  h.scope().invocation()->Kill(emulator::KillReason::kCrash, std::nullopt, "test", "test");
  EXPECT_EQ(h.All("INSERT INTO t VALUES (1)").code(), Code::kCancelled);
  EXPECT_EQ(h.service().store().commits() & 0xffffffff, 1u);  // Only the CREATE committed.
}

}  // namespace
}  // namespace cfemu::testing
