// Probes for the engine tests that check the transition table and the seed weaknesses
// (engine-spec.md §3, §9): columns of a job row the Job struct does not carry, the events of a
// job with their data, forged messages on the engine's queue, the coordinator's grant times and
// the D1 batches by label from the trace. Everything reads D1 or the trace; nothing waits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/queues/queue_broker.h"
#include "src/engine/envelope.h"
#include "src/engine/flow_producer.h"
#include "src/engine/sql.h"
#include "emulator/testing/engine_world.h"
#include "tests/testing/queue_testing.h"

namespace cfemu::testing {

// A column of job `id` as an integer (0 when NULL, -1 when the row is missing).
inline std::int64_t ColumnOf(EngineWorld& w, const std::string& id, const std::string& column,
                             const std::string& queue = "jobs") {
  return w.QueryInt("SELECT " + column + " FROM cfq_jobs WHERE queue = '" + queue + "' AND id = '" +
                    id + "'");
}

// Whether the column of job `id` is NULL (false when the row is missing).
inline bool ColumnIsNull(EngineWorld& w, const std::string& id, const std::string& column) {
  return w.QueryInt("SELECT " + column + " IS NULL FROM cfq_jobs WHERE queue = 'jobs' AND id = '" +
                    id + "'") == 1;
}

inline bool JobExists(EngineWorld& w, const std::string& id, const std::string& queue = "jobs") {
  return w.QueryInt("SELECT count(*) FROM cfq_jobs WHERE queue = '" + queue + "' AND id = '" + id +
                    "'") == 1;
}

// The data of the last `event` of job `id` (null when there is none).
inline Json LastEvent(EngineWorld& w, const std::string& id, const std::string& event) {
  Json out;
  for (const auto& [name, data] : w.Events(id)) {
    if (name == event) out = data;
  }
  return out;
}

// The data of every `event` of job `id`, in order.
inline std::vector<Json> EventsNamed(EngineWorld& w, const std::string& id,
                                     const std::string& event) {
  std::vector<Json> out;
  for (const auto& [name, data] : w.Events(id)) {
    if (name == event) out.push_back(data);
  }
  return out;
}

// Every `event` of job `id` in queue "jobs" as (at, data), in order.
inline std::vector<std::pair<std::int64_t, Json>> EventRows(EngineWorld& w, const std::string& id,
                                                            const std::string& event) {
  platform::D1Database& db = **w.env().D1("DB");
  auto rows = w.Run(db.Prepare("SELECT at, data FROM cfq_events WHERE queue = 'jobs' AND "
                               "job_id = ? AND event = ? ORDER BY eid")
                        .Bind(id, event)
                        .All());
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::pair<std::int64_t, Json>> out;
  if (!rows.ok()) return out;
  for (const auto& row : rows->results) {
    out.emplace_back(engine::sql::Int(row.values[0]), engine::sql::JsonOf(row.values[1]));
  }
  return out;
}

// The time of the last `event` of job `id` (-1 when there is none).
inline std::int64_t EventTime(EngineWorld& w, const std::string& id, const std::string& event) {
  return w.QueryInt(
      "SELECT coalesce(max(at), -1) FROM cfq_events WHERE queue = 'jobs' AND "
      "job_id = '" +
      id + "' AND event = '" + event + "'");
}

inline int CountOf(const std::vector<std::string>& names, const std::string& name) {
  return static_cast<int>(std::count(names.begin(), names.end(), name));
}

// Sends `body` on the engine's producer binding, as a foreign producer (or a forger) would.
inline void SendRaw(EngineWorld& w, platform::Body body, int delay_seconds = 0) {
  platform::QueueProducer* producer = *w.env().Queue("JOBS");
  const platform::SendOptions options = platform::SendOptions::Delay(delay_seconds);
  auto sent = w.Run(producer->Send(std::move(body), options));
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
}

// Sends an engine envelope for job `id` of queue "jobs" at generation `gen`.
inline void SendEnvelope(EngineWorld& w, const std::string& id, std::int64_t gen, std::int64_t at,
                         int delay_seconds = 0) {
  engine::Envelope envelope;
  envelope.queue = "jobs";
  envelope.id = id;
  envelope.gen = gen;
  envelope.at = at;
  SendRaw(w, platform::Body(engine::EncodeEnvelope(envelope)), delay_seconds);
}

// Grant times of the coordinators (trace `engine.admit` with outcome granted); the trace must
// keep its lines.
inline std::vector<std::int64_t> GrantTimes(EngineWorld& w) {
  std::vector<std::int64_t> out;
  for (const std::string& line : TraceLines(w.sim(), "engine.admit")) {
    const Json event = Json::parse(line);
    if (event.value("outcome", "") == "granted") out.push_back(event["t"].get<std::int64_t>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The most times in any window [t, t + width).
inline int MaxInWindow(const std::vector<std::int64_t>& times, std::int64_t width) {
  int best = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    int n = 0;
    for (std::size_t j = i; j < times.size() && times[j] < times[i] + width; ++j) ++n;
    best = std::max(best, n);
  }
  return best;
}

// D1 batches by label prefix (the part before ':'), from the trace (which must keep lines).
inline std::map<std::string, int> BatchesByLabel(EngineWorld& w) {
  std::map<std::string, int> out;
  for (const std::string& line : TraceLines(w.sim(), "d1.batch")) {
    std::string label = Json::parse(line).value("label", "");
    ++out[label.substr(0, label.find(':'))];
  }
  return out;
}

// Labels of the D1 batches traced at or after `since_ms`.
inline std::vector<std::string> BatchLabelsSince(EngineWorld& w, std::int64_t since_ms) {
  std::vector<std::string> out;
  for (const std::string& line : TraceLines(w.sim(), "d1.batch")) {
    const Json event = Json::parse(line);
    if (event["t"].get<std::int64_t>() >= since_ms) out.push_back(event.value("label", ""));
  }
  return out;
}

// Every D1 call (batches and single statements) in the trace so far.
inline int D1Calls(EngineWorld& w) {
  return static_cast<int>(TraceLines(w.sim(), "d1.batch").size() +
                          TraceLines(w.sim(), "d1.query").size());
}

// The broker's counters of a Cloudflare queue of the world.
inline const emulator::QueueStats& StatsOf(EngineWorld& w, const std::string& queue) {
  static const emulator::QueueStats kNone;
  const emulator::QueueBroker* broker = w.world().queues().Find(queue);
  EXPECT_NE(broker, nullptr) << queue;
  return broker != nullptr ? broker->stats() : kNone;
}

inline engine::JobNode AddFlow(EngineWorld& w, engine::FlowJob tree) {
  auto producer = w.engine().GetFlowProducer();
  auto node = w.Run(producer.Add(std::move(tree)));
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? *node : engine::JobNode();
}

inline engine::FlowJob Leaf(std::string name, JobOptions options = JobOptions()) {
  return engine::FlowJob(std::move(name), "jobs", Json::object(), std::move(options));
}

// A plan where `fault` always fires inside [epoch + from, epoch + until) of virtual time.
inline emulator::FaultPlan Window(emulator::Fault fault, Duration from, Duration until,
                                  emulator::FaultPlan plan = emulator::FaultPlan()) {
  emulator::FaultRule rule;
  rule.probability = 1.0;
  rule.windows.push_back({core::kVirtualEpoch + from, core::kVirtualEpoch + until});
  plan.Set(fault, rule);
  return plan;
}

// `fault` fires at `probability` during the first `span` of virtual time.
inline void Sometimes(emulator::FaultPlan& plan, emulator::Fault fault, double probability,
                      Duration span) {
  emulator::FaultRule rule;
  rule.probability = probability;
  rule.windows.push_back({core::kVirtualEpoch, core::kVirtualEpoch + span});
  plan.Set(fault, rule);
}

// Completes, except that "flaky" fails its first attempt and names starting with "fail" fail
// for good.
inline Task<Result<Json>> ByName(JobContext& ctx) {
  const std::string& name = ctx.job().name;
  if (name == "flaky" && ctx.job().attempts_made == 0) co_return Status::Unknown("flaky");
  if (name.rfind("fail", 0) == 0) co_return Status::Unrecoverable("child failed");
  co_return Json{{"ok", true}};
}

}  // namespace cfemu::testing
