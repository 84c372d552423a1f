#include "src/engine/invariants.h"

#include <algorithm>

#include "src/engine/coordinator/coordinator.h"
#include "src/engine/envelope.h"
#include "src/engine/job_row.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

namespace {

constexpr std::size_t kMaxDetails = 5;

std::string Str(const core::TraceRecord& record, std::string_view key) {
  const core::TraceValue* value = record.Find(key);
  if (value == nullptr) return std::string();
  if (const auto* s = std::get_if<std::string>(value)) return *s;
  return std::string();
}

std::int64_t Int(const core::TraceRecord& record, std::string_view key) {
  const core::TraceValue* value = record.Find(key);
  if (value == nullptr) return 0;
  if (const auto* n = std::get_if<std::int64_t>(value)) return *n;
  return 0;
}

bool Bool(const core::TraceRecord& record, std::string_view key) {
  const core::TraceValue* value = record.Find(key);
  const auto* b = value == nullptr ? nullptr : std::get_if<bool>(value);
  return b != nullptr && *b;
}

std::string KeyOf(const core::TraceRecord& record) {
  return Str(record, "queue") + ":" + Str(record, "job");
}

}  // namespace

void InvariantChecker::Violation(const std::string& id, std::string detail) {
  auto& list = online_[id];
  if (list.size() < kMaxDetails) list.push_back(std::move(detail));
}

void InvariantChecker::Observe(const core::TraceRecord& record) {
  const std::string_view ev = record.ev;
  if (ev.substr(0, 7) != "engine.") return;
  if (ev == "engine.claimed") {
    OnClaim(record);
  } else if (ev == "engine.run") {
    OnRun(record);
  } else if (ev == "engine.finished") {
    OnFinished(record);
  } else if (ev == "engine.admit") {
    OnAdmit(record);
  } else if (ev == "engine.sent") {
    OnGen(record);
    if (Int(record, "bytes") > static_cast<std::int64_t>(kMaxEnvelopeBytes)) {
      Violation("INV-15",
                KeyOf(record) + " envelope of " + std::to_string(Int(record, "bytes")) + " bytes");
    }
  } else if (ev == "engine.refunded") {  // The grant gave its tokens back (never claimed).
    AddBucketEvent(record, Int(record, "at"), -1);
  } else if (ev == "engine.dispatch-pass") {
    OnDispatchPass(record);
  } else if (ev == "engine.paused") {
    paused_.insert(Str(record, "queue"));
  } else if (ev == "engine.resumed") {
    paused_.erase(Str(record, "queue"));
  }
}

// INV-14: a pass never exceeds its window and leaves no ready row that ranks before one it sent.
void InvariantChecker::OnDispatchPass(const core::TraceRecord& record) {
  const std::string queue = Str(record, "queue");
  const std::int64_t outstanding = Int(record, "outstanding");
  const std::int64_t window = Int(record, "window");
  if (outstanding > window) {
    Violation("INV-14", queue + ": " + std::to_string(outstanding) +
                            " dispatcher envelopes outstanding, window " + std::to_string(window) +
                            " at t=" + std::to_string(record.t.unix_ms()));
  }
  const std::string last = Str(record, "last");
  const std::string next = Str(record, "next");
  if (!last.empty() && !next.empty() && next < last) {
    Violation("INV-14", queue + ": the pass at t=" + std::to_string(record.t.unix_ms()) +
                            " sent rank " + last + " and left rank " + next);
  }
}

void InvariantChecker::OnGen(const core::TraceRecord& record) {
  JobTrace& job = jobs_[KeyOf(record)];
  const std::int64_t gen = Int(record, "gen");
  if (gen < job.max_gen && record.ev != "engine.sent") {
    Violation("INV-18", KeyOf(record) + " went from gen " + std::to_string(job.max_gen) + " to " +
                            std::to_string(gen) + " at t=" + std::to_string(record.t.unix_ms()));
  }
  job.max_gen = std::max(job.max_gen, gen);
}

