// What `cfemu serve` runs, without the sockets: the World built from a wrangler.jsonc on the
// real-time or the manual-virtual-time runtime, the job engine's Worker on it, and the REST API
// (Cloudflare v4 routes, engine admin API, virtual time, trace tail). The HTTP server, the
// signals and the process are the caller's (emulator/cli/serve.cc; tests drive it directly).
//
// The engine is on when the configuration binds the engine's D1 database (`DB`) and its
// coordinator Durable Object (`COORDINATOR`, class `Coordinator`), as the compiled-in fixture
// does. Then the worker consumers of the queues bound to the engine (those its producer binding
// `JOBS` sends to, and their dead letter queues) run the engine: a dead letter queue gets the
// engine's dead-letter consumer, the others the engine's consumer, whose processor behaves per
// job name as `processors` say (the scenario format; default: complete at once with
// {"ok": true}); the cron trigger runs the scheduler tick. Every other worker consumer (all of
// them without the engine) is served as an http_pull consumer: other queues are pull-only.
#pragma once

#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "emulator/harness/scenario.h"
#include "emulator/http/rest_api.h"
#include "emulator/sim/host_base.h"
#include "emulator/sim/manual_time.h"
#include "emulator/world.h"
#include "src/engine/engine.h"

namespace cfemu::emulator {

struct ServeAppOptions {
  ServeAppOptions() = default;
  std::string config_path;  // A wrangler.jsonc file; empty: config_text, else the fixture.
  std::string config_text;
  std::optional<std::filesystem::path> persist_dir;
  bool virtual_time = false;  // Manual virtual time from 2026-01-01T00:00:00Z.
  std::string token;
  // The engine consumer's processor by job name (scenario format); empty: complete at once.
  Processors processors;
  std::size_t trace_tail = 10'000;  // Trace lines kept for GET /admin/v1/trace; 0: off.
  std::uint64_t seed = 1;
};

class ServeApp {
 public:
  // kInvalidArgument for a bad configuration; other codes when the storage cannot be opened.
  static core::Result<std::unique_ptr<ServeApp>> Create(boost::asio::io_context& io,
                                                        ServeAppOptions options);
  ~ServeApp();
  ServeApp(const ServeApp&) = delete;
  ServeApp& operator=(const ServeApp&) = delete;

  // Applies the engine's schema to its D1 database (a no-op without the engine, or when it is
  // there already), running the loop (RunOne) until that is done. Call it on the thread that
  // runs the loop, before serving requests.
  core::Status Start();
  // One turn of the loop (see ManualTimeRuntime::RunOne); false once the io_context stopped.
  bool RunOne();

  RestApi& api() { return *api_; }
  World& world() { return *world_; }
  HostBase& runtime() { return *runtime_; }
  ManualTimeRuntime* manual_time() { return manual_; }
  engine::Engine* engine() { return engine_.get(); }
  // What the wiring did, one line each, for the operator ("queue jobs: engine consumer").
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  explicit ServeApp(boost::asio::io_context& io) : io_(io) {}

  boost::asio::io_context& io_;
  platform::DurableObjectRegistry registry_;
  std::unique_ptr<HostBase> runtime_;
  ManualTimeRuntime* manual_ = nullptr;
  std::unique_ptr<World> world_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<TraceTail> tail_;
  std::unique_ptr<RestApi> api_;
  std::vector<std::string> notes_;
};

}  // namespace cfemu::emulator
