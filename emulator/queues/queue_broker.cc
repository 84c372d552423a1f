#include "emulator/queues/queue_broker.h"

#include <algorithm>

#include "emulator/queues/broker.h"
#include "emulator/sim/execution_context.h"
#include "src/core/cover.h"
#include "src/core/ids.h"
#include "src/core/log.h"

namespace cfemu::emulator {

using core::Duration;
using core::Instant;
using core::Status;
using core::TraceEvent;
using platform::ConsumerType;

QueueStats& QueueStats::operator+=(const QueueStats& o) {
  sent += o.sent;
  delivered += o.delivered;
  redelivered += o.redelivered;
  acked += o.acked;
  retried += o.retried;
  dead_lettered += o.dead_lettered;
  deleted += o.deleted;
  expired += o.expired;
  purged += o.purged;
  duplicated += o.duplicated;
  dropped_after_return += o.dropped_after_return;
  rejected += o.rejected;
  invocations += o.invocations;
  invocations_failed += o.invocations_failed;
  invocations_killed += o.invocations_killed;
  lease_expired += o.lease_expired;
  return *this;
}

// ---- Per-consumer state ---------------------------------------------------------------------

namespace {

struct ReadyEntry {
  std::uint64_t seq;
  int attempts;  // Entries whose message moved on since are skipped.
};

struct TimedEntry {
  Instant t;
  std::uint64_t seq;
  std::uint64_t tag;  // Delayed: attempts; lease: serial.
};

bool TimedLater(const TimedEntry& a, const TimedEntry& b) {
  return a.t != b.t ? a.t > b.t : a.seq > b.seq;
}

void PushTimed(std::vector<TimedEntry>& heap, TimedEntry entry) {
  heap.push_back(entry);
  std::push_heap(heap.begin(), heap.end(), TimedLater);
}

TimedEntry PopTimed(std::vector<TimedEntry>& heap) {
  std::pop_heap(heap.begin(), heap.end(), TimedLater);
  const TimedEntry top = heap.back();
  heap.pop_back();
  return top;
}

struct Lease {
  std::uint64_t seq;
  std::uint64_t serial;
};

}  // namespace

struct QueueBroker::ConsumerState {
  platform::ConsumerSpec spec;
  int index = 0;
  std::string actor;  // Trace label: "consumer:<queue>" or "pull:<queue>".
  std::deque<ReadyEntry> ready;
  std::int64_t ready_count = 0;     // Live entries of `ready`.
  std::vector<TimedEntry> delayed;  // Min-heap by ready_at.
  std::int64_t unresolved = 0;      // Messages this consumer has not resolved yet.
  // Push consumers.
  int in_flight = 0;
  int target = 1;
  std::optional<Instant> window_start;
  std::optional<Instant> wake_at;
  std::int64_t invocations = 0;
  // Pull consumers.
  std::map<std::string, Lease> leases;
  std::map<std::uint64_t, std::vector<std::string>> leases_by_seq;
  std::vector<TimedEntry> lease_expiry;  // Min-heap by expiry.
  std::uint64_t next_serial = 1;
  Instant created_at;
  bool removed = false;

  bool is_push() const { return spec.type == ConsumerType::kWorker; }
};

// ---- One push invocation --------------------------------------------------------------------

// The state of one push invocation, and the BatchControl its messages report to. Messages hold
// it by shared_ptr, so it outlives the handler when they do; it holds no message back.
struct QueueBroker::BatchRun final : platform::BatchControl {
  QueueBroker* queue = nullptr;
  int consumer = 0;
  std::int64_t number = 0;
  std::vector<std::uint64_t> seqs;
  std::vector<int> attempts;
  std::vector<std::string> ids;
  std::vector<Call> calls;
  std::vector<std::optional<int>> retry_delays;
  bool ack_all = false;
  bool retry_all = false;
  std::optional<int> retry_all_delay;
  bool resolved = false;
  platform::QueueHandler handler;
  std::shared_ptr<Invocation> invocation;

