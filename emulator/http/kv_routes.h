// The Workers KV REST API under /client/v4/accounts/{account_id}/storage/kv/namespaces
// (cloudflare-platform.md §3.4, checklist 51): namespaces (list, create, get, rename, delete);
// values (get as raw bytes with an `expiration` header, put as raw bytes or multipart/form-data
// with `value` and `metadata` parts, delete); metadata; keys list with prefix, limit and
// cursor; bulk put, get and delete. It uses the service's strongly consistent admin path.
//
// Namespaces bound in the configuration cannot be deleted (Workers hold bindings to them);
// namespaces created here are the World's (World::CreateKvNamespace), kept in the persistence
// directory when there is one.
#pragma once

#include "emulator/http/router.h"
#include "emulator/kv/kv_service.h"
#include "emulator/world.h"

namespace cfemu::emulator {

class KvRoutes {
 public:
  // `world` must outlive the routes and the router they are added to.
  explicit KvRoutes(World& world) : world_(world) {}
  void AddTo(Router& router);

 private:
  HttpResponse List(const HttpRequest& request);
  HttpResponse Create(const HttpRequest& request);
  HttpResponse Get(const RouteParams& params);
  HttpResponse Rename(const HttpRequest& request, const RouteParams& params);
  HttpResponse Delete(const RouteParams& params);
  HttpResponse GetValue(const RouteParams& params);
  HttpResponse PutValue(const HttpRequest& request, const RouteParams& params);
  HttpResponse DeleteValue(const RouteParams& params);
  HttpResponse GetMetadata(const RouteParams& params);
  HttpResponse ListKeys(const HttpRequest& request, const RouteParams& params);
  HttpResponse BulkPut(const HttpRequest& request, const RouteParams& params);
  HttpResponse BulkGet(const HttpRequest& request, const RouteParams& params);
  HttpResponse BulkDelete(const HttpRequest& request, const RouteParams& params);

  core::Result<KvNamespaceEntry*> NamespaceOf(const RouteParams& params);
  static Json NamespaceJson(const KvNamespaceEntry& ns);

  World& world_;
};

}  // namespace cfemu::emulator
