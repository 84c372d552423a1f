#include "emulator/d1/d1_binding.h"

#include <utility>

#include "emulator/d1/d1_errors.h"
#include "emulator/d1/d1_session.h"
#include "src/core/cover.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using core::Task;
using platform::D1PreparedStatement;
using platform::D1Result;

namespace {

// D6: a heavy tail on top of the site's latency (remote round trips that went badly).
constexpr core::Duration kTailScale = core::Milliseconds(20);
constexpr double kTailAlpha = 1.5;
constexpr core::Duration kTailCap = core::Seconds(30);

std::string_view Pick(core::Random& random, std::span<const std::string_view> texts) {
  return texts[static_cast<std::size_t>(random.Below(texts.size()))];
}

// JavaScript's String.prototype.trim() for the whitespace SQL text holds.
std::string_view TrimSql(std::string_view sql) {
  const auto first = sql.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos) return std::string_view();
  const auto last = sql.find_last_not_of(" \t\r\n\f\v");
  return sql.substr(first, last - first + 1);
}

}  // namespace

D1Binding::D1Binding(D1Service& service, const ActorScope& scope)
    : service_(service),
      scope_(scope),
      run_latency_(scope.host().latency().Register("d1.run")),
      batch_latency_(scope.host().latency().Register("d1.batch")),
      exec_latency_(scope.host().latency().Register("d1.exec")),
      dump_latency_(scope.host().latency().Register("d1.dump")) {}

// ---- The steps of a call ---------------------------------------------------------------------

Status D1Binding::CountQuery() {
  ++queries_;
  if (service_.caps_queries() && scope_.invocation() != nullptr &&
      queries_ > service_.options().limits.queries_per_invocation) {
    COVER("d1.queries_per_invocation");
    return d1_errors::D1Error(core::Code::kResourceExhausted, d1_errors::kTooManyQueries);
  }
  return Status::Ok();
}

Task<Status> D1Binding::Delay(LatencyModel::Site site) {
  Host& host = scope_.host();
  core::Duration delay = host.latency().Draw(site);
  FaultInjector& faults = host.faults();
  if (faults.Enabled(Fault::kD6LatencyTail) &&
      faults.Fire(Fault::kD6LatencyTail, "d1.latency_tail", scope_.actor())) {
    delay += faults.RandomFor(Fault::kD6LatencyTail).Pareto(kTailScale, kTailAlpha, kTailCap);
  }
  if (delay > core::Duration::Zero()) co_return co_await scope_.Sleep(delay);
  co_return Status::Ok();
}

// The faults that fail a call before it reaches SQLite: D7, D3, D1. Each has no effect.
Task<Status> D1Binding::BeforeExecute() {
  FaultInjector& faults = scope_.host().faults();
  const std::string& actor = scope_.actor();
  if (calls_ > 0 && faults.Enabled(Fault::kD7ObjectReset) &&
      faults.Fire(Fault::kD7ObjectReset, "d1.reset", actor)) {
    service_.store().ForgetStatements();  // The object's memory is gone.
    co_return d1_errors::D1Error(
        core::Code::kUnavailable,
        Pick(faults.RandomFor(Fault::kD7ObjectReset), d1_errors::kObjectReset));
  }
  if (faults.Enabled(Fault::kD3TimeoutOverload) &&
      faults.Fire(Fault::kD3TimeoutOverload, "d1.queue", actor)) {
    core::Random& random = faults.RandomFor(Fault::kD3TimeoutOverload);
    if (random.Chance(0.5)) {
      const core::Duration queued = random.Between(core::Seconds(1), core::Seconds(5));
      CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(queued));
      co_return d1_errors::D1Error(core::Code::kTimeout, random.Chance(0.5)
                                                             ? d1_errors::kQueuedTooLong
                                                             : d1_errors::kStorageTimeout);
    }
    co_return d1_errors::D1Error(core::Code::kOverloaded, d1_errors::kTooManyQueued);
  }
  if (faults.Enabled(Fault::kD1RetryableError) &&
      faults.Fire(Fault::kD1RetryableError, "d1.before_commit", actor)) {
    co_return d1_errors::D1Error(
        core::Code::kUnavailable,
        Pick(faults.RandomFor(Fault::kD1RetryableError), d1_errors::kRetryable));
  }
  co_return Status::Ok();
}

