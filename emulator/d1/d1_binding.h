// The D1 binding of one actor's Env (`env.DB`): every call enters through the actor's scope
// (so a killed invocation gets kCancelled), waits the seeded latency of its site ("d1.run",
// "d1.batch", "d1.exec", "d1.dump"), may meet a fault of faults-and-invariants.md §2.2, runs
// on the database as one transaction, and is traced (`d1.query`, `d1.batch`, `d1.exec`,
// `d1.failed`) when tracing is on.
//
// Faults, each decided at a named site and recorded (trace `fault.fired`, coverage, counters):
// - D1 "d1.before_commit": a documented retryable D1_ERROR (kUnavailable); nothing ran.
// - D2 "d1.after_commit": the call committed, then its reply was lost (kIndeterminate,
//   "Network connection lost."). Decided only for calls that wrote.
// - D3 "d1.queue": queued too long (kTimeout, after 1-5 s) or too many queued (kOverloaded);
//   nothing ran.
// - D4 "d1.batch.statement": statement k of a batch (k drawn uniformly) fails after the ones
//   before it ran; all roll back (kUnavailable).
// - D5 "d1.read_retry": a read-only call (of statements the database has run before) fails
//   internally and is retried, up to 2 times;
//   meta.total_attempts says how many attempts it took; after 3 failures the caller sees the
//   error. Writes are never retried (never decided for them).
// - D6 "d1.latency_tail": extra Pareto-distributed latency before the call.
// - D7 "d1.reset": the database's object resets between two calls of this binding: the later
//   call fails with kUnavailable and has no effect; cached statements are lost.
//
// Checklist 36: with the cap on (D1Options), an invocation's binding refuses its calls beyond
// limits.queries_per_invocation ("Too many API requests by single worker invocation.");
// a batch counts as one query (one subrequest). Envs outside an invocation are not capped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/d1/d1_service.h"
#include "emulator/sim/actor_runtime.h"
#include "src/platform/d1.h"

namespace cfemu::emulator {

class D1Binding final : public platform::D1Database {
 public:
  // What a session has seen: the greatest bookmark of its calls.
  struct SessionState {
    std::optional<std::string> bookmark;
  };

  // REQUIRES: `service` and `scope` outlive the binding.
  D1Binding(D1Service& service, const ActorScope& scope);

  core::Task<core::Result<std::vector<platform::D1Result>>> Batch(
      std::vector<platform::D1PreparedStatement> statements, std::string label) override;
  core::Task<core::Result<platform::D1ExecResult>> Exec(std::string sql) override;
  core::Task<core::Result<core::Bytes>> Dump() override;
  core::Result<std::unique_ptr<platform::D1DatabaseSession>> WithSession(
      std::string constraint) override;
  core::Result<std::string> SnapshotForTest() override { return service_.SnapshotForTest(); }
  core::Task<core::Result<platform::D1Result>> Execute(platform::D1PreparedStatement statement,
                                                       platform::D1Rows rows) override;

  // One call of statements as one transaction (a single statement is a batch of one);
  // `session` (may be null) receives the bookmark.
  core::Task<core::Result<std::vector<platform::D1Result>>> Call(
      bool batch, std::vector<platform::D1PreparedStatement> statements, platform::D1Rows rows,
      std::string label, std::shared_ptr<SessionState> session);

  // One statement; its result is the last statement's of a multi-statement text.
  core::Task<core::Result<platform::D1Result>> ExecuteIn(platform::D1PreparedStatement statement,
                                                         platform::D1Rows rows,
                                                         std::shared_ptr<SessionState> session);

  std::int64_t queries() const { return queries_; }

 private:
  core::Status CountQuery();
  core::Task<core::Status> Delay(LatencyModel::Site site);
  core::Task<core::Status> BeforeExecute();
  core::Task<core::Result<int>> ReadAttempts(LatencyModel::Site site);
  bool ReadOnly(std::span<const platform::D1PreparedStatement> statements);
  bool MayWait() const;
  core::Task<core::Result<int>> BeforeRun(
      bool batch, std::span<const platform::D1PreparedStatement> statements);
  core::Result<std::vector<platform::D1Result>> RunNow(
      bool batch, std::span<const platform::D1PreparedStatement> statements, platform::D1Rows rows,
      const std::string& label, SessionState* session, int attempts);
  std::optional<std::size_t> BatchFailure(std::size_t statements);
  core::Status AfterCommit(bool changed);
  void TraceCall(bool batch, const std::string& label, std::span<const platform::D1Result> results);
  D1RunOptions StartRun(bool batch, std::size_t statements);
  core::Status FinishRun(bool batch, const std::string& label, SessionState* session, int attempts,
                         const core::Status& failure, std::span<platform::D1Result> results);
  void TraceFailure(std::string_view op, const core::Status& status);
  core::Task<core::Result<platform::D1ExecResult>> RunExec(std::string sql);

  D1Service& service_;
  const ActorScope& scope_;
  LatencyModel::Site run_latency_;
  LatencyModel::Site batch_latency_;
  LatencyModel::Site exec_latency_;
  LatencyModel::Site dump_latency_;
  std::int64_t queries_ = 0;  // Calls made through this binding (the invocation's count).
  std::int64_t calls_ = 0;    // Calls that reached the database.
};

}  // namespace cfemu::emulator
