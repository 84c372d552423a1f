#include "emulator/sim/simulator.h"

#include <algorithm>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cfemu::emulator {

namespace asio = boost::asio;
using core::Instant;
using core::Status;
using core::TimerKind;

namespace {

// Min-heap order on (t, seeded tie-break, insertion sequence).
bool Later(const auto& a, const auto& b) {
  if (a.t != b.t) return a.t > b.t;
  if (a.tie != b.tie) return a.tie > b.tie;
  return a.seq > b.seq;
}

}  // namespace

Simulator::Simulator(std::uint64_t seed, SimulatorOptions options)
    : HostBase(clock_, seed, options.profile, std::move(options.faults), options.trace),
      ties_(random().Fork("sim/ties")) {
  clock_.now = options.start;
  if (ClockFaultsEnabled()) Spawn(DriveClockFaults());
}

// A background round of clock faults every 10 virtual seconds, for as long as the simulator
// lives (background timers never keep RunUntilIdle busy).
core::Task<void> Simulator::DriveClockFaults() {
  while (true) {
    const Status slept =
        co_await SleepUntil(now() + core::Seconds(10), TimerKind::kBackground, nullptr);
    if (!slept.ok()) co_return;
    PerturbClockViews();
  }
}

Simulator::~Simulator() = default;

core::Task<Status> Simulator::SleepUntil(Instant t, TimerKind kind,
                                         const core::CancelToken& cancel) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Status)>(
      [this, t, kind, cancel](auto handler) {
        AddTimer(t, kind, cancel, core::UniqueFunction<void(Status)>(std::move(handler)));
      },
      asio::use_awaitable);
}

void Simulator::AddTimer(Instant t, TimerKind kind, core::CancelToken cancel,
                         core::UniqueFunction<void(Status)> handler) {
  if (cancel && cancel->cancelled()) {
    asio::post(io_, [h = std::move(handler), reason = cancel->reason()]() mutable {
      h(Status::Cancelled(reason));
    });
    return;
  }
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  TimerSlot& entry = slots_[slot];
  entry.handler = std::move(handler);
  entry.kind = kind;
  entry.live = true;
  entry.cancel = std::move(cancel);
  const std::uint32_t generation = entry.generation;
  if (entry.cancel) {
    entry.cancel_id =
        entry.cancel->OnCancel([this, slot, generation] { CancelTimer(slot, generation); });
  }
  ++live_timers_;
  if (kind == TimerKind::kForeground) ++live_foreground_;
  heap_.push_back({std::max(t, clock_.now), ties_.Next(), timer_seq_++, slot, generation});
  std::push_heap(heap_.begin(), heap_.end(),
                 [](const HeapEntry& a, const HeapEntry& b) { return Later(a, b); });
}

void Simulator::ReleaseSlot(std::uint32_t slot) {
  TimerSlot& entry = slots_[slot];
  entry.live = false;
  ++entry.generation;
  entry.cancel.reset();
  entry.cancel_id = 0;
  --live_timers_;
  if (entry.kind == TimerKind::kForeground) --live_foreground_;
  free_slots_.push_back(slot);
}

void Simulator::CancelTimer(std::uint32_t slot, std::uint32_t generation) {
  TimerSlot& entry = slots_[slot];
  if (!entry.live || entry.generation != generation) return;
  auto handler = std::move(entry.handler);
  const std::string reason = entry.cancel ? entry.cancel->reason() : std::string("cancelled");
  ReleaseSlot(slot);  // The heap entry stays behind and is skipped by its stale generation.
  asio::post(io_, [h = std::move(handler), reason]() mutable { h(Status::Cancelled(reason)); });
}

void Simulator::Poll() {
  io_.restart();
  handlers_run_ += io_.poll();
}

bool Simulator::FireNext(std::optional<Instant> limit) {
  const auto later = [](const HeapEntry& a, const HeapEntry& b) { return Later(a, b); };
  while (!heap_.empty()) {
    const HeapEntry top = heap_.front();
    TimerSlot& entry = slots_[top.slot];
    if (!entry.live || entry.generation != top.generation) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      heap_.pop_back();
      continue;
    }
    if (limit && top.t > *limit) return false;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    clock_.now = std::max(clock_.now, top.t);
    auto handler = std::move(entry.handler);
    if (entry.cancel) entry.cancel->Remove(entry.cancel_id);
    ReleaseSlot(top.slot);
    ++timers_fired_;
    asio::post(io_, [h = std::move(handler)]() mutable { h(Status::Ok()); });
    return true;
  }
  return false;
}

void Simulator::Run(core::Task<void> task) {
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io_, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  DriveUntil([&] { return done; });
  if (error) std::rethrow_exception(error);
}

Status Simulator::RunUntil(Instant t) {
  while (true) {
    Poll();
    if (failure()) return *failure();
    if (!FireNext(t)) break;
  }
  clock_.now = std::max(clock_.now, t);
  Poll();
  if (failure()) return *failure();
  return Status::Ok();
}

bool Simulator::IsIdle() const { return live_foreground_ == 0 && ServicesIdle(); }

Status Simulator::RunUntilIdle(core::Duration max) {
  const Instant deadline = clock_.now + max;
  while (true) {
    Poll();
    if (failure()) return *failure();
    if (IsIdle()) return Status::Ok();
    if (!FireNext(deadline)) {
      if (live_timers_ == 0) {
        return Status::FailedPrecondition(
            "RunUntilIdle: a service reports pending work but no timer is left to drive it");
      }
      clock_.now = std::max(clock_.now, deadline);
      return Status::Timeout("RunUntilIdle: still busy after " + max.ToString() +
                             " of virtual time");
    }
  }
}

}  // namespace cfemu::emulator
