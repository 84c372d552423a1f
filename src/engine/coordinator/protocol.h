// The coordinator's RPC surface (engine-spec.md §4.3) as plain values: stub calls copy their
// arguments and results, so nothing here holds a reference. One coordinator Durable Object per
// logical queue (IdFromName(queue)); every call names the queue, so an object that lost its
// memory knows whom it serves from the first call on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/engine/queue_config.h"

namespace cfemu::engine {

// ---- admit ---------------------------------------------------------------------------------

struct AdmitItem {
  AdmitItem() = default;
  AdmitItem(std::string id, std::int64_t gen, std::optional<std::string> group = std::nullopt)
      : id(std::move(id)), gen(gen), group(std::move(group)) {}
  std::string id;
  std::int64_t gen = 1;  // The envelope's generation.
  std::optional<std::string> group;
};

struct AdmitRequest {
  AdmitRequest() = default;
  std::string queue;
  std::string owner;  // The consumer invocation.
  std::vector<AdmitItem> items;
};

enum class AdmitOutcome {
  kGranted,    // A lease with token = gen + 1: claim the row.
  kPaused,     // The queue is paused: park the row (T17).
  kSaturated,  // globalConcurrency is full: park the row (T17).
  kLimited,    // A rate limit denied it: re-delay the row to retry_at (T16).
  kBusy,       // A lease for this job (or a newer generation) exists: ack and forget.
};
std::string_view AdmitOutcomeName(AdmitOutcome outcome);

struct AdmitAnswer {
  AdmitOutcome outcome = AdmitOutcome::kBusy;
  std::int64_t token = 0;       // kGranted.
  std::int64_t expires_at = 0;  // kGranted.
  std::int64_t retry_at = 0;    // kLimited.
  bool took_tokens = false;     // kGranted: this grant took from the rate buckets.
};

struct AdmitReply {
  std::vector<AdmitAnswer> answers;  // One per item, in order.
  QueueConfig config;                // The queue's configuration (consumers never read D1 for it).
};

// ---- renew, release, status ------------------------------------------------------------------

struct LeaseRef {
  LeaseRef() = default;
  LeaseRef(std::string id, std::int64_t token, bool refund = false)
      : id(std::move(id)), token(token), refund(refund) {}
  std::string id;
  std::int64_t token = 0;
  bool refund = false;  // release only: give the rate-limit token back (granted, not claimed).
};

struct LeaseInfo {
  std::string id;
  bool exists = false;
  bool live = false;  // Not expired.
  std::int64_t token = 0;
  std::int64_t expires_at = 0;
};

// What tests and checkers may see of a coordinator (INV-05, INV-07, INV-08).
struct CoordinatorSnapshot {
  std::string queue;
  bool paused = false;
  std::vector<LeaseInfo> leases;  // Sorted by job id.
  std::int64_t inflight = 0;      // Dispatcher envelopes outstanding.
  std::optional<std::int64_t> alarm_at;
  std::int64_t config_version = 0;
};

}  // namespace cfemu::engine
