#include "emulator/durable_objects/object_instance.h"

#include "emulator/durable_objects/durable_object_service.h"
#include "emulator/durable_objects/object_state.h"
#include "src/core/cover.h"

namespace cfemu::emulator {

using core::Instant;
using core::Result;
using core::Status;
using core::TraceEvent;

LiveObject::~LiveObject() {
  object.reset();  // The class instance first: it holds references to state and env.
  state.reset();
}

namespace {

std::string ActorOf(const DurableObjectService& service, const platform::DurableObjectId& id) {
  return "do:" + service.class_name() + ":" + (id.name() ? *id.name() : id.ToString().substr(0, 8));
}

}  // namespace

ObjectInstance::ObjectInstance(DurableObjectService& service, platform::DurableObjectId id,
                               std::unique_ptr<ObjectStorage> storage)
    : service_(service),
      id_(std::move(id)),
      actor_(ActorOf(service, id_)),
      storage_(std::move(storage)) {}

ObjectInstance::~ObjectInstance() = default;

Result<std::shared_ptr<LiveObject>> ObjectInstance::Live() {
  Sweep();
  if (live_) return live_;
  Host& host = service_.host();
  auto live = std::make_shared<LiveObject>();
  // The incarnation's invocation never times out; its token dies with the incarnation.
  live->invocation = std::make_shared<Invocation>(host, actor_, Instant::Max(), std::nullopt);
  live->invocation->SetBeforeAwait(
      [this, weak = std::weak_ptr<LiveObject>(live)](std::string_view site) {
        auto locked = weak.lock();
        return locked ? CommitPending(locked, site) : Status::Ok();
      });
  live->env = service_.env_factory()(actor_, service_.class_name(), live->invocation);
  live->state = std::make_unique<ObjectState>(*this, live);
  live_ = live;  // The constructor may already use storage or blockConcurrencyWhile().
  std::string failure;
  try {
    live->object = service_.options().entry.factory(*live->state, *live->env);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!live->object) {
    Reset(live, "constructor failed");
    return Status::Unavailable("Durable Object constructor failed: " +
                               (failure.empty() ? std::string("no object") : failure));
  }
  ++service_.mutable_stats().constructions;
  if (host.trace().enabled()) host.trace().Emit(actor_, TraceEvent("do.created"));
  return live;
}

bool ObjectInstance::Quiet(const LiveObject& live) const {
  return live.activity == 0 && live.gate.open();
}

bool ObjectInstance::Idle(const LiveObject& live) const {
  return Quiet(live) && live.env.use_count() <= 1;
}

bool ObjectInstance::QuietSince(std::uint64_t generation) const {
  return generation == idle_generation_ && live_ && Quiet(*live_);
}

void ObjectInstance::Retire(std::shared_ptr<LiveObject> live) {
  live->defunct = true;
  if (live_ == live) live_.reset();
  // Stray work of the incarnation ends at its next platform call.
  live->invocation->Kill(KillReason::kRetired, std::nullopt, "", "retired");
  retired_.push_back(std::move(live));
  Sweep();
}

void ObjectInstance::Sweep() {
  std::erase_if(retired_, [this](const std::shared_ptr<LiveObject>& live) { return Idle(*live); });
}

void ObjectInstance::Reset(const std::shared_ptr<LiveObject>& live, std::string_view reason) {
  if (live->defunct) return;
  storage_->RollbackImplicit();
  ++service_.mutable_stats().resets;
  COVER("do.reset");
  core::TraceSink& trace = service_.host().trace();
  if (trace.enabled()) {
    trace.Emit(actor_, TraceEvent("do.reset").Str("reason", std::string(reason)));
  }
  Retire(live);
}

void ObjectInstance::RequestEviction(std::string_view reason) {
  eviction_requested_ = true;
  eviction_reason_ = std::string(reason);
  AfterActivity();
}

void ObjectInstance::AfterActivity() {
  Sweep();
  if (!live_ || !Quiet(*live_)) return;
  Host& host = service_.host();
  FaultInjector& faults = host.faults();
  if (!eviction_requested_ && faults.Enabled(Fault::kO1Eviction) &&
      faults.Fire(Fault::kO1Eviction, "do.evict.random", actor_)) {
    eviction_requested_ = true;
    eviction_reason_ = "fault";
  }
  if (eviction_requested_) {
    eviction_requested_ = false;
    Evict(eviction_reason_);
    return;
  }
  if (faults.Enabled(Fault::kO1Eviction)) {
    host.Spawn(IdleTimer(++idle_generation_, host.clock().Now()));
  }
}

void ObjectInstance::Evict(std::string_view reason) {
  ++service_.mutable_stats().evictions;
  core::TraceSink& trace = service_.host().trace();
  if (trace.enabled()) {
    trace.Emit(actor_, TraceEvent("do.evicted").Str("reason", std::string(reason)));
  }
  Retire(live_);
}

// Production's lifecycle (cloudflare-platform.md 4.6): an object with no pending work
// hibernates after ~10 s without events; pending work (here a timer or a task spawned through
// its Env's runtime, which holds the Env) keeps it in memory until 70-140 s without events, and
// is then lost with it.
core::Task<void> ObjectInstance::IdleTimer(std::uint64_t generation, Instant idle_since) {
  Host& host = service_.host();
  (void)co_await host.SleepUntil(idle_since + core::limits::kDoHibernateIdle,
                                 core::TimerKind::kBackground, nullptr);
  if (!QuietSince(generation)) co_return;
  if (Idle(*live_)) {
    host.faults().Record(Fault::kO1Eviction, "do.evict.idle", actor_);
    Evict("idle");
    co_return;
  }
  const core::Duration evict_after = service_.eviction_random().Between(
      core::limits::kDoEvictIdleMin, core::limits::kDoEvictIdleMax);
  (void)co_await host.SleepUntil(idle_since + evict_after, core::TimerKind::kBackground,
                                 nullptr);
  if (!QuietSince(generation)) co_return;
  host.faults().Record(Fault::kO1Eviction, "do.evict.not_hibernatable", actor_);
  Evict("not_hibernatable");
}

Status ObjectInstance::AdmitRequest() {
  ++idle_generation_;  // A new event: pending idle timers are stale.
  if (!service_.enforce_request_rate()) return Status::Ok();
  const Instant now = service_.host().clock().Now();
  while (!recent_requests_.empty() && recent_requests_.front() <= now - core::Seconds(1)) {
    recent_requests_.pop_front();
  }
  if (static_cast<std::int64_t>(recent_requests_.size()) >=
      service_.options().requests_per_second) {
    COVER("do.overloaded");
    return Status::Overloaded("Durable Object is overloaded. Too many requests queued.");
  }
  recent_requests_.push_back(now);
  return Status::Ok();
}

Status ObjectInstance::CommitPending(const std::shared_ptr<LiveObject>& live,
                                     std::string_view site) {
  if (!storage_->implicit_open()) return Status::Ok();
  FaultInjector& faults = service_.host().faults();
  Status committed;
  if (faults.Enabled(Fault::kO2ResetMidRequest) &&
      faults.Fire(Fault::kO2ResetMidRequest, "do.storage.commit", actor_)) {
    committed = Status::Unavailable("Network connection lost.");
  } else {
    committed = storage_->CommitImplicit();
  }
  if (committed.ok()) return committed;
  // The output gate: what was to leave after these writes is discarded, and the object resets.
  storage_->RollbackImplicit();
  Reset(live, "storage write failed before " + std::string(site));
  return Status::Unavailable("Durable Object reset because its storage write failed: " +
                             committed.message());
}

}  // namespace cfemu::emulator
