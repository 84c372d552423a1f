#include "src/engine/engine_context.h"

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/job.h"
#include "src/engine/schema.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

const std::string& EngineBindings::ProducerFor(std::string_view logical_queue) const {
  const auto it = queues.find(std::string(logical_queue));
  return it == queues.end() ? queue : it->second;
}

Result<platform::QueueProducer*> EngineContext::Producer(std::string_view queue) {
  return env->Queue(bindings.ProducerFor(queue));
}

std::unique_ptr<platform::DurableObjectStub> EngineContext::Coordinator(std::string_view queue) {
  return coordinators->GetByName(queue);
}

Result<std::shared_ptr<EngineContext>> MakeEngineContext(platform::Env& env,
                                                         EngineBindings bindings,
                                                         core::Random random, EngineConfig config) {
  auto context = std::make_shared<EngineContext>();
  context->env = &env;
  context->random = std::move(random);
  context->config = config;
  auto db = env.D1(bindings.d1);
  if (!db.ok()) {
    return Status::FailedPrecondition("the job engine needs its D1 binding '" + bindings.d1 +
                                      "': " + db.status().message());
  }
  context->db = *db;
  auto coordinators = env.DurableObjects(bindings.coordinator);
  if (!coordinators.ok()) {
    return Status::FailedPrecondition("the job engine needs its coordinator binding '" +
                                      bindings.coordinator +
                                      "': " + coordinators.status().message());
  }
  context->coordinators = *coordinators;
  if (!bindings.kv.empty()) {
    auto kv = env.Kv(bindings.kv);
    if (!kv.ok()) {
      return Status::FailedPrecondition("the job engine's KV binding '" + bindings.kv +
                                        "' is missing: " + kv.status().message());
    }
    context->kv = *kv;
  } else if (config.kv_pause_hint || config.kv_throttle_cache) {
    return Status::FailedPrecondition(config.kv_pause_hint
                                          ? "kv_pause_hint needs a KV binding"
                                          : "kv_throttle_cache needs a KV binding");
  }
  context->bindings = std::move(bindings);
  return context;
}

Task<Status> SendEnvelopes(EngineContext& context, std::vector<OutgoingEnvelope> envelopes) {
  Status first;
  std::size_t i = 0;
  while (i < envelopes.size()) {
    // A run of envelopes for the same producer binding, at most 100.
    const std::string& binding = context.bindings.ProducerFor(envelopes[i].envelope.queue);
    std::vector<platform::MessageSendRequest> messages;
    std::size_t j = i;
    while (j < envelopes.size() && messages.size() < 100 &&
           context.bindings.ProducerFor(envelopes[j].envelope.queue) == binding) {
      platform::SendOptions options("json", envelopes[j].delay_seconds);
      messages.emplace_back(platform::Body(EncodeEnvelope(envelopes[j].envelope)),
                            std::move(options));
      ++j;
    }
    if (context.tracing()) {
      for (std::size_t k = i; k < j; ++k) {
        context.Trace(
            core::TraceEvent("engine.sent")
                .Str("queue", envelopes[k].envelope.queue)
                .Str("job", envelopes[k].envelope.id)
                .Int("gen", envelopes[k].envelope.gen)
                .Int("delay", envelopes[k].delay_seconds)
                .Int("bytes", static_cast<std::int64_t>(EnvelopeBytes(envelopes[k].envelope))));
      }
    }
    i = j;
    auto producer = context.env->Queue(binding);
    if (!producer.ok()) {
      if (first.ok()) first = producer.status();
      continue;
    }
    Status sent;
    if (messages.size() == 1) {
      platform::SendOptions options = messages[0].options;
      sent = (co_await (*producer)->Send(std::move(messages[0].body), std::move(options))).status();
    } else {
      sent = (co_await (*producer)->SendBatch(std::move(messages))).status();
    }
    if (!sent.ok()) {
      if (first.ok()) first = sent;
      if (sent.code() == core::Code::kCancelled) co_return first;
    }
  }
  co_return first;
}

Task<Status> KickCoordinator(EngineContext& context, std::string queue, std::int64_t at) {
  auto stub = context.Coordinator(queue);
  auto kicked = co_await stub->Call(&Coordinator::Kick, queue, at);
  co_return kicked.status();
}

Status SchemaMissingOr(Status status) {
  if (status.message().find("no such table: cfq_") != std::string::npos) {
    return Status::FailedPrecondition(
        "the job engine's schema is not applied to this database: call Engine::Migrate() or "
        "run `cfemu migrate` (" +
        status.message() + ")");
  }
  return status;
}

Task<Status> OpenQueueRows(EngineContext& context, std::string queue, QueueConfig config) {
  CFEMU_CO_RETURN_IF_ERROR(ValidateQueueName(queue));
  CFEMU_CO_RETURN_IF_ERROR(ValidateQueueConfig(config));
  const std::string config_json = sql::Dump(QueueConfigToJson(config));
  const std::int64_t now = context.NowMs();
  sql::Batch batch(*context.db);
  batch.Add(
      "INSERT INTO cfq_queues (queue, config, created_at, updated_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (queue) DO UPDATE SET config = excluded.config, updated_at = "
      "excluded.updated_at",
      queue, config_json, now, now);
  batch.Add(
      "INSERT OR IGNORE INTO cfq_counts (queue, state, n) SELECT ?, value, 0 FROM json_each(?)",
      queue,
      std::string(R"(["waiting","prioritized","delayed","waiting-children","active","completed",)"
                  R"("failed"])"));
  // An older schema would run without the triggers this build's statements rely on.
  const std::size_t version = batch.Add("SELECT coalesce(max(version), 0) FROM cfq_schema");
  auto written = co_await batch.Run("open-queue");
  if (!written.ok()) co_return SchemaMissingOr(written.status());
  const auto& version_rows = written->at(version).results;
  const std::int64_t applied = version_rows.empty() ? 0 : sql::Int(version_rows[0].values.at(0));
  if (applied < LatestSchemaVersion()) {
    co_return Status::FailedPrecondition("the database has the job engine's schema version " +
                                         std::to_string(applied) + ", this build needs " +
                                         std::to_string(LatestSchemaVersion()) +
                                         ": call Engine::Migrate() or run `cfemu migrate`");
  }
  auto stub = context.Coordinator(queue);
  auto configured = co_await stub->Call(&Coordinator::Configure, queue, config_json);
  if (!configured.ok()) co_return configured.status();
  context.queues[queue] = std::move(config);
  co_return Status::Ok();
}

Task<Result<QueueConfig>> QueueConfigFor(EngineContext& context, std::string queue) {
  if (const auto it = context.queues.find(queue); it != context.queues.end()) {
    co_return it->second;
  }
  CFEMU_CO_RETURN_IF_ERROR(ValidateQueueName(queue));
  auto row = co_await context.db->Prepare("SELECT config FROM cfq_queues WHERE queue = ?")
                 .Bind(queue)
                 .First();
  if (!row.ok()) co_return SchemaMissingOr(row.status());
  if (*row) {
    auto config = QueueConfigFromJson(sql::JsonOf((*row)->values.at(0)));
    if (!config.ok()) co_return config.status();
    context.queues[queue] = *config;
    co_return *config;
  }
  CFEMU_CO_RETURN_IF_ERROR(co_await OpenQueueRows(context, queue, QueueConfig()));
  co_return context.queues.at(queue);
}

}  // namespace cfemu::engine
