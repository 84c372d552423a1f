#include "emulator/sim/host_base.h"

#include <boost/asio/co_spawn.hpp>

#include "src/core/log.h"

namespace cfemu::emulator {

using core::Status;

HostBase::HostBase(const core::Clock& clock, std::uint64_t seed, Profile profile,
                   std::optional<FaultPlan> faults, bool trace)
    : clock_(clock),
      profile_(profile),
      random_(seed),
      trace_(trace),
      latency_(random_.Fork("sim/latency"), profile),
      faults_(faults ? std::move(*faults) : FaultPlan(profile), random_.Fork("sim/faults"), trace_,
              clock) {
  trace_.set_clock(&clock_);
}

ClockView& HostBase::ClockFor(std::string_view actor) {
  auto it = views_.find(actor);
  if (it == views_.end()) {
    it = views_.emplace(std::string(actor), std::make_unique<ClockView>(clock_)).first;
  }
  return *it->second;
}

bool HostBase::ClockFaultsEnabled() const {
  return faults_.Enabled(Fault::kT1ForwardJump) || faults_.Enabled(Fault::kT2Skew) ||
         faults_.Enabled(Fault::kT3BackwardStep);
}

void HostBase::PerturbClockViews() {
  for (auto& [actor, view] : views_) {  // In actor order: deterministic.
    if (view->fault_free()) continue;
    if (faults_.Enabled(Fault::kT1ForwardJump) &&
        faults_.Fire(Fault::kT1ForwardJump, "clock.jump", actor)) {
      // Up to one lease duration (30 s) or more with intensity.
      const double scale = faults_.Intensity(Fault::kT1ForwardJump);
      const auto ms = faults_.RandomFor(Fault::kT1ForwardJump).Range(1'000, 30'000);
      view->Step(core::Milliseconds(static_cast<std::int64_t>(static_cast<double>(ms) * scale)));
    }
    if (faults_.Enabled(Fault::kT2Skew) && faults_.Fire(Fault::kT2Skew, "clock.skew", actor)) {
      core::Random& random = faults_.RandomFor(Fault::kT2Skew);
      const double scale = faults_.Intensity(Fault::kT2Skew);
      view->SetOffset(core::Milliseconds(
          static_cast<std::int64_t>(static_cast<double>(random.Range(-2'000, 2'000)) * scale)));
      view->SetDriftPpm(
          static_cast<std::int64_t>(static_cast<double>(random.Range(-200, 200)) * scale));
    }
    if (faults_.Enabled(Fault::kT3BackwardStep) &&
        faults_.Fire(Fault::kT3BackwardStep, "clock.step", actor)) {
      const double scale = faults_.Intensity(Fault::kT3BackwardStep);
      const auto ms = faults_.RandomFor(Fault::kT3BackwardStep).Range(100, 5'000);
      view->Step(core::Milliseconds(-static_cast<std::int64_t>(static_cast<double>(ms) * scale)));
    }
  }
}

int HostBase::AddIdleCheck(std::function<bool()> is_idle) {
  const int id = next_idle_check_++;
  idle_checks_.emplace(id, std::move(is_idle));
  return id;
}

void HostBase::RemoveIdleCheck(int id) { idle_checks_.erase(id); }

bool HostBase::ServicesIdle() const {
  for (const auto& [id, check] : idle_checks_) {
    if (!check()) return false;
  }
  return true;
}

void HostBase::Fail(Status error) {
  CFEMU_LOG(core::LogLevel::kError, "run failed: {}", error.ToString());
  if (!failure_) failure_ = std::move(error);
}

void HostBase::SpawnOn(boost::asio::io_context& io, core::Task<void> task) {
  boost::asio::co_spawn(io, std::move(task), [this](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      Fail(Status::Unknown(std::string("uncaught exception in a spawned task: ") + e.what()));
    } catch (...) {
      Fail(Status::Unknown("uncaught non-standard exception in a spawned task"));
    }
  });
}

}  // namespace cfemu::emulator
