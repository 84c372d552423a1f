// Durable Objects as a Worker sees them (cloudflare-platform.md §4; C++ spellings in
// cpp-contract.md): namespaces and ids, stubs whose calls are copied and delivered through the
// object's input gate, the object's state (storage: async KV API, sync KV API, SQL API, alarms;
// blockConcurrencyWhile, waitUntil, abort), and the class registry by wrangler `class_name`.
// Interfaces only; emulator/durable_objects implements them.
//
// One live instance per id; events are delivered one at a time and interleave only at awaits;
// while a storage operation or blockConcurrencyWhile() is in progress no new event starts (the
// input gate). Storage values are JSON (the structured-clone values the engine needs).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"
#include "src/platform/d1.h"

namespace cfemu::platform {

using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using Json = nlohmann::json;

class Env;

// A Durable Object id: 64 lowercase hex digits. Not every 64-hex string is an id of a given
// namespace (IdFromString checks). Ids made by IdFromName carry the name.
class DurableObjectId {
 public:
  DurableObjectId() = default;
  DurableObjectId(std::string hex, std::optional<std::string> name)
      : hex_(std::move(hex)), name_(std::move(name)) {}
  const std::string& ToString() const { return hex_; }
  const std::optional<std::string>& name() const { return name_; }
  bool Equals(const DurableObjectId& other) const { return hex_ == other.hex_; }
  friend bool operator==(const DurableObjectId& a, const DurableObjectId& b) {
    return a.hex_ == b.hex_;
  }
  friend bool operator<(const DurableObjectId& a, const DurableObjectId& b) {
    return a.hex_ < b.hex_;
  }

 private:
  std::string hex_;
  std::optional<std::string> name_;
};

struct AlarmInfo {
  AlarmInfo() = default;
  AlarmInfo(int retry_count, bool is_retry) : retry_count(retry_count), is_retry(is_retry) {}
  int retry_count = 0;  // Previous attempts of this alarm.
  bool is_retry = false;
};

// ---- Storage -------------------------------------------------------------------------------
// The option structs have constructors: see the GCC 12 note in src/core/task.h.

struct StorageGetOptions {
  StorageGetOptions() = default;
  bool allow_concurrency = false;  // Do not close the input gate for this read.
  bool no_cache = false;           // A hint only.
};

struct StoragePutOptions {
  StoragePutOptions() = default;
  bool allow_unconfirmed = false;
  bool no_cache = false;
};

struct StorageListOptions {
  StorageListOptions() = default;
  std::optional<std::string> start;        // Inclusive.
  std::optional<std::string> start_after;  // Exclusive; not together with start.
  std::optional<std::string> end;          // Exclusive.
  std::optional<std::string> prefix;
  bool reverse = false;
  std::optional<int> limit;
  bool allow_concurrency = false;
};

// Key-value pairs in key order (UTF-8 byte order; descending with `reverse`).
using StorageEntries = std::vector<std::pair<std::string, Json>>;

// A SQL cursor (ctx.storage.sql.exec). Rows are produced when the statement runs; rows_read and
// rows_written are final at once rather than growing while iterating.
class SqlCursor {
 public:
  SqlCursor() = default;
  SqlCursor(std::vector<std::string> columns, std::vector<std::vector<D1Value>> rows,
            std::int64_t rows_read, std::int64_t rows_written)
      : columns_(std::make_shared<const std::vector<std::string>>(std::move(columns))),
        rows_(std::move(rows)),
        rows_read_(rows_read),
        rows_written_(rows_written) {}

  const std::vector<std::string>& column_names() const {
    static const std::vector<std::string> kNone;
    return columns_ ? *columns_ : kNone;
  }
  std::int64_t rows_read() const { return rows_read_; }
  std::int64_t rows_written() const { return rows_written_; }

