// What D1 refuses (checklist 34) and the authorizer that keeps every statement inside its own
// database: transactions, ATTACH, reserved names, extensions, pragmas, temporary objects and
// files written through VACUUM INTO.
#include <filesystem>

#include "tests/d1/d1_testing.h"

namespace cfemu::testing {
namespace {

constexpr std::string_view kNotAuthorized = "D1_ERROR: not authorized: SQLITE_AUTH";

// SQLite words a denial by what was denied: "not authorized" (SQLITE_AUTH) for statements,
// "access to T.C is prohibited" (SQLITE_AUTH) for a column read, "not authorized to use
// function: F" (SQLITE_ERROR) for a function. Production passes the same texts through.
void ExpectDenied(D1Harness& h, const std::string& sql) {
  auto result = h.All(sql);
  const std::string& message = result.status().message();
  EXPECT_EQ(result.code(), Code::kInvalidArgument) << sql;
  const bool denied = message == kNotAuthorized ||
                      (message.starts_with("D1_ERROR: access to ") &&
                       message.ends_with(" is prohibited: SQLITE_AUTH")) ||
                      (message.starts_with("D1_ERROR: not authorized to use function: ") &&
                       message.ends_with(": SQLITE_ERROR"));
  EXPECT_TRUE(denied) << sql << " -> " << message;
}

// Checklist 34.
TEST(D1, ExplicitTransactionsAndSavepointsAreRefusedWithProductionsText) {
  D1Harness h;
  for (const char* sql : {"BEGIN", "BEGIN TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT s",
                          "RELEASE s", "ROLLBACK TO s", "END"}) {
    auto result = h.All(sql);
    EXPECT_EQ(result.code(), Code::kInvalidArgument) << sql;
    EXPECT_EQ(result.status().message(),
              "D1_ERROR: To execute a transaction, please use the state.storage.transaction() or "
              "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or "
              "SAVEPOINT statements. The JavaScript API is safer because it will automatically "
              "roll back on exceptions, and because it interacts correctly with Durable Objects' "
              "automatic atomic write coalescing.")
        << sql;
  }
}

// Checklist 34: the BEGIN ... END of a trigger body is not a transaction.
TEST(D1, TriggersWithBeginEndBodiesAreAllowed) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (v INTEGER)\nCREATE TABLE audit (v INTEGER)");
  auto created = h.All(
      "CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.v * 10); END");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto inserted = h.All("INSERT INTO t VALUES (4)");
  ASSERT_TRUE(inserted.ok());
  EXPECT_EQ(inserted->meta.changes, 2);  // total_changes counts the trigger's row.
  EXPECT_EQ(inserted->meta.rows_written, 2);
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT v FROM audit", "v")), 40);
}

// Checklist 34 and the authorizer: no path reaches another file, however it is spelled.
TEST(D1, AttachAndDetachAreDeniedIncludingPathTraversal) {
  TestDirectory dir;
  D1Harness h(FileConfig(dir.path() / "db.sqlite"));
  const std::filesystem::path escape = dir.path() / ".." / "escaped.sqlite";
  ExpectDenied(h, "ATTACH DATABASE '" + escape.string() + "' AS other");
  ExpectDenied(h, "ATTACH DATABASE '../../../../tmp/cfemu_d1_attach.sqlite' AS other");
  ExpectDenied(h, "ATTACH DATABASE 'file:/tmp/cfemu_d1_attach.sqlite?mode=rwc' AS other");
  ExpectDenied(h, "ATTACH DATABASE ':memory:' AS other");
  ExpectDenied(h, "DETACH DATABASE main");
  EXPECT_FALSE(std::filesystem::exists(escape));
  EXPECT_FALSE(std::filesystem::exists("/tmp/cfemu_d1_attach.sqlite"));
}

// The authorizer: VACUUM INTO would write a file; inside D1's transaction it cannot run.
TEST(D1, VacuumIntoCannotWriteAFile) {
  TestDirectory dir;
  D1Harness h;
  const std::filesystem::path target = dir.path() / "copy.sqlite";
  auto result = h.All("VACUUM INTO '" + target.string() + "'");
  EXPECT_EQ(result.status().message(),
            "D1_ERROR: cannot VACUUM from within a transaction: SQLITE_ERROR");
  EXPECT_FALSE(std::filesystem::exists(target));
}

// Checklist 34: `_cf_` names are Cloudflare's.
TEST(D1, ReservedCfPrefixedNamesAreRefused) {
  D1Harness h;
  ExpectDenied(h, "CREATE TABLE _cf_mine (v)");
  ExpectDenied(h, "SELECT * FROM _cf_KV");
  ExpectDenied(h, "INSERT INTO _cf_KV VALUES ('k', 'v')");
  ExpectDenied(h, "DROP TABLE _cf_KV");
  ExpectDenied(h, "PRAGMA table_info(_cf_KV)");
  h.MustExec("CREATE TABLE t (v)");
  ExpectDenied(h, "CREATE INDEX _cf_index ON t (v)");
  // SQLite shows the authorizer only the old name; the new one is checked after the rename.
  ExpectDenied(h, "ALTER TABLE t RENAME TO _cf_t");
  ExpectDenied(h, "ALTER TABLE t RENAME TO _CF_t");
  EXPECT_EQ(h.Count("t"), 0);  // Still there, under its own name.
  EXPECT_TRUE(h.All("ALTER TABLE t RENAME TO u").ok());
}

// The authorizer: extensions never load.
TEST(D1, LoadExtensionIsDenied) {
  D1Harness h;
  auto result = h.All("SELECT load_extension('/tmp/libevil.so')");
  EXPECT_EQ(result.code(), Code::kInvalidArgument);
  EXPECT_TRUE(result.status().message().starts_with("D1_ERROR: not authorized"))
      << result.status().message();
  ExpectDenied(h, "SELECT sqlite_version()");  // Build details stay hidden, as in workerd.
}

// The authorizer: D1's list of pragmas, nothing else.
TEST(D1, OnlyD1sPragmasAreAllowed) {
  D1Harness h;
  h.MustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)\nCREATE INDEX t_v ON t (v)");
  for (const char* sql :
       {"PRAGMA table_list", "PRAGMA table_info(t)", "PRAGMA table_xinfo(t)",
        "PRAGMA index_list(t)", "PRAGMA index_info(t_v)", "PRAGMA index_xinfo(t_v)",
        "PRAGMA quick_check", "PRAGMA foreign_key_check", "PRAGMA foreign_key_list(t)",
        "PRAGMA case_sensitive_like = on", "PRAGMA defer_foreign_keys = true",
        "PRAGMA recursive_triggers = 'off'", "PRAGMA foreign_keys", "PRAGMA optimize",
        "SELECT name FROM pragma_table_info('t')"}) {
    auto result = h.All(sql);
    EXPECT_TRUE(result.ok()) << sql << " -> " << result.status().ToString();
  }
  for (const char* sql :
       {"PRAGMA journal_mode = DELETE", "PRAGMA writable_schema = 1", "PRAGMA integrity_check",
        "PRAGMA max_page_count = 100000000", "PRAGMA database_list", "PRAGMA compile_options",
        "PRAGMA temp_store_directory = '/tmp'", "PRAGMA foreign_keys = maybe",
        "PRAGMA table_info"}) {
    ExpectDenied(h, sql);
  }
}

