// Env: what a Worker sees as `env`, one per actor (a test, a producer, each consumer
// invocation, later each Durable Object instance and cron tick). Its bindings carry that
// actor's cancel token, clock view and trace label. EnvSpec declares the bindings in C++; the
// wrangler.jsonc loader fills the same struct.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/cancel.h"
#include "src/core/limits.h"
#include "src/core/runtime.h"
#include "src/core/trace.h"
#include "src/platform/queue.h"
#include "src/platform/scheduled.h"

namespace cfemu::platform {

struct QueueSpec {
  std::string name;  // Lowercase letters, digits and dashes, at most 63 characters.
  Duration delivery_delay = Duration::Zero();  // 0 ... 12 h: the queue's default send delay.
  Duration message_retention_period = core::limits::kQueueDefaultRetention;  // 60 s ... 14 d.
};

struct ProducerBindingSpec {
  std::string binding;  // The name code uses: env.Queue("JOBS").
  std::string queue;
  // wrangler's producer `delivery_delay`: overrides the queue's default when set.
  std::optional<Duration> delivery_delay;
};

enum class ConsumerType { kWorker, kHttpPull };

// Every consumer setting of cloudflare-platform.md §1.3, with production's defaults.
struct ConsumerSpec {
  std::string queue;
  ConsumerType type = ConsumerType::kWorker;
  std::string script_name = "worker";  // The consuming Worker (push consumers).
  int max_batch_size = static_cast<int>(core::limits::kConsumerDefaultBatchSize);
  Duration max_batch_timeout = core::limits::kConsumerDefaultBatchTimeout;
  int max_retries = static_cast<int>(core::limits::kConsumerDefaultMaxRetries);
  Duration retry_delay = Duration::Zero();
  std::string dead_letter_queue;       // Empty: none (exhausted messages are deleted).
  std::optional<int> max_concurrency;  // Unset: autoscale up to 250.
  Duration visibility_timeout = core::limits::kPullDefaultVisibility;  // Pull consumers only.
  QueueHandler handler;  // Required for worker consumers.
};

// wrangler `d1_databases[]`.
struct D1BindingSpec {
  std::string binding;
  std::string database_name;
  std::string database_id;  // Empty: a UUID derived from database_name.
};

// wrangler `kv_namespaces[]`.
struct KvBindingSpec {
  std::string binding;
  std::string id;  // Empty: 32 hex derived from the binding name.
};

// wrangler `durable_objects.bindings[]`.
struct DurableObjectBindingSpec {
  std::string name;        // The binding.
  std::string class_name;  // Looked up in the DurableObjectRegistry.
  std::string script_name;  // Another Worker's class; empty for this Worker's.
};

// A class declared by wrangler `migrations` (new_sqlite_classes or new_classes).
struct DurableObjectClassSpec {
  std::string class_name;
  bool sqlite = true;  // new_sqlite_classes; false for legacy KV-backed new_classes.
};

struct EnvSpec {
  std::string script_name = "worker";  // wrangler `name`.
  std::string compatibility_date = "2026-01-01";
  std::vector<std::string> compatibility_flags;
  std::vector<QueueSpec> queues;  // Queues referenced but not declared are created with defaults.
  std::vector<ProducerBindingSpec> producers;
  std::vector<ConsumerSpec> consumers;
  std::vector<D1BindingSpec> d1_databases;
  std::vector<KvBindingSpec> kv_namespaces;
  std::vector<DurableObjectBindingSpec> durable_objects;
  std::vector<DurableObjectClassSpec> durable_object_classes;
  std::vector<std::string> crons;  // wrangler `triggers.crons`, exactly as written.
  ScheduledHandler scheduled;      // The Worker's scheduled() handler; empty: none.
};

class D1Database;
class KvNamespace;
class DurableObjectNamespace;

class Env {
 public:
  virtual ~Env() = default;
  // Each binding accessor returns kNotFound when the Env has no binding of that name.
  virtual Result<QueueProducer*> Queue(std::string_view binding) = 0;
  virtual Result<D1Database*> D1(std::string_view binding) {
    return NotBound("D1 database", binding);
  }
  virtual Result<KvNamespace*> Kv(std::string_view binding) {
    return NotBound("KV namespace", binding);
  }
  virtual Result<DurableObjectNamespace*> DurableObjects(std::string_view binding) {
    return NotBound("Durable Object namespace", binding);
  }
  virtual const core::Clock& clock() const = 0;
  virtual core::Runtime& runtime() = 0;
  virtual std::string_view actor() const = 0;
  virtual std::string_view compatibility_date() const = 0;
  // The invocation's cancel token; null outside an invocation.
  virtual core::CancelToken cancel_token() const = 0;
  // The run's trace, for code above the platform (the job engine) to record its own events
  // under this actor's label. Test tracing() before building an event: it costs time.
  virtual bool tracing() const { return false; }
  virtual void Trace(const core::TraceEvent& /*event*/) {}

 protected:
  static Status NotBound(std::string_view kind, std::string_view binding) {
    return Status::NotFound("no " + std::string(kind) + " binding named '" + std::string(binding) +
                            "'");
  }
};

}  // namespace cfemu::platform
