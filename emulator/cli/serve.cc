#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/cli/serve.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "emulator/http/serve_app.h"
#include "emulator/http/server.h"

namespace cfemu::emulator {

namespace {

core::Result<Processors> LoadProcessors(const std::string& path) {
  std::ifstream in(path);
  if (!in) return core::Status::InvalidArgument(path + ": cannot be read");
  const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false,
                                          /*ignore_comments=*/true);
  if (json.is_discarded()) return core::Status::InvalidArgument(path + ": not valid JSON");
  return ParseProcessors(json, path);
}

}  // namespace

int RunServe(const ServeOptions& options) {
  ServeAppOptions app_options;
  app_options.config_path = options.config;
  if (!options.persist_dir.empty()) app_options.persist_dir = options.persist_dir;
  app_options.virtual_time = options.virtual_time;
  app_options.token = options.token;
  app_options.trace_tail = options.trace_tail;
  if (!options.processors.empty()) {
    auto processors = LoadProcessors(options.processors);
    if (!processors.ok()) {
      std::fprintf(stderr, "cfemu serve: %s\n", processors.status().message().c_str());
      return 2;
    }
    app_options.processors = std::move(*processors);
  }

  boost::asio::io_context io;
  auto app = ServeApp::Create(io, std::move(app_options));
  if (!app.ok()) {
    std::fprintf(stderr, "cfemu serve: %s\n", app.status().ToString().c_str());
    return 2;
  }
  for (const std::string& note : (*app)->notes()) {
    std::fprintf(stderr, "cfemu serve: %s\n", note.c_str());
  }
  if (const core::Status started = (*app)->Start(); !started.ok()) {
    std::fprintf(stderr, "cfemu serve: the engine's schema: %s\n", started.ToString().c_str());
    return 1;
  }

  HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  HttpServer server(io, (*app)->api(), http);
  const core::Status listening = server.Listen();
  if (!listening.ok()) {
    std::fprintf(stderr, "cfemu serve: %s\n", listening.message().c_str());
    return listening.code() == core::Code::kInvalidArgument ? 2 : 1;
  }
  std::printf("cfemu serve: listening on http://%s\n", server.address().c_str());
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    std::fprintf(stderr, "cfemu serve: stopping\n");
    server.Stop([&] { io.stop(); });
  });
  while ((*app)->RunOne()) {
  }
  return 0;
}

}  // namespace cfemu::emulator
