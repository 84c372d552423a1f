#include "src/core/random.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cfemu::core {
namespace {

std::vector<std::uint64_t> Draws(Random& random, int n) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(random.Next());
  return out;
}

TEST(Random, SameSeedGivesTheSameSequence) {
  Random a(1234);
  Random b(1234);
  EXPECT_EQ(Draws(a, 100), Draws(b, 100));
  EXPECT_EQ(a.seed(), 1234u);
}

TEST(Random, DifferentSeedsGiveDifferentSequences) {
  Random a(1);
  Random b(2);
  EXPECT_NE(Draws(a, 10), Draws(b, 10));
}

TEST(Random, SeedZeroStillProducesVariedOutput) {
  Random random(0);
  const auto draws = Draws(random, 50);
  EXPECT_EQ(std::set<std::uint64_t>(draws.begin(), draws.end()).size(), draws.size());
}

TEST(Random, ForkDependsOnTheLabelNotOnParentDraws) {
  Random parent(99);
  Random early = parent.Fork("queue/jobs");
  Draws(parent, 1000);
  Random late = parent.Fork("queue/jobs");
  EXPECT_EQ(Draws(early, 50), Draws(late, 50));

  Random numbered_early = Random(99).Fork(std::uint64_t{7});
  Random numbered_late = parent.Fork(std::uint64_t{7});
  EXPECT_EQ(Draws(numbered_early, 50), Draws(numbered_late, 50));
}

TEST(Random, ForksWithDifferentLabelsOrSeedsDiffer) {
  const Random parent(99);
  Random a = parent.Fork("a");
  Random b = parent.Fork("b");
  Random other_seed = Random(100).Fork("a");
  Random copy = parent;
  const auto a_draws = Draws(a, 20);
  EXPECT_NE(a_draws, Draws(b, 20));
  EXPECT_NE(a_draws, Draws(other_seed, 20));
  EXPECT_NE(a_draws, Draws(copy, 20));
  Random n1 = parent.Fork(std::uint64_t{1});
  Random n2 = parent.Fork(std::uint64_t{2});
  EXPECT_NE(Draws(n1, 20), Draws(n2, 20));
}

TEST(Random, ForkDoesNotAdvanceTheParent) {
  Random a(5);
  Random b(5);
  (void)a.Fork("x");
  EXPECT_EQ(Draws(a, 10), Draws(b, 10));
}

