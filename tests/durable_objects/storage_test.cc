// The storage APIs: async KV, sync KV, SQL, transactions, deleteAll (checklist 57, 60-64).
#include <gtest/gtest.h>

#include "tests/durable_objects/do_testing.h"

namespace cfemu::testing {
namespace {

using core::Code;
using emulator::Simulator;
using platform::StorageEntries;
using platform::StorageListOptions;

// A class whose one method runs a test-supplied script against its state.
class Scripted : public platform::DurableObject {
 public:
  using Script = std::function<Task<Status>(platform::DurableObjectState&, platform::Env&)>;
  static inline Script script;
  Scripted(platform::DurableObjectState& state, platform::Env& env)
      : DurableObject(state, env), state_(state), env_(env) {}
  Task<Result<bool>> Run() {
    CFEMU_CO_RETURN_IF_ERROR(co_await script(state_, env_));
    co_return true;
  }

 private:
  platform::DurableObjectState& state_;
  platform::Env& env_;
};

using Names = std::vector<std::string>;

// The `n`-th decision of `fault` at `site` fires, and no other fault does.
emulator::FaultPlan FailAt(emulator::Fault fault, std::string site, std::int64_t n) {
  emulator::FaultPlan plan(emulator::Profile::kStrict);
  plan.Force({fault, std::move(site), n});
  plan.set_forced_only(true);
  return plan;
}

struct StorageTest : ::testing::Test {
  std::unique_ptr<Simulator> sim = std::make_unique<Simulator>(1);
  std::unique_ptr<DoWorld> world;
  std::unique_ptr<platform::DurableObjectStub> stub;

  void Build(platform::DurableObjectBackend backend = platform::DurableObjectBackend::kSqlite,
             std::string compatibility_date = "2026-01-01",
             std::optional<emulator::FaultPlan> faults = std::nullopt) {
    if (faults) {
      emulator::SimulatorOptions sim_options;
      sim_options.faults = std::move(faults);
      sim = std::make_unique<Simulator>(1, sim_options);
    }
    world = std::make_unique<DoWorld>(*sim);
    world->registry().Register<Scripted>("Scripted", backend);
    emulator::DurableObjectOptions options;
    options.compatibility_date = compatibility_date;
    world->AddNamespace("OBJ", "Scripted", options);
    stub = world->Namespace("client", "OBJ").GetByName("one");
  }
  // Runs `script` inside the object and returns the call's status.
  Status Run(Scripted::Script script) {
    Scripted::script = std::move(script);
    auto result = sim->Run(stub->Call(&Scripted::Run));
    if (!result.ok()) stub = world->Namespace("client", "OBJ").GetByName("one");
    return result.ok() ? Status::Ok() : result.status();
  }
  // The keys in storage, as a new event lists them.
  Names StoredKeys() {
    static Names listed;
    listed.clear();
    EXPECT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                  auto entries = co_await s.storage().List();
                  if (!entries.ok()) co_return entries.status();
                  for (const auto& [key, value] : *entries) listed.push_back(key);
                  co_return Status::Ok();
                }).ok());
    return listed;
  }
};

TEST_F(StorageTest, KvApiGetPutDeleteOneAndManyKeys) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto& st = s.storage();
                Json one = 1;
                CFEMU_CO_RETURN_IF_ERROR(co_await st.Put("b", std::move(one)));
                StorageEntries entries;
                entries.emplace_back("a", Json("x"));
                Json object;
                object["k"] = true;
                entries.emplace_back("c", std::move(object));
                CFEMU_CO_RETURN_IF_ERROR(co_await st.Put(std::move(entries)));
                auto b = co_await st.Get("b");
                EXPECT_EQ(**b, Json(1));
                EXPECT_FALSE((*co_await st.Get("missing")).has_value());
                std::vector<std::string> keys;
                keys.emplace_back("c");
                keys.emplace_back("missing");
                keys.emplace_back("a");
                auto many = co_await st.Get(std::move(keys));
                // Found keys only, sorted by key.
                EXPECT_EQ(many->size(), 2u);
                if (many->size() == 2) {
                  EXPECT_EQ((*many)[0].first, "a");
                  EXPECT_EQ((*many)[1].first, "c");
                }
                EXPECT_TRUE(*co_await st.Delete("b"));
                EXPECT_FALSE(*co_await st.Delete("b"));
                std::vector<std::string> gone = {"a", "c", "nope"};
                EXPECT_EQ(*co_await st.Delete(std::move(gone)), 2);
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, MultiKeyCallsTakeAtMost128Keys) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                std::vector<std::string> keys;
                for (int i = 0; i < 129; ++i) keys.push_back("k" + std::to_string(i));
                auto got = co_await s.storage().Get(keys);
                EXPECT_EQ(got.code(), Code::kInvalidArgument);
                keys.pop_back();
                EXPECT_TRUE((co_await s.storage().Get(std::move(keys))).ok());
                co_return Status::Ok();
              }).ok());
}

