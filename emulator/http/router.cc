#include "emulator/http/router.h"

#include <utility>

namespace cfemu::emulator {

namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// "{key_name:any}" takes any non-empty decoded value: for names that never reach a path (KV
// keys may hold '/').
bool IsOpaqueParam(const std::string& segment) {
  return segment.size() > 6 && segment.compare(segment.size() - 5, 5, ":any}") == 0;
}

bool SafeSegment(const std::string& decoded, bool opaque) {
  if (decoded.empty()) return false;
  if (opaque) return true;
  if (decoded == "." || decoded == "..") return false;
  for (char c : decoded) {
    if (c == '/' || c == '\\' || c == '\0') return false;
  }
  return true;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, std::size_t body_limit,
                 RouteHandler handler) {
  Route route;
  route.method = std::string(method);
  for (std::string_view s : SplitPath(pattern)) route.segments.emplace_back(s);
  route.body_limit = body_limit;
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> parts = SplitPath(path);
  Match match;
  bool bad_segment = false;
  for (const Route& route : routes_) {
    if (route.segments.size() != parts.size()) continue;
    RouteParams params;
    bool ok = true;
    bool bad = false;
    for (std::size_t i = 0; ok && i < parts.size(); ++i) {
      const std::string& want = route.segments[i];
      if (!IsParam(want)) {
        ok = want == parts[i];
        continue;
      }
      std::string decoded;
      const bool opaque = IsOpaqueParam(want);
      if (!PercentDecode(parts[i], decoded) || !SafeSegment(decoded, opaque)) {
        bad = true;
        ok = false;
        break;
      }
      params[want.substr(1, want.size() - (opaque ? 6 : 2))] = std::move(decoded);
    }
    if (bad) {
      // Keep looking: another route may match with a literal in this place.
      bad_segment = true;
      continue;
    }
    if (!ok) continue;
    if (route.method != method) {
      match.allowed += (match.allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    match.kind = MatchKind::kFound;
    match.route = &route;
    match.params = std::move(params);
    return match;
  }
  if (!match.allowed.empty()) {
    match.kind = MatchKind::kMethodNotAllowed;
  } else if (bad_segment) {
    match.kind = MatchKind::kBadPath;
  }
  return match;
}

std::size_t Router::BodyLimit(std::string_view method, std::string_view path) const {
  const Match match = Find(method, path);
  return match.route != nullptr ? match.route->body_limit : kDefaultBodyLimit;
}

core::Task<HttpResponse> Router::Dispatch(const HttpRequest& request) const {
  Match match = Find(request.method, request.path());
  switch (match.kind) {
    case MatchKind::kFound:
      co_return co_await match.route->handler(request, match.params);
    case MatchKind::kMethodNotAllowed: {
      HttpResponse response = Failure(405, cf_code::kMethodNotAllowed,
                                      "Method " + request.method + " not available for that URI.");
      response.headers.emplace_back("Allow", match.allowed);
      co_return response;
    }
    case MatchKind::kBadPath:
      co_return Failure(400, cf_code::kInvalidObjectId,
                        "Could not route to " + std::string(request.path()) +
                            ", perhaps your object identifier is invalid?");
    case MatchKind::kNoRoute:
      break;
  }
  co_return Failure(404, cf_code::kNoRoute, "No route for that URI");
}

}  // namespace cfemu::emulator
