// One stored version of a KV key, as the central store holds it and as a location's cache
// remembers it. Values and metadata are immutable and shared, so caching a record or handing it
// to a reader never copies a value (values reach 25 MiB). A record without a value stands for
// "absent": a delete's tombstone in the central store, or a cached negative lookup.
//
// Invariants: `version` grows with every write to the namespace (0 = never written); a record
// with an expiration is absent from the instant expiration * 1000 ms on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "src/core/time.h"

namespace cfemu::emulator {

struct KvRecord {
  std::shared_ptr<const std::string> value;        // Bytes; null when absent.
  std::shared_ptr<const nlohmann::json> metadata;  // Null when none.
  std::optional<std::int64_t> expiration;          // Absolute seconds since the epoch.
  core::Instant written;                           // When the central store applied the write.
  std::uint64_t version = 0;

  bool live() const { return value != nullptr; }
  // True when `judge` (an instant on the clock that decides) is at or past the expiration.
  bool ExpiredAt(core::Instant judge) const {
    return expiration.has_value() && judge.unix_ms() >= *expiration * 1000;
  }
  bool PresentAt(core::Instant judge) const { return live() && !ExpiredAt(judge); }
};

}  // namespace cfemu::emulator
