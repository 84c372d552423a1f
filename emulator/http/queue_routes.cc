#include "emulator/http/queue_routes.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "emulator/http/base64.h"
#include "emulator/http/json_fields.h"
#include "emulator/queues/producer.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::ConsumerType;

namespace {

constexpr JsonCodes kCodes{cf_code::kQueueJsonMalformed, cf_code::kQueueJsonInvalid};
constexpr int kInvalid = cf_code::kQueueJsonInvalid;
// Bodies: management calls are small; a push carries one message of at most 128,000 bytes and
// a batch at most 256,000, but JSON escaping can grow either up to six times.
constexpr std::size_t kSmallBody = 64 * 1024;
constexpr std::size_t kPushBody = 1024 * 1024;
constexpr std::size_t kBatchBody = 2 * 1024 * 1024;
constexpr std::size_t kAckBody = 1024 * 1024;
constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr int kIntMin = std::numeric_limits<int>::min();

#define CFEMU_ASSIGN_OR_RESPOND(lhs, expr, fallback)                           \
  auto lhs##_result = (expr);                                                  \
  if (!lhs##_result.ok()) return FailureFrom(lhs##_result.status(), fallback); \
  auto lhs = std::move(*lhs##_result)

Json MetricsJson(const platform::QueueMetrics& m) {
  return {{"backlog_count", m.backlog_count},
          {"backlog_bytes", m.backlog_bytes},
          {"oldest_message_timestamp_ms",
           m.oldest_message_timestamp ? m.oldest_message_timestamp->unix_ms() : 0}};
}

Json ConsumerJson(const QueueBroker& queue, int index) {
  const platform::ConsumerSpec& spec = queue.consumer(index);
  const bool worker = spec.type == ConsumerType::kWorker;
  Json settings = {{"batch_size", spec.max_batch_size},
                   {"max_retries", spec.max_retries},
                   {"retry_delay", spec.retry_delay.ms() / 1000}};
  if (worker) {
    settings["max_wait_time_ms"] = spec.max_batch_timeout.ms();
    if (spec.max_concurrency) settings["max_concurrency"] = *spec.max_concurrency;
  } else {
    settings["visibility_timeout_ms"] = spec.visibility_timeout.ms();
  }
  Json out = {{"consumer_id", ConsumerId(queue, index)},
              {"created_on", queue.consumer_created_at(index).ToRfc3339()},
              {"queue_id", queue.id()},
              {"queue_name", queue.name()},
              {"type", worker ? "worker" : "http_pull"},
              {"settings", std::move(settings)}};
  if (worker) out["script_name"] = spec.script_name;
  if (!spec.dead_letter_queue.empty()) out["dead_letter_queue"] = spec.dead_letter_queue;
  return out;
}

Json ConsumersJson(const QueueBroker& queue) {
  Json out = Json::array();
  for (int i = 0; i < queue.consumer_count(); ++i) {
    if (!queue.consumer_removed(i)) out.push_back(ConsumerJson(queue, i));
  }
  return out;
}

// The pulled body as the REST API sends it: text as is, json and bytes base64-encoded.
std::pair<std::string, std::string> WireBody(const platform::Body& body) {
  if (const auto* text = std::get_if<platform::Text>(&body)) return {text->value, "text"};
  if (const auto* bytes = std::get_if<core::Bytes>(&body)) {
    return {
        Base64Encode(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size())),
        "bytes"};
  }
  if (const auto* json = std::get_if<Json>(&body)) return {Base64Encode(DumpJson(*json)), "json"};
  const auto& blob = std::get<platform::V8Blob>(body).bytes;
  return {Base64Encode(std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size())),
          "v8"};
}

// One message of a push: `body`, `content_type` (text or json; json when absent) and
// `delay_seconds`. Values are checked by the producer binding, as for a Worker's send.
Result<platform::MessageSendRequest> SendRequestOf(const Json& item) {
  if (!item.is_object()) return Status::InvalidArgument("a message must be an object", kInvalid);
  auto type = StringField(item, "content_type", kInvalid);
  if (!type.ok()) return type.status();
  const std::string content_type = type->value_or("json");
  if (content_type != "text" && content_type != "json") {
    return Status::InvalidArgument(
        "Unsupported queue message content type: " + content_type + " (10203)", 10203);
  }
  auto delay = IntField(item, "delay_seconds", kIntMin, kIntMax, kInvalid);
  if (!delay.ok()) return delay.status();
  std::optional<int> delay_seconds;
  if (*delay) delay_seconds = static_cast<int>(**delay);
  platform::Body body = Json(Json::value_t::discarded);  // JS undefined: refused.
  const auto it = item.find("body");
  if (it != item.end()) {
    body = content_type == "text" && it->is_string() ? platform::Body(platform::Text{*it})
                                                     : platform::Body(*it);
  }
  return platform::MessageSendRequest(std::move(body),
                                      platform::SendOptions(content_type, delay_seconds));
}

Status ApplyQueueSettings(const Json& body, platform::QueueSpec& spec,
                          std::optional<bool>& paused) {
  const auto it = body.find("settings");
  if (it == body.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) return Status::InvalidArgument("settings must be an object", kInvalid);
  auto delay = IntField(*it, "delivery_delay", 0, 43'200, kInvalid);
  if (!delay.ok()) return delay.status();
  if (*delay) spec.delivery_delay = core::Seconds(**delay);
  auto retention = IntField(*it, "message_retention_period", 60, 1'209'600, kInvalid);
  if (!retention.ok()) return retention.status();
  if (*retention) spec.message_retention_period = core::Seconds(**retention);
  auto paused_field = BoolField(*it, "delivery_paused", kInvalid);
  if (!paused_field.ok()) return paused_field.status();
  paused = *paused_field;
  return Status::Ok();
}

Status ApplyConsumerSettings(const Json& body, platform::ConsumerSpec& spec) {
  auto dlq = StringField(body, "dead_letter_queue", kInvalid);
  if (!dlq.ok()) return dlq.status();
  if (*dlq) spec.dead_letter_queue = **dlq;
  const auto it = body.find("settings");
  if (it == body.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) return Status::InvalidArgument("settings must be an object", kInvalid);
  const Json& s = *it;
  auto batch = IntField(s, "batch_size", 1, 100, kInvalid);
  auto retries = IntField(s, "max_retries", 0, 100, kInvalid);
  auto retry_delay = IntField(s, "retry_delay", 0, 86'400, kInvalid);
  auto wait = IntField(s, "max_wait_time_ms", 0, 60'000, kInvalid);
  auto concurrency = IntField(s, "max_concurrency", 1, 250, kInvalid);
  auto visibility = IntField(s, "visibility_timeout_ms", 1, 43'200'000, kInvalid);
  for (const auto* field : {&batch, &retries, &retry_delay, &wait, &concurrency, &visibility}) {
    if (!field->ok()) return field->status();
  }
  if (*batch) spec.max_batch_size = static_cast<int>(**batch);
  if (*retries) spec.max_retries = static_cast<int>(**retries);
  if (*retry_delay) spec.retry_delay = core::Seconds(**retry_delay);
  if (*wait) spec.max_batch_timeout = core::Milliseconds(**wait);
  if (*concurrency) spec.max_concurrency = static_cast<int>(**concurrency);
  if (*visibility) spec.visibility_timeout = core::Milliseconds(**visibility);
  return Status::Ok();
}

}  // namespace

std::string ConsumerId(const QueueBroker& queue, int index) {
  return core::DeriveHexId("consumer", queue.name() + "/" + std::to_string(index));
}

QueueRoutes::QueueRoutes(World& world)
    : world_(world), scope_(world.host(), "rest", world.host().ClockFor("rest"), nullptr) {}

void QueueRoutes::AddTo(Router& router) {
  const std::string base = "/client/v4/accounts/{account_id}/queues";
  const std::string queue = base + "/{queue_id}";
  const std::string consumer = queue + "/consumers/{consumer_id}";
  router.Add("GET", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return List(r); }));
  router.Add("POST", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return Create(r); }));
  router.Add("GET", queue, kSmallBody, SyncRoute([this](auto&, auto& p) { return Get(p); }));
  for (const char* method : {"PUT", "PATCH"}) {
    router.Add(method, queue, kSmallBody,
               SyncRoute([this](auto& r, auto& p) { return Update(r, p); }));
  }
  router.Add("DELETE", queue, kSmallBody, SyncRoute([this](auto&, auto& p) { return Delete(p); }));
  router.Add("GET", queue + "/metrics", kSmallBody,
             SyncRoute([this](auto&, auto& p) { return Metrics(p); }));
  router.Add("POST", queue + "/purge", kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return Purge(r, p); }));
  router.Add("GET", queue + "/purge", kSmallBody,
             SyncRoute([this](auto&, auto& p) { return PurgeStatus(p); }));
  router.Add("GET", queue + "/consumers", kSmallBody,
             SyncRoute([this](auto&, auto& p) { return ListConsumers(p); }));
  router.Add("POST", queue + "/consumers", kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return CreateConsumer(r, p); }));
  router.Add("GET", consumer, kSmallBody,
             SyncRoute([this](auto&, auto& p) { return GetConsumer(p); }));
  router.Add("PUT", consumer, kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return UpdateConsumer(r, p); }));
  router.Add("DELETE", consumer, kSmallBody,
             SyncRoute([this](auto&, auto& p) { return DeleteConsumer(p); }));
  router.Add("POST", queue + "/messages", kPushBody,
             [this](const HttpRequest& r, const RouteParams& p) { return Push(r, p); });
  router.Add("POST", queue + "/messages/batch", kBatchBody,
             [this](const HttpRequest& r, const RouteParams& p) { return PushBatch(r, p); });
  router.Add("POST", queue + "/messages/pull", kSmallBody,
             [this](const HttpRequest& r, const RouteParams& p) { return Pull(r, p); });
  router.Add("POST", queue + "/messages/ack", kAckBody,
             [this](const HttpRequest& r, const RouteParams& p) { return Ack(r, p); });
  router.Add("POST", queue + "/messages/peek", kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return Peek(r, p); }));
  router.Add("POST", queue + "/messages/purge", kAckBody,
             SyncRoute([this](auto& r, auto& p) { return PurgeMessages(r, p); }));
}