Names NamesOf(const Result<StorageEntries>& listed) {
  Names out;
  for (const auto& [key, value] : *listed) out.push_back(key);
  return out;
}

// GCC 12 cannot hold braced arrays of literals in a coroutine frame: the expectations are built
// outside the coroutines.
TEST_F(StorageTest, ListHonoursStartStartAfterEndPrefixReverseAndLimit) {
  Build();
  static const Names kKeys = {"a1", "a2", "a3", "b1", "b2", "\xc3\xa9"};
  static const Names kPrefixA = {"a1", "a2", "a3"};
  static const Names kRange = {"a2", "a3", "b1"};
  static const Names kAfter = {"a3", "b1"};
  static const Names kReverse = {"a3", "a2"};
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto& st = s.storage();
                StorageEntries entries;
                for (const auto& key : kKeys) entries.emplace_back(key, Json(key));
                CFEMU_CO_RETURN_IF_ERROR(co_await st.Put(std::move(entries)));
                StorageListOptions all;
                const auto listed_all = co_await st.List(all);
                EXPECT_EQ(NamesOf(listed_all), kKeys);
                StorageListOptions prefix;
                prefix.prefix = "a";
                const auto listed_prefix = co_await st.List(prefix);
                EXPECT_EQ(NamesOf(listed_prefix), kPrefixA);
                StorageListOptions range;
                range.start = "a2";
                range.end = "b2";
                const auto listed_range = co_await st.List(range);
                EXPECT_EQ(NamesOf(listed_range), kRange);
                StorageListOptions after;
                after.start_after = "a2";
                after.limit = 2;
                const auto listed_after = co_await st.List(after);
                EXPECT_EQ(NamesOf(listed_after), kAfter);
                StorageListOptions reverse;
                reverse.reverse = true;
                reverse.prefix = "a";
                reverse.limit = 2;
                const auto listed_reverse = co_await st.List(reverse);
                EXPECT_EQ(NamesOf(listed_reverse), kReverse);
                StorageListOptions both;
                both.start = "a";
                both.start_after = "a";
                const auto listed_both = co_await st.List(both);
                EXPECT_EQ(listed_both.code(), Code::kInvalidArgument);
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, SqliteBackendLimitsKeyPlusValueToTwoMegabytes) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                Json big = std::string(2'000'001, 'x');
                EXPECT_EQ((co_await s.storage().Put("k", std::move(big))).code(), Code::kTooLarge);
                Json fits = std::string(1'000'000, 'x');
                EXPECT_TRUE((co_await s.storage().Put("k", std::move(fits))).ok());
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, KvBackendLimitsKeysTo2048AndValuesTo131072PlusSlack) {
  Build(platform::DurableObjectBackend::kKv);
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto& st = s.storage();
                Json small = 1;
                EXPECT_EQ((co_await st.Put(std::string(2049, 'k'), small)).code(), Code::kTooLarge);
                EXPECT_TRUE((co_await st.Put(std::string(2048, 'k'), small)).ok());
                Json big = std::string(131'072 + 34, 'v');  // Serialized with quotes: 2 bytes over.
                EXPECT_EQ((co_await st.Put("v", std::move(big))).code(), Code::kTooLarge);
                Json fits = std::string(131'072 + 32, 'v');
                EXPECT_TRUE((co_await st.Put("v", std::move(fits))).ok());
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, SqlAndSyncKvAreForSqliteBackedClassesOnly) {
  Build(platform::DurableObjectBackend::kKv);
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                EXPECT_EQ(s.storage().sql().code(), Code::kFailedPrecondition);
                EXPECT_EQ(s.storage().kv().code(), Code::kFailedPrecondition);
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, SyncKvApiReadsItsOwnWrites) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto kv = *s.storage().kv();
                EXPECT_TRUE(kv->Put("x", Json(41)).ok());
                EXPECT_EQ(**kv->Get("x"), Json(41));
                EXPECT_TRUE(*kv->Delete("x"));
                EXPECT_FALSE((*kv->Get("x")).has_value());
                EXPECT_TRUE(kv->Put("y", Json("v")).ok());
                co_return Status::Ok();
              }).ok());
  // The async API sees what the sync API wrote.
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                EXPECT_EQ(**co_await s.storage().Get("y"), Json("v"));
                co_return Status::Ok();
              }).ok());
}

