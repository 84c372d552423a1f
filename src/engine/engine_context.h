// What every engine component works with: the resolved bindings of one Env (D1, the
// coordinator namespace, producer bindings by logical queue, the optional KV cache), the
// configuration of the queues this context has seen, a random stream, and the trace. One
// context per actor: a producer's Engine, each consumer invocation, each coordinator instance,
// each cron tick.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/trace.h"
#include "src/engine/envelope.h"
#include "src/engine/queue_config.h"
#include "src/platform/d1.h"
#include "src/platform/durable_object.h"
#include "src/platform/env.h"
#include "src/platform/kv.h"

namespace cfemu::engine {

// Binding names, as in wrangler.jsonc. Logical queues map to producer bindings; several
// logical queues may share one physical queue, since the envelope names its logical queue.
struct EngineBindings {
  EngineBindings() = default;
  std::string d1 = "DB";
  std::string coordinator = "COORDINATOR";
  std::string queue = "JOBS";                 // Producer binding of unlisted logical queues.
  std::map<std::string, std::string> queues;  // Logical queue -> producer binding.
  std::string kv;                             // Optional cache; empty = none.

  const std::string& ProducerFor(std::string_view logical_queue) const;
};

struct EngineConfig {
  EngineConfig() = default;
  // Consult the KV pause hint before a direct send (needs a kv binding).
  bool kv_pause_hint = false;
  // Cache throttle deduplication keys in KV (needs a kv binding; engine-spec.md §4.8): a
  // single add that hits a live cached key reads the keyed job instead of writing a batch.
  // KV is eventually consistent: for up to 60 s after removeDeduplicationKey or obliterate, a
  // stale entry may still deduplicate (and records no `deduplicated` event).
  bool kv_throttle_cache = false;
  // For checking the checkers only (`cfemu run --break`): a deliberately broken engine rule.
  // kNoFencing drops the fencing guard of finishes: a run whose lease was lost finishes the row
  // under the newer run's gen, which INV-06 must catch.
  enum class BrokenRule { kNone, kNoFencing };
  BrokenRule broken_rule = BrokenRule::kNone;
};

struct ConsumerState;

// The state of an engine's job id generator (NewJobId): the last millisecond and the counter
// in the random bits of the ids made in it.
struct JobIdClock {
  std::int64_t ms = -1;
  std::uint64_t high = 0;  // UUIDv7 rand_a, 12 bits.
  std::uint64_t low = 0;   // rand_b, 62 bits.
};

// A new job id (UUIDv7): the creation time, then a counter that starts at bits drawn from
// `random` in each new millisecond. Successive ids of one clock increase.
std::string NewJobId(core::Random& random, JobIdClock& clock, std::int64_t now_ms);

struct EngineContext {
  platform::Env* env = nullptr;
  EngineBindings bindings;
  EngineConfig config;
  core::Random random{0};
  JobIdClock job_ids;
  platform::D1Database* db = nullptr;
  platform::DurableObjectNamespace* coordinators = nullptr;
  platform::KvNamespace* kv = nullptr;  // Null without a kv binding.
  // Queues whose cfq_queues row this context has seen, with their configuration.
  std::map<std::string, QueueConfig, std::less<>> queues;
  // Set by Engine::Close: adds fail with kFailedPrecondition.
  bool closed = false;
  // The consumers created by this engine (Close waits for their invocations).
  std::vector<std::weak_ptr<ConsumerState>> consumers;

  std::int64_t NowMs() const { return env->clock().Now().unix_ms(); }
  // The producer binding of a logical queue.
  core::Result<platform::QueueProducer*> Producer(std::string_view queue);
  // A fresh stub of the queue's coordinator (a stub that saw a failure stays broken, so every
  // call sequence starts with a new one; making one costs no I/O).
  std::unique_ptr<platform::DurableObjectStub> Coordinator(std::string_view queue);
  bool tracing() const { return env->tracing(); }
  void Trace(const core::TraceEvent& event) { env->Trace(event); }
};

// The KV key that caches a throttle deduplication key (EngineConfig::kv_throttle_cache).
inline std::string ThrottleKvKey(std::string_view queue, std::string_view dedup_id) {
  return "cfq:dedupe:" + std::string(queue) + ":" + std::string(dedup_id);
}

// Resolves the bindings in `env`: kFailedPrecondition naming a missing D1 or coordinator
// binding (a missing binding is a configuration error, never "coordination off").
core::Result<std::shared_ptr<EngineContext>> MakeEngineContext(platform::Env& env,
                                                               EngineBindings bindings,
                                                               core::Random random,
                                                               EngineConfig config);

// ---- Envelopes out -------------------------------------------------------------------------

struct OutgoingEnvelope {
  OutgoingEnvelope(Envelope envelope, int delay_seconds)
      : envelope(std::move(envelope)), delay_seconds(delay_seconds) {}
  Envelope envelope;
  int delay_seconds = 0;
};

// Sends the envelopes through their logical queues' producer bindings, in order, with at most
// 100 messages per SendBatch. The rows are already marked dispatched (the outbox rule), so a
// failed send is recovered by R-LOST; the first failure is returned for the caller to log.
core::Task<core::Status> SendEnvelopes(EngineContext& context,
                                       std::vector<OutgoingEnvelope> envelopes);

// Asks the queue's coordinator for a dispatch pass at `at` (kick). Best effort: the cron tick
// kicks queues with undispatched due rows (R-DISPATCH).
core::Task<core::Status> KickCoordinator(EngineContext& context, std::string queue,
                                         std::int64_t at);

// The configuration of `queue`: this context's copy, else the stored row's, else the defaults
// (opening the queue: its cfq_queues and cfq_counts rows, and the coordinator's config).
core::Task<core::Result<QueueConfig>> QueueConfigFor(EngineContext& context, std::string queue);

// Writes the queue's row, counts and config, and pushes the config to its coordinator.
core::Task<core::Status> OpenQueueRows(EngineContext& context, std::string queue,
                                       QueueConfig config);

// A status for D1 failures that mean "the engine's tables are missing".
core::Status SchemaMissingOr(core::Status status);

}  // namespace cfemu::engine
