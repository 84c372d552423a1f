// The coordinator: one Durable Object per logical queue (engine-spec.md §4.3–4.5, §4.7). It
// holds what must be decided in one place: leases (is the holder of a job alive?), the pause
// gate, rate buckets (queue and groups), the global concurrency count and the dispatcher's
// window. D1 stays the only source of truth for jobs: the lease token is the row's gen, and D1's
// guarded writes decide who may still write.
//
// Invariants it keeps: at most one lease per job (INV-05); a lease's token is the envelope's
// generation + 1, so admission after expiry with the same envelope generation yields the same
// token; no grant while paused (INV-08); grants per bucket within C + r·Δ (INV-07).
//
// Everything lives in the object's SQLite storage (cfq_leases, cfq_buckets, cfq_flags,
// cfq_inflight) and is mirrored in memory; an evicted or reset object rebuilds the mirror from
// storage on its next event. The alarm does the periodic work — stalled and orphaned leases,
// dispatch passes, retention sweeps, lease GC, the drained event — and deletes itself when the
// queue is idle, so an idle queue leaves nothing scheduled.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/engine/coordinator/protocol.h"
#include "src/engine/coordinator/rate_limiter.h"
#include "src/engine/engine_context.h"
#include "src/platform/durable_object.h"

namespace cfemu::engine {

class Coordinator : public platform::DurableObject {
 public:
  Coordinator(platform::DurableObjectState& state, platform::Env& env, EngineBindings bindings);

  // Per item, in order: paused -> busy (a lease of this or a newer generation) -> saturated
  // (globalConcurrency) -> limited (queue bucket, then group bucket; all or nothing) -> granted.
  core::Task<core::Result<AdmitReply>> Admit(AdmitRequest request);
  // Per item: true while the lease matches id, token and owner and has not expired.
  core::Task<core::Result<std::vector<bool>>> Renew(std::string queue, std::string owner,
                                                    std::vector<LeaseRef> items);
  // Deletes matching leases (refunding rate tokens where asked). `finished`: some job of the
  // releaser reached a terminal state (arms the retention sweep).
  core::Task<core::Result<bool>> Release(std::string queue, std::string owner,
                                         std::vector<LeaseRef> items, bool finished);
  // Deletes the job's lease whatever its holder (force remove, obliterate).
  core::Task<core::Result<bool>> Revoke(std::string queue, std::string id);
  // A dispatch pass is due at `at` (the alarm moves to min(current, at)).
  core::Task<core::Result<bool>> Kick(std::string queue, std::int64_t at);
  core::Task<core::Result<bool>> Pause(std::string queue);   // Whether it changed.
  core::Task<core::Result<bool>> Resume(std::string queue);  // Whether it changed.
  core::Task<core::Result<bool>> IsPaused(std::string queue);
  core::Task<core::Result<std::vector<LeaseInfo>>> LeaseStatus(std::string queue,
                                                               std::vector<std::string> ids);
  // The cron's stall backstop: rows active past their lease mirror. Reports each lease; an
  // expired or missing one is handed to the alarm (a missing one is recreated expired, with the
  // row's token, so T12/T13 run through the usual path).
  core::Task<core::Result<std::vector<LeaseInfo>>> AdoptStalled(std::string queue,
                                                                std::vector<LeaseRef> items);
  // The cron's retention backstop: a sweep now if none ran for two periods. Whether one was
  // requested.
  core::Task<core::Result<bool>> RequestSweep(std::string queue);
  // Stores the queue's configuration (JSON of QueueConfigToJson); returns its version.
  core::Task<core::Result<std::int64_t>> Configure(std::string queue, std::string config_json);
  // Forgets everything (obliterate): leases, buckets, flags, window, alarm.
  core::Task<core::Result<bool>> Reset(std::string queue);
  // ctx.rateLimit(ms): the queue bucket is empty until `until`.
  core::Task<core::Result<bool>> RateLimitUntil(std::string queue, std::int64_t until);
  core::Task<core::Result<CoordinatorSnapshot>> Inspect(std::string queue);

  core::Task<core::Status> Alarm(platform::AlarmInfo info) override;

 private:
  struct Lease {
    std::int64_t token = 0;
    std::string owner;
    std::int64_t expires_at = 0;
    std::int64_t granted_at = 0;
    std::optional<std::string> group;
  };

  std::int64_t NowMs() const;
  core::Status Load(const std::string& queue);
  core::Task<core::Status> EnsureConfig();
  core::Status SaveFlag(const std::string& key, const std::string& value);
  // Leases change in memory and are written together by FlushLeases() (one statement for the
  // upserts, one for the deletions) before the RPC's next await or its return.
  core::Status SaveLease(const std::string& id, const Lease& lease);
  core::Status DeleteLease(const std::string& id);
  core::Status FlushLeases();
  core::Status SaveBucket(const std::string& key, const BucketState& bucket);
  core::Status SaveInflight(const std::string& id, std::optional<std::int64_t> sent_at);
  // A dispatch pass is due at `at`.
  core::Task<core::Status> KickAt(std::int64_t at);
  AdmitAnswer AdmitOne(const AdmitItem& item, const std::string& owner, std::int64_t now,
                       std::vector<std::string>& dirty_buckets);
  AdmitAnswer TakeTokens(const AdmitItem& item, std::int64_t now,
                         std::vector<std::string>& dirty_buckets);
  void RefundTokens(const std::optional<std::string>& group);
  // The alarm moves to `at` if that is earlier than the one set.
  core::Task<core::Status> ArmAlarm(std::int64_t at);
  std::optional<std::int64_t> NextAlarmAt() const;
  core::Task<core::Status> ProcessExpiredLeases(std::int64_t now);
  core::Task<core::Status> DispatchPass(std::int64_t now);
  core::Task<core::Status> RetentionSweep(std::int64_t now);
  void CollectIdleBuckets(std::int64_t now);
  std::shared_ptr<EngineContext> Context();

  EngineBindings bindings_;
  bool loaded_ = false;
  std::string queue_;
  QueueConfig config_;
  bool config_known_ = false;
  std::int64_t config_version_ = 0;
  bool paused_ = false;
  bool parked_ = false;  // Rows were parked as saturated: a release runs a dispatch pass.
  std::optional<std::int64_t> kick_at_;
  std::int64_t last_sweep_ = 0;
  bool finished_since_sweep_ = false;
  bool had_waiting_ = false;        // For the `drained` event.
  bool pass_pending_ = false;       // The last pass filled the window: more rows may wait.
  std::int64_t blocked_until_ = 0;  // ctx.rateLimit(): no grant before this.
  std::optional<std::int64_t> next_delayed_;  // Earliest undispatched dispatcher-owned delayed row.
  std::optional<std::int64_t> alarm_at_;      // The alarm this object set.
  int alarm_failures_ = 0;                    // Consecutive failed alarm runs (in memory).
  bool alarm_known_ = false;
  std::map<std::string, Lease> leases_;  // Ordered: deterministic iteration.
  std::set<std::string> dirty_leases_;   // Changed since the last FlushLeases().
  std::map<std::string, BucketState> buckets_;
  std::map<std::string, std::int64_t> inflight_;  // Dispatcher envelopes: job -> sent_at.
  std::shared_ptr<EngineContext> context_;
};

// Registers the coordinator class under `class_name` (wrangler's class_name; "Coordinator" in
// fixtures/wrangler.jsonc) with the bindings its instances use to reach D1 and the queues.
void RegisterCoordinator(platform::DurableObjectRegistry& registry, EngineBindings bindings,
                         std::string class_name = "Coordinator");

}  // namespace cfemu::engine
