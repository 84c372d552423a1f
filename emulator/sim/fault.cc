#include "emulator/sim/fault.h"

#include <cctype>
#include <string>

namespace cfemu::emulator {

namespace {

using K = FaultKind;

constexpr std::array<FaultInfo, kFaultCount> kFaults = {{
    {Fault::kQ1ConsumerCrash, "Q1", "consumer_crash", K::kDoc, 0.02, "fault.Q1"},
    {Fault::kQ2CrashAfterEffect, "Q2", "crash_after_effect", K::kDoc, 0.01, "fault.Q2"},
    {Fault::kQ3DuplicateDelivery, "Q3", "duplicate_delivery", K::kDoc, 0.005, "fault.Q3"},
    {Fault::kQ4Reorder, "Q4", "reorder", K::kDoc, 0.05, "fault.Q4"},
    {Fault::kQ5LateDelivery, "Q5", "late_delivery_tail", K::kSynthetic, 0.01, "fault.Q5"},
    {Fault::kQ6RetriesExhausted, "Q6", "retries_exhausted", K::kDoc, 0.001, "fault.Q6"},
    {Fault::kQ7RetentionLoss, "Q7", "retention_loss", K::kDoc, 0.0005, "fault.Q7"},
    {Fault::kQ8ProducerRejected, "Q8", "producer_rejected", K::kDoc, 0.002, "fault.Q8"},
    {Fault::kQ9ProducerReplyLost, "Q9", "producer_reply_lost", K::kInferred, 0.002, "fault.Q9"},
    {Fault::kQ10SendAfterReturn, "Q10", "send_after_return", K::kDoc, 1.0, "fault.Q10"},
    {Fault::kQ11PullLeaseExpiry, "Q11", "pull_lease_expiry", K::kDoc, 0.02, "fault.Q11"},
    {Fault::kQ12ConcurrentBatches, "Q12", "concurrent_batches", K::kDoc, 0.05, "fault.Q12"},
    {Fault::kQ13PausePurge, "Q13", "pause", K::kDoc, 0.0005, "fault.Q13"},
    {Fault::kD1RetryableError, "D1", "retryable_error", K::kDoc, 0.01, "fault.D1"},
    {Fault::kD2IndeterminateWrite, "D2", "indeterminate_write", K::kInferred, 0.005, "fault.D2"},
    {Fault::kD3TimeoutOverload, "D3", "timeout_overload", K::kDoc, 0.005, "fault.D3"},
    {Fault::kD4BatchRollback, "D4", "batch_rollback", K::kDoc, 0.005, "fault.D4"},
    {Fault::kD5ReadAutoRetry, "D5", "read_auto_retry", K::kDoc, 0.01, "fault.D5"},
    {Fault::kD6LatencyTail, "D6", "latency_tail", K::kSynthetic, 0.01, "fault.D6"},
    {Fault::kD7ObjectReset, "D7", "object_reset", K::kDoc, 0.001, "fault.D7"},
    {Fault::kK1StaleRead, "K1", "stale_read", K::kDoc, 1.0, "fault.K1"},
    {Fault::kK2StaleNegative, "K2", "stale_negative_lookup", K::kDoc, 1.0, "fault.K2"},
    {Fault::kK3LostUpdate, "K3", "lost_update", K::kDoc, 1.0, "fault.K3"},
    {Fault::kK4WriteRateLimited, "K4", "write_rate_limited", K::kDoc, 1.0, "fault.K4"},
    {Fault::kK5ExpiryFlaps, "K5", "expiry_flaps", K::kInferred, 1.0, "fault.K5"},
    {Fault::kO1Eviction, "O1", "eviction", K::kDoc, 0.001, "fault.O1"},
    {Fault::kO2ResetMidRequest, "O2", "reset_mid_request", K::kDoc, 0.002, "fault.O2"},
    {Fault::kO3Overloaded, "O3", "overloaded", K::kDoc, 0.002, "fault.O3"},
    {Fault::kO4BlockConcurrencyTimeout, "O4", "block_concurrency_timeout", K::kDoc, 1.0,
     "fault.O4"},
    {Fault::kO5AlarmFailure, "O5", "alarm_failure", K::kDoc, 0.01, "fault.O5"},
    {Fault::kO6LateAlarm, "O6", "late_alarm", K::kDoc, 0.01, "fault.O6"},
    {Fault::kO7Interleaving, "O7", "interleaving", K::kInferred, 0.05, "fault.O7"},
    {Fault::kO8StubIndeterminate, "O8", "stub_indeterminate", K::kInferred, 0.002, "fault.O8"},
    {Fault::kC1LateTick, "C1", "late_tick", K::kInferred, 0.05, "fault.C1"},
    {Fault::kC2SkippedTick, "C2", "skipped_tick", K::kInferred, 0.005, "fault.C2"},
    {Fault::kC3DoubledTick, "C3", "doubled_tick", K::kDoc, 0.01, "fault.C3"},
    {Fault::kC4OverlappingRuns, "C4", "overlapping_runs", K::kInferred, 0.01, "fault.C4"},
    {Fault::kW1CpuKill, "W1", "cpu_limit_kill", K::kDoc, 0.01, "fault.W1"},
    {Fault::kW2WallClockKill, "W2", "wall_clock_kill", K::kDoc, 0.002, "fault.W2"},
    {Fault::kN1Partition, "N1", "partition", K::kInferred, 0.005, "fault.N1"},
    {Fault::kN2ReplyLost, "N2", "reply_lost", K::kInferred, 0.005, "fault.N2"},
    {Fault::kN3DelayReorder, "N3", "delay_reorder", K::kSynthetic, 0.01, "fault.N3"},
    {Fault::kN4SideEffectFailure, "N4", "side_effect_failure", K::kSynthetic, 0.01, "fault.N4"},
    {Fault::kT1ForwardJump, "T1", "forward_jump", K::kSynthetic, 0.001, "fault.T1"},
    {Fault::kT2Skew, "T2", "skew", K::kSynthetic, 0.01, "fault.T2"},
    {Fault::kT3BackwardStep, "T3", "backward_step", K::kSynthetic, 0.001, "fault.T3"},
}};

constexpr bool TableIsInEnumOrder() {
  for (std::size_t i = 0; i < kFaults.size(); ++i) {
    if (static_cast<std::size_t>(kFaults[i].fault) != i) return false;
  }
  return true;
}
static_assert(TableIsInEnumOrder(), "fault table must follow the enum order");

}  // namespace

const FaultInfo& Describe(Fault fault) { return kFaults[static_cast<std::size_t>(fault)]; }

const std::array<FaultInfo, kFaultCount>& AllFaults() { return kFaults; }

std::optional<Fault> FaultFromId(std::string_view id) {
  std::string upper(id);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& info : kFaults) {
    if (info.id == upper) return info.fault;
  }
  return std::nullopt;
}

std::string_view KindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kDoc:
      return "doc";
    case FaultKind::kInferred:
      return "inferred";
    case FaultKind::kSynthetic:
      return "synthetic";
  }
  return "doc";
}

std::string_view ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kStrict:
      return "strict";
    case Profile::kFidelity:
      return "fidelity";
    case Profile::kRobustness:
      return "robustness";
  }
  return "strict";
}

std::optional<Profile> ProfileFromName(std::string_view name) {
  if (name == "strict") return Profile::kStrict;
  if (name == "fidelity") return Profile::kFidelity;
  if (name == "robustness") return Profile::kRobustness;
  return std::nullopt;
}

bool ProfileAllows(Profile profile, FaultKind kind) {
  switch (profile) {
    case Profile::kStrict:
      return false;
    case Profile::kFidelity:
      return kind != FaultKind::kSynthetic;
    case Profile::kRobustness:
      return true;
  }
  return false;
}

}  // namespace cfemu::emulator