// D1 applies a boolean pragma to its own transaction only.
TEST(D1, BooleanPragmasLastOneCall) {
  D1Harness h;
  auto set = h.All("PRAGMA case_sensitive_like = on");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT 'a' LIKE 'A' AS m", "m")), 1);
  auto same_call = h.All("PRAGMA case_sensitive_like = on; SELECT 'a' LIKE 'A' AS m");
  ASSERT_TRUE(same_call.ok());
  EXPECT_EQ(IntOf(*same_call->results[0].Get("m")), 0);
  EXPECT_EQ(IntOf(*h.FirstValue("SELECT 'a' LIKE 'A' AS m", "m")), 1);
}

// The authorizer: temporary objects would live in another file.
TEST(D1, TemporaryObjectsAreDenied) {
  D1Harness h;
  ExpectDenied(h, "CREATE TEMP TABLE scratch (v)");
  ExpectDenied(h, "CREATE TEMPORARY VIEW v AS SELECT 1");
}

// D1 enforces foreign keys, and PRAGMA foreign_keys = off cannot turn them off inside its
// transaction; defer_foreign_keys moves the check to the end of the call.
TEST(D1, ForeignKeysAreEnforcedAndCanOnlyBeDeferred) {
  D1Harness h;
  h.MustExec(
      "CREATE TABLE parent (id INTEGER PRIMARY KEY)\n"
      "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id))");
  auto orphan = h.All("INSERT INTO child VALUES (1, 99)");
  EXPECT_EQ(orphan.code(), Code::kFailedPrecondition);
  EXPECT_EQ(orphan.status().message(),
            "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT (extended: "
            "SQLITE_CONSTRAINT_FOREIGNKEY)");
  EXPECT_FALSE(h.All("PRAGMA foreign_keys = off; INSERT INTO child VALUES (1, 99)").ok());
  auto deferred = h.All(
      "PRAGMA defer_foreign_keys = on; INSERT INTO child VALUES (1, 7); "
      "INSERT INTO parent VALUES (7)");
  EXPECT_TRUE(deferred.ok()) << deferred.status().ToString();
  EXPECT_EQ(h.Count("child"), 1);
}

}  // namespace
}  // namespace cfemu::testing
