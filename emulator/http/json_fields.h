// Reading a request's JSON body and its fields, with the v4 error a client gets for each
// mistake: a body that is not JSON (or not UTF-8) is "malformed"; a field of the wrong type or
// out of range is "invalid". Each route family passes its own two codes (Queues: 10208 and
// 10207). Absent and null fields read as unset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/http/envelope.h"
#include "emulator/http/message.h"
#include "src/core/status.h"

namespace cfemu::emulator {

// Deeper bodies are refused (invalid), whatever the route.
inline constexpr int kMaxJsonDepth = 64;

struct JsonCodes {
  int malformed;
  int invalid;
};

// The body as JSON; an empty body reads as {}. REQUIRES nothing of the body: any bytes give a
// value or a kInvalidArgument status with `codes.malformed`. With `object`, anything but a
// JSON object is invalid.
core::Result<Json> ParseJsonBody(const HttpRequest& request, JsonCodes codes, bool object = true);

core::Result<std::optional<std::int64_t>> IntField(const Json& object, std::string_view name,
                                                   std::int64_t min, std::int64_t max, int code);
core::Result<std::optional<std::string>> StringField(const Json& object, std::string_view name,
                                                     int code);
core::Result<std::optional<bool>> BoolField(const Json& object, std::string_view name, int code);
// An array field, or an empty array when absent. kInvalidArgument when it is something else.
core::Result<Json> ArrayField(const Json& object, std::string_view name, int code);

// An optional integer query parameter in [min, max]; kInvalidArgument with `code` when present
// and not such an integer (an empty value counts as absent).
core::Result<std::optional<std::int64_t>> QueryInt(
    const std::map<std::string, std::string, std::less<>>& query, int code, std::string_view name,
    std::int64_t min, std::int64_t max);

}  // namespace cfemu::emulator
