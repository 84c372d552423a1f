#include "emulator/http/kv_routes.h"

#include <limits>
#include <utility>

#include "emulator/http/base64.h"
#include "emulator/http/json_fields.h"
#include "emulator/http/multipart.h"
#include "src/core/ids.h"
#include "src/core/limits.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

// KV's REST codes: 10009 key not found, 10013 namespace not found, 10014 title taken are
// production's; 10001 for every other bad request is cfemu's choice.
constexpr int kBadRequest = 10001;
constexpr int kKeyNotFound = 10009;
constexpr int kNamespaceNotFound = 10013;
constexpr int kTitleTaken = 10014;
constexpr JsonCodes kCodes{kBadRequest, kBadRequest};
constexpr std::size_t kSmallBody = 64 * 1024;
// A value of 25 MiB in a multipart body, with headers.
constexpr std::size_t kValueBody = 26 * 1024 * 1024;
constexpr std::size_t kBulkBody = static_cast<std::size_t>(core::limits::kKvMaxBulkRequestBytes);
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

std::string_view AsText(const core::Bytes& bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Put options from one bulk item or from a value's query string and metadata part.
Result<platform::KvPutOptions> PutOptionsOf(const Json& item) {
  platform::KvPutOptions options;
  auto expiration = IntField(item, "expiration", 0, kInt64Max, kBadRequest);
  if (!expiration.ok()) return expiration.status();
  auto ttl = IntField(item, "expiration_ttl", 0, kInt64Max, kBadRequest);
  if (!ttl.ok()) return ttl.status();
  options.expiration = *expiration;
  options.expiration_ttl = *ttl;
  const auto metadata = item.find("metadata");
  if (metadata != item.end() && !metadata->is_null()) options.metadata = *metadata;
  return options;
}

Json PageInfo(std::int64_t page, std::int64_t per_page, std::int64_t count, std::int64_t total) {
  return {{"page", page},
          {"per_page", per_page},
          {"count", count},
          {"total_count", total},
          {"total_pages", (total + per_page - 1) / per_page}};
}

}  // namespace

void KvRoutes::AddTo(Router& router) {
  const std::string base = "/client/v4/accounts/{account_id}/storage/kv/namespaces";
  const std::string ns = base + "/{namespace_id}";
  const std::string value = ns + "/values/{key_name:any}";
  router.Add("GET", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return List(r); }));
  router.Add("POST", base, kSmallBody, SyncRoute([this](auto& r, auto&) { return Create(r); }));
  router.Add("GET", ns, kSmallBody, SyncRoute([this](auto&, auto& p) { return Get(p); }));
  router.Add("PUT", ns, kSmallBody, SyncRoute([this](auto& r, auto& p) { return Rename(r, p); }));
  router.Add("DELETE", ns, kSmallBody, SyncRoute([this](auto&, auto& p) { return Delete(p); }));
  router.Add("GET", value, kSmallBody, SyncRoute([this](auto&, auto& p) { return GetValue(p); }));
  router.Add("PUT", value, kValueBody,
             SyncRoute([this](auto& r, auto& p) { return PutValue(r, p); }));
  router.Add("DELETE", value, kSmallBody,
             SyncRoute([this](auto&, auto& p) { return DeleteValue(p); }));
  router.Add("GET", ns + "/metadata/{key_name:any}", kSmallBody,
             SyncRoute([this](auto&, auto& p) { return GetMetadata(p); }));
  router.Add("GET", ns + "/keys", kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return ListKeys(r, p); }));
  router.Add("PUT", ns + "/bulk", kBulkBody,
             SyncRoute([this](auto& r, auto& p) { return BulkPut(r, p); }));
  router.Add("POST", ns + "/bulk/get", kSmallBody,
             SyncRoute([this](auto& r, auto& p) { return BulkGet(r, p); }));
  // POST .../bulk/delete today; DELETE .../bulk in the older API.
  router.Add("POST", ns + "/bulk/delete", kBulkBody,
             SyncRoute([this](auto& r, auto& p) { return BulkDelete(r, p); }));
  router.Add("DELETE", ns + "/bulk", kBulkBody,
             SyncRoute([this](auto& r, auto& p) { return BulkDelete(r, p); }));
}

