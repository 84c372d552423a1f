#include "emulator/durable_objects/durable_object_service.h"

#include <set>

#include "emulator/durable_objects/object_instance.h"
#include "src/core/cover.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using core::TraceEvent;
using platform::DurableObjectId;

namespace {

// A stub: calls made on it are admitted in order (E-order); an infrastructure failure or an
// exception escaping the method breaks it.
class StubImpl final : public platform::DurableObjectStub {
 public:
  StubImpl(DurableObjectService& service, const ActorScope& caller, DurableObjectId id)
      : service_(service),
        caller_(caller),
        id_(std::move(id)),
        latency_(service.host().latency().Register("do.call")) {}

  const DurableObjectId& id() const override { return id_; }

 protected:
  Task<Status> Invoke(std::function<Task<Status>(platform::DurableObject&)> body) override;

 private:
  DurableObjectService& service_;
  const ActorScope& caller_;
  DurableObjectId id_;
  LatencyModel::Site latency_;
  Task<Status> NetworkBefore();
  Task<Status> NetworkAfter();
  Task<Status> NetworkDelay(const char* site);

  bool broken_ = false;
  std::shared_ptr<core::Event> last_admitted_;
};

// Sets an event when it goes out of scope (in a coroutine frame).
class SetOnExit {
 public:
  explicit SetOnExit(std::shared_ptr<core::Event> event) : event_(std::move(event)) {}
  ~SetOnExit() { event_->Set(); }
  SetOnExit(const SetOnExit&) = delete;
  SetOnExit& operator=(const SetOnExit&) = delete;

