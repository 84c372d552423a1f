// Consumer: decode, admission waves, the claim batch, acks, renewals (engine-spec.md §4.2
// steps 1-5). Processing and finishing are in consumer_finish.cc.
#include <algorithm>

#include "src/engine/consumer_internal.h"
#include "src/engine/coordinator/coordinator.h"
#include "src/engine/job_row.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;
using sql::D1Param;

namespace {

class PushActions final : public MessageActions {
 public:
  explicit PushActions(platform::MessageBatch& batch) : batch_(batch) {}
  void Ack(std::size_t i) override { batch_.messages()[i].Ack(); }
  void Retry(std::size_t i, int delay_seconds) override {
    batch_.messages()[i].Retry(platform::RetryOptions(delay_seconds));
  }

 private:
  platform::MessageBatch& batch_;
};

class PullActions final : public MessageActions {
 public:
  explicit PullActions(const std::vector<platform::PulledMessage>& messages)
      : messages_(messages) {}
  void Ack(std::size_t i) override { outcome.acks.push_back(messages_[i].lease_id); }
  void Retry(std::size_t i, int delay_seconds) override {
    outcome.retries.emplace_back(messages_[i].lease_id, delay_seconds);
  }
  PulledOutcome outcome;

 private:
  const std::vector<platform::PulledMessage>& messages_;
};

// A message as the algorithm needs it, from either source.
struct RawMessage {
  std::string id;
  int attempts = 0;
  const platform::Body* body = nullptr;
};

struct Quarantined {
  std::size_t index;
  std::string message_id;
  int attempts;
  std::string body;
  std::string reason;
  std::string queue;  // Best guess, for the event; may be empty.
};

// Step 1: quarantine foreign bodies in one batch, then ack them (retry on failure: R-INFRA).
Task<void> QuarantineForeign(Invocation& inv, std::vector<Quarantined> foreign) {
  if (foreign.empty()) co_return;
  const std::int64_t now = inv.context->NowMs();
  sql::Batch batch(*inv.context->db);
  for (const auto& q : foreign) {
    batch.Add(
        "INSERT INTO cfq_dead_letters (queue, job_id, source, cf_message_id, cf_attempts, body, "
        "reason, outcome, at) VALUES (NULL, NULL, 'quarantine', ?, ?, ?, ?, 'quarantined', ?) "
        "ON CONFLICT (source, cf_message_id) DO NOTHING",
        q.message_id, static_cast<std::int64_t>(q.attempts), q.body, q.reason, now);
    Json data = {{"messageId", q.message_id}, {"reason", q.reason}};
    store::QueueEvent(batch, q.queue, "cfq:quarantined", std::move(data), now);
  }
  auto written = co_await batch.Run("quarantine");
  for (const auto& q : foreign) {
    if (written.ok()) {
      inv.actions->Ack(q.index);
    } else {
      inv.actions->Retry(q.index, inv.state->options.infra_retry_delay_seconds);
    }
  }
}

bool Serves(const ConsumerOptions& options, const std::string& queue) {
  return options.queues.empty() ||
         std::find(options.queues.begin(), options.queues.end(), queue) != options.queues.end();
}

// Step 1 for every message: valid envelopes by logical queue (in first-seen order per queue,
// queues in name order); foreign bodies quarantined; newer protocols retried in 60 s.
std::map<std::string, std::vector<Incoming>> Decode(Invocation& inv,
                                                    const std::vector<RawMessage>& messages,
                                                    std::vector<Quarantined>& foreign) {
  std::map<std::string, std::vector<Incoming>> groups;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const RawMessage& m = messages[i];
    DecodedEnvelope decoded = DecodeEnvelope(*m.body);
    if (decoded.kind == EnvelopeKind::kNewerMajor) {
      inv.actions->Retry(i, 60);
      continue;
    }
    if (decoded.kind == EnvelopeKind::kValid &&
        !Serves(inv.state->options, decoded.envelope.queue)) {
      decoded.kind = EnvelopeKind::kForeign;
      decoded.reason = "queue '" + decoded.envelope.queue + "' is not served by this consumer";
    }
    if (decoded.kind == EnvelopeKind::kForeign) {
      foreign.push_back(
          {i, m.id, m.attempts, BodyText(*m.body), decoded.reason, decoded.envelope.queue});
      continue;
    }
    Incoming in;
    in.index = i;
    in.message_id = m.id;
    in.attempts = m.attempts;
    in.envelope = std::move(decoded.envelope);
    groups[in.envelope.queue].push_back(std::move(in));
  }
  return groups;
}

