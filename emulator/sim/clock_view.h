// A per-actor view of a base clock, for the clock faults (T1 forward jump, T2 skew and drift,
// T3 backward step): view(t) = t + offset + drift_ppm * (t - anchor) / 10^6. Sleeps are
// expressed on the view and converted back to base time with ToBase().
#pragma once

#include <cstdint>

#include "src/core/time.h"

namespace cfemu::emulator {

class ClockView final : public core::Clock {
 public:
  explicit ClockView(const core::Clock& base) : base_(base) {}

  core::Instant Now() const override { return FromBase(base_.Now()); }
  const core::Clock& base() const { return base_; }

  core::Instant FromBase(core::Instant base_time) const;
  // The earliest base instant at which this view reads at least `view_time`.
  core::Instant ToBase(core::Instant view_time) const;

  // Moves the view by `delta` (forward jump or backward step).
  void Step(core::Duration delta) { offset_ += delta; }
  // Sets the drift rate in parts per million from now on (re-anchored so Now() does not jump).
  void SetDriftPpm(std::int64_t ppm);
  void SetOffset(core::Duration offset) { offset_ = offset; }

  // A view the clock faults T1-T3 never perturb (Durable Objects': the coordinator measures
  // leases on its own clock).
  void set_fault_free(bool fault_free) { fault_free_ = fault_free; }
  bool fault_free() const { return fault_free_; }

  core::Duration offset() const { return offset_; }
  std::int64_t drift_ppm() const { return drift_ppm_; }
  bool is_identity() const { return offset_ == core::Duration::Zero() && drift_ppm_ == 0; }

 private:
  const core::Clock& base_;
  core::Duration offset_ = core::Duration::Zero();
  std::int64_t drift_ppm_ = 0;
  core::Instant anchor_;
  bool fault_free_ = false;
};

}  // namespace cfemu::emulator
