// Virtual-time control for `serve --virtual-time` (issue 6, admin API): with the World on the
// manual-virtual-time runtime, the clock of every service (queue delays and leases, KV expiry,
// alarms, cron) moves only through these calls, so a test in any language controls time.
//   GET  /admin/v1/time          -> {"now_ms", "now"}
//   POST /admin/v1/time/advance  {"ms": n} or {"to_ms": t} -> {"now_ms", "now"}
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
  HttpResponse Now() const;
  HttpResponse Advance(const HttpRequest& request);

  ManualTimeRuntime& runtime_;
};

}  // namespace cfemu::emulator
