#include "emulator/sim/invocation.h"

#include <string>

namespace cfemu::emulator {

using core::Status;

std::string_view KillReasonName(KillReason reason) {
  switch (reason) {
    case KillReason::kNone:
      return "none";
    case KillReason::kCrash:
      return "crash";
    case KillReason::kCpuLimit:
      return "cpu_limit";
    case KillReason::kWallClock:
      return "wall_clock";
    case KillReason::kRetired:
      return "retired";
  }
  return "none";
}

std::shared_ptr<Invocation> Invocation::Start(Host& host, std::string actor, core::Instant deadline,
                                              std::optional<Fault> deadline_fault) {
  auto invocation = std::make_shared<Invocation>(host, std::move(actor), deadline, deadline_fault);
  host.Spawn(Watchdog(invocation));
  return invocation;
}

Invocation::Invocation(Host& host, std::string actor, core::Instant deadline,
                       std::optional<Fault> deadline_fault)
    : host_(host), actor_(std::move(actor)), deadline_(deadline), deadline_fault_(deadline_fault) {}

core::Task<void> Invocation::Watchdog(std::shared_ptr<Invocation> self) {
  // Background: a finished invocation cancels it, and it never keeps RunUntilIdle busy.
  const Status slept = co_await self->host_.SleepUntil(
      self->deadline_, core::TimerKind::kBackground, self->watchdog_);
  if (slept.ok() && !self->finished_ && !self->killed()) {
    self->Kill(KillReason::kWallClock, self->deadline_fault_, "invocation.deadline", "deadline");
  }
}

Status Invocation::EnterAwait(std::string_view site) {
  ++awaits_;
  if (killed()) {
    if (++awaits_after_kill_ > kMaxAwaitsAfterKill) {
      host_.Fail(Status::FailedPrecondition(
          "invocation '" + actor_ + "' was killed (" + std::string(KillReasonName(kill_reason_)) +
          ") but kept awaiting platform calls (" + std::to_string(kMaxAwaitsAfterKill) +
          " more, the last at " + std::string(site) +
          "); code must stop when a call returns kCancelled"));
    }
    return Status::Cancelled("invocation was killed (" + std::string(KillReasonName(kill_reason_)) +
                             ")");
  }
  if (kill_at_await_ > 0 && awaits_ >= kill_at_await_) {
    const Fault fault = *kill_at_await_fault_;
    Kill(fault == Fault::kW1CpuKill ? KillReason::kCpuLimit : KillReason::kCrash, fault,
         kill_at_await_site_, site);
    return Status::Cancelled("invocation was killed at await " + std::to_string(awaits_));
  }
  if (kill_after_mutation_fault_ && mutated_since_arm_) {
    Kill(KillReason::kCrash, kill_after_mutation_fault_, kill_after_mutation_site_, site);
    return Status::Cancelled("invocation was killed after a side effect");
  }
  if (before_await_) return before_await_(site);
  return Status::Ok();
}

void Invocation::NoteMutation() {
  if (kill_after_mutation_fault_) mutated_since_arm_ = true;
}

void Invocation::ArmKillAtAwait(std::int64_t j, Fault fault, std::string_view fault_site) {
  CHECK(j >= 1);
  kill_at_await_ = awaits_ + j;
  kill_at_await_fault_ = fault;
  kill_at_await_site_ = std::string(fault_site);
}

void Invocation::ArmKillAfterMutation(Fault fault, std::string_view fault_site) {
  kill_after_mutation_fault_ = fault;
  kill_after_mutation_site_ = std::string(fault_site);
  mutated_since_arm_ = false;
}

void Invocation::Kill(KillReason reason, std::optional<Fault> fault, std::string_view fault_site,
                      std::string_view await_site) {
  if (killed() || finished_) return;
  kill_reason_ = reason;
  if (fault) host_.faults().Record(*fault, fault_site, actor_);
  core::TraceSink& trace = host_.trace();
  if (trace.enabled()) {
    trace.Emit(actor_, core::TraceEvent("invocation.killed")
                           .Str("reason", std::string(KillReasonName(reason)))
                           .Str("site", std::string(await_site))
                           .Int("awaits", awaits_));
  }
  watchdog_->Cancel("invocation killed");
  token_->Cancel("invocation was killed (" + std::string(KillReasonName(reason)) + ")");
  if (on_kill_) {
    auto callback = std::move(on_kill_);
    callback();
  }
}

void Invocation::Finish() {
  if (finished_) return;
  finished_ = true;
  returned_ = true;
  watchdog_->Cancel("invocation finished");
}

}  // namespace cfemu::emulator
