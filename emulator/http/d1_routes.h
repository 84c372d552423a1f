// The D1 REST API under /client/v4/accounts/{account_id}/d1/database (cloudflare-platform.md
// §2.6, checklist 38): databases (list, create, get, delete) and `query` / `raw` with params,
// several ';'-separated statements, or a {batch: [...]} body. Results keep production's shapes
// (`results` as row objects, or {columns, rows} for raw) and `meta` fields.
//
// Databases bound in the configuration are listed and queried but cannot be deleted (Workers
// hold bindings to them); databases created here are the World's (World::CreateD1Database),
// kept in the persistence directory when there is one.
#pragma once

#include "emulator/d1/d1_service.h"
#include "emulator/http/router.h"
#include "emulator/world.h"

namespace cfemu::emulator {

class D1Routes {
 public:
  // `world` must outlive the routes and the router they are added to.
  explicit D1Routes(World& world) : world_(world) {}
  void AddTo(Router& router);

 private:
  HttpResponse List(const HttpRequest& request);
  HttpResponse Create(const HttpRequest& request);
  HttpResponse Get(const RouteParams& params);
  HttpResponse Delete(const RouteParams& params);
  core::Task<HttpResponse> Query(const HttpRequest& request, const RouteParams& params,
                                 platform::D1Rows rows);

  core::Result<D1DatabaseEntry*> DatabaseOf(const RouteParams& params);
  static Json DatabaseJson(const D1DatabaseEntry& database);

  World& world_;
};

}  // namespace cfemu::emulator
