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