Result<QueueBroker*> QueueRoutes::QueueOf(const RouteParams& params) {
  const std::string& id = params.at("queue_id");
  if (!core::IsLowerHex(id, 32)) {
    return Status::InvalidArgument(
        "Could not route to queue '" + id + "', perhaps your object identifier is invalid?",
        cf_code::kInvalidObjectId);
  }
  QueueBroker* queue = world_.queues().FindById(id);
  if (queue == nullptr) {
    return Status::NotFound("Queue does not exist: " + id, cf_code::kQueueNotFound);
  }
  return queue;
}

Result<int> QueueRoutes::ConsumerOf(const QueueBroker& queue, const RouteParams& params) {
  const std::string& id = params.at("consumer_id");
  if (!core::IsLowerHex(id, 32)) {
    return Status::InvalidArgument(
        "Could not route to consumer '" + id + "', perhaps your object identifier is invalid?",
        cf_code::kInvalidObjectId);
  }
  for (int i = 0; i < queue.consumer_count(); ++i) {
    if (!queue.consumer_removed(i) && ConsumerId(queue, i) == id) return i;
  }
  return Status::NotFound("Consumer does not exist: " + id, cf_code::kQueueNotFound);
}

Json QueueRoutes::QueueJson(const QueueBroker& queue) const {
  Json producers = Json::array();
  for (const auto& p : world_.spec().producers) {
    if (p.queue == queue.name()) {
      producers.push_back({{"type", "worker"}, {"script", world_.spec().script_name}});
    }
  }
  Json consumers = ConsumersJson(queue);
  const auto consumers_count = consumers.size();
  const auto producers_count = producers.size();
  const platform::QueueSpec& spec = queue.spec();
  return {{"queue_id", queue.id()},
          {"queue_name", queue.name()},
          {"created_on", queue.created_at().ToRfc3339()},
          {"modified_on", queue.modified_at().ToRfc3339()},
          {"producers", std::move(producers)},
          {"producers_total_count", producers_count},
          {"consumers", std::move(consumers)},
          {"consumers_total_count", consumers_count},
          {"settings",
           {{"delivery_delay", spec.delivery_delay.ms() / 1000},
            {"delivery_paused", queue.paused()},
            {"message_retention_period", spec.message_retention_period.ms() / 1000}}}};
}

