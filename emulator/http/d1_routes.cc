#include "emulator/http/d1_routes.h"

#include <limits>
#include <utility>

#include "emulator/http/json_fields.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

// D1's REST codes, as wrangler reports them: 7400 malformed request, 7404 no such database,
// 7500 the query failed (D1_ERROR ...), 7502 the name is taken.
constexpr int kMalformed = 7400;
constexpr int kNotFound = 7404;
constexpr int kQueryFailed = 7500;
constexpr int kNameTaken = 7502;
constexpr JsonCodes kCodes{kMalformed, kMalformed};
constexpr std::size_t kSmallBody = 64 * 1024;
// A statement may hold 100,000 bytes (platform §2.5); a batch several, with their params.
constexpr std::size_t kQueryBody = 4 * 1024 * 1024;

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (c == '-')) return false;
    if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

// Names as wrangler accepts them: letters, digits, '-' and '_', 1 to 64 characters.
bool IsDatabaseName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

platform::D1Param ParamOf(const Json& value) {
  if (value.is_null()) return nullptr;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_unsigned()) {  // nlohmann reads every non-negative integer as unsigned.
    const auto u = value.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(u);
    }
    return static_cast<double>(u);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) return value.get<double>();
  if (value.is_string()) return value.get<std::string>();
  return value;  // Objects and arrays: the binding refuses them with D1_TYPE_ERROR.
}

Json ValueJson(const platform::D1Value& value) {
  return std::visit(
      [](const auto& v) -> Json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, core::Bytes>) {
          Json bytes = Json::array();
          for (auto b : v) bytes.push_back(static_cast<int>(b));
          return bytes;
        } else {
          return Json(v);
        }
      },
      value);
}

Json MetaJson(const platform::D1Meta& meta) {
  return {{"changed_db", meta.changed_db},
          {"changes", meta.changes},
          {"duration", meta.duration},
          {"last_row_id", meta.last_row_id},
          {"rows_read", meta.rows_read},
          {"rows_written", meta.rows_written},
          {"size_after", meta.size_after},
          {"served_by_colo", std::string(meta.served_by_colo)},
          {"served_by_primary", meta.served_by_primary},
          {"served_by_region", std::string(meta.served_by_region)},
          {"timings", {{"sql_duration_ms", meta.sql_duration_ms}}}};
}

Json ResultJson(const platform::D1Result& result, platform::D1Rows rows) {
  Json out = {{"success", result.success}, {"meta", MetaJson(result.meta)}};
  if (rows == platform::D1Rows::kObjects) {
    Json objects = Json::array();
    for (const auto& row : result.results) {
      Json object = Json::object();
      const auto& names = row.columns();
      for (std::size_t i = 0; i < row.values.size() && i < names.size(); ++i) {
        object[names[i]] = ValueJson(row.values[i]);  // A repeated name: the last one wins.
      }
      objects.push_back(std::move(object));
    }
    out["results"] = std::move(objects);
  } else {
    Json table = Json::array();
    for (const auto& row : result.results) {
      Json values = Json::array();
      for (const auto& v : row.values) values.push_back(ValueJson(v));
      table.push_back(std::move(values));
    }
    out["results"] = {{"columns", result.columns}, {"rows", std::move(table)}};
  }
  return out;
}

// One statement of a body: {sql, params?}.
Result<platform::D1PreparedStatement> StatementOf(const Json& item) {
  if (!item.is_object())
    return Status::InvalidArgument("a statement must be an object", kMalformed);
  auto sql = StringField(item, "sql", kMalformed);
  if (!sql.ok()) return sql.status();
  if (!*sql || (*sql)->empty()) return Status::InvalidArgument("sql is required", kMalformed);
  auto params = ArrayField(item, "params", kMalformed);
  if (!params.ok()) return params.status();
  std::vector<platform::D1Param> bound;
  for (const Json& p : *params) bound.push_back(ParamOf(p));
  return platform::D1PreparedStatement(nullptr, std::move(**sql)).Bind(std::move(bound));
}

}  // namespace

void D1Routes::AddTo(Router& router) {
  const std::string base = "/client/v4/accounts/{account_id}/d1/database";
  const std::string one = base + "/{database_id}";
  router.Add("GET", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return List(r); }));
  router.Add("POST", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return Create(r); }));
  router.Add("GET", one, kSmallBody, SyncRoute([this](auto&, auto& p) { return Get(p); }));
  router.Add("DELETE", one, kSmallBody, SyncRoute([this](auto&, auto& p) { return Delete(p); }));
  router.Add("POST", one + "/query", kQueryBody,
             [this](const HttpRequest& r, const RouteParams& p) {
               return Query(r, p, platform::D1Rows::kObjects);
             });
  router.Add("POST", one + "/raw", kQueryBody, [this](const HttpRequest& r, const RouteParams& p) {
    return Query(r, p, platform::D1Rows::kArrays);
  });
}

Result<D1DatabaseEntry*> D1Routes::DatabaseOf(const RouteParams& params) {
  const std::string& id = params.at("database_id");
  if (!IsUuid(id)) {
    return Status::InvalidArgument(
        "Could not route to database '" + id + "', perhaps your object identifier is invalid?",
        cf_code::kInvalidObjectId);
  }
  D1DatabaseEntry* database = world_.FindD1Database(id);
  if (database == nullptr) {
    return Status::NotFound("The database " + id + " could not be found", kNotFound);
  }
  return database;
}

