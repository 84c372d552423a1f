#include "emulator/http/admin_routes.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "emulator/harness/scenario.h"
#include "emulator/http/json_fields.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using core::Task;

namespace {

constexpr int kInvalid = 10001;  // cfemu's own API: one code for a bad request.
constexpr JsonCodes kCodes{kInvalid, kInvalid};
constexpr std::size_t kSmallBody = 64 * 1024;
constexpr std::size_t kAddBody = 16 * 1024 * 1024;  // A bulk add of many jobs.
constexpr std::int64_t kMaxIndex = std::numeric_limits<std::int64_t>::max() / 4;
constexpr std::int64_t kDefaultPage = 100;

#define CFEMU_CO_ASSIGN_OR_RESPOND(lhs, expr)                                    \
  auto lhs##_result = (expr);                                                    \
  if (!lhs##_result.ok()) co_return FailureFrom(lhs##_result.status(), kInvalid); \
  auto lhs = std::move(*lhs##_result)

#define CFEMU_CO_RESPOND_IF_ERROR(expr)                                 \
  do {                                                                  \
    const Status status_ = (expr);                                      \
    if (!status_.ok()) co_return FailureFrom(status_, kInvalid);        \
  } while (false)

template <class T>
Json Opt(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json JobJson(const engine::Job& j) {
  Json out = {{"id", j.id},
              {"queue", j.queue_name},
              {"name", j.name},
              {"data", j.data},
              {"opts", j.opts},
              {"state", engine::JobStateName(j.state)},
              {"progress", j.progress},
              {"returnvalue", j.returnvalue},
              {"failedReason", j.failed_reason},
              {"stacktrace", j.stacktrace},
              {"attemptsMade", j.attempts_made},
              {"attemptsStarted", j.attempts_started},
              {"stalledCounter", j.stalled_counter},
              {"priority", j.priority},
              {"timestamp", j.timestamp},
              {"delay", j.delay},
              {"availableAt", j.available_at},
              {"processedOn", Opt(j.processed_on)},
              {"finishedOn", Opt(j.finished_on)},
              {"gen", j.gen},
              {"epoch", j.epoch},
              {"groupKey", Opt(j.group_key)},
              {"deduplicationId", Opt(j.dedup_id)},
              {"repeatJobKey", Opt(j.scheduler_id)},
              {"deadLettered", j.dead_lettered},
              {"parent", nullptr}};
  if (j.parent) out["parent"] = {{"queue", j.parent->queue}, {"id", j.parent->id}};
  return out;
}

Json SchedulerJson(const engine::SchedulerInfo& s) {
  return {{"id", s.id},
          {"name", s.job_name},
          {"pattern", Opt(s.pattern)},
          {"every", Opt(s.every_ms)},
          {"next", Opt(s.next_run_at)},
          {"lastRun", Opt(s.last_run_at)},
          {"iterationCount", s.iteration_count},
          {"limit", Opt(s.limit)},
          {"missedCount", s.missed_count}};
}

Json DeadLetterJson(const engine::DeadLetter& d) {
  return {{"id", d.id},         {"queue", Opt(d.queue)},
          {"job_id", Opt(d.job_id)}, {"source", d.source},
          {"cf_message_id", d.cf_message_id}, {"cf_attempts", d.cf_attempts},
          {"body", d.body},     {"reason", d.reason},
          {"outcome", d.outcome}, {"at", d.at}};
}

Json MetricsJson(const engine::Metrics& m) {
  return {{"count", m.count}, {"prev_ts", m.prev_ts}, {"prev_count", m.prev_count},
          {"data", m.data}};
}

// "true"/"false" (or absent: `fallback`) from the query string.
Result<bool> QueryBool(const std::map<std::string, std::string, std::less<>>& query,
                       std::string_view name, bool fallback) {
  const auto it = query.find(name);
  if (it == query.end() || it->second.empty()) return fallback;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  return Status::InvalidArgument(std::string(name) + " must be true or false", kInvalid);
}

Result<engine::JobState> StateField(const Json& body, engine::JobState fallback) {
  auto name = StringField(body, "state", kInvalid);
  if (!name.ok()) return name.status();
  if (!*name) return fallback;
  const auto state = engine::ParseJobState(**name);
  if (!state) return Status::InvalidArgument("unknown job state '" + **name + "'", kInvalid);
  return *state;
}

// One job of an add: {name, data, opts}.
Result<engine::BulkJob> BulkJobOf(const Json& item) {
  if (!item.is_object()) return Status::InvalidArgument("a job must be an object", kInvalid);
  auto name = StringField(item, "name", kInvalid);
  if (!name.ok()) return name.status();
  if (!*name || (*name)->empty()) {
    return Status::InvalidArgument("name is required (a non-empty string)", kInvalid);
  }
  const auto data = item.find("data");
  engine::JobOptions options;
  if (const auto opts = item.find("opts"); opts != item.end() && !opts->is_null()) {
    auto parsed = engine::JobOptionsFromJson(*opts);
    if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message(), kInvalid);
    options = std::move(*parsed);
  }
  return engine::BulkJob(**name, data == item.end() ? Json::object() : *data, options);
}

Task<Result<Json>> QueueSummary(engine::Queue queue) {
  auto counts = co_await queue.GetJobCounts();
  if (!counts.ok()) co_return counts.status();
  auto paused = co_await queue.IsPaused();
  if (!paused.ok()) co_return paused.status();
  co_return Json{{"name", queue.name()}, {"paused", *paused}, {"counts", *counts}};
}

}  // namespace

// ---- Trace tail --------------------------------------------------------------------------

TraceTail::TraceTail(core::TraceSink& sink, std::size_t capacity) : capacity_(capacity) {
  sink.AddObserver([this](const core::TraceRecord& record) {
    lines_.push_back(record.line);
    ++last_;
    if (lines_.size() > capacity_) lines_.pop_front();
  });
}

Json TraceTail::After(std::int64_t after, std::int64_t limit) const {
  const std::int64_t first = last_ - static_cast<std::int64_t>(lines_.size()) + 1;
  const std::int64_t from = std::max(after + 1, first);
  Json events = Json::array();
  for (std::int64_t n = from; n <= last_ && n < from + limit; ++n) {
    events.push_back(Json::parse(lines_[static_cast<std::size_t>(n - first)]));
  }
  const auto count = static_cast<std::int64_t>(events.size());
  return {{"events", std::move(events)},
          {"last", count > 0 ? from + count - 1 : std::max(after, first - 1)},
          {"dropped", after + 1 < first}};
}

// ---- Routes ------------------------------------------------------------------------------

void AdminRoutes::AddTo(Router& router) {
  if (tail_ != nullptr) {
    router.Add("GET", "/admin/v1/trace", kSmallBody,
               SyncRoute([this](const HttpRequest& r, const Params&) { return Trace(r); }));
  }
  if (engine_ == nullptr) return;
  const std::string queues = "/admin/v1/queues";
  const std::string queue = queues + "/{queue}";
  const std::string job = queue + "/jobs/{id:any}";
  const std::string scheduler = queue + "/schedulers/{id:any}";
  router.Add("GET", queues, kSmallBody,
             [this](const HttpRequest&, const Params&) { return ListQueues(); });
  router.Add("GET", queue, kSmallBody,
             [this](const HttpRequest&, const Params& p) { return GetQueue(p); });
  router.Add("PUT", queue, kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return PutQueue(r, p); });
  router.Add("GET", queue + "/metrics", kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return Metrics(r, p); });
  router.Add("POST", queue + "/pause", kSmallBody,
             [this](const HttpRequest&, const Params& p) { return Pause(p, true); });
  router.Add("POST", queue + "/resume", kSmallBody,
             [this](const HttpRequest&, const Params& p) { return Pause(p, false); });
  for (const std::string action : {"drain", "clean", "retry-jobs", "promote-jobs", "obliterate"}) {
    router.Add("POST", queue + "/" + action, kSmallBody,
               [this, action](const HttpRequest& r, const Params& p) {
                 return QueueAction(r, p, action);
               });
  }
  router.Add("GET", queue + "/jobs", kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return ListJobs(r, p); });
  router.Add("POST", queue + "/jobs", kAddBody,
             [this](const HttpRequest& r, const Params& p) { return AddJobs(r, p); });
  router.Add("GET", job, kSmallBody,
             [this](const HttpRequest&, const Params& p) { return GetJob(p); });
  router.Add("DELETE", job, kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return RemoveJob(r, p); });
  for (const std::string action : {"retry", "promote"}) {
    router.Add("POST", job + "/" + action, kSmallBody,
               [this, action](const HttpRequest& r, const Params& p) {
                 return JobAction(r, p, action);
               });
  }
  router.Add("GET", queue + "/schedulers", kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return Schedulers(r, p); });
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    router.Add(method, scheduler, kSmallBody,
               [this](const HttpRequest& r, const Params& p) { return Scheduler(r, p); });
  }
  router.Add("GET", queue + "/dead-letters", kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return DeadLetters(r, p); });
  router.Add("POST", queue + "/dead-letters/redrive", kSmallBody,
             [this](const HttpRequest& r, const Params& p) { return Redrive(r, p); });
}

