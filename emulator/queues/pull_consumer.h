// The C++ face of an http_pull consumer: Pull() leases up to batch_size messages for the
// visibility timeout; Ack() acknowledges or retries them by lease id. The REST form (and the
// base64 of json and bytes bodies) belongs to the HTTP server.
#pragma once

#include "emulator/queues/queue_broker.h"
#include "emulator/sim/actor_runtime.h"

namespace cfemu::emulator {

class PullConsumerBinding final : public platform::PullConsumer {
 public:
  PullConsumerBinding(Host& host, QueueBroker& queue, int consumer);

  core::Task<core::Result<platform::PullResult>> Pull(
      int batch_size, std::optional<core::Duration> visibility) override;
  core::Task<core::Result<platform::AckResult>> Ack(
      std::vector<platform::LeaseId> acks, std::vector<platform::RetryRequest> retries) override;

 private:
  QueueBroker& queue_;
  int consumer_;
  ActorScope scope_;
  LatencyModel::Site pull_latency_;
  LatencyModel::Site ack_latency_;
};

}  // namespace cfemu::emulator
