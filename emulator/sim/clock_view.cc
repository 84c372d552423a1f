#include "emulator/sim/clock_view.h"

namespace cfemu::emulator {

using core::Duration;
using core::Instant;

Instant ClockView::FromBase(Instant base_time) const {
  Instant t = base_time + offset_;
  if (drift_ppm_ != 0) {
    const __int128 elapsed = (base_time - anchor_).ms();
    t += Duration::FromMs(static_cast<std::int64_t>(elapsed * drift_ppm_ / 1'000'000));
  }
  return t;
}

Instant ClockView::ToBase(Instant view_time) const {
  if (drift_ppm_ == 0) return view_time - offset_;
  // Solve view_time = b + offset + (b - anchor) * ppm / 1e6 for b, then correct the rounding.
  const __int128 target = (view_time - offset_ - anchor_).ms();
  Instant b =
      anchor_ +
      Duration::FromMs(static_cast<std::int64_t>(target * 1'000'000 / (1'000'000 + drift_ppm_)));
  while (FromBase(b) < view_time) b += Duration::FromMs(1);
  while (FromBase(b - Duration::FromMs(1)) >= view_time) b = b - Duration::FromMs(1);
  return b;
}

void ClockView::SetDriftPpm(std::int64_t ppm) {
  // Fold the drift accumulated so far into the offset, then restart from now.
  const Instant base_now = base_.Now();
  offset_ = FromBase(base_now) - base_now;
  anchor_ = base_now;
  drift_ppm_ = ppm;
}

}  // namespace cfemu::emulator
