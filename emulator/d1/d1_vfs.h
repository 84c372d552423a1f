// A SQLite VFS for one D1 database: every file operation goes to the platform's default VFS,
// but the time SQLite reads (datetime('now'), CURRENT_TIMESTAMP, unixepoch()) comes from the
// database's Clock, so SQL that reads the time replays on virtual time, and loading shared
// libraries is refused. One instance per database, registered under a unique name while it
// lives; SQLite calls it on the thread of its connection only.
#pragma once

#include <memory>
#include <string>

#include <sqlite3.h>

#include "src/core/time.h"

namespace cfemu::emulator {

class D1Vfs {
 public:
  // REQUIRES: `clock` outlives the VFS; no connection uses the VFS after it is destroyed.
  explicit D1Vfs(const core::Clock& clock);
  ~D1Vfs();
  D1Vfs(const D1Vfs&) = delete;
  D1Vfs& operator=(const D1Vfs&) = delete;

  const char* name() const { return name_.c_str(); }
  const core::Clock& clock() const { return clock_; }
  sqlite3_vfs* base() const { return base_; }
  // The D1Vfs whose sqlite3_vfs SQLite passes to a callback.
  static D1Vfs* OwnerOf(sqlite3_vfs* vfs) { return reinterpret_cast<Shim*>(vfs)->owner; }

 private:
  // Standard layout with the sqlite3_vfs first, so the pointer SQLite passes back converts to
  // the Shim and so to its owner.
  struct Shim {
    sqlite3_vfs vfs;
    D1Vfs* owner;
  };

  Shim shim_;
  sqlite3_vfs* base_;
  const core::Clock& clock_;
  std::string name_;
};

}  // namespace cfemu::emulator
