#include "src/core/cover.h"

namespace cfemu::core {

namespace {
thread_local std::map<std::string_view, std::int64_t> g_marks;
}  // namespace

void CoverHit(std::string_view name) { ++g_marks[name]; }

std::int64_t CoverCount(std::string_view name) {
  const auto it = g_marks.find(name);
  return it == g_marks.end() ? 0 : it->second;
}

std::map<std::string, std::int64_t> CoverSnapshot() {
  std::map<std::string, std::int64_t> out;
  for (const auto& [name, count] : g_marks) out.emplace(std::string(name), count);
  return out;
}

void CoverReset() { g_marks.clear(); }

}  // namespace cfemu::core
