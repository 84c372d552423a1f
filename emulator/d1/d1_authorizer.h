// D1's SQLite authorizer: what user SQL may do, after workerd's rules (src/workerd/util/
// sqlite.c++) with D1's list of allowed pragmas (d1/sql-api/sql-statements). It is the security
// boundary of a database: no statement may reach another file or the emulator's bookkeeping.
//
// Denied: ATTACH and DETACH (any file, so no path can escape the database), every schema but
// `main` (and reads of `temp`), temporary tables/indexes/views/triggers, virtual tables other
// than fts5, functions outside workerd's list (so load_extension and the sqlite_* build-detail
// functions), pragmas outside D1's list or with arguments of the wrong shape, explicit
// transactions and savepoints (D1 runs each call as one transaction; batch() is the way), and
// any object whose name starts with `_cf_` (reserved for Cloudflare's tables).
//
// Emulator-internal statements (BEGIN/COMMIT around a call, size and snapshot queries) run in
// trusted mode, where everything in `main` is allowed.
#pragma once

#include <cstdint>

struct sqlite3;

namespace cfemu::emulator {

class D1Authorizer {
 public:
  enum class Denial : std::uint8_t { kNone, kTransaction, kOther };

  // Installs the callback on `db`. REQUIRES: this object outlives every use of `db`.
  void Install(sqlite3* db);

  bool trusted() const { return trusted_; }
  void set_trusted(bool trusted) { trusted_ = trusted; }

  // Why the last denied action was denied (kNone when nothing was denied since Clear()).
  Denial last_denial() const { return last_denial_; }
  // True when a statement set one of the boolean pragmas, which D1 applies to the current
  // transaction only: the store restores their defaults after the call.
  bool pragma_set() const { return pragma_set_; }
  // True when a statement renames a table: SQLite tells the authorizer only the old name, so
  // the store checks the new one after the statement ran.
  bool table_renamed() const { return table_renamed_; }
  // True once a statement that creates, drops or alters an object was authorized since the
  // last call; the store then re-reads what it knows about the schema.
  bool TakeSchemaChange() {
    const bool changed = schema_change_;
    schema_change_ = false;
    return changed;
  }
  void Clear() {
    last_denial_ = Denial::kNone;
    pragma_set_ = false;
    table_renamed_ = false;
  }

  // The decision for one action (SQLITE_OK or SQLITE_DENY); records denials and pragmas.
  int Authorize(int action, const char* param1, const char* param2, const char* database,
                const char* trigger);

 private:
  bool trusted_ = false;
  Denial last_denial_ = Denial::kNone;
  bool pragma_set_ = false;
  bool table_renamed_ = false;
  bool schema_change_ = true;  // Nothing is known of the schema before the first look.
};

// True unless `name` starts with the reserved prefix `_cf_` (ASCII case-insensitive).
bool D1AllowedName(const char* name);

}  // namespace cfemu::emulator