// ---- Queues -----------------------------------------------------------------------------------

HttpResponse QueueRoutes::List(const HttpRequest& request) {
  const auto all = world_.queues().queues();
  const auto total = static_cast<std::int64_t>(all.size());
  // Every queue on one page unless the client asks for pages (the official client reads one).
  const auto query = request.query();
  std::int64_t page = 1;
  std::int64_t per_page = std::max<std::int64_t>(total, 1);
  for (auto [name, target] : {std::pair{"page", &page}, std::pair{"per_page", &per_page}}) {
    const auto it = query.find(name);
    if (it == query.end()) continue;
    Json parsed = Json::parse(it->second, nullptr, false);
    auto value = IntField(Json{{name, parsed}}, name, 1, 1000, kInvalid);
    if (!value.ok() || !*value) {
      return Failure(400, kInvalid, std::string(name) + " must be an integer from 1 to 1000");
    }
    *target = **value;
  }
  Json result = Json::array();
  for (std::int64_t i = (page - 1) * per_page; i < std::min(total, page * per_page); ++i) {
    result.push_back(QueueJson(*all[static_cast<std::size_t>(i)]));
  }
  const auto count = static_cast<std::int64_t>(result.size());
  return Success(std::move(result), Json{{"page", page},
                                         {"per_page", per_page},
                                         {"count", count},
                                         {"total_count", total},
                                         {"total_pages", (total + per_page - 1) / per_page}});
}