Json D1Routes::DatabaseJson(const D1DatabaseEntry& database) {
  return {{"uuid", database.service->id()},
          {"name", database.service->name()},
          {"created_at", database.created_at.ToRfc3339()},
          {"version", "production"},
          {"file_size", database.service->store().size_bytes()},
          {"jurisdiction", nullptr},
          {"read_replication", {{"mode", "disabled"}}}};
}

HttpResponse D1Routes::List(const HttpRequest& request) {
  const auto query = request.query();
  const auto name = query.find("name");
  std::int64_t page = 1;
  std::int64_t per_page = 1000;
  for (auto [key, target] : {std::pair{"page", &page}, std::pair{"per_page", &per_page}}) {
    const auto it = query.find(key);
    if (it == query.end()) continue;
    auto value = IntField(Json{{key, Json::parse(it->second, nullptr, false)}}, key, 1,
                          key == std::string_view("page") ? 1'000'000 : 10'000, kMalformed);
    if (!value.ok() || !*value) return Failure(400, kMalformed, std::string(key) + " is invalid");
    *target = **value;
  }
  // Pages as the official client walks them: it asks for the next page until one is empty.
  Json result = Json::array();
  std::int64_t total = 0;
  for (const auto& [id, database] : world_.d1_databases()) {
    if (name != query.end() && database.service->name().find(name->second) == std::string::npos) {
      continue;
    }
    if (total >= (page - 1) * per_page && total < page * per_page) {
      result.push_back(DatabaseJson(database));
    }
    ++total;
  }
  const auto count = static_cast<std::int64_t>(result.size());
  return Success(std::move(result), Json{{"page", page},
                                         {"per_page", per_page},
                                         {"count", count},
                                         {"total_count", total},
                                         {"total_pages", (total + per_page - 1) / per_page}});
}

HttpResponse D1Routes::Create(const HttpRequest& request) {
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) return FailureFrom(body.status(), kMalformed);
  auto name = StringField(*body, "name", kMalformed);
  if (!name.ok()) return FailureFrom(name.status(), kMalformed);
  if (!*name || !IsDatabaseName(**name)) {
    return Failure(400, kMalformed,
                   "name is required: letters, digits, '-' and '_', 1 to 64 characters");
  }
  auto created = world_.CreateD1Database(**name);
  if (created.code() == core::Code::kAlreadyExists) {
    return Failure(409, kNameTaken, created.status().message());
  }
  if (!created.ok()) return FailureFrom(created.status(), kQueryFailed);
  return Success(DatabaseJson(**created));
}

HttpResponse D1Routes::Get(const RouteParams& params) {
  auto database = DatabaseOf(params);
  if (!database.ok()) return FailureFrom(database.status(), kMalformed);
  return Success(DatabaseJson(**database));
}

HttpResponse D1Routes::Delete(const RouteParams& params) {
  auto database = DatabaseOf(params);
  if (!database.ok()) return FailureFrom(database.status(), kMalformed);
  const Status deleted = world_.DeleteD1Database(params.at("database_id"));
  if (deleted.code() == core::Code::kFailedPrecondition) {
    return Failure(400, kMalformed, deleted.message());
  }
  if (!deleted.ok()) return FailureFrom(deleted, kMalformed);
  return Success(nullptr);
}

core::Task<HttpResponse> D1Routes::Query(const HttpRequest& request, const RouteParams& params,
                                         platform::D1Rows rows) {
  auto database = DatabaseOf(params);
  if (!database.ok()) co_return FailureFrom(database.status(), kMalformed);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) co_return FailureFrom(body.status(), kMalformed);
  D1Service& service = *(*database)->service;
  Result<std::vector<platform::D1Result>> results;
  if (body->contains("batch")) {
    auto items = ArrayField(*body, "batch", kMalformed);
    if (!items.ok()) co_return FailureFrom(items.status(), kMalformed);
    if (items->empty()) co_return Failure(400, kMalformed, "batch needs at least one statement");
    std::vector<platform::D1PreparedStatement> statements;
    for (const Json& item : *items) {
      auto statement = StatementOf(item);
      if (!statement.ok()) co_return FailureFrom(statement.status(), kMalformed);
      statements.push_back(std::move(*statement));
    }
    results = co_await service.QueryBatch(std::move(statements), rows);
  } else {
    auto statement = StatementOf(*body);
    if (!statement.ok()) co_return FailureFrom(statement.status(), kMalformed);
    std::string sql = statement->sql();  // Named: see the GCC 12 note in cron_routes.cc.
    std::vector<platform::D1Param> bound = statement->params();
    results = co_await service.Query(std::move(sql), std::move(bound), rows);
  }
  if (!results.ok()) {
    co_return Failure(400, kQueryFailed, results.status().message());
  }
  Json out = Json::array();
  for (const auto& result : *results) out.push_back(ResultJson(result, rows));
  co_return Success(std::move(out));
}

}  // namespace cfemu::emulator