 private:
  std::shared_ptr<core::Event> event_;
};

Task<Status> StubImpl::Invoke(std::function<Task<Status>(platform::DurableObject&)> body) {
  if (broken_) {
    co_return Status::FailedPrecondition(
        "This Durable Object stub is broken: an earlier call on it failed. Get a new stub.");
  }
  std::shared_ptr<core::Event> previous = last_admitted_;
  auto admitted = std::make_shared<core::Event>();
  last_admitted_ = admitted;
  SetOnExit release(admitted);
  if (previous) co_await previous->Wait();  // E-order: admitted after the previous call.
  CFEMU_CO_RETURN_IF_ERROR(caller_.Enter("do.call"));
  Host& host = service_.host();
  const core::Duration latency = host.latency().Draw(latency_);
  if (latency > core::Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await caller_.Sleep(latency));
  FaultInjector& faults = host.faults();
  CFEMU_CO_RETURN_IF_ERROR(co_await NetworkBefore());
  if (faults.Enabled(Fault::kO2ResetMidRequest) &&
      faults.Fire(Fault::kO2ResetMidRequest, "do.call.before", caller_.actor())) {
    broken_ = true;
    co_return Status::Unavailable("Network connection lost.");
  }
  if (faults.Enabled(Fault::kO3Overloaded) &&
      faults.Fire(Fault::kO3Overloaded, "do.call.before", caller_.actor())) {
    broken_ = true;
    co_return Status::Overloaded("Durable Object is overloaded. Too many requests queued.");
  }
  // Built outside the co_await expression (see the GCC 12 notes in src/core/task.h).
  std::function<void()> on_admitted = [admitted] { admitted->Set(); };
  const Status delivered =
      co_await service_.Deliver(id_, "call", std::move(body), std::move(on_admitted));
  caller_.NoteMutation();
  if (!delivered.ok()) {
    broken_ = true;
    co_return delivered;
  }
  if (faults.Enabled(Fault::kO8StubIndeterminate) &&
      faults.Fire(Fault::kO8StubIndeterminate, "do.call.after_apply", caller_.actor())) {
    broken_ = true;
    co_return Status::Indeterminate("Network connection lost.");
  }
  co_return co_await NetworkAfter();
}

// The network between the caller and the object (faults N1-N3): a partition that starts now
// or is still on, and a delay with a rare huge tail (so replies of concurrent calls reorder).
Task<Status> StubImpl::NetworkBefore() {
  Host& host = service_.host();
  FaultInjector& faults = host.faults();
  const core::Instant now = host.clock().Now();
  if (faults.Enabled(Fault::kN1Partition) &&
      faults.Fire(Fault::kN1Partition, "rpc.partition", caller_.actor())) {
    core::Random& random = faults.RandomFor(Fault::kN1Partition);
    const auto seconds = static_cast<std::int64_t>(static_cast<double>(random.Range(1, 60)) *
                                                   faults.Intensity(Fault::kN1Partition));
    service_.Partition(caller_.actor(), now + core::Seconds(std::max<std::int64_t>(1, seconds)));
  }
  if (const auto until = service_.PartitionedUntil(caller_.actor()); until && *until > now) {
    broken_ = true;
    // Half the calls during a partition fail at once, the others hang until it heals.
    if (faults.RandomFor(Fault::kN1Partition).Chance(0.5)) {
      CFEMU_CO_RETURN_IF_ERROR(co_await caller_.Sleep(*until - now));
    }
    co_return Status::Unavailable("Network connection lost.");
  }
  co_return co_await NetworkDelay("rpc.request");
}

Task<Status> StubImpl::NetworkAfter() {
  FaultInjector& faults = service_.host().faults();
  CFEMU_CO_RETURN_IF_ERROR(co_await NetworkDelay("rpc.reply"));
  if (faults.Enabled(Fault::kN2ReplyLost) &&
      faults.Fire(Fault::kN2ReplyLost, "rpc.reply", caller_.actor())) {
    broken_ = true;  // Applied, but the caller never hears so.
    co_return Status::Indeterminate("Network connection lost.");
  }
  co_return Status::Ok();
}

Task<Status> StubImpl::NetworkDelay(const char* site) {
  FaultInjector& faults = service_.host().faults();
  if (!faults.Enabled(Fault::kN3DelayReorder) ||
      !faults.Fire(Fault::kN3DelayReorder, site, caller_.actor())) {
    co_return Status::Ok();
  }
  // Pareto from 50 ms with alpha 1.1: mostly tens of milliseconds, rarely minutes.
  core::Random& random = faults.RandomFor(Fault::kN3DelayReorder);
  const core::Duration delay =
      random.Pareto(core::Milliseconds(50), 1.1, core::Minutes(5)) *
      std::max<std::int64_t>(1,
                             static_cast<std::int64_t>(faults.Intensity(Fault::kN3DelayReorder)));
  co_return co_await caller_.Sleep(delay);
}

class NamespaceImpl final : public platform::DurableObjectNamespace {
 public:
  NamespaceImpl(DurableObjectService& service, const ActorScope& scope, core::Random& random)
      : service_(service), scope_(scope), random_(random) {}

  DurableObjectId IdFromName(std::string_view name) override {
    return service_.ids().FromName(name);
  }
  Result<DurableObjectId> IdFromString(std::string_view hex) override {
    return service_.ids().FromString(hex);
  }
  DurableObjectId NewUniqueId() override { return service_.ids().NewUnique(random_); }
  std::unique_ptr<platform::DurableObjectStub> Get(const DurableObjectId& id) override {
    return std::make_unique<StubImpl>(service_, scope_, id);
  }

 private:
  DurableObjectService& service_;
  const ActorScope& scope_;
  core::Random& random_;
};

}  // namespace

std::optional<core::Instant> DurableObjectService::PartitionedUntil(std::string_view actor) const {
  const auto it = partitions_.find(actor);
  if (it == partitions_.end()) return std::nullopt;
  return it->second;
}

void DurableObjectService::Partition(std::string_view actor, core::Instant until) {
  auto it = partitions_.find(actor);
  if (it == partitions_.end()) {
    partitions_.emplace(std::string(actor), until);
  } else {
    it->second = std::max(it->second, until);
  }
}

// ---- The service ---------------------------------------------------------------------------