HttpResponse QueueRoutes::Create(const HttpRequest& request) {
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(name, StringField(body, "queue_name", kInvalid), kInvalid);
  if (!name) return Failure(400, kInvalid, "queue_name is required");
  platform::QueueSpec spec;
  spec.name = *name;
  std::optional<bool> paused;
  const Status settings = ApplyQueueSettings(body, spec, paused);
  if (!settings.ok()) return FailureFrom(settings, kInvalid);
  auto created = world_.queues().CreateQueue(std::move(spec));
  if (!created.ok()) {
    if (created.code() == core::Code::kAlreadyExists) {
      return Failure(409, cf_code::kQueueAlreadyExists, created.status().message());
    }
    return FailureFrom(created.status(), kInvalid);
  }
  if (paused.value_or(false)) {
    const Status paused_now = world_.queues().Pause((*created)->name());
    if (!paused_now.ok()) return FailureFrom(paused_now, kInvalid);
  }
  return Success(QueueJson(**created));
}

HttpResponse QueueRoutes::Get(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  return Success(QueueJson(*queue));
}

HttpResponse QueueRoutes::Update(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(name, StringField(body, "queue_name", kInvalid), kInvalid);
  if (name && *name != queue->name()) {
    return Failure(400, kInvalid, "cfemu cannot rename a queue; create a new one instead");
  }
  platform::QueueSpec spec = queue->spec();
  std::optional<bool> paused;
  const Status settings = ApplyQueueSettings(body, spec, paused);
  if (!settings.ok()) return FailureFrom(settings, kInvalid);
  const Status updated = world_.queues().UpdateQueue(spec);
  if (!updated.ok()) return FailureFrom(updated, kInvalid);
  if (paused) {
    const Status delivery =
        *paused ? world_.queues().Pause(queue->name()) : world_.queues().Resume(queue->name());
    if (!delivery.ok()) return FailureFrom(delivery, kInvalid);
  }
  return Success(QueueJson(*queue));
}

