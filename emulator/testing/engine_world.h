// An EngineWorld is a World built from a wrangler.jsonc (by default the compiled-in
// fixtures/wrangler.jsonc: queue `jobs` with its dead letter queue, D1 `DB`, KV `CACHE`, the
// coordinator Durable Object, a minute cron) with the engine's consumer, dead-letter consumer
// and scheduler tick as the Worker's handlers, on the simulator. Tests drive it on virtual time
// through the engine's public API; faults come from a profile or a fault plan; the engine's
// invariants (engine-spec.md §8) are checked online and when the world is destroyed.
//
// Wiring: a queue that some consumer names as its dead_letter_queue gets the engine's
// dead-letter consumer; every other consumer gets the engine's consumer with the options below.
// This header is installed as part of cfemu::testing (see engine_test.h for the fixture).
#pragma once

#include <utility>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/harness/scenario.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/engine/engine.h"
#include "src/engine/invariants.h"

namespace cfemu::testing {

using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using engine::Job;
using engine::JobContext;
using engine::JobOptions;
using engine::JobState;
using engine::Json;

struct EngineTestOptions {
  EngineTestOptions() = default;
  // The Worker's configuration: a wrangler.jsonc file, else its text, else the fixture.
  std::optional<std::filesystem::path> wrangler_file;
  std::string wrangler_text;
  // The logical queue the helpers (Add, Counts, Events, ...) act on.
  std::string queue = "jobs";
  // Binding names the engine uses (D1, coordinator, producers, optional KV cache).
  engine::EngineBindings bindings;
  std::uint64_t seed = 1;
  emulator::Profile profile = emulator::Profile::kStrict;
  std::optional<emulator::FaultPlan> faults;
  int max_batch_size = 10;
  Duration max_batch_timeout = core::Seconds(1);
  int max_retries = 3;
  std::optional<int> max_concurrency;
  engine::ConsumerOptions consumer;
  engine::QueueConfig queue_config;
  bool open_queue = true;  // Opens queue "jobs" with queue_config.
  bool migrate = true;
  std::optional<std::filesystem::path> persist_dir;
  std::optional<std::vector<std::string>> crons;  // Replaces the fixture's "* * * * *".
  engine::EngineConfig engine_config;
  std::string kv_binding;  // The engine's optional KV cache ("CACHE" in the fixture).
};

// A fault plan file as `cfemu run --faults` reads it (and `cfemu explore --shrink` writes it).
using emulator::LoadFaultPlanFile;

// What every processor run saw, for assertions.
struct ProcessorRun {
  std::string id;
  std::int64_t token = 0;
  std::int32_t attempt = 0;
  Instant at;
};

struct ProcessorHolder {
  std::function<Task<Result<Json>>(JobContext&)> fn;
  std::vector<ProcessorRun> runs;
};

class EngineWorld {
 public:
  explicit EngineWorld(EngineTestOptions options = EngineTestOptions());
  ~EngineWorld();

  emulator::Simulator& sim() { return *sim_; }
  emulator::World& world() { return *world_; }
  engine::Engine& engine() { return *engine_; }
  engine::Queue& queue() { return *queue_; }  // The logical queue of the options.
  const std::string& queue_name() const { return queue_name_; }
  platform::Env& env() { return world_->EnvFor("producer"); }
  std::int64_t now_ms() const { return sim_->now().unix_ms(); }

  // The processor every consumer invocation runs (default: complete with {"ok": true}).
  using ProcessorFn = std::function<Task<Result<Json>>(JobContext&)>;
  void SetProcessor(ProcessorFn fn) { processor_->fn = std::move(fn); }
  const std::vector<ProcessorRun>& runs() const { return processor_->runs; }
  int RunsOf(const std::string& id) const;

  Job Add(std::string name, Json data = Json::object(), JobOptions options = JobOptions());
  Result<Job> TryAdd(std::string name, Json data = Json::object(),
                     JobOptions options = JobOptions());
  std::optional<Job> Get(const std::string& id);
  JobState StateOf(const std::string& id);
  std::map<std::string, std::int64_t> Counts();
  // Events of a job (or all of the queue when id is empty), in order: (event, data).
  std::vector<std::pair<std::string, Json>> Events(const std::string& id = std::string());
  std::vector<std::string> EventNames(const std::string& id = std::string());
  engine::CoordinatorSnapshot Coordinator(const std::string& queue = std::string());
  // Unfinished rows and the coordinator's state, for failure messages.
  std::string DescribeUnfinished();
  std::int64_t QueryInt(const std::string& sql);
  // False when the world could not be built (a failure has been reported).
  bool ok() const { return engine_ && queue_; }

  // The engine's invariants (engine-spec.md §8) over this run; `quiescent` after a
  // RunUntilIdle with nothing paused or far delayed on purpose. Every EngineWorld checks the
  // non-quiescent ones when it is destroyed.
  std::vector<engine::InvariantResult> CheckInvariants(bool quiescent = false);
  void ExpectInvariants(bool quiescent = false);
  engine::InvariantChecker& checker() { return *checker_; }
  void SkipInvariantsAtExit() { check_at_exit_ = false; }

  void RunFor(Duration d) { ASSERT_TRUE(sim_->RunFor(d).ok()); }
  void RunUntilIdle(Duration max = core::Hours(24));
  template <class T>
  T Run(Task<T> task) {
    return sim_->Run(std::move(task));
  }

 private:
  std::string queue_name_;
  std::string d1_binding_;
  std::string coordinator_binding_;
  std::shared_ptr<ProcessorHolder> processor_;
  std::unique_ptr<engine::InvariantChecker> checker_;
  bool check_at_exit_ = true;
  std::unique_ptr<emulator::Simulator> sim_;
  platform::DurableObjectRegistry registry_;
  std::unique_ptr<emulator::World> world_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Queue> queue_;
};

// A processor that completes with `value` after `duration` of virtual time.
EngineWorld::ProcessorFn CompleteAfter(Duration duration, Json value = Json{{"ok", true}});
// A processor that fails with `message` the first `failures` attempts of each job, then
// completes.
EngineWorld::ProcessorFn FailTimes(int failures, std::string message = "boom");

}  // namespace cfemu::testing