DurableObjectService::DurableObjectService(Host& host, DurableObjectOptions options,
                                           InvocationEnvFactory factory)
    : host_(host),
      options_(std::move(options)),
      env_factory_(std::move(factory)),
      namespace_id_(options_.namespace_id.empty()
                        ? core::DeriveHexId("durable-object-namespace", options_.class_name)
                        : options_.namespace_id),
      ids_(namespace_id_),
      enforce_request_rate_(
          options_.enforce_request_rate.value_or(host.profile() != Profile::kStrict)),
      ids_random_(host.random().Fork("do/ids/" + options_.class_name)),
      jitter_(host.random().Fork("do/alarm-jitter/" + options_.class_name)),
      eviction_random_(host.random().Fork("do/eviction/" + options_.class_name)) {
  idle_check_ = host_.AddIdleCheck([this] { return IsIdle(); });
}

DurableObjectService::~DurableObjectService() { host_.RemoveIdleCheck(idle_check_); }

Result<std::unique_ptr<DurableObjectService>> DurableObjectService::Create(
    Host& host, DurableObjectOptions options, InvocationEnvFactory env_factory) {
  if (options.class_name.empty()) {
    return Status::InvalidArgument("a Durable Object namespace needs a class_name");
  }
  if (!options.entry.factory) {
    return Status::FailedPrecondition("Durable Object class '" + options.class_name +
                                      "' is not registered");
  }
  // Objects' Envs read the class's clock view: the clock faults T1-T3 never perturb it.
  host.ClockFor(options.class_name).set_fault_free(true);
  if (options.directory) {
    std::error_code error;
    std::filesystem::create_directories(*options.directory, error);
    if (error) {
      return Status::Unavailable("cannot create " + options.directory->string() + ": " +
                                 error.message());
    }
  }
  std::unique_ptr<DurableObjectService> service(
      new DurableObjectService(host, std::move(options), std::move(env_factory)));
  CFEMU_RETURN_IF_ERROR(service->RestorePersistedAlarms());
  return service;
}

std::unique_ptr<platform::DurableObjectNamespace> DurableObjectService::Bind(
    const ActorScope& scope) {
  return std::make_unique<NamespaceImpl>(*this, scope, ids_random_);
}

Result<ObjectInstance*> DurableObjectService::Instance(const DurableObjectId& id) {
  if (const auto it = instances_.find(id.ToString()); it != instances_.end()) {
    return it->second.get();
  }
  std::optional<std::filesystem::path> file;
  if (options_.directory) file = *options_.directory / (id.ToString() + ".sqlite");
  auto storage = ObjectStorage::Open(file, options_.limits, options_.entry.backend);
  if (!storage.ok()) return storage.status();
  auto instance = std::make_unique<ObjectInstance>(*this, id, std::move(*storage));
  ObjectInstance* raw = instance.get();
  instances_.emplace(id.ToString(), std::move(instance));
  return raw;
}

bool DurableObjectService::IsLive(const DurableObjectId& id) const {
  const auto it = instances_.find(id.ToString());
  return it != instances_.end() && it->second->has_live();
}

Status DurableObjectService::EvictForTest(const DurableObjectId& id) {
  auto instance = Instance(id);
  if (!instance.ok()) return instance.status();
  (*instance)->RequestEviction("forced");
  return Status::Ok();
}

bool DurableObjectService::IsIdle() const {
  for (const auto& [id, alarm] : alarms_) {
    if (alarm.scheduled || alarm.running) return false;
  }
  return true;
}