TEST_F(StorageTest, SqlExecRunsSeveralStatementsAndReturnsTheLastOnesCursor) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto sql = *s.storage().sql();
        auto cursor = sql->Exec(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); "
            "INSERT INTO t (name) VALUES ('a'), ('b'); SELECT id, name FROM t WHERE id >= ?",
            std::int64_t{1});
        EXPECT_TRUE(cursor.ok()) << cursor.status().ToString();
        EXPECT_EQ(cursor->column_names().size(), 2u);
        EXPECT_EQ(cursor->column_names().front(), "id");
        auto rows = cursor->ToArray();
        EXPECT_EQ(rows.size(), 2u);
        EXPECT_EQ(std::get<std::string>(*rows[1].Get("name")), "b");
        auto one = sql->Exec("SELECT count(*) AS n FROM t");
        EXPECT_EQ(std::get<std::int64_t>(one->One()->values[0]), 2);
        auto raw = sql->Exec("SELECT name FROM t ORDER BY id");
        EXPECT_EQ(std::get<std::string>((*raw->NextRaw())[0]), "a");
        EXPECT_EQ(std::get<std::string>(raw->Next()->values[0]), "b");  // Shared position.
        EXPECT_FALSE(raw->Next().has_value());
        auto many = sql->Exec("SELECT name FROM t");
        EXPECT_EQ(many->One().code(), Code::kInvalidArgument);  // Not exactly one row.
        auto write = sql->Exec("UPDATE t SET name = 'z'");
        EXPECT_EQ(write->rows_written(), 2);
        EXPECT_GT(sql->database_size(), 0);
        co_return Status::Ok();
      }).ok());
}

TEST_F(StorageTest, SqlRejectsTransactionsReservedNamesAndAttach) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto sql = *s.storage().sql();
        auto begin = sql->Exec("BEGIN TRANSACTION");
        EXPECT_FALSE(begin.ok());
        EXPECT_NE(begin.status().message().find("state.storage.transaction()"), std::string::npos);
        EXPECT_FALSE(sql->Exec("SAVEPOINT sp").ok());
        EXPECT_FALSE(sql->Exec("SELECT * FROM _cf_KV").ok());
        EXPECT_FALSE(sql->Exec("CREATE TABLE _CF_mine (x)").ok());
        EXPECT_FALSE(sql->Exec("ATTACH DATABASE '/tmp/x.db' AS other").ok());
        EXPECT_FALSE(sql->Exec("PRAGMA writable_schema = 1").ok());
        EXPECT_TRUE(sql->Exec("PRAGMA table_list").ok());
        // A trigger body's BEGIN ... END is not a transaction.
        EXPECT_TRUE(sql->Exec("CREATE TABLE a (x); CREATE TABLE b (x); "
                              "CREATE TRIGGER copy AFTER INSERT ON a BEGIN INSERT INTO b VALUES "
                              "(new.x); END; INSERT INTO a VALUES (7)")
                        .ok());
        EXPECT_EQ(std::get<std::int64_t>(sql->Exec("SELECT x FROM b")->One()->values[0]), 7);
        co_return Status::Ok();
      }).ok());
}

