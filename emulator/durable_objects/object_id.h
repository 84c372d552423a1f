// Durable Object ids: 64 lowercase hex digits whose last 16 are a check over the namespace and
// the first 48, so IdFromString can tell an id of this namespace from a malformed or foreign
// one (production: "not every 64-hex string is valid"). IdFromName is deterministic per
// namespace; NewUniqueId draws from the seeded random.
#pragma once

#include <string>
#include <string_view>

#include "src/core/random.h"
#include "src/core/status.h"
#include "src/platform/durable_object.h"

namespace cfemu::emulator {

class ObjectIdCodec {
 public:
  explicit ObjectIdCodec(std::string namespace_id) : namespace_id_(std::move(namespace_id)) {}

  platform::DurableObjectId FromName(std::string_view name) const;
  platform::DurableObjectId NewUnique(core::Random& random) const;
  // kInvalidArgument with production's wording for malformed or foreign ids.
  core::Result<platform::DurableObjectId> FromString(std::string_view hex) const;

 private:
  std::string Check(std::string_view body) const;
  std::string namespace_id_;
};

}  // namespace cfemu::emulator