void InvariantChecker::OnClaim(const core::TraceRecord& record) {
  OnGen(record);
  JobTrace& job = jobs_[KeyOf(record)];
  const std::int64_t token = Int(record, "gen");
  if (token <= job.last_claim) {
    Violation("INV-18", KeyOf(record) + " claimed with token " + std::to_string(token) +
                            " after token " + std::to_string(job.last_claim));
  }
  job.last_claim = token;
}

void InvariantChecker::OnRun(const core::TraceRecord& record) {
  JobTrace& job = jobs_[KeyOf(record)];
  const std::int64_t token = Int(record, "gen");
  if (token != job.last_claim) {
    Violation("INV-04", KeyOf(record) + " ran with token " + std::to_string(token) +
                            " but its latest claim is " + std::to_string(job.last_claim));
  }
  if (++job.runs[token] > 1) {
    Violation("INV-04", KeyOf(record) + " ran twice with token " + std::to_string(token));
  }
}

void InvariantChecker::OnFinished(const core::TraceRecord& record) {
  if (!Bool(record, "applied")) return;
  JobTrace& job = jobs_[KeyOf(record)];
  const std::int64_t token = Int(record, "gen");
  if (++job.applied[token] > 1) {
    Violation("INV-04", KeyOf(record) + " applied two results for token " + std::to_string(token));
  }
  if (token != job.last_claim) {
    Violation("INV-06", KeyOf(record) + " applied a finish with token " + std::to_string(token) +
                            " after a newer claim " + std::to_string(job.last_claim));
  }
}

void InvariantChecker::AddBucketEvent(const core::TraceRecord& record, std::int64_t at,
                                      int weight) {
  const std::string queue = Str(record, "queue");
  const std::string group = Str(record, "group");
  bucket_events_[queue].push_back({at, weight});
  if (!group.empty()) bucket_events_[queue + "|" + group].push_back({at, weight});
}

void InvariantChecker::OnAdmit(const core::TraceRecord& record) {
  if (Str(record, "outcome") != "granted") return;
  // INV-07: a grant that took tokens counts at its decision (the trace line comes after the
  // storage commit, a varying while later); a refund gives them back when it happens.
  if (Bool(record, "took")) AddBucketEvent(record, Int(record, "decided_at"), +1);
  const std::string queue = Str(record, "queue");
  if (paused_.count(queue) > 0) {
    Violation("INV-08", "queue " + queue + " granted " + Str(record, "job") +
                            " while paused, at t=" + std::to_string(record.t.unix_ms()));
  }
}