TEST_F(StorageTest, TransactionCommitsOrRollsBackAsAWhole) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto& st = s.storage();
        Status rolled =
            co_await st.Transaction([](platform::DurableObjectTransaction& txn) -> Task<Status> {
              Json v = 1;
              CFEMU_CO_RETURN_IF_ERROR(co_await txn.Put("a", std::move(v)));
              txn.Rollback();
              co_return Status::Ok();
            });
        EXPECT_TRUE(rolled.ok());
        EXPECT_FALSE((*co_await st.Get("a")).has_value());
        Status failed =
            co_await st.Transaction([](platform::DurableObjectTransaction& txn) -> Task<Status> {
              Json v = 2;
              CFEMU_CO_RETURN_IF_ERROR(co_await txn.Put("a", std::move(v)));
              co_return Status::Unknown("boom");
            });
        EXPECT_FALSE(failed.ok());
        EXPECT_FALSE((*co_await st.Get("a")).has_value());
        Status committed =
            co_await st.Transaction([](platform::DurableObjectTransaction& txn) -> Task<Status> {
              Json v = 3;
              co_return co_await txn.Put("a", std::move(v));
            });
        EXPECT_TRUE(committed.ok());
        EXPECT_EQ(**co_await st.Get("a"), Json(3));
        co_return Status::Ok();
      }).ok());
}

TEST_F(StorageTest, TransactionSyncRollsBackOnFailure) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto sql = *s.storage().sql();
        EXPECT_TRUE(sql->Exec("CREATE TABLE t (x)").ok());
        const Status failed = s.storage().TransactionSync([&] {
          EXPECT_TRUE(sql->Exec("INSERT INTO t VALUES (1)").ok());
          return Status::Unknown("boom");
        });
        EXPECT_FALSE(failed.ok());
        EXPECT_EQ(std::get<std::int64_t>(sql->Exec("SELECT count(*) FROM t")->One()->values[0]), 0);
        EXPECT_TRUE(
            s.storage()
                .TransactionSync([&] { return sql->Exec("INSERT INTO t VALUES (2)").status(); })
                .ok());
        EXPECT_EQ(std::get<std::int64_t>(sql->Exec("SELECT count(*) FROM t")->One()->values[0]), 1);
        EXPECT_TRUE((co_await s.storage().Sync()).ok());
        co_return Status::Ok();
      }).ok());
}

TEST_F(StorageTest, DeleteAllRemovesKeysTablesAndFromFebruary2026TheAlarm) {
  for (const char* date : {"2026-01-01", "2026-02-24"}) {
    Simulator local(1);
    DoWorld w(local);
    w.registry().Register<Scripted>("Scripted");
    emulator::DurableObjectOptions options;
    options.compatibility_date = date;
    w.AddNamespace("OBJ", "Scripted", options);
    auto st = w.Namespace("client", "OBJ").GetByName("one");
    Scripted::script = [](platform::DurableObjectState& s, platform::Env& env) -> Task<Status> {
      Json v = 1;
      CFEMU_CO_RETURN_IF_ERROR(co_await s.storage().Put("k", std::move(v)));
      EXPECT_TRUE((*s.storage().sql())->Exec("CREATE TABLE t (x)").ok());
      CFEMU_CO_RETURN_IF_ERROR(co_await s.storage().SetAlarm(env.clock().Now() + core::Hours(1)));
      CFEMU_CO_RETURN_IF_ERROR(co_await s.storage().DeleteAll());
      EXPECT_FALSE((*co_await s.storage().Get("k")).has_value());
      EXPECT_FALSE((*s.storage().sql())->Exec("SELECT * FROM t").ok());
      co_return Status::Ok();
    };
    ASSERT_TRUE(local.Run(st->Call(&Scripted::Run)).ok());
    Scripted::script = [date](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
      auto alarm = co_await s.storage().GetAlarm();
      EXPECT_EQ(alarm->has_value(), std::string(date) < "2026-02-24") << date;
      co_return Status::Ok();
    };
    ASSERT_TRUE(local.Run(st->Call(&Scripted::Run)).ok());
  }
}

