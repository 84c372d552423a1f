#include "emulator/queues/producer.h"

#include <string>

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::SendResult;

ProducerBinding::ProducerBinding(Broker& broker, QueueBroker& queue,
                                 std::optional<core::Duration> binding_delay,
                                 const ActorScope& scope)
    : broker_(broker),
      queue_(queue),
      binding_delay_(binding_delay),
      scope_(scope),
      latency_(scope.host().latency().Register("queue.send")) {}

Result<SendItem> ProducerBinding::Prepare(platform::Body body, const platform::SendOptions& options,
                                          bool case_insensitive,
                                          std::optional<int> batch_delay) const {
  ContentType type = broker_.default_content_type();
  if (!options.content_type.empty()) {
    auto parsed = ParseContentType(options.content_type, case_insensitive);
    if (!parsed.ok()) return parsed.status();
    type = *parsed;
  }
  auto encoded = EncodeBody(std::move(body), type);
  if (!encoded.ok()) return encoded.status();
  const QueueLimits& limits = broker_.limits();
  if (encoded->size_bytes > limits.message_max_bytes) {
    return Status::TooLarge("Message size out of bounds: " + std::to_string(encoded->size_bytes) +
                                " bytes exceeds the limit of " +
                                std::to_string(limits.message_max_bytes) + " (10204)",
                            10204);
  }
  if (options.delay_seconds &&
      (*options.delay_seconds < 0 || *options.delay_seconds > limits.max_delay_seconds)) {
    return Status::InvalidArgument(
        "Invalid message metadata: delaySeconds must be an integer "
        "from 0 to " +
            std::to_string(limits.max_delay_seconds) + " (10203)",
        10203);
  }
  core::Duration delay = queue_.spec().delivery_delay;
  if (binding_delay_) delay = *binding_delay_;
  if (batch_delay) delay = core::Seconds(*batch_delay);
  if (options.delay_seconds) delay = core::Seconds(*options.delay_seconds);
  return SendItem{std::move(*encoded), delay};
}

core::Task<Result<SendResult>> ProducerBinding::Send(platform::Body body,
                                                     platform::SendOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("queue.send"));
  auto item = Prepare(std::move(body), options, /*case_insensitive=*/true, std::nullopt);
  if (!item.ok()) co_return item.status();
  std::vector<SendItem> items;
  items.push_back(std::move(*item));
  co_return co_await Deliver(std::move(items));
}

core::Task<Result<SendResult>> ProducerBinding::SendBatch(
    std::vector<platform::MessageSendRequest> messages, std::optional<int> delay_seconds) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("queue.send_batch"));
  const QueueLimits& limits = broker_.limits();
  if (messages.empty()) {
    co_return Status::InvalidArgument("sendBatch() requires at least one message (10203)", 10203);
  }
  if (delay_seconds && (*delay_seconds < 0 || *delay_seconds > limits.max_delay_seconds)) {
    co_return Status::InvalidArgument(
        "Invalid batch delay: delaySeconds must be an integer from "
        "0 to " +
            std::to_string(limits.max_delay_seconds) + " (10202)",
        10202);
  }
  if (static_cast<std::int64_t>(messages.size()) > limits.batch_max_messages) {
    co_return Status::TooLarge("Batch count out of bounds: " + std::to_string(messages.size()) +
                                   " messages exceeds the limit of " +
                                   std::to_string(limits.batch_max_messages) + " (10206)",
                               10206);
  }
  std::vector<SendItem> items;
  items.reserve(messages.size());
  std::int64_t total = 0;
  for (auto& request : messages) {
    auto item = Prepare(std::move(request.body), request.options, /*case_insensitive=*/false,
                        delay_seconds);
    if (!item.ok()) co_return item.status();
    total += item->encoded.size_bytes;
    items.push_back(std::move(*item));
  }
  if (total > limits.batch_max_bytes) {
    co_return Status::TooLarge("Batch size out of bounds: " + std::to_string(total) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(limits.batch_max_bytes) + " (10205)",
                               10205);
  }
  co_return co_await Deliver(std::move(items));
}

core::Task<Result<SendResult>> ProducerBinding::Deliver(std::vector<SendItem> items) {
  const core::Duration latency = scope_.host().latency().Draw(latency_);
  if (latency > core::Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(latency));
  FaultInjector& faults = scope_.host().faults();
  core::TraceSink& trace = scope_.host().trace();
  if (scope_.AfterReturn() &&
      faults.Fire(Fault::kQ10SendAfterReturn, "queue.send.after_return", scope_.actor())) {
    // Work after the invocation ended is not guaranteed: dropped, yet the send reports OK.
    if (trace.enabled()) {
      trace.Emit(scope_.actor(), core::TraceEvent("queue.send_dropped")
                                     .Str("queue", queue_.name())
                                     .Int("messages", static_cast<std::int64_t>(items.size())));
    }
    co_return SendResult{queue_.Metrics()};
  }
  if (faults.Enabled(Fault::kQ8ProducerRejected) &&
      faults.Fire(Fault::kQ8ProducerRejected, "queue.send", scope_.actor())) {
    if (faults.RandomFor(Fault::kQ8ProducerRejected).Chance(0.5)) {
      co_return Status::Overloaded("Too Many Requests (10250)", 10250);
    }
    co_return Status::ResourceExhausted("Storage Limit Exceeded (10251)", 10251);
  }
  auto metrics = queue_.Enqueue(std::move(items), scope_.actor());
  if (!metrics.ok()) co_return metrics.status();
  scope_.NoteMutation();
  if (faults.Enabled(Fault::kQ9ProducerReplyLost) &&
      faults.Fire(Fault::kQ9ProducerReplyLost, "queue.send.reply", scope_.actor())) {
    co_return Status::Indeterminate("Network connection lost.");
  }
  co_return SendResult{std::move(*metrics)};
}

core::Task<Result<platform::QueueMetrics>> ProducerBinding::Metrics() {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("queue.metrics"));
  const core::Duration latency = scope_.host().latency().Draw(latency_);
  if (latency > core::Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(latency));
  co_return queue_.Metrics();
}

}  // namespace cfemu::emulator