namespace {

// Takes (+1, at the grant) and refunds (-1) of one bucket above its allowance in some window:
// token bucket: takes - refunds <= C + max * span / duration in every window (what a bucket
// whose refunds add tokens back guarantees); fixed window: at most 2 * max net takes within any
// `duration`. Events sorted by time; equal times keep the order the coordinator traced them in.
std::optional<std::string> RateViolation(std::vector<std::pair<std::int64_t, int>> events,
                                         const LimiterConfig& limiter) {
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::int64_t d = limiter.duration_ms;
  std::vector<std::int64_t> prefix(events.size() + 1, 0);  // Net takes before each event.
  for (std::size_t k = 0; k < events.size(); ++k) prefix[k + 1] = prefix[k] + events[k].second;
  if (limiter.mode == LimiterConfig::Mode::kFixedWindow) {
    std::size_t i = 0;
    for (std::size_t j = 0; j < events.size(); ++j) {
      while (events[j].first - events[i].first >= d) ++i;
      for (std::size_t s = i; s <= j; ++s) {
        if (events[s].second < 0) continue;
        const std::int64_t net = prefix[j + 1] - prefix[s];
        if (net > 2 * limiter.max) {
          return std::to_string(net) + " grants within " + std::to_string(d) +
                 " ms ending at t=" + std::to_string(events[j].first);
        }
        break;  // The earliest take in the window bounds the others.
      }
    }
    return std::nullopt;
  }
  // (P(k+1) - P(i)) * d <= C * d + max * (t_k - t_i)  <=>  h(k) - g(i) <= C * d with
  // h(k) = P(k+1) * d - max * t_k and g(i) = P(i) * d - max * t_i; keep the smallest g so far.
  const std::int64_t c = limiter.bucket_capacity();
  std::optional<std::int64_t> lowest;
  for (std::size_t k = 0; k < events.size(); ++k) {
    const std::int64_t t0 = events.front().first;
    const std::int64_t g = prefix[k] * d - limiter.max * (events[k].first - t0);
    lowest = lowest ? std::min(*lowest, g) : g;
    const std::int64_t h = prefix[k + 1] * d - limiter.max * (events[k].first - t0);
    if (h - *lowest > c * d) {
      return "grants up to t=" + std::to_string(events[k].first) + " exceed capacity " +
             std::to_string(c) + " + rate";
    }
  }
  return std::nullopt;
}

struct Finding {
  std::vector<std::string> details;
  void Add(std::string detail) {
    if (details.size() < kMaxDetails) details.push_back(std::move(detail));
  }
};

// A read of the checker, tried again when the platform fails it transiently (the checker may
// run while a fault profile is still on).
Task<Result<platform::D1Result>> Read(EngineContext& context, std::string sql,
                                      std::vector<platform::D1Param> params) {
  Result<platform::D1Result> rows;
  for (int attempt = 0; attempt < 20; ++attempt) {
    rows = co_await context.db->Prepare(sql).Bind(params).All();
    if (rows.ok() || rows.code() == core::Code::kInvalidArgument) break;
  }
  co_return rows;
}

// Runs `sql` and adds one detail per returned row (its columns joined).
Task<Status> Expect(EngineContext& context, Finding& finding, std::string what, std::string sql,
                    std::vector<platform::D1Param> params = {}) {
  auto rows = co_await Read(context, std::move(sql), std::move(params));
  if (!rows.ok()) co_return rows.status();
  for (const auto& row : rows->results) {
    std::string detail = what + ":";
    for (const auto& value : row.values) detail += " " + sql::Str(value);
    finding.Add(std::move(detail));
  }
  co_return Status::Ok();
}

struct CheckState {
  const char* id;
  const char* name;
  Finding finding;
};

}  // namespace