Task<Status> DurableObjectService::Deliver(
    DurableObjectId id, std::string kind,
    std::function<Task<Status>(platform::DurableObject&)> body, std::function<void()> admitted) {
  auto instance = Instance(id);
  if (!instance.ok()) {
    admitted();
    co_return instance.status();
  }
  std::shared_ptr<LiveObject> live;
  while (true) {
    auto created = (*instance)->Live();
    if (!created.ok()) {
      admitted();
      co_return created.status();
    }
    live = *created;
    co_await live->gate.WaitOpen();  // The input gate.
    if (!live->defunct) break;       // Reset while waiting: the next incarnation takes it.
  }
  const Status rate = (*instance)->AdmitRequest();
  admitted();
  if (!rate.ok()) co_return rate;
  if (kind == "call") ++stats_.calls;
  Status status;
  {
    ActivityHold hold(live);
    if (host_.faults().Enabled(Fault::kO7Interleaving) &&
        host_.faults().Fire(Fault::kO7Interleaving, "do.call.interleave", (*instance)->actor())) {
      // Yield at an await so that another event may interleave with this one.
      (void)co_await host_.SleepUntil(host_.clock().Now() + core::Milliseconds(1),
                                      core::TimerKind::kForeground, live->invocation->token());
    }
    std::string thrown;
    try {
      status = co_await body(*live->object);
    } catch (const std::exception& e) {
      thrown = e.what();
    } catch (...) {
      thrown = "unknown";
    }
    if (!thrown.empty()) status = Status::Unknown("uncaught exception: " + thrown);
    if (!live->defunct) {
      const Status committed = (*instance)->CommitPending(live, "do.event.end");
      if (!committed.ok()) status = committed;
    }
  }
  if (host_.trace().enabled()) {
    host_.trace().Emit((*instance)->actor(),
                       TraceEvent("do.event")
                           .Str("kind", kind)
                           .Str("outcome", std::string(core::CodeName(status.code()))));
  }
  (*instance)->AfterActivity();
  co_return status;
}

// ---- Alarms ----------------------------------------------------------------------------------

Result<std::optional<Instant>> DurableObjectService::GetAlarm(ObjectInstance& instance) {
  return instance.storage().GetAlarm();
}

Status DurableObjectService::SetAlarm(ObjectInstance& instance, std::optional<Instant> at) {
  CFEMU_RETURN_IF_ERROR(instance.storage().SetAlarm(at));
  AlarmState& alarm = alarms_[instance.id().ToString()];
  ++alarm.generation;
  alarm.retry_count = 0;  // A new alarm (or none) supersedes a pending retry.
  alarm.scheduled = at;
  if (alarm.running) {
    alarm.set_while_running = at.has_value();
    alarm.deleted_while_running = !at.has_value();
  }
  if (at) {
    ScheduleAlarm(instance.id().ToString(), *at);
  } else if (alarm.timer) {
    alarm.timer->Cancel("alarm deleted");
    alarm.timer.reset();
  }
  return Status::Ok();
}

void DurableObjectService::ScheduleAlarm(const std::string& id, Instant at) {
  AlarmState& alarm = alarms_[id];
  if (alarm.timer) alarm.timer->Cancel("alarm superseded");
  alarm.timer = core::MakeCancelToken();
  host_.Spawn(AlarmTimer(id, at, alarm.generation, alarm.timer));
}

Task<void> DurableObjectService::AlarmTimer(std::string id, Instant at, std::uint64_t generation,
                                            core::CancelToken timer) {
  const Status slept = co_await host_.SleepUntil(at, core::TimerKind::kForeground, timer);
  if (!slept.ok()) co_return;  // Superseded or deleted: the new timer (if any) takes over.
  AlarmState& alarm = alarms_[id];
  // Superseded, deleted, or queued behind a running alarm (which reschedules it when done).
  if (alarm.generation != generation || !alarm.scheduled || alarm.running) co_return;
  co_await RunAlarm(id);
}

