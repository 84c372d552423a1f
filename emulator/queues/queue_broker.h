// One queue of the broker: its messages (behind a MessageStore), its consumers, delivery,
// acknowledgement and retries, dead-lettering, retention, pause and purge.
//
// Invariants:
// - A message leaves the queue only when every consumer has resolved it (acked it, or its
//   retries ran out) or when retention expires it; every such exit is counted and traced.
// - For each consumer a message is in exactly one state: ready, delayed, in flight (a push
//   batch), leased (a pull consumer) or resolved. `attempts` counts its deliveries to that
//   consumer and grows on every redelivery: explicit retry, failed invocation, lease expiry.
// - After max_retries retries (max_retries + 1 deliveries) a message goes to the consumer's
//   dead letter queue, or is deleted (reported) when it has none.
// - Push batches are delivered when max_batch_size messages are ready or max_batch_timeout has
//   passed since the batch window opened; never empty; at most `target` invocations run at
//   once (max_concurrency, or the autoscaling rule of cpp-contract.md when unset).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/queues/message_store.h"
#include "emulator/queues/queue_limits.h"
#include "emulator/sim/host.h"
#include "emulator/sim/invocation.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

class Broker;

// One message of a send, validated and with its effective delay.
struct SendItem {
  EncodedBody encoded;
  core::Duration delay;
};

class QueueBroker {
 public:
  QueueBroker(Broker& broker, Host& host, platform::QueueSpec spec,
              std::unique_ptr<MessageStore> store);
  ~QueueBroker();
  QueueBroker(const QueueBroker&) = delete;
  QueueBroker& operator=(const QueueBroker&) = delete;

  const std::string& name() const { return spec_.name; }
  const std::string& id() const { return id_; }  // 32 hex, derived from the name.
  const platform::QueueSpec& spec() const { return spec_; }
  core::Instant created_at() const { return created_at_; }
  core::Instant modified_at() const { return modified_at_; }
  // Replaces delivery_delay and message_retention_period (the name is kept). New sends use
  // the new delay; retention is counted again against every stored message.
  // REQUIRES: a spec validated by ValidateQueueSpec, with this queue's name.
  void UpdateSettings(const platform::QueueSpec& spec);
  // A deleted queue refuses sends (kNotFound, 10104) and holds no message. The broker keeps
  // the object alive, since timers and bindings may still point at it.
  void MarkDeleted();
  bool deleted() const { return deleted_; }

  // ---- Producer path --------------------------------------------------------------------
  // Stores validated messages and schedules their delivery. kOverloaded (10250) over the
  // throughput limit, kResourceExhausted (10251) over the backlog limit, kInvalidArgument
  // (10203) for a v8 message to a queue with a pull consumer.
  core::Result<platform::QueueMetrics> Enqueue(std::vector<SendItem> items, std::string_view actor);
  // A message another queue's consumer gave up on; id, timestamp and body are kept, attempts
  // start again at 1.
  void AcceptDeadLetter(const StoredMessage& source, std::string_view from_queue);
  platform::QueueMetrics Metrics() const;

  // ---- Consumers ----------------------------------------------------------------------------
  // REQUIRES: a validated spec for this queue. Existing messages become ready for it.
  int AddConsumer(platform::ConsumerSpec spec);
  // Consumers keep their index for the life of the queue; a removed one stays as a tombstone
  // (removed() true), so indexes held by deliveries and bindings stay valid.
  int consumer_count() const { return static_cast<int>(consumers_.size()); }
  const platform::ConsumerSpec& consumer(int index) const;
  bool consumer_removed(int index) const;
  core::Instant consumer_created_at(int index) const;
  // Replaces a consumer's settings (batch size, retries, delays, dead letter queue,
  // visibility timeout); its type and handler are kept. REQUIRES: a validated spec for this
  // queue, of a consumer that is not removed.
  void UpdateConsumer(int index, platform::ConsumerSpec spec);
  // The consumer resolves every message it still holds (as if it had acked them: messages
  // no other consumer needs leave the queue) and receives no more. REQUIRES: not removed.
  void RemoveConsumer(int index);
  bool has_push_consumer() const { return push_consumers_ > 0; }
  bool has_pull_consumer() const { return pull_consumers_ > 0; }
  std::optional<int> FirstConsumerOfType(platform::ConsumerType type) const;

  // ---- Pull consumers -----------------------------------------------------------------------
  // REQUIRES: `consumer` is an http_pull consumer; 1 <= batch_size; visibility > 0.
  platform::PullResult Pull(int consumer, int batch_size, core::Duration visibility,
                            std::string_view actor);
  platform::AckResult AckLeases(int consumer, const std::vector<platform::LeaseId>& acks,
                                const std::vector<platform::RetryRequest>& retries);

