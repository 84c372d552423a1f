// D1 statements per second: the same one-row INSERT through raw SQLite (a prepared statement,
// reset/bind/step) and through the D1 binding on the simulator (strict profile: no latency,
// no faults; tracing off), one row per call and in batches of 100. Both databases are in
// memory. The binding adds its transaction, limits, metadata and the coroutine around every
// call; the goal is at least 70 % of raw SQLite's rows per second.
//
//   ./build/d1-release/bench/cfemu_bench --benchmark_filter='BM_(RawSqlite|D1)'
#include <utility>

#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include "emulator/d1/d1_service.h"
#include "emulator/sim/simulator.h"

namespace cfemu::emulator {
namespace {

using core::Task;

constexpr const char* kSchema = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)";
constexpr const char* kInsert = "INSERT INTO t (v, n) VALUES (?, ?)";
const std::string kValue = "a short text value";
// Fixed counts, so that every benchmark inserts into tables of the same sizes.
constexpr std::int64_t kRows = 300'000;

void BM_RawSqliteInsert(benchmark::State& state) {
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) std::abort();
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) std::abort();
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, kInsert, -1, &insert, nullptr) != SQLITE_OK) std::abort();
  std::int64_t n = 0;
  for (auto _ : state) {
    sqlite3_reset(insert);
    sqlite3_bind_text(insert, 1, kValue.data(), static_cast<int>(kValue.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, n++);
    if (sqlite3_step(insert) != SQLITE_DONE) std::abort();
  }
  sqlite3_finalize(insert);
  sqlite3_close(db);
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_RawSqliteInsert)->Iterations(kRows);

// A strict simulator with tracing off, one in-memory database and the binding of one actor.
struct D1Bench {
  D1Bench() : sim(1, Options()), scope(sim, "bench", sim.ClockFor("bench"), nullptr) {
    D1Options options;
    options.name = "bench";
    auto opened = D1Service::Open(sim, options);
    if (!opened.ok()) std::abort();
    service = std::move(*opened);
    db = service->Bind(scope);
    if (!sim.Run(db->Exec(kSchema)).ok()) std::abort();
  }
  static SimulatorOptions Options() {
    SimulatorOptions options;
    options.trace = false;
    return options;
  }

  Simulator sim;
  ActorScope scope;
  std::unique_ptr<D1Service> service;
  std::unique_ptr<platform::D1Database> db;
};

// The benchmark loop runs inside one coroutine, so the figure is the cost of a D1 call, not of
// starting the simulator.
Task<std::int64_t> InsertEach(benchmark::State* state, platform::D1Database* db) {
  const platform::D1PreparedStatement insert = db->Prepare(kInsert);
  std::int64_t n = 0;
  for (auto _ : *state) {
    auto result = co_await insert.Bind(kValue, n++).Run();
    if (!result.ok()) std::abort();
  }
  co_return n;
}

void BM_D1InsertAutocommit(benchmark::State& state) {
  D1Bench bench;
  const std::int64_t rows = bench.sim.Run(InsertEach(&state, bench.db.get()));
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_D1InsertAutocommit)->Iterations(kRows);

Task<std::int64_t> InsertBatches(benchmark::State* state, platform::D1Database* db) {
  const platform::D1PreparedStatement insert = db->Prepare(kInsert);
  std::int64_t n = 0;
  for (auto _ : *state) {
    std::vector<platform::D1PreparedStatement> batch;
    batch.reserve(100);
    for (int i = 0; i < 100; ++i) batch.push_back(insert.Bind(kValue, n++));
    auto result = co_await db->Batch(std::move(batch));
    if (!result.ok()) std::abort();
  }
  co_return n;
}

void BM_D1Batch100(benchmark::State& state) {
  D1Bench bench;
  const std::int64_t rows = bench.sim.Run(InsertBatches(&state, bench.db.get()));
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_D1Batch100)->Iterations(kRows / 100);

}  // namespace
}  // namespace cfemu::emulator
