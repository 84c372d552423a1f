#include "emulator/durable_objects/object_state.h"

#include "emulator/durable_objects/durable_object_service.h"
#include "src/core/cover.h"

namespace cfemu::emulator {

using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using platform::Json;
using platform::StorageEntries;

namespace {

Status Retired() {
  return Status::Unavailable(
      "Durable Object storage operation failed: the object was reset or evicted");
}

// Closes the input gate for as long as it lives (in a coroutine frame).
class GateHold {
 public:
  GateHold(std::shared_ptr<LiveObject> live, bool close) : live_(std::move(live)), close_(close) {
    if (close_) live_->gate.Close();
  }
  ~GateHold() {
    if (close_) live_->gate.Open();
  }
  GateHold(const GateHold&) = delete;
  GateHold& operator=(const GateHold&) = delete;

 private:
  std::shared_ptr<LiveObject> live_;
  bool close_;
};

}  // namespace

// ---- The synchronous APIs ----------------------------------------------------------------

class SqlApi final : public platform::DurableObjectSql {
 public:
  SqlApi(ObjectInstance& instance, std::weak_ptr<LiveObject> live)
      : instance_(instance), live_(std::move(live)) {}
  Result<platform::SqlCursor> Exec(std::string query,
                                   std::vector<platform::D1Param> bindings) override {
    auto live = live_.lock();
    if (!live || live->defunct) return Retired();
    return instance_.storage().Exec(query, bindings);
  }
  std::int64_t database_size() const override { return instance_.storage().size_bytes(); }

 private:
  ObjectInstance& instance_;
  std::weak_ptr<LiveObject> live_;
};

class KvApi final : public platform::DurableObjectSyncKv {
 public:
  KvApi(ObjectInstance& instance, std::weak_ptr<LiveObject> live)
      : instance_(instance), live_(std::move(live)) {}
  Result<std::optional<Json>> Get(std::string_view key) override {
    CFEMU_RETURN_IF_ERROR(Usable());
    return instance_.storage().Get(key);
  }
  Status Put(std::string key, Json value) override {
    CFEMU_RETURN_IF_ERROR(Usable());
    CFEMU_RETURN_IF_ERROR(instance_.storage().BeginImplicit());
    return instance_.storage().Put(key, value);
  }
  Result<bool> Delete(std::string_view key) override {
    CFEMU_RETURN_IF_ERROR(Usable());
    CFEMU_RETURN_IF_ERROR(instance_.storage().BeginImplicit());
    return instance_.storage().Delete(key);
  }
  Result<StorageEntries> List(platform::StorageListOptions options) override {
    CFEMU_RETURN_IF_ERROR(Usable());
    return instance_.storage().List(options);
  }

 private:
  Status Usable() const {
    auto live = live_.lock();
    return !live || live->defunct ? Retired() : Status::Ok();
  }
  ObjectInstance& instance_;
  std::weak_ptr<LiveObject> live_;
};

// The `txn` of transaction(): operations run inside the open transaction, with the gate closed.
class TxnApi final : public platform::DurableObjectTransaction {
 public:
  explicit TxnApi(ObjectStorage& storage) : storage_(storage) {}
  Task<Result<std::optional<Json>>> Get(std::string key) override { co_return storage_.Get(key); }
  Task<Status> Put(std::string key, Json value) override { co_return storage_.Put(key, value); }
  Task<Result<bool>> Delete(std::string key) override { co_return storage_.Delete(key); }
  Task<Result<StorageEntries>> List(platform::StorageListOptions options) override {
    co_return storage_.List(options);
  }
  void Rollback() override { rolled_back_ = true; }
  bool rolled_back() const { return rolled_back_; }

 private:
  ObjectStorage& storage_;
  bool rolled_back_ = false;
};

// ---- The async storage API ---------------------------------------------------------------

class StorageApi final : public platform::DurableObjectStorage {
 public:
  StorageApi(ObjectInstance& instance, std::weak_ptr<LiveObject> live)
      : instance_(instance), live_(live), sql_(instance, live), kv_(instance, live) {}