bool D1Binding::ReadOnly(std::span<const D1PreparedStatement> statements) {
  if (statements.empty()) return false;
  for (const auto& statement : statements) {
    if (!statement.status().ok() || !service_.store().IsReadOnly(statement.sql())) return false;
  }
  return true;
}

// D5: the attempts a read-only call takes (each failed one costs a round trip), or the
// retryable error when all of them fail.
Task<Result<int>> D1Binding::ReadAttempts(LatencyModel::Site site) {
  FaultInjector& faults = scope_.host().faults();
  const int max_attempts = static_cast<int>(core::limits::kD1ReadRetries) + 1;
  int attempts = 1;
  while (faults.Fire(Fault::kD5ReadAutoRetry, "d1.read_retry", scope_.actor())) {
    if (attempts == max_attempts) {
      co_return d1_errors::D1Error(core::Code::kUnavailable, d1_errors::kReplyLost);
    }
    ++attempts;
    CFEMU_CO_RETURN_IF_ERROR(co_await Delay(site));
  }
  co_return attempts;
}

// D4: the index of the batch statement that fails, if the fault fires.
std::optional<std::size_t> D1Binding::BatchFailure(std::size_t statements) {
  FaultInjector& faults = scope_.host().faults();
  if (statements == 0 || !faults.Enabled(Fault::kD4BatchRollback) ||
      !faults.Fire(Fault::kD4BatchRollback, "d1.batch.statement", scope_.actor())) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(faults.RandomFor(Fault::kD4BatchRollback).Below(statements));
}

// D2: the call committed; its reply may still be lost.
Status D1Binding::AfterCommit(bool changed) {
  if (changed) scope_.NoteMutation();
  FaultInjector& faults = scope_.host().faults();
  if (changed && faults.Enabled(Fault::kD2IndeterminateWrite) &&
      faults.Fire(Fault::kD2IndeterminateWrite, "d1.after_commit", scope_.actor())) {
    return d1_errors::D1Error(core::Code::kIndeterminate, d1_errors::kReplyLost);
  }
  return Status::Ok();
}

void D1Binding::TraceCall(bool batch, const std::string& label, std::span<const D1Result> results) {
  core::TraceSink& trace = scope_.host().trace();
  if (!trace.enabled()) return;
  std::int64_t changes = 0;
  std::int64_t rows = 0;
  for (const auto& result : results) {
    changes += result.meta.changes;
    rows += static_cast<std::int64_t>(result.results.size());
  }
  if (batch) {
    trace.Emit(scope_.actor(), core::TraceEvent("d1.batch")
                                   .Str("db", service_.name())
                                   .Str("label", label)
                                   .Int("changes", changes)
                                   .Int("statements", static_cast<std::int64_t>(results.size())));
  } else {
    trace.Emit(scope_.actor(), core::TraceEvent("d1.query")
                                   .Str("db", service_.name())
                                   .Int("changes", changes)
                                   .Int("rows", rows));
  }
}

void D1Binding::TraceFailure(std::string_view op, const Status& status) {
  core::TraceSink& trace = scope_.host().trace();
  if (!trace.enabled()) return;
  trace.Emit(scope_.actor(), core::TraceEvent("d1.failed")
                                 .Str("db", service_.name())
                                 .Str("op", std::string(op))
                                 .Str("code", std::string(core::CodeName(status.code()))));
}

// ---- Calls -----------------------------------------------------------------------------------

// The part of a call that may wait: latency (with D6), the faults that fail a call before it
// runs (D7, D3, D1) and D5's retries. The attempts the call takes, or its failure.
Task<Result<int>> D1Binding::BeforeRun(bool batch,
                                       std::span<const D1PreparedStatement> statements) {
  const LatencyModel::Site site = batch ? batch_latency_ : run_latency_;
  CFEMU_CO_RETURN_IF_ERROR(co_await Delay(site));
  Status before = co_await BeforeExecute();
  if (!before.ok()) {
    TraceFailure(batch ? "batch" : "query", before);
    co_return before;
  }
  int attempts = 1;
  if (scope_.host().faults().Enabled(Fault::kD5ReadAutoRetry) && ReadOnly(statements)) {
    auto read = co_await ReadAttempts(site);
    if (!read.ok()) {
      TraceFailure(batch ? "batch" : "query", read.status());
      co_return read.status();
    }
    attempts = *read;
  }
  co_return attempts;
}

