// The dead-letter consumer (engine-spec.md §4.13, T19). Job failures never use
// message.retry(), so a dead-lettered envelope means the infrastructure failed max_retries
// times in a row (D1 or the coordinator unreachable): its job, if the envelope is still its
// current generation, fails as dead-lettered; every message leaves one cfq_dead_letters row
// (a redelivered one hits UNIQUE(source, cf_message_id) and changes nothing).
#include "src/engine/consumer.h"
#include "src/engine/effects.h"
#include "src/engine/job_row.h"
#include "src/engine/job_store.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

struct DeadLetterConsumer::State {
  EngineBindings bindings;
  EngineConfig config;
  DeadLetterOptions options;
  core::Random random{0};
  std::uint64_t invocations = 0;
};

namespace {

constexpr std::string_view kDeadLetterReason =
    "dead-lettered: the consumer's Cloudflare retries ran out (infrastructure failure)";

JobOptions OptionsOf(const Job& job) {
  auto options = JobOptionsFromJson(job.opts);
  return options.ok() ? *options : JobOptions();
}

Task<Result<std::map<std::pair<std::string, std::string>, Job>>> ReadEnvelopeRows(
    EngineContext& context, const std::vector<Envelope>& envelopes) {
  Json keys = Json::array();
  for (const auto& e : envelopes) keys.push_back(Json::array({e.queue, e.id}));
  auto rows = co_await context.db
                  ->Prepare("SELECT " + std::string(kJobColumns) +
                            " FROM cfq_jobs WHERE (queue, id) IN (SELECT value ->> 0, value ->> 1 "
                            "FROM json_each(?))")
                  .Bind(sql::Dump(keys))
                  .All();
  if (!rows.ok()) co_return rows.status();
  std::map<std::pair<std::string, std::string>, Job> out;
  for (const auto& row : rows->results) {
    Job job = JobFromRow(row);
    out.emplace(std::make_pair(job.queue_name, job.id), std::move(job));
  }
  co_return out;
}

Task<Status> HandleDeadLetters(std::shared_ptr<DeadLetterConsumer::State> state,
                               platform::MessageBatch& batch, platform::Env& env) {
  auto context = MakeEngineContext(env, state->bindings, state->random.Fork(state->invocations++),
                                   state->config);
  if (!context.ok()) co_return context.status();
  EngineContext& ctx = **context;
  auto& messages = batch.messages();
  std::vector<Envelope> envelopes(messages.size());
  std::vector<bool> valid(messages.size(), false);
  std::vector<Envelope> valid_list;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    DecodedEnvelope decoded = DecodeEnvelope(messages[i].body());
    if (decoded.kind == EnvelopeKind::kValid) {
      valid[i] = true;
      envelopes[i] = decoded.envelope;
      valid_list.push_back(decoded.envelope);
    }
  }
  auto rows = co_await ReadEnvelopeRows(ctx, valid_list);
  if (!rows.ok()) {  // R-INFRA: try again later.
    for (auto& m : messages)
      m.Retry(platform::RetryOptions(state->options.infra_retry_delay_seconds));
    co_return Status::Ok();
  }
  const std::int64_t now = ctx.NowMs();
  sql::Batch writes(*ctx.db);
  std::vector<store::FlowEffects> effects;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const platform::Message& m = messages[i];
    const std::string body = BodyText(m.body());
    if (!valid[i]) {
      writes.Add(
          "INSERT INTO cfq_dead_letters (queue, job_id, source, cf_message_id, cf_attempts, "
          "body, reason, outcome, at) VALUES (NULL, NULL, 'quarantine', ?, ?, ?, ?, "
          "'quarantined', ?) ON CONFLICT (source, cf_message_id) DO NOTHING",
          m.id(), static_cast<std::int64_t>(m.attempts()), body, DecodeEnvelope(m.body()).reason,
          now);
      continue;
    }
    const Envelope& e = envelopes[i];
    const auto it = rows->find({e.queue, e.id});
    const bool current =
        it != rows->end() && it->second.gen == e.gen && IsDispatchable(it->second.state);
    writes.Add(
        "INSERT INTO cfq_dead_letters (queue, job_id, source, cf_message_id, cf_attempts, body, "
        "reason, outcome, at) VALUES (?, ?, 'dlq', ?, ?, ?, ?, ?, ?) ON CONFLICT (source, "
        "cf_message_id) DO NOTHING",
        e.queue, e.id, m.id(), static_cast<std::int64_t>(m.attempts()), body,
        std::string(kDeadLetterReason), std::string(current ? "dead-lettered" : "stale-ignored"),
        now);
    if (!current) continue;
    const Job& job = it->second;
    Json data = {{"messageId", m.id()}};
    store::Event(writes, store::GuardOf(job), "cfq:dead-lettered", std::move(data), job.epoch,
                 job.gen + 1, now);
    store::Failure failure;  // T19.
    failure.reason = std::string(kDeadLetterReason);
    failure.dead_lettered = true;
    failure.count_attempt = false;
    failure.keep = KeepPolicyOf(OptionsOf(job).remove_on_fail);
    effects.push_back(store::AppendFailure(writes, job, store::GuardOf(job), failure, now).flow);
  }
  auto results = co_await writes.Run("dead-letter");
  if (!results.ok()) {
    for (auto& m : messages)
      m.Retry(platform::RetryOptions(state->options.infra_retry_delay_seconds));
    co_return Status::Ok();
  }
  for (auto& m : messages) m.Ack();
  PostCommit post;
  for (const auto& e : effects) CollectFlowEffects(*results, e, post);
  co_await ApplyPostCommit(ctx, std::move(post));
  co_return Status::Ok();
}

}  // namespace

DeadLetterConsumer::DeadLetterConsumer(EngineBindings bindings, EngineConfig config,
                                       DeadLetterOptions options, core::Random random)
    : state_(std::make_shared<State>()) {
  state_->bindings = std::move(bindings);
  state_->config = config;
  state_->options = options;
  state_->random = std::move(random);
}

platform::QueueHandler DeadLetterConsumer::Handler() const {
  std::shared_ptr<State> state = state_;
  return [state](platform::MessageBatch& batch, platform::Env& env, platform::ExecutionContext&) {
    return HandleDeadLetters(state, batch, env);
  };
}

Task<Status> DeadLetterConsumer::Handle(platform::MessageBatch& batch, platform::Env& env,
                                        platform::ExecutionContext&) const {
  return HandleDeadLetters(state_, batch, env);
}

}  // namespace cfemu::engine
