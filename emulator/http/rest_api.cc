#include "emulator/http/rest_api.h"

#include <cctype>
#include <exception>
#include <utility>

#include "src/core/log.h"

namespace cfemu::emulator {

namespace {

constexpr std::string_view kApiPrefix = "/client/v4/";
constexpr std::string_view kAdminPrefix = "/admin/v1/";

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Compares in time independent of where the strings differ.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

RestApi::RestApi(World& world, RestOptions options)
    : options_(std::move(options)), queues_(world), d1_(world), kv_(world), cron_(world) {
  queues_.AddTo(router_);
  d1_.AddTo(router_);
  kv_.AddTo(router_);
  cron_.AddTo(router_);
  if (options_.virtual_time != nullptr) {
    time_ = std::make_unique<TimeRoutes>(*options_.virtual_time);
    time_->AddTo(router_);
  }
  if (options_.engine != nullptr || options_.trace_tail != nullptr) {
    admin_ = std::make_unique<AdminRoutes>(options_.engine, options_.trace_tail);
    admin_->AddTo(router_);
  }
}

std::size_t RestApi::BodyLimit(const HttpRequest& head) const {
  return router_.BodyLimit(head.method, head.path());
}

bool RestApi::Authorized(const HttpRequest& request) const {
  const std::string_view path = request.path();
  if (options_.token.empty()) return true;
  if (!StartsWith(path, kApiPrefix) && !StartsWith(path, kAdminPrefix) && path != "/admin/v1") {
    return true;
  }
  const std::string_view value = request.header("authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return false;
  }
  return SameSecret(value.substr(kScheme.size()), options_.token);
}

core::Task<HttpResponse> RestApi::Handle(HttpRequest request) {
  if (!Authorized(request)) {
    co_return Failure(403, cf_code::kAuthentication, "Authentication error");
  }
  HttpResponse response;
  try {
    response = co_await router_.Dispatch(request);
  } catch (const std::exception& e) {
    CFEMU_LOG(::cfemu::core::LogLevel::kError, "rest: {} {} threw: {}", request.method,
              request.target, e.what());
    response = Failure(500, cf_code::kQueueInternal, "Internal error");
  }
  co_return response;
}

}  // namespace cfemu::emulator
