// The engine admin API of `cfemu serve` (issue 6): JSON over the job engine, in the v4 envelope,
// under /admin/v1 (the token, when set, is required as on /client/v4). Every call is the
// engine's public API (src/engine/queue.h); names in bodies and job JSON use BullMQ's spelling.
//
//   GET    /admin/v1/queues                          [{name, paused, counts}]
//   GET    /admin/v1/queues/{q}                      {name, paused, counts, metrics}
//   PUT    /admin/v1/queues/{q}                      body: queue config (engine-spec §5)
//   GET    /admin/v1/queues/{q}/metrics?type=completed|failed&start=&end=
//   POST   /admin/v1/queues/{q}/pause | /resume      {paused}
//   POST   /admin/v1/queues/{q}/drain                {delayed}
//   POST   /admin/v1/queues/{q}/clean                {grace_ms, limit, state} -> {removed: [ids]}
//   POST   /admin/v1/queues/{q}/retry-jobs           {state, count, timestamp} -> {retried}
//   POST   /admin/v1/queues/{q}/promote-jobs         {count} -> {promoted}
//   POST   /admin/v1/queues/{q}/obliterate           {force}
//   GET    /admin/v1/queues/{q}/jobs?state=a,b&start=&end=&asc=&cursor=&name=&id_prefix=&search=
//   POST   /admin/v1/queues/{q}/jobs                 {name, data, opts} or {jobs: [...]}
//   GET    /admin/v1/queues/{q}/jobs/{id}            {job, logs, events, dependencies}
//   DELETE /admin/v1/queues/{q}/jobs/{id}?force=&children=   {removed}
//   POST   /admin/v1/queues/{q}/jobs/{id}/retry      {reset_attempts}
//   POST   /admin/v1/queues/{q}/jobs/{id}/promote    {promoted}
//   GET    /admin/v1/queues/{q}/schedulers           [scheduler]
//   GET|PUT|DELETE /admin/v1/queues/{q}/schedulers/{id}   PUT body: {repeat, template}
//   GET    /admin/v1/queues/{q}/dead-letters?start=&end=
//   POST   /admin/v1/queues/{q}/dead-letters/redrive {ids | all, reset_attempts} -> {redriven}
//   GET    /admin/v1/trace?after=&limit=             {events, last, dropped}
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "emulator/http/router.h"
#include "src/core/trace.h"
#include "src/engine/engine.h"

namespace cfemu::emulator {

// The newest trace lines of the running world, numbered from 1, for GET /admin/v1/trace.
class TraceTail {
 public:
  // Keeps at most `capacity` lines; observes `sink` (which must outlive the tail).
  TraceTail(core::TraceSink& sink, std::size_t capacity);
  // Lines numbered after `after`, at most `limit`; `dropped` when some were already evicted.
  Json After(std::int64_t after, std::int64_t limit) const;

 private:
  std::size_t capacity_;
  std::int64_t last_ = 0;  // Number of the newest line.
  std::deque<std::string> lines_;
};

class AdminRoutes {
 public:
  // The queue routes with an engine, the trace route with a tail; both must outlive the routes
  // and the router.
  AdminRoutes(engine::Engine* engine, const TraceTail* tail) : engine_(engine), tail_(tail) {}
  void AddTo(Router& router);

 private:
  using Params = RouteParams;
  core::Task<HttpResponse> ListQueues();
  core::Task<HttpResponse> GetQueue(const Params& p);
  core::Task<HttpResponse> PutQueue(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> Metrics(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> Pause(const Params& p, bool pause);
  core::Task<HttpResponse> QueueAction(const HttpRequest& r, const Params& p,
                                       const std::string& action);
  core::Task<HttpResponse> ListJobs(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> AddJobs(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> GetJob(const Params& p);
  core::Task<HttpResponse> RemoveJob(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> JobAction(const HttpRequest& r, const Params& p,
                                     const std::string& action);
  core::Task<HttpResponse> Schedulers(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> Scheduler(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> DeadLetters(const HttpRequest& r, const Params& p);
  core::Task<HttpResponse> Redrive(const HttpRequest& r, const Params& p);
  HttpResponse Trace(const HttpRequest& r) const;

  engine::Engine* engine_;
  const TraceTail* tail_;
};

}  // namespace cfemu::emulator
