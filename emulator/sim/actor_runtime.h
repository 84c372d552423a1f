// What a binding knows about its caller: the actor's name (its trace label), its clock view,
// and, inside an invocation, the invocation (cancel token, kill points). Every platform call
// enters through Enter(), and every emulated delay goes through Sleep(), so kills and
// cancellation reach all of them. ActorRuntime is the Runtime an Env hands to user code.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "emulator/sim/host.h"
#include "emulator/sim/invocation.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

class ActorScope {
 public:
  ActorScope(Host& host, std::string actor, ClockView& clock,
             std::shared_ptr<Invocation> invocation)
      : host_(host), actor_(std::move(actor)), clock_(clock), invocation_(std::move(invocation)) {}

  Host& host() const { return host_; }
  const std::string& actor() const { return actor_; }
  ClockView& clock() const { return clock_; }
  const std::shared_ptr<Invocation>& invocation() const { return invocation_; }
  core::CancelToken token() const { return invocation_ ? invocation_->token() : nullptr; }

  // The gate of every platform await: kCancelled from a killed invocation.
  core::Status Enter(std::string_view site) const {
    return invocation_ ? invocation_->EnterAwait(site) : core::Status::Ok();
  }
  // An emulated delay (latency) of `d`; completes with kCancelled if the invocation is killed.
  core::Task<core::Status> Sleep(core::Duration d) const {
    return host_.SleepUntil(host_.clock().Now() + d, core::TimerKind::kForeground, token());
  }
  void NoteMutation() const {
    if (invocation_) invocation_->NoteMutation();
  }
  // True when the invocation's outcome is already decided (a send now is "after return").
  bool AfterReturn() const { return invocation_ && invocation_->finished(); }

 private:
  Host& host_;
  std::string actor_;
  ClockView& clock_;
  std::shared_ptr<Invocation> invocation_;
};

class ActorRuntime final : public core::Runtime {
 public:
  explicit ActorRuntime(const ActorScope& scope) : scope_(scope) {}
  core::Task<core::Status> SleepUntil(core::Instant t, core::TimerKind kind) override;
  // A spawned task keeps `owner` (the Env that holds this runtime) alive until it finishes, so
  // work started from an invocation may use its Env after the handler returned.
  void Spawn(core::Task<void> task) override;
  void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

 private:
  const ActorScope& scope_;
  std::weak_ptr<void> owner_;
};

// Builds the Env of an invocation (a queue batch, a cron tick, a Durable Object event): its trace
// label, the actor whose clock view it reads (the Worker script), and the invocation whose
// token and kill points its bindings carry. The World provides it to the services.
using InvocationEnvFactory = std::function<std::shared_ptr<platform::Env>(
    std::string actor, std::string clock_actor, std::shared_ptr<Invocation> invocation)>;

}  // namespace cfemu::emulator