Task<void> DurableObjectService::RunAlarm(std::string id) {
  auto parsed = ids_.FromString(id);
  auto instance = Instance(*parsed);
  if (!instance.ok()) co_return;
  {
    AlarmState& alarm = alarms_[id];
    alarm.running = true;
    alarm.scheduled.reset();  // getAlarm() is empty while the handler runs.
    alarm.set_while_running = false;
    alarm.deleted_while_running = false;
  }
  (void)(*instance)->storage().SetAlarm(std::nullopt);
  FaultInjector& faults = host_.faults();
  if (faults.Enabled(Fault::kO6LateAlarm) &&
      faults.Fire(Fault::kO6LateAlarm, "do.alarm.late", (*instance)->actor())) {
    const core::Duration late =
        faults.RandomFor(Fault::kO6LateAlarm).Between(core::Seconds(1), core::Seconds(60));
    (void)co_await host_.SleepUntil(host_.clock().Now() + late, core::TimerKind::kForeground,
                                    nullptr);
  }
  const int retry_count = alarms_[id].retry_count;
  const platform::AlarmInfo info(retry_count, retry_count > 0);
  std::function<Task<Status>(platform::DurableObject&)> body =
      [info](platform::DurableObject& object) { return object.Alarm(info); };
  std::function<void()> on_admitted = [] {};
  Status status = co_await Deliver(*parsed, "alarm", std::move(body), std::move(on_admitted));
  if (status.ok() && faults.Enabled(Fault::kO5AlarmFailure) &&
      faults.Fire(Fault::kO5AlarmFailure, "do.alarm.result", (*instance)->actor())) {
    status = Status::Unavailable("alarm failed after running (at-least-once)");
  }
  ++stats_.alarms_run;
  if (host_.trace().enabled()) {
    host_.trace().Emit((*instance)->actor(),
                       TraceEvent("do.alarm")
                           .Int("retry_count", retry_count)
                           .Str("outcome", std::string(core::CodeName(status.code()))));
  }
  AlarmState& alarm = alarms_[id];
  alarm.running = false;
  if (alarm.set_while_running && alarm.scheduled) {
    ScheduleAlarm(id, *alarm.scheduled);  // The new alarm stands; it may be due already.
    co_return;
  }
  if (status.ok() || alarm.deleted_while_running) {
    if (!alarm.scheduled) alarms_.erase(id);
    co_return;
  }
  ++stats_.alarms_failed;
  if (alarm.retry_count >= core::limits::kDoAlarmMaxRetries) {
    ++stats_.alarms_abandoned;
    COVER("do.alarm.abandoned");
    if (host_.trace().enabled()) {
      host_.trace().Emit((*instance)->actor(), TraceEvent("do.alarm_abandoned"));
    }
    alarms_.erase(id);
    co_return;
  }
  // Retry after 2 s x 2^n plus up to 25 % jitter.
  const core::Duration delay =
      core::limits::kDoAlarmFirstRetry * (std::int64_t{1} << alarm.retry_count);
  const auto jitter = static_cast<std::int64_t>(jitter_.Below(
      static_cast<std::uint64_t>(delay.ms() * core::limits::kDoAlarmJitterPercent / 100 + 1)));
  const Instant at = host_.clock().Now() + delay + core::Milliseconds(jitter);
  ++alarm.retry_count;
  ++alarm.generation;
  alarm.scheduled = at;
  (void)(*instance)->storage().SetAlarm(at);
  ScheduleAlarm(id, at);
}

Status DurableObjectService::RestorePersistedAlarms() {
  if (!options_.directory) return Status::Ok();
  std::set<std::string> ids;  // Sorted: the restore order does not depend on the file system.
  for (const auto& entry : std::filesystem::directory_iterator(*options_.directory)) {
    if (entry.path().extension() == ".sqlite") ids.insert(entry.path().stem().string());
  }
  for (const auto& hex : ids) {
    auto id = ids_.FromString(hex);
    if (!id.ok()) continue;  // Not an object of this namespace.
    auto instance = Instance(*id);
    if (!instance.ok()) return instance.status();
    auto at = (*instance)->storage().GetAlarm();
    if (!at.ok()) return at.status();
    if (*at) {
      AlarmState& alarm = alarms_[hex];
      alarm.scheduled = **at;
      ScheduleAlarm(hex, **at);
    }
  }
  return Status::Ok();
}

}  // namespace cfemu::emulator