Task<HttpResponse> AdminRoutes::ListQueues() {
  CFEMU_CO_ASSIGN_OR_RESPOND(names, co_await engine_->ListQueues());
  Json out = Json::array();
  for (const std::string& name : names) {
    CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(name));
    CFEMU_CO_ASSIGN_OR_RESPOND(summary, co_await QueueSummary(queue));
    out.push_back(std::move(summary));
  }
  co_return Success(std::move(out));
}

Task<HttpResponse> AdminRoutes::GetQueue(const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  CFEMU_CO_ASSIGN_OR_RESPOND(summary, co_await QueueSummary(queue));
  Json metrics = Json::object();
  for (const auto& [name, kind] :
       {std::pair{"completed", engine::MetricKind::kCompleted},
        std::pair{"failed", engine::MetricKind::kFailed}}) {
    CFEMU_CO_ASSIGN_OR_RESPOND(m, co_await queue.GetMetrics(kind, 0, 59));
    metrics[name] = MetricsJson(m);
  }
  summary["metrics"] = std::move(metrics);
  co_return Success(std::move(summary));
}

Task<HttpResponse> AdminRoutes::PutQueue(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
  auto config = engine::QueueConfigFromJson(body);
  if (!config.ok()) co_return Failure(400, kInvalid, config.status().message());
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, co_await engine_->OpenQueue(p.at("queue"), *config));
  CFEMU_CO_ASSIGN_OR_RESPOND(summary, co_await QueueSummary(queue));
  summary["config"] = engine::QueueConfigToJson(*config);
  co_return Success(std::move(summary));
}

