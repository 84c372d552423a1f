#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/http/server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <limits>
#include <map>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "emulator/http/envelope.h"
#include "src/core/log.h"

namespace cfemu::emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// Raw bytes read ahead of the parser: a header, or part of a body or of pipelined requests.
constexpr std::size_t kBufferLimit = 64 * 1024;
// A lingering close discards at most this much input from a client that keeps sending.
constexpr std::size_t kLingerBytes = 8 * 1024 * 1024;

std::chrono::milliseconds Ms(core::Duration d) { return std::chrono::milliseconds(d.ms()); }

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool idle = true;  // Waiting for a request to start: Stop() may close it at once.
  // An error answer was sent before the request was read to its end: the client may still be
  // sending, and closing with unread input would reset the connection and lose the answer.
  bool unread_input = false;
};

std::string Lower(beast::string_view text) {
  std::string out(text.data(), text.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpRequest HeadOf(const http::request<http::string_body>& message) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers[Lower(field.name_string())] = std::string(field.value());
  }
  return request;
}

http::response<http::string_body> ToBeast(const HttpResponse& response, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> out(static_cast<http::status>(response.status), version);
  out.set(http::field::server, "cfemu");
  out.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) out.set(name, value);
  out.keep_alive(keep_alive);
  out.body() = response.body;
  out.prepare_payload();
  return out;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, HttpHandler& handler, HttpServerOptions options)
      : io(io), handler(handler), options(std::move(options)), acceptor(io), drain_timer(io) {}

  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(std::shared_ptr<Connection> connection, std::uint64_t id);
  struct Parsed {
    HttpRequest request;
    unsigned version = 11;
    bool keep_alive = false;
    bool close = true;
  };
  asio::awaitable<void> Read(Connection& c, beast::flat_buffer& buffer, Parsed& parsed);
  asio::awaitable<bool> ServeOne(Connection& c, beast::flat_buffer& buffer);
  asio::awaitable<void> Write(Connection& c, const HttpResponse& response, unsigned version,
                              bool keep_alive, error_code& ec);
  void Ended(std::uint64_t id);
  void Finish();

  asio::io_context& io;
  HttpHandler& handler;
  HttpServerOptions options;
  tcp::acceptor acceptor;
  asio::steady_timer drain_timer;
  std::uint16_t port = 0;
  bool stopping = false;
  std::function<void()> on_stopped;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  std::uint64_t next_id = 1;
};

asio::awaitable<void> HttpServer::Impl::Accept() {
  auto self = shared_from_this();
  asio::steady_timer backoff(io);
  while (!stopping) {
    error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // Out of descriptors, say: back off briefly instead of spinning.
      CFEMU_LOG_WARN("http: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (static_cast<int>(connections.size()) >= options.max_connections) {
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto connection = std::make_shared<Connection>(std::move(socket));
    const std::uint64_t id = next_id++;
    connections.emplace(id, connection);
    asio::co_spawn(io, Serve(std::move(connection), id), [](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        CFEMU_LOG(::cfemu::core::LogLevel::kError, "http: session ended by an exception: {}",
                  e.what());
      } catch (...) {
        CFEMU_LOG(::cfemu::core::LogLevel::kError, "http: session ended by an unknown exception");
      }
    });
  }
}

