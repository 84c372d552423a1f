// libFuzzer target over the REST router of `cfemu serve` (issue 6): every input is one request
// (method, target, headers, body) handed to the REST API that serve runs (ServeApp: the
// Cloudflare routes, the engine admin API, virtual time), without sockets. The world lives
// across inputs, so sequences of requests build state. Checked on every input: the request
// completes (no hang), the answer has a valid status, and a JSON answer is a v4 envelope whose
// `success` agrees with the status. Crashes, sanitizer reports and these checks are findings.
//
// Run: build/fuzz/tests/fuzz/cfemu_router_fuzz tests/fuzz/corpus -max_total_time=60
// (the `fuzz` preset: clang with libFuzzer; scripts/fuzz-router.sh builds and runs it).
//
// Input layout (any bytes are accepted): line 1 "METHOD TARGET", then "Name: value" header
// lines up to an empty line, then the body.
#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "emulator/http/serve_app.h"

namespace {

using cfemu::emulator::HttpRequest;
using cfemu::emulator::HttpResponse;

struct Fixture {
  boost::asio::io_context io;
  std::unique_ptr<cfemu::emulator::ServeApp> app;

  Fixture() {
    cfemu::emulator::ServeAppOptions options;
    options.virtual_time = true;
    options.trace_tail = 100;
    auto created = cfemu::emulator::ServeApp::Create(io, std::move(options));
    if (!created.ok()) Die(created.status().ToString());
    app = std::move(*created);
    if (const auto started = app->Start(); !started.ok()) Die(started.ToString());
  }

  [[noreturn]] static void Die(const std::string& why) {
    std::fprintf(stderr, "router_fuzz: %s\n", why.c_str());
    std::abort();
  }
};

HttpRequest Parse(std::string_view input) {
  HttpRequest request;
  auto line = [&input]() {
    const std::size_t end = input.find('\n');
    std::string_view text = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    return text;
  };
  const std::string_view first = line();
  const std::size_t space = first.find(' ');
  request.method = std::string(first.substr(0, space));
  request.target = space == std::string_view::npos ? "/" : std::string(first.substr(space + 1));
  if (request.target.empty() || request.target[0] != '/') request.target.insert(0, "/");
  while (!input.empty()) {
    const std::string_view header = line();
    if (header.empty()) break;
    const std::size_t colon = header.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(header.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = header.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers[std::move(name)] = std::string(value);
  }
  request.body = std::string(input);
  return request;
}

cfemu::core::Task<void> Handle(cfemu::emulator::RestApi& api, HttpRequest request,
                               std::optional<HttpResponse>& out) {
  out = co_await api.Handle(std::move(request));
}

// Every JSON answer of /client/v4 and /admin/v1 is an envelope (the cron triggers, outside both,
// answer production's own shapes).
void Check(std::string_view path, const HttpResponse& response) {
  if (response.status < 200 || response.status > 599) {
    Fixture::Die("status " + std::to_string(response.status));
  }
  const bool api = path.substr(0, 11) == "/client/v4/" || path.substr(0, 10) == "/admin/v1/";
  if (!api || response.content_type != "application/json") return;
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_object() || !json.contains("success") || !json["success"].is_boolean()) {
    Fixture::Die("not a v4 envelope: " + response.body);
  }
  if (json["success"].get<bool>() != (response.status < 400)) {
    Fixture::Die("success disagrees with status " + std::to_string(response.status) + ": " +
                 response.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture* fixture = new Fixture();  // Lives for the whole run, as a server does.
  HttpRequest request =
      Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  // The server answers a body over the route's limit itself, before any route runs.
  if (request.body.size() > fixture->app->api().BodyLimit(request)) return 0;
  // Moving virtual time (up to ten years a call) is tested elsewhere; here it would only make
  // runs slow.
  if (request.path().substr(0, 14) == "/admin/v1/time") return 0;
  const std::string path(request.path());
  std::optional<HttpResponse> response;
  fixture->app->runtime().Spawn(Handle(fixture->app->api(), std::move(request), response));
  // Every handler that is ready runs; a request still waiting when none is would wait forever
  // on a clock that nobody moves: a hang.
  while (!response && fixture->io.poll() > 0) {
  }
  if (!response) Fixture::Die("the request never completed");
  Check(path, *response);
  return 0;
}
