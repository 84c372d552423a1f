// The consumer's working state (private to consumer*.cc): one Invocation per message batch,
// one JobRun per claimed job, and the finish committer that groups the finish batches of jobs
// that complete together into one D1 batch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/engine/consumer.h"
#include "src/engine/effects.h"
#include "src/engine/job_store.h"

namespace cfemu::engine {

struct Invocation;

struct ConsumerState {
  EngineBindings bindings;
  EngineConfig config;
  Processor processor;
  ConsumerOptions options;
  core::Random random{0};
  std::uint64_t invocations = 0;
  // Engine::Close: a closed consumer claims nothing; Close waits until `running` is zero.
  bool closed = false;
  int running = 0;
  core::Event idle;
  std::set<Invocation*> live;  // Invocations in flight (Close(force) aborts their jobs).
};

// How a message is answered: push messages call Ack/Retry on the batch; pulled messages are
// collected by lease id for one ack call.
class MessageActions {
 public:
  virtual ~MessageActions() = default;
  virtual void Ack(std::size_t index) = 0;
  virtual void Retry(std::size_t index, int delay_seconds) = 0;
};

// One message of the batch with its decoded envelope.
struct Incoming {
  std::size_t index = 0;
  std::string message_id;
  int attempts = 0;
  Envelope envelope;
};

struct Invocation;

enum class FinishKind { kComplete, kRetry, kFail, kDelay };

struct JobRun {
  Invocation* invocation = nullptr;
  Job job;  // The claimed row (state active, gen = token).
  std::int64_t token = 0;
  // The gen the finish's guards require: the token, except under BrokenRule::kNoFencing.
  std::int64_t fence = 0;
  QueueConfig config;
  AbortSignal signal;
  store::Buffered buffered;
  std::int64_t last_flush = 0;
  bool discarded = false;
  std::optional<std::int64_t> delayed_until;
  std::optional<std::int64_t> rate_limited_until;
  // The finish, filled when the processor returns.
  FinishKind kind = FinishKind::kComplete;
  std::string result_json = "null";
  FailureDecision decision;
  std::vector<std::string> stacktrace;
  bool applied = false;  // The finish batch changed the row.
  bool finished = false;
  core::Event done;
};

struct Invocation {
  std::shared_ptr<ConsumerState> state;
  std::shared_ptr<EngineContext> context;
  platform::Env* env = nullptr;
  MessageActions* actions = nullptr;
  std::string owner;
  std::optional<core::Instant> deadline;
  // Jobs in flight by queue and id, for renewals (what the renew loop may still touch).
  std::map<std::string, std::map<std::string, JobRun*>> inflight;
  std::set<std::string> renewing;  // Queues with a renew loop running.
  bool finished = false;           // The handler returned: the renew loops stop.
};

// Groups finishes that are submitted while another group is being written (group commit).
class FinishCommitter {
 public:
  explicit FinishCommitter(Invocation& invocation) : invocation_(invocation) {}
  // Completes when the run's finish batch committed (run.applied says whether it changed the
  // row) or was given up.
  core::Task<void> Submit(JobRun& run);

 private:
  core::Task<void> Flush(std::vector<JobRun*> group);
  Invocation& invocation_;
  std::vector<JobRun*> pending_;
  bool flushing_ = false;
};

// Runs the processor of `run` and decides its finish (consumer_finish.cc).
core::Task<void> ProcessJob(Invocation& invocation, JobRun& run, FinishCommitter& committer);

}  // namespace cfemu::engine
