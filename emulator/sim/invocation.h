// An invocation: one run of a Worker handler (a queue batch, later a cron tick). It carries a
// deadline (the 15-minute wall limit) and a cancel token. A kill — fault Q1 at the invocation's
// j-th platform await, Q2 at the first await after a state-changing call, W1 at a random await,
// W2 or the deadline itself — cancels the token: pending emulated awaits complete with
// kCancelled, every later platform call returns kCancelled at once, and the kill callback lets
// the broker decide the outcome then and there, so a killed invocation has no further effect.
// After 1,000 further awaits from a killed invocation the run fails with a clear error, so a
// handler that ignores kCancelled cannot hang CI.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/sim/fault.h"
#include "emulator/sim/host.h"
#include "src/core/unique_function.h"

namespace cfemu::emulator {

// kRetired: the Durable Object incarnation the invocation belongs to was evicted or reset.
enum class KillReason { kNone, kCrash, kCpuLimit, kWallClock, kRetired };
// "crash", "cpu_limit", "wall_clock", "retired".
std::string_view KillReasonName(KillReason reason);

inline constexpr std::int64_t kMaxAwaitsAfterKill = 1'000;

class Invocation : public std::enable_shared_from_this<Invocation> {
 public:
  // Starts the watchdog that kills the invocation at `deadline` (true time). `deadline_fault` is
  // W2 when a fault moved the deadline earlier than the wall limit.
  static std::shared_ptr<Invocation> Start(Host& host, std::string actor, core::Instant deadline,
                                           std::optional<Fault> deadline_fault = std::nullopt);

  Invocation(Host& host, std::string actor, core::Instant deadline,
             std::optional<Fault> deadline_fault);
  Invocation(const Invocation&) = delete;
  Invocation& operator=(const Invocation&) = delete;

  const std::string& actor() const { return actor_; }
  const core::CancelToken& token() const { return token_; }
  core::Instant deadline() const { return deadline_; }
  std::int64_t awaits() const { return awaits_; }

  // Every platform await of this invocation calls this first: kCancelled once killed (or when
  // an armed kill fires now), OK otherwise.
  core::Status EnterAwait(std::string_view site);
  // A state-changing platform call completed (a send, a write): arms Q2's kill point.
  void NoteMutation();

  // Arms a kill at the j-th platform await from now; `fault_site` is where the fault was decided
  // (recorded as the firing site when the kill happens). REQUIRES: j >= 1.
  void ArmKillAtAwait(std::int64_t j, Fault fault, std::string_view fault_site);
  void ArmKillAfterMutation(Fault fault, std::string_view fault_site);
  // Kills now. `fault` (if any) is recorded as fired at `fault_site`; `await_site` is where the
  // invocation was when it died.
  void Kill(KillReason reason, std::optional<Fault> fault, std::string_view fault_site,
            std::string_view await_site);
  // Runs once, synchronously inside Kill(), after the token is cancelled.
  void OnKill(core::UniqueFunction<void()> callback) { on_kill_ = std::move(callback); }
  // Runs before every platform await that passes the kill checks; a non-OK status fails that
  // await. A Durable Object commits its coalesced writes here (its output gate).
  void SetBeforeAwait(std::function<core::Status(std::string_view site)> hook) {
    before_await_ = std::move(hook);
  }

  // The handler returned (WaitUntil tasks may still run).
  void MarkReturned() { returned_ = true; }
  // The outcome is decided: stops the watchdog. Sends after this are "after return" (Q10).
  void Finish();

  bool killed() const { return kill_reason_ != KillReason::kNone; }
  KillReason kill_reason() const { return kill_reason_; }
  bool returned() const { return returned_; }
  bool finished() const { return finished_; }

 private:
  static core::Task<void> Watchdog(std::shared_ptr<Invocation> self);

  Host& host_;
  std::string actor_;
  core::Instant deadline_;
  std::optional<Fault> deadline_fault_;
  core::CancelToken token_ = core::MakeCancelToken();
  core::CancelToken watchdog_ = core::MakeCancelToken();
  core::UniqueFunction<void()> on_kill_;
  std::function<core::Status(std::string_view)> before_await_;
  std::int64_t awaits_ = 0;
  std::int64_t awaits_after_kill_ = 0;
  std::int64_t kill_at_await_ = 0;
  std::optional<Fault> kill_at_await_fault_;
  std::string kill_at_await_site_;
  std::optional<Fault> kill_after_mutation_fault_;
  std::string kill_after_mutation_site_;
  bool mutated_since_arm_ = false;
  KillReason kill_reason_ = KillReason::kNone;
  bool returned_ = false;
  bool finished_ = false;
};

}  // namespace cfemu::emulator