// Checklist 57: writes made without an intervening await commit together, so a failure of
// that commit (fault O2 at do.storage.commit) loses both; committed one by one, `a` would stay.
TEST_F(StorageTest, WritesWithoutAnInterveningAwaitCommitOrFailTogether) {
  Build(platform::DurableObjectBackend::kSqlite, "2026-01-01",
        FailAt(emulator::Fault::kO2ResetMidRequest, "do.storage.commit", 1));
  const Status failed = Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
    auto kv = *s.storage().kv();
    EXPECT_TRUE(kv->Put("a", Json(1)).ok());
    EXPECT_TRUE(kv->Put("b", Json(2)).ok());
    co_return Status::Ok();  // Both commit at the end of the event, and that commit fails.
  });
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_EQ(StoredKeys(), Names{});
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto kv = *s.storage().kv();
                EXPECT_TRUE(kv->Put("a", Json(1)).ok());
                EXPECT_TRUE(kv->Put("b", Json(2)).ok());
                co_return Status::Ok();
              }).ok());
  EXPECT_EQ(StoredKeys(), (Names{"a", "b"}));
}

// An await ends a group of coalesced writes: the writes before it commit on their own.
TEST_F(StorageTest, WritesSeparatedByAnAwaitCommitSeparately) {
  Build(platform::DurableObjectBackend::kSqlite, "2026-01-01",
        FailAt(emulator::Fault::kO2ResetMidRequest, "do.storage.commit", 2));
  const Status failed = Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
    auto kv = *s.storage().kv();
    EXPECT_TRUE(kv->Put("a", Json(1)).ok());
    EXPECT_TRUE((co_await s.storage().Sync()).ok());  // The first commit.
    EXPECT_TRUE(kv->Put("b", Json(2)).ok());
    co_return Status::Ok();  // The second commit, which fails.
  });
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_EQ(StoredKeys(), Names{"a"});
}

// Checklist 62: sync() completes once the writes made before it are durable, so a reset right
// after it keeps them, while a write made after it and not yet committed is rolled back.
TEST_F(StorageTest, SyncCompletesOnceEarlierWritesAreDurable) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto kv = *s.storage().kv();
                EXPECT_TRUE(kv->Put("before", Json(1)).ok());
                EXPECT_TRUE((co_await s.storage().Sync()).ok());
                EXPECT_TRUE(kv->Put("after", Json(2)).ok());
                s.Abort("reset before the next commit");
                co_return Status::Ok();
              }).ok());
  EXPECT_EQ(StoredKeys(), Names{"before"});
}

// sync() reports a write that could not be made durable (and the object resets).
TEST_F(StorageTest, SyncFailsWhenTheWritesCannotBeMadeDurable) {
  Build(platform::DurableObjectBackend::kSqlite, "2026-01-01",
        FailAt(emulator::Fault::kO2ResetMidRequest, "do.storage.commit", 1));
  static Status synced;
  (void)Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
    EXPECT_TRUE((*s.storage().kv())->Put("k", Json(1)).ok());
    synced = co_await s.storage().Sync();
    co_return Status::Ok();
  });
  EXPECT_EQ(synced.code(), Code::kUnavailable);
  EXPECT_EQ(StoredKeys(), Names{});
  EXPECT_EQ(world->Find("OBJ")->stats().resets, 1);
}

