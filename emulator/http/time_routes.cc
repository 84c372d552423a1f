#include "emulator/http/time_routes.h"

#include "emulator/http/json_fields.h"

namespace cfemu::emulator {

namespace {

constexpr int kInvalid = 10001;  // cfemu's own API: one code for a bad request.
constexpr std::int64_t kMaxAdvanceMs = 10LL * 366 * 24 * 3600 * 1000;  // Ten years at once.

}  // namespace

void TimeRoutes::AddTo(Router& router) {
  router.Add("GET", "/admin/v1/time", 1024,
             [this](const HttpRequest&, const RouteParams&) -> core::Task<HttpResponse> {
               co_return Now();
             });
  router.Add("POST", "/admin/v1/time/advance", 1024,
             [this](const HttpRequest& r, const RouteParams&) -> core::Task<HttpResponse> {
               co_return Advance(r);
             });
  router.Add("POST", "/admin/v1/time/run-until-idle", 1024,
             [this](const HttpRequest& r, const RouteParams&) { return RunUntilIdle(r); });
}

Json TimeRoutes::NowJson() const {
  const core::Instant now = runtime_.clock().Now();
  return Json{{"now_ms", now.unix_ms()}, {"now", now.ToRfc3339()}};
}

HttpResponse TimeRoutes::Now() const { return Success(NowJson()); }

HttpResponse TimeRoutes::Advance(const HttpRequest& request) {
  auto body = ParseJsonBody(request, {kInvalid, kInvalid});
  if (!body.ok()) return FailureFrom(body.status(), kInvalid);
  auto by = IntField(*body, "ms", 0, kMaxAdvanceMs, kInvalid);
  auto to = IntField(*body, "to_ms", 0, core::Instant::Max().unix_ms(), kInvalid);
  if (!by.ok()) return FailureFrom(by.status(), kInvalid);
  if (!to.ok()) return FailureFrom(to.status(), kInvalid);
  if (static_cast<bool>(*by) == static_cast<bool>(*to)) {
    return Failure(400, kInvalid, "give either ms (how far to advance) or to_ms (where to)");
  }
  const core::Instant now = runtime_.clock().Now();
  const core::Instant target =
      *by ? now + core::Milliseconds(**by) : core::Instant::FromUnixMs(**to);
  if (target < now) return Failure(400, kInvalid, "virtual time never moves back");
  if (target - now > core::Milliseconds(kMaxAdvanceMs)) {
    return Failure(400, kInvalid, "advance at most ten years at once");
  }
  runtime_.AdvanceTo(target);
  return Now();
}

core::Task<HttpResponse> TimeRoutes::RunUntilIdle(const HttpRequest& request) {
  auto body = ParseJsonBody(request, {kInvalid, kInvalid});
  if (!body.ok()) co_return FailureFrom(body.status(), kInvalid);
  auto max = IntField(*body, "max_ms", 1, kMaxAdvanceMs, kInvalid);
  if (!max.ok()) co_return FailureFrom(max.status(), kInvalid);
  const core::Status run =
      co_await runtime_.RunUntilIdle(core::Milliseconds(max->value_or(24LL * 3600 * 1000)));
  if (!run.ok() && run.code() != core::Code::kTimeout) co_return FailureFrom(run, kInvalid);
  Json result = NowJson();
  result["idle"] = run.ok();
  if (!run.ok()) result["reason"] = run.message();
  co_return Success(std::move(result));
}

}  // namespace cfemu::emulator
