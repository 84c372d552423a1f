#include "emulator/queues/sqlite_message_store.h"

#include <nlohmann/json.hpp>

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::D1Param;
using platform::D1Value;
using Json = nlohmann::json;

namespace {

// Bodies are stored as (kind, bytes): 0 text, 1 bytes, 2 json, 3 v8.
std::pair<std::int64_t, core::Bytes> EncodeBody(const platform::Body& body) {
  if (const auto* text = std::get_if<platform::Text>(&body)) {
    return {0, core::BytesOf(text->value)};
  }
  if (const auto* bytes = std::get_if<core::Bytes>(&body)) return {1, *bytes};
  if (const auto* json = std::get_if<Json>(&body)) return {2, core::BytesOf(json->dump())};
  return {3, std::get<platform::V8Blob>(body).bytes};
}

Result<platform::Body> DecodeBody(std::int64_t kind, const core::Bytes& bytes) {
  const std::string text(bytes.begin(), bytes.end());
  switch (kind) {
    case 0:
      return platform::Body(platform::Text{text});
    case 1:
      return platform::Body(bytes);
    case 2: {
      Json json = Json::parse(text, nullptr, false);
      if (json.is_discarded()) return Status::Unavailable("corrupt stored JSON message body");
      return platform::Body(std::move(json));
    }
    case 3:
      return platform::Body(platform::V8Blob{bytes});
    default:
      return Status::Unavailable("corrupt stored message body kind");
  }
}

std::string EncodeDeliveries(const std::vector<Delivery>& deliveries) {
  Json out = Json::array();
  for (const auto& d : deliveries) {
    out.push_back({static_cast<int>(d.state), d.attempts, d.ready_at.unix_ms(), d.lease_serial,
                   d.lease_id, d.lease_expires_at.unix_ms()});
  }
  return out.dump();
}

Result<std::vector<Delivery>> DecodeDeliveries(const std::string& text) {
  Json json = Json::parse(text, nullptr, false);
  if (!json.is_array()) return Status::Unavailable("corrupt stored deliveries");
  std::vector<Delivery> out;
  for (const auto& item : json) {
    if (!item.is_array() || item.size() != 6) return Status::Unavailable("corrupt delivery");
    Delivery d;
    d.state = static_cast<Delivery::State>(item[0].get<int>());
    d.attempts = item[1].get<int>();
    d.ready_at = core::Instant::FromUnixMs(item[2].get<std::int64_t>());
    d.lease_serial = item[3].get<std::uint64_t>();
    d.lease_id = item[4].get<std::string>();
    d.lease_expires_at = core::Instant::FromUnixMs(item[5].get<std::int64_t>());
    out.push_back(std::move(d));
  }
  return out;
}

std::int64_t Int(const D1Value& value) { return std::get<std::int64_t>(value); }

}  // namespace

SqliteMessageStore::SqliteMessageStore(std::unique_ptr<sqlite::Connection> connection)
    : connection_(std::move(connection)) {}

Result<std::unique_ptr<SqliteMessageStore>> SqliteMessageStore::Open(
    const std::filesystem::path& file) {
  auto connection = sqlite::Connection::Open(file, sqlite::Limits{}, sqlite::Policy{});
  if (!connection.ok()) return connection.status();
  std::unique_ptr<SqliteMessageStore> store(new SqliteMessageStore(std::move(*connection)));
  CFEMU_RETURN_IF_ERROR(store->connection_->ExecInternal(
      "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, "
      "content_type INTEGER NOT NULL, body_kind INTEGER NOT NULL, body BLOB NOT NULL, "
      "timestamp INTEGER NOT NULL, enqueued_at INTEGER NOT NULL, available_at INTEGER NOT NULL, "
      "size INTEGER NOT NULL, "
      "deliveries TEXT NOT NULL, unresolved INTEGER NOT NULL)"));
  CFEMU_RETURN_IF_ERROR(store->Load());
  return store;
}