// ---- The claim batch (K1-K6) ------------------------------------------------------------------

struct ClaimPlan {
  sql::JsonList granted;  // [id, envGen, token]
  sql::JsonList parked;   // [id, envGen]
  sql::JsonList limited;  // [id, envGen, retryAt]
  sql::JsonList ids;
  std::optional<std::size_t> claim, redelay, classify;
};

// The rows of a wave's list `list` (JSON [[id, envGen, ...], ...]) still at the envelope's
// generation and dispatchable, as `c`. json_each drives the join (CROSS JOIN fixes the order),
// so each statement costs one index probe per envelope, whatever the size of the queue.
constexpr std::string_view kWaveRows =
    " FROM json_each(?) w CROSS JOIN cfq_jobs c ON c.queue = ? AND c.id = w.value ->> 0 WHERE "
    "c.gen = w.value ->> 1 AND c.state IN ('waiting','delayed','prioritized')";

void BuildClaimBatch(sql::Batch& batch, ClaimPlan& plan, const std::string& queue,
                     const std::string& owner, const QueueConfig& config, std::int64_t now) {
  const std::int64_t due = now + config.early_tolerance_ms;
  const std::string wave_rows(kWaveRows);
  if (!plan.granted.empty()) {
    const std::string granted = plan.granted.Text();
    plan.claim = batch.Add(  // K1: the claims; the token is the envelope's gen + 1.
        "UPDATE cfq_jobs SET state = 'active', gen = gen + 1, attempts_started = "
        "attempts_started + 1, processed_at = ?, lease_owner = ?, lease_until = ?, dispatch_at = "
        "NULL, dispatch_deadline = NULL WHERE seq IN (SELECT c.seq" +
            wave_rows + " AND c.available_at <= ?) RETURNING " + std::string(kJobColumns),
        now, owner, now + config.lock_duration_ms, granted, queue, due);
  }
  if (!plan.limited.empty()) {
    const std::string limited = plan.limited.Text();
    batch.Add(  // K5: `delayed` events of the re-delays (T16).
        "INSERT INTO cfq_events (queue, job_id, event, at, data) SELECT c.queue, c.id, "
        "'delayed', ?, json_object('reason', 'rate-limit', 'delay', max(c.available_at, "
        "w.value ->> 2) - ?, 'epoch', c.epoch, 'gen', c.gen + 1)" +
            wave_rows,
        now, now, limited, queue);
    plan.redelay = batch.Add(  // K4: the re-delays, sent before the ack.
        "UPDATE cfq_jobs SET state = 'delayed', available_at = max(available_at, (SELECT "
        "value ->> 2 FROM json_each(?) WHERE value ->> 0 = cfq_jobs.id)), gen = gen + 1, "
        "dispatch_at = ?, dispatch_deadline = max(available_at, (SELECT value ->> 2 FROM "
        "json_each(?) WHERE value ->> 0 = cfq_jobs.id), ?) + ? WHERE seq IN (SELECT c.seq" +
            wave_rows + ") RETURNING id, gen, available_at, group_key",
        limited, now, limited, now, config.dispatch_timeout_ms, limited, queue);
  }
  if (!plan.parked.empty()) {
    batch.Add(  // K3: parks (T17): undispatched, no attempt, no event.
        "UPDATE cfq_jobs SET gen = gen + 1, dispatch_at = NULL, dispatch_deadline = NULL WHERE "
        "seq IN (SELECT c.seq" +
            wave_rows + ")",
        plan.parked.Text(), queue);
  }
  // K6: what every envelope of the wave found, except the rows K1 just claimed (active under
  // this owner since now), which K1 returned whole.
  plan.classify = batch.Add(
      "SELECT id, gen, state, available_at FROM cfq_jobs WHERE queue = ? AND id IN (SELECT "
      "value FROM json_each(?)) AND NOT (state = 'active' AND lease_owner = ? AND "
      "processed_at = ?)",
      queue, plan.ids.Text(), owner, now);
}

