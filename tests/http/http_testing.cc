#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "tests/http/http_testing.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "emulator/sim/manual_time.h"
#include "emulator/sim/realtime.h"
#include "src/core/ids.h"

namespace cfemu::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

platform::EnvSpec PullQueueSpec() {
  platform::EnvSpec spec;
  platform::QueueSpec jobs;
  jobs.name = "jobs";
  platform::QueueSpec plain;
  plain.name = "plain";
  spec.queues = {jobs, plain};
  platform::ConsumerSpec pull;
  pull.queue = "jobs";
  pull.type = platform::ConsumerType::kHttpPull;
  spec.consumers = {pull};
  spec.d1_databases = {{"DB", "main", ""}};
  spec.kv_namespaces = {{"CACHE", ""}};
  return spec;
}

struct TestServer::State {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<emulator::HostBase> runtime;
  emulator::ManualTimeRuntime* manual = nullptr;
  std::unique_ptr<emulator::World> world;
  std::unique_ptr<emulator::RestApi> api;
  std::unique_ptr<emulator::ServeApp> app;  // Or the three above.
  std::unique_ptr<emulator::HttpServer> server;
  std::thread thread;

  emulator::World& the_world() { return app ? app->world() : *world; }
  // Listens, then runs the loop on the thread, as serve does.
  void Serve(emulator::HttpServerOptions http) {
    http.host = "127.0.0.1";
    http.port = 0;
    server = std::make_unique<emulator::HttpServer>(io, app ? app->api() : *api, http);
    const core::Status listening = server->Listen();
    EXPECT_TRUE(listening.ok()) << listening.ToString();
    thread = std::thread([this] {
      // ServeApp::RunOne is the same turn: a ServeApp's manual runtime is `manual`.
      while (manual != nullptr ? manual->RunOne() : io.run_one() > 0) {
      }
    });
  }
};

TestServer::TestServer(platform::EnvSpec spec, emulator::RestOptions rest,
                       emulator::HttpServerOptions http, bool manual_time,
                       emulator::WorldOptions world_options)
    : state_(std::make_unique<State>()) {
  if (manual_time) {
    auto manual = std::make_unique<emulator::ManualTimeRuntime>(state_->io, /*seed=*/1,
                                                                emulator::Profile::kStrict);
    state_->manual = manual.get();
    state_->runtime = std::move(manual);
    rest.virtual_time = state_->manual;  // Serves /admin/v1/time as serve --virtual-time does.
  } else {
    state_->runtime = std::make_unique<emulator::RealTimeRuntime>(state_->io, /*seed=*/1,
                                                                  emulator::Profile::kStrict);
  }
  auto world = emulator::World::Create(*state_->runtime, std::move(spec), std::move(world_options));
  EXPECT_TRUE(world.ok()) << world.status().ToString();
  state_->world = std::move(*world);
  state_->api = std::make_unique<emulator::RestApi>(*state_->world, std::move(rest));
  state_->Serve(http);
}

TestServer::TestServer(emulator::ServeAppOptions options) : state_(std::make_unique<State>()) {
  auto app = emulator::ServeApp::Create(state_->io, std::move(options));
  EXPECT_TRUE(app.ok()) << app.status().ToString();
  state_->app = std::move(*app);
  state_->manual = state_->app->manual_time();
  const core::Status started = state_->app->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
  state_->Serve({});
}

void TestServer::StopServer() {
  std::promise<void> stopped;
  OnLoop([&] { state_->server->Stop([&] { stopped.set_value(); }); });
  stopped.get_future().wait();
}

TestServer::~TestServer() {
  StopServer();
  state_->work.reset();
  state_->io.stop();
  state_->thread.join();
  state_->server.reset();
  state_->app.reset();
  state_->api.reset();
  state_->world.reset();
}

std::uint16_t TestServer::port() const { return state_->server->port(); }

