// The coordinator's RPCs and its storage mirror. The alarm's work (stalls, dispatch passes,
// retention) is in coordinator_alarm.cc.
#include "src/engine/coordinator/coordinator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "src/core/random.h"
#include "src/core/trace.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

std::string_view AdmitOutcomeName(AdmitOutcome outcome) {
  switch (outcome) {
    case AdmitOutcome::kGranted:
      return "granted";
    case AdmitOutcome::kPaused:
      return "paused";
    case AdmitOutcome::kSaturated:
      return "saturated";
    case AdmitOutcome::kLimited:
      return "limited";
    case AdmitOutcome::kBusy:
      return "busy";
  }
  return "busy";
}

namespace {

constexpr std::string_view kQueueBucket = "queue";

const char* const kSchema[] = {
    "CREATE TABLE IF NOT EXISTS cfq_leases (job_id TEXT PRIMARY KEY, token INTEGER NOT NULL, "
    "owner TEXT NOT NULL, expires_at INTEGER NOT NULL, granted_at INTEGER NOT NULL, "
    "group_key TEXT) WITHOUT ROWID",
    "DROP INDEX IF EXISTS ix_leases_expiry",
    "CREATE TABLE IF NOT EXISTS cfq_buckets (key TEXT PRIMARY KEY, level INTEGER NOT NULL, "
    "updated_at INTEGER NOT NULL, hint_at INTEGER NOT NULL, window_start INTEGER NOT NULL, "
    "window_count INTEGER NOT NULL, window_denials INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cfq_flags (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cfq_inflight (job_id TEXT PRIMARY KEY, sent_at INTEGER NOT NULL)",
};

std::int64_t ToInt(const std::string& text) {
  try {
    return std::stoll(text);
  } catch (...) {
    return 0;
  }
}

}  // namespace

Coordinator::Coordinator(platform::DurableObjectState& state, platform::Env& env,
                         EngineBindings bindings)
    : DurableObject(state, env), bindings_(std::move(bindings)) {}

std::int64_t Coordinator::NowMs() const {
  return const_cast<Coordinator*>(this)->env().clock().Now().unix_ms();
}

std::shared_ptr<EngineContext> Coordinator::Context() {
  if (context_) return context_;
  core::Random random(core::Fnv1a64(state().id().ToString()));
  auto made = MakeEngineContext(env(), bindings_, std::move(random), EngineConfig());
  if (made.ok()) context_ = std::move(*made);
  return context_;
}

// ---- Storage mirror -------------------------------------------------------------------------

Status Coordinator::Load(const std::string& queue) {
  if (loaded_) {
    if (!queue.empty() && queue != queue_) {
      if (!queue_.empty()) {
        return Status::FailedPrecondition("this coordinator serves queue '" + queue_ + "', not '" +
                                          queue + "'");
      }
      queue_ = queue;
      return SaveFlag("queue", queue_);
    }
    return Status::Ok();
  }
  auto sql = storage().sql();
  if (!sql.ok()) return sql.status();
  for (const char* statement : kSchema) {
    auto done = (*sql)->Exec(statement);
    if (!done.ok()) return done.status();
  }
  auto flags = (*sql)->Exec("SELECT k, v FROM cfq_flags");
  if (!flags.ok()) return flags.status();
  for (const auto& row : flags->ToArray()) {
    const std::string k = sql::Str(row.values[0]);
    const std::string v = sql::Str(row.values[1]);
    if (k == "queue") queue_ = v;
    if (k == "config") {
      auto config = QueueConfigFromJson(Json::parse(v, nullptr, false));
      if (config.ok()) {
        config_ = *config;
        config_known_ = true;
      }
    }
    if (k == "config_version") config_version_ = ToInt(v);
    if (k == "paused") paused_ = v == "1";
    if (k == "parked") parked_ = v == "1";
    if (k == "kick_at") kick_at_ = ToInt(v);
    if (k == "last_sweep") last_sweep_ = ToInt(v);
    if (k == "finished_since_sweep") finished_since_sweep_ = v == "1";
    if (k == "had_waiting") had_waiting_ = v == "1";
    if (k == "pass_pending") pass_pending_ = v == "1";
    if (k == "blocked_until") blocked_until_ = ToInt(v);
    if (k == "next_delayed") next_delayed_ = ToInt(v);
  }
  auto leases = (*sql)->Exec(
      "SELECT job_id, token, owner, expires_at, granted_at, group_key FROM cfq_leases");
  if (!leases.ok()) return leases.status();
  for (const auto& row : leases->ToArray()) {
    leases_[sql::Str(row.values[0])] =
        Lease{sql::Int(row.values[1]), sql::Str(row.values[2]), sql::Int(row.values[3]),
              sql::Int(row.values[4]), sql::OptStr(row.values[5])};
  }
  auto buckets = (*sql)->Exec(
      "SELECT key, level, updated_at, hint_at, window_start, window_count, window_denials FROM "
      "cfq_buckets");
  if (!buckets.ok()) return buckets.status();
  for (const auto& row : buckets->ToArray()) {
    buckets_[sql::Str(row.values[0])] =
        BucketState{sql::Int(row.values[1]), sql::Int(row.values[2]), sql::Int(row.values[3]),
                    sql::Int(row.values[4]), sql::Int(row.values[5]), sql::Int(row.values[6])};
  }
  auto inflight = (*sql)->Exec("SELECT job_id, sent_at FROM cfq_inflight");
  if (!inflight.ok()) return inflight.status();
  for (const auto& row : inflight->ToArray()) {
    inflight_[sql::Str(row.values[0])] = sql::Int(row.values[1]);
  }
  loaded_ = true;
  if (queue_.empty() && !queue.empty()) {
    queue_ = queue;
    return SaveFlag("queue", queue_);
  }
  if (!queue.empty() && queue != queue_) {
    return Status::FailedPrecondition("this coordinator serves queue '" + queue_ + "', not '" +
                                      queue + "'");
  }
  return Status::Ok();
}