struct RowState {
  std::int64_t gen = 0;
  std::string state;
  std::int64_t available_at = 0;
};

Task<void> RenewLoop(std::shared_ptr<Invocation> inv, std::string queue, std::int64_t period_ms);

void StartRenewals(const std::shared_ptr<Invocation>& inv, const std::string& queue,
                   const QueueConfig& config) {
  if (inv->renewing.count(queue) > 0) return;
  inv->renewing.insert(queue);
  inv->env->runtime().Spawn(RenewLoop(inv, queue, config.lock_renew_ms));
}

Task<void> RunClaimed(std::shared_ptr<Invocation> inv, std::vector<std::unique_ptr<JobRun>>& runs,
                      const std::string& queue) {
  if (runs.empty()) co_return;
  FinishCommitter committer(*inv);
  auto& inflight = inv->inflight[queue];
  for (auto& run : runs) inflight[run->job.id] = run.get();
  StartRenewals(inv, queue, runs.front()->config);
  const int concurrency = std::max(1, inv->state->options.concurrency);
  for (std::size_t first = 0; first < runs.size(); first += concurrency) {
    std::vector<Task<void>> tasks;
    const std::size_t last = std::min(runs.size(), first + static_cast<std::size_t>(concurrency));
    for (std::size_t i = first; i < last; ++i)
      tasks.push_back(ProcessJob(*inv, *runs[i], committer));
    co_await core::WhenAll(std::move(tasks));
  }
  std::vector<LeaseRef> release;
  bool finished = false;
  for (auto& run : runs) {
    inflight.erase(run->job.id);
    if (!run->applied) continue;  // Not ours any more: the lease is not ours to give back.
    release.emplace_back(run->job.id, run->token);
    finished = finished || run->kind == FinishKind::kComplete || run->kind == FinishKind::kFail;
  }
  if (!release.empty()) {
    auto stub = inv->context->Coordinator(queue);
    auto released =
        co_await stub->Call(&Coordinator::Release, queue, inv->owner, std::move(release), finished);
    (void)released;  // An unreleased lease expires; R-LEASE-GC removes it.
  }
}

// Claims that waited long before their processors could start (the claim's reply, the post-
// commit sends or a refund call took half the lease or more, on this invocation's clock) ask the
// coordinator first: a lease it no longer holds was stalled (R-STALL), the job was sent again,
// and a processor started now would race the job's next run. Lease times are the coordinator's,
// so only the elapsed time is measured here (a worker's clock may be skewed or jump).
Task<void> ConfirmSlowClaims(std::shared_ptr<Invocation> inv, std::string queue,
                             std::int64_t admit_sent_at,
                             std::vector<std::unique_ptr<JobRun>>& runs) {
  if (runs.empty()) co_return;
  EngineContext& context = *inv->context;
  const std::int64_t lease_ms = runs.front()->config.lock_duration_ms;
  const std::int64_t waited = context.NowMs() - admit_sent_at;
  if (waited < lease_ms / 2) co_return;
  std::vector<LeaseRef> items;
  for (const auto& run : runs) items.emplace_back(run->job.id, run->token);
  auto stub = context.Coordinator(queue);
  auto renewed = co_await stub->Call(&Coordinator::Renew, queue, inv->owner, items);
  std::size_t i = 0;
  std::erase_if(runs, [&](const std::unique_ptr<JobRun>& run) {
    const std::size_t at = i++;
    // Unknown (the call failed): give up only a lease that has certainly run out.
    const bool held = renewed.ok() ? renewed->at(at) : waited < lease_ms;
    if (held) return false;
    if (context.tracing()) {
      context.Trace(core::TraceEvent("engine.claim-expired")
                        .Str("queue", queue)
                        .Str("job", run->job.id)
                        .Int("gen", run->token)
                        .Int("waited_ms", waited));
    }
    return true;
  });
}

