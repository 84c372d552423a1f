// A small router: routes are (method, pattern, body limit, handler); a pattern's {name}
// segments match one non-empty path segment, percent-decoded. Decoded segments may not be "."
// or "..", nor hold '/', '\\' or NUL, so no id from a path can climb out of where it is used.
// A {name:any} segment takes any non-empty decoded value, for names that never reach a file
// path (KV keys may hold '/').
// Unknown paths answer 404 (7000), known paths with another method 405 (7001), bad segments
// 400 (7003), all in the v4 envelope.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/http/envelope.h"
#include "emulator/http/message.h"
#include "src/core/task.h"

namespace cfemu::emulator {

using RouteParams = std::map<std::string, std::string, std::less<>>;
// `request` and `params` outlive the handler's task (the router's caller keeps them).
using RouteHandler =
    std::function<core::Task<HttpResponse>(const HttpRequest& request, const RouteParams& params)>;

// A handler with no await, as a route.
template <class F>
RouteHandler SyncRoute(F f) {
  return
      [f = std::move(f)](const HttpRequest& r, const RouteParams& p) -> core::Task<HttpResponse> {
        co_return f(r, p);
      };
}

class Router {
 public:
  // Bodies of requests that match no route are read up to this size, then answered.
  static constexpr std::size_t kDefaultBodyLimit = 64 * 1024;

  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" for a parameter.
    std::size_t body_limit;
    RouteHandler handler;
  };
  enum class MatchKind { kFound, kNoRoute, kMethodNotAllowed, kBadPath };
  struct Match {
    MatchKind kind = MatchKind::kNoRoute;
    const Route* route = nullptr;
    RouteParams params;
    std::string allowed;  // kMethodNotAllowed: "GET, POST".
  };

  // REQUIRES: `pattern` starts with '/'.
  void Add(std::string_view method, std::string_view pattern, std::size_t body_limit,
           RouteHandler handler);
  Match Find(std::string_view method, std::string_view path) const;
  // The body limit of the route a request goes to (kDefaultBodyLimit for none).
  std::size_t BodyLimit(std::string_view method, std::string_view path) const;
  // Finds the route and runs its handler; unmatched requests get their envelope error.
  core::Task<HttpResponse> Dispatch(const HttpRequest& request) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace cfemu::emulator
