// A MessageStore that writes every message and every change of its deliveries through to an
// SQLite file (WAL), so that a restarted broker finds each message in the state it was in:
// stored, delayed, in flight, leased by a pull consumer, or waiting in a dead letter queue.
// The records also stay in memory; reads never touch the file.
#pragma once

#include <filesystem>
#include <map>
#include <memory>

#include "emulator/queues/message_store.h"
#include "emulator/sqlite/connection.h"

namespace cfemu::emulator {

class SqliteMessageStore final : public MessageStore {
 public:
  // Opens (or creates) the file and loads every message it holds.
  static core::Result<std::unique_ptr<SqliteMessageStore>> Open(const std::filesystem::path& file);

  StoredMessage& Insert(StoredMessage message) override;
  StoredMessage* Find(std::uint64_t seq) override;
  void Updated(const StoredMessage& message) override;
  void Erase(std::uint64_t seq) override;
  StoredMessage* Oldest() override;
  std::int64_t size() const override { return static_cast<std::int64_t>(messages_.size()); }
  void ForEach(const std::function<void(StoredMessage&)>& visit) override;
  void Clear() override;

 private:
  explicit SqliteMessageStore(std::unique_ptr<sqlite::Connection> connection);
  core::Status Load();
  // A write that fails is a broken disk: the process cannot keep its promise of durability.
  void Write(const core::Result<sqlite::Output>& result) const;

  std::unique_ptr<sqlite::Connection> connection_;
  std::map<std::uint64_t, StoredMessage> messages_;
};

}  // namespace cfemu::emulator