  void Ack(std::size_t i) override { queue->OnCall(*this, i, Call::kAck, std::nullopt); }
  void Retry(std::size_t i, platform::RetryOptions o) override {
    queue->OnCall(*this, i, Call::kRetry, o.delay_seconds);
  }
  void AckAll() override { queue->OnBatchCall(*this, Call::kAck, std::nullopt); }
  void RetryAll(platform::RetryOptions o) override {
    queue->OnBatchCall(*this, Call::kRetry, o.delay_seconds);
  }
};

namespace {

// Calls the handler; an exception escaping it counts as a failure, as a JS throw does.
core::Task<Status> CallHandler(platform::QueueHandler& handler, platform::MessageBatch& batch,
                               platform::Env& env, platform::ExecutionContext& ctx, Host& host,
                               std::string_view actor) {
  std::string what;
  try {
    co_return co_await handler(batch, env, ctx);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown";
  }
  if (host.trace().enabled()) {
    host.trace().Emit(actor, TraceEvent("queue.handler_exception").Str("what", what));
  }
  co_return Status::Unknown("uncaught exception: " + what);
}

}  // namespace

// ---- Construction ---------------------------------------------------------------------------

QueueBroker::QueueBroker(Broker& broker, Host& host, platform::QueueSpec spec,
                         std::unique_ptr<MessageStore> store)
    : broker_(broker),
      host_(host),
      spec_(std::move(spec)),
      id_(core::DeriveHexId("queue", spec_.name)),
      store_(std::move(store)),
      ids_(host.random().Fork("queue/" + spec_.name)),
      dispatch_latency_(host.latency().Register("queue.dispatch")),
      created_at_(host.clock().Now()),
      modified_at_(created_at_) {
  // A persisted store brings its messages back; consumers re-attach them as they are added.
  store_->ForEach([this](StoredMessage& m) {
    next_seq_ = std::max(next_seq_, m.seq + 1);
    backlog_bytes_ += m.size_bytes;
  });
  ScheduleRetention();
}

QueueBroker::~QueueBroker() = default;

void QueueBroker::Trace(std::string_view actor, TraceEvent event) const {
  if (!host_.trace().enabled()) return;
  host_.trace().Emit(actor, event.Str("queue", spec_.name));
}

const platform::ConsumerSpec& QueueBroker::consumer(int index) const {
  return consumers_.at(static_cast<std::size_t>(index))->spec;
}

bool QueueBroker::consumer_removed(int index) const {
  return consumers_.at(static_cast<std::size_t>(index))->removed;
}

Instant QueueBroker::consumer_created_at(int index) const {
  return consumers_.at(static_cast<std::size_t>(index))->created_at;
}

std::optional<int> QueueBroker::FirstConsumerOfType(ConsumerType type) const {
  for (const auto& c : consumers_) {
    if (!c->removed && c->spec.type == type) return c->index;
  }
  return std::nullopt;
}

int QueueBroker::AddConsumer(platform::ConsumerSpec spec) {
  auto state = std::make_unique<ConsumerState>();
  state->index = static_cast<int>(consumers_.size());
  state->actor = (spec.type == ConsumerType::kWorker ? "consumer:" : "pull:") + spec_.name;
  state->spec = std::move(spec);
  state->created_at = Now();
  ++live_consumers_;
  if (state->is_push()) {
    ++push_consumers_;
  } else {
    ++pull_consumers_;
  }
  ConsumerState& c = *state;
  consumers_.push_back(std::move(state));
  // Messages stored before the consumer existed are kept for it, not dropped; messages a
  // persisted store brings back resume in the state they were in.
  std::vector<std::uint64_t> interrupted;
  store_->ForEach([&](StoredMessage& m) {
    if (m.deliveries.size() <= static_cast<std::size_t>(c.index)) {
      Delivery fresh;
      if (m.available_at > Now()) {  // Still within its send delay.
        fresh.state = Delivery::State::kDelayed;
        fresh.ready_at = m.available_at;
      }
      m.deliveries.push_back(fresh);
      ++m.unresolved;
      store_->Updated(m);
    }
    if (Restore(c, m)) interrupted.push_back(m.seq);
  });
  // A push delivery in flight when the process stopped is a failed invocation: it retries.
  for (std::uint64_t seq : interrupted) {
    if (StoredMessage* m = store_->Find(seq)) RetryMessage(c, *m, c.spec.retry_delay);
  }
  Pump(c);
  return c.index;
}

bool QueueBroker::Restore(ConsumerState& c, StoredMessage& m) {
  Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
  switch (d.state) {
    case Delivery::State::kResolved:
      return false;
    case Delivery::State::kReady:
      ++c.unresolved;
      MakeReady(c, m, d);
      return false;
    case Delivery::State::kDelayed:
      ++c.unresolved;
      MakeDelayed(c, m, d, d.ready_at);
      return false;
    case Delivery::State::kInFlight:
      ++c.unresolved;
      return true;
    case Delivery::State::kLeased:
      ++c.unresolved;
      c.leases.emplace(d.lease_id, Lease{m.seq, d.lease_serial});
      c.leases_by_seq[m.seq].push_back(d.lease_id);
      PushTimed(c.lease_expiry, {d.lease_expires_at, m.seq, d.lease_serial});
      c.next_serial = std::max(c.next_serial, d.lease_serial + 1);
      return false;
  }
  return false;
}

// ---- Producer path --------------------------------------------------------------------------

platform::QueueMetrics QueueBroker::Metrics() const {
  platform::QueueMetrics metrics;
  metrics.backlog_count = store_->size();
  metrics.backlog_bytes = backlog_bytes_;
  if (const StoredMessage* oldest = const_cast<MessageStore&>(*store_).Oldest()) {
    metrics.oldest_message_timestamp = oldest->enqueued_at;
  }
  return metrics;
}

core::Result<platform::QueueMetrics> QueueBroker::Enqueue(std::vector<SendItem> items,
                                                          std::string_view actor) {
  if (deleted_) {
    return Status::NotFound("Queue '" + spec_.name + "' does not exist (10104)", 10104);
  }
  const Instant now = Now();
  const auto count = static_cast<std::int64_t>(items.size());
  std::int64_t bytes = 0;
  for (const auto& item : items) {
    bytes += item.encoded.size_bytes;
    if (item.encoded.type == ContentType::kV8 && has_pull_consumer()) {
      return Status::InvalidArgument(
          "Content type \"v8\" cannot be delivered to an http_pull consumer; send json, text "
          "or bytes (10203)",
          10203);
    }
  }
  if (broker_.enforce_throughput_and_backlog()) {
    while (!recent_sends_.empty() && recent_sends_.front().first <= now - core::Seconds(1)) {
      recent_sends_total_ -= recent_sends_.front().second;
      recent_sends_.pop_front();
    }
    if (recent_sends_total_ + count > broker_.limits().messages_per_second) {
      ++stats_.rejected;
      COVER("queue.limit.throughput");
      return Status::Overloaded("Too Many Requests (10250)", 10250);
    }
    if (backlog_bytes_ + bytes > broker_.limits().backlog_max_bytes) {
      ++stats_.rejected;
      COVER("queue.limit.backlog");
      return Status::ResourceExhausted("Storage Limit Exceeded (10251)", 10251);
    }
    recent_sends_.emplace_back(now, count);
    recent_sends_total_ += count;
  }
  const bool tracing = host_.trace().enabled();
  for (auto& item : items) {
    StoredMessage m;
    m.seq = next_seq_++;
    m.id = core::NewMessageId(ids_);
    m.content_type = item.encoded.type;
    m.body = std::make_shared<const platform::Body>(std::move(item.encoded.body));
    m.timestamp = now;
    m.enqueued_at = now;
    m.available_at = now + item.delay;
    m.size_bytes = item.encoded.size_bytes;
    m.deliveries.resize(consumers_.size());
    m.unresolved = live_consumers_;
    StoredMessage& stored = store_->Insert(std::move(m));
    backlog_bytes_ += stored.size_bytes;
    for (auto& c : consumers_) {
      Delivery& d = stored.deliveries[static_cast<std::size_t>(c->index)];
      if (c->removed) {
        d.state = Delivery::State::kResolved;
        continue;
      }
      ++c->unresolved;
      if (item.delay > Duration::Zero()) {
        MakeDelayed(*c, stored, d, now + item.delay);
      } else {
        MakeReady(*c, stored, d);
      }
    }
    store_->Updated(stored);
    if (tracing) {
      Trace(actor, TraceEvent("queue.sent")
                       .Str("msg", stored.id)
                       .Int("delay_ms", item.delay.ms())
                       .Int("bytes", stored.size_bytes));
    }
  }
  stats_.sent += count;
  PumpAll();
  ScheduleRetention();
  return Metrics();
}

void QueueBroker::AcceptDeadLetter(const StoredMessage& source, std::string_view from_queue) {
  StoredMessage m;
  m.seq = next_seq_++;
  m.id = source.id;
  m.content_type = source.content_type;
  m.body = source.body;
  m.timestamp = source.timestamp;
  m.enqueued_at = Now();
  m.available_at = m.enqueued_at;
  m.size_bytes = source.size_bytes;
  m.deliveries.resize(consumers_.size());
  m.unresolved = live_consumers_;
  StoredMessage& stored = store_->Insert(std::move(m));
  backlog_bytes_ += stored.size_bytes;
  for (auto& c : consumers_) {
    if (c->removed) {
      stored.deliveries[static_cast<std::size_t>(c->index)].state = Delivery::State::kResolved;
      continue;
    }
    ++c->unresolved;
    MakeReady(*c, stored, stored.deliveries[static_cast<std::size_t>(c->index)]);
  }
  store_->Updated(stored);
  if (host_.trace().enabled()) {
    Trace("broker", TraceEvent("queue.sent")
                        .Str("msg", stored.id)
                        .Str("from", std::string(from_queue))
                        .Int("delay_ms", 0)
                        .Int("bytes", stored.size_bytes));
  }
  ++stats_.sent;
  PumpAll();
  ScheduleRetention();
}

// ---- Delivery state -------------------------------------------------------------------------

void QueueBroker::MakeReady(ConsumerState& c, StoredMessage& m, Delivery& d) {
  d.state = Delivery::State::kReady;
  c.ready.push_back({m.seq, d.attempts});
  ++c.ready_count;
}

void QueueBroker::MakeDelayed(ConsumerState& c, StoredMessage& m, Delivery& d, Instant ready_at) {
  d.state = Delivery::State::kDelayed;
  d.ready_at = ready_at;
  PushTimed(c.delayed, {ready_at, m.seq, static_cast<std::uint64_t>(d.attempts)});
}

void QueueBroker::LeaveReady(ConsumerState& c, Delivery& d) {
  if (d.state == Delivery::State::kReady) --c.ready_count;
}

void QueueBroker::PromoteDue(ConsumerState& c, Instant now) {
  while (!c.delayed.empty() && c.delayed.front().t <= now) {
    const TimedEntry entry = PopTimed(c.delayed);
    StoredMessage* m = store_->Find(entry.seq);
    if (m == nullptr) continue;
    Delivery& d = m->deliveries[static_cast<std::size_t>(c.index)];
    if (d.state != Delivery::State::kDelayed ||
        static_cast<std::uint64_t>(d.attempts) != entry.tag) {
      continue;
    }
    MakeReady(c, *m, d);
    store_->Updated(*m);
  }
}

core::TimerKind QueueBroker::WakeKind() const {
  // Timers of queues without a push consumer, and of paused queues, never keep the world busy.
  return has_push_consumer() && !paused_ ? core::TimerKind::kForeground
                                         : core::TimerKind::kBackground;
}

void QueueBroker::PumpAll() {
  for (auto& c : consumers_) {
    if (!c->removed) Pump(*c);
  }
}

void QueueBroker::Pump(ConsumerState& c) {
  const Instant now = Now();
  PromoteDue(c, now);
  std::optional<Instant> next;
  if (!c.delayed.empty()) next = c.delayed.front().t;
  if (!c.is_push()) {
    ExpireLeases(c, now);
    if (!c.lease_expiry.empty()) {
      next = std::min(next.value_or(Instant::Max()), c.lease_expiry.front().t);
    }
  } else if (!DeliveryPaused()) {
    auto& faults = host_.faults();
    while (c.ready_count > 0) {
      bool slot = c.in_flight < c.target;
      if (!slot && faults.Enabled(Fault::kQ12ConcurrentBatches)) {
        slot = faults.Fire(Fault::kQ12ConcurrentBatches, "queue.dispatch", c.actor);
      }
      if (!slot) break;
      if (!c.window_start) c.window_start = now;
      const bool full = c.ready_count >= c.spec.max_batch_size;
      if (!full && now < *c.window_start + c.spec.max_batch_timeout) {
        next = std::min(next.value_or(Instant::Max()), *c.window_start + c.spec.max_batch_timeout);
        break;
      }
      MaybeFaultPause(c);
      if (DeliveryPaused()) break;
      Dispatch(c);
      c.window_start = c.ready_count > 0 ? std::optional<Instant>(now) : std::nullopt;
    }
  }
  if (next) ScheduleWake(c, *next);
}

void QueueBroker::ScheduleWake(ConsumerState& c, Instant t) {
  if (c.wake_at && *c.wake_at <= t) return;
  c.wake_at = t;
  host_.Spawn(WakeAt(c.index, t, WakeKind()));
}

core::Task<void> QueueBroker::WakeAt(int consumer, Instant t, core::TimerKind kind) {
  (void)co_await host_.SleepUntil(t, kind, nullptr);
  ConsumerState& c = C(consumer);
  if (c.wake_at == t) c.wake_at.reset();
  Pump(c);
}

void QueueBroker::MaybeFaultPause(ConsumerState& c) {
  auto& faults = host_.faults();
  if (fault_paused_ || !faults.Enabled(Fault::kQ13PausePurge)) return;
  if (!faults.Fire(Fault::kQ13PausePurge, "queue.pause", c.actor)) return;
  const double intensity = faults.Intensity(Fault::kQ13PausePurge);
  const Duration hold =
      faults.RandomFor(Fault::kQ13PausePurge)
          .Between(core::Seconds(1), core::Seconds(static_cast<std::int64_t>(60 * intensity)));
  fault_paused_ = true;
  Trace(c.actor, TraceEvent("queue.paused").Str("by", "fault").Int("hold_ms", hold.ms()));
  // Foreground: a fault's pause is temporary, so the world is not idle until it lifts.
  host_.Spawn(ResumeAfterFault(Now() + hold));
}

core::Task<void> QueueBroker::ResumeAfterFault(Instant t) {
  (void)co_await host_.SleepUntil(t, core::TimerKind::kForeground, nullptr);
  fault_paused_ = false;
  Trace("broker", TraceEvent("queue.resumed").Str("by", "fault"));
  PumpAll();
}

// ---- Retention ------------------------------------------------------------------------------

void QueueBroker::ScheduleRetention() {
  const StoredMessage* oldest = store_->Oldest();
  if (oldest == nullptr) return;
  const Instant t = oldest->enqueued_at + spec_.message_retention_period;
  if (retention_wake_ && *retention_wake_ <= t) return;
  retention_wake_ = t;
  host_.Spawn(RetentionAt(t));
}

core::Task<void> QueueBroker::RetentionAt(Instant t) {
  (void)co_await host_.SleepUntil(t, core::TimerKind::kBackground, nullptr);
  if (retention_wake_ == t) retention_wake_.reset();
  ExpireDue();
  ScheduleRetention();
}

void QueueBroker::ExpireDue() {
  const Instant now = Now();
  while (StoredMessage* oldest = store_->Oldest()) {
    if (oldest->enqueued_at + spec_.message_retention_period > now) break;
    Expire(*oldest, "retention");
  }
}

void QueueBroker::Expire(StoredMessage& m, std::string_view cause) {
  for (auto& c : consumers_) {
    Delivery& d = m.deliveries[static_cast<std::size_t>(c->index)];
    if (d.state == Delivery::State::kResolved) continue;
    LeaveReady(*c, d);
    --c->unresolved;
  }
  ++stats_.expired;
  COVER("queue.expired");
  if (host_.trace().enabled()) {
    Trace("broker", TraceEvent("queue.expired")
                        .Str("msg", m.id)
                        .Str("cause", std::string(cause))
                        .Int("age_ms", (Now() - m.enqueued_at).ms()));
  }
  Remove(m);
}

void QueueBroker::Remove(StoredMessage& m) {
  const std::uint64_t seq = m.seq;
  backlog_bytes_ -= m.size_bytes;
  for (auto& c : consumers_) {
    if (!c->is_push()) DropLeases(*c, seq);
  }
  store_->Erase(seq);
}

// ---- Push delivery --------------------------------------------------------------------------

std::vector<std::uint64_t> QueueBroker::TakeReady(ConsumerState& c, int max) {
  std::vector<std::uint64_t> out;
  auto& faults = host_.faults();
  while (static_cast<int>(out.size()) < max && !c.ready.empty()) {
    const ReadyEntry entry = c.ready.front();
    c.ready.pop_front();
    StoredMessage* m = store_->Find(entry.seq);
    if (m == nullptr) continue;
    Delivery& d = m->deliveries[static_cast<std::size_t>(c.index)];
    if (d.state != Delivery::State::kReady || d.attempts != entry.attempts) continue;
    --c.ready_count;
    if (faults.Enabled(Fault::kQ7RetentionLoss) &&
        faults.Fire(Fault::kQ7RetentionLoss, "queue.retention", c.actor)) {
      d.state = Delivery::State::kInFlight;  // Not ready any more: Expire() must not count it.
      Expire(*m, "fault");
      continue;
    }
    out.push_back(entry.seq);
  }
  if (out.size() > 1 && faults.Enabled(Fault::kQ4Reorder) &&
      faults.Fire(Fault::kQ4Reorder, "queue.batch", c.actor)) {
    core::Random& random = faults.RandomFor(Fault::kQ4Reorder);
    random.Shuffle(out);
    if (random.Chance(0.5)) {
      // Across batches too: the last one waits for a later batch.
      StoredMessage* m = store_->Find(out.back());
      c.ready.push_back({out.back(), m->deliveries[static_cast<std::size_t>(c.index)].attempts});
      ++c.ready_count;
      out.pop_back();
    }
  }
  return out;
}

void QueueBroker::Dispatch(ConsumerState& c) {
  std::vector<std::uint64_t> seqs = TakeReady(c, c.spec.max_batch_size);
  if (seqs.empty()) return;
  auto run = std::make_shared<BatchRun>();
  run->queue = this;
  run->consumer = c.index;
  run->number = ++c.invocations;
  run->handler = c.spec.handler;  // A copy: the closure outlives a later config change.
  const bool tracing = host_.trace().enabled();
  for (std::uint64_t seq : seqs) {
    StoredMessage& m = *store_->Find(seq);
    Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
    d.state = Delivery::State::kInFlight;
    store_->Updated(m);
    run->seqs.push_back(seq);
    run->attempts.push_back(d.attempts);
    run->ids.push_back(m.id);
    ++stats_.delivered;
    if (d.attempts > 1) ++stats_.redelivered;
    if (tracing) {
      Trace(c.actor, TraceEvent("queue.delivered")
                         .Str("msg", m.id)
                         .Int("attempts", d.attempts)
                         .Int("batch", run->number));
    }
  }
  run->calls.assign(run->seqs.size(), Call::kNone);
  run->retry_delays.assign(run->seqs.size(), std::nullopt);
  ++c.in_flight;
  ++stats_.invocations;
  host_.Spawn(RunBatch(std::move(run)));
}

void QueueBroker::ArmInvocationFaults(BatchRun& run, std::size_t messages) {
  auto& faults = host_.faults();
  Invocation& invocation = *run.invocation;
  const auto n = static_cast<std::uint64_t>(std::max<std::size_t>(messages, 1));
  if (faults.Enabled(Fault::kQ1ConsumerCrash) &&
      faults.Decide(Fault::kQ1ConsumerCrash, "queue.invocation")) {
    // "Aborted after k of n messages": at one of the first n platform awaits.
    const auto j =
        1 + static_cast<std::int64_t>(faults.RandomFor(Fault::kQ1ConsumerCrash).Below(n));
    invocation.ArmKillAtAwait(j, Fault::kQ1ConsumerCrash, "queue.invocation");
  } else if (faults.Enabled(Fault::kW1CpuKill) &&
             faults.Decide(Fault::kW1CpuKill, "invocation.cpu")) {
    const auto j = 1 + static_cast<std::int64_t>(faults.RandomFor(Fault::kW1CpuKill).Below(4 * n));
    invocation.ArmKillAtAwait(j, Fault::kW1CpuKill, "invocation.cpu");
  }
  if (faults.Enabled(Fault::kQ2CrashAfterEffect) &&
      faults.Decide(Fault::kQ2CrashAfterEffect, "queue.invocation")) {
    invocation.ArmKillAfterMutation(Fault::kQ2CrashAfterEffect, "queue.invocation");
  }
}

core::Task<void> QueueBroker::RunBatch(std::shared_ptr<BatchRun> run) {
  ConsumerState& c = C(run->consumer);
  auto& faults = host_.faults();
  Duration late = host_.latency().Draw(dispatch_latency_);
  if (faults.Enabled(Fault::kQ5LateDelivery) &&
      faults.Fire(Fault::kQ5LateDelivery, "queue.dispatch.late", c.actor)) {
    const auto scale = static_cast<std::int64_t>(1000 * faults.Intensity(Fault::kQ5LateDelivery));
    late += faults.RandomFor(Fault::kQ5LateDelivery)
                .Pareto(core::Milliseconds(scale), 1.2, core::Minutes(10));
  }
  if (late > Duration::Zero()) {
    (void)co_await host_.SleepUntil(Now() + late, core::TimerKind::kForeground, nullptr);
  }

  // Messages purged or expired since dispatch are left out of the batch.
  std::vector<platform::Message> messages;
  for (std::size_t i = 0; i < run->seqs.size(); ++i) {
    StoredMessage* m = store_->Find(run->seqs[i]);
    if (m == nullptr) continue;
    const Delivery& d = m->deliveries[static_cast<std::size_t>(c.index)];
    if (d.state != Delivery::State::kInFlight || d.attempts != run->attempts[i]) continue;
    messages.emplace_back(run, i, m->id, m->timestamp, m->body, d.attempts);
  }
  if (messages.empty()) {
    Resolve(*run, true);
    co_return;
  }

  Instant deadline = Now() + broker_.limits().invocation_wall_time;
  std::optional<Fault> deadline_fault;
  if (faults.Enabled(Fault::kW2WallClockKill) &&
      faults.Decide(Fault::kW2WallClockKill, "invocation.deadline")) {
    deadline = Now() + faults.RandomFor(Fault::kW2WallClockKill)
                           .Between(core::Milliseconds(1), broker_.limits().invocation_wall_time);
    deadline_fault = Fault::kW2WallClockKill;
  }
  run->invocation = Invocation::Start(host_, c.actor, deadline, deadline_fault);
  ArmInvocationFaults(*run, messages.size());
  run->invocation->OnKill([this, weak = std::weak_ptr<BatchRun>(run)] {
    if (auto locked = weak.lock()) Resolve(*locked, false);
  });
  // The handler's batch, env and ctx live in this frame until the handler and every WaitUntil
  // task have finished, even after a kill.
  platform::MessageBatch batch(spec_.name, std::move(messages), platform::BatchMetadata{Metrics()},
                               run);
  std::shared_ptr<platform::Env> env =
      broker_.NewInvocationEnv(c.actor, c.spec.script_name, run->invocation);
  InvocationContext ctx(host_, run->invocation, host_.ClockFor(c.spec.script_name));

  const Status status = co_await CallHandler(run->handler, batch, *env, ctx, host_, c.actor);
  run->invocation->MarkReturned();
  co_await ctx.WaitAll();
  if (!run->invocation->killed()) {
    run->invocation->Finish();
    Resolve(*run, status.ok() && ctx.all_ok());
  }
}

// ---- Acknowledgement calls ------------------------------------------------------------------

void QueueBroker::TraceIgnored(const BatchRun& run, std::string_view call, std::string_view reason,
                               std::optional<std::size_t> index) {
  COVER("queue.call_ignored");
  CFEMU_LOG_DEBUG("queue {}: {}() ignored: {}", spec_.name, call, reason);
  if (!host_.trace().enabled()) return;
  TraceEvent event(run.invocation && run.invocation->killed() ? "queue.ack_after_kill"
                                                              : "queue.call_ignored");
  event.Str("call", std::string(call)).Str("reason", std::string(reason)).Int("batch", run.number);
  if (index) event.Str("msg", run.ids[*index]);
  Trace(C(run.consumer).actor, std::move(event));
}

void QueueBroker::OnCall(BatchRun& run, std::size_t i, Call call, std::optional<int> delay) {
  const std::string_view name = call == Call::kAck ? "ack" : "retry";
  if (i >= run.calls.size()) return;
  if (run.resolved) {
    TraceIgnored(run, name,
                 run.invocation && run.invocation->killed() ? "the invocation was killed"
                                                            : "the invocation already ended",
                 i);
    return;
  }
  if (run.ack_all) {
    // workerd: ack() after ackAll() is a silent no-op; retry() after ackAll() warns.
    if (call == Call::kRetry) TraceIgnored(run, name, "called after ackAll()", i);
    return;
  }
  if (call == Call::kAck && run.retry_all) {
    TraceIgnored(run, name, "called after retryAll()", i);
    return;
  }
  if (run.calls[i] != Call::kNone && run.calls[i] != call) {
    TraceIgnored(run, name, call == Call::kAck ? "called after retry()" : "called after ack()", i);
    return;
  }
  if (delay && (*delay < 0 || *delay > broker_.limits().max_delay_seconds)) {
    TraceIgnored(run, "retry.delaySeconds", "out of range; the next delay setting applies", i);
    delay.reset();
  }
  run.calls[i] = call;
  if (call == Call::kRetry) run.retry_delays[i] = delay;  // A repeated retry() replaces the delay.
}

void QueueBroker::OnBatchCall(BatchRun& run, Call call, std::optional<int> delay) {
  const std::string_view name = call == Call::kAck ? "ackAll" : "retryAll";
  if (run.resolved) {
    TraceIgnored(run, name,
                 run.invocation && run.invocation->killed() ? "the invocation was killed"
                                                            : "the invocation already ended",
                 std::nullopt);
    return;
  }
  if (call == Call::kAck) {
    if (run.retry_all) return TraceIgnored(run, name, "called after retryAll()", std::nullopt);
    run.ack_all = true;
    return;
  }
  if (run.ack_all) return TraceIgnored(run, name, "called after ackAll()", std::nullopt);
  if (delay && (*delay < 0 || *delay > broker_.limits().max_delay_seconds)) {
    TraceIgnored(run, "retryAll.delaySeconds", "out of range; the next delay setting applies",
                 std::nullopt);
    delay.reset();
  }
  run.retry_all = true;
  run.retry_all_delay = delay;
}

Duration QueueBroker::RetryDelayFor(const ConsumerState& c, std::optional<int> explicit_seconds,
                                    std::optional<int> batch_seconds) const {
  if (explicit_seconds) return core::Seconds(*explicit_seconds);
  if (batch_seconds) return core::Seconds(*batch_seconds);
  return c.spec.retry_delay;
}

// ---- Outcome of a push invocation -----------------------------------------------------------

void QueueBroker::Resolve(BatchRun& run, bool success) {
  if (run.resolved) return;
  run.resolved = true;
  ConsumerState& c = C(run.consumer);
  --c.in_flight;
  const bool killed = run.invocation && run.invocation->killed();
  if (!success) ++stats_.invocations_failed;
  if (killed) ++stats_.invocations_killed;
  if (host_.trace().enabled()) {
    Trace(c.actor, TraceEvent("queue.invocation")
                       .Int("batch", run.number)
                       .Str("outcome", killed    ? "killed"
                                       : success ? "ok"
                                                 : "failed")
                       .Int("messages", static_cast<std::int64_t>(run.seqs.size())));
  }
  for (std::size_t i = 0; i < run.seqs.size(); ++i) {
    StoredMessage* m = store_->Find(run.seqs[i]);
    if (m == nullptr) continue;  // Purged or expired meanwhile.
    const Delivery& d = m->deliveries[static_cast<std::size_t>(c.index)];
    if (d.state != Delivery::State::kInFlight || d.attempts != run.attempts[i]) continue;
    // First call per message wins; a per-message call beats the batch-level ones; an explicit
    // ack sticks even when the handler fails; ackAll() makes the batch succeed regardless.
    Call outcome = run.calls[i];
    if (outcome == Call::kNone) {
      if (run.ack_all) {
        outcome = Call::kAck;
      } else if (run.retry_all || !success) {
        outcome = Call::kRetry;
      } else {
        outcome = Call::kAck;
      }
    }
    if (outcome == Call::kAck) {
      AckMessage(c, *m);
    } else {
      RetryMessage(c, *m,
                   RetryDelayFor(c, run.retry_delays[i],
                                 run.retry_all ? run.retry_all_delay : std::nullopt));
    }
  }
  UpdateConcurrency(c, success);
  Pump(c);
}

void QueueBroker::UpdateConcurrency(ConsumerState& c, bool success) {
  // cpp-contract.md: after each batch, target = clamp(ceil(ready / max_batch_size), 1, cap);
  // halved (minimum 1) after a failed invocation. retry() is not a failure.
  const int cap = c.spec.max_concurrency.value_or(broker_.limits().max_concurrency);
  if (!success) {
    c.target = std::max(1, c.target / 2);
    return;
  }
  const std::int64_t wanted =
      (c.ready_count + c.spec.max_batch_size - 1) / std::max(1, c.spec.max_batch_size);
  c.target = static_cast<int>(std::clamp<std::int64_t>(wanted, 1, cap));
}

void QueueBroker::AckMessage(ConsumerState& c, StoredMessage& m) {
  Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
  auto& faults = host_.faults();
  if (faults.Enabled(Fault::kQ3DuplicateDelivery) &&
      faults.Fire(Fault::kQ3DuplicateDelivery, "queue.ack", c.actor)) {
    // The ack is lost: the message comes again with the same attempt number.
    LeaveReady(c, d);
    ++stats_.duplicated;
    ++stats_.redelivered;
    if (host_.trace().enabled()) {
      Trace(c.actor, TraceEvent("queue.duplicated").Str("msg", m.id).Int("attempts", d.attempts));
    }
    MakeReady(c, m, d);
    store_->Updated(m);
    return;
  }
  ++stats_.acked;
  if (host_.trace().enabled()) {
    Trace(c.actor, TraceEvent("queue.acked").Str("msg", m.id).Int("attempts", d.attempts));
  }
  Resolved(c, m);
}

void QueueBroker::RetryMessage(ConsumerState& c, StoredMessage& m, Duration delay) {
  Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
  auto& faults = host_.faults();
  bool exhausted = d.attempts >= c.spec.max_retries + 1;
  if (!exhausted && faults.Enabled(Fault::kQ6RetriesExhausted)) {
    exhausted = faults.Fire(Fault::kQ6RetriesExhausted, "queue.retry", c.actor);
  }
  const bool tracing = host_.trace().enabled();
  if (exhausted) {
    if (!c.spec.dead_letter_queue.empty()) {
      ++stats_.dead_lettered;
      COVER("queue.dead_lettered");
      if (tracing) {
        Trace(c.actor, TraceEvent("queue.dead_lettered")
                           .Str("msg", m.id)
                           .Int("attempts", d.attempts)
                           .Str("dlq", c.spec.dead_letter_queue));
      }
      broker_.DeadLetter(c.spec.dead_letter_queue, m, spec_.name);
    } else {
      ++stats_.deleted;
      COVER("queue.deleted_after_retries");
      CFEMU_LOG_DEBUG("queue {}: message {} dropped after {} attempts (no dead letter queue)",
                      spec_.name, m.id, d.attempts);
      if (tracing) {
        Trace(c.actor, TraceEvent("queue.deleted")
                           .Str("msg", m.id)
                           .Int("attempts", d.attempts)
                           .Str("reason", "retries_exhausted"));
      }
    }
    Resolved(c, m);
    return;
  }
  LeaveReady(c, d);
  ++d.attempts;
  ++stats_.retried;
  if (tracing) {
    Trace(c.actor, TraceEvent("queue.retried")
                       .Str("msg", m.id)
                       .Int("attempts", d.attempts)
                       .Int("delay_ms", delay.ms()));
  }
  if (delay > Duration::Zero()) {
    MakeDelayed(c, m, d, Now() + delay);
  } else {
    MakeReady(c, m, d);
  }
  store_->Updated(m);
}

void QueueBroker::Resolved(ConsumerState& c, StoredMessage& m) {
  Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
  LeaveReady(c, d);
  d.state = Delivery::State::kResolved;
  --c.unresolved;
  if (!c.is_push()) DropLeases(c, m.seq);
  if (--m.unresolved == 0) {
    Remove(m);
  } else {
    store_->Updated(m);
  }
}

// ---- Pull consumers -------------------------------------------------------------------------

void QueueBroker::DropLeases(ConsumerState& c, std::uint64_t seq) {
  const auto it = c.leases_by_seq.find(seq);
  if (it == c.leases_by_seq.end()) return;
  for (const auto& lease : it->second) c.leases.erase(lease);
  c.leases_by_seq.erase(it);
}

void QueueBroker::ExpireLeases(ConsumerState& c, Instant now) {
  while (!c.lease_expiry.empty() && c.lease_expiry.front().t <= now) {
    const TimedEntry entry = PopTimed(c.lease_expiry);
    StoredMessage* m = store_->Find(entry.seq);
    if (m == nullptr) continue;
    const Delivery& d = m->deliveries[static_cast<std::size_t>(c.index)];
    if (d.state != Delivery::State::kLeased || d.lease_serial != entry.tag) continue;
    ++stats_.lease_expired;
    if (host_.trace().enabled()) {
      Trace(c.actor,
            TraceEvent("queue.lease_expired").Str("msg", m->id).Int("attempts", d.attempts));
    }
    RetryMessage(c, *m, c.spec.retry_delay);
  }
}

platform::PullResult QueueBroker::Pull(int consumer, int batch_size, Duration visibility,
                                       std::string_view actor) {
  ConsumerState& c = C(consumer);
  CHECK(!c.is_push());
  const Instant now = Now();
  PromoteDue(c, now);
  ExpireLeases(c, now);
  platform::PullResult result;
  if (!DeliveryPaused()) {
    auto& faults = host_.faults();
    const bool tracing = host_.trace().enabled();
    for (std::uint64_t seq : TakeReady(c, batch_size)) {
      StoredMessage& m = *store_->Find(seq);
      Delivery& d = m.deliveries[static_cast<std::size_t>(c.index)];
      Duration lease_for = visibility;
      if (faults.Enabled(Fault::kQ11PullLeaseExpiry) &&
          faults.Fire(Fault::kQ11PullLeaseExpiry, "queue.pull.lease", c.actor)) {
        lease_for =
            faults.RandomFor(Fault::kQ11PullLeaseExpiry).Between(core::Milliseconds(1), visibility);
      }
      d.state = Delivery::State::kLeased;
      d.lease_serial = c.next_serial++;
      std::string lease_id = ids_.Hex(24);
      d.lease_id = lease_id;
      d.lease_expires_at = now + lease_for;
      c.leases.emplace(lease_id, Lease{seq, d.lease_serial});
      c.leases_by_seq[seq].push_back(lease_id);
      PushTimed(c.lease_expiry, {now + lease_for, seq, d.lease_serial});
      store_->Updated(m);
      ++stats_.delivered;
      if (d.attempts > 1) ++stats_.redelivered;
      if (tracing) {
        Trace(actor, TraceEvent("queue.delivered")
                         .Str("msg", m.id)
                         .Int("attempts", d.attempts)
                         .Str("lease", lease_id));
      }
      result.messages.push_back({m.id, *m.body, d.attempts, m.timestamp, std::move(lease_id)});
    }
  }
  result.metrics = Metrics();
  result.backlog_count = result.metrics.backlog_count;
  Pump(c);
  return result;
}

platform::AckResult QueueBroker::AckLeases(int consumer, const std::vector<platform::LeaseId>& acks,
                                           const std::vector<platform::RetryRequest>& retries) {
  ConsumerState& c = C(consumer);
  CHECK(!c.is_push());
  ExpireLeases(c, Now());
  platform::AckResult result;
  for (const auto& lease_id : acks) {
    const auto it = c.leases.find(lease_id);
    if (it == c.leases.end()) {
      result.warnings[lease_id] = "Unknown lease; the message may already be acknowledged.";
      continue;
    }
    StoredMessage* m = store_->Find(it->second.seq);
    if (m == nullptr ||
        m->deliveries[static_cast<std::size_t>(c.index)].state == Delivery::State::kResolved) {
      result.warnings[lease_id] = "The message is no longer in the queue.";
      continue;
    }
    // Permissive: an expired lease still acknowledges the message while the broker holds it.
    AckMessage(c, *m);
    ++result.ack_count;
  }
  for (const auto& retry : retries) {
    const auto it = c.leases.find(retry.lease_id);
    if (it == c.leases.end()) {
      result.warnings[retry.lease_id] = "Unknown lease; retry ignored.";
      continue;
    }
    StoredMessage* m = store_->Find(it->second.seq);
    const Delivery* d = m == nullptr ? nullptr : &m->deliveries[static_cast<std::size_t>(c.index)];
    if (d == nullptr || d->state != Delivery::State::kLeased ||
        d->lease_serial != it->second.serial) {
      result.warnings[retry.lease_id] = "The lease has expired; retry ignored.";
      continue;
    }
    if (retry.delay_seconds &&
        (*retry.delay_seconds < 0 || *retry.delay_seconds > broker_.limits().max_delay_seconds)) {
      result.warnings[retry.lease_id] = "delay_seconds must be from 0 to " +
                                        std::to_string(broker_.limits().max_delay_seconds) +
                                        "; retry ignored.";
      continue;
    }
    RetryMessage(c, *m, RetryDelayFor(c, retry.delay_seconds, std::nullopt));
    ++result.retry_count;
  }
  Pump(c);
  return result;
}

// ---- Administration -------------------------------------------------------------------------

void QueueBroker::Pause() {
  if (paused_) return;
  paused_ = true;
  Trace("admin", TraceEvent("queue.paused").Str("by", "admin"));
}

void QueueBroker::Resume() {
  if (!paused_) return;
  paused_ = false;
  Trace("admin", TraceEvent("queue.resumed").Str("by", "admin"));
  PumpAll();
}

std::int64_t QueueBroker::Purge() {
  const std::int64_t count = store_->size();
  store_->Clear();
  backlog_bytes_ = 0;
  for (auto& c : consumers_) {
    c->ready.clear();
    c->ready_count = 0;
    c->delayed.clear();
    c->unresolved = 0;
    c->leases.clear();
    c->leases_by_seq.clear();
    c->lease_expiry.clear();
    c->window_start.reset();
  }
  stats_.purged += count;
  Trace("admin", TraceEvent("queue.purged").Int("messages", count));
  return count;
}

// ---- Inspection ---------------------------------------------------------------------------

namespace {

// A ref is "<seq>-<id>": the seq finds the message, the id makes sure it is still that one.
std::string RefOf(const StoredMessage& m) { return std::to_string(m.seq) + "-" + m.id; }

}  // namespace

std::vector<QueueBroker::Peeked> QueueBroker::Peek(int batch_size) const {
  std::vector<Peeked> out;
  const_cast<MessageStore&>(*store_).ForEach([&](StoredMessage& m) {
    if (static_cast<int>(out.size()) >= batch_size) return;
    Peeked peeked{m.id, *m.body, 1, m.timestamp, RefOf(m)};
    for (const Delivery& d : m.deliveries) {
      if (d.state == Delivery::State::kResolved) continue;
      peeked.attempts = d.attempts;
      break;
    }
    out.push_back(std::move(peeked));
  });
  return out;
}

std::map<std::string, std::string> QueueBroker::PurgeRefs(const std::vector<std::string>& refs) {
  std::map<std::string, std::string> warnings;
  for (const std::string& ref : refs) {
    const std::size_t dash = ref.find('-');
    std::uint64_t seq = 0;
    const bool numeric = dash != std::string::npos && dash > 0 && dash <= 19 &&
                         ref.find_first_not_of("0123456789") == dash;
    if (numeric) seq = std::stoull(ref.substr(0, dash));
    StoredMessage* m = numeric ? store_->Find(seq) : nullptr;
    if (m == nullptr || RefOf(*m) != ref) {
      warnings[ref] = "No message with this ref is in the queue.";
      continue;
    }
    for (auto& c : consumers_) {
      Delivery& d = m->deliveries[static_cast<std::size_t>(c->index)];
      if (d.state == Delivery::State::kResolved) continue;
      LeaveReady(*c, d);
      --c->unresolved;
    }
    ++stats_.purged;
    if (host_.trace().enabled()) {
      Trace("admin", TraceEvent("queue.purged").Str("msg", m->id).Int("messages", 1));
    }
    Remove(*m);
  }
  return warnings;
}

void QueueBroker::UpdateSettings(const platform::QueueSpec& spec) {
  CHECK(spec.name == spec_.name);
  spec_.delivery_delay = spec.delivery_delay;
  spec_.message_retention_period = spec.message_retention_period;
  modified_at_ = Now();
  // A shorter period may expire messages now; a longer one is checked when the old wake fires.
  ExpireDue();
  ScheduleRetention();
  Trace("admin", TraceEvent("queue.updated")
                     .Int("delivery_delay_ms", spec_.delivery_delay.ms())
                     .Int("retention_ms", spec_.message_retention_period.ms()));
}

void QueueBroker::MarkDeleted() {
  if (deleted_) return;
  Purge();
  deleted_ = true;
  Trace("admin", TraceEvent("queue.deleted_queue"));
}

void QueueBroker::UpdateConsumer(int index, platform::ConsumerSpec spec) {
  ConsumerState& c = C(index);
  CHECK(!c.removed);
  CHECK(spec.queue == spec_.name);
  spec.type = c.spec.type;
  spec.handler = c.spec.handler;
  if (spec.script_name.empty()) spec.script_name = c.spec.script_name;
  c.spec = std::move(spec);
  modified_at_ = Now();
  Trace("admin", TraceEvent("queue.consumer_updated").Int("consumer", index));
  Pump(c);
}

void QueueBroker::RemoveConsumer(int index) {
  ConsumerState& c = C(index);
  CHECK(!c.removed);
  std::vector<std::uint64_t> held;
  store_->ForEach([&](StoredMessage& m) {
    if (m.deliveries[static_cast<std::size_t>(index)].state != Delivery::State::kResolved) {
      held.push_back(m.seq);
    }
  });
  for (std::uint64_t seq : held) {
    if (StoredMessage* m = store_->Find(seq)) Resolved(c, *m);  // May erase the message.
  }
  c.removed = true;
  c.ready.clear();
  c.ready_count = 0;
  c.delayed.clear();
  c.leases.clear();
  c.leases_by_seq.clear();
  c.lease_expiry.clear();
  c.window_start.reset();
  --live_consumers_;
  if (c.is_push()) {
    --push_consumers_;
  } else {
    --pull_consumers_;
  }
  modified_at_ = Now();
  Trace("admin", TraceEvent("queue.consumer_removed")
                     .Int("consumer", index)
                     .Int("messages", static_cast<std::int64_t>(held.size())));
}

bool QueueBroker::IsIdle() const {
  if (paused_) return true;
  for (const auto& c : consumers_) {
    if (c->is_push() && c->unresolved > 0) return false;
  }
  return true;
}

}  // namespace cfemu::emulator