namespace {

Task<Status> CheckRows(EngineContext& context, std::map<std::string, CheckState>& checks,
                       const CheckOptions& options, std::int64_t now) {
  // INV-01 at quiescence: nothing waits without a reason.
  if (options.quiescent) {
    std::vector<platform::D1Param> at{now};
    CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
        context, checks["INV-01"].finding, "stranded",
        "SELECT j.queue, j.id, j.state FROM cfq_jobs j LEFT JOIN cfq_queues q ON q.queue = "
        "j.queue WHERE (j.state = 'active') OR (j.state IN ('waiting','prioritized') AND "
        "coalesce(q.paused_mirror, 0) = 0) OR (j.state = 'delayed' AND j.available_at <= ? AND "
        "coalesce(q.paused_mirror, 0) = 0) OR (j.state = 'waiting-children' AND j.pending_deps "
        "= 0) LIMIT 5",
        std::move(at)));
  }
  // INV-02: at most one terminal event per (job, epoch).
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-02"].finding, "terminal events",
      "SELECT queue, job_id, data ->> 'epoch' AS epoch, count(*) FROM cfq_events WHERE event IN "
      "('completed','failed') AND job_id IS NOT NULL GROUP BY queue, job_id, epoch HAVING "
      "count(*) > 1 LIMIT 5"));
  // INV-03: attempts within bounds (a retry without reset adds one to the allowance per epoch).
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-03"].finding, "attempts",
      "SELECT queue, id, attempts_made, attempts_started, attempts_max, stalled_count FROM "
      "cfq_jobs WHERE attempts_made > attempts_max + epoch OR attempts_made > attempts_started "
      "OR stalled_count > coalesce((SELECT q.config ->> 'maxStalledCount' FROM cfq_queues q "
      "WHERE q.queue = cfq_jobs.queue), 1) + 1 LIMIT 5"));
  // INV-03: attempts_started = attempts_made + stalls + T15 + (active ? 1 : 0), per epoch, for
  // jobs whose events of the epoch are all there (not trimmed).
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-03"].finding, "attempt accounting",
      "SELECT j.queue, j.id, j.attempts_started, j.attempts_made, j.stalled_count FROM cfq_jobs j "
      "WHERE j.epoch = 0 AND EXISTS (SELECT 1 FROM cfq_events e WHERE e.queue = j.queue AND "
      "e.job_id = j.id AND e.event = 'added') AND j.attempts_started <> j.attempts_made + "
      "j.stalled_count + (SELECT count(*) FROM cfq_events e WHERE e.queue = j.queue AND e.job_id "
      "= j.id AND e.event = 'delayed' AND e.data ->> 'prev' = 'active' AND e.data ->> "
      "'failedReason' IS NULL) + (j.state = 'active') LIMIT 5"));
  // INV-09: parents.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-09"].finding, "pending_deps",
      "SELECT p.queue, p.id, p.pending_deps FROM cfq_jobs p WHERE p.state = 'waiting-children' "
      "AND p.pending_deps <> (SELECT count(*) FROM cfq_deps d WHERE d.parent_queue = p.queue AND "
      "d.parent_id = p.id AND d.status IN ('pending','failed')) LIMIT 5"));
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-09"].finding, "released twice",
      "SELECT queue, job_id, data ->> 'epoch' AS epoch FROM cfq_events WHERE event = 'waiting' "
      "AND data ->> 'prev' = 'waiting-children' GROUP BY queue, job_id, epoch HAVING count(*) > "
      "1 LIMIT 5"));
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-09"].finding, "started before its children",
      "SELECT p.queue, p.id FROM cfq_jobs p WHERE p.processed_at IS NOT NULL AND EXISTS (SELECT "
      "1 FROM cfq_deps d WHERE d.parent_queue = p.queue AND d.parent_id = p.id AND d.status = "
      "'pending') AND p.state <> 'failed' LIMIT 5"));
  // INV-11: counts equal rows.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-11"].finding, "counts",
      "SELECT c.queue, c.state, c.n, (SELECT count(*) FROM cfq_jobs j WHERE j.queue = c.queue "
      "AND j.state = c.state) AS rows FROM cfq_counts c WHERE c.n <> (SELECT count(*) FROM "
      "cfq_jobs j WHERE j.queue = c.queue AND j.state = c.state) LIMIT 5"));
  // INV-12: one unfinished job per simple deduplication key.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-12"].finding, "simple key",
      "SELECT queue, dedup_id, count(*) FROM cfq_jobs j WHERE dedup_id IS NOT NULL AND "
      "finished_at IS NULL AND opts -> '$.deduplication.ttl' IS NULL AND coalesce((SELECT "
      "min(eid) FROM cfq_events a WHERE a.queue = j.queue AND a.job_id = j.id AND a.event = "
      "'added'), 0) > coalesce((SELECT max(eid) FROM cfq_events e WHERE e.queue = j.queue AND "
      "e.event = 'cfq:dedupe-key-removed' AND e.data ->> 'deduplicationId' = j.dedup_id), 0) "
      "GROUP BY queue, dedup_id HAVING count(*) > 1 LIMIT 5"));
  co_return Status::Ok();
}

