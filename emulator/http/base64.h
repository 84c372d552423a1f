// Standard base64 (RFC 4648, with padding), as the REST API uses it for pulled json and bytes
// bodies and for KV bulk values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cfemu::emulator {

std::string Base64Encode(std::string_view bytes);
// Nullopt for anything but well-formed padded base64 (whitespace is not allowed).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace cfemu::emulator
