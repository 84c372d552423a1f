// The broker's message storage. Every message state lives in a StoredMessage: the body, and one
// Delivery per consumer (ready, delayed, in flight, leased by a pull consumer, or resolved) with
// its attempts. The broker mutates records in place and reports each change with Updated(), so
// a durable store can write it through; the in-memory store keeps the records and needs no
// write. Messages are kept in arrival order (seq), which is also retention order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emulator/queues/message_codec.h"
#include "src/core/time.h"

namespace cfemu::emulator {

struct Delivery {
  enum class State : std::uint8_t { kReady, kDelayed, kInFlight, kLeased, kResolved };
  State state = State::kReady;
  int attempts = 1;                // The attempt number of the next (or current) delivery.
  core::Instant ready_at;          // kDelayed: when it becomes deliverable.
  std::uint64_t lease_serial = 0;  // kLeased: the current pull lease...
  std::string lease_id;            // ...its id...
  core::Instant lease_expires_at;  // ...and when it expires (kept so a restart finds it).
};

struct StoredMessage {
  std::uint64_t seq = 0;  // Arrival order in this queue.
  std::string id;         // 32 hex characters; kept when dead-lettered.
  ContentType content_type = ContentType::kJson;
  // Immutable once stored: every delivery shares it (a consumer sees it only as const).
  std::shared_ptr<const platform::Body> body;
  core::Instant timestamp;     // When it was sent (the original send for a dead letter).
  core::Instant enqueued_at;   // When it arrived in this queue: retention counts from here.
  core::Instant available_at;  // enqueued_at + its send delay: when it may first be delivered.
  std::int64_t size_bytes = 0;
  std::vector<Delivery> deliveries;  // One per consumer, by consumer index.
  int unresolved = 0;                // Consumers that have not resolved it yet.
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;
  // REQUIRES: message.seq is greater than every seq stored so far.
  virtual StoredMessage& Insert(StoredMessage message) = 0;
  virtual StoredMessage* Find(std::uint64_t seq) = 0;
  // The record changed in place (a delivery's state or attempts).
  virtual void Updated(const StoredMessage& message) = 0;
  virtual void Erase(std::uint64_t seq) = 0;
  // The message with the lowest seq (the oldest arrival), or null.
  virtual StoredMessage* Oldest() = 0;
  virtual std::int64_t size() const = 0;
  // Visits every message in seq order. REQUIRES: `visit` does not insert or erase.
  virtual void ForEach(const std::function<void(StoredMessage&)>& visit) = 0;
  virtual void Clear() = 0;
};

class InMemoryMessageStore final : public MessageStore {
 public:
  StoredMessage& Insert(StoredMessage message) override;
  StoredMessage* Find(std::uint64_t seq) override;
  void Updated(const StoredMessage&) override {}  // The record is the storage.
  void Erase(std::uint64_t seq) override { messages_.erase(seq); }
  StoredMessage* Oldest() override;
  std::int64_t size() const override { return static_cast<std::int64_t>(messages_.size()); }
  void ForEach(const std::function<void(StoredMessage&)>& visit) override;
  void Clear() override { messages_.clear(); }

 private:
  std::map<std::uint64_t, StoredMessage> messages_;
};

}  // namespace cfemu::emulator