  // next(): the next row as an object, or nullopt when done.
  std::optional<D1Row> Next() {
    if (position_ >= rows_.size()) return std::nullopt;
    return D1Row{columns_, rows_[position_++]};
  }
  // raw(): the next row as an array; shares the position with Next().
  std::optional<std::vector<D1Value>> NextRaw() {
    if (position_ >= rows_.size()) return std::nullopt;
    return rows_[position_++];
  }
  // toArray(): every remaining row.
  std::vector<D1Row> ToArray() {
    std::vector<D1Row> out;
    while (auto row = Next()) out.push_back(std::move(*row));
    return out;
  }
  // one(): the only row; an error unless exactly one row remains.
  Result<D1Row> One() {
    if (rows_.size() - position_ != 1) {
      return Status::InvalidArgument(
          rows_.size() == position_
              ? "Expected exactly one result from SQL query, but got no results."
              : "Expected exactly one result from SQL query, but got multiple "
                "results.");
    }
    return *Next();
  }

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;  // Shared by every row.
  std::vector<std::vector<D1Value>> rows_;
  std::size_t position_ = 0;
  std::int64_t rows_read_ = 0;
  std::int64_t rows_written_ = 0;
};

// ctx.storage.sql (SQLite-backed classes). Several ';'-separated statements may run; bindings
// apply to the last one and the cursor is the last one's. BEGIN/SAVEPOINT are rejected (use
// TransactionSync), `_cf_` names are reserved, ATTACH is denied; D1's limits apply.
class DurableObjectSql {
 public:
  virtual ~DurableObjectSql() = default;
  virtual Result<SqlCursor> Exec(std::string query, std::vector<D1Param> bindings) = 0;
  Result<SqlCursor> Exec(std::string query) { return Exec(std::move(query), {}); }
  template <class... Args>
  Result<SqlCursor> Exec(std::string query, Args&&... args) {
    return Exec(
        std::move(query),
        D1PreparedStatement(nullptr, std::string()).Bind(std::forward<Args>(args)...).params());
  }
  virtual std::int64_t database_size() const = 0;  // Bytes.
};

// ctx.storage.kv: the synchronous KV API of SQLite-backed classes.
class DurableObjectSyncKv {
 public:
  virtual ~DurableObjectSyncKv() = default;
  virtual Result<std::optional<Json>> Get(std::string_view key) = 0;
  virtual Status Put(std::string key, Json value) = 0;
  virtual Result<bool> Delete(std::string_view key) = 0;
  virtual Result<StorageEntries> List(StorageListOptions options) = 0;
};

// The `txn` of storage.transaction(): the same operations, and Rollback().
class DurableObjectTransaction {
 public:
  virtual ~DurableObjectTransaction() = default;
  virtual Task<Result<std::optional<Json>>> Get(std::string key) = 0;
  virtual Task<Status> Put(std::string key, Json value) = 0;
  virtual Task<Result<bool>> Delete(std::string key) = 0;
  virtual Task<Result<StorageEntries>> List(StorageListOptions options) = 0;
  virtual void Rollback() = 0;
};

// ctx.storage. Every call is atomic and isolated; multi-key calls take at most 128 keys.
class DurableObjectStorage {
 public:
  virtual ~DurableObjectStorage() = default;

  virtual Task<Result<std::optional<Json>>> Get(
      std::string key, StorageGetOptions options = StorageGetOptions()) = 0;
  // Found keys only, in key order.
  virtual Task<Result<StorageEntries>> Get(std::vector<std::string> keys,
                                           StorageGetOptions options = StorageGetOptions()) = 0;
  virtual Task<Status> Put(std::string key, Json value,
                           StoragePutOptions options = StoragePutOptions()) = 0;
  virtual Task<Status> Put(StorageEntries entries,
                           StoragePutOptions options = StoragePutOptions()) = 0;
  // Whether the key existed.
  virtual Task<Result<bool>> Delete(std::string key) = 0;
  // How many of the keys existed.
  virtual Task<Result<std::int64_t>> Delete(std::vector<std::string> keys) = 0;
  virtual Task<Result<StorageEntries>> List(StorageListOptions options = StorageListOptions()) = 0;
  // Removes every key and SQL table atomically (SQLite backend), and the alarm from
  // compatibility date 2026-02-24.
  virtual Task<Status> DeleteAll() = 0;
  // Runs `body` in a transaction: a non-OK status or Rollback() undoes every operation.
  virtual Task<Status> Transaction(std::function<Task<Status>(DurableObjectTransaction&)> body) = 0;
  // SQLite backend: runs `body` synchronously in a transaction; a non-OK status rolls back.
  virtual Status TransactionSync(const std::function<Status()>& body) = 0;
  // Completes when every write so far is durable.
  virtual Task<Status> Sync() = 0;

  // Alarms: one per object. A time <= now runs as soon as possible; SetAlarm replaces any
  // pending alarm (and a pending retry). GetAlarm is empty while the handler runs.
  virtual Task<Result<std::optional<Instant>>> GetAlarm() = 0;
  virtual Task<Status> SetAlarm(Instant at) = 0;
  virtual Task<Status> DeleteAlarm() = 0;

  // SQLite-backed classes only; kFailedPrecondition on KV-backed ones.
  virtual Result<DurableObjectSql*> sql() = 0;
  virtual Result<DurableObjectSyncKv*> kv() = 0;
};

// ---- The object ---------------------------------------------------------------------------

class DurableObjectState {
 public:
  virtual ~DurableObjectState() = default;
  virtual const DurableObjectId& id() const = 0;
  virtual DurableObjectStorage& storage() = 0;
  // Starts `fn` at once and admits no other event until it completes; the returned task
  // completes with fn's status (awaiting it is optional, so a constructor may call this). A
  // failure or more than 30 s resets the object.
  virtual Task<Status> BlockConcurrencyWhile(std::function<Task<Status>()> fn) = 0;
  virtual void WaitUntil(Task<Status> task) = 0;
  // Resets the object: memory lost, storage kept, in-flight work cancelled.
  virtual void Abort(std::string reason) = 0;
};

class DurableObject {
 public:
  DurableObject(DurableObjectState& state, Env& env) : state_(state), env_(env) {}
  virtual ~DurableObject() = default;
  DurableObject(const DurableObject&) = delete;
  DurableObject& operator=(const DurableObject&) = delete;