Result<KvNamespaceEntry*> KvRoutes::NamespaceOf(const RouteParams& params) {
  const std::string& id = params.at("namespace_id");
  if (!core::IsLowerHex(id, 32)) {
    return Status::InvalidArgument(
        "Could not route to namespace '" + id + "', perhaps your object identifier is invalid?",
        cf_code::kInvalidObjectId);
  }
  KvNamespaceEntry* ns = world_.FindKvNamespace(id);
  if (ns == nullptr) return Status::NotFound("namespace not found: " + id, kNamespaceNotFound);
  return ns;
}

Json KvRoutes::NamespaceJson(const KvNamespaceEntry& ns) {
  return {{"id", ns.service->id()}, {"title", ns.title}, {"supports_url_encoding", true}};
}

// ---- Namespaces -------------------------------------------------------------------------------

HttpResponse KvRoutes::List(const HttpRequest& request) {
  const auto query = request.query();
  auto page = QueryInt(query, kBadRequest, "page", 1, 1'000'000);
  auto per_page = QueryInt(query, kBadRequest, "per_page", 1, 1000);
  if (!page.ok()) return FailureFrom(page.status(), kBadRequest);
  if (!per_page.ok()) return FailureFrom(per_page.status(), kBadRequest);
  const std::int64_t p = page->value_or(1);
  const std::int64_t n = per_page->value_or(20);
  const auto total = static_cast<std::int64_t>(world_.kv_namespaces().size());
  Json result = Json::array();
  std::int64_t i = 0;
  for (const auto& [id, ns] : world_.kv_namespaces()) {
    if (i >= (p - 1) * n && i < p * n) result.push_back(NamespaceJson(ns));
    ++i;
  }
  const auto count = static_cast<std::int64_t>(result.size());
  return Success(std::move(result), PageInfo(p, n, count, total));
}

HttpResponse KvRoutes::Create(const HttpRequest& request) {
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) return FailureFrom(body.status(), kBadRequest);
  auto title = StringField(*body, "title", kBadRequest);
  if (!title.ok()) return FailureFrom(title.status(), kBadRequest);
  if (!*title || (*title)->empty() || (*title)->size() > 512) {
    return Failure(400, kBadRequest, "title is required (1 to 512 characters)");
  }
  auto created = world_.CreateKvNamespace(**title);
  if (created.code() == core::Code::kAlreadyExists) {
    return Failure(400, kTitleTaken, created.status().message());
  }
  if (!created.ok()) return FailureFrom(created.status(), kBadRequest);
  return Success(NamespaceJson(**created));
}

HttpResponse KvRoutes::Get(const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  return Success(NamespaceJson(**ns));
}

HttpResponse KvRoutes::Rename(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) return FailureFrom(body.status(), kBadRequest);
  auto title = StringField(*body, "title", kBadRequest);
  if (!title.ok()) return FailureFrom(title.status(), kBadRequest);
  if (!*title || (*title)->empty() || (*title)->size() > 512) {
    return Failure(400, kBadRequest, "title is required (1 to 512 characters)");
  }
  const Status renamed = world_.RenameKvNamespace(params.at("namespace_id"), **title);
  if (renamed.code() == core::Code::kAlreadyExists) {
    return Failure(400, kTitleTaken, renamed.message());
  }
  if (!renamed.ok()) return FailureFrom(renamed, kBadRequest);
  return Success(NamespaceJson(**ns));
}

HttpResponse KvRoutes::Delete(const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  const Status deleted = world_.DeleteKvNamespace(params.at("namespace_id"));
  if (deleted.code() == core::Code::kFailedPrecondition) {
    return Failure(400, kBadRequest, deleted.message());
  }
  if (!deleted.ok()) return FailureFrom(deleted, kBadRequest);
  return Success(nullptr);
}

// ---- Values -----------------------------------------------------------------------------------

HttpResponse KvRoutes::GetValue(const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto entry = (*ns)->service->GetDirect(params.at("key_name"));
  if (!entry.ok()) return FailureFrom(entry.status(), kBadRequest);
  if (!*entry) return Failure(404, kKeyNotFound, "get: 'key not found'");
  // The one answer outside the envelope: the value's bytes as stored.
  HttpResponse response;
  response.content_type = "application/octet-stream";
  response.body = std::string(AsText((*entry)->value));
  if ((*entry)->expiration) {
    response.headers.emplace_back("expiration", std::to_string(*(*entry)->expiration));
  }
  return response;
}