TEST(Random, BelowStaysUnderItsBound) {
  Random random(7);
  const std::uint64_t bounds[] = {
      1, 2, 3, 7, 10, 1000, 1ull << 32, (1ull << 63) + 1, ~std::uint64_t{0}};
  for (std::uint64_t n : bounds) {
    for (int i = 0; i < 2000; ++i) ASSERT_LT(random.Below(n), n) << "n=" << n;
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(random.Below(1), 0u);
}

TEST(Random, BelowIsRoughlyUniform) {
  Random random(11);
  constexpr int kBuckets = 6;
  constexpr int kDraws = 60'000;
  int counts[kBuckets] = {};
  for (int i = 0; i < kDraws; ++i) ++counts[random.Below(kBuckets)];
  for (int count : counts) {
    EXPECT_GT(count, 9'000);  // Expected 10,000 each; deterministic, so no flake.
    EXPECT_LT(count, 11'000);
  }
  // Half of a bound just above 2^63 must land in each half: a biased modulo would not.
  std::int64_t low = 0;
  const std::uint64_t n = (1ull << 63) + (1ull << 62);
  for (int i = 0; i < 20'000; ++i) low += random.Below(n) < n / 2 ? 1 : 0;
  EXPECT_GT(low, 9'000);
  EXPECT_LT(low, 11'000);
}

TEST(Random, RangeIsInclusiveOnBothEnds) {
  Random random(3);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t v = random.Range(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    seen.insert(v);
  }
  EXPECT_EQ(seen, (std::set<std::int64_t>{-2, -1, 0, 1, 2}));
  EXPECT_EQ(random.Range(5, 5), 5);
  // The full int64 range does not overflow.
  for (int i = 0; i < 100; ++i) {
    (void)random.Range(std::numeric_limits<std::int64_t>::min(),
                       std::numeric_limits<std::int64_t>::max());
  }
}

TEST(Random, BetweenIsInclusiveOnBothEnds) {
  Random random(4);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 500; ++i) {
    const Duration d = random.Between(Milliseconds(10), Milliseconds(13));
    ASSERT_GE(d, Milliseconds(10));
    ASSERT_LE(d, Milliseconds(13));
    seen.insert(d.ms());
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(Random, UnitIsInHalfOpenUnitInterval) {
  Random random(8);
  double sum = 0;
  double min = 1;
  double max = 0;
  for (int i = 0; i < 10'000; ++i) {
    const double u = random.Unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    min = std::min(min, u);
    max = std::max(max, u);
  }
  EXPECT_NEAR(sum / 10'000, 0.5, 0.02);
  EXPECT_LT(min, 0.01);
  EXPECT_GT(max, 0.99);
}

TEST(Random, ChanceZeroNeverAndOneAlwaysWithoutDrawing) {
  Random random(9);
  Random reference(9);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(random.Chance(0.0));
    EXPECT_FALSE(random.Chance(-1.0));
    EXPECT_TRUE(random.Chance(1.0));
    EXPECT_TRUE(random.Chance(2.0));
  }
  EXPECT_EQ(random.Next(), reference.Next());  // No draw was consumed.
}

TEST(Random, ChanceHalfIsRoughlyHalf) {
  Random random(10);
  int hits = 0;
  for (int i = 0; i < 10'000; ++i) hits += random.Chance(0.5) ? 1 : 0;
  EXPECT_GT(hits, 4'500);
  EXPECT_LT(hits, 5'500);
}

TEST(Random, ExponentialHasRoughlyTheRequestedMean) {
  Random random(12);
  constexpr int kDraws = 20'000;
  double sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    const Duration d = random.Exponential(Seconds(1));
    ASSERT_GE(d.ms(), 0);
    sum += static_cast<double>(d.ms());
  }
  const double mean = sum / kDraws;
  EXPECT_GT(mean, 900.0);  // Truncation to whole ms lowers the mean by about 0.5 ms.
  EXPECT_LT(mean, 1100.0);
  EXPECT_EQ(random.Exponential(Duration::Zero()), Duration::Zero());
  EXPECT_EQ(random.Exponential(Milliseconds(-5)), Duration::Zero());
}

TEST(Random, ParetoStaysBetweenScaleAndCap) {
  Random random(13);
  int capped = 0;
  for (int i = 0; i < 10'000; ++i) {
    const Duration d = random.Pareto(Milliseconds(10), 1.0, Seconds(1));
    ASSERT_GE(d, Milliseconds(10));
    ASSERT_LE(d, Seconds(1));
    capped += d == Seconds(1) ? 1 : 0;
  }
  // P(U^-1 >= 100) = 1%: about 100 of 10,000 draws reach the cap.
  EXPECT_GT(capped, 30);
  EXPECT_LT(capped, 300);
}

TEST(Random, HexHasTwoLowercaseDigitsPerByte) {
  Random random(14);
  for (int bytes : {0, 1, 7, 8, 9, 16, 33}) {
    const std::string hex = random.Hex(bytes);
    ASSERT_EQ(hex.size(), static_cast<std::size_t>(2 * bytes));
    for (char c : hex) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << hex;
  }
  std::set<char> digits;
  for (int i = 0; i < 50; ++i) {
    for (char c : random.Hex(16)) digits.insert(c);
  }
  EXPECT_EQ(digits.size(), 16u);
  EXPECT_NE(random.Hex(16), random.Hex(16));
}

TEST(Random, ShuffleIsAPermutation) {
  Random random(15);
  std::vector<int> items;
  for (int i = 0; i < 50; ++i) items.push_back(i);
  std::vector<int> shuffled = items;
  random.Shuffle(shuffled);
  EXPECT_NE(shuffled, items);  // 1 in 50! to be the identity; deterministic anyway.
  std::vector<int> sorted = shuffled;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, items);

  Random again(15);
  std::vector<int> replay = items;
  again.Shuffle(replay);
  EXPECT_EQ(replay, shuffled);

  std::vector<int> empty;
  random.Shuffle(empty);
  EXPECT_TRUE(empty.empty());
  std::vector<int> one{42};
  random.Shuffle(one);
  EXPECT_EQ(one, std::vector<int>{42});
}

TEST(Random, Fnv1a64MatchesKnownVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Random, Mix64IsAFixedBijectionSample) {
  std::set<std::uint64_t> seen;
  for (std::uint64_t i = 0; i < 1000; ++i) seen.insert(Mix64(i));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(Mix64(0), Mix64(0));
  EXPECT_NE(Mix64(0), 0u);
}

double RelativeError(double got, double want) {
  if (want == 0) return std::fabs(got);
  return std::fabs(got - want) / std::fabs(want);
}

TEST(Random, PortableLogMatchesStdLog) {
  const double fixed[] = {1e-300, 1e-10, 0.001, 0.1,         0.5,  0.70710678, 0.9999, 1.0,
                          1.0001, 1.5,   2.0,   2.718281828, 10.0, 1e10,       1e300};
  for (double x : fixed) {
    EXPECT_LE(RelativeError(PortableLog(x), std::log(x)), 1e-12) << "x=" << x;
  }
  EXPECT_EQ(PortableLog(1.0), 0.0);
  Random random(16);
  for (int i = 0; i < 10'000; ++i) {
    // Log-uniform over [1e-12, 1e12], plus the (0, 1] values that Exponential feeds it.
    const double x = std::pow(10.0, -12.0 + 24.0 * random.Unit());
    ASSERT_LE(RelativeError(PortableLog(x), std::log(x)), 1e-12) << "x=" << x;
    const double u = 1.0 - random.Unit();
    if (u != 1.0) {
      ASSERT_LE(RelativeError(PortableLog(u), std::log(u)), 1e-12) << "u=" << u;
    }
  }
}

TEST(Random, PortableExpMatchesStdExp) {
  const double fixed[] = {-700, -50, -1, -1e-9, 0, 1e-9, 0.5, 0.6931471805599453, 1, 10, 700};
  for (double y : fixed) {
    EXPECT_LE(RelativeError(PortableExp(y), std::exp(y)), 1e-12) << "y=" << y;
  }
  EXPECT_EQ(PortableExp(0), 1.0);
  Random random(17);
  for (int i = 0; i < 10'000; ++i) {
    const double y = -700.0 + 1400.0 * random.Unit();
    ASSERT_LE(RelativeError(PortableExp(y), std::exp(y)), 1e-12) << "y=" << y;
  }
}

}  // namespace
}  // namespace cfemu::core