// True when a call may have to wait or fail before it runs: never in the strict profile
// without faults, so that path needs no coroutine of its own.
bool D1Binding::MayWait() const {
  const FaultInjector& faults = scope_.host().faults();
  return scope_.host().latency().enabled() || faults.Enabled(Fault::kD6LatencyTail) ||
         faults.Enabled(Fault::kD7ObjectReset) || faults.Enabled(Fault::kD3TimeoutOverload) ||
         faults.Enabled(Fault::kD1RetryableError) || faults.Enabled(Fault::kD5ReadAutoRetry);
}

// Before the statements run: D4's decision for a batch, and the counters.
D1RunOptions D1Binding::StartRun(bool batch, std::size_t statements) {
  D1RunOptions options;
  if (batch) options.fail_at = BatchFailure(statements);
  if (options.fail_at) {
    options.failure = d1_errors::D1Error(core::Code::kUnavailable, d1_errors::kRetryable[2]);
  }
  ++calls_;
  D1Stats& stats = service_.mutable_stats();
  ++stats.calls;
  if (batch) ++stats.batches;
  stats.statements += static_cast<std::int64_t>(statements);
  return options;
}

// After they ran: the bookkeeping, the trace, the session's bookmark and D2. `failure` is the
// store's error (OK when `results` holds the call's results).
Status D1Binding::FinishRun(bool batch, const std::string& label, SessionState* session,
                            int attempts, const Status& failure, std::span<D1Result> results) {
  D1Stats& stats = service_.mutable_stats();
  if (!failure.ok()) {
    ++stats.failed;
    TraceFailure(batch ? "batch" : "query", failure);
    return failure;
  }
  const bool changed = !results.empty() && results.front().meta.changed_db;
  if (changed) ++stats.committed;
  for (auto& result : results) result.meta.total_attempts = attempts;
  if (session != nullptr) {
    std::string bookmark = service_.store().Bookmark();
    if (!session->bookmark || *session->bookmark < bookmark)
      session->bookmark = std::move(bookmark);
  }
  TraceCall(batch, label, results);
  return AfterCommit(changed);
}

Result<std::vector<D1Result>> D1Binding::RunNow(bool batch,
                                                std::span<const D1PreparedStatement> statements,
                                                platform::D1Rows rows, const std::string& label,
                                                SessionState* session, int attempts) {
  const D1RunOptions options = StartRun(batch, statements.size());
  auto results = service_.store().Run(statements, rows, options);
  const Status failure = results.ok() ? Status::Ok() : results.status();
  std::span<D1Result> done;
  if (results.ok()) done = *results;
  CFEMU_RETURN_IF_ERROR(FinishRun(batch, label, session, attempts, failure, done));
  return results;
}

Task<Result<std::vector<D1Result>>> D1Binding::Call(bool batch,
                                                    std::vector<D1PreparedStatement> statements,
                                                    platform::D1Rows rows, std::string label,
                                                    std::shared_ptr<SessionState> session) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter(batch ? "d1.batch" : "d1.run"));
  if (batch && statements.empty()) co_return std::vector<D1Result>();
  CFEMU_CO_RETURN_IF_ERROR(CountQuery());
  int attempts = 1;
  if (MayWait()) {
    auto before = co_await BeforeRun(batch, statements);
    if (!before.ok()) co_return before.status();
    attempts = *before;
  }
  co_return RunNow(batch, statements, rows, label, session.get(), attempts);
}

Task<Result<D1Result>> D1Binding::Execute(D1PreparedStatement statement, platform::D1Rows rows) {
  return ExecuteIn(std::move(statement), rows, nullptr);
}

