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

struct StorageTest : ::testing::Test {
  Simulator sim{1};
  DoWorld world{sim};
  std::unique_ptr<platform::DurableObjectStub> stub;

  void Build(platform::DurableObjectBackend backend = platform::DurableObjectBackend::kSqlite,
             std::string compatibility_date = "2026-01-01") {
    world.registry().Register<Scripted>("Scripted", backend);
    emulator::DurableObjectOptions options;
    options.compatibility_date = compatibility_date;
    world.AddNamespace("OBJ", "Scripted", options);
    stub = world.Namespace("client", "OBJ").GetByName("one");
  }
  // Runs `script` inside the object and returns the call's status.
  Status Run(Scripted::Script script) {
    Scripted::script = std::move(script);
    auto result = sim.Run(stub->Call(&Scripted::Run));
    if (!result.ok()) stub = world.Namespace("client", "OBJ").GetByName("one");
    return result.ok() ? Status::Ok() : result.status();
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

using Names = std::vector<std::string>;

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

// Checklist 57: writes made without an intervening await commit together.
TEST_F(StorageTest, WritesWithoutAnInterveningAwaitCommitAtomically) {
  Build();
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                auto kv = *s.storage().kv();
                EXPECT_TRUE(kv->Put("a", Json(1)).ok());
                EXPECT_TRUE(kv->Put("b", Json(2)).ok());
                co_return Status::Ok();  // Committed together at the end of the event.
              }).ok());
  ASSERT_TRUE(Run([](platform::DurableObjectState& s, platform::Env&) -> Task<Status> {
                std::vector<std::string> keys;
                keys.emplace_back("a");
                keys.emplace_back("b");
                const auto both = co_await s.storage().Get(std::move(keys));
                EXPECT_EQ(both->size(), 2u);
                co_return Status::Ok();
              }).ok());
}

}  // namespace
}  // namespace cfemu::testing
