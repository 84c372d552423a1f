#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "emulator/cli/serve.h"

#include <csignal>
#include <cstdio>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "emulator/config/wrangler_config.h"
#include "emulator/http/rest_api.h"
#include "emulator/http/server.h"
#include "emulator/sim/manual_time.h"
#include "emulator/sim/realtime.h"
#include "emulator/world.h"
#include "src/engine/coordinator/coordinator.h"

namespace cfemu::emulator {

namespace {

// Worker consumers need a Worker script to call; serve has none yet, so they are served as
// http_pull consumers with the same batch size, retries, retry delay and dead letter queue.
void ServeWorkerConsumersAsPull(platform::EnvSpec& spec) {
  for (auto& consumer : spec.consumers) {
    if (consumer.type != platform::ConsumerType::kWorker) continue;
    std::fprintf(stderr,
                 "cfemu serve: the worker consumer of queue '%s' is served as an http_pull "
                 "consumer (serve runs no Worker scripts)\n",
                 consumer.queue.c_str());
    consumer.type = platform::ConsumerType::kHttpPull;
    consumer.max_concurrency.reset();
    consumer.handler = nullptr;
  }
}

}  // namespace

int RunServe(const ServeOptions& options) {
  platform::DurableObjectRegistry registry;  // The fixture binds the coordinator's class.
  engine::RegisterCoordinator(registry, engine::EngineBindings());
  auto config = options.config.empty()
                    ? LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc", &registry)
                    : LoadWranglerConfigFile(options.config, &registry);
  if (!config.ok()) {
    std::fprintf(stderr, "cfemu serve: %s\n", config.status().message().c_str());
    return 2;
  }
  platform::EnvSpec spec = std::move(config->spec);
  ServeWorkerConsumersAsPull(spec);

  boost::asio::io_context io;
  std::unique_ptr<HostBase> runtime;
  ManualTimeRuntime* manual = nullptr;
  if (options.virtual_time) {
    auto owned = std::make_unique<ManualTimeRuntime>(io, /*seed=*/1, Profile::kStrict);
    manual = owned.get();
    runtime = std::move(owned);
  } else {
    runtime = std::make_unique<RealTimeRuntime>(io, /*seed=*/1, Profile::kStrict);
  }
  WorldOptions world_options;
  world_options.registry = &registry;
  if (!options.persist_dir.empty()) world_options.persist_dir = options.persist_dir;
  auto world = World::Create(*runtime, std::move(spec), world_options);
  if (!world.ok()) {
    std::fprintf(stderr, "cfemu serve: %s\n", world.status().ToString().c_str());
    return 2;
  }
  RestOptions rest;
  rest.token = options.token;
  rest.virtual_time = manual;
  RestApi api(**world, rest);
  HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  HttpServer server(io, api, http);
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
  io.run();
  return 0;
}

}  // namespace cfemu::emulator