Status Coordinator::SaveFlag(const std::string& key, const std::string& value) {
  auto sql = storage().sql();
  if (!sql.ok()) return sql.status();
  return (*sql)->Exec("INSERT OR REPLACE INTO cfq_flags (k, v) VALUES (?, ?)", key, value).status();
}

Status Coordinator::SaveLease(const std::string& id, const Lease& lease) {
  leases_[id] = lease;
  dirty_leases_.insert(id);
  return Status::Ok();
}

Status Coordinator::DeleteLease(const std::string& id) {
  leases_.erase(id);
  dirty_leases_.insert(id);
  return Status::Ok();
}

Status Coordinator::FlushLeases() {
  if (dirty_leases_.empty()) return Status::Ok();
  // The leases of one flush mostly share their owner, times and group: one statement per such
  // set, its ids and tokens a JSON object, which json_each reads as key and value without an
  // extraction per field (six per lease cost more than the write).
  using SetKey = std::tuple<std::string, std::int64_t, std::int64_t, std::optional<std::string>>;
  std::map<SetKey, std::string> upserts;  // -> {"id": token, ...} without the closing brace.
  std::string deletes = "[";
  for (const std::string& id : dirty_leases_) {
    const auto it = leases_.find(id);
    if (it == leases_.end()) {
      if (deletes.size() > 1) deletes += ',';
      core::AppendJsonString(deletes, id);
      continue;
    }
    const Lease& lease = it->second;
    std::string& ids =
        upserts[SetKey(lease.owner, lease.expires_at, lease.granted_at, lease.group)];
    ids += ids.empty() ? '{' : ',';
    core::AppendJsonString(ids, id);
    ids += ':' + std::to_string(lease.token);
  }
  dirty_leases_.clear();
  auto sql = storage().sql();
  if (!sql.ok()) return sql.status();
  for (auto& [key, ids] : upserts) {
    const auto& [owner, expires_at, granted_at, group] = key;
    CFEMU_RETURN_IF_ERROR(
        (*sql)
            ->Exec("INSERT OR REPLACE INTO cfq_leases (job_id, token, owner, expires_at, "
                   "granted_at, group_key) SELECT key, value, ?, ?, ?, ? FROM json_each(?)",
                   owner, expires_at, granted_at,
                   group ? platform::D1Param(*group) : platform::D1Param(nullptr), ids + "}")
            .status());
  }
  if (deletes.size() > 1) {
    CFEMU_RETURN_IF_ERROR(
        (*sql)
            ->Exec("DELETE FROM cfq_leases WHERE job_id IN (SELECT value FROM json_each(?))",
                   deletes + "]")
            .status());
  }
  return Status::Ok();
}