Task<Status> CheckHistory(EngineContext& context, std::map<std::string, CheckState>& checks) {
  // INV-10: schedulers within their limit, end date and start date.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-10"].finding, "scheduler",
      "SELECT s.queue, s.id, (SELECT count(*) FROM cfq_jobs j WHERE j.queue = s.queue AND "
      "j.scheduler_id = s.id) AS n FROM cfq_schedulers s WHERE (s.limit_count IS NOT NULL AND "
      "s.iteration_count > s.limit_count) OR EXISTS (SELECT 1 FROM cfq_jobs j WHERE j.queue = "
      "s.queue AND j.scheduler_id = s.id AND ((s.end_at IS NOT NULL AND CAST(substr(j.id, "
      "length('repeat:' || s.id || ':') + 1) AS INTEGER) > s.end_at) OR (s.start_at IS NOT NULL "
      "AND CAST(substr(j.id, length('repeat:' || s.id || ':') + 1) AS INTEGER) < s.start_at))) "
      "LIMIT 5"));
  // INV-13: a retry starts no earlier than its failure plus the announced delay.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-13"].finding, "early start",
      "SELECT a.queue, a.job_id, a.at, d.at + (d.data ->> 'delay') FROM cfq_events d JOIN "
      "cfq_events a ON a.queue = d.queue AND a.job_id = d.job_id AND a.event = 'active' AND "
      "a.eid = (SELECT min(eid) FROM cfq_events x WHERE x.queue = d.queue AND x.job_id = "
      "d.job_id AND x.event = 'active' AND x.eid > d.eid) WHERE d.event IN ('delayed','waiting') "
      "AND d.data ->> 'prev' = 'active' AND a.at + coalesce((SELECT q.config ->> "
      "'earlyToleranceMs' FROM cfq_queues q WHERE q.queue = d.queue), 0) < d.at + "
      "coalesce(d.data ->> 'delay', 0) LIMIT 5"));
  // INV-16: nothing refers to a job that is gone (terminal events stay until the trim).
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-16"].finding, "orphan log",
      "SELECT l.queue, l.job_id FROM cfq_logs l WHERE NOT EXISTS (SELECT 1 FROM cfq_jobs j WHERE "
      "j.queue = l.queue AND j.id = l.job_id) LIMIT 5"));
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-16"].finding, "orphan event",
      "SELECT e.queue, e.job_id, e.event FROM cfq_events e WHERE e.job_id IS NOT NULL AND "
      "e.event NOT IN ('completed','failed','removed','duplicated','deduplicated', "
      "'cfq:lease-lost') AND NOT "
      "EXISTS (SELECT 1 FROM cfq_jobs j WHERE j.queue = e.queue AND j.id = e.job_id) LIMIT 5"));
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-16"].finding, "orphan dependency",
      "SELECT d.parent_queue, d.parent_id, d.child_queue, d.child_id FROM cfq_deps d WHERE "
      "d.status IN ('pending','failed') AND (NOT EXISTS (SELECT 1 FROM cfq_jobs c WHERE c.queue "
      "= d.child_queue AND c.id = d.child_id) OR NOT EXISTS (SELECT 1 FROM cfq_jobs p WHERE "
      "p.queue = d.parent_queue AND p.id = d.parent_id)) LIMIT 5"));
  // INV-17: every dead-lettered job has its dead-letter row.
  CFEMU_CO_RETURN_IF_ERROR(co_await Expect(
      context, checks["INV-17"].finding, "dead letter row",
      "SELECT j.queue, j.id FROM cfq_jobs j WHERE j.dead_lettered = 1 AND NOT EXISTS (SELECT 1 "
      "FROM cfq_dead_letters d WHERE d.queue = j.queue AND d.job_id = j.id AND d.source = 'dlq') "
      "LIMIT 5"));
  co_return Status::Ok();
}