void TraceClaims(EngineContext& context, const std::string& queue,
                 const std::vector<std::unique_ptr<JobRun>>& runs) {
  if (!context.tracing()) return;
  for (const auto& run : runs) {
    core::TraceEvent event("engine.claimed");
    event.Str("queue", queue)
        .Str("job", run->job.id)
        .Int("gen", run->token)
        .Int("attempt", run->job.attempts_started);
    if (run->job.group_key) event.Str("group", *run->job.group_key);
    context.Trace(event);
  }
}

// After a claim batch whose outcome is unknown: the granted rows ([id, envGen, token]) that it
// claimed for this owner, as runs; nullopt when the read itself failed.
Task<std::optional<std::vector<std::unique_ptr<JobRun>>>> ProbeClaims(
    std::shared_ptr<Invocation> inv, std::string queue, std::string granted, QueueConfig config,
    std::int64_t now) {
  // A read is safe to repeat: a few tries keep one failed read from stranding a landed claim.
  Result<platform::D1Result> rows = Status::Unavailable("not read");
  for (int attempt = 0; attempt < 5 && !rows.ok(); ++attempt) {
    rows = co_await inv->context->db
               ->Prepare("SELECT " + QualifiedJobColumns() +
                         " FROM json_each(?) w CROSS JOIN cfq_jobs c ON c.queue = ? AND "
                         "c.id = w.value ->> 0 WHERE c.state = 'active' AND c.gen = "
                         "w.value ->> 2 AND c.lease_owner = ? ORDER BY w.key")
               .Bind(granted, queue, inv->owner)
               .All();
    if (rows.code() == core::Code::kCancelled) break;
  }
  if (!rows.ok()) co_return std::nullopt;
  std::vector<std::unique_ptr<JobRun>> runs;
  for (const auto& row : rows->results) {
    auto run = std::make_unique<JobRun>();
    run->invocation = inv.get();
    run->job = JobFromRow(row);
    run->token = run->job.gen;
    run->fence = run->token;
    run->config = config;
    run->last_flush = now;
    runs.push_back(std::move(run));
  }
  co_return runs;
}

