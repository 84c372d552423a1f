// The engine's invariants (engine-spec.md §8) as a checker that tests and the scenario harness
// call. Online checks read the trace as it is written (Observe: attach it to the run's trace
// sink); end checks read D1 and the coordinators (Check). Each invariant gives ok or the first
// violations it found, with enough detail to find the job in the trace.
//
// What is checked online: INV-04 (a processor runs once per claim token; results applied at
// most once per token), INV-05 (one live lease per job), INV-06 (an applied finish carries the
// token of the job's latest claim), INV-07 (claims per rate bucket within C + r·Δ; fixed window
// within 2·max per sliding window), INV-08 (no grant while paused), INV-18 (generations of a
// job's envelopes and claims never decrease), INV-14 (each dispatch pass stays within its window
// and leaves no ready row ranking before one it sent, in the pass's own D1 snapshot). At the end:
// INV-01 (at quiescence, no job is left unexplained), INV-02, INV-03, INV-09, INV-10, INV-11,
// INV-12, INV-13, INV-15, INV-16, INV-17. INV-19 (determinism) is checked by running twice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/trace.h"
#include "src/engine/engine_context.h"
#include "src/engine/queue_config.h"

namespace cfemu::engine {

struct InvariantResult {
  std::string id;  // "INV-02"
  std::string name;
  bool ok = true;
  std::string detail;  // The first violations, when not ok.
};

struct CheckOptions {
  CheckOptions() = default;
  // The world ran until idle with no fault left: every job must be terminal or explained
  // (INV-01), and no lease may be left (INV-05).
  bool quiescent = false;
  // Messages the dead letter queue delivered (INV-17), when the caller knows them.
  std::optional<std::set<std::string>> dead_letter_messages;
};

class InvariantChecker {
 public:
  // Limits of the queues to check rates against (by logical queue).
  void SetQueueConfig(const std::string& queue, const QueueConfig& config) {
    configs_[queue] = config;
  }
  // Online: feed every trace record of the run.
  void Observe(const core::TraceRecord& record);
  // End of run: the online results and the checks over D1 and the coordinators.
  core::Task<std::vector<InvariantResult>> Check(EngineContext& context,
                                                 CheckOptions options = CheckOptions());
  // The online findings so far, by invariant id.
  const std::map<std::string, std::vector<std::string>>& online() const { return online_; }

 private:
  void Violation(const std::string& id, std::string detail);
  void OnClaim(const core::TraceRecord& record);
  void OnRun(const core::TraceRecord& record);
  void OnFinished(const core::TraceRecord& record);
  void OnAdmit(const core::TraceRecord& record);
  void OnGen(const core::TraceRecord& record);
  void OnDispatchPass(const core::TraceRecord& record);
  void AddBucketEvent(const core::TraceRecord& record, std::int64_t at, int weight);

  struct JobTrace {
    std::int64_t last_claim = 0;          // Token of the latest claim.
    std::map<std::int64_t, int> runs;     // Token -> processor starts.
    std::map<std::int64_t, int> applied;  // Token -> applied finishes.
    std::int64_t max_gen = 0;
  };
  std::map<std::string, QueueConfig> configs_;
  std::map<std::string, JobTrace> jobs_;  // "queue:id"
  // INV-07: (time, +1 take / -1 refund) per bucket, "queue" or "queue|group".
  std::map<std::string, std::vector<std::pair<std::int64_t, int>>> bucket_events_;
  std::set<std::string> paused_;  // Queues paused now (by the coordinators' trace).
  std::map<std::string, std::vector<std::string>> online_;
};

}  // namespace cfemu::engine
