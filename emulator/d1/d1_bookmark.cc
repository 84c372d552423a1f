#include "emulator/d1/d1_bookmark.h"

#include "src/core/ids.h"
#include "src/core/status.h"

namespace cfemu::emulator {

namespace {

constexpr std::size_t kCounterDigits = 16;
constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::string FormatBookmark(std::uint64_t commit, std::string_view database_hex) {
  CHECK(core::IsLowerHex(database_hex, 32));
  std::string out(kCounterDigits, '0');
  for (std::size_t i = 0; i < kCounterDigits; ++i) {
    out[kCounterDigits - 1 - i] = kHex[(commit >> (4 * i)) & 0xf];
  }
  out += '-';
  out += database_hex;
  return out;
}

std::optional<std::uint64_t> ParseBookmark(std::string_view text, std::string_view database_hex) {
  if (text.size() != kCounterDigits + 1 + database_hex.size()) return std::nullopt;
  if (text[kCounterDigits] != '-' || text.substr(kCounterDigits + 1) != database_hex) {
    return std::nullopt;
  }
  const std::string_view counter = text.substr(0, kCounterDigits);
  if (!core::IsLowerHex(counter, kCounterDigits)) return std::nullopt;
  std::uint64_t commit = 0;
  for (char c : counter) {
    commit = (commit << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return commit;
}

std::optional<std::string> DatabaseHex(std::string_view id) {
  std::string hex;
  hex.reserve(32);
  for (char c : id) {
    if (c == '-') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    hex += c;
  }
  if (!core::IsLowerHex(hex, 32)) return std::nullopt;
  return hex;
}

}  // namespace cfemu::emulator
