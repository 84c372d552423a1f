// A D1 database on a simulator for tests: the binding of one actor ("test", or an invocation
// when asked), synchronous helpers that drive the simulator until a call completes, and fault
// plans that force exactly one fault.
#pragma once

#include <utility>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/d1/d1_service.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/sim/invocation.h"
#include "emulator/sim/simulator.h"
#include "src/platform/d1.h"

namespace cfemu::testing {

using core::Code;
using core::Result;
using core::Status;
using core::Task;
using platform::D1Param;
using platform::D1PreparedStatement;
using platform::D1Result;
using platform::D1Row;
using platform::D1Value;

struct D1Config {
  emulator::Profile profile = emulator::Profile::kStrict;
  std::optional<emulator::FaultPlan> faults;
  emulator::D1Limits limits;
  std::optional<std::filesystem::path> file;
  std::optional<bool> cap_queries;
  bool in_invocation = false;  // The binding belongs to an invocation (checklist 36).
  std::uint64_t seed = 1;
  std::string name = "jobs";
};

D1Config NamedConfig(std::string name);
D1Config FileConfig(std::filesystem::path file);

// A strict plan that enables exactly `fault`, firing with `probability` at most `max_firings`.
emulator::FaultPlan OnlyFault(emulator::Fault fault, double probability = 1.0,
                              std::optional<std::int64_t> max_firings = 1);

class D1Harness {
 public:
  explicit D1Harness(D1Config config = D1Config());
  ~D1Harness();

  emulator::Simulator& sim() { return *sim_; }
  emulator::D1Service& service() { return *service_; }
  platform::D1Database& db() { return *db_; }
  const emulator::ActorScope& scope() const { return *scope_; }

  template <class T>
  T Run(Task<T> task) {
    return sim_->Run(std::move(task));
  }

  // stmt.All() / Run() / First() / Raw() / Batch() / Exec() driven to completion.
  Result<D1Result> All(const std::string& sql, std::vector<D1Param> params = {});
  Result<std::optional<D1Row>> First(const std::string& sql, std::vector<D1Param> params = {});
  Result<D1Value> FirstValue(const std::string& sql, const std::string& column,
                             std::vector<D1Param> params = {});
  Result<std::vector<std::vector<D1Value>>> Raw(const std::string& sql, bool column_names = false);
  Result<std::vector<D1Result>> Batch(std::vector<D1PreparedStatement> statements,
                                      std::string label = std::string());
  Result<platform::D1ExecResult> Exec(const std::string& sql);
  // Runs `sql` (one line per statement) and fails the test when it fails.
  void MustExec(const std::string& sql);
  // SELECT count(*) FROM `table`.
  std::int64_t Count(const std::string& table);

  // The trace lines of event `ev`.
  std::vector<std::string> TraceLines(std::string_view ev);

 private:
  std::unique_ptr<emulator::Simulator> sim_;
  std::shared_ptr<emulator::Invocation> invocation_;
  std::unique_ptr<emulator::ActorScope> scope_;
  std::unique_ptr<emulator::D1Service> service_;
  std::unique_ptr<platform::D1Database> db_;
};

// The integer a D1Value holds (fails the test otherwise).
std::int64_t IntOf(const D1Value& value);
std::string TextOf(const D1Value& value);

// A directory under the build directory named after the running test, removed by the
// destructor.
class TestDirectory {
 public:
  TestDirectory();
  ~TestDirectory();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace cfemu::testing