asio::awaitable<void> HttpServer::Impl::Serve(std::shared_ptr<Connection> connection,
                                              std::uint64_t id) {
  auto self = shared_from_this();
  beast::flat_buffer buffer(kBufferLimit);
  try {
    while (co_await ServeOne(*connection, buffer)) {
    }
  } catch (const std::exception& e) {
    CFEMU_LOG(::cfemu::core::LogLevel::kError, "http: connection closed after an exception: {}",
              e.what());
  }
  error_code ec;
  if (connection->unread_input) {
    // Lingering close: stop sending, then discard what still arrives (bounded in time and
    // bytes) so the answer reaches the client before the connection goes.
    connection->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::size_t discarded = 0;
    while (!ec && discarded < kLingerBytes) {
      buffer.clear();
      connection->stream.expires_after(std::chrono::seconds(2));
      discarded += co_await connection->stream.async_read_some(
          buffer.prepare(kReadChunk), asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  connection->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  connection->stream.close();
  Ended(id);
}

asio::awaitable<void> HttpServer::Impl::Write(Connection& c, const HttpResponse& response,
                                              unsigned version, bool keep_alive, error_code& ec) {
  auto message = ToBeast(response, version, keep_alive);
  c.stream.expires_after(Ms(options.write_timeout));
  co_await http::async_write(c.stream, message, asio::redirect_error(asio::use_awaitable, ec));
}

// Waits (idle) for the next request and reads it, head and body, within the route's body
// limit. Sets `close` (and maybe answers, e.g. 413) when there is no request to serve.
asio::awaitable<void> HttpServer::Impl::Read(Connection& c, beast::flat_buffer& buffer,
                                             Parsed& parsed) {
  error_code ec;
  parsed.close = true;
  if (buffer.size() == 0) {
    // Idle until the first byte of the next request.
    c.idle = true;
    if (stopping) co_return;
    c.stream.expires_after(Ms(options.idle_timeout));
    const std::size_t n = co_await c.stream.async_read_some(
        buffer.prepare(kReadChunk), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    buffer.commit(n);
  }
  c.idle = false;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // Checked per route below.
  c.stream.expires_after(Ms(options.header_timeout));
  co_await http::async_read_header(c.stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
      ec == asio::error::operation_aborted || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    co_return;
  }
  if (ec) {
    const int status = ec == http::error::header_limit ? 431 : 400;
    const HttpResponse bad =
        Failure(status, cf_code::kInvalidRequestHeaders, "Invalid request: " + ec.message());
    c.unread_input = true;
    co_await Write(c, bad, 11, false, ec);
    co_return;
  }
  parsed.version = parser.get().version();
  parsed.request = HeadOf(parser.get());
  const std::size_t limit = handler.BodyLimit(parsed.request);
  const auto declared = parser.content_length();
  if (declared && *declared > limit) {
    const HttpResponse too_large =
        Failure(413, cf_code::kBodyTooLarge,
                "Request body too large: " + std::to_string(*declared) +
                    " bytes; this route accepts at most " + std::to_string(limit));
    c.unread_input = true;
    co_await Write(c, too_large, parsed.version, false, ec);
    co_return;
  }
  parser.body_limit(limit);
  if (!parser.is_done()) {
    const std::string_view expect = parsed.request.header("expect");
    if (beast::iequals(beast::string_view(expect.data(), expect.size()), "100-continue")) {
      http::response<http::empty_body> go_on(http::status::continue_, parsed.version);
      co_await http::async_write(c.stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    c.stream.expires_after(Ms(options.body_timeout));
    co_await http::async_read(c.stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      const HttpResponse too_large = Failure(
          413, cf_code::kBodyTooLarge,
          "Request body too large; this route accepts at most " + std::to_string(limit) + " bytes");
      c.unread_input = true;
      co_await Write(c, too_large, parsed.version, false, ec);
      co_return;
    }
    if (ec) co_return;  // Timed out or gone mid-body: nobody to answer.
  }
  parsed.keep_alive = parser.get().keep_alive();
  parsed.request.body = std::move(parser.get().body());
  parsed.close = false;
}

// One request and its response. False when the connection should close.
asio::awaitable<bool> HttpServer::Impl::ServeOne(Connection& c, beast::flat_buffer& buffer) {
  Parsed parsed;
  co_await Read(c, buffer, parsed);
  if (parsed.close) co_return false;
  c.stream.expires_never();  // The handler may take its time; the drain timer bounds Stop().
  HttpResponse response;
  try {
    response = co_await handler.Handle(std::move(parsed.request));
  } catch (const std::exception& e) {
    CFEMU_LOG(::cfemu::core::LogLevel::kError, "http: handler threw: {}", e.what());
    response = Failure(500, cf_code::kQueueInternal, "Internal error");
  }
  const bool again = parsed.keep_alive && !stopping;
  error_code ec;
  co_await Write(c, response, parsed.version, again, ec);
  co_return again && !ec;
}

void HttpServer::Impl::Ended(std::uint64_t id) {
  connections.erase(id);
  if (stopping && connections.empty()) Finish();
}

void HttpServer::Impl::Finish() {
  if (!on_stopped) return;
  drain_timer.cancel();
  auto done = std::move(on_stopped);
  on_stopped = nullptr;
  asio::post(io, std::move(done));
}

HttpServer::HttpServer(asio::io_context& io, HttpHandler& handler, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(io, handler, std::move(options))) {}

HttpServer::~HttpServer() {
  error_code ec;
  impl_->stopping = true;
  impl_->acceptor.close(ec);
}

core::Status HttpServer::Listen() {
  Impl& s = *impl_;
  error_code ec;
  const std::string host = s.options.host == "localhost" ? "127.0.0.1" : s.options.host;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return core::Status::InvalidArgument("--host: '" + s.options.host + "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, s.options.port);
  const std::string where = s.options.host + ":" + std::to_string(s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return core::Status::Unavailable("cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor.local_endpoint(ec).port();
  asio::co_spawn(s.io, s.Accept(), [](std::exception_ptr error) {
    if (error)
      CFEMU_LOG(::cfemu::core::LogLevel::kError, "http: the accept loop ended by an exception");
  });
  return core::Status::Ok();
}

std::uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::address() const {
  const std::string& host = impl_->options.host;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port);
}

int HttpServer::connections() const { return static_cast<int>(impl_->connections.size()); }

void HttpServer::Stop(std::function<void()> done) {
  Impl& s = *impl_;
  if (s.stopping && !s.on_stopped) {
    asio::post(s.io, std::move(done));  // Already stopped.
    return;
  }
  s.stopping = true;
  s.on_stopped = std::move(done);
  error_code ec;
  s.acceptor.close(ec);
  for (auto& [id, connection] : s.connections) {
    if (connection->idle) connection->stream.cancel();
  }
  if (s.connections.empty()) {
    s.Finish();
    return;
  }
  s.drain_timer.expires_after(Ms(s.options.drain_timeout));
  s.drain_timer.async_wait([impl = impl_](error_code wait_error) {
    if (wait_error) return;  // Every connection ended first.
    for (auto& [id, connection] : impl->connections) connection->stream.close();
    impl->Finish();
  });
}

}  // namespace cfemu::emulator
