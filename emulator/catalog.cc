#include "emulator/catalog.h"

#include <nlohmann/json.hpp>

#include "emulator/sqlite/connection.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::D1Param;
using platform::D1Value;
using Json = nlohmann::json;

namespace {

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS queues(
  name TEXT PRIMARY KEY,
  live INTEGER NOT NULL,
  replaced INTEGER NOT NULL,
  paused INTEGER NOT NULL,
  delivery_delay_ms INTEGER NOT NULL,
  retention_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS consumers(
  queue TEXT NOT NULL,
  idx INTEGER NOT NULL,
  removed INTEGER NOT NULL,
  settings TEXT NOT NULL,
  PRIMARY KEY(queue, idx));
CREATE TABLE IF NOT EXISTS d1_databases(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv_namespaces(
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  configured INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS worker_schedules(
  script TEXT PRIMARY KEY,
  schedules TEXT NOT NULL);
)sql";

Status Damaged(std::string_view what) {
  return Status::Unavailable("catalog.sqlite: unreadable " + std::string(what));
}

// Typed reads of one row's columns; a wrong type means a damaged file.
struct RowReader {
  const std::vector<D1Value>& row;
  bool ok = true;

  std::int64_t Int(std::size_t i) {
    const auto* value = i < row.size() ? std::get_if<std::int64_t>(&row[i]) : nullptr;
    ok = ok && value != nullptr;
    return value ? *value : 0;
  }
  std::string Text(std::size_t i) {
    const auto* value = i < row.size() ? std::get_if<std::string>(&row[i]) : nullptr;
    ok = ok && value != nullptr;
    return value ? *value : std::string();
  }
};

std::string EncodeConsumer(const platform::ConsumerSpec& spec) {
  Json out = {{"type", spec.type == platform::ConsumerType::kWorker ? "worker" : "http_pull"},
              {"script_name", spec.script_name},
              {"max_batch_size", spec.max_batch_size},
              {"max_batch_timeout_ms", spec.max_batch_timeout.ms()},
              {"max_retries", spec.max_retries},
              {"retry_delay_ms", spec.retry_delay.ms()},
              {"dead_letter_queue", spec.dead_letter_queue},
              {"visibility_timeout_ms", spec.visibility_timeout.ms()}};
  if (spec.max_concurrency) out["max_concurrency"] = *spec.max_concurrency;
  return out.dump();
}

Result<platform::ConsumerSpec> DecodeConsumer(std::string queue, const std::string& text) {
  const Json in = Json::parse(text, nullptr, false);
  if (!in.is_object()) return Damaged("consumer settings");
  platform::ConsumerSpec spec;
  spec.queue = std::move(queue);
  try {
    spec.type = in.at("type").get<std::string>() == "worker" ? platform::ConsumerType::kWorker
                                                             : platform::ConsumerType::kHttpPull;
    spec.script_name = in.at("script_name").get<std::string>();
    spec.max_batch_size = in.at("max_batch_size").get<int>();
    spec.max_batch_timeout = core::Milliseconds(in.at("max_batch_timeout_ms").get<std::int64_t>());
    spec.max_retries = in.at("max_retries").get<int>();
    spec.retry_delay = core::Milliseconds(in.at("retry_delay_ms").get<std::int64_t>());
    spec.dead_letter_queue = in.at("dead_letter_queue").get<std::string>();
    spec.visibility_timeout =
        core::Milliseconds(in.at("visibility_timeout_ms").get<std::int64_t>());
    if (in.contains("max_concurrency")) spec.max_concurrency = in["max_concurrency"].get<int>();
  } catch (const Json::exception&) {
    return Damaged("consumer settings");
  }
  return spec;
}

std::string EncodeSchedules(const std::vector<CatalogCron>& crons) {
  Json out = Json::array();
  for (const auto& cron : crons) {
    out.push_back({{"cron", cron.cron}, {"created_on_ms", cron.created_on.unix_ms()}});
  }
  return out.dump();
}

Result<std::vector<CatalogCron>> DecodeSchedules(const std::string& text) {
  const Json in = Json::parse(text, nullptr, false);
  if (!in.is_array()) return Damaged("worker schedules");
  std::vector<CatalogCron> out;
  try {
    for (const Json& item : in) {
      out.push_back({item.at("cron").get<std::string>(),
                     core::Instant::FromUnixMs(item.at("created_on_ms").get<std::int64_t>())});
    }
  } catch (const Json::exception&) {
    return Damaged("worker schedules");
  }
  return out;
}

}  // namespace

bool CatalogContents::Replaced(std::string_view queue) const {
  for (const auto& row : queues) {
    if (row.spec.name == queue) return row.replaced;
  }
  return false;
}

Catalog::Catalog(std::unique_ptr<sqlite::Connection> connection)
    : connection_(std::move(connection)) {}

Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::filesystem::path& file) {
  auto connection = sqlite::Connection::Open(file, sqlite::Limits{}, sqlite::Policy{});
  if (!connection.ok()) return connection.status();
  std::unique_ptr<Catalog> catalog(new Catalog(std::move(*connection)));
  auto version = catalog->connection_->QueryInternal("PRAGMA user_version", {});
  if (!version.ok()) return version.status();
  RowReader reader{version->rows.at(0)};
  if (reader.Int(0) > kSchemaVersion) {
    return Status::FailedPrecondition(file.string() + " was written by a newer cfemu");
  }
  CFEMU_RETURN_IF_ERROR(catalog->connection_->ExecInternal(kSchema));
  CFEMU_RETURN_IF_ERROR(
      catalog->connection_->ExecInternal("PRAGMA user_version=" + std::to_string(kSchemaVersion)));
  return catalog;
}

Status Catalog::Exec(std::string_view sql, std::vector<D1Param> params) {
  auto done = connection_->QueryInternal(sql, params);
  return done.ok() ? Status::Ok() : done.status();
}

Result<CatalogContents> Catalog::Load() {
  CatalogContents out;
  auto queues = connection_->QueryInternal(
      "SELECT name, live, replaced, paused, delivery_delay_ms, retention_ms FROM queues "
      "ORDER BY name",
      {});
  if (!queues.ok()) return queues.status();
  for (const auto& row : queues->rows) {
    RowReader r{row};
    CatalogQueue queue;
    queue.spec.name = r.Text(0);
    queue.live = r.Int(1) != 0;
    queue.replaced = r.Int(2) != 0;
    queue.paused = r.Int(3) != 0;
    queue.spec.delivery_delay = core::Milliseconds(r.Int(4));
    queue.spec.message_retention_period = core::Milliseconds(r.Int(5));
    if (!r.ok) return Damaged("queue row");
    out.queues.push_back(std::move(queue));
  }
  auto consumers = connection_->QueryInternal(
      "SELECT queue, idx, removed, settings FROM consumers ORDER BY queue, idx", {});
  if (!consumers.ok()) return consumers.status();
  for (const auto& row : consumers->rows) {
    RowReader r{row};
    std::string queue = r.Text(0);
    CatalogConsumer consumer;
    consumer.index = static_cast<int>(r.Int(1));
    consumer.removed = r.Int(2) != 0;
    const std::string settings = r.Text(3);
    if (!r.ok) return Damaged("consumer row");
    auto spec = DecodeConsumer(queue, settings);
    if (!spec.ok()) return spec.status();
    consumer.spec = std::move(*spec);
    out.consumers[queue].push_back(std::move(consumer));
  }
  auto databases = connection_->QueryInternal(
      "SELECT id, name, created_at_ms FROM d1_databases ORDER BY id", {});
  if (!databases.ok()) return databases.status();
  for (const auto& row : databases->rows) {
    RowReader r{row};
    out.d1_databases.push_back({r.Text(0), r.Text(1), core::Instant::FromUnixMs(r.Int(2))});
    if (!r.ok) return Damaged("D1 database row");
  }
  auto namespaces =
      connection_->QueryInternal("SELECT id, title, configured FROM kv_namespaces ORDER BY id", {});
  if (!namespaces.ok()) return namespaces.status();
  for (const auto& row : namespaces->rows) {
    RowReader r{row};
    out.kv_namespaces.push_back({r.Text(0), r.Text(1), r.Int(2) != 0});
    if (!r.ok) return Damaged("KV namespace row");
  }
  auto schedules = connection_->QueryInternal(
      "SELECT script, schedules FROM worker_schedules ORDER BY script", {});
  if (!schedules.ok()) return schedules.status();
  for (const auto& row : schedules->rows) {
    RowReader r{row};
    CatalogSchedules worker{r.Text(0), {}};
    const std::string text = r.Text(1);
    if (!r.ok) return Damaged("worker schedules row");
    auto crons = DecodeSchedules(text);
    if (!crons.ok()) return crons.status();
    worker.crons = std::move(*crons);
    out.schedules.push_back(std::move(worker));
  }
  return out;
}

Status Catalog::PutQueue(const platform::QueueSpec& spec, bool paused) {
  return Exec(
      "INSERT INTO queues(name, live, replaced, paused, delivery_delay_ms, retention_ms) "
      "VALUES (?, 1, 0, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET live = 1, "
      "paused = excluded.paused, delivery_delay_ms = excluded.delivery_delay_ms, "
      "retention_ms = excluded.retention_ms",
      {spec.name, std::int64_t{paused}, spec.delivery_delay.ms(),
       spec.message_retention_period.ms()});
}

Status Catalog::DeleteQueue(std::string_view name, bool keep_tombstone) {
  CFEMU_RETURN_IF_ERROR(connection_->ExecInternal("BEGIN IMMEDIATE"));
  Status done = Exec("DELETE FROM consumers WHERE queue = ?", {std::string(name)});
  if (done.ok() && keep_tombstone) {
    done = Exec(
        "INSERT INTO queues(name, live, replaced, paused, delivery_delay_ms, retention_ms) "
        "VALUES (?, 0, 1, 0, 0, 0) ON CONFLICT(name) DO UPDATE SET live = 0, replaced = 1",
        {std::string(name)});
  } else if (done.ok()) {
    done = Exec("DELETE FROM queues WHERE name = ?", {std::string(name)});
  }
  if (done.ok()) return connection_->ExecInternal("COMMIT");
  (void)connection_->ExecInternal("ROLLBACK");
  return done;
}

Status Catalog::PutConsumer(std::string_view queue, const CatalogConsumer& consumer) {
  return Exec(
      "INSERT INTO consumers(queue, idx, removed, settings) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(queue, idx) DO UPDATE SET removed = excluded.removed, "
      "settings = excluded.settings",
      {std::string(queue), std::int64_t{consumer.index}, std::int64_t{consumer.removed},
       EncodeConsumer(consumer.spec)});
}

Status Catalog::PutD1Database(const CatalogD1Database& database) {
  return Exec("INSERT OR REPLACE INTO d1_databases(id, name, created_at_ms) VALUES (?, ?, ?)",
              {database.id, database.name, database.created_at.unix_ms()});
}

Status Catalog::DeleteD1Database(std::string_view id) {
  return Exec("DELETE FROM d1_databases WHERE id = ?", {std::string(id)});
}

Status Catalog::PutKvNamespace(const CatalogKvNamespace& ns) {
  return Exec("INSERT OR REPLACE INTO kv_namespaces(id, title, configured) VALUES (?, ?, ?)",
              {ns.id, ns.title, std::int64_t{ns.configured}});
}

Status Catalog::DeleteKvNamespace(std::string_view id) {
  return Exec("DELETE FROM kv_namespaces WHERE id = ?", {std::string(id)});
}

Status Catalog::PutSchedules(const CatalogSchedules& schedules) {
  return Exec("INSERT OR REPLACE INTO worker_schedules(script, schedules) VALUES (?, ?)",
              {schedules.script, EncodeSchedules(schedules.crons)});
}

}  // namespace cfemu::emulator