  Task<Result<std::optional<Json>>> Get(std::string key,
                                        platform::StorageGetOptions options) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.get"));
    GateHold hold(live, !options.allow_concurrency);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.get"));
    co_return instance_.storage().Get(key);
  }
  Task<Result<StorageEntries>> Get(std::vector<std::string> keys,
                                   platform::StorageGetOptions options) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.get"));
    GateHold hold(live, !options.allow_concurrency);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.get"));
    co_return instance_.storage().GetMany(keys);
  }
  Task<Status> Put(std::string key, Json value, platform::StoragePutOptions) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.put"));
    GateHold hold(live, true);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.put"));
    co_return instance_.storage().Put(key, value);
  }
  Task<Status> Put(StorageEntries entries, platform::StoragePutOptions) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.put"));
    GateHold hold(live, true);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.put"));
    co_return Atomically([&] { return instance_.storage().PutMany(entries); });
  }
  Task<Result<bool>> Delete(std::string key) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.delete"));
    GateHold hold(live, true);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.delete"));
    co_return instance_.storage().Delete(key);
  }
  Task<Result<std::int64_t>> Delete(std::vector<std::string> keys) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.delete"));
    GateHold hold(live, true);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.delete"));
    std::int64_t deleted = 0;
    const Status status = Atomically([&]() -> Status {
      auto result = instance_.storage().DeleteMany(keys);
      if (!result.ok()) return result.status();
      deleted = *result;
      return Status::Ok();
    });
    if (!status.ok()) co_return status;
    co_return deleted;
  }
  Task<Result<StorageEntries>> List(platform::StorageListOptions options) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.list"));
    GateHold hold(live, !options.allow_concurrency);
    CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.list"));
    co_return instance_.storage().List(options);
  }
  Task<Status> DeleteAll() override;
  Task<Status> Transaction(
      std::function<Task<Status>(platform::DurableObjectTransaction&)> body) override;
  Status TransactionSync(const std::function<Status()>& body) override;
  Task<Status> Sync() override {
    auto live = live_.lock();
    co_return co_await Begin(live, "do.storage.sync");
  }
  Task<Result<std::optional<Instant>>> GetAlarm() override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.alarm"));
    co_return instance_.service().GetAlarm(instance_);
  }
  Task<Status> SetAlarm(Instant at) override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.alarm"));
    co_return instance_.service().SetAlarm(instance_, at);
  }
  Task<Status> DeleteAlarm() override {
    auto live = live_.lock();
    CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.alarm"));
    co_return instance_.service().SetAlarm(instance_, std::nullopt);
  }
  Result<platform::DurableObjectSql*> sql() override {
    if (instance_.storage().backend() != platform::DurableObjectBackend::kSqlite) {
      return Status::FailedPrecondition(
          "SQL is only available on Durable Object classes that use the SQLite storage "
          "backend (new_sqlite_classes)");
    }
    return &sql_;
  }
  Result<platform::DurableObjectSyncKv*> kv() override {
    if (instance_.storage().backend() != platform::DurableObjectBackend::kSqlite) {
      return Status::FailedPrecondition(
          "The synchronous KV API is only available on SQLite-backed Durable Object classes");
    }
    return &kv_;
  }

 private:
  // Fails at once for a retired incarnation; commits the coalesced synchronous writes.
  Task<Status> Begin(const std::shared_ptr<LiveObject>& live, std::string_view site) {
    if (!live || live->defunct) co_return Retired();
    co_return instance_.CommitPending(live, site);
  }
  Task<Status> Latency(const std::shared_ptr<LiveObject>& live, std::string_view site) {
    Host& host = instance_.service().host();
    const core::Duration delay = host.latency().Draw(host.latency().Register(site));
    if (delay <= core::Duration::Zero()) co_return Status::Ok();
    co_return co_await host.SleepUntil(host.clock().Now() + delay, core::TimerKind::kForeground,
                                       live->invocation->token());
  }
  // Runs a multi-key write as one transaction.
  Status Atomically(const std::function<Status()>& write) {
    CFEMU_RETURN_IF_ERROR(instance_.storage().Begin());
    const Status status = write();
    if (!status.ok()) {
      instance_.storage().Rollback();
      return status;
    }
    return instance_.storage().Commit();
  }

  ObjectInstance& instance_;
  std::weak_ptr<LiveObject> live_;
  SqlApi sql_;
  KvApi kv_;
};

Task<Status> StorageApi::DeleteAll() {
  auto live = live_.lock();
  CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.delete_all"));
  GateHold hold(live, true);
  CFEMU_CO_RETURN_IF_ERROR(co_await Latency(live, "do.storage.delete_all"));
  // From compatibility date 2026-02-24 deleteAll() deletes the alarm as well.
  const bool with_alarm = instance_.service().options().compatibility_date >= "2026-02-24";
  // A reset may strike before the deletion commits (fault O2); on the SQLite backend deleteAll()
  // is atomic, so then nothing of it remains.
  FaultInjector& faults = instance_.service().host().faults();
  bool reset = false;
  const std::function<Status()> before_commit = [&]() -> Status {
    reset = faults.Enabled(Fault::kO2ResetMidRequest) &&
            faults.Fire(Fault::kO2ResetMidRequest, "do.storage.delete_all", instance_.actor());
    return reset ? Status::Unavailable("Network connection lost.") : Status::Ok();
  };
  const Status deleted = instance_.storage().DeleteAll(with_alarm, before_commit);
  if (reset) instance_.Reset(live, "storage write failed during deleteAll()");
  CFEMU_CO_RETURN_IF_ERROR(deleted);
  if (with_alarm) CFEMU_CO_RETURN_IF_ERROR(instance_.service().SetAlarm(instance_, std::nullopt));
  co_return Status::Ok();
}

