// What a committed batch owes afterwards (the outbox rule, engine-spec.md §1.4): envelopes for
// rows it marked dispatched, coordinator kicks for rows the dispatcher owns, and the follow-up
// batches of flow parents it failed (T21 recurses one level per batch, §3.1). Every component
// that commits transitions — consumer, coordinator, DLQ consumer, cron tick, admin operations —
// collects these from its batch results and applies them the same way. None of it is needed
// for correctness: a lost envelope is found by R-LOST, a lost kick by R-DISPATCH, a lost
// follow-up by R-FLOW.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/job_store.h"
#include "src/platform/d1.h"

namespace cfemu::engine {

struct RowKey {
  std::string queue;
  std::string id;
  friend bool operator<(const RowKey& a, const RowKey& b) {
    return a.queue != b.queue ? a.queue < b.queue : a.id < b.id;
  }
};

struct PostCommit {
  // Rows marked dispatched at `gen`; the envelope's delay comes from available_at.
  struct Dispatch {
    Envelope envelope;
  };
  std::vector<Dispatch> dispatches;
  std::map<std::string, std::int64_t> kicks;  // Queue -> earliest due time.
  std::vector<RowKey> failed_parents;         // Parents failed by T21: their post part is owed.

  void Send(Envelope envelope) { dispatches.push_back({std::move(envelope)}); }
  void Kick(const std::string& queue, std::int64_t at);
  bool empty() const { return dispatches.empty() && kicks.empty() && failed_parents.empty(); }
};

// Reads the RETURNING rows of the flow statements at `effects` in `results`.
void CollectFlowEffects(const std::vector<platform::D1Result>& results,
                        const store::FlowEffects& effects, PostCommit& out);
// A released parent row (queue, id, gen, available_at, dispatch_at, group_key): send its
// envelope when it was marked dispatched, else kick its coordinator.
void CollectReleased(const std::vector<platform::D1Value>& values, PostCommit& out);

// Sends, kicks, then the failed parents' post batches (recursively, bounded by the tree depth).
// Failures are logged in the trace only: the recovery paths own what is left.
core::Task<void> ApplyPostCommit(EngineContext& context, PostCommit post);

}  // namespace cfemu::engine