  // ---- Inspection (REST peek, purge by reference) -------------------------------------------
  struct Peeked {
    std::string id;
    platform::Body body;
    int attempts = 1;  // Of the first consumer that has not resolved it.
    core::Instant timestamp;
    std::string ref;  // Names this message for PurgeRefs.
  };
  // Up to `batch_size` stored messages in arrival order, whatever their state, without leasing
  // or changing anything.
  std::vector<Peeked> Peek(int batch_size) const;
  // Deletes the messages `refs` name (from Peek). Refs that name no stored message get a
  // warning (ref -> text) and change nothing.
  std::map<std::string, std::string> PurgeRefs(const std::vector<std::string>& refs);

  // ---- Administration -------------------------------------------------------------------
  void Pause();  // Sends are still accepted; delivery and pulls stop.
  void Resume();
  bool paused() const { return paused_; }
  std::int64_t Purge();  // Deletes every message; returns how many.

  // No push consumer still has work (an admin-paused queue never counts as busy).
  bool IsIdle() const;
  const QueueStats& stats() const { return stats_; }

 private:
  struct ConsumerState;
  struct BatchRun;
  enum class Call : std::uint8_t { kNone, kAck, kRetry };

  ConsumerState& C(int index) { return *consumers_[static_cast<std::size_t>(index)]; }
  core::Instant Now() const { return host_.clock().Now(); }
  core::TimerKind WakeKind() const;
  bool DeliveryPaused() const { return paused_ || fault_paused_; }

  // Rebuilds a consumer's indexes for a stored message; true for a push delivery that was in
  // flight (the invocation died with the process).
  bool Restore(ConsumerState& c, StoredMessage& m);
  void MakeReady(ConsumerState& c, StoredMessage& m, Delivery& d);
  void MakeDelayed(ConsumerState& c, StoredMessage& m, Delivery& d, core::Instant ready_at);
  void LeaveReady(ConsumerState& c, Delivery& d);
  void PromoteDue(ConsumerState& c, core::Instant now);
  void Pump(ConsumerState& c);
  void PumpAll();
  void ScheduleWake(ConsumerState& c, core::Instant t);
  core::Task<void> WakeAt(int consumer, core::Instant t, core::TimerKind kind);
  void ScheduleRetention();
  core::Task<void> RetentionAt(core::Instant t);
  void ExpireDue();
  void MaybeFaultPause(ConsumerState& c);
  core::Task<void> ResumeAfterFault(core::Instant t);

  std::vector<std::uint64_t> TakeReady(ConsumerState& c, int max);
  void Dispatch(ConsumerState& c);
  core::Task<void> RunBatch(std::shared_ptr<BatchRun> run);
  void ArmInvocationFaults(BatchRun& run, std::size_t messages);
  void Resolve(BatchRun& run, bool success);
  void UpdateConcurrency(ConsumerState& c, bool success);
  void OnCall(BatchRun& run, std::size_t index, Call call, std::optional<int> delay);
  void OnBatchCall(BatchRun& run, Call call, std::optional<int> delay);
  void TraceIgnored(const BatchRun& run, std::string_view call, std::string_view reason,
                    std::optional<std::size_t> index);

  void AckMessage(ConsumerState& c, StoredMessage& m);
  void RetryMessage(ConsumerState& c, StoredMessage& m, core::Duration delay);
  void Resolved(ConsumerState& c, StoredMessage& m);      // May erase m.
  void Expire(StoredMessage& m, std::string_view cause);  // Erases m.
  void Remove(StoredMessage& m);                          // Erases m.
  void ExpireLeases(ConsumerState& c, core::Instant now);
  void DropLeases(ConsumerState& c, std::uint64_t seq);
  core::Duration RetryDelayFor(const ConsumerState& c, std::optional<int> explicit_seconds,
                               std::optional<int> batch_seconds) const;

  void Trace(std::string_view actor, core::TraceEvent event) const;

  Broker& broker_;
  Host& host_;
  platform::QueueSpec spec_;
  std::string id_;
  std::unique_ptr<MessageStore> store_;
  std::vector<std::unique_ptr<ConsumerState>> consumers_;
  int push_consumers_ = 0;
  int pull_consumers_ = 0;
  core::Random ids_;
  std::uint64_t next_seq_ = 1;
  std::int64_t backlog_bytes_ = 0;
  std::deque<std::pair<core::Instant, std::int64_t>> recent_sends_;  // Throughput window.
  std::int64_t recent_sends_total_ = 0;
  std::optional<core::Instant> retention_wake_;
  bool paused_ = false;
  bool fault_paused_ = false;
  bool deleted_ = false;
  int live_consumers_ = 0;
  LatencyModel::Site dispatch_latency_;
  core::Instant created_at_;
  core::Instant modified_at_;
  QueueStats stats_;
};

}  // namespace cfemu::emulator