Status Coordinator::SaveBucket(const std::string& key, const BucketState& b) {
  auto sql = storage().sql();
  if (!sql.ok()) return sql.status();
  return (*sql)
      ->Exec(
          "INSERT OR REPLACE INTO cfq_buckets (key, level, updated_at, hint_at, window_start, "
          "window_count, window_denials) VALUES (?, ?, ?, ?, ?, ?, ?)",
          key, b.level, b.updated_at, b.hint_at, b.window_start, b.window_count, b.window_denials)
      .status();
}

Status Coordinator::SaveInflight(const std::string& id, std::optional<std::int64_t> sent_at) {
  auto sql = storage().sql();
  if (!sql.ok()) return sql.status();
  if (!sent_at) return (*sql)->Exec("DELETE FROM cfq_inflight WHERE job_id = ?", id).status();
  return (*sql)
      ->Exec("INSERT OR REPLACE INTO cfq_inflight (job_id, sent_at) VALUES (?, ?)", id, *sent_at)
      .status();
}

Task<Status> Coordinator::EnsureConfig() {
  if (config_known_) co_return Status::Ok();
  auto context = Context();
  if (!context) co_return Status::FailedPrecondition("the coordinator cannot reach D1");
  auto row = co_await context->db->Prepare("SELECT config FROM cfq_queues WHERE queue = ?")
                 .Bind(queue_)
                 .First();
  if (!row.ok()) co_return row.status();
  if (config_known_) co_return Status::Ok();  // Configure() ran meanwhile.
  if (*row) {
    auto config = QueueConfigFromJson(sql::JsonOf((*row)->values.at(0)));
    if (config.ok()) config_ = *config;
  }
  config_known_ = true;
  co_return Status::Ok();
}

Task<Status> Coordinator::ArmAlarm(std::int64_t at) {
  if (!alarm_known_) {
    auto current = co_await storage().GetAlarm();
    if (!current.ok()) co_return current.status();
    alarm_known_ = true;
    if (*current) alarm_at_ = (*current)->unix_ms();
  }
  if (alarm_at_ && *alarm_at_ <= at) co_return Status::Ok();
  CFEMU_CO_RETURN_IF_ERROR(co_await storage().SetAlarm(core::Instant::FromUnixMs(at)));
  alarm_at_ = at;
  co_return Status::Ok();
}

std::optional<std::int64_t> Coordinator::NextAlarmAt() const {
  std::optional<std::int64_t> next;
  auto consider = [&](std::int64_t t) { next = next ? std::min(*next, t) : t; };
  for (const auto& [id, lease] : leases_) consider(lease.expires_at + config_.stalled_grace_ms);
  if (kick_at_) consider(*kick_at_);
  if (finished_since_sweep_) consider(last_sweep_ + config_.retention_sweep_ms);
  if (next_delayed_ && !paused_) consider(*next_delayed_);
  if (pass_pending_ && !paused_) {
    for (const auto& [id, sent_at] : inflight_) consider(sent_at + config_.dispatch_timeout_ms);
  }
  return next;
}

// ---- Admission ------------------------------------------------------------------------------

AdmitAnswer Coordinator::TakeTokens(const AdmitItem& item, std::int64_t now,
                                    std::vector<std::string>& dirty) {
  AdmitAnswer answer;
  if (now < blocked_until_) {  // ctx.rateLimit() on a queue without a limiter.
    answer.outcome = AdmitOutcome::kLimited;
    answer.retry_at = blocked_until_;
    return answer;
  }
  struct Use {
    const LimiterConfig* limiter;
    std::string key;
    BucketCheck check;
  };
  std::vector<Use> uses;
  if (config_.limiter) uses.push_back({&*config_.limiter, std::string(kQueueBucket), {}});
  if (config_.group_limiter && item.group) {
    uses.push_back({&*config_.group_limiter, "group:" + *item.group, {}});
  }
  bool grantable = true;
  for (auto& use : uses) {
    use.check = CheckBucket(*use.limiter, buckets_[use.key], now);
    grantable = grantable && use.check.grantable;
  }
  for (auto& use : uses) {
    dirty.push_back(use.key);
    if (grantable) {
      TakeFromBucket(*use.limiter, buckets_[use.key], now);
    } else if (!use.check.grantable) {
      answer.retry_at = std::max(answer.retry_at,
                                 DenyFromBucket(*use.limiter, buckets_[use.key], now, use.check));
    }
  }
  answer.outcome = grantable ? AdmitOutcome::kGranted : AdmitOutcome::kLimited;
  return answer;
}

