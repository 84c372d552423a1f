// The consumer helper (engine-spec.md §4.2): a Cloudflare queue handler that turns envelopes
// into processor runs. Per message batch: decode (quarantine foreign bodies, retry newer
// protocols later), group by logical queue, then in waves of `prefetch` envelopes: admit through
// the coordinator, claim in D1 with the lease token (one batch for the wave), send re-delayed
// envelopes, ack, run the processors concurrently (at most `concurrency`), finish each job in a
// guarded batch (finishes that complete together share one), and release the wave's leases in
// one call. message.retry() is used only for infrastructure failures (R-INFRA) and newer
// protocols; job retries are fresh envelopes with the backoff delay.
//
// Execution is at least once (a crash, lease loss or stall re-runs a processor); transitions are
// exactly once per epoch, because every write is guarded by the row's gen.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/job.h"
#include "src/engine/transitions.h"
#include "src/platform/env.h"
#include "src/platform/queue.h"

namespace cfemu::engine {

// Fired when the processor should stop: its lease was lost or revoked, or the invocation's time
// is nearly spent. Advisory, as BullMQ's: a processor that ignores it is fenced by D1 anyway.
class AbortSignal {
 public:
  bool aborted() const { return aborted_; }
  const std::string& reason() const { return reason_; }
  void Abort(std::string reason) {
    if (aborted_) return;
    aborted_ = true;
    reason_ = std::move(reason);
    event_.Set();
  }
  // Completes when aborted. REQUIRES: the signal outlives the wait.
  core::Task<void> Wait() { return event_.Wait(); }

 private:
  bool aborted_ = false;
  std::string reason_;
  core::Event event_;
};

struct JobRun;  // The consumer's record of one claimed job.

// What a processor sees (BullMQ's job + token + helpers).
class JobContext {
 public:
  explicit JobContext(JobRun& run) : run_(run) {}

  const Job& job() const;
  // attempts_started, 1-based, as D1 counted it at the claim.
  std::int32_t attempt() const;
  std::int64_t token() const;
  platform::Env& env();
  core::Random& random();
  const AbortSignal& signal() const;

  // Sleeps on the invocation's clock (a job that "takes 30 s" awaits 30 virtual seconds).
  core::Task<core::Status> Sleep(core::Duration duration);
  // Coalesced: at most one write per progressFlushMs, the last value wins, the tail is written
  // by the finish batch. Guarded by the lease token.
  core::Task<core::Status> UpdateProgress(Json progress);
  core::Task<core::Status> Log(std::string message);
  // Extends the lease now; false when it is lost (the abort signal fires too).
  core::Task<bool> Heartbeat();
  // This attempt's failure will not be retried.
  void Discard();
  // Returns kDelayed: `co_return ctx.MoveToDelayed(ts)` moves the job to delayed until `ts`
  // (ms) without using an attempt (T15).
  core::Status MoveToDelayed(std::int64_t timestamp_ms);
  // Empties the queue's rate bucket until now + ms and returns kRateLimited: `co_return` it to
  // put this job back until then without using an attempt.
  core::Task<core::Status> RateLimit(std::int64_t ms);
  // The return values of this flow parent's processed children ("queue:id" -> value).
  core::Task<core::Result<std::map<std::string, Json>>> GetChildrenValues();

 private:
  JobRun& run_;
};

// A non-OK result is a failed attempt; kUnrecoverable fails at once; kDelayed and kRateLimited
// (from MoveToDelayed / RateLimit) put the job back without using an attempt. An exception
// escaping the processor counts as a failure "uncaught exception: <what()>".
using Processor = std::function<core::Task<core::Result<Json>>(JobContext&)>;

struct ConsumerOptions {
  ConsumerOptions() = default;
  int concurrency = 1;          // Processors in flight per invocation.
  std::optional<int> prefetch;  // Envelopes per admission wave; default = concurrency.
  BackoffStrategies backoff_strategies;
  std::int64_t progress_flush_ms = 1'000;
  int infra_retry_delay_seconds = 10;  // message.retry() delay for R-INFRA.
  std::vector<std::string> queues;     // Logical queues served; empty = all.
};

// The outcome of HandlePulled: what to send in one `.../messages/ack` call.
struct PulledOutcome {
  std::vector<platform::LeaseId> acks;
  std::vector<platform::RetryRequest> retries;
};

struct ConsumerState;

class Consumer {
 public:
  Consumer(EngineBindings bindings, EngineConfig config, Processor processor,
           ConsumerOptions options, core::Random random);

  // The Cloudflare queue handler: (MessageBatch&, Env&, ExecutionContext&).
  platform::QueueHandler Handler() const;
  core::Task<core::Status> Handle(platform::MessageBatch& batch, platform::Env& env,
                                  platform::ExecutionContext& ctx) const;
  // The same algorithm over an HTTP-pulled batch (all messages, not the first).
  core::Task<core::Result<PulledOutcome>> HandlePulled(
      std::vector<platform::PulledMessage> messages, platform::Env& env) const;

 private:
  friend class Engine;  // Engine::Close reaches the consumers it created.
  std::shared_ptr<ConsumerState> state_;
};

// The dead-letter consumer (§4.13): turns dead-lettered envelopes into failed (dead-lettered)
// jobs and quarantines foreign bodies; every message gets one cfq_dead_letters row.
struct DeadLetterOptions {
  DeadLetterOptions() = default;
  int infra_retry_delay_seconds = 10;
};

class DeadLetterConsumer {
 public:
  DeadLetterConsumer(EngineBindings bindings, EngineConfig config, DeadLetterOptions options,
                     core::Random random);
  platform::QueueHandler Handler() const;
  core::Task<core::Status> Handle(platform::MessageBatch& batch, platform::Env& env,
                                  platform::ExecutionContext& ctx) const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cfemu::engine
