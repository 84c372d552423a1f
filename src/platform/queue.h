// Cloudflare Queues as a Worker sees them (cloudflare-platform.md §1; C++ spellings in
// cpp-contract.md, "Queues in C++"): the producer binding, the consumer's MessageBatch and
// Message, the handler signature, and pull consumers. Interfaces only; emulator/queues
// implements them.
//
// Delivery is at-least-once. Per message, the first of ack()/retry() wins; a per-message call
// beats a later ackAll()/retryAll(); a handler that fails retries every message not explicitly
// acked, and ackAll() makes the batch succeed regardless.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/bytes.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"

namespace cfemu::platform {

using core::Bytes;
using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using Json = nlohmann::json;

// A JavaScript string (content type `text`). Must be valid UTF-8.
struct Text {
  std::string value;
  friend bool operator==(const Text&, const Text&) = default;
};

// A structured-clone payload (content type `v8`): opaque bytes that push consumers receive and
// pull consumers refuse, as production refuses v8 for pull.
struct V8Blob {
  Bytes bytes;
  friend bool operator==(const V8Blob&, const V8Blob&) = default;
};

// A message body. A Json holding nlohmann's discarded value stands for JS `undefined` and is
// rejected.
using Body = std::variant<Text, Bytes, Json, V8Blob>;

// The option structs below have constructors on purpose: GCC 12 miscompiles an aggregate
// temporary inside a co_await expression (it frees it twice), and these are passed by value to
// coroutines. A constructor makes `Send(body, {"text"})` safe.
struct SendOptions {
  SendOptions() = default;
  explicit SendOptions(std::string content_type, std::optional<int> delay_seconds = std::nullopt)
      : content_type(std::move(content_type)), delay_seconds(delay_seconds) {}
  static SendOptions Delay(int seconds) { return SendOptions("", seconds); }

  // "text", "bytes", "json" or "v8"; empty = the compatibility-date default (json on or after
  // 2024-03-18, else v8). Send matches case-insensitively, SendBatch only in lowercase.
  std::string content_type;
  std::optional<int> delay_seconds;  // 0 ... 86,400; 0 overrides a queue default delay.
};

struct MessageSendRequest {
  MessageSendRequest(Body body, SendOptions options = SendOptions())
      : body(std::move(body)), options(std::move(options)) {}
  Body body;
  SendOptions options;
};

struct RetryOptions {
  RetryOptions() = default;
  explicit RetryOptions(std::optional<int> delay_seconds) : delay_seconds(delay_seconds) {}
  std::optional<int> delay_seconds;
};

// Backlog metrics: delayed and in-flight messages included.
struct QueueMetrics {
  std::int64_t backlog_count = 0;
  std::int64_t backlog_bytes = 0;
  std::optional<Instant> oldest_message_timestamp;  // Absent when the queue is empty.
};

struct SendResult {
  QueueMetrics metrics;
};

// The producer binding (`env.MY_QUEUE`). Failures end with production's "(<code>)" and carry
// Status::cf_code(): bad body, content type, empty batch, delay -> kInvalidArgument (10203,
// 10202); message over 128,000 bytes -> kTooLarge (10204); batch over 256,000 bytes or 100
// messages -> kTooLarge (10205, 10206); over 5,000 msg/s -> kOverloaded (10250); backlog full
// -> kResourceExhausted (10251); enqueued but reply lost -> kIndeterminate; a call from a killed
// invocation -> kCancelled.
class QueueProducer {
 public:
  virtual ~QueueProducer() = default;
  virtual Task<Result<SendResult>> Send(Body body, SendOptions options = SendOptions()) = 0;
  virtual Task<Result<SendResult>> SendBatch(std::vector<MessageSendRequest> messages,
                                             std::optional<int> delay_seconds = {}) = 0;
  virtual Task<Result<QueueMetrics>> Metrics() = 0;
};

// What a delivered batch's ack/retry calls report to. Implemented by the broker.
class BatchControl {
 public:
  virtual ~BatchControl() = default;
  virtual void Ack(std::size_t index) = 0;
  virtual void Retry(std::size_t index, RetryOptions options) = 0;
  virtual void AckAll() = 0;
  virtual void RetryAll(RetryOptions options) = 0;
};

// A delivered message. Copies may outlive the handler (as JS references can): their ack() and
// retry() then reach a resolved batch and are ignored (and traced), never undefined behaviour.
class Message {
 public:
  Message(std::shared_ptr<BatchControl> control, std::size_t index, std::string id,
          Instant timestamp, Body body, int attempts)
      : Message(std::move(control), index, std::move(id), timestamp,
                std::make_shared<const Body>(std::move(body)), attempts) {}
  // A body shared with the queue's stored copy and other deliveries of it: it is immutable, so
  // sharing it is as good as the copy production deserializes for each delivery.
  Message(std::shared_ptr<BatchControl> control, std::size_t index, std::string id,
          Instant timestamp, std::shared_ptr<const Body> body, int attempts)
      : control_(std::move(control)),
        index_(index),
        id_(std::move(id)),
        timestamp_(timestamp),
        body_(std::move(body)),
        attempts_(attempts) {}

