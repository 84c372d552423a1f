// The producer binding of one actor's Env: validation as workerd does it, the delay precedence
// (message > batch > producer binding delivery_delay > queue delivery_delay; 0 turns a default
// off), the size limits with production's error codes, seeded latency, and the producer faults
// (Q8 rejected, Q9 reply lost after the enqueue, Q10 send after the invocation ended).
#pragma once

#include <optional>

#include "emulator/queues/broker.h"
#include "emulator/sim/actor_runtime.h"
#include "src/platform/queue.h"

namespace cfemu::emulator {

class ProducerBinding final : public platform::QueueProducer {
 public:
  ProducerBinding(Broker& broker, QueueBroker& queue, std::optional<core::Duration> binding_delay,
                  const ActorScope& scope);

  core::Task<core::Result<platform::SendResult>> Send(platform::Body body,
                                                      platform::SendOptions options) override;
  core::Task<core::Result<platform::SendResult>> SendBatch(
      std::vector<platform::MessageSendRequest> messages,
      std::optional<int> delay_seconds) override;
  core::Task<core::Result<platform::QueueMetrics>> Metrics() override;

 private:
  core::Result<SendItem> Prepare(platform::Body body, const platform::SendOptions& options,
                                 bool case_insensitive, std::optional<int> batch_delay) const;
  core::Task<core::Result<platform::SendResult>> Deliver(std::vector<SendItem> items);

  Broker& broker_;
  QueueBroker& queue_;
  std::optional<core::Duration> binding_delay_;
  const ActorScope& scope_;
  LatencyModel::Site latency_;
};

}  // namespace cfemu::emulator
