// The HTTP/1.1 server of `cfemu serve`: async (Boost.Beast on the io_context the World runs on,
// so handlers call services on their own thread), keep-alive, and bounded in every dimension:
// header size, body size per route (413 before the body is read when Content-Length says so),
// idle, header, body and write timeouts, connections, and pipelining (requests on a connection
// are answered one at a time, in order, with at most one read buffer of look-ahead). A request
// the parser cannot read gets a v4 envelope error and the connection closes; nothing a client
// sends can crash or hang the server. Stop() is graceful: no new connections, requests in
// progress finish, idle connections close.
//
// This header stays free of Beast and Asio (other parts include it); the code is in server.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "emulator/http/message.h"
#include "src/core/status.h"
#include "src/core/task.h"
#include "src/core/time.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace cfemu::emulator {

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // The largest body a request with this head (method, target, headers; no body yet) may carry.
  virtual std::size_t BodyLimit(const HttpRequest& head) const = 0;
  // Answers a request. An exception escaping it becomes a 500 envelope.
  virtual core::Task<HttpResponse> Handle(HttpRequest request) = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;                          // 0: an ephemeral port (see port()).
  core::Duration idle_timeout = core::Seconds(60);    // Waiting for a request to start.
  core::Duration header_timeout = core::Seconds(10);  // From its first byte to its last header.
  core::Duration body_timeout = core::Seconds(60);
  core::Duration write_timeout = core::Seconds(60);
  core::Duration drain_timeout = core::Seconds(5);  // Stop(): how long requests may finish.
  std::size_t header_limit = 16 * 1024;
  int max_connections = 1024;  // More are closed at once.
};

class HttpServer {
 public:
  // `io` and `handler` must outlive the server. Destroy it after Stop() has reported, or once
  // the io_context no longer runs: connections still open would call `handler`.
  HttpServer(boost::asio::io_context& io, HttpHandler& handler, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; connections are accepted while the io_context runs. kInvalidArgument
  // for a host that is not an IP address (or "localhost"), kUnavailable when binding fails.
  core::Status Listen();
  std::uint16_t port() const;   // The bound port, after Listen().
  std::string address() const;  // "127.0.0.1:8787", after Listen().
  int connections() const;

  // Stops accepting, closes idle connections, lets requests in progress finish (up to
  // drain_timeout), then calls `done` once, on the io_context. Call on the io_context's thread.
  void Stop(std::function<void()> done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace cfemu::emulator
