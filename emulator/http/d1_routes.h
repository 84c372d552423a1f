// The D1 REST API under /client/v4/accounts/{account_id}/d1/database (cloudflare-platform.md
// §2.6, checklist 38): databases (list, create, get, delete) and `query` / `raw` with params,
// several ';'-separated statements, or a {batch: [...]} body. Results keep production's shapes
// (`results` as row objects, or {columns, rows} for raw) and `meta` fields.
//
// Databases bound in the configuration are listed and queried but cannot be deleted (Workers
// hold bindings to them); databases created here live in memory until deleted.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "emulator/d1/d1_service.h"
#include "emulator/http/router.h"
#include "emulator/world.h"

namespace cfemu::emulator {

class D1Routes {
 public:
  // `world` must outlive the routes and the router they are added to.
  explicit D1Routes(World& world);
  ~D1Routes();
  void AddTo(Router& router);

 private:
  struct Database {
    D1Service* service = nullptr;
    std::unique_ptr<D1Service> owned;  // Created over REST; null for configured ones.
    core::Instant created_at;
  };

  HttpResponse List(const HttpRequest& request);
  HttpResponse Create(const HttpRequest& request);
  HttpResponse Get(const RouteParams& params);
  HttpResponse Delete(const RouteParams& params);
  core::Task<HttpResponse> Query(const HttpRequest& request, const RouteParams& params,
                                 platform::D1Rows rows);

  core::Result<Database*> DatabaseOf(const RouteParams& params);
  Json DatabaseJson(const Database& database) const;

  World& world_;
  std::map<std::string, Database, std::less<>> databases_;  // By uuid.
};

}  // namespace cfemu::emulator