  // The alarm handler; a non-OK status (or an exception) is a failure, retried from 2 s.
  virtual Task<Status> Alarm(AlarmInfo info);

 protected:
  DurableObjectState& state() { return state_; }
  DurableObjectStorage& storage() { return state_.storage(); }
  Env& env() { return env_; }

 private:
  DurableObjectState& state_;
  Env& env_;
};

inline Task<Status> DurableObject::Alarm(AlarmInfo) {
  co_return Status::FailedPrecondition("this Durable Object class has no alarm() handler");
}

// ---- Stubs and namespaces -----------------------------------------------------------------

class DurableObjectStub {
 public:
  virtual ~DurableObjectStub() = default;
  virtual const DurableObjectId& id() const = 0;

  // Calls `method` on the object with copies of `args`, through its input gate, in the order
  // calls are made on this stub (E-order). Returns the method's result, or kUnavailable,
  // kOverloaded, kIndeterminate (applied, reply lost) from the infrastructure; after such a
  // failure, or an exception escaping the method, the stub is broken and every later call
  // returns kFailedPrecondition: make a new stub.
  template <class T, class R, class... Params, class... Args>
  Task<Result<R>> Call(Task<Result<R>> (T::*method)(Params...), Args&&... args) {
    static_assert(std::is_base_of_v<DurableObject, T>, "methods of DurableObject classes only");
    static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of arguments");
    return CallPacked<T, R>(method,
                            std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...));
  }

 protected:
  // Delivers `body` to the object and runs it at most once (implementation of Call()).
  virtual Task<Status> Invoke(std::function<Task<Status>(DurableObject&)> body) = 0;

 private:
  // The method call inside the object. A plain coroutine with by-value parameters (not a
  // coroutine lambda, whose captures GCC 12 mishandles).
  template <class T, class R, class Method, class Tuple>
  static Task<Status> Apply(DurableObject& object, Method method, Tuple args,
                            std::shared_ptr<Result<R>> slot) {
    auto* target = dynamic_cast<T*>(&object);
    if (target == nullptr) {
      co_return Status::FailedPrecondition("the object is not of the method's class");
    }
    // The arguments move on into the method: the copy the call made is the object's own.
    auto call = [&](auto&... a) { return (target->*method)(std::move(a)...); };
    Task<Result<R>> task = std::apply(call, args);
    Result<R> result = co_await std::move(task);
    *slot = std::move(result);
    co_return Status::Ok();
  }

  template <class T, class R, class Method, class Tuple>
  Task<Result<R>> CallPacked(Method method, Tuple args) {
    auto slot = std::make_shared<Result<R>>();
    // Invoke() runs the body at most once, so it hands the arguments on instead of copying
    // them again: one copy per call (made above, from the caller's values), as one structured
    // clone in production.
    std::function<Task<Status>(DurableObject&)> body = [method, args = std::move(args),
                                                        slot](DurableObject& o) mutable {
      return Apply<T, R>(o, method, std::move(args), slot);
    };
    const Status delivered = co_await Invoke(std::move(body));
    if (!delivered.ok()) co_return delivered;
    Result<R> result = std::move(*slot);
    co_return result;
  }
};

class DurableObjectNamespace {
 public:
  virtual ~DurableObjectNamespace() = default;
  // Deterministic for a name within this namespace.
  virtual DurableObjectId IdFromName(std::string_view name) = 0;
  // kInvalidArgument for a string that is not an id of this namespace.
  virtual Result<DurableObjectId> IdFromString(std::string_view hex) = 0;
  virtual DurableObjectId NewUniqueId() = 0;
  // A stub, at once and without I/O; the object is created on its first call.
  virtual std::unique_ptr<DurableObjectStub> Get(const DurableObjectId& id) = 0;
  std::unique_ptr<DurableObjectStub> GetByName(std::string_view name) {
    return Get(IdFromName(name));
  }
};

// ---- The class registry -------------------------------------------------------------------

enum class DurableObjectBackend { kSqlite, kKv };

using DurableObjectFactory =
    std::function<std::unique_ptr<DurableObject>(DurableObjectState&, Env&)>;

// Classes by wrangler `class_name`; the CLI and the harness fill it (the engine contributes its
// coordinator).
class DurableObjectRegistry {
 public:
  struct Entry {
    DurableObjectFactory factory;
    DurableObjectBackend backend = DurableObjectBackend::kSqlite;
  };

  void Register(std::string class_name, DurableObjectFactory factory,
                DurableObjectBackend backend = DurableObjectBackend::kSqlite) {
    classes_[std::move(class_name)] = Entry{std::move(factory), backend};
  }
  template <class T>
  void Register(std::string class_name,
                DurableObjectBackend backend = DurableObjectBackend::kSqlite) {
    Register(
        std::move(class_name),
        [](DurableObjectState& state, Env& env) { return std::make_unique<T>(state, env); },
        backend);
  }
  const Entry* Find(std::string_view class_name) const {
    const auto it = classes_.find(class_name);
    return it == classes_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, entry] : classes_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, Entry, std::less<>> classes_;
};

}  // namespace cfemu::platform