// Checklist 62: on the SQLite backend deleteAll() is all or nothing. A reset that strikes after
// the keys, tables and alarm were deleted but before the deletion committed (fault O2 at
// do.storage.delete_all) leaves every one of them in place.
TEST_F(StorageTest, DeleteAllIsAllOrNothing) {
  Build(platform::DurableObjectBackend::kSqlite, "2026-02-24",
        FailAt(emulator::Fault::kO2ResetMidRequest, "do.storage.delete_all", 1));
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env& env) -> Task<Status> {
                Json v = 1;
                CFEMU_CO_RETURN_IF_ERROR(co_await s.storage().Put("k", std::move(v)));
                auto sql = *s.storage().sql();
                EXPECT_TRUE(sql->Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)").ok());
                co_return co_await s.storage().SetAlarm(env.clock().Now() + core::Hours(1));
              }).ok());
  const Status failed = Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
    co_return co_await s.storage().DeleteAll();
  });
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_EQ(sim->faults().FiredBySite().at("O2@do.storage.delete_all"), 1);
  EXPECT_EQ(world->Find("OBJ")->stats().resets, 1);
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                EXPECT_TRUE((*co_await s.storage().Get("k")).has_value());
                auto rows = (*s.storage().sql())->Exec("SELECT count(*) FROM t");
                EXPECT_TRUE(rows.ok()) << rows.status().ToString();
                if (rows.ok()) {
                  EXPECT_EQ(std::get<std::int64_t>(rows->One()->values[0]), 1);
                }
                EXPECT_TRUE((*co_await s.storage().GetAlarm()).has_value());
                co_return Status::Ok();
              }).ok());
  // Without the fault the same call deletes all of it.
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                CFEMU_CO_RETURN_IF_ERROR(co_await s.storage().DeleteAll());
                EXPECT_FALSE((*co_await s.storage().Get("k")).has_value());
                EXPECT_FALSE((*s.storage().sql())->Exec("SELECT count(*) FROM t").ok());
                EXPECT_FALSE((*co_await s.storage().GetAlarm()).has_value());
                co_return Status::Ok();
              }).ok());
}

// deleteAll() removes tables that reference each other, whatever order it drops them in.
TEST_F(StorageTest, DeleteAllRemovesTablesLinkedByForeignKeys) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto sql = *s.storage().sql();
                EXPECT_TRUE(sql->Exec("CREATE TABLE parent (id INTEGER PRIMARY KEY); "
                                      "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                                      "parent INTEGER REFERENCES parent(id)); "
                                      "INSERT INTO parent VALUES (1); INSERT INTO child VALUES "
                                      "(1, 1)")
                                .ok());
                const Status deleted = co_await s.storage().DeleteAll();
                EXPECT_TRUE(deleted.ok()) << deleted.ToString();
                auto tables = sql->Exec("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
                EXPECT_EQ(std::get<std::int64_t>(tables->One()->values[0]), 2);  // _cf_ only.
                co_return Status::Ok();
              }).ok());
}

// Checklist 63: rowsRead and rowsWritten follow D1's model (a row counts once, whether returned,
// scanned or changed).
TEST_F(StorageTest, SqlCursorsCountRowsReadAndWritten) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto sql = *s.storage().sql();
        EXPECT_TRUE(sql->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)").ok());
        auto insert = sql->Exec("INSERT INTO t (name) VALUES ('a'), ('b'), ('c'), ('d')");
        EXPECT_EQ(insert->rows_read(), 0);
        EXPECT_EQ(insert->rows_written(), 4);
        auto scan = sql->Exec("SELECT name FROM t");
        EXPECT_EQ(scan->rows_read(), 4);
        EXPECT_EQ(scan->rows_written(), 0);
        auto by_key = sql->Exec("SELECT name FROM t WHERE id = ?", std::int64_t{2});
        EXPECT_EQ(by_key->rows_read(), 1);
        auto update = sql->Exec("UPDATE t SET name = 'z' WHERE id <= 3");
        EXPECT_EQ(update->rows_read(), 3);
        EXPECT_EQ(update->rows_written(), 3);
        auto remove = sql->Exec("DELETE FROM t WHERE id = 4");
        EXPECT_EQ(remove->rows_read(), 1);
        EXPECT_EQ(remove->rows_written(), 1);
        co_return Status::Ok();
      }).ok());
}

std::string Placeholders(int n) {
  std::string sql = "SELECT ?";
  for (int i = 1; i < n; ++i) sql += "+?";
  return sql + " AS total";
}

