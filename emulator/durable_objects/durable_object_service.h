// One Durable Object namespace (one class, one wrangler binding): its objects, their lifecycle,
// their input gates, their storage and their alarms.
//
// Invariants:
// - At most one live instance per id. An instance is created (its constructor runs) on the
//   first event after creation, eviction or reset; its storage outlives it.
// - A new event (stub call or alarm) starts only while the input gate is open; calls made on one
//   stub are admitted in the order they were made (E-order).
// - Writes made without an intervening await commit together, before the object's next await
//   reaches the outside world or when the event ends; if that commit fails, the outgoing call
//   fails and the object resets (the output gate).
// - One alarm per object, at least once: a failed alarm is retried after 2 s x 2^n plus up to
//   25 % jitter, and abandoned after 6 retries; a new SetAlarm supersedes a pending retry.
// - With fault O1 on, an object without events hibernates after 10 s when nothing of it is
//   pending, and is evicted after 70-140 s (seeded) when a timer or spawned task is pending.
// - The memory of an incarnation is released only when no event, blockConcurrencyWhile or
//   background task of it is left, so no suspended frame ever sees a destroyed object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "emulator/durable_objects/object_id.h"
#include "emulator/durable_objects/object_storage.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/host.h"
#include "src/platform/durable_object.h"

namespace cfemu::emulator {

struct DurableObjectOptions {
  std::string class_name;
  std::string namespace_id;  // Empty: derived from the class name.
  platform::DurableObjectRegistry::Entry entry;
  // Persistence: each object's storage is <directory>/<object id>.sqlite. Unset: in memory.
  std::optional<std::filesystem::path> directory;
  ObjectStorageLimits limits;
  // deleteAll() deletes the alarm too from this compatibility date on.
  std::string compatibility_date = "2026-01-01";
  // The soft limit of ~1,000 requests/s per object (checklist 70). Unset: off in strict.
  std::optional<bool> enforce_request_rate;
  std::int64_t requests_per_second = core::limits::kDoSoftRequestsPerSecond;
};

struct DurableObjectStats {
  std::int64_t calls = 0;
  std::int64_t constructions = 0;
  std::int64_t evictions = 0;
  std::int64_t resets = 0;
  std::int64_t alarms_run = 0;
  std::int64_t alarms_failed = 0;
  std::int64_t alarms_abandoned = 0;
};

class ObjectInstance;

class DurableObjectService {
 public:
  static core::Result<std::unique_ptr<DurableObjectService>> Create(
      Host& host, DurableObjectOptions options, InvocationEnvFactory env_factory);
  ~DurableObjectService();
  DurableObjectService(const DurableObjectService&) = delete;
  DurableObjectService& operator=(const DurableObjectService&) = delete;

  // The namespace binding of one actor's Env.
  std::unique_ptr<platform::DurableObjectNamespace> Bind(const ActorScope& scope);

  const std::string& class_name() const { return options_.class_name; }
  const std::string& namespace_id() const { return namespace_id_; }
  const ObjectIdCodec& ids() const { return ids_; }
  const DurableObjectStats& stats() const { return stats_; }
  // True when no alarm is set or running (RunUntilIdle waits for alarms).
  bool IsIdle() const;

  // Tests: drop the object's memory now if no event runs on it (otherwise when the last one
  // ends); storage is kept, pending timers are lost, and the constructor runs again on the next
  // event.
  core::Status EvictForTest(const platform::DurableObjectId& id);
  // Whether the object has a live instance in memory.
  bool IsLive(const platform::DurableObjectId& id) const;

  // ---- Internal to the namespace's parts -------------------------------------------------
  Host& host() { return host_; }
  const DurableObjectOptions& options() const { return options_; }
  DurableObjectStats& mutable_stats() { return stats_; }
  const InvocationEnvFactory& env_factory() const { return env_factory_; }
  bool enforce_request_rate() const { return enforce_request_rate_; }
  // The seeded stream that draws when an idle object that cannot hibernate is evicted.
  core::Random& eviction_random() { return eviction_random_; }
  core::Result<ObjectInstance*> Instance(const platform::DurableObjectId& id);
  // Delivers one event to the object, through its input gate; `admitted` runs once the event
  // has passed the gate (or failed before).
  core::Task<core::Status> Deliver(
      platform::DurableObjectId id, std::string kind,
      std::function<core::Task<core::Status>(platform::DurableObject&)> body,
      std::function<void()> admitted);
  // N1: until when `actor` is partitioned from this namespace's objects (none: not at all).
  std::optional<core::Instant> PartitionedUntil(std::string_view actor) const;
  void Partition(std::string_view actor, core::Instant until);
  // Alarm operations of one object (through its storage).
  core::Result<std::optional<core::Instant>> GetAlarm(ObjectInstance& instance);
  core::Status SetAlarm(ObjectInstance& instance, std::optional<core::Instant> at);

 private:
  DurableObjectService(Host& host, DurableObjectOptions options, InvocationEnvFactory factory);
  core::Status RestorePersistedAlarms();
  void ScheduleAlarm(const std::string& id, core::Instant at);
  core::Task<void> AlarmTimer(std::string id, core::Instant at, std::uint64_t generation,
                              core::CancelToken timer);
  core::Task<void> RunAlarm(std::string id);

  struct AlarmState {
    std::optional<core::Instant> scheduled;
    bool running = false;
    bool deleted_while_running = false;
    bool set_while_running = false;
    int retry_count = 0;
    std::uint64_t generation = 0;
    // Wakes the timer of the scheduled alarm early when it is superseded or deleted, so a
    // replaced alarm does not keep the world busy until its old time.
    core::CancelToken timer;
  };

  Host& host_;
  std::map<std::string, core::Instant, std::less<>> partitions_;  // N1, by calling actor.
  DurableObjectOptions options_;
  InvocationEnvFactory env_factory_;
  std::string namespace_id_;
  ObjectIdCodec ids_;
  bool enforce_request_rate_;
  core::Random ids_random_;
  core::Random jitter_;
  core::Random eviction_random_;
  std::map<std::string, std::unique_ptr<ObjectInstance>> instances_;  // By id.
  std::map<std::string, AlarmState> alarms_;                          // By id.
  DurableObjectStats stats_;
  int idle_check_ = 0;
};

}  // namespace cfemu::emulator
