#include "emulator/sim/latency.h"

#include "src/core/status.h"

namespace cfemu::emulator {

using core::Duration;
using core::Milliseconds;

LatencyModel::LatencyModel(core::Random root, Profile profile)
    : root_(root), profile_(profile), enabled_(profile != Profile::kStrict) {}

LatencyModel::Site LatencyModel::Register(std::string_view name) {
  if (const auto it = by_name_.find(name); it != by_name_.end()) return Site(it->second);
  const int index = static_cast<int>(entries_.size());
  entries_.push_back(
      {std::string(name), DefaultFor(name, profile_), root_.Fork("latency/" + std::string(name))});
  by_name_.emplace(std::string(name), index);
  return Site(index);
}

void LatencyModel::Configure(std::string_view name, LatencyDist dist) {
  const Site site = Register(name);
  entries_[static_cast<std::size_t>(site.index_)].dist = dist;
  enabled_ = true;
}

Duration LatencyModel::Draw(Site site) {
  if (!enabled_) return Duration::Zero();
  CHECK(site.index_ >= 0 && static_cast<std::size_t>(site.index_) < entries_.size());
  Entry& entry = entries_[static_cast<std::size_t>(site.index_)];
  const LatencyDist& dist = entry.dist;
  switch (dist.shape) {
    case LatencyDist::Shape::kZero:
      return Duration::Zero();
    case LatencyDist::Shape::kConstant:
      return dist.a;
    case LatencyDist::Shape::kUniform:
      return entry.random.Between(dist.a, dist.b);
    case LatencyDist::Shape::kExponential:
      return entry.random.Exponential(dist.a);
    case LatencyDist::Shape::kPareto:
      return entry.random.Pareto(dist.a, dist.alpha, dist.b);
  }
  return Duration::Zero();
}

LatencyDist LatencyModel::DefaultFor(std::string_view name, Profile profile) {
  if (profile == Profile::kStrict) return LatencyDist::Zero();
  // Cloudflare publishes no latency figures; these are plausible same-colo round trips that
  // make interleavings reachable without slowing virtual time down.
  if (name.starts_with("queue.dispatch"))
    return LatencyDist::Uniform(Milliseconds(0), Milliseconds(50));
  if (name.starts_with("queue.")) return LatencyDist::Uniform(Milliseconds(1), Milliseconds(8));
  if (name.starts_with("d1.")) return LatencyDist::Uniform(Milliseconds(1), Milliseconds(15));
  if (name.starts_with("kv.")) return LatencyDist::Uniform(Milliseconds(1), Milliseconds(10));
  if (name.starts_with("do.")) return LatencyDist::Uniform(Milliseconds(0), Milliseconds(5));
  return LatencyDist::Uniform(Milliseconds(0), Milliseconds(5));
}

}  // namespace cfemu::emulator