Task<Status> StorageApi::Transaction(
    std::function<Task<Status>(platform::DurableObjectTransaction&)> body) {
  auto live = live_.lock();
  CFEMU_CO_RETURN_IF_ERROR(co_await Begin(live, "do.storage.transaction"));
  GateHold hold(live, true);  // No other event runs while the transaction is open.
  CFEMU_CO_RETURN_IF_ERROR(instance_.storage().Begin());
  TxnApi txn(instance_.storage());
  Status status;
  try {
    status = co_await body(txn);
  } catch (const std::exception& e) {
    status = Status::Unknown(std::string("uncaught exception: ") + e.what());
  }
  if (!status.ok() || txn.rolled_back()) {
    instance_.storage().Rollback();
    co_return status;
  }
  co_return instance_.storage().Commit();
}

Status StorageApi::TransactionSync(const std::function<Status()>& body) {
  auto live = live_.lock();
  if (!live || live->defunct) return Retired();
  if (instance_.storage().backend() != platform::DurableObjectBackend::kSqlite) {
    return Status::FailedPrecondition(
        "transactionSync() is only available on SQLite-backed Durable Object classes");
  }
  CFEMU_RETURN_IF_ERROR(instance_.CommitPending(live, "do.storage.transaction_sync"));
  return Atomically(body);
}

// ---- ObjectState ---------------------------------------------------------------------------

ObjectState::ObjectState(ObjectInstance& instance, std::weak_ptr<LiveObject> live)
    : instance_(instance), live_(live), storage_(std::make_unique<StorageApi>(instance, live)) {}

ObjectState::~ObjectState() = default;

platform::DurableObjectStorage& ObjectState::storage() { return *storage_; }

Task<Status> ObjectState::AwaitBlocked(core::Event* done, std::shared_ptr<Outcome> outcome) {
  if (!outcome->finished) co_await done->Wait();
  co_return outcome->status;
}

Task<Status> ObjectState::BlockConcurrencyWhile(std::function<Task<Status>()> fn) {
  auto blocked = std::make_shared<Blocked>();
  auto live = live_.lock();
  if (!live || live->defunct) {
    blocked->outcome->status = Retired();
    blocked->outcome->finished = true;
    return AwaitBlocked(nullptr, blocked->outcome);
  }
  live->gate.Close();  // Now, before the caller's next await: no event may slip in.
  core::Event* done = &blocked->done;
  std::shared_ptr<Outcome> outcome = blocked->outcome;
  instance_.service().host().Spawn(RunBlocked(instance_, live, std::move(fn), std::move(blocked)));
  return AwaitBlocked(done, std::move(outcome));
}

Task<void> ObjectState::RunBlocked(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                                   std::function<Task<Status>()> fn,
                                   std::shared_ptr<Blocked> blocked) {
  Host& host = instance.service().host();
  Status status;
  {
    ActivityHold hold(live);
    auto& faults = host.faults();
    core::Duration limit = core::limits::kDoBlockConcurrencyTimeout;
    if (faults.Enabled(Fault::kO4BlockConcurrencyTimeout) &&
        faults.Fire(Fault::kO4BlockConcurrencyTimeout, "do.block_concurrency", instance.actor())) {
      limit =
          faults.RandomFor(Fault::kO4BlockConcurrencyTimeout).Between(core::Milliseconds(1), limit);
    }
    auto cancel = core::MakeCancelToken();
    host.Spawn(BlockWatchdog(instance, live, host.clock().Now() + limit, cancel, blocked));
    try {
      status = co_await fn();
    } catch (const std::exception& e) {
      status = Status::Unknown(std::string("uncaught exception: ") + e.what());
    }
    cancel->Cancel("blockConcurrencyWhile finished");
    live->gate.Open();
    if (!status.ok() && !blocked->timed_out) {
      instance.Reset(live, "blockConcurrencyWhile() callback failed: " + status.ToString());
    }
  }
  if (blocked->timed_out) {
    status = Status::Timeout(
        "blockConcurrencyWhile() callback did not complete within 30 s; "
        "the object was reset");
  }
  blocked->outcome->status = status;
  blocked->outcome->finished = true;
  blocked->done.Set();
  instance.AfterActivity();
}

Task<void> ObjectState::BlockWatchdog(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                                      Instant deadline, core::CancelToken cancel,
                                      std::shared_ptr<Blocked> blocked) {
  Host& host = instance.service().host();
  const Status slept = co_await host.SleepUntil(deadline, core::TimerKind::kBackground, cancel);
  if (!slept.ok() || blocked->done.is_set()) co_return;
  blocked->timed_out = true;
  COVER("do.block_concurrency.timeout");
  instance.Reset(live, "blockConcurrencyWhile() exceeded 30 s");
}

void ObjectState::WaitUntil(Task<Status> task) {
  auto live = live_.lock();
  if (!live) return;
  instance_.service().host().Spawn(Track(instance_, live, std::move(task)));
}

Task<void> ObjectState::Track(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                              Task<Status> task) {
  {
    ActivityHold hold(live);
    try {
      (void)co_await std::move(task);
    } catch (...) {
      // A failing waitUntil task does not fail anything in a Durable Object.
    }
  }
  instance.AfterActivity();
}

void ObjectState::Abort(std::string reason) {
  auto live = live_.lock();
  if (live) instance_.Reset(live, "abort(): " + reason);
}

}  // namespace cfemu::emulator
