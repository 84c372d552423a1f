#include "emulator/queues/message_store.h"

#include "src/core/status.h"

namespace cfemu::emulator {

StoredMessage& InMemoryMessageStore::Insert(StoredMessage message) {
  CHECK(messages_.empty() || messages_.rbegin()->first < message.seq);
  const std::uint64_t seq = message.seq;
  return messages_.emplace_hint(messages_.end(), seq, std::move(message))->second;
}

StoredMessage* InMemoryMessageStore::Find(std::uint64_t seq) {
  const auto it = messages_.find(seq);
  return it == messages_.end() ? nullptr : &it->second;
}

StoredMessage* InMemoryMessageStore::Oldest() {
  return messages_.empty() ? nullptr : &messages_.begin()->second;
}

void InMemoryMessageStore::ForEach(const std::function<void(StoredMessage&)>& visit) {
  for (auto& [seq, message] : messages_) visit(message);
}

}  // namespace cfemu::emulator