// Steps 3-5 for one wave of envelopes of one queue.
Task<void> RunWave(std::shared_ptr<Invocation> inv, std::string queue, std::vector<Incoming> wave) {
  EngineContext& context = *inv->context;
  const int infra_delay = inv->state->options.infra_retry_delay_seconds;
  AdmitRequest request;
  request.queue = queue;
  request.owner = inv->owner;
  for (const auto& in : wave)
    request.items.emplace_back(in.envelope.id, in.envelope.gen, in.envelope.group);
  auto stub = context.Coordinator(queue);
  const std::int64_t admit_sent_at = context.NowMs();
  auto admitted = co_await stub->Call(&Coordinator::Admit, std::move(request));
  if (!admitted.ok()) {  // R-INFRA: the coordinator is unreachable; try these messages later.
    for (const auto& in : wave) inv->actions->Retry(in.index, infra_delay);
    co_return;
  }
  const QueueConfig config = admitted->config;
  context.queues[queue] = config;
  const std::int64_t now = context.NowMs();
  ClaimPlan plan;
  for (std::size_t i = 0; i < wave.size(); ++i) {
    const Envelope& e = wave[i].envelope;
    const AdmitAnswer& a = admitted->answers.at(i);
    plan.ids.Add(e.id);
    switch (a.outcome) {
      case AdmitOutcome::kGranted:
        plan.granted.AddRow(e.id, {e.gen, a.token});
        break;
      case AdmitOutcome::kPaused:
      case AdmitOutcome::kSaturated:
        plan.parked.AddRow(e.id, {e.gen});
        break;
      case AdmitOutcome::kLimited:
        plan.limited.AddRow(e.id, {e.gen, a.retry_at});
        break;
      case AdmitOutcome::kBusy:
        break;
    }
  }
  sql::Batch batch(*context.db);
  BuildClaimBatch(batch, plan, queue, inv->owner, config, now);
  auto results = co_await batch.Run("claim:" + inv->owner);
  if (!results.ok()) {
    // R-INFRA. A claim that certainly did not happen gives its grants back. One that may have
    // happened (the reply was lost) is read back: the batch is one transaction, so a granted
    // row active at its token under this owner means it committed, and those jobs run now
    // instead of waiting for their leases to expire into a stall they never had.
    const auto code = results.code();
    std::optional<std::vector<std::unique_ptr<JobRun>>> landed;
    if (code != core::Code::kUnavailable && code != core::Code::kOverloaded &&
        code != core::Code::kCancelled && !plan.granted.empty()) {
      landed = co_await ProbeClaims(inv, queue, plan.granted.Text(), config, now);
    }
    if (landed && !landed->empty()) {
      std::set<std::string> running;
      for (const auto& run : *landed) running.insert(run->job.id);
      for (const auto& in : wave) {
        if (running.contains(in.envelope.id)) {
          inv->actions->Ack(in.index);
        } else {
          inv->actions->Retry(in.index, infra_delay);
        }
      }
      co_await ConfirmSlowClaims(inv, queue, admit_sent_at, *landed);
      TraceClaims(context, queue, *landed);
      co_await RunClaimed(inv, *landed, queue);
      co_return;
    }
    if (code == core::Code::kUnavailable || code == core::Code::kOverloaded ||
        (landed && landed->empty())) {
      std::vector<LeaseRef> refunds;
      for (std::size_t i = 0; i < wave.size(); ++i) {
        const AdmitAnswer& a = admitted->answers.at(i);
        if (a.outcome == AdmitOutcome::kGranted) {
          refunds.emplace_back(wave[i].envelope.id, a.token, true);
        }
      }
      if (!refunds.empty()) {
        auto again = context.Coordinator(queue);
        auto released = co_await again->Call(&Coordinator::Release, queue, inv->owner,
                                             std::move(refunds), false);
        (void)released;
      }
    }
    if (code != core::Code::kCancelled) {
      for (const auto& in : wave) inv->actions->Retry(in.index, infra_delay);
    }
    co_return;
  }
  // Claimed rows, by id.
  std::map<std::string, Job> claimed;
  if (plan.claim) {
    for (const auto& row : results->at(*plan.claim).results) {
      Job job = JobFromRow(row);
      claimed.emplace(job.id, std::move(job));
    }
  }
  std::map<std::string, RowState> rows;
  for (const auto& row : results->at(*plan.classify).results) {
    rows[sql::Str(row.values[0])] = {sql::Int(row.values[1]), sql::Str(row.values[2]),
                                     sql::Int(row.values[3])};
  }
  // Sends first: re-delayed rows (T16), and early envelopes re-sent with the same gen.
  PostCommit post;
  if (plan.redelay) {
    for (const auto& row : results->at(*plan.redelay).results) {
      post.Send(Envelope{queue, sql::Str(row.values[0]), sql::Int(row.values[1]),
                         sql::Int(row.values[2]), sql::OptStr(row.values[3])});
    }
  }
  std::vector<LeaseRef> refunds;
  std::vector<std::unique_ptr<JobRun>> runs;
  for (std::size_t i = 0; i < wave.size(); ++i) {
    const Envelope& e = wave[i].envelope;
    const AdmitAnswer& a = admitted->answers.at(i);
    const auto found = rows.find(e.id);
    if (a.outcome == AdmitOutcome::kGranted) {
      const auto job = claimed.find(e.id);
      if (job != claimed.end() && job->second.gen == a.token) {
        auto run = std::make_unique<JobRun>();
        run->invocation = inv.get();
        run->job = std::move(job->second);
        run->token = a.token;
        run->fence = run->token;
        run->config = config;
        run->last_flush = now;
        claimed.erase(job);
        runs.push_back(std::move(run));
        continue;
      }
      // Granted, not claimed. Leave the lease of a row already active at this token (a claim
      // that landed before a crash: its holder is gone, the lease must expire into R-STALL).
      const bool active_at_token =
          found != rows.end() && found->second.state == "active" && found->second.gen == a.token;
      if (!active_at_token) refunds.emplace_back(e.id, a.token, true);
    }
    const bool early = found != rows.end() && found->second.gen == e.gen &&
                       found->second.state != "active" && found->second.state != "completed" &&
                       found->second.state != "failed" &&
                       found->second.state != "waiting-children" &&
                       found->second.available_at > now + config.early_tolerance_ms &&
                       a.outcome == AdmitOutcome::kGranted;
    if (early) {
      Envelope again = e;
      again.at = found->second.available_at;
      post.Send(std::move(again));
    }
  }
  co_await ApplyPostCommit(context, std::move(post));
  for (const auto& in : wave) inv->actions->Ack(in.index);
  if (!refunds.empty()) {
    auto again = context.Coordinator(queue);
    auto released =
        co_await again->Call(&Coordinator::Release, queue, inv->owner, std::move(refunds), false);
    (void)released;  // An unreleased grant expires; R-LEASE-GC removes it.
  }
  co_await ConfirmSlowClaims(inv, queue, admit_sent_at, runs);
  TraceClaims(context, queue, runs);
  co_await RunClaimed(inv, runs, queue);
}