  const std::string& id() const { return id_; }
  Instant timestamp() const { return timestamp_; }  // When the message was sent.
  const Body& body() const { return *body_; }
  int attempts() const { return attempts_; }  // 1 on first delivery.

  void Ack() { control_->Ack(index_); }
  void Retry(RetryOptions options = RetryOptions()) { control_->Retry(index_, options); }

 private:
  std::shared_ptr<BatchControl> control_;
  std::size_t index_;
  std::string id_;
  Instant timestamp_;
  std::shared_ptr<const Body> body_;
  int attempts_;
};

struct BatchMetadata {
  QueueMetrics metrics;
};

class MessageBatch {
 public:
  MessageBatch(std::string queue, std::vector<Message> messages, BatchMetadata metadata,
               std::shared_ptr<BatchControl> control)
      : queue_(std::move(queue)),
        messages_(std::move(messages)),
        metadata_(std::move(metadata)),
        control_(std::move(control)) {}

  const std::string& queue() const { return queue_; }
  std::vector<Message>& messages() { return messages_; }
  const std::vector<Message>& messages() const { return messages_; }
  const BatchMetadata& metadata() const { return metadata_; }
  void AckAll() { control_->AckAll(); }
  void RetryAll(RetryOptions options = RetryOptions()) { control_->RetryAll(options); }

 private:
  std::string queue_;
  std::vector<Message> messages_;
  BatchMetadata metadata_;
  std::shared_ptr<BatchControl> control_;
};

// `ctx` of a handler. The invocation succeeds only if the handler and every WaitUntil task
// return OK. Deadline() is the 15-minute wall limit, on the caller's clock view.
class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
  virtual void WaitUntil(Task<Status> task) = 0;
  virtual Instant Deadline() const = 0;
};

class Env;

// A non-OK status means what a JS throw means; an escaped exception likewise.
using QueueHandler = std::function<Task<Status>(MessageBatch&, Env&, ExecutionContext&)>;

// ---- Pull consumers (type http_pull) --------------------------------------------------------

using LeaseId = std::string;

struct PulledMessage {
  std::string id;
  Body body;
  int attempts = 0;
  Instant timestamp;
  LeaseId lease_id;
};

struct PullResult {
  std::int64_t backlog_count = 0;
  std::vector<PulledMessage> messages;
  QueueMetrics metrics;
};

struct RetryRequest {
  explicit RetryRequest(LeaseId lease_id, std::optional<int> delay_seconds = std::nullopt)
      : lease_id(std::move(lease_id)), delay_seconds(delay_seconds) {}
  LeaseId lease_id;
  std::optional<int> delay_seconds;
};

struct AckResult {
  int ack_count = 0;
  int retry_count = 0;
  std::map<LeaseId, std::string> warnings;  // Unknown leases, gone messages, expired retries.
};

// Acks are permissive as in production: an ack whose lease expired still removes the message
// while the broker holds it and counts in ack_count; acks of unknown leases or of messages
// already gone, and retries with expired leases, are warnings that change nothing.
class PullConsumer {
 public:
  virtual ~PullConsumer() = default;
  // Unset visibility = the consumer's visibility_timeout_ms. batch_size 1 ... 100.
  virtual Task<Result<PullResult>> Pull(int batch_size = 5,
                                        std::optional<Duration> visibility = {}) = 0;
  virtual Task<Result<AckResult>> Ack(std::vector<LeaseId> acks,
                                      std::vector<RetryRequest> retries) = 0;
};

}  // namespace cfemu::platform
