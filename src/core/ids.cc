#include "src/core/ids.h"

namespace cfemu::core {

namespace {

std::string Hash128Hex(std::string_view kind, std::string_view name) {
  std::string key(kind);
  key.push_back('\0');
  key.append(name);
  const std::uint64_t a = Mix64(Fnv1a64(key));
  const std::uint64_t b = Mix64(Fnv1a64(key, 0x84222325cbf29ce4ULL) ^ a);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[i] = kDigits[(a >> (60 - 4 * i)) & 0xf];
    out[16 + i] = kDigits[(b >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

}  // namespace

std::string NewMessageId(Random& random) { return random.Hex(16); }

std::string DeriveHexId(std::string_view kind, std::string_view name) {
  return Hash128Hex(kind, name);
}

std::string DeriveUuid(std::string_view kind, std::string_view name) {
  std::string hex = Hash128Hex(kind, name);
  hex[12] = '4';                                              // Version 4 layout.
  hex[16] = "89ab"[static_cast<unsigned char>(hex[16]) % 4];  // RFC 4122 variant.
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

bool IsLowerHex(std::string_view text, std::size_t length) {
  if (text.size() != length) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace cfemu::core
