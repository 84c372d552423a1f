// Instant and Duration at millisecond resolution (the resolution of virtual time and of every
// Cloudflare timestamp), and the Clock interface. Nothing here reads the wall clock: clocks are
// passed in, so the same code runs on the simulator's virtual clock and on the system clock.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <string>

namespace cfemu::core {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration FromMs(std::int64_t ms) { return Duration(ms); }
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Infinite() {
    return Duration(std::numeric_limits<std::int64_t>::max() / 4);
  }

  constexpr std::int64_t ms() const { return ms_; }
  constexpr std::int64_t seconds() const { return ms_ / 1000; }  // Truncated.

  constexpr Duration operator+(Duration o) const { return Duration(ms_ + o.ms_); }
  constexpr Duration operator-(Duration o) const { return Duration(ms_ - o.ms_); }
  constexpr Duration operator-() const { return Duration(-ms_); }
  constexpr Duration operator*(std::int64_t k) const { return Duration(ms_ * k); }
  constexpr Duration operator/(std::int64_t k) const { return Duration(ms_ / k); }
  constexpr Duration& operator+=(Duration o) {
    ms_ += o.ms_;
    return *this;
  }
  constexpr Duration& operator-=(Duration o) {
    ms_ -= o.ms_;
    return *this;
  }
  constexpr auto operator<=>(const Duration&) const = default;

  // "1500ms", "90s", "2h": for reports and messages.
  std::string ToString() const;

 private:
  constexpr explicit Duration(std::int64_t ms) : ms_(ms) {}
  std::int64_t ms_ = 0;
};

constexpr Duration Milliseconds(std::int64_t n) { return Duration::FromMs(n); }
constexpr Duration Seconds(std::int64_t n) { return Duration::FromMs(n * 1000); }
constexpr Duration Minutes(std::int64_t n) { return Duration::FromMs(n * 60'000); }
constexpr Duration Hours(std::int64_t n) { return Duration::FromMs(n * 3'600'000); }
constexpr Duration Days(std::int64_t n) { return Duration::FromMs(n * 86'400'000); }

// A point in time as milliseconds since the Unix epoch (UTC).
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant FromUnixMs(std::int64_t ms) { return Instant(ms); }
  static constexpr Instant Max() { return Instant(std::numeric_limits<std::int64_t>::max() / 2); }

  constexpr std::int64_t unix_ms() const { return ms_; }

  constexpr Instant operator+(Duration d) const { return Instant(ms_ + d.ms()); }
  constexpr Instant operator-(Duration d) const { return Instant(ms_ - d.ms()); }
  constexpr Duration operator-(Instant o) const { return Duration::FromMs(ms_ - o.ms_); }
  constexpr Instant& operator+=(Duration d) {
    ms_ += d.ms();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

  // "2026-01-01T00:00:00.000Z".
  std::string ToRfc3339() const;

 private:
  constexpr explicit Instant(std::int64_t ms) : ms_(ms) {}
  std::int64_t ms_ = 0;
};

// Virtual time starts here unless a scenario says otherwise (cpp-contract.md, Time).
inline constexpr Instant kVirtualEpoch = Instant::FromUnixMs(1'767'225'600'000);  // 2026-01-01

// A source of the current time. Passed as `const Clock&`; sleeping is a runtime service.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant Now() const = 0;
};

// A clock that only moves when told to: for pure unit tests of time arithmetic.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start = kVirtualEpoch) : now_(start) {}
  Instant Now() const override { return now_; }
  void Set(Instant t) { now_ = t; }
  void Advance(Duration d) { now_ += d; }

 private:
  Instant now_;
};

}  // namespace cfemu::core
