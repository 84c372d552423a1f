// The broker: every queue of a world by name, their consumers, dead-lettering between them,
// and the pull consumer bindings. Queues referenced but never declared (a dead letter queue
// named only by a consumer, say) are created with production defaults, as Cloudflare creates a
// missing dead letter queue.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/queues/queue_broker.h"
#include "emulator/sim/actor_runtime.h"

namespace cfemu::emulator {

// Told of each change a caller makes to the broker's queues and consumers, once it is applied and
// before the call returns, so that it can be made durable (the World's catalog). An error fails
// the call; the change stays applied in memory.
class BrokerObserver {
 public:
  virtual ~BrokerObserver() = default;
  // Created, its settings updated, paused or resumed.
  virtual core::Status OnQueueChanged(const QueueBroker& queue) = 0;
  virtual core::Status OnQueueDeleted(std::string_view name) = 0;
  // Added, updated or removed (queue.consumer_removed(index)).
  virtual core::Status OnConsumerChanged(const QueueBroker& queue, int index) = 0;
};

struct BrokerOptions {
  QueueLimits limits;
  // Each queue's messages in <queues_dir>/<queue_id>.sqlite. Unset: in memory.
  std::optional<std::filesystem::path> queues_dir;
  std::string compatibility_date = "2026-01-01";
  std::vector<std::string> compatibility_flags;
};

class Broker {
 public:
  Broker(Host& host, BrokerOptions options, InvocationEnvFactory env_factory);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Null (the default) or an observer that outlives the broker. Changes made before it is set
  // are not reported.
  void set_observer(BrokerObserver* observer) { observer_ = observer; }

  // kAlreadyExists for a second queue of that name; kInvalidArgument for a bad name or setting.
  core::Result<QueueBroker*> CreateQueue(platform::QueueSpec spec);
  // The queue, created with defaults if missing. REQUIRES: a valid queue name. The observer's
  // error, if any, is logged: the queue exists either way.
  QueueBroker& EnsureQueue(std::string_view name);
  QueueBroker* Find(std::string_view name);
  const QueueBroker* Find(std::string_view name) const;
  // By the 32-hex id REST paths use. Null when no live queue has it.
  QueueBroker* FindById(std::string_view id);
  std::vector<const QueueBroker*> queues() const;  // Live queues, by name.
  // Removes a queue: its messages are purged, sends to it fail with kNotFound (10104), and a
  // new queue may take its name. kNotFound when there is none. The object stays alive (owned
  // by the broker) for timers and bindings that still point at it.
  core::Status DeleteQueue(std::string_view name);
  // Validates `spec` and applies it to the queue of that name (kNotFound without one).
  core::Status UpdateQueue(const platform::QueueSpec& spec);

  // Validates and attaches a consumer (creating its queue and dead letter queue if missing).
  // Returns its index in the queue.
  core::Result<int> AddConsumer(platform::ConsumerSpec spec);
  // Validates `spec` (of the consumer `index` of its queue) and applies it; creates a new dead
  // letter queue if it names one. kNotFound for an unknown queue or a removed consumer.
  core::Status UpdateConsumer(int index, platform::ConsumerSpec spec);
  core::Status RemoveConsumer(std::string_view queue, int index);
  // The queue's first http_pull consumer. kNotFound without one.
  core::Result<platform::PullConsumer*> PullConsumerFor(std::string_view queue);

  // Delivery stops (sends are still accepted) or starts again. kNotFound without the queue.
  core::Status Pause(std::string_view queue);
  core::Status Resume(std::string_view queue);
  core::Result<std::int64_t> Purge(std::string_view queue);

  bool IsIdle() const;
  QueueStats TotalStats() const;

  Host& host() const { return host_; }
  const QueueLimits& limits() const { return options_.limits; }
  bool enforce_throughput_and_backlog() const { return enforce_limits_; }
  ContentType default_content_type() const { return default_content_type_; }

  // Internal to the queues: a consumer of `from_queue` gave up on `message`.
  void DeadLetter(std::string_view dead_letter_queue, const StoredMessage& message,
                  std::string_view from_queue);
  std::shared_ptr<platform::Env> NewInvocationEnv(std::string actor, std::string clock_actor,
                                                  std::shared_ptr<Invocation> invocation) const {
    return env_factory_(std::move(actor), std::move(clock_actor), std::move(invocation));
  }

 private:
  core::Result<QueueBroker*> OpenQueue(platform::QueueSpec spec);
  void RetirePullBinding(std::string_view queue);

  Host& host_;
  BrokerOptions options_;
  InvocationEnvFactory env_factory_;
  BrokerObserver* observer_ = nullptr;
  bool enforce_limits_;
  ContentType default_content_type_;
  int idle_check_ = 0;
  std::map<std::string, std::unique_ptr<QueueBroker>, std::less<>> queues_;
  std::map<std::string, std::unique_ptr<platform::PullConsumer>, std::less<>> pull_bindings_;
  // Deleted queues and retired pull bindings: kept until the broker goes, since spawned timers
  // and in-flight calls may still hold them. Bounded by the number of deletions.
  std::vector<std::unique_ptr<QueueBroker>> deleted_queues_;
  std::vector<std::unique_ptr<platform::PullConsumer>> retired_pull_bindings_;
};

// Cloudflare's rule for queue names: lowercase letters, digits and dashes, 1 to 63 characters.
core::Status ValidateQueueName(std::string_view name, std::string_view field);
core::Status ValidateQueueSpec(const platform::QueueSpec& spec, std::string_view field);
core::Status ValidateConsumerSpec(const platform::ConsumerSpec& spec, std::string_view field);

}  // namespace cfemu::emulator