Status SqliteMessageStore::Load() {
  auto rows = connection_->QueryInternal(
      "SELECT seq, id, content_type, body_kind, body, timestamp, enqueued_at, size, deliveries, "
      "unresolved, available_at FROM messages ORDER BY seq",
      {});
  if (!rows.ok()) return rows.status();
  for (const auto& row : rows->rows) {
    StoredMessage m;
    m.seq = static_cast<std::uint64_t>(Int(row[0]));
    m.id = std::get<std::string>(row[1]);
    m.content_type = static_cast<ContentType>(Int(row[2]));
    const core::Bytes* bytes = std::get_if<core::Bytes>(&row[4]);
    auto body = DecodeBody(Int(row[3]), bytes ? *bytes : core::Bytes());
    if (!body.ok()) return body.status();
    m.body = std::make_shared<const platform::Body>(std::move(*body));
    m.timestamp = core::Instant::FromUnixMs(Int(row[5]));
    m.enqueued_at = core::Instant::FromUnixMs(Int(row[6]));
    m.size_bytes = Int(row[7]);
    auto deliveries = DecodeDeliveries(std::get<std::string>(row[8]));
    if (!deliveries.ok()) return deliveries.status();
    m.deliveries = std::move(*deliveries);
    m.unresolved = static_cast<int>(Int(row[9]));
    m.available_at = core::Instant::FromUnixMs(Int(row[10]));
    messages_.emplace(m.seq, std::move(m));
  }
  return Status::Ok();
}

void SqliteMessageStore::Write(const Result<sqlite::Output>& result) const {
  CHECK_MSG(result.ok(), "queue storage write failed: " + result.status().ToString());
}

StoredMessage& SqliteMessageStore::Insert(StoredMessage message) {
  CHECK(messages_.empty() || messages_.rbegin()->first < message.seq);
  auto [kind, bytes] = EncodeBody(*message.body);
  Write(connection_->QueryInternal(
      "INSERT INTO messages (seq, id, content_type, body_kind, body, timestamp, enqueued_at, "
      "size, deliveries, unresolved, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {D1Param(static_cast<std::int64_t>(message.seq)), D1Param(message.id),
       D1Param(static_cast<std::int64_t>(message.content_type)), D1Param(kind),
       D1Param(std::move(bytes)), D1Param(message.timestamp.unix_ms()),
       D1Param(message.enqueued_at.unix_ms()), D1Param(message.size_bytes),
       D1Param(EncodeDeliveries(message.deliveries)),
       D1Param(static_cast<std::int64_t>(message.unresolved)),
       D1Param(message.available_at.unix_ms())}));
  const std::uint64_t seq = message.seq;
  return messages_.emplace_hint(messages_.end(), seq, std::move(message))->second;
}

StoredMessage* SqliteMessageStore::Find(std::uint64_t seq) {
  const auto it = messages_.find(seq);
  return it == messages_.end() ? nullptr : &it->second;
}

void SqliteMessageStore::Updated(const StoredMessage& message) {
  Write(
      connection_->QueryInternal("UPDATE messages SET deliveries = ?, unresolved = ? WHERE seq = ?",
                                 {D1Param(EncodeDeliveries(message.deliveries)),
                                  D1Param(static_cast<std::int64_t>(message.unresolved)),
                                  D1Param(static_cast<std::int64_t>(message.seq))}));
}

void SqliteMessageStore::Erase(std::uint64_t seq) {
  Write(connection_->QueryInternal("DELETE FROM messages WHERE seq = ?",
                                   {D1Param(static_cast<std::int64_t>(seq))}));
  messages_.erase(seq);
}

StoredMessage* SqliteMessageStore::Oldest() {
  return messages_.empty() ? nullptr : &messages_.begin()->second;
}

void SqliteMessageStore::ForEach(const std::function<void(StoredMessage&)>& visit) {
  for (auto& [seq, message] : messages_) visit(message);
}

void SqliteMessageStore::Clear() {
  Write(connection_->QueryInternal("DELETE FROM messages", {}));
  messages_.clear();
}

}  // namespace cfemu::emulator