HttpResponse QueueRoutes::Delete(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  const Status deleted = world_.queues().DeleteQueue(queue->name());
  if (!deleted.ok()) return FailureFrom(deleted, kInvalid);
  return Success(nullptr);
}

HttpResponse QueueRoutes::Metrics(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  return Success(MetricsJson(queue->Metrics()));
}

HttpResponse QueueRoutes::Purge(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(sure, BoolField(body, "delete_messages_permanently", kInvalid), kInvalid);
  if (sure && !*sure) {
    return Failure(400, kInvalid, "set delete_messages_permanently to true to purge a queue");
  }
  queue->Purge();
  purged_at_[queue->id()] = world_.host().clock().Now();
  return Success(QueueJson(*queue));
}

HttpResponse QueueRoutes::PurgeStatus(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  // A purge completes before its call returns.
  Json result = {{"completed", "true"}};
  const auto it = purged_at_.find(queue->id());
  if (it != purged_at_.end()) result["started_at"] = it->second.ToRfc3339();
  return Success(std::move(result));
}

// ---- Consumers --------------------------------------------------------------------------------

HttpResponse QueueRoutes::ListConsumers(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  Json consumers = ConsumersJson(*queue);
  const auto count = static_cast<std::int64_t>(consumers.size());
  return Success(std::move(consumers), Json{{"page", 1},
                                            {"per_page", std::max<std::int64_t>(count, 1)},
                                            {"count", count},
                                            {"total_count", count},
                                            {"total_pages", 1}});
}

HttpResponse QueueRoutes::GetConsumer(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(index, ConsumerOf(*queue, params), kInvalid);
  return Success(ConsumerJson(*queue, index));
}

HttpResponse QueueRoutes::CreateConsumer(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(type, StringField(body, "type", kInvalid), kInvalid);
  if (type.value_or("worker") != "http_pull") {
    return Failure(400, kInvalid,
                   "cfemu serve runs no Worker scripts: create an http_pull consumer (worker "
                   "consumers come from wrangler.jsonc)");
  }
  platform::ConsumerSpec spec;
  spec.queue = queue->name();
  spec.type = ConsumerType::kHttpPull;
  const Status settings = ApplyConsumerSettings(body, spec);
  if (!settings.ok()) return FailureFrom(settings, kInvalid);
  auto index = world_.queues().AddConsumer(std::move(spec));
  if (!index.ok()) return FailureFrom(index.status(), kInvalid);
  return Success(ConsumerJson(*queue, *index));
}