void Coordinator::RefundTokens(const std::optional<std::string>& group) {
  if (config_.limiter) {
    RefundToBucket(*config_.limiter, buckets_[std::string(kQueueBucket)]);
    (void)SaveBucket(std::string(kQueueBucket), buckets_[std::string(kQueueBucket)]);
  }
  if (config_.group_limiter && group) {
    const std::string key = "group:" + *group;
    RefundToBucket(*config_.group_limiter, buckets_[key]);
    (void)SaveBucket(key, buckets_[key]);
  }
}

AdmitAnswer Coordinator::AdmitOne(const AdmitItem& item, const std::string& owner, std::int64_t now,
                                  std::vector<std::string>& dirty) {
  AdmitAnswer answer;
  if (paused_) {
    answer.outcome = AdmitOutcome::kPaused;
    return answer;
  }
  const std::int64_t token = item.gen + 1;
  if (auto it = leases_.find(item.id); it != leases_.end()) {
    Lease& lease = it->second;
    if (lease.token > token || (lease.token == token && lease.expires_at > now)) {
      answer.outcome = AdmitOutcome::kBusy;  // Live, or for a newer generation.
      return answer;
    }
    if (lease.token == token) {
      // The same envelope again after its lease expired (the claim may never have landed):
      // the same token to the new holder; D1's guarded claim decides.
      lease.owner = owner;
      lease.expires_at = now + config_.lock_duration_ms;
      lease.granted_at = now;
      (void)SaveLease(item.id, lease);
      answer.outcome = AdmitOutcome::kGranted;
      answer.token = token;
      answer.expires_at = lease.expires_at;
      return answer;
    }
    (void)DeleteLease(item.id);  // Obsolete: the row has moved past that generation.
  }
  if (config_.global_concurrency &&
      static_cast<std::int64_t>(leases_.size()) >= *config_.global_concurrency) {
    answer.outcome = AdmitOutcome::kSaturated;
    if (!parked_) {
      parked_ = true;
      (void)SaveFlag("parked", "1");
    }
    return answer;
  }
  answer = TakeTokens(item, now, dirty);
  if (answer.outcome != AdmitOutcome::kGranted) return answer;
  answer.took_tokens = true;
  Lease lease{token, owner, now + config_.lock_duration_ms, now, item.group};
  (void)SaveLease(item.id, lease);
  if (inflight_.erase(item.id) > 0) (void)SaveInflight(item.id, std::nullopt);
  answer.token = token;
  answer.expires_at = lease.expires_at;
  return answer;
}

Task<Result<AdmitReply>> Coordinator::Admit(AdmitRequest request) {
  CFEMU_CO_RETURN_IF_ERROR(Load(request.queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  const std::int64_t now = NowMs();
  AdmitReply reply;
  reply.config = config_;
  std::vector<std::string> dirty;
  std::optional<std::int64_t> earliest;
  const std::size_t inflight_before = inflight_.size();
  for (const auto& item : request.items) {
    reply.answers.push_back(AdmitOne(item, request.owner, now, dirty));
    const AdmitAnswer& a = reply.answers.back();
    if (a.outcome == AdmitOutcome::kGranted) {
      earliest = std::min(earliest.value_or(a.expires_at), a.expires_at);
    }
  }
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  std::sort(dirty.begin(), dirty.end());
  dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
  for (const auto& key : dirty) (void)SaveBucket(key, buckets_[key]);
  if (earliest) CFEMU_CO_RETURN_IF_ERROR(co_await ArmAlarm(*earliest + config_.stalled_grace_ms));
  // The grants exist once the leases and buckets are durable: a commit that fails resets the
  // object and rolls them back, so they are traced (and INV-07 counts them) only after it.
  CFEMU_CO_RETURN_IF_ERROR(co_await storage().Sync());
  if (env().tracing()) {
    for (std::size_t i = 0; i < request.items.size(); ++i) {
      const AdmitItem& item = request.items[i];
      const AdmitAnswer& a = reply.answers[i];
      env().Trace(core::TraceEvent("engine.admit")
                      .Str("queue", queue_)
                      .Str("job", item.id)
                      .Int("gen", item.gen)
                      .Str("outcome", std::string(AdmitOutcomeName(a.outcome)))
                      .Int("token", a.token)
                      .Int("retry_at", a.retry_at)
                      .Int("decided_at", now)  // On the coordinator's clock, before Sync.
                      .Bool("took", a.took_tokens)
                      .Str("group", item.group.value_or("")));
    }
  }
  // Window space came free while rows wait for the dispatcher: pass again now.
  if (pass_pending_ && inflight_.size() < inflight_before) {
    CFEMU_CO_RETURN_IF_ERROR(co_await KickAt(now));
  }
  co_return reply;
}

Task<Status> Coordinator::KickAt(std::int64_t at) {
  if (!kick_at_ || at < *kick_at_) {
    kick_at_ = at;
    CFEMU_CO_RETURN_IF_ERROR(SaveFlag("kick_at", std::to_string(at)));
  }
  co_return co_await ArmAlarm(at);
}

Task<Result<std::vector<bool>>> Coordinator::Renew(std::string queue, std::string owner,
                                                   std::vector<LeaseRef> items) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  const std::int64_t now = NowMs();
  std::vector<bool> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    auto it = leases_.find(item.id);
    const bool ok = it != leases_.end() && it->second.token == item.token &&
                    it->second.owner == owner && it->second.expires_at > now;
    if (ok) {
      it->second.expires_at = now + config_.lock_duration_ms;
      (void)SaveLease(item.id, it->second);
    }
    out.push_back(ok);
  }
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  co_return out;
}

