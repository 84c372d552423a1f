// One Durable Object (one id) of a namespace: its storage, and its in-memory incarnations. The
// live incarnation (LiveObject) holds the class instance, its state, its Env and its input gate;
// eviction or reset retires it (memory lost, storage kept) and the next event creates a new one.
// A retired incarnation is destroyed only once nothing of it runs any more.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "emulator/durable_objects/input_gate.h"
#include "emulator/durable_objects/object_storage.h"
#include "emulator/sim/invocation.h"
#include "src/platform/durable_object.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

class DurableObjectService;
class ObjectState;

// One in-memory incarnation. Members are destroyed object first, Env last.
struct LiveObject {
  ~LiveObject();

  std::shared_ptr<Invocation> invocation;  // Its token is cancelled when the incarnation dies.
  std::shared_ptr<platform::Env> env;
  std::unique_ptr<ObjectState> state;
  InputGate gate;
  std::unique_ptr<platform::DurableObject> object;
  int activity = 0;      // Events, blockConcurrencyWhile() and waitUntil() tasks running.
  bool defunct = false;  // Evicted or reset: storage calls fail, no new event starts here.
};

// Counts one activity of an incarnation for as long as it lives (in a coroutine frame).
class ActivityHold {
 public:
  explicit ActivityHold(std::shared_ptr<LiveObject> live) : live_(std::move(live)) {
    ++live_->activity;
  }
  ~ActivityHold() { --live_->activity; }
  ActivityHold(const ActivityHold&) = delete;
  ActivityHold& operator=(const ActivityHold&) = delete;

 private:
  std::shared_ptr<LiveObject> live_;
};

class ObjectInstance {
 public:
  ObjectInstance(DurableObjectService& service, platform::DurableObjectId id,
                 std::unique_ptr<ObjectStorage> storage);
  ~ObjectInstance();

  const platform::DurableObjectId& id() const { return id_; }
  const std::string& actor() const { return actor_; }
  ObjectStorage& storage() { return *storage_; }
  DurableObjectService& service() { return service_; }

  // The live incarnation, created now (its constructor runs) if there is none.
  core::Result<std::shared_ptr<LiveObject>> Live();
  bool has_live() const { return live_ != nullptr; }

  // Memory lost, storage kept: in-flight work of `live` is cancelled, pending implicit writes
  // are rolled back, and the next event creates a new incarnation.
  void Reset(const std::shared_ptr<LiveObject>& live, std::string_view reason);
  // Retires the live incarnation now if no event runs on it; otherwise when the last one ends.
  // Pending timers and tasks it spawned are lost with its memory.
  void RequestEviction(std::string_view reason);
  // Called when an activity ends: frees retired incarnations that are idle and arms the idle
  // lifecycle (fault O1): hibernation after 10 s when nothing is pending, otherwise eviction
  // after 70-140 s without events.
  void AfterActivity();
  // The soft per-object request rate (checklist 70).
  core::Status AdmitRequest();
  // Commits the writes of `live` made since its last await; on failure (fault O2 at
  // do.storage.commit) rolls them back and resets the object.
  core::Status CommitPending(const std::shared_ptr<LiveObject>& live, std::string_view site);

 private:
  // No event, blockConcurrencyWhile() or waitUntil() task runs and the input gate is open.
  bool Quiet(const LiveObject& live) const;
  // Quiet, and nothing else holds the incarnation's Env (a pending timer or a task it spawned
  // does): the incarnation may hibernate, and may be destroyed.
  bool Idle(const LiveObject& live) const;
  // Whether the live incarnation has had no event since the idle timer `generation` was armed.
  bool QuietSince(std::uint64_t generation) const;
  void Evict(std::string_view reason);
  void Retire(std::shared_ptr<LiveObject> live);
  void Sweep();
  core::Task<void> IdleTimer(std::uint64_t generation, core::Instant idle_since);

  DurableObjectService& service_;
  platform::DurableObjectId id_;
  std::string actor_;
  std::unique_ptr<ObjectStorage> storage_;
  std::shared_ptr<LiveObject> live_;
  std::vector<std::shared_ptr<LiveObject>> retired_;
  std::deque<core::Instant> recent_requests_;
  bool eviction_requested_ = false;
  std::string eviction_reason_;
  std::uint64_t idle_generation_ = 0;
};

}  // namespace cfemu::emulator
