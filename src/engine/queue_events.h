// QueueEvents (engine-spec.md §4.14): the event stream of one queue, polled from cfq_events
// (eid is AUTOINCREMENT: never reused, so "after eid N" is exact). Names are BullMQ's
// (added, waiting, delayed, active, progress, completed, failed, retries-exhausted, stalled,
// removed, waiting-children, deduplicated, duplicated, paused, resumed, drained, cleaned) and
// the engine's own, prefixed cfq: (cfq:redispatched, cfq:lease-lost, cfq:scheduler-missed,
// cfq:flow-repaired, cfq:dead-lettered, cfq:quarantined). Every job event's data carries the
// job's epoch and gen.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/queue.h"

namespace cfemu::engine {

struct QueueEvent {
  std::int64_t id = 0;  // eid.
  std::string queue;
  std::optional<std::string> job_id;
  std::string event;
  std::int64_t at = 0;
  Json data;
};

struct EventsOptions {
  EventsOptions() = default;
  // Start after this event id; unset: "$", only events after the first poll.
  std::optional<std::int64_t> after;
  std::int64_t poll_interval_ms = 1'000;
  std::int64_t batch = 100;
};

class QueueEvents {
 public:
  QueueEvents(std::shared_ptr<EngineContext> context, std::string queue,
              EventsOptions options = EventsOptions());
  // The next events (at most `batch`). When none are there yet it waits one poll interval (a
  // background timer: it keeps no simulation busy) and polls once more; it may return none.
  core::Task<core::Result<std::vector<QueueEvent>>> Next();
  std::int64_t last_id() const { return last_; }

 private:
  std::shared_ptr<EngineContext> context_;
  std::string queue_;
  EventsOptions options_;
  bool started_ = false;
  std::int64_t last_ = 0;
};

// The events of one job, oldest first, after event id `after` (at most `limit`): the admin
// API's job detail. Rows a retention removed are gone with the job's non-terminal events.
core::Task<core::Result<std::vector<QueueEvent>>> GetJobEvents(Queue& queue, std::string id,
                                                               std::int64_t after = 0,
                                                               std::int64_t limit = 1'000);

// Job::waitUntilFinished: the return value once the job completes; its failedReason (as a
// kUnknown status) once it fails; kNotFound when it disappears; kTimeout after `ttl_ms`. It
// checks the row first and re-checks it on every poll, so trimmed events cannot make it miss the
// end.
core::Task<core::Result<Json>> WaitUntilFinished(Queue& queue, QueueEvents& events, std::string id,
                                                 std::optional<std::int64_t> ttl_ms = {});

}  // namespace cfemu::engine