HttpResponse QueueRoutes::UpdateConsumer(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(index, ConsumerOf(*queue, params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  platform::ConsumerSpec spec = queue->consumer(index);
  const Status settings = ApplyConsumerSettings(body, spec);
  if (!settings.ok()) return FailureFrom(settings, kInvalid);
  const Status updated = world_.queues().UpdateConsumer(index, std::move(spec));
  if (!updated.ok()) return FailureFrom(updated, kInvalid);
  return Success(ConsumerJson(*queue, index));
}

HttpResponse QueueRoutes::DeleteConsumer(const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(index, ConsumerOf(*queue, params), kInvalid);
  const Status removed = world_.queues().RemoveConsumer(queue->name(), index);
  if (!removed.ok()) return FailureFrom(removed, kInvalid);
  return Success(nullptr);
}

// ---- Messages ---------------------------------------------------------------------------------

core::Task<HttpResponse> QueueRoutes::Push(const HttpRequest& request, const RouteParams& params) {
  auto queue = QueueOf(params);
  if (!queue.ok()) co_return FailureFrom(queue.status(), kInvalid);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) co_return FailureFrom(body.status(), kInvalid);
  auto message = SendRequestOf(*body);
  if (!message.ok()) co_return FailureFrom(message.status(), kInvalid);
  ProducerBinding producer(world_.queues(), **queue, std::nullopt, scope_);
  auto sent = co_await producer.Send(std::move(message->body), std::move(message->options));
  if (!sent.ok()) co_return FailureFrom(sent.status(), cf_code::kQueueInternal);
  co_return Success(Json{{"metadata", {{"metrics", MetricsJson(sent->metrics)}}}});
}

core::Task<HttpResponse> QueueRoutes::PushBatch(const HttpRequest& request,
                                                const RouteParams& params) {
  auto queue = QueueOf(params);
  if (!queue.ok()) co_return FailureFrom(queue.status(), kInvalid);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) co_return FailureFrom(body.status(), kInvalid);
  auto items = ArrayField(*body, "messages", kInvalid);
  if (!items.ok()) co_return FailureFrom(items.status(), kInvalid);
  auto delay = IntField(*body, "delay_seconds", kIntMin, kIntMax, kInvalid);
  if (!delay.ok()) co_return FailureFrom(delay.status(), kInvalid);
  std::vector<platform::MessageSendRequest> messages;
  for (const Json& item : *items) {
    // Counted before each message is read, so a huge batch costs nothing to refuse.
    if (static_cast<std::int64_t>(messages.size()) >= world_.queues().limits().batch_max_messages) {
      messages.emplace_back(platform::Body(Json(0)));
      break;
    }
    auto message = SendRequestOf(item);
    if (!message.ok()) co_return FailureFrom(message.status(), kInvalid);
    messages.push_back(std::move(*message));
  }
  std::optional<int> batch_delay;
  if (*delay) batch_delay = static_cast<int>(**delay);
  ProducerBinding producer(world_.queues(), **queue, std::nullopt, scope_);
  auto sent = co_await producer.SendBatch(std::move(messages), batch_delay);
  if (!sent.ok()) co_return FailureFrom(sent.status(), cf_code::kQueueInternal);
  co_return Success(Json{{"metadata", {{"metrics", MetricsJson(sent->metrics)}}}});
}

core::Task<HttpResponse> QueueRoutes::Pull(const HttpRequest& request, const RouteParams& params) {
  auto queue = QueueOf(params);
  if (!queue.ok()) co_return FailureFrom(queue.status(), kInvalid);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) co_return FailureFrom(body.status(), kInvalid);
  auto batch_size = IntField(*body, "batch_size", 1, 100, kInvalid);
  if (!batch_size.ok()) co_return FailureFrom(batch_size.status(), kInvalid);
  auto visibility = IntField(*body, "visibility_timeout_ms", 1, 43'200'000, kInvalid);
  if (!visibility.ok()) co_return FailureFrom(visibility.status(), kInvalid);
  auto consumer = world_.queues().PullConsumerFor((*queue)->name());
  if (!consumer.ok()) {
    co_return Failure(
        400, kInvalid,
        "queue '" + (*queue)->name() + "' has no http_pull consumer; create one to pull messages");
  }
  std::optional<core::Duration> lease;
  if (*visibility) lease = core::Milliseconds(**visibility);
  const int size = static_cast<int>(batch_size->value_or(5));
  auto pulled = co_await (*consumer)->Pull(size, lease);
  if (!pulled.ok()) co_return FailureFrom(pulled.status(), kInvalid);
  Json messages = Json::array();
  for (const auto& m : pulled->messages) {
    auto [wire, type] = WireBody(m.body);
    messages.push_back({{"id", m.id},
                        {"body", std::move(wire)},
                        {"attempts", m.attempts},
                        {"timestamp_ms", m.timestamp.unix_ms()},
                        {"lease_id", m.lease_id},
                        {"metadata", {{"CF-Content-Type", type}}}});
  }
  co_return Success(Json{{"message_backlog_count", pulled->backlog_count},
                         {"messages", std::move(messages)},
                         {"metadata", {{"metrics", MetricsJson(pulled->metrics)}}}});
}

