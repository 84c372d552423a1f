// `cfemu serve [--config wrangler.jsonc] [--host 127.0.0.1] [--port 8787] [--persist DIR]
// [--token T] [--virtual-time] [--processors FILE] [--trace-tail N]`: serves the Cloudflare v4
// REST API (Queues, D1 and KV), the manual cron triggers and the engine admin API on a World
// built from the configuration (default: the compiled-in job queue wiring), on the real-time
// runtime, until SIGINT or SIGTERM stops it gracefully. Prints the bound address on stdout
// (useful with --port 0). What runs the Worker's consumers: see emulator/http/serve_app.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cfemu::emulator {

struct ServeOptions {
  std::string config;  // wrangler.jsonc; empty: the compiled-in fixture.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;  // 0: an ephemeral port.
  std::string token;          // Empty: any bearer token, or none, is accepted.
  // Keeps the configured queues, D1 databases, KV namespaces and Durable Objects in this
  // directory (cpp-contract.md, Persistence); empty: in memory.
  std::string persist_dir;
  // Runs the World on manual virtual time (from 2026-01-01T00:00:00Z): the clock moves only
  // through POST /admin/v1/time/advance.
  bool virtual_time = false;
  // A JSON file of processor behaviours by job name (the scenario format's `processors`);
  // empty: every job completes at once.
  std::string processors;
  std::size_t trace_tail = 10'000;  // Trace lines kept for GET /admin/v1/trace; 0: off.
};

// Returns the process exit code: 0 after a graceful stop, 1 when the server cannot start
// (e.g. the port is taken), 2 bad input.
int RunServe(const ServeOptions& options);

}  // namespace cfemu::emulator