Task<Result<bool>> Coordinator::Release(std::string queue, std::string owner,
                                        std::vector<LeaseRef> items, bool finished) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  for (const auto& item : items) {
    auto it = leases_.find(item.id);
    if (it == leases_.end() || it->second.token != item.token || it->second.owner != owner) {
      continue;
    }
    const std::optional<std::string> group = it->second.group;
    CFEMU_CO_RETURN_IF_ERROR(DeleteLease(item.id));
    if (item.refund) {
      RefundTokens(group);
      if (env().tracing()) {
        env().Trace(core::TraceEvent("engine.refunded")
                        .Str("queue", queue_)
                        .Str("job", item.id)
                        .Int("token", item.token)
                        .Int("at", NowMs())
                        .Str("group", group.value_or("")));
      }
    }
  }
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  const std::int64_t now = NowMs();
  if (finished && !finished_since_sweep_) {
    finished_since_sweep_ = true;
    CFEMU_CO_RETURN_IF_ERROR(SaveFlag("finished_since_sweep", "1"));
    CFEMU_CO_RETURN_IF_ERROR(co_await ArmAlarm(last_sweep_ + config_.retention_sweep_ms));
  }
  if (parked_) {  // Saturated rows were parked: concurrency came free, dispatch them.
    parked_ = false;
    CFEMU_CO_RETURN_IF_ERROR(SaveFlag("parked", "0"));
    CFEMU_CO_RETURN_IF_ERROR(co_await KickAt(now));
  }
  co_return true;
}

Task<Result<bool>> Coordinator::Revoke(std::string queue, std::string id) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  const bool existed = leases_.count(id) > 0;
  if (existed) CFEMU_CO_RETURN_IF_ERROR(DeleteLease(id));
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  co_return existed;
}

Task<Result<bool>> Coordinator::Kick(std::string queue, std::int64_t at) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await KickAt(at));
  co_return true;
}

Task<Result<bool>> Coordinator::Pause(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  if (paused_) co_return false;
  paused_ = true;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("paused", "1"));
  co_return true;
}

Task<Result<bool>> Coordinator::Resume(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  if (!paused_) co_return false;
  paused_ = false;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("paused", "0"));
  CFEMU_CO_RETURN_IF_ERROR(co_await KickAt(NowMs()));  // The dispatch pass sends what waited.
  co_return true;
}

Task<Result<bool>> Coordinator::IsPaused(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  co_return paused_;
}

Task<Result<std::vector<LeaseInfo>>> Coordinator::LeaseStatus(std::string queue,
                                                              std::vector<std::string> ids) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  const std::int64_t now = NowMs();
  std::vector<LeaseInfo> out;
  for (const auto& id : ids) {
    LeaseInfo info;
    info.id = id;
    if (const auto it = leases_.find(id); it != leases_.end()) {
      info.exists = true;
      info.live = it->second.expires_at > now;
      info.token = it->second.token;
      info.expires_at = it->second.expires_at;
    }
    out.push_back(std::move(info));
  }
  co_return out;
}

