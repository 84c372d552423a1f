#include "emulator/http/cron_routes.h"

#include <string>

#include "emulator/http/json_fields.h"

namespace cfemu::emulator {

namespace {

HttpResponse Text(int status, std::string text) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain;charset=UTF-8";
  response.body = std::move(text);
  return response;
}

}  // namespace

void CronRoutes::AddTo(Router& router) {
  for (const char* path : {"/cdn-cgi/handler/scheduled", "/__scheduled", "/cdn-cgi/mf/scheduled",
                           "/cdn-cgi/local/scheduled"}) {
    for (const char* method : {"GET", "POST"}) {
      router.Add(method, path, 1024,
                 [this](const HttpRequest& r, const RouteParams&) { return Trigger(r); });
    }
  }
}

core::Task<HttpResponse> CronRoutes::Trigger(const HttpRequest& request) {
  const auto query = request.query();
  const auto cron = query.find("cron");
  std::optional<core::Instant> scheduled_time;
  if (const auto time = query.find("time"); time != query.end() && !time->second.empty()) {
    Json parsed = Json::parse(time->second, nullptr, false);
    auto ms = IntField(Json{{"time", parsed}}, "time", 0, core::Instant::Max().unix_ms(), 0);
    if (!ms.ok() || !*ms) co_return Text(400, "time must be milliseconds since the epoch");
    scheduled_time = core::Instant::FromUnixMs(**ms);
  }
  const auto format = query.find("format");
  const bool json = format != query.end() && format->second == "json";
  // A named argument: GCC 12 frees a temporary made inside a co_await expression twice.
  std::string expression = cron == query.end() ? "* * * * *" : cron->second;
  auto run = co_await world_.cron().Trigger(std::move(expression), scheduled_time);
  if (!run.ok()) co_return Text(HttpStatusFor(run.code()), run.status().message());
  const std::string outcome(ScheduledOutcomeName(run->outcome));
  const int status = run->outcome == ScheduledOutcome::kOk ? 200 : 500;
  if (!json) co_return Text(status, outcome);
  co_return JsonResponse(status, Json{{"outcome", outcome}, {"noRetry", run->no_retry}});
}

}  // namespace cfemu::emulator
