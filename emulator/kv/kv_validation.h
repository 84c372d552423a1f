// Argument checks of the KV binding and of the KV service behind it, with production's texts.
// Two layers check, as in production: the binding (workerd's kv.c++: key names, TypeErrors)
// before any request leaves the Worker, and the service (the API Miniflare's validator mirrors:
// expirations, metadata and value sizes, cacheTtl, list limits, bulk reads) when the request
// arrives. A service error reaches the binding as "KV <METHOD> failed: <status> <text>"; the
// admin (REST) path gets the bare <text>, so it passes `method` empty.
//
// Codes: bad names, options and values -> kInvalidArgument; sizes (414, 413) -> kTooLarge; the
// per-key write rate (429) -> kOverloaded, as the Queues 429 is, because kRateLimited keeps the
// engine's BullMQ meaning; the per-invocation operation budget -> kResourceExhausted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/kv/kv_limits.h"
#include "src/core/status.h"
#include "src/core/time.h"
#include "src/platform/kv.h"

namespace cfemu::emulator::kv {

// "KV GET failed: 400 <text>" for a binding call; "<text>" when `method` is empty.
core::Status ServiceError(core::Code code, std::string_view method, int http_status,
                          std::string_view text);

// The binding's own check (workerd): not empty, not "." or "..", at most max_key_bytes, and
// well-formed UTF-8 (a JavaScript string always is).
core::Status CheckKeyName(std::string_view method, std::string_view key, const KvLimits& limits);
// The service's check of a key (bulk reads and the admin path), with the service's texts.
core::Status CheckServiceKey(std::string_view method, std::string_view key, const KvLimits& limits);

// A text value must be well-formed UTF-8 (it stands for a JavaScript string).
core::Status CheckPutValue(const platform::KvPutValue& value);
std::int64_t PutValueBytes(const platform::KvPutValue& value);

// The absolute expiration (seconds since the epoch) a put asks for, if any: expiration_ttl wins
// over expiration; each must reach at least min_expiration_ttl past `now`.
core::Result<std::optional<std::int64_t>> ResolveExpiration(std::string_view method,
                                                            const platform::KvPutOptions& options,
                                                            core::Instant now,
                                                            const KvLimits& limits);
// The metadata to store (null and undefined store none), checked against max_metadata_bytes
// measured on its compact serialization.
core::Result<std::optional<nlohmann::json>> CheckMetadata(
    std::string_view method, const std::optional<nlohmann::json>& metadata, const KvLimits& limits);
core::Status CheckValueSize(std::string_view method, std::int64_t bytes, const KvLimits& limits);

// The cache TTL a read uses: the default when unset; at least min_cache_ttl.
core::Result<core::Duration> ResolveCacheTtl(std::string_view method,
                                             const std::optional<core::Duration>& cache_ttl,
                                             const KvLimits& limits);

// The page size a list uses: workerd sends no limit for values <= 0, so those mean the
// maximum; above the maximum is an error. The prefix obeys the key length limit.
core::Result<int> ResolveListLimit(std::string_view method, int limit, const KvLimits& limits);
core::Status CheckListPrefix(std::string_view method, std::string_view prefix,
                             const KvLimits& limits);

// An opaque list cursor for "continue after `key`", and its inverse (nullopt when malformed).
std::string EncodeCursor(std::string_view key);
std::optional<std::string> DecodeCursor(std::string_view cursor);

std::string_view TypeName(platform::KvType type);  // "text", "json", "arrayBuffer", "stream".

// What a TextDecoder gives for these bytes: invalid sequences become U+FFFD.
std::string DecodeUtf8Lossy(std::string_view bytes);
// JSON.parse of the value's text; kInvalidArgument with a SyntaxError text when it is not JSON.
core::Result<nlohmann::json> ParseJsonValue(std::string_view text);

inline constexpr std::string_view kTooManyOperations =
    "Too many API requests by single worker invocation.";

}  // namespace cfemu::emulator::kv