Task<Result<std::vector<LeaseInfo>>> Coordinator::AdoptStalled(std::string queue,
                                                               std::vector<LeaseRef> items) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  const std::int64_t now = NowMs();
  std::vector<LeaseInfo> out;
  bool due = false;
  for (const auto& item : items) {
    LeaseInfo info;
    info.id = item.id;
    auto it = leases_.find(item.id);
    if (it == leases_.end()) {
      // The lease record is gone (a reset object): recreate it expired, so the alarm stalls it.
      Lease lease{item.token, "cron-backstop", 0, 0, std::nullopt};
      CFEMU_CO_RETURN_IF_ERROR(SaveLease(item.id, lease));
      due = true;
    } else {
      info.exists = true;
      info.live = it->second.expires_at > now;
      info.token = it->second.token;
      info.expires_at = it->second.expires_at;
      due = due || !info.live;
    }
    out.push_back(std::move(info));
  }
  CFEMU_CO_RETURN_IF_ERROR(FlushLeases());
  if (due) CFEMU_CO_RETURN_IF_ERROR(co_await ArmAlarm(now));
  co_return out;
}

Task<Result<bool>> Coordinator::RequestSweep(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  const std::int64_t now = NowMs();
  if (now < last_sweep_ + 2 * config_.retention_sweep_ms) co_return false;
  if (!finished_since_sweep_) {
    finished_since_sweep_ = true;
    CFEMU_CO_RETURN_IF_ERROR(SaveFlag("finished_since_sweep", "1"));
  }
  CFEMU_CO_RETURN_IF_ERROR(co_await ArmAlarm(now));
  co_return true;
}

Task<Result<std::int64_t>> Coordinator::Configure(std::string queue, std::string config_json) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  auto config = QueueConfigFromJson(Json::parse(config_json, nullptr, false));
  if (!config.ok()) co_return config.status();
  config_ = *config;
  config_known_ = true;
  ++config_version_;
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("config", config_json));
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("config_version", std::to_string(config_version_)));
  co_return config_version_;
}

Task<Result<bool>> Coordinator::Reset(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await storage().DeleteAlarm());
  CFEMU_CO_RETURN_IF_ERROR(co_await storage().DeleteAll());
  loaded_ = false;
  queue_.clear();
  config_ = QueueConfig();
  config_known_ = false;
  config_version_ = 0;
  paused_ = parked_ = finished_since_sweep_ = had_waiting_ = pass_pending_ = false;
  kick_at_.reset();
  next_delayed_.reset();
  last_sweep_ = 0;
  blocked_until_ = 0;
  alarm_at_.reset();
  alarm_known_ = true;
  leases_.clear();
  buckets_.clear();
  inflight_.clear();
  co_return true;
}

Task<Result<bool>> Coordinator::RateLimitUntil(std::string queue, std::int64_t until) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  CFEMU_CO_RETURN_IF_ERROR(co_await EnsureConfig());
  blocked_until_ = std::max(blocked_until_, until);
  CFEMU_CO_RETURN_IF_ERROR(SaveFlag("blocked_until", std::to_string(blocked_until_)));
  if (config_.limiter) {
    const std::string key(kQueueBucket);
    EmptyBucketUntil(*config_.limiter, buckets_[key], until);
    CFEMU_CO_RETURN_IF_ERROR(SaveBucket(key, buckets_[key]));
  }
  co_return true;
}

Task<Result<CoordinatorSnapshot>> Coordinator::Inspect(std::string queue) {
  CFEMU_CO_RETURN_IF_ERROR(Load(queue));
  const std::int64_t now = NowMs();
  CoordinatorSnapshot out;
  out.queue = queue_;
  out.paused = paused_;
  for (const auto& [id, lease] : leases_) {
    out.leases.push_back({id, true, lease.expires_at > now, lease.token, lease.expires_at});
  }
  out.inflight = static_cast<std::int64_t>(inflight_.size());
  out.alarm_at = alarm_at_;
  out.config_version = config_version_;
  co_return out;
}

void RegisterCoordinator(platform::DurableObjectRegistry& registry, EngineBindings bindings,
                         std::string class_name) {
  registry.Register(std::move(class_name),
                    [bindings](platform::DurableObjectState& state, platform::Env& env) {
                      return std::make_unique<Coordinator>(state, env, bindings);
                    });
}

}  // namespace cfemu::engine
