// Raw bytes: what an ArrayBuffer is in Workers (queue `bytes` bodies, D1 BLOBs, KV values).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace cfemu::core {

using Bytes = std::vector<std::uint8_t>;

inline Bytes BytesOf(std::string_view text) { return Bytes(text.begin(), text.end()); }

}  // namespace cfemu::core