Task<void> RenewLoop(std::shared_ptr<Invocation> inv, std::string queue, std::int64_t period_ms) {
  while (true) {
    const core::Instant wake = inv->env->clock().Now() + core::Milliseconds(period_ms);
    const Status slept =
        co_await inv->env->runtime().SleepUntil(wake, core::TimerKind::kBackground);
    if (!slept.ok() || inv->finished) break;
    auto& runs = inv->inflight[queue];
    if (runs.empty()) break;
    std::vector<LeaseRef> items;
    for (const auto& [id, run] : runs) items.emplace_back(id, run->token);
    auto stub = inv->context->Coordinator(queue);
    auto renewed = co_await stub->Call(&Coordinator::Renew, queue, inv->owner, items);
    if (inv->finished) break;
    if (!renewed.ok()) {
      if (renewed.code() == core::Code::kCancelled) break;
      continue;  // Try again next period; the lease may still be valid.
    }
    const core::Instant now = inv->env->clock().Now();
    const bool out_of_time = inv->deadline && now + core::Milliseconds(period_ms) >= *inv->deadline;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto it = runs.find(items[i].id);
      if (it == runs.end() || it->second->token != items[i].token) continue;
      if (!renewed->at(i)) it->second->signal.Abort("lease lost");
      if (out_of_time) it->second->signal.Abort("the invocation's time is nearly spent");
    }
  }
  inv->renewing.erase(queue);
}

// Counts an invocation as running for Engine::Close, and wakes Close when the last one ends.
class RunningGuard {
 public:
  RunningGuard(ConsumerState& state, Invocation* invocation)
      : state_(state), invocation_(invocation) {
    ++state_.running;
    state_.live.insert(invocation_);
  }
  RunningGuard(const RunningGuard&) = delete;
  RunningGuard& operator=(const RunningGuard&) = delete;
  ~RunningGuard() {
    state_.live.erase(invocation_);
    if (--state_.running == 0) state_.idle.Set();
  }

 private:
  ConsumerState& state_;
  Invocation* invocation_;
};