void TestServer::OnLoop(std::function<void()> f) {
  std::promise<void> done;
  asio::post(state_->io, [&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

emulator::World& TestServer::world() { return state_->the_world(); }

engine::Engine& TestServer::engine() { return *state_->app->engine(); }

void TestServer::AdvanceTime(core::Duration d) {
  ASSERT_NE(state_->manual, nullptr);
  OnLoop([&] { state_->manual->AdvanceBy(d); });
}

std::string TestServer::QueueId(const std::string& name) {
  return core::DeriveHexId("queue", name);
}

int TestServer::connections() {
  int n = 0;
  OnLoop([&] { n = state_->server->connections(); });
  return n;
}

int ClientResponse::error_code() const {
  if (!json.is_object() || !json.contains("errors") || !json["errors"].is_array() ||
      json["errors"].empty()) {
    return 0;
  }
  return json["errors"][0].value("code", 0);
}

struct Client::State {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;

  // Runs the operation `start` begins until it completes or the timeout passes; then the
  // socket is closed, so later calls fail at once. A blocking read with SO_RCVTIMEO would not
  // do: Asio waits again, without a limit, when the read times out.
  template <class Start>
  boost::system::error_code Bounded(Start start) {
    boost::system::error_code result = asio::error::would_block;
    start([&](boost::system::error_code ec, std::size_t) { result = ec; });
    io.restart();
    io.run_for(timeout);
    if (result == asio::error::would_block) {
      boost::system::error_code ignored;
      socket.close(ignored);
      io.restart();
      io.run();  // The cancelled operation's handler.
      result = asio::error::timed_out;
    }
    return result;
  }
};

Client::Client(std::uint16_t port, std::chrono::milliseconds timeout)
    : state_(std::make_unique<State>()) {
  state_->timeout = timeout;
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
  const auto ec = state_->Bounded([&](auto done) {
    state_->socket.async_connect(server, [done](boost::system::error_code e) { done(e, 0); });
  });
  if (ec) throw boost::system::system_error(ec, "connect");
}

Client::~Client() {
  boost::system::error_code ec;
  state_->socket.shutdown(tcp::socket::shutdown_both, ec);
  state_->socket.close(ec);
}

ClientResponse Client::Request(const std::string& method, const std::string& target,
                               const std::string& body,
                               const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> request(http::string_to_verb(method), target, 11);
  if (request.method() == http::verb::unknown) request.method_string(method);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty() && request.find(http::field::content_type) == request.end()) {
    request.set(http::field::content_type, "application/json");
  }
  request.body() = body;
  request.prepare_payload();
  const auto ec = state_->Bounded(
      [&](auto done) { http::async_write(state_->socket, request, std::move(done)); });
  if (ec) return ClientResponse{};
  return ReadResponse();
}

ClientResponse Client::Post(const std::string& target, const Json& body,
                            const std::map<std::string, std::string>& headers) {
  return Request("POST", target, body.dump(), headers);
}

ClientResponse Client::Get(const std::string& target,
                           const std::map<std::string, std::string>& headers) {
  return Request("GET", target, "", headers);
}

void Client::WriteRaw(const std::string& bytes) {
  (void)state_->Bounded(
      [&](auto done) { asio::async_write(state_->socket, asio::buffer(bytes), std::move(done)); });
}

ClientResponse Client::ReadResponse() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  const auto ec = state_->Bounded([&](auto done) {
    http::async_read(state_->socket, state_->buffer, parser, std::move(done));
  });
  ClientResponse out;
  if (ec) return out;
  auto& message = parser.get();
  out.status = static_cast<int>(message.result_int());
  out.body = message.body();
  out.keep_alive = message.keep_alive();
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.json = Json::parse(out.body, nullptr, false);
  return out;
}

bool Client::ServerClosed() {
  char byte;
  const auto ec = state_->Bounded(
      [&](auto done) { state_->socket.async_read_some(asio::buffer(&byte, 1), std::move(done)); });
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

Json OkResult(const ClientResponse& response) {
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(response.json.is_object() && response.json.value("success", false)) << response.body;
  return response.json.is_object() ? response.json["result"] : Json();
}

std::string QueuesPath(const std::string& suffix) {
  return "/client/v4/accounts/acc/queues" + suffix;
}

}  // namespace cfemu::testing
