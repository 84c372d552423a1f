#include "src/core/random.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/core/status.h"

namespace cfemu::core {

namespace {

constexpr std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Random::Random(std::uint64_t seed) : seed_(seed) {
  std::uint64_t x = seed;
  for (auto& word : s_) {
    x = Mix64(x);
    word = x;
  }
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // The all-zero state is a fixed point.
}

Random Random::Fork(std::string_view label) const {
  return Random(Mix64(seed_ ^ Mix64(Fnv1a64(label))));
}

Random Random::Fork(std::uint64_t label) const {
  return Random(Mix64(seed_ ^ Mix64(label ^ 0x5851f42d4c957f2dULL)));
}

std::uint64_t Random::Next() {
  const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

std::uint64_t Random::Below(std::uint64_t n) {
  CHECK(n > 0);
  unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
  std::uint64_t low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

std::int64_t Random::Range(std::int64_t lo, std::int64_t hi) {
  CHECK(lo <= hi);
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  if (span == ~std::uint64_t{0}) return static_cast<std::int64_t>(Next());
  return lo + static_cast<std::int64_t>(Below(span + 1));
}

double Random::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

bool Random::Chance(double p) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  return Unit() < p;
}

Duration Random::Exponential(Duration mean) {
  if (mean.ms() <= 0) return Duration::Zero();
  const double u = 1.0 - Unit();  // (0, 1]
  const double x = -PortableLog(u) * static_cast<double>(mean.ms());
  return Milliseconds(static_cast<std::int64_t>(x));
}

Duration Random::Pareto(Duration scale, double alpha, Duration cap) {
  CHECK(alpha > 0);
  const double u = 1.0 - Unit();                    // (0, 1]
  const double exponent = -PortableLog(u) / alpha;  // U^(-1/alpha) = e^exponent, exponent >= 0.
  const double limit = PortableLog(static_cast<double>(std::max<std::int64_t>(cap.ms(), 1)) /
                                   static_cast<double>(std::max<std::int64_t>(scale.ms(), 1)));
  if (exponent >= limit) return cap;
  const double value = static_cast<double>(scale.ms()) * PortableExp(exponent);
  return std::min(cap, Milliseconds(static_cast<std::int64_t>(value)));
}

Duration Random::Between(Duration lo, Duration hi) { return Milliseconds(Range(lo.ms(), hi.ms())); }

std::string Random::Hex(int bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(bytes) * 2, '0');
  std::uint64_t word = 0;
  for (int i = 0; i < bytes; ++i) {
    if (i % 8 == 0) word = Next();
    const unsigned byte = static_cast<unsigned>(word & 0xff);
    word >>= 8;
    out[2 * i] = kDigits[byte >> 4];
    out[2 * i + 1] = kDigits[byte & 0xf];
  }
  return out;
}

double PortableExp(double y) {
  // e^y = 2^k * e^r with r in [0, ln 2): a Taylor series for e^r, then an exact scaling.
  constexpr double kLn2 = 0.69314718055994530942;
  const double k = std::floor(y / kLn2);
  const double r = y - k * kLn2;
  double term = 1.0;
  double sum = 1.0;
  for (int n = 1; n < 30; ++n) {
    term = term * r / n;
    sum += term;
  }
  return std::ldexp(sum, static_cast<int>(k));
}

double PortableLog(double x) {
  CHECK(x > 0);
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln x = e ln 2 + 2 atanh((m-1)/(m+1)).
  int exponent = 0;
  double m = std::frexp(x, &exponent);  // Exact: m in [0.5, 1).
  if (m < 0.70710678118654752440) {
    m *= 2;
    --exponent;
  }
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double term = s;
  double sum = 0;
  for (int k = 1; k < 40; k += 2) {
    sum += term / k;
    term *= s2;
  }
  constexpr double kLn2 = 0.69314718055994530942;
  return exponent * kLn2 + 2 * sum;
}

}  // namespace cfemu::core
