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
  for (const char* method : {"GET", "PUT"}) {
    router.Add(method, "/client/v4/accounts/{account_id}/workers/scripts/{script_name}/schedules",
               64 * 1024, SyncRoute([this](const HttpRequest& r, const RouteParams& p) {
                 return Schedules(r, p);
               }));
  }
}

HttpResponse CronRoutes::Schedules(const HttpRequest& request, const RouteParams& params) {
  constexpr int kInvalid = 10021;  // cfemu's choice: production's code is not documented.
  constexpr int kScriptNotFound = 10007;
  const std::string& script = params.at("script_name");
  if (script != world_.spec().script_name) {
    return Failure(404, kScriptNotFound, "This Worker does not exist on your account.");
  }
  if (request.method == "PUT") {
    auto body = ParseJsonBody(request, {kInvalid, kInvalid}, /*object=*/false);
    if (!body.ok()) return FailureFrom(body.status(), kInvalid);
    if (!body->is_array()) return Failure(400, kInvalid, "expected an array of {\"cron\": ...}");
    std::vector<std::string> crons;
    for (const Json& item : *body) {
      auto cron = StringField(item, "cron", kInvalid);
      if (!item.is_object() || !cron.ok() || !*cron) {
        return Failure(400, kInvalid, "each schedule must be {\"cron\": \"<expression>\"}");
      }
      crons.push_back(**cron);
    }
    const core::Status set = world_.SetSchedules(script, std::move(crons));
    if (!set.ok()) return FailureFrom(set, kInvalid);
  }
  Json schedules = Json::array();
  for (const CronSchedule& s : world_.cron().Schedules(script)) {
    schedules.push_back({{"cron", s.cron},
                         {"created_on", s.created_on.ToRfc3339()},
                         {"modified_on", s.modified_on.ToRfc3339()}});
  }
  return Success(Json{{"schedules", std::move(schedules)}});
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
