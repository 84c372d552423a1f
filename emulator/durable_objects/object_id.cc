#include "emulator/durable_objects/object_id.h"

#include "src/core/ids.h"

namespace cfemu::emulator {

namespace {

std::string Hex64(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = kDigits[(value >> (60 - 4 * i)) & 0xf];
  return out;
}

}  // namespace

std::string ObjectIdCodec::Check(std::string_view body) const {
  std::string key = namespace_id_;
  key.push_back('\0');
  key.append(body);
  return Hex64(core::Mix64(core::Fnv1a64(key)));
}

platform::DurableObjectId ObjectIdCodec::FromName(std::string_view name) const {
  std::string key = namespace_id_;
  key.push_back('\0');
  key.append(name);
  const std::string body =
      core::DeriveHexId("do-name", key) + Hex64(core::Mix64(core::Fnv1a64(key)));
  return platform::DurableObjectId(body + Check(body), std::string(name));
}

platform::DurableObjectId ObjectIdCodec::NewUnique(core::Random& random) const {
  const std::string body = random.Hex(24);
  return platform::DurableObjectId(body + Check(body), std::nullopt);
}

core::Result<platform::DurableObjectId> ObjectIdCodec::FromString(std::string_view hex) const {
  if (!core::IsLowerHex(hex, 64)) {
    return core::Status::InvalidArgument("Invalid Durable Object ID: must be 64 hex digits");
  }
  const std::string_view body = hex.substr(0, 48);
  if (Check(body) != hex.substr(48)) {
    return core::Status::InvalidArgument(
        "Invalid Durable Object ID. The ID does not match this Durable Object class.");
  }
  return platform::DurableObjectId(std::string(hex), std::nullopt);
}

}  // namespace cfemu::emulator
