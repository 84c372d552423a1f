// The fault catalogue of faults-and-invariants.md §2 as data: every fault has an id ("Q3"), a
// kind (doc, inferred, synthetic) and a coverage mark. Profiles pick which kinds may run:
// strict none, fidelity doc + inferred, robustness all. Injection sites name the code location
// that decides ("queue.ack"); a firing is traced as `fault.fired {fault, kind, site, n}` where n
// counts decisions at that (fault, site), so a plan can force exactly that decision again.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cfemu::emulator {

enum class Fault : std::uint8_t {
  // Queues (emulator/queues).
  kQ1ConsumerCrash,
  kQ2CrashAfterEffect,
  kQ3DuplicateDelivery,
  kQ4Reorder,
  kQ5LateDelivery,
  kQ6RetriesExhausted,
  kQ7RetentionLoss,
  kQ8ProducerRejected,
  kQ9ProducerReplyLost,
  kQ10SendAfterReturn,
  kQ11PullLeaseExpiry,
  kQ12ConcurrentBatches,
  kQ13PausePurge,
  // D1 (emulator/d1).
  kD1RetryableError,
  kD2IndeterminateWrite,
  kD3TimeoutOverload,
  kD4BatchRollback,
  kD5ReadAutoRetry,
  kD6LatencyTail,
  kD7ObjectReset,
  // KV (emulator/kv).
  kK1StaleRead,
  kK2StaleNegative,
  kK3LostUpdate,
  kK4WriteRateLimited,
  kK5ExpiryFlaps,
  // Durable Objects (emulator/durable_objects).
  kO1Eviction,
  kO2ResetMidRequest,
  kO3Overloaded,
  kO4BlockConcurrencyTimeout,
  kO5AlarmFailure,
  kO6LateAlarm,
  kO7Interleaving,
  kO8StubIndeterminate,
  // Cron (emulator/cron).
  kC1LateTick,
  kC2SkippedTick,
  kC3DoubledTick,
  kC4OverlappingRuns,
  // Worker invocations (emulator/sim/invocation.h).
  kW1CpuKill,
  kW2WallClockKill,
  // Network and RPC between actors (emulator/sim).
  kN1Partition,
  kN2ReplyLost,
  kN3DelayReorder,
  kN4SideEffectFailure,
  // Clocks (emulator/sim).
  kT1ForwardJump,
  kT2Skew,
  kT3BackwardStep,
};

inline constexpr std::size_t kFaultCount = static_cast<std::size_t>(Fault::kT3BackwardStep) + 1;

enum class FaultKind : std::uint8_t { kDoc, kInferred, kSynthetic };

enum class Profile : std::uint8_t { kStrict, kFidelity, kRobustness };

struct FaultInfo {
  Fault fault;
  std::string_view id;    // "Q3"
  std::string_view name;  // "duplicate_delivery"
  FaultKind kind;
  double default_probability;  // Per decision, when the profile allows the kind.
  std::string_view cover;      // Coverage mark: "fault.Q3".
};

const FaultInfo& Describe(Fault fault);
const std::array<FaultInfo, kFaultCount>& AllFaults();
std::optional<Fault> FaultFromId(std::string_view id);  // "Q3" or "q3".
std::string_view KindName(FaultKind kind);              // "doc", "inferred", "synthetic".
std::string_view ProfileName(Profile profile);          // "strict", "fidelity", "robustness".
std::optional<Profile> ProfileFromName(std::string_view name);
// Whether `profile` runs faults of `kind`.
bool ProfileAllows(Profile profile, FaultKind kind);

}  // namespace cfemu::emulator