Task<Status> HandleMessages(std::shared_ptr<ConsumerState> state, std::vector<RawMessage> messages,
                            platform::Env& env, MessageActions& actions,
                            std::optional<core::Instant> deadline) {
  if (state->closed) {
    // The engine was closed: nothing is claimed; the messages come back later (R-INFRA).
    for (std::size_t i = 0; i < messages.size(); ++i) {
      actions.Retry(i, state->options.infra_retry_delay_seconds);
    }
    co_return Status::Ok();
  }
  auto inv = std::make_shared<Invocation>();
  const RunningGuard running(*state, inv.get());
  inv->state = state;
  inv->env = &env;
  inv->actions = &actions;
  inv->deadline = deadline;
  core::Random random = state->random.Fork(state->invocations++);
  inv->owner = "c-" + random.Hex(8);
  auto context = MakeEngineContext(env, state->bindings, std::move(random), state->config);
  if (!context.ok()) co_return context.status();  // A configuration error fails the batch.
  inv->context = std::move(*context);
  std::vector<Quarantined> foreign;
  auto groups = Decode(*inv, messages, foreign);
  co_await QuarantineForeign(*inv, std::move(foreign));
  const auto& options = state->options;
  const std::size_t wave_size =
      static_cast<std::size_t>(std::max(1, options.prefetch.value_or(options.concurrency)));
  for (auto& [queue, incoming] : groups) {
    for (std::size_t first = 0; first < incoming.size(); first += wave_size) {
      if (state->closed) {  // Closed between waves: the rest is not claimed.
        for (std::size_t i = first; i < incoming.size(); ++i) {
          actions.Retry(incoming[i].index, options.infra_retry_delay_seconds);
        }
        break;
      }
      const std::size_t last = std::min(incoming.size(), first + wave_size);
      std::vector<Incoming> wave(std::make_move_iterator(incoming.begin() + first),
                                 std::make_move_iterator(incoming.begin() + last));
      co_await RunWave(inv, queue, std::move(wave));
    }
  }
  inv->finished = true;
  co_return Status::Ok();  // The handler never throws: per-message failures are R-INFRA.
}

}  // namespace

Consumer::Consumer(EngineBindings bindings, EngineConfig config, Processor processor,
                   ConsumerOptions options, core::Random random)
    : state_(std::make_shared<ConsumerState>()) {
  state_->bindings = std::move(bindings);
  state_->config = config;
  state_->processor = std::move(processor);
  state_->options = std::move(options);
  state_->random = std::move(random);
}

namespace {

// Free coroutines with by-value parameters: a handler's frame must not point into the
// std::function that holds the handler.
Task<Status> HandleBatch(std::shared_ptr<ConsumerState> state, platform::MessageBatch& batch,
                         platform::Env& env, std::optional<core::Instant> deadline) {
  std::vector<RawMessage> messages;
  messages.reserve(batch.messages().size());
  for (const auto& m : batch.messages()) messages.push_back({m.id(), m.attempts(), &m.body()});
  PushActions actions(batch);
  co_return co_await HandleMessages(state, std::move(messages), env, actions, deadline);
}

Task<Result<PulledOutcome>> HandlePulledBatch(std::shared_ptr<ConsumerState> state,
                                              std::vector<platform::PulledMessage> pulled,
                                              platform::Env& env) {
  std::vector<RawMessage> messages;
  messages.reserve(pulled.size());
  for (const auto& m : pulled) messages.push_back({m.id, m.attempts, &m.body});
  PullActions actions(pulled);
  const Status handled =
      co_await HandleMessages(state, std::move(messages), env, actions, std::nullopt);
  if (!handled.ok()) co_return handled;
  co_return std::move(actions.outcome);
}

}  // namespace

platform::QueueHandler Consumer::Handler() const {
  std::shared_ptr<ConsumerState> state = state_;
  return
      [state](platform::MessageBatch& batch, platform::Env& env, platform::ExecutionContext& ctx) {
        return HandleBatch(state, batch, env, ctx.Deadline());
      };
}

Task<Status> Consumer::Handle(platform::MessageBatch& batch, platform::Env& env,
                              platform::ExecutionContext& ctx) const {
  return HandleBatch(state_, batch, env, ctx.Deadline());
}

Task<Result<PulledOutcome>> Consumer::HandlePulled(std::vector<platform::PulledMessage> pulled,
                                                   platform::Env& env) const {
  return HandlePulledBatch(state_, std::move(pulled), env);
}

}  // namespace cfemu::engine