// One statement, without the vector and the second coroutine of Call().
Task<Result<D1Result>> D1Binding::ExecuteIn(D1PreparedStatement statement, platform::D1Rows rows,
                                            std::shared_ptr<SessionState> session) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("d1.run"));
  CFEMU_CO_RETURN_IF_ERROR(CountQuery());
  const std::span<const D1PreparedStatement> statements(&statement, 1);
  int attempts = 1;
  if (MayWait()) {
    auto before = co_await BeforeRun(/*batch=*/false, statements);
    if (!before.ok()) co_return before.status();
    attempts = *before;
  }
  (void)StartRun(/*batch=*/false, 1);
  auto result = service_.store().RunOne(statement, rows);
  const Status failure = result.ok() ? Status::Ok() : result.status();
  std::span<D1Result> done;
  if (result.ok()) done = std::span(&*result, 1);
  CFEMU_CO_RETURN_IF_ERROR(
      FinishRun(/*batch=*/false, std::string(), session.get(), attempts, failure, done));
  co_return std::move(result);  // The whole Result: one move of the D1Result, not three.
}

Task<Result<std::vector<D1Result>>> D1Binding::Batch(std::vector<D1PreparedStatement> statements,
                                                     std::string label) {
  return Call(/*batch=*/true, std::move(statements), platform::D1Rows::kObjects, std::move(label),
              nullptr);
}

Task<Result<platform::D1ExecResult>> D1Binding::Exec(std::string sql) {
  return RunExec(std::move(sql));
}

// exec(): the input, trimmed, split on newlines; each line runs on its own, and the first
// failing line stops the rest: "D1_EXEC_ERROR: Error in line N: <line>: <message>".
Task<Result<platform::D1ExecResult>> D1Binding::RunExec(std::string sql) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("d1.exec"));
  CFEMU_CO_RETURN_IF_ERROR(CountQuery());
  CFEMU_CO_RETURN_IF_ERROR(co_await Delay(exec_latency_));
  Status before = co_await BeforeExecute();
  if (!before.ok()) {
    TraceFailure("exec", before);
    co_return before;
  }
  ++calls_;
  platform::D1ExecResult exec;
  bool changed = false;
  std::int64_t changes = 0;
  std::string_view rest = TrimSql(sql);
  for (std::int64_t line_number = 1;; ++line_number) {
    const auto newline = rest.find('\n');
    const std::string line(rest.substr(0, newline));
    std::vector<D1PreparedStatement> statements;
    statements.push_back(D1PreparedStatement(this, line));
    ++service_.mutable_stats().calls;
    ++service_.mutable_stats().statements;
    auto results = service_.store().Run(statements, platform::D1Rows::kObjects, D1RunOptions());
    if (!results.ok()) {
      ++service_.mutable_stats().failed;
      TraceFailure("exec", results.status());
      if (changed) scope_.NoteMutation();  // The lines before it committed.
      co_return Status(results.status().code(),
                       "D1_EXEC_ERROR: Error in line " + std::to_string(line_number) + ": " + line +
                           ": " + std::string(d1_errors::Detail(results.status())),
                       results.status().cf_code());
    }
    ++exec.count;
    for (const auto& result : *results) {
      exec.duration += result.meta.duration;
      changes += result.meta.changes;
      changed = changed || result.meta.changed_db;
    }
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  if (changed) ++service_.mutable_stats().committed;
  core::TraceSink& trace = scope_.host().trace();
  if (trace.enabled()) {
    trace.Emit(scope_.actor(), core::TraceEvent("d1.exec")
                                   .Str("db", service_.name())
                                   .Int("count", exec.count)
                                   .Int("changes", changes));
  }
  CFEMU_CO_RETURN_IF_ERROR(AfterCommit(changed));
  co_return exec;
}

Task<Result<core::Bytes>> D1Binding::Dump() {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("d1.dump"));
  CFEMU_CO_RETURN_IF_ERROR(co_await Delay(dump_latency_));
  // Current databases answer HTTP 400; dump() worked only for alpha-era ones.
  co_return Status::FailedPrecondition(std::string(d1_errors::kDumpError));
}

Result<std::unique_ptr<platform::D1DatabaseSession>> D1Binding::WithSession(
    std::string constraint) {
  auto bookmark = ParseSessionConstraint(constraint, service_.store());
  if (!bookmark.ok()) return bookmark.status();
  return std::unique_ptr<platform::D1DatabaseSession>(
      std::make_unique<D1Session>(*this, std::move(*bookmark)));
}

}  // namespace cfemu::emulator
