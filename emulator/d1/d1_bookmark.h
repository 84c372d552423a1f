// Session bookmarks (checklist 37): "<commit counter as 16 hex digits>-<database id as 32 hex
// digits>". Within one database they compare lexicographically in commit order, as
// production's do, and a bookmark of another database never parses. The counter counts the
// database's committed write transactions; it survives re-opening a persisted file (D1Store
// moves it to a new epoch on every open, so later bookmarks compare greater).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cfemu::emulator {

// REQUIRES: database_hex is 32 lowercase hex digits.
std::string FormatBookmark(std::uint64_t commit, std::string_view database_hex);

// The commit counter of `text`, or nullopt when it is not a bookmark of this database.
std::optional<std::uint64_t> ParseBookmark(std::string_view text, std::string_view database_hex);

// A UUID ("8-4-4-4-12") or 32-hex id as 32 lowercase hex digits; nullopt when malformed.
std::optional<std::string> DatabaseHex(std::string_view id);

}  // namespace cfemu::emulator
