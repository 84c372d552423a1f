// The envelope (engine-spec.md §1.2, protocol `cfq/1`): the only thing the engine puts in a
// Cloudflare queue. It names a job and the generation at send time; job data never travels.
//   {"p":"cfq/1","q":"emails","id":"...","gen":3,"at":1767225600000,"g":"tenant-7"}
// An envelope with generation g exists only if the row had dispatch_at set at generation g, so
// a consumer that finds the row at another generation knows the envelope is stale.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/core/status.h"
#include "src/platform/queue.h"

namespace cfemu::engine {

inline constexpr std::string_view kProtocol = "cfq/1";
inline constexpr std::size_t kMaxEnvelopeBytes = 512;

struct Envelope {
  std::string queue;
  std::string id;
  std::int64_t gen = 1;
  std::int64_t at = 0;  // available_at, ms (informational: D1 decides).
  std::optional<std::string> group;
};

nlohmann::json EncodeEnvelope(const Envelope& envelope);
// The size of the serialized envelope (what the queue counts, minus its 100-byte overhead).
std::size_t EnvelopeBytes(const Envelope& envelope);
// The same for an envelope of these fields, without making one.
std::size_t EnvelopeBytes(std::string_view queue, std::string_view id, std::int64_t gen,
                          std::int64_t at, std::optional<std::string_view> group);

enum class EnvelopeKind {
  kValid,       // A cfq/1 envelope.
  kNewerMajor,  // cfq/N with N > 1: retried later (rolling deploys).
  kForeign,     // Not an engine message, or malformed: quarantined.
};

struct DecodedEnvelope {
  EnvelopeKind kind = EnvelopeKind::kForeign;
  Envelope envelope;   // kValid only.
  std::string reason;  // kForeign: why.
};

// Never fails: anything that is not a valid envelope is classified, with a reason.
DecodedEnvelope DecodeEnvelope(const platform::Body& body);

// The message body as text for a dead-letter row (JSON as compact text, bytes as hex).
std::string BodyText(const platform::Body& body);

}  // namespace cfemu::engine
