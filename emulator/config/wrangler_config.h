// wrangler.jsonc -> EnvSpec. Parses JSON with comments and trailing commas and builds the
// bindings cfemu emulates: queues.producers / consumers (every consumer setting, production's
// defaults when absent), d1_databases, kv_namespaces, durable_objects.bindings + migrations,
// triggers.crons, compatibility_date / compatibility_flags. Fields of wrangler's schema that
// cfemu does not emulate are accepted and listed once in `ignored`; keys outside wrangler's
// schema, and unknown or invalid keys inside the sections cfemu models, are errors naming the
// file, the line and the field. Handlers are not part of a configuration: the caller attaches
// them (consumer handlers, the scheduled handler) before building a World.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "src/platform/durable_object.h"
#include "src/platform/env.h"

namespace cfemu::emulator {

struct WranglerConfig {
  platform::EnvSpec spec;
  std::vector<std::string> ignored;  // Top-level wrangler fields cfemu does not emulate.
};

// `origin` names the text in errors (a file name). With a registry, every Durable Object binding
// of this Worker must name a registered class.
core::Result<WranglerConfig> LoadWranglerConfig(
    std::string_view text, std::string_view origin,
    const platform::DurableObjectRegistry* registry = nullptr);
core::Result<WranglerConfig> LoadWranglerConfigFile(
    const std::filesystem::path& path, const platform::DurableObjectRegistry* registry = nullptr);

// The minimal production wiring of a job queue (queue + DLQ + D1 + KV + coordinator Durable
// Object + a minute cron), compiled into the binary: the default of `cfemu serve`.
std::string_view DefaultWranglerConfig();

}  // namespace cfemu::emulator