HttpResponse KvRoutes::PutValue(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  const auto query = request.query();
  auto expiration = QueryInt(query, kBadRequest, "expiration", 0, kInt64Max);
  auto ttl = QueryInt(query, kBadRequest, "expiration_ttl", 0, kInt64Max);
  if (!expiration.ok()) return FailureFrom(expiration.status(), kBadRequest);
  if (!ttl.ok()) return FailureFrom(ttl.status(), kBadRequest);
  platform::KvPutOptions options;
  options.expiration = *expiration;
  options.expiration_ttl = *ttl;
  std::string value = request.body;
  if (IsMultipartFormData(request.header("content-type"))) {
    auto parts = ParseMultipart(request.header("content-type"), request.body);
    if (!parts) return Failure(400, kBadRequest, "malformed multipart/form-data body");
    bool has_value = false;
    for (auto& part : *parts) {
      if (part.name == "value") {
        value = std::move(part.content);
        has_value = true;
      } else if (part.name == "metadata") {
        Json metadata = Json::parse(part.content, nullptr, false);
        if (metadata.is_discarded()) {
          return Failure(400, kBadRequest, "metadata must be JSON");
        }
        if (!metadata.is_null()) options.metadata = std::move(metadata);
      }
    }
    if (!has_value) return Failure(400, kBadRequest, "the multipart body has no 'value' part");
  }
  const Status stored =
      (*ns)->service->PutDirect(params.at("key_name"), core::BytesOf(value), options);
  if (!stored.ok()) return FailureFrom(stored, kBadRequest);
  return Success(nullptr);
}

HttpResponse KvRoutes::DeleteValue(const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  const Status deleted = (*ns)->service->DeleteDirect(params.at("key_name"));
  if (!deleted.ok()) return FailureFrom(deleted, kBadRequest);
  return Success(nullptr);
}

HttpResponse KvRoutes::GetMetadata(const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto entry = (*ns)->service->GetDirect(params.at("key_name"));
  if (!entry.ok()) return FailureFrom(entry.status(), kBadRequest);
  if (!*entry) return Failure(404, kKeyNotFound, "get: 'key not found'");
  return Success((*entry)->metadata.value_or(Json(nullptr)));
}

HttpResponse KvRoutes::ListKeys(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  const auto query = request.query();
  auto limit = QueryInt(query, kBadRequest, "limit", 1, 1000);
  if (!limit.ok()) return FailureFrom(limit.status(), kBadRequest);
  const auto prefix = query.find("prefix");
  const auto cursor = query.find("cursor");
  platform::KvListOptions options(prefix == query.end() ? "" : prefix->second,
                                  static_cast<int>(limit->value_or(1000)),
                                  cursor == query.end() ? "" : cursor->second);
  auto listed = (*ns)->service->ListDirect(options);
  if (!listed.ok()) return FailureFrom(listed.status(), kBadRequest);
  Json keys = Json::array();
  for (const auto& key : listed->keys) {
    Json item = {{"name", key.name}};
    if (key.expiration) item["expiration"] = *key.expiration;
    if (key.metadata) item["metadata"] = *key.metadata;
    keys.push_back(std::move(item));
  }
  const auto count = static_cast<std::int64_t>(keys.size());
  return Success(std::move(keys),
                 Json{{"count", count}, {"cursor", listed->list_complete ? "" : listed->cursor}});
}

// ---- Bulk -------------------------------------------------------------------------------------

