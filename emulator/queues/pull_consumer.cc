#include "emulator/queues/pull_consumer.h"

#include <string>

namespace cfemu::emulator {

using core::Result;
using core::Status;

PullConsumerBinding::PullConsumerBinding(Host& host, QueueBroker& queue, int consumer)
    : queue_(queue),
      consumer_(consumer),
      scope_(host, "pull:" + queue.name(), host.ClockFor("pull:" + queue.name()), nullptr),
      pull_latency_(host.latency().Register("queue.pull")),
      ack_latency_(host.latency().Register("queue.ack")) {}

core::Task<Result<platform::PullResult>> PullConsumerBinding::Pull(
    int batch_size, std::optional<core::Duration> visibility) {
  if (batch_size < 1 || batch_size > core::limits::kPullMaxBatchSize) {
    co_return Status::InvalidArgument("batch_size must be from 1 to " +
                                      std::to_string(core::limits::kPullMaxBatchSize));
  }
  const core::Duration lease = visibility.value_or(queue_.consumer(consumer_).visibility_timeout);
  if (lease <= core::Duration::Zero() || lease > core::limits::kPullMaxVisibility) {
    co_return Status::InvalidArgument("visibility_timeout_ms must be from 1 to " +
                                      std::to_string(core::limits::kPullMaxVisibility.ms()));
  }
  const core::Duration latency = scope_.host().latency().Draw(pull_latency_);
  if (latency > core::Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(latency));
  co_return queue_.Pull(consumer_, batch_size, lease, scope_.actor());
}

core::Task<Result<platform::AckResult>> PullConsumerBinding::Ack(
    std::vector<platform::LeaseId> acks, std::vector<platform::RetryRequest> retries) {
  const core::Duration latency = scope_.host().latency().Draw(ack_latency_);
  if (latency > core::Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(latency));
  co_return queue_.AckLeases(consumer_, acks, retries);
}

}  // namespace cfemu::emulator