Task<HttpResponse> AdminRoutes::Metrics(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const auto query = r.query();
  const auto type = query.find("type");
  const std::string kind = type == query.end() ? "completed" : type->second;
  if (kind != "completed" && kind != "failed") {
    co_return Failure(400, kInvalid, "type must be completed or failed");
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(start, QueryInt(query, kInvalid, "start", 0, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(end, QueryInt(query, kInvalid, "end", -1, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(
      m, co_await queue.GetMetrics(
             kind == "completed" ? engine::MetricKind::kCompleted : engine::MetricKind::kFailed,
             start.value_or(0), end.value_or(-1)));
  co_return Success(MetricsJson(m));
}

Task<HttpResponse> AdminRoutes::Pause(const Params& p, bool pause) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  if (pause) {
    CFEMU_CO_RESPOND_IF_ERROR(co_await queue.Pause());
  } else {
    CFEMU_CO_RESPOND_IF_ERROR(co_await queue.Resume());
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(paused, co_await queue.IsPaused());
  co_return Success(Json{{"paused", paused}});
}

Task<HttpResponse> AdminRoutes::QueueAction(const HttpRequest& r, const Params& p,
                                            const std::string& action) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
  if (action == "drain") {
    CFEMU_CO_ASSIGN_OR_RESPOND(delayed, BoolField(body, "delayed", kInvalid));
    CFEMU_CO_RESPOND_IF_ERROR(co_await queue.Drain(delayed.value_or(false)));
    co_return Success(Json::object());
  }
  if (action == "obliterate") {
    engine::ObliterateOptions options;
    CFEMU_CO_ASSIGN_OR_RESPOND(force, BoolField(body, "force", kInvalid));
    options.force = force.value_or(false);
    CFEMU_CO_RESPOND_IF_ERROR(co_await queue.Obliterate(options));
    co_return Success(Json::object());
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(count, IntField(body, "count", 1, 100'000, kInvalid));
  if (action == "promote-jobs") {
    CFEMU_CO_ASSIGN_OR_RESPOND(promoted, co_await queue.PromoteJobs(count.value_or(1000)));
    co_return Success(Json{{"promoted", promoted}});
  }
  if (action == "retry-jobs") {
    engine::RetryJobsOptions options;
    CFEMU_CO_ASSIGN_OR_RESPOND(state, StateField(body, engine::JobState::kFailed));
    CFEMU_CO_ASSIGN_OR_RESPOND(timestamp, IntField(body, "timestamp", 0, kMaxIndex, kInvalid));
    options.state = state;
    options.count = count.value_or(options.count);
    options.timestamp = timestamp;
    CFEMU_CO_ASSIGN_OR_RESPOND(retried, co_await queue.RetryJobs(options));
    co_return Success(Json{{"retried", retried}});
  }
  // clean
  CFEMU_CO_ASSIGN_OR_RESPOND(grace, IntField(body, "grace_ms", 0, kMaxIndex, kInvalid));
  CFEMU_CO_ASSIGN_OR_RESPOND(limit, IntField(body, "limit", 1, 100'000, kInvalid));
  CFEMU_CO_ASSIGN_OR_RESPOND(state, StateField(body, engine::JobState::kCompleted));
  CFEMU_CO_ASSIGN_OR_RESPOND(
      removed, co_await queue.Clean(grace.value_or(0), limit.value_or(1000), state));
  co_return Success(Json{{"removed", removed}});
}

Task<HttpResponse> AdminRoutes::ListJobs(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const auto query = r.query();
  engine::JobQuery q;
  if (const auto it = query.find("state"); it != query.end() && !it->second.empty()) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const std::string_view name = rest.substr(0, rest.find(','));
      rest.remove_prefix(std::min(rest.size(), name.size() + 1));
      const auto state = engine::ParseJobState(name);
      if (!state) co_return Failure(400, kInvalid, "unknown job state '" + std::string(name) + "'");
      q.types.push_back(*state);
    }
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(start, QueryInt(query, kInvalid, "start", 0, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(end, QueryInt(query, kInvalid, "end", -1, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(asc, QueryBool(query, "asc", false));
  q.start = start.value_or(0);
  q.end = end.value_or(q.start + kDefaultPage - 1);
  if (q.end >= 0 && q.end < q.start) co_return Failure(400, kInvalid, "end is before start");
  q.asc = asc;
  for (auto [key, field] : {std::pair{"cursor", &q.cursor}, std::pair{"name", &q.name},
                            std::pair{"id_prefix", &q.id_prefix},
                            std::pair{"search", &q.data_contains}}) {
    if (const auto it = query.find(key); it != query.end() && !it->second.empty()) {
      *field = it->second;
    }
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(page, co_await queue.GetJobs(q));
  Json jobs = Json::array();
  for (const engine::Job& job : page.jobs) jobs.push_back(JobJson(job));
  const auto count = static_cast<std::int64_t>(jobs.size());
  co_return Success(std::move(jobs), Json{{"start", q.start},
                                          {"count", count},
                                          {"cursor", Opt(page.next_cursor)},
                                          {"truncated", page.truncated}});
}

Task<HttpResponse> AdminRoutes::AddJobs(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
  if (!body.contains("jobs")) {
    CFEMU_CO_ASSIGN_OR_RESPOND(one, BulkJobOf(body));
    CFEMU_CO_ASSIGN_OR_RESPOND(job, co_await queue.Add(one.name, one.data, one.options));
    Json out = JobJson(job);
    out["isNew"] = job.is_new;
    co_return Success(std::move(out));
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(items, ArrayField(body, "jobs", kInvalid));
  if (items.empty() || items.size() > 10'000) {
    co_return Failure(400, kInvalid, "jobs must hold 1 to 10,000 jobs");
  }
  std::vector<engine::BulkJob> bulk;
  for (const Json& item : items) {
    CFEMU_CO_ASSIGN_OR_RESPOND(one, BulkJobOf(item));
    bulk.push_back(std::move(one));
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(jobs, co_await queue.AddBulk(std::move(bulk)));
  Json out = Json::array();
  for (const engine::Job& job : jobs) {
    out.push_back(JobJson(job));
    out.back()["isNew"] = job.is_new;
  }
  co_return Success(std::move(out));
}

Task<HttpResponse> AdminRoutes::GetJob(const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const std::string& id = p.at("id");
  CFEMU_CO_ASSIGN_OR_RESPOND(job, co_await queue.GetJob(id));
  if (!job) co_return Failure(404, kInvalid, "job " + queue.name() + ":" + id + " does not exist");
  CFEMU_CO_ASSIGN_OR_RESPOND(logs, co_await queue.GetLogs(id, 0, 999));
  CFEMU_CO_ASSIGN_OR_RESPOND(events, co_await engine::GetJobEvents(queue, id));
  CFEMU_CO_ASSIGN_OR_RESPOND(deps, co_await queue.GetDependencies(id));
  Json event_list = Json::array();
  for (const engine::QueueEvent& e : events) {
    event_list.push_back({{"id", e.id}, {"event", e.event}, {"at", e.at}, {"data", e.data}});
  }
  co_return Success(Json{{"job", JobJson(*job)},
                         {"logs", {{"count", logs.count}, {"logs", logs.logs}}},
                         {"events", std::move(event_list)},
                         {"dependencies",
                          {{"processed", deps.processed},
                           {"unprocessed", deps.unprocessed},
                           {"failed", deps.failed},
                           {"ignored", deps.ignored}}}});
}

Task<HttpResponse> AdminRoutes::RemoveJob(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const auto query = r.query();
  CFEMU_CO_ASSIGN_OR_RESPOND(force, QueryBool(query, "force", false));
  CFEMU_CO_ASSIGN_OR_RESPOND(children, QueryBool(query, "children", true));
  CFEMU_CO_ASSIGN_OR_RESPOND(
      removed, co_await queue.Remove(p.at("id"), engine::RemoveOptions(children, force)));
  co_return Success(Json{{"removed", removed}});
}

Task<HttpResponse> AdminRoutes::JobAction(const HttpRequest& r, const Params& p,
                                          const std::string& action) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
  const std::string& id = p.at("id");
  if (action == "promote") {
    CFEMU_CO_ASSIGN_OR_RESPOND(promoted, co_await queue.Promote(id));
    co_return Success(Json{{"promoted", promoted}});
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(reset, BoolField(body, "reset_attempts", kInvalid));
  CFEMU_CO_RESPOND_IF_ERROR(
      co_await queue.RetryJob(id, engine::RetryOptions(reset.value_or(true))));
  CFEMU_CO_ASSIGN_OR_RESPOND(job, co_await queue.GetJob(id));
  co_return Success(job ? JobJson(*job) : Json(nullptr));
}

Task<HttpResponse> AdminRoutes::Schedulers(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const auto query = r.query();
  CFEMU_CO_ASSIGN_OR_RESPOND(start, QueryInt(query, kInvalid, "start", 0, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(end, QueryInt(query, kInvalid, "end", -1, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(asc, QueryBool(query, "asc", true));
  CFEMU_CO_ASSIGN_OR_RESPOND(
      list, co_await queue.GetJobSchedulers(start.value_or(0), end.value_or(-1), asc));
  Json out = Json::array();
  for (const engine::SchedulerInfo& s : list) out.push_back(SchedulerJson(s));
  co_return Success(std::move(out));
}

Task<HttpResponse> AdminRoutes::Scheduler(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const std::string& id = p.at("id");
  if (r.method == "DELETE") {
    CFEMU_CO_ASSIGN_OR_RESPOND(removed, co_await queue.RemoveJobScheduler(id));
    co_return Success(Json{{"removed", removed}});
  }
  if (r.method == "PUT") {
    CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
    auto spec = ParseSchedulerSpec(body, "body");
    if (!spec.ok()) co_return Failure(400, kInvalid, spec.status().message());
    CFEMU_CO_ASSIGN_OR_RESPOND(
        next, co_await queue.UpsertJobScheduler(id, spec->repeat, spec->job_template));
    CFEMU_CO_ASSIGN_OR_RESPOND(info, co_await queue.GetJobScheduler(id));
    co_return Success(Json{{"scheduler", info ? SchedulerJson(*info) : Json(nullptr)},
                           {"next_job", next ? JobJson(*next) : Json(nullptr)}});
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(info, co_await queue.GetJobScheduler(id));
  if (!info) co_return Failure(404, kInvalid, "job scheduler " + id + " does not exist");
  co_return Success(SchedulerJson(*info));
}

Task<HttpResponse> AdminRoutes::DeadLetters(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  const auto query = r.query();
  CFEMU_CO_ASSIGN_OR_RESPOND(start, QueryInt(query, kInvalid, "start", 0, kMaxIndex));
  CFEMU_CO_ASSIGN_OR_RESPOND(end, QueryInt(query, kInvalid, "end", -1, kMaxIndex));
  const std::int64_t first = start.value_or(0);
  CFEMU_CO_ASSIGN_OR_RESPOND(
      list, co_await queue.GetDeadLetters(first, end.value_or(first + kDefaultPage - 1)));
  Json out = Json::array();
  for (const engine::DeadLetter& d : list) out.push_back(DeadLetterJson(d));
  co_return Success(std::move(out));
}

Task<HttpResponse> AdminRoutes::Redrive(const HttpRequest& r, const Params& p) {
  CFEMU_CO_ASSIGN_OR_RESPOND(queue, engine_->GetQueue(p.at("queue")));
  CFEMU_CO_ASSIGN_OR_RESPOND(body, ParseJsonBody(r, kCodes));
  engine::RedriveOptions options;
  CFEMU_CO_ASSIGN_OR_RESPOND(ids, ArrayField(body, "ids", kInvalid));
  CFEMU_CO_ASSIGN_OR_RESPOND(all, BoolField(body, "all", kInvalid));
  CFEMU_CO_ASSIGN_OR_RESPOND(reset, BoolField(body, "reset_attempts", kInvalid));
  for (const Json& id : ids) {
    if (!id.is_string()) co_return Failure(400, kInvalid, "ids must be job ids (strings)");
    options.ids.push_back(id.get<std::string>());
  }
  options.all = all.value_or(false);
  options.reset_attempts = reset.value_or(true);
  if (options.all == !options.ids.empty()) {
    co_return Failure(400, kInvalid, "give either ids or \"all\": true");
  }
  CFEMU_CO_ASSIGN_OR_RESPOND(redriven, co_await queue.Redrive(options));
  co_return Success(Json{{"redriven", redriven}});
}

HttpResponse AdminRoutes::Trace(const HttpRequest& r) const {
  const auto query = r.query();
  auto after = QueryInt(query, kInvalid, "after", 0, kMaxIndex);
  auto limit = QueryInt(query, kInvalid, "limit", 1, 10'000);
  if (!after.ok()) return FailureFrom(after.status(), kInvalid);
  if (!limit.ok()) return FailureFrom(limit.status(), kInvalid);
  return Success(tail_->After(after->value_or(0), limit->value_or(1000)));
}

}  // namespace cfemu::emulator
