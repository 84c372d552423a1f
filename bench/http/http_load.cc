// cfemu_http_bench: REST throughput of `cfemu serve` on loopback with keep-alive (issue 6,
// "Benchmark"). The server runs in-process on its own thread, exactly as `serve` runs it (a
// World on the real-time runtime, strict profile, no trace); client threads drive it over
// real sockets. Three phases:
//   push:   each connection (a thread with a blocking client) sends single-message pushes back
//           to back -> requests/s, p50, p99;
//   push on one client thread: the same with every connection a coroutine on one client thread,
//           as wrk drives a server: on two cores, the load generator's threads and context
//           switches would otherwise take CPU from the server it measures;
//   cycle:  batch push of 100 + pull of 100 + ack of 100 -> messages/s, p50/p99 per call.
// Usage: cfemu_http_bench [--connections N] [--requests N] [--cycles N]
#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "emulator/http/rest_api.h"
#include "emulator/http/server.h"
#include "emulator/sim/realtime.h"
#include "emulator/world.h"
#include "src/core/ids.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace emu = cfemu::emulator;

struct Options {
  int connections = 8;
  int requests = 20'000;  // Per connection, push phase.
  int cycles = 500;       // Per connection, batch phase.
};

class Connection {
 public:
  explicit Connection(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket_.set_option(tcp::no_delay(true));
  }
  // A POST as bytes on the wire, made once and sent many times: the load generator shares the
  // machine's two cores with the server, so it spends as little as it can per request.
  static std::string Request(const std::string& target, const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }
  std::string Post(const std::string& target, const std::string& body) {
    return Send(Request(target, body));
  }
  // One request; returns the response body, or aborts on a transport error or non-200.
  std::string Send(const std::string& raw) {
    asio::write(socket_, asio::buffer(raw));
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    if (response.result_int() != 200) {
      std::fprintf(stderr, "HTTP %u: %s\n", response.result_int(), response.body().c_str());
      std::exit(1);
    }
    return std::move(response.body());
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

double Percentile(std::vector<double>& micros, double p) {
  if (micros.empty()) return 0;
  std::sort(micros.begin(), micros.end());
  return micros[static_cast<std::size_t>(p * static_cast<double>(micros.size() - 1))];
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// Runs `work(connection, latencies)` on every connection in parallel; returns wall seconds.
template <class F>
double Parallel(const Options& options, std::uint16_t port, std::vector<double>& latencies,
                F work) {
  std::vector<std::vector<double>> each(static_cast<std::size_t>(options.connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < options.connections; ++c) {
    threads.emplace_back([&, c] {
      Connection connection(port);
      work(connection, each[static_cast<std::size_t>(c)]);
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = Since(start) / 1e6;
  for (auto& v : each) latencies.insert(latencies.end(), v.begin(), v.end());
  return seconds;
}

void ReportPush(int connections, const char* how, std::vector<double>& latencies,
                double seconds) {
  const double total = static_cast<double>(latencies.size());
  std::printf(
      "push:  %d connections%s, %.0f requests in %.2f s: %.0f requests/s; "
      "p50 %.0f us, p99 %.0f us\n",
      connections, how, total, seconds, total / seconds, Percentile(latencies, 0.50),
      Percentile(latencies, 0.99));
}

void PushPhase(const Options& options, std::uint16_t port, const std::string& queue) {
  std::vector<double> latencies;
  const std::string push = Connection::Request(
      queue + "/messages", R"({"body":{"job":"email","to":"someone@example.com"}})");
  const double seconds = Parallel(options, port, latencies, [&](Connection& c, auto& out) {
    for (int i = 0; i < options.requests; ++i) {
      const auto start = Clock::now();
      c.Send(push);
      out.push_back(Since(start));
    }
  });
  ReportPush(options.connections, "", latencies, seconds);
}

// The push phase as wrk drives a server: one client thread, every connection a coroutine on its
// io_context (no thread per connection, no blocking calls), so the load generator takes as
// little of the two cores from the server as it can.
asio::awaitable<void> PushLoop(tcp::socket& socket, const std::string& raw, int requests,
                               std::vector<double>& out) {
  beast::flat_buffer buffer;
  for (int i = 0; i < requests; ++i) {
    const auto start = Clock::now();
    co_await asio::async_write(socket, asio::buffer(raw), asio::use_awaitable);
    http::response<http::string_body> response;
    co_await http::async_read(socket, buffer, response, asio::use_awaitable);
    if (response.result_int() != 200) {
      std::fprintf(stderr, "HTTP %u: %s\n", response.result_int(), response.body().c_str());
      std::exit(1);
    }
    out.push_back(Since(start));
  }
}

void AsyncPushPhase(const Options& options, std::uint16_t port, const std::string& queue) {
  const std::string push = Connection::Request(
      queue + "/messages", R"({"body":{"job":"email","to":"someone@example.com"}})");
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  std::vector<std::vector<double>> each(static_cast<std::size_t>(options.connections));
  for (int c = 0; c < options.connections; ++c) {
    auto socket = std::make_unique<tcp::socket>(io);
    socket->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket->set_option(tcp::no_delay(true));
    asio::co_spawn(io, PushLoop(*socket, push, options.requests, each[static_cast<std::size_t>(c)]),
                   asio::detached);
    sockets.push_back(std::move(socket));
  }
  const auto start = Clock::now();
  io.run();
  const double seconds = Since(start) / 1e6;
  std::vector<double> latencies;
  for (auto& v : each) latencies.insert(latencies.end(), v.begin(), v.end());
  ReportPush(options.connections, " on one client thread", latencies, seconds);
}

void CyclePhase(const Options& options, std::uint16_t port, const std::string& queue) {
  Json messages = Json::array();
  for (int i = 0; i < 100; ++i) messages.push_back({{"body", {{"n", i}}}});
  const std::string batch = Json{{"messages", messages}}.dump();
  std::vector<double> latencies;
  std::atomic<long long> moved{0};
  const double seconds = Parallel(options, port, latencies, [&](Connection& c, auto& out) {
    long long acked = 0;
    for (int i = 0; i < options.cycles; ++i) {
      auto start = Clock::now();
      c.Post(queue + "/messages/batch", batch);
      out.push_back(Since(start));
      start = Clock::now();
      const Json pulled = Json::parse(c.Post(queue + "/messages/pull", R"({"batch_size":100})"));
      out.push_back(Since(start));
      Json acks = Json::array();
      for (const auto& m : pulled["result"]["messages"])
        acks.push_back({{"lease_id", m["lease_id"]}});
      start = Clock::now();
      c.Post(queue + "/messages/ack", Json{{"acks", acks}}.dump());
      out.push_back(Since(start));
      acked += static_cast<long long>(acks.size());
    }
    moved += acked;
  });
  std::printf(
      "cycle: %d connections, batch push 100 + pull 100 + ack: %lld messages in %.2f s: "
      "%.0f messages/s; per call p50 %.0f us, p99 %.0f us\n",
      options.connections, moved.load(), seconds, static_cast<double>(moved) / seconds,
      Percentile(latencies, 0.50), Percentile(latencies, 0.99));
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int value = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--connections") == 0) options.connections = std::max(1, value);
    if (std::strcmp(argv[i], "--requests") == 0) options.requests = std::max(1, value);
    if (std::strcmp(argv[i], "--cycles") == 0) options.cycles = std::max(1, value);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  emu::RealTimeRuntime runtime(io, 1, emu::Profile::kStrict);
  cfemu::platform::EnvSpec spec;
  spec.queues = {{"jobs"}};
  cfemu::platform::ConsumerSpec pull;
  pull.queue = "jobs";
  pull.type = cfemu::platform::ConsumerType::kHttpPull;
  spec.consumers = {pull};
  auto world = emu::World::Create(runtime, spec);
  if (!world.ok()) return 1;
  emu::RestApi api(**world, {});
  emu::HttpServerOptions http_options;
  http_options.port = 0;
  emu::HttpServer server(io, api, http_options);
  if (!server.Listen().ok()) return 1;
  std::thread loop([&] { io.run(); });
  const std::string queue =
      "/client/v4/accounts/bench/queues/" + cfemu::core::DeriveHexId("queue", "jobs");
  PushPhase(options, server.port(), queue);
  asio::post(io, [&] { (*world)->queues().Purge("jobs").value(); });
  AsyncPushPhase(options, server.port(), queue);
  asio::post(io, [&] { (*world)->queues().Purge("jobs").value(); });
  CyclePhase(options, server.port(), queue);
  asio::post(io, [&] { server.Stop([&] { io.stop(); }); });
  loop.join();
  return 0;
}
