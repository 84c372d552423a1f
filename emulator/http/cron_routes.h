// Manual cron triggers as local Cloudflare tooling exposes them (cloudflare-platform.md §5.4,
// checklist 76): GET or POST /cdn-cgi/handler/scheduled?cron=<expr>&time=<ms>&format=json, and
// its aliases /__scheduled, /cdn-cgi/mf/scheduled and /cdn-cgi/local/scheduled. The Worker's
// scheduled() handler runs once; the answer is the outcome as plain text ("ok" with 200,
// otherwise 500), or {"outcome", "noRetry"} with format=json. Like Miniflare's, these paths are
// outside /client/v4: no envelope and no token.
//
// The schedules REST (checklist 77), in the v4 envelope under /client/v4:
//   GET /client/v4/accounts/{account_id}/workers/scripts/{script_name}/schedules
//   PUT ... with a JSON array of {"cron": "..."}: replaces the Worker's crons (validated as
//   wrangler's triggers.crons are; the account limit holds).
// Both answer {"schedules": [{"cron", "created_on", "modified_on"}]}. The World runs one
// Worker: another script name answers 404 (10007, production's "workers.api.error.script_not_found").
#pragma once

#include "emulator/http/router.h"
#include "emulator/world.h"

namespace cfemu::emulator {

class CronRoutes {
 public:
  // `world` must outlive the routes and the router they are added to.
  explicit CronRoutes(World& world) : world_(world) {}
  void AddTo(Router& router);

 private:
  core::Task<HttpResponse> Trigger(const HttpRequest& request);
  HttpResponse Schedules(const HttpRequest& request, const RouteParams& params);

  World& world_;
};

}  // namespace cfemu::emulator
