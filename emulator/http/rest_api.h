// The REST API of `cfemu serve` over one World: the Cloudflare v4 routes (Queues, D1, KV) with
// bearer-token authentication on /client/v4/** (and /admin/v1/**), the manual cron triggers of
// local tooling, the engine admin API, and virtual-time control when the World runs on manual
// virtual time.
// Every answer is a v4 envelope, requests that match no route included, except where
// production answers otherwise (KV values as raw bytes, cron triggers as plain text). Pure over
// HttpRequest/HttpResponse: no sockets.
#pragma once

#include <memory>
#include <string>

#include "emulator/http/admin_routes.h"
#include "emulator/http/cron_routes.h"
#include "emulator/http/d1_routes.h"
#include "emulator/http/kv_routes.h"
#include "emulator/http/queue_routes.h"
#include "emulator/http/router.h"
#include "emulator/http/server.h"
#include "emulator/http/time_routes.h"
#include "emulator/world.h"

namespace cfemu::emulator {

struct RestOptions {
  // Non-empty: /client/v4/** and /admin/v1/** require "Authorization: Bearer <token>" (else 403,
  // code 10000). Empty: any bearer token, or none, is accepted.
  std::string token;
  // Set (serve --virtual-time): the World runs on this runtime and /admin/v1/time moves it.
  ManualTimeRuntime* virtual_time = nullptr;
  // Set: the engine admin API (/admin/v1/queues/...) over this engine.
  engine::Engine* engine = nullptr;
  // Set: GET /admin/v1/trace serves the newest trace lines.
  const TraceTail* trace_tail = nullptr;
};

class RestApi final : public HttpHandler {
 public:
  // `world` must outlive the API; call it only on the world's thread.
  RestApi(World& world, RestOptions options);

  std::size_t BodyLimit(const HttpRequest& head) const override;
  core::Task<HttpResponse> Handle(HttpRequest request) override;

 private:
  bool Authorized(const HttpRequest& request) const;

  RestOptions options_;
  Router router_;
  QueueRoutes queues_;
  D1Routes d1_;
  KvRoutes kv_;
  CronRoutes cron_;
  std::unique_ptr<TimeRoutes> time_;  // With virtual time only.
  std::unique_ptr<AdminRoutes> admin_;  // With an engine or a trace tail.
};

}  // namespace cfemu::emulator
