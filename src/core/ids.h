// Identifiers. Random ids (message ids, lease ids) come from a seeded Random, so they replay
// with the seed; derived ids (queue ids, D1 database ids) come from a fixed hash of a name, so
// they are the same in every run and on every machine, and no user text reaches a file path.
#pragma once

#include <string>
#include <string_view>

#include "src/core/random.h"

namespace cfemu::core {

// A Cloudflare message id: 32 lowercase hex characters (16 random bytes), as production's.
std::string NewMessageId(Random& random);

// 32 lowercase hex characters derived from (kind, name) by a fixed 128-bit hash.
// DeriveHexId("queue", "jobs") is the id of queue "jobs" on every run.
std::string DeriveHexId(std::string_view kind, std::string_view name);

// A UUID (8-4-4-4-12, version 4 layout) derived from (kind, name) by the same fixed hash.
std::string DeriveUuid(std::string_view kind, std::string_view name);

// True when `text` is exactly `length` lowercase hex digits.
bool IsLowerHex(std::string_view text, std::size_t length);

}  // namespace cfemu::core
