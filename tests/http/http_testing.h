// The HTTP server in-process, for tests: a World on the real-time runtime, the REST API and
// the server on 127.0.0.1 port 0, the io_context on one background thread; and a synchronous
// Beast client over real loopback sockets. Reads are bounded by a socket timeout, so a server
// that fails to answer fails the test instead of hanging it; nothing sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/http/rest_api.h"
#include "emulator/http/serve_app.h"
#include "emulator/http/server.h"
#include "emulator/world.h"

namespace cfemu::testing {

using Json = nlohmann::json;

// Queues "jobs" (an http_pull consumer) and "plain" (no consumer); D1 database "main"
// (binding DB); KV namespace CACHE.
platform::EnvSpec PullQueueSpec();

class TestServer {
 public:
  // With `manual_time`, the World runs on the manual-virtual-time runtime (starting at the
  // virtual epoch) and AdvanceTime() moves its clock; otherwise on the real-time runtime.
  explicit TestServer(platform::EnvSpec spec = PullQueueSpec(), emulator::RestOptions rest = {},
                      emulator::HttpServerOptions http = {}, bool manual_time = false,
                      emulator::WorldOptions world = {});
  // What `cfemu serve` runs (emulator/http/serve_app.h): the configuration, the engine's Worker
  // and its admin API; its schema is applied before the server listens.
  explicit TestServer(emulator::ServeAppOptions app);
  ~TestServer();  // Stops the server gracefully, then the loop.
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const;
  // Stops the server gracefully and waits until it reports stopped (the loop keeps running).
  void StopServer();
  // Runs `f` on the server's thread and waits for it to return.
  void OnLoop(std::function<void()> f);
  emulator::World& world();
  // REQUIRES: built from ServeAppOptions with a configuration that binds the engine.
  engine::Engine& engine();
  // REQUIRES: manual_time. Moves the World's clock forward, on the server's thread.
  void AdvanceTime(core::Duration d);
  // The 32-hex id of a queue, for paths.
  std::string QueueId(const std::string& name);
  int connections();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  Json json;                                   // Discarded when the body is not JSON.
  std::map<std::string, std::string> headers;  // Names in lowercase.
  bool keep_alive = false;

  // The first envelope error code, or 0.
  int error_code() const;
};

class Client {
 public:
  // Throws boost::system::system_error when it cannot connect. Connecting, and every read and
  // write of a request, gives up after `timeout` (a response then has status 0), so a server
  // that stops answering fails a test instead of hanging it.
  explicit Client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientResponse Request(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::map<std::string, std::string>& headers = {});
  ClientResponse Post(const std::string& target, const Json& body,
                      const std::map<std::string, std::string>& headers = {});
  ClientResponse Get(const std::string& target,
                     const std::map<std::string, std::string>& headers = {});
  // Writes raw bytes as they are.
  void WriteRaw(const std::string& bytes);
  // Reads one response (after WriteRaw).
  ClientResponse ReadResponse();
  // True when the server has closed the connection (reads end of stream, bounded wait).
  bool ServerClosed();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The envelope's `result`, expecting a 200 with success true (a test failure otherwise).
Json OkResult(const ClientResponse& response);

// "/client/v4/accounts/acc/queues" + suffix.
std::string QueuesPath(const std::string& suffix = "");

}  // namespace cfemu::testing
