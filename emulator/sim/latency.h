// A seeded latency model with one distribution per call site ("queue.send", "d1.run", ...).
// Each site draws from its own stream forked from the root seed by the site's name, so adding
// draws at one site never shifts another. The strict profile adds no latency at all: Draw()
// returns zero without drawing, and callers skip the sleep.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/sim/fault.h"
#include "src/core/random.h"
#include "src/core/time.h"

namespace cfemu::emulator {

struct LatencyDist {
  enum class Shape { kZero, kConstant, kUniform, kExponential, kPareto };
  Shape shape = Shape::kZero;
  core::Duration a;    // Constant value, uniform low bound, mean, or Pareto scale.
  core::Duration b;    // Uniform high bound, or Pareto cap.
  double alpha = 1.5;  // Pareto shape.

  static LatencyDist Zero() { return {}; }
  static LatencyDist Constant(core::Duration d) { return {Shape::kConstant, d, d, 1.5}; }
  static LatencyDist Uniform(core::Duration lo, core::Duration hi) {
    return {Shape::kUniform, lo, hi, 1.5};
  }
  static LatencyDist Exponential(core::Duration mean) {
    return {Shape::kExponential, mean, mean, 1.5};
  }
  static LatencyDist Pareto(core::Duration scale, double alpha, core::Duration cap) {
    return {Shape::kPareto, scale, cap, alpha};
  }
};

class LatencyModel {
 public:
  // A handle to a registered site: resolve once, draw on the hot path without a lookup.
  class Site {
   public:
    Site() = default;

   private:
    friend class LatencyModel;
    explicit Site(int index) : index_(index) {}
    int index_ = -1;
  };

  LatencyModel(core::Random root, Profile profile);

  bool enabled() const { return enabled_; }
  // Registers (or finds) a site; its distribution is the configured one, or the profile default.
  Site Register(std::string_view name);
  // Sets the distribution of `name` (registered or not yet). Enables the model.
  void Configure(std::string_view name, LatencyDist dist);
  core::Duration Draw(Site site);
  // The profile's default for a site name.
  static LatencyDist DefaultFor(std::string_view name, Profile profile);

 private:
  struct Entry {
    std::string name;
    LatencyDist dist;
    core::Random random;
  };
  core::Random root_;
  Profile profile_;
  bool enabled_;
  std::vector<Entry> entries_;
  std::map<std::string, int, std::less<>> by_name_;
};

}  // namespace cfemu::emulator