// INV-05: a live lease of an active row carries the row's gen; at quiescence no lease is left.
Task<Status> CheckLeases(EngineContext& context, Finding& finding, bool quiescent) {
  auto queues = co_await Read(context, "SELECT queue FROM cfq_queues ORDER BY queue", {});
  if (!queues.ok()) co_return queues.status();
  for (const auto& row : queues->results) {
    const std::string queue = sql::Str(row.values[0]);
    Result<CoordinatorSnapshot> snapshot;
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto stub = context.Coordinator(queue);
      snapshot = co_await stub->Call(&Coordinator::Inspect, queue);
      if (snapshot.ok()) break;
    }
    if (!snapshot.ok()) co_return snapshot.status();
    for (const LeaseInfo& lease : snapshot->leases) {
      if (quiescent) {
        finding.Add("lease left on " + queue + ":" + lease.id);
        continue;
      }
      std::vector<platform::D1Param> key{queue, lease.id};
      auto job = co_await Read(
          context, "SELECT state, gen FROM cfq_jobs WHERE queue = ? AND id = ?", std::move(key));
      if (!job.ok()) co_return job.status();
      if (job->results.empty() || !lease.live) continue;
      const auto& v = job->results.front().values;
      if (sql::Str(v[0]) == "active" && sql::Int(v[1]) != lease.token) {
        finding.Add("live lease token " + std::to_string(lease.token) + " on " + queue + ":" +
                    lease.id + " at gen " + sql::Str(v[1]));
      }
    }
  }
  co_return Status::Ok();
}

}  // namespace

Task<std::vector<InvariantResult>> InvariantChecker::Check(EngineContext& context,
                                                           CheckOptions options) {
  std::map<std::string, CheckState> checks;
  const std::pair<const char*, const char*> names[] = {
      {"INV-01", "no job lost"},           {"INV-02", "one terminal transition per epoch"},
      {"INV-03", "attempts bounded"},      {"INV-04", "executions <= claims"},
      {"INV-05", "one live lease"},        {"INV-06", "no stale writer"},
      {"INV-07", "rate never exceeded"},   {"INV-08", "paused queue dispatches nothing"},
      {"INV-09", "parent after children"}, {"INV-10", "schedulers"},
      {"INV-11", "counts equal rows"},     {"INV-12", "dedupe"},
      {"INV-13", "no early start"},        {"INV-14", "dispatch order and window"},
      {"INV-15", "envelope discipline"},   {"INV-16", "retention"},
      {"INV-17", "DLQ accounting"},        {"INV-18", "gen monotonic"}};
  for (const auto& [id, name] : names) checks[id] = CheckState{id, name, {}};
  for (const auto& [id, details] : online_) {
    for (const auto& detail : details) checks[id].finding.Add(detail);
  }
  for (const auto& [bucket, times] : bucket_events_) {
    const std::string queue = bucket.substr(0, bucket.find('|'));
    const auto config = configs_.find(queue);
    if (config == configs_.end()) continue;
    const bool group = bucket.find('|') != std::string::npos;
    const auto& limiter = group ? config->second.group_limiter : config->second.limiter;
    if (!limiter) continue;
    if (auto violation = RateViolation(times, *limiter)) {
      checks["INV-07"].finding.Add(bucket + ": " + *violation);
    }
  }
  const std::int64_t now = context.NowMs();
  Status status = co_await CheckRows(context, checks, options, now);
  if (status.ok()) status = co_await CheckHistory(context, checks);
  if (status.ok())
    status = co_await CheckLeases(context, checks["INV-05"].finding, options.quiescent);
  if (status.ok() && options.dead_letter_messages) {
    for (const std::string& message : *options.dead_letter_messages) {
      std::vector<platform::D1Param> id{message};
      auto row = co_await Read(
          context, "SELECT count(*) FROM cfq_dead_letters WHERE cf_message_id = ?", std::move(id));
      if (!row.ok()) {
        status = row.status();
        break;
      }
      if (!row->results.empty() && sql::Int(row->results.front().values[0]) != 1) {
        checks["INV-17"].finding.Add("DLQ message " + message + " has no dead-letter row");
      }
    }
  }
  std::vector<InvariantResult> out;
  for (auto& [id, check] : checks) {
    InvariantResult result{id, check.name, check.finding.details.empty(), std::string()};
    for (const auto& detail : check.finding.details) {
      result.detail += (result.detail.empty() ? "" : "; ") + detail;
    }
    out.push_back(std::move(result));
  }
  if (!status.ok()) {
    out.push_back({"CHECK", "the checker could read D1", false, status.ToString()});
  }
  co_return out;
}

}  // namespace cfemu::engine
