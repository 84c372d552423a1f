#include "emulator/queues/broker.h"

#include <string>

#include "emulator/queues/pull_consumer.h"
#include "emulator/queues/sqlite_message_store.h"
#include "src/core/cover.h"
#include "src/core/ids.h"
#include "src/core/log.h"

namespace cfemu::emulator {

using core::Duration;
using core::Result;
using core::Status;
using platform::ConsumerType;

namespace {

Status OutOfRange(std::string_view field, const std::string& value, const std::string& range) {
  return Status::InvalidArgument(std::string(field) + ": " + value + " is out of range (" + range +
                                 ")");
}

}  // namespace

Status ValidateQueueName(std::string_view name, std::string_view field) {
  const bool length_ok = !name.empty() && static_cast<std::int64_t>(name.size()) <=
                                              core::limits::kQueueQueueNameMaxChars;
  bool chars_ok = true;
  for (char c : name) {
    chars_ok = chars_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!length_ok || !chars_ok) {
    return Status::InvalidArgument(
        std::string(field) + ": '" + std::string(name) +
            "' is not a valid queue name (lowercase letters, digits and dashes, 1 to 63 "
            "characters) (10107)",
        10107);
  }
  return Status::Ok();
}

Status ValidateQueueSpec(const platform::QueueSpec& spec, std::string_view field) {
  CFEMU_RETURN_IF_ERROR(ValidateQueueName(spec.name, std::string(field) + ".name"));
  const Duration delay = spec.delivery_delay;
  if (delay < Duration::Zero() ||
      delay > core::Seconds(core::limits::kQueueMaxDeliveryDelaySeconds) || delay.ms() % 1000) {
    return OutOfRange(std::string(field) + ".delivery_delay", delay.ToString(),
                      "whole seconds from 0 to 43200");
  }
  const Duration retention = spec.message_retention_period;
  if (retention < core::limits::kQueueMinRetention ||
      retention > core::limits::kQueueMaxRetention) {
    return OutOfRange(std::string(field) + ".message_retention_period", retention.ToString(),
                      "60 s to 1,209,600 s");
  }
  return Status::Ok();
}

Status ValidateConsumerSpec(const platform::ConsumerSpec& spec, std::string_view field) {
  const std::string f(field);
  CFEMU_RETURN_IF_ERROR(ValidateQueueName(spec.queue, f + ".queue"));
  if (spec.max_batch_size < 1 || spec.max_batch_size > core::limits::kConsumerMaxBatchSize) {
    return OutOfRange(f + ".max_batch_size", std::to_string(spec.max_batch_size), "1 to 100");
  }
  if (spec.max_batch_timeout < Duration::Zero() ||
      spec.max_batch_timeout > core::limits::kConsumerMaxBatchTimeout) {
    return OutOfRange(f + ".max_batch_timeout", spec.max_batch_timeout.ToString(), "0 to 60 s");
  }
  if (spec.max_retries < 0 || spec.max_retries > core::limits::kQueueMaxRetries) {
    return OutOfRange(f + ".max_retries", std::to_string(spec.max_retries), "0 to 100");
  }
  if (spec.retry_delay < Duration::Zero() ||
      spec.retry_delay > core::Seconds(core::limits::kConsumerMaxRetryDelaySeconds)) {
    return OutOfRange(f + ".retry_delay", spec.retry_delay.ToString(), "0 to 86,400 s");
  }
  if (spec.max_concurrency &&
      (*spec.max_concurrency < 1 || *spec.max_concurrency > core::limits::kQueueMaxConcurrency)) {
    return OutOfRange(f + ".max_concurrency", std::to_string(*spec.max_concurrency), "1 to 250");
  }
  if (spec.visibility_timeout <= Duration::Zero() ||
      spec.visibility_timeout > core::limits::kPullMaxVisibility) {
    return OutOfRange(f + ".visibility_timeout_ms", std::to_string(spec.visibility_timeout.ms()),
                      "1 to 43,200,000 ms");
  }
  if (!spec.dead_letter_queue.empty()) {
    CFEMU_RETURN_IF_ERROR(ValidateQueueName(spec.dead_letter_queue, f + ".dead_letter_queue"));
    if (spec.dead_letter_queue == spec.queue) {
      return Status::InvalidArgument(f +
                                     ".dead_letter_queue: a queue cannot be its own dead "
                                     "letter queue ('" +
                                     spec.queue + "')");
    }
  }
  if (spec.type == ConsumerType::kWorker && !spec.handler) {
    return Status::InvalidArgument(f + ".handler: a worker consumer needs a queue handler");
  }
  if (spec.type == ConsumerType::kHttpPull && spec.max_concurrency) {
    return Status::InvalidArgument(f +
                                   ".max_concurrency: applies to worker (push) consumers "
                                   "only, not http_pull");
  }
  return Status::Ok();
}

Broker::Broker(Host& host, BrokerOptions options, InvocationEnvFactory env_factory)
    : host_(host),
      options_(std::move(options)),
      env_factory_(std::move(env_factory)),
      enforce_limits_(options_.limits.enforce_throughput_and_backlog.value_or(host.profile() !=
                                                                              Profile::kStrict)),
      default_content_type_(
          DefaultContentType(options_.compatibility_date, options_.compatibility_flags)) {
  idle_check_ = host_.AddIdleCheck([this] { return IsIdle(); });
}

Broker::~Broker() { host_.RemoveIdleCheck(idle_check_); }

Result<QueueBroker*> Broker::OpenQueue(platform::QueueSpec spec) {
  CFEMU_RETURN_IF_ERROR(ValidateQueueSpec(spec, "queue"));
  if (queues_.count(spec.name) > 0) {
    return Status::AlreadyExists("a queue named '" + spec.name + "' already exists");
  }
  const std::string name = spec.name;
  std::unique_ptr<MessageStore> store;
  if (options_.queues_dir) {
    auto opened = SqliteMessageStore::Open(*options_.queues_dir /
                                           (core::DeriveHexId("queue", name) + ".sqlite"));
    if (!opened.ok()) return opened.status();
    store = std::move(*opened);
  } else {
    store = std::make_unique<InMemoryMessageStore>();
  }
  auto queue = std::make_unique<QueueBroker>(*this, host_, std::move(spec), std::move(store));
  QueueBroker* raw = queue.get();
  queues_.emplace(name, std::move(queue));
  return raw;
}

Result<QueueBroker*> Broker::CreateQueue(platform::QueueSpec spec) {
  auto created = OpenQueue(std::move(spec));
  if (created.ok() && observer_ != nullptr) {
    CFEMU_RETURN_IF_ERROR(observer_->OnQueueChanged(**created));
  }
  return created;
}

QueueBroker& Broker::EnsureQueue(std::string_view name) {
  if (QueueBroker* existing = Find(name)) return *existing;
  platform::QueueSpec spec;
  spec.name = std::string(name);
  auto created = OpenQueue(std::move(spec));
  CHECK_MSG(created.ok(), created.status().ToString());
  if (observer_ != nullptr) {
    const Status noted = observer_->OnQueueChanged(**created);
    if (!noted.ok()) {
      CFEMU_LOG_WARN("queue '{}' was created but not recorded: {}", name, noted.ToString());
    }
  }
  return **created;
}

QueueBroker* Broker::Find(std::string_view name) {
  const auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

const QueueBroker* Broker::Find(std::string_view name) const {
  const auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

QueueBroker* Broker::FindById(std::string_view id) {
  for (const auto& [name, queue] : queues_) {
    if (queue->id() == id) return queue.get();
  }
  return nullptr;
}

Status Broker::DeleteQueue(std::string_view name) {
  const auto it = queues_.find(name);
  if (it == queues_.end()) {
    return Status::NotFound("Queue '" + std::string(name) + "' does not exist (10104)", 10104);
  }
  RetirePullBinding(name);
  it->second->MarkDeleted();
  deleted_queues_.push_back(std::move(it->second));
  queues_.erase(it);
  return observer_ != nullptr ? observer_->OnQueueDeleted(name) : Status::Ok();
}

Status Broker::UpdateQueue(const platform::QueueSpec& spec) {
  CFEMU_RETURN_IF_ERROR(ValidateQueueSpec(spec, "queue"));
  QueueBroker* queue = Find(spec.name);
  if (queue == nullptr) {
    return Status::NotFound("Queue '" + spec.name + "' does not exist (10104)", 10104);
  }
  queue->UpdateSettings(spec);
  return observer_ != nullptr ? observer_->OnQueueChanged(*queue) : Status::Ok();
}

Status Broker::UpdateConsumer(int index, platform::ConsumerSpec spec) {
  QueueBroker* queue = Find(spec.queue);
  if (queue == nullptr || index < 0 || index >= queue->consumer_count() ||
      queue->consumer_removed(index)) {
    return Status::NotFound("Consumer not found", 10104);
  }
  spec.type = queue->consumer(index).type;
  spec.handler = queue->consumer(index).handler;
  CFEMU_RETURN_IF_ERROR(ValidateConsumerSpec(spec, "consumer"));
  if (!spec.dead_letter_queue.empty()) EnsureQueue(spec.dead_letter_queue);
  queue->UpdateConsumer(index, std::move(spec));
  return observer_ != nullptr ? observer_->OnConsumerChanged(*queue, index) : Status::Ok();
}

Status Broker::RemoveConsumer(std::string_view name, int index) {
  QueueBroker* queue = Find(name);
  if (queue == nullptr || index < 0 || index >= queue->consumer_count() ||
      queue->consumer_removed(index)) {
    return Status::NotFound("Consumer not found", 10104);
  }
  RetirePullBinding(name);  // It may point at this consumer; the next pull finds another.
  queue->RemoveConsumer(index);
  return observer_ != nullptr ? observer_->OnConsumerChanged(*queue, index) : Status::Ok();
}

void Broker::RetirePullBinding(std::string_view name) {
  const auto it = pull_bindings_.find(name);
  if (it == pull_bindings_.end()) return;
  retired_pull_bindings_.push_back(std::move(it->second));
  pull_bindings_.erase(it);
}

std::vector<const QueueBroker*> Broker::queues() const {
  std::vector<const QueueBroker*> out;
  for (const auto& [name, queue] : queues_) out.push_back(queue.get());
  return out;
}

Result<int> Broker::AddConsumer(platform::ConsumerSpec spec) {
  CFEMU_RETURN_IF_ERROR(ValidateConsumerSpec(spec, "consumer"));
  QueueBroker& queue = EnsureQueue(spec.queue);
  for (int i = 0; i < queue.consumer_count(); ++i) {
    const auto& existing = queue.consumer(i);
    if (existing.type == ConsumerType::kWorker && spec.type == ConsumerType::kWorker &&
        existing.script_name == spec.script_name) {
      return Status::AlreadyExists("queue '" + spec.queue +
                                   "' already has a consumer from "
                                   "Worker '" +
                                   spec.script_name + "'");
    }
  }
  if (!spec.dead_letter_queue.empty()) {
    if (Find(spec.dead_letter_queue) == nullptr) COVER("queue.dlq.auto_created");
    EnsureQueue(spec.dead_letter_queue);
  }
  const int index = queue.AddConsumer(std::move(spec));
  if (observer_ != nullptr) CFEMU_RETURN_IF_ERROR(observer_->OnConsumerChanged(queue, index));
  return index;
}

Result<platform::PullConsumer*> Broker::PullConsumerFor(std::string_view queue_name) {
  QueueBroker* queue = Find(queue_name);
  if (queue == nullptr) {
    return Status::NotFound("Queue '" + std::string(queue_name) + "' does not exist (10104)",
                            10104);
  }
  const auto index = queue->FirstConsumerOfType(ConsumerType::kHttpPull);
  if (!index) {
    return Status::FailedPrecondition("queue '" + std::string(queue_name) +
                                      "' has no http_pull consumer");
  }
  auto it = pull_bindings_.find(queue_name);
  if (it == pull_bindings_.end()) {
    it = pull_bindings_
             .emplace(std::string(queue_name),
                      std::make_unique<PullConsumerBinding>(host_, *queue, *index))
             .first;
  }
  return it->second.get();
}

Status Broker::Pause(std::string_view name) {
  QueueBroker* queue = Find(name);
  if (queue == nullptr) {
    return Status::NotFound("Queue '" + std::string(name) + "' does not exist (10104)", 10104);
  }
  queue->Pause();
  return observer_ != nullptr ? observer_->OnQueueChanged(*queue) : Status::Ok();
}

Status Broker::Resume(std::string_view name) {
  QueueBroker* queue = Find(name);
  if (queue == nullptr) {
    return Status::NotFound("Queue '" + std::string(name) + "' does not exist (10104)", 10104);
  }
  queue->Resume();
  return observer_ != nullptr ? observer_->OnQueueChanged(*queue) : Status::Ok();
}

Result<std::int64_t> Broker::Purge(std::string_view name) {
  QueueBroker* queue = Find(name);
  if (queue == nullptr) {
    return Status::NotFound("Queue '" + std::string(name) + "' does not exist (10104)", 10104);
  }
  return queue->Purge();
}

bool Broker::IsIdle() const {
  for (const auto& [name, queue] : queues_) {
    if (!queue->IsIdle()) return false;
  }
  return true;
}

QueueStats Broker::TotalStats() const {
  QueueStats total;
  for (const auto& [name, queue] : queues_) total += queue->stats();
  return total;
}

void Broker::DeadLetter(std::string_view dead_letter_queue, const StoredMessage& message,
                        std::string_view from_queue) {
  EnsureQueue(dead_letter_queue).AcceptDeadLetter(message, from_queue);
}

}  // namespace cfemu::emulator
