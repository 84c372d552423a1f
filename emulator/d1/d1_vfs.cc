#include "emulator/d1/d1_vfs.h"

#include <atomic>
#include <cstdint>

#include "src/core/status.h"

namespace cfemu::emulator {

namespace {

// Milliseconds from the Julian day epoch (noon, 24 November 4714 BC) to the Unix epoch.
constexpr std::int64_t kUnixEpochJulianMs = 210'866'760'000'000;

// Names only need to be unique while registered; the counter never reaches any output.
std::atomic<std::uint64_t> g_next_vfs{1};

D1Vfs* Self(sqlite3_vfs* vfs) { return D1Vfs::OwnerOf(vfs); }

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return Self(vfs)->base(); }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  return Base(vfs)->xOpen(Base(vfs), name, file, flags, out_flags);
}
int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Base(vfs)->xDelete(Base(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Base(vfs)->xAccess(Base(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Base(vfs)->xFullPathname(Base(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs*, const char*) { return nullptr; }  // No extensions, ever.
void DlError(sqlite3_vfs*, int size, char* out) {
  if (size > 0) sqlite3_snprintf(size, out, "loading extensions is not allowed");
}
void (*DlSym(sqlite3_vfs*, void*, const char*))(void) { return nullptr; }
void DlClose(sqlite3_vfs*, void*) {}
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  // Seeds SQLite's process-wide PRNG only; random() and randomblob() are replaced per
  // connection by seeded functions (see D1Store).
  return Base(vfs)->xRandomness(Base(vfs), size, out);
}
int Sleep(sqlite3_vfs* vfs, int micros) { return Base(vfs)->xSleep(Base(vfs), micros); }
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  *out = Self(vfs)->clock().Now().unix_ms() + kUnixEpochJulianMs;
  return SQLITE_OK;
}
int CurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_int64 ms = 0;
  CurrentTimeInt64(vfs, &ms);
  *out = static_cast<double>(ms) / 86'400'000.0;
  return SQLITE_OK;
}
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Base(vfs)->xGetLastError ? Base(vfs)->xGetLastError(Base(vfs), size, out) : 0;
}

}  // namespace

D1Vfs::D1Vfs(const core::Clock& clock)
    : shim_{{}, this}, base_(sqlite3_vfs_find(nullptr)), clock_(clock) {
  CHECK_MSG(base_ != nullptr, "SQLite has no default VFS");
  name_ = "cfemu-d1-" + std::to_string(g_next_vfs.fetch_add(1));
  shim_.vfs.iVersion = 2;  // No system-call overrides.
  shim_.vfs.szOsFile = base_->szOsFile;
  shim_.vfs.mxPathname = base_->mxPathname;
  shim_.vfs.zName = name_.c_str();
  shim_.vfs.xOpen = Open;
  shim_.vfs.xDelete = Delete;
  shim_.vfs.xAccess = Access;
  shim_.vfs.xFullPathname = FullPathname;
  shim_.vfs.xDlOpen = DlOpen;
  shim_.vfs.xDlError = DlError;
  shim_.vfs.xDlSym = DlSym;
  shim_.vfs.xDlClose = DlClose;
  shim_.vfs.xRandomness = Randomness;
  shim_.vfs.xSleep = Sleep;
  shim_.vfs.xCurrentTime = CurrentTime;
  shim_.vfs.xGetLastError = GetLastError;
  shim_.vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  CHECK(sqlite3_vfs_register(&shim_.vfs, /*makeDflt=*/0) == SQLITE_OK);
}

D1Vfs::~D1Vfs() { sqlite3_vfs_unregister(&shim_.vfs); }

}  // namespace cfemu::emulator