HttpResponse KvRoutes::BulkPut(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto body = ParseJsonBody(request, kCodes, /*object=*/false);
  if (!body.ok()) return FailureFrom(body.status(), kBadRequest);
  if (!body->is_array()) return Failure(400, kBadRequest, "the body must be an array");
  if (static_cast<std::int64_t>(body->size()) > core::limits::kKvMaxBulkWriteKeys) {
    return Failure(400, kBadRequest, "at most 10,000 pairs per bulk write");
  }
  // Every item is checked before any is written: a malformed request changes nothing.
  std::vector<std::tuple<std::string, core::Bytes, platform::KvPutOptions>> writes;
  for (const Json& item : *body) {
    auto key = StringField(item, "key", kBadRequest);
    auto value = StringField(item, "value", kBadRequest);
    auto base64 = BoolField(item, "base64", kBadRequest);
    auto options = PutOptionsOf(item);
    if (!item.is_object() || !key.ok() || !*key || !value.ok() || !*value || !base64.ok() ||
        !options.ok()) {
      return Failure(400, kBadRequest,
                     "each pair needs a string key and value (and optional base64, expiration, "
                     "expiration_ttl, metadata)");
    }
    std::string bytes = **value;
    if (base64->value_or(false)) {
      auto decoded = Base64Decode(bytes);
      if (!decoded) return Failure(400, kBadRequest, "value of '" + **key + "' is not base64");
      bytes = std::move(*decoded);
    }
    writes.emplace_back(**key, core::BytesOf(bytes), std::move(*options));
  }
  std::int64_t successful = 0;
  Json unsuccessful = Json::array();
  for (auto& [key, bytes, options] : writes) {
    if ((*ns)->service->PutDirect(key, std::move(bytes), options).ok()) {
      ++successful;
    } else {
      unsuccessful.push_back(key);
    }
  }
  return Success(
      Json{{"successful_key_count", successful}, {"unsuccessful_keys", std::move(unsuccessful)}});
}

HttpResponse KvRoutes::BulkGet(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto body = ParseJsonBody(request, kCodes);
  if (!body.ok()) return FailureFrom(body.status(), kBadRequest);
  auto keys = ArrayField(*body, "keys", kBadRequest);
  auto type = StringField(*body, "type", kBadRequest);
  auto with_metadata = BoolField(*body, "withMetadata", kBadRequest);
  if (!keys.ok() || !type.ok() || !with_metadata.ok()) {
    return Failure(400, kBadRequest,
                   "keys must be an array of strings, type a string, withMetadata a boolean");
  }
  const std::string as = type->value_or("text");
  if (as != "text" && as != "json") return Failure(400, kBadRequest, "type must be text or json");
  if (keys->empty() || static_cast<std::int64_t>(keys->size()) > core::limits::kKvMaxBulkGetKeys) {
    return Failure(400, kBadRequest, "keys must hold 1 to 100 names");
  }
  Json values = Json::object();
  for (const Json& key : *keys) {
    if (!key.is_string()) return Failure(400, kBadRequest, "keys must be strings");
    auto entry = (*ns)->service->GetDirect(key.get<std::string>());
    if (!entry.ok()) return FailureFrom(entry.status(), kBadRequest);
    if (!*entry) {
      values[key.get<std::string>()] = nullptr;
      continue;
    }
    Json value = std::string(AsText((*entry)->value));
    if (as == "json") {
      value = Json::parse(AsText((*entry)->value), nullptr, false);
      if (value.is_discarded()) {
        return Failure(400, kBadRequest,
                       "the value of '" + key.get<std::string>() + "' is not JSON");
      }
    }
    if (with_metadata->value_or(false)) {
      Json item = {{"value", std::move(value)},
                   {"metadata", (*entry)->metadata.value_or(Json(nullptr))}};
      if ((*entry)->expiration) item["expiration"] = *(*entry)->expiration;
      value = std::move(item);
    }
    values[key.get<std::string>()] = std::move(value);
  }
  return Success(Json{{"values", std::move(values)}});
}

HttpResponse KvRoutes::BulkDelete(const HttpRequest& request, const RouteParams& params) {
  auto ns = NamespaceOf(params);
  if (!ns.ok()) return FailureFrom(ns.status(), kBadRequest);
  auto body = ParseJsonBody(request, kCodes, /*object=*/false);
  if (!body.ok()) return FailureFrom(body.status(), kBadRequest);
  if (!body->is_array()) return Failure(400, kBadRequest, "the body must be an array of keys");
  if (static_cast<std::int64_t>(body->size()) > core::limits::kKvMaxBulkWriteKeys) {
    return Failure(400, kBadRequest, "at most 10,000 keys per bulk delete");
  }
  for (const Json& key : *body) {
    if (!key.is_string()) return Failure(400, kBadRequest, "keys must be strings");
  }
  std::int64_t successful = 0;
  Json unsuccessful = Json::array();
  for (const Json& key : *body) {
    if ((*ns)->service->DeleteDirect(key.get<std::string>()).ok()) {
      ++successful;
    } else {
      unsuccessful.push_back(key);
    }
  }
  return Success(
      Json{{"successful_key_count", successful}, {"unsuccessful_keys", std::move(unsuccessful)}});
}

}  // namespace cfemu::emulator