core::Task<HttpResponse> QueueRoutes::Ack(const HttpRequest& request, const RouteParams& params) {
  auto queue = QueueOf(params);
  if (!queue.ok()) co_return FailureFrom(queue.status(), kInvalid);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) co_return FailureFrom(body.status(), kInvalid);
  auto acks_json = ArrayField(*body, "acks", kInvalid);
  if (!acks_json.ok()) co_return FailureFrom(acks_json.status(), kInvalid);
  auto retries_json = ArrayField(*body, "retries", kInvalid);
  if (!retries_json.ok()) co_return FailureFrom(retries_json.status(), kInvalid);
  std::vector<platform::LeaseId> acks;
  for (const Json& item : *acks_json) {
    auto lease = StringField(item, "lease_id", kInvalid);
    if (!item.is_object() || !lease.ok() || !*lease) {
      co_return Failure(400, kInvalid, "each ack must be an object with a string lease_id");
    }
    acks.push_back(**lease);
  }
  std::vector<platform::RetryRequest> retries;
  for (const Json& item : *retries_json) {
    auto lease = StringField(item, "lease_id", kInvalid);
    auto delay = IntField(item, "delay_seconds", kIntMin, kIntMax, kInvalid);
    if (!item.is_object() || !lease.ok() || !*lease || !delay.ok()) {
      co_return Failure(400, kInvalid,
                        "each retry must be an object with a string lease_id and an integer "
                        "delay_seconds");
    }
    std::optional<int> seconds;
    if (*delay) seconds = static_cast<int>(**delay);
    retries.emplace_back(**lease, seconds);
  }
  auto consumer = world_.queues().PullConsumerFor((*queue)->name());
  if (!consumer.ok()) {
    co_return Failure(400, kInvalid, "queue '" + (*queue)->name() + "' has no http_pull consumer");
  }
  auto acked = co_await (*consumer)->Ack(std::move(acks), std::move(retries));
  if (!acked.ok()) co_return FailureFrom(acked.status(), kInvalid);
  Json warnings = Json::object();
  for (const auto& [lease, text] : acked->warnings) warnings[lease] = text;
  co_return Success(Json{{"ackCount", acked->ack_count},
                         {"retryCount", acked->retry_count},
                         {"warnings", std::move(warnings)}});
}

HttpResponse QueueRoutes::Peek(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(batch_size, IntField(body, "batch_size", 1, 100, kInvalid), kInvalid);
  Json messages = Json::array();
  for (auto& m : queue->Peek(static_cast<int>(batch_size.value_or(5)))) {
    auto [wire, type] = WireBody(m.body);
    messages.push_back({{"id", m.id},
                        {"body", std::move(wire)},
                        {"attempts", m.attempts},
                        {"timestamp_ms", m.timestamp.unix_ms()},
                        {"ref", m.ref},
                        {"metadata", {{"CF-Content-Type", type}}}});
  }
  return Success(Json{{"messages", std::move(messages)}});
}

HttpResponse QueueRoutes::PurgeMessages(const HttpRequest& request, const RouteParams& params) {
  CFEMU_ASSIGN_OR_RESPOND(queue, QueueOf(params), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(body, ParseJsonBody(request, kCodes), kInvalid);
  CFEMU_ASSIGN_OR_RESPOND(items, ArrayField(body, "refs", kInvalid), kInvalid);
  std::vector<std::string> refs;
  for (const Json& item : items) {
    auto ref = StringField(item, "ref", kInvalid);
    if (!item.is_object() || !ref.ok() || !*ref) {
      return Failure(400, kInvalid, "each ref must be an object with a string ref");
    }
    refs.push_back(**ref);
  }
  Json warnings = Json::object();
  for (const auto& [ref, text] : queue->PurgeRefs(refs)) warnings[ref] = text;
  return Success(Json{{"errors", Json::array()}, {"warnings", std::move(warnings)}});
}

}  // namespace cfemu::emulator