// Checklist 63: D1's limits hold for Durable Object SQL, refused with the texts D1 shows after
// its "D1_ERROR: " prefix (D1 runs on the same SQLite API).
TEST_F(StorageTest, SqlRefusesWhatD1RefusesWithD1sTexts) {
  Build();
  ASSERT_TRUE(
      Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
        auto sql = *s.storage().sql();
        const std::string prefix = "SELECT '";
        const std::string suffix = "' AS s";
        const std::size_t fill = 100'000 - prefix.size() - suffix.size();
        auto fits = sql->Exec(prefix + std::string(fill, 'x') + suffix);
        EXPECT_TRUE(fits.ok()) << fits.status().ToString();
        auto too_long = sql->Exec(prefix + std::string(fill + 1, 'x') + suffix);
        EXPECT_EQ(too_long.code(), Code::kTooLarge);
        EXPECT_EQ(too_long.status().message(), "statement too long: SQLITE_TOOBIG");
        // workerd prepares the whole text at once: two statements that fit alone do not together.
        auto together = sql->Exec("SELECT 1; " + prefix + std::string(fill, 'x') + suffix);
        EXPECT_EQ(together.status().message(), "statement too long: SQLITE_TOOBIG");
        std::vector<platform::D1Param> hundred(100, platform::D1Param(std::int64_t{1}));
        auto total = sql->Exec(Placeholders(100), std::move(hundred));
        EXPECT_TRUE(total.ok()) << total.status().ToString();
        if (total.ok()) {
          EXPECT_EQ(std::get<std::int64_t>(total->One()->values[0]), 100);
        }
        std::vector<platform::D1Param> more(101, platform::D1Param(std::int64_t{1}));
        auto refused = sql->Exec(Placeholders(101), std::move(more));
        EXPECT_EQ(refused.code(), Code::kTooLarge);
        EXPECT_EQ(refused.status().message(), "too many SQL variables: SQLITE_ERROR");
        std::vector<platform::D1Param> unused(101, platform::D1Param(std::int64_t{1}));
        auto extra = sql->Exec("SELECT 1", std::move(unused));
        EXPECT_EQ(extra.status().message(), "too many SQL variables: SQLITE_ERROR");
        co_return Status::Ok();
      }).ok());
}

// Checklist 55: a storage read closes the input gate, so another event waits for it, unless
// the read passes allowConcurrency.
class Reader : public platform::DurableObject {
 public:
  static inline Names events;
  using DurableObject::DurableObject;
  Task<Result<bool>> Read(bool allow_concurrency) {
    events.push_back("read");
    platform::StorageGetOptions options;
    options.allow_concurrency = allow_concurrency;
    auto value = co_await storage().Get("k", options);
    if (!value.ok()) co_return value.status();
    events.push_back("read done");
    co_return true;
  }
  Task<Result<bool>> Mark() {
    events.push_back("mark");
    co_return true;
  }
};

TEST(InputGate, AReadHoldsTheGateUnlessItAllowsConcurrency) {
  static const Names kHeld = {"read", "read done", "mark"};
  static const Names kAllowed = {"read", "mark", "read done"};
  for (const bool allow : {false, true}) {
    Simulator sim(1);
    // A read that takes 10 ms, so that another event could start meanwhile.
    sim.latency().Configure("do.storage.get",
                            emulator::LatencyDist::Constant(core::Milliseconds(10)));
    DoWorld world(sim);
    Reader::events.clear();
    world.registry().Register<Reader>("Reader");
    world.AddNamespace("READER", "Reader");
    auto reader = world.Namespace("client", "READER").GetByName("r");
    auto other = world.Namespace("client", "READER").GetByName("r");  // No E-order between them.
    std::vector<Task<Result<bool>>> calls;
    calls.push_back(reader->Call(&Reader::Read, allow));
    calls.push_back(other->Call(&Reader::Mark));
    const auto results = sim.Run(core::WhenAll(std::move(calls)));
    EXPECT_TRUE(results[0].ok() && results[1].ok());
    EXPECT_EQ(Reader::events, allow ? kAllowed : kHeld) << "allow_concurrency=" << allow;
  }
}

}  // namespace
}  // namespace cfemu::testing
