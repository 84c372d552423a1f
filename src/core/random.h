// A seeded, portable pseudo-random generator (xoshiro256** seeded through SplitMix64) with its
// own draw functions. Standard-library distributions differ between library versions, so none
// of them may decide a run: every draw here is integer arithmetic or IEEE-exact double maths
// (the logarithm is our own, not libm's), and gives the same bits on every build.
//
// Fork(label) derives an independent stream from the root seed and a label only, not from how
// many draws the parent made: a call site that draws more never shifts another site's stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/time.h"

namespace cfemu::core {

class Random {
 public:
  explicit Random(std::uint64_t seed);

  std::uint64_t seed() const { return seed_; }
  Random Fork(std::string_view label) const;
  Random Fork(std::uint64_t label) const;

  std::uint64_t Next();
  // Uniform in [0, n). REQUIRES: n > 0. Unbiased (Lemire's multiply-and-reject).
  std::uint64_t Below(std::uint64_t n);
  // Uniform in [lo, hi], both inclusive. REQUIRES: lo <= hi.
  std::int64_t Range(std::int64_t lo, std::int64_t hi);
  // Uniform in [0, 1) with 53 random bits.
  double Unit();
  // True with probability p (p <= 0 never, p >= 1 always, no draw in either case).
  bool Chance(double p);
  // Exponential with the given mean, rounded down to whole milliseconds.
  Duration Exponential(Duration mean);
  // Pareto tail: scale * U^(-1/alpha), capped at `cap`. A heavy tail for latency faults.
  Duration Pareto(Duration scale, double alpha, Duration cap);
  // Uniform in [lo, hi].
  Duration Between(Duration lo, Duration hi);
  // `bytes` random bytes as lowercase hex (2 * bytes characters).
  std::string Hex(int bytes);

  template <class T>
  void Shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(Below(i));
      std::swap(items[i - 1], items[j]);
    }
  }

 private:
  std::uint64_t seed_;
  std::uint64_t s_[4];
};

// SplitMix64 finaliser: a fixed, well-mixed 64-bit bijection.
std::uint64_t Mix64(std::uint64_t x);
// FNV-1a 64 over bytes, from the standard offset basis.
std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t basis = 0xcbf29ce484222325ULL);
// Natural logarithm from IEEE-exact operations only, for x > 0 (same bits on every libm).
double PortableLog(double x);
// e^y from IEEE-exact operations only (floor, ldexp, + - * /).
double PortableExp(double y);

}  // namespace cfemu::core
