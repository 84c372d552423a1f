// Virtual-time control for `serve --virtual-time` (issue 6, admin API): with the World on the
// manual-virtual-time runtime, the clock of every service (queue delays and leases, KV expiry,
// alarms, cron) moves only through these calls, so a test in any language controls time.
//   GET  /admin/v1/time          -> {"now_ms", "now"}
//   POST /admin/v1/time/advance  {"ms": n} or {"to_ms": t} -> {"now_ms", "now"}
//   POST /admin/v1/time/run-until-idle {"max_ms": n (default one day)} -> {"now_ms", "now",
//        "idle", "reason"}: moves the clock from timer to timer until every service is idle (queues with
//        push consumers empty, no alarm set, only background timers left), as the simulator's
//        RunUntilIdle; "idle": false when max_ms passed first.
// Answers use the v4 envelope; the token, when set, is required as on /client/v4.
#pragma once

#include "emulator/http/router.h"
#include "emulator/sim/manual_time.h"

namespace cfemu::emulator {

class TimeRoutes {
 public:
  // `runtime` must outlive the routes and the router they are added to.
  explicit TimeRoutes(ManualTimeRuntime& runtime) : runtime_(runtime) {}
  void AddTo(Router& router);

 private:
  Json NowJson() const;
  HttpResponse Now() const;
  HttpResponse Advance(const HttpRequest& request);
  core::Task<HttpResponse> RunUntilIdle(const HttpRequest& request);

  ManualTimeRuntime& runtime_;
};

}  // namespace cfemu::emulator
