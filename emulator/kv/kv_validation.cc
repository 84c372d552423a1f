#include "emulator/kv/kv_validation.h"

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "src/core/utf8.h"

namespace cfemu::emulator::kv {

using core::Code;
using core::Result;
using core::Status;

namespace {

std::string KeyTooLongText(std::size_t bytes, const KvLimits& limits) {
  return "UTF-8 encoded length of " + std::to_string(bytes) + " exceeds key length limit of " +
         std::to_string(limits.max_key_bytes) + ".";
}

std::string SecondsText(core::Duration d) {
  // JavaScript passes whole seconds; a fractional Duration prints as milliseconds / 1000.
  if (d.ms() % 1000 == 0) return std::to_string(d.ms() / 1000);
  std::string text = std::to_string(d.ms() / 1000) + ".";
  std::string fraction = std::to_string((d.ms() < 0 ? -d.ms() : d.ms()) % 1000);
  while (fraction.size() < 3) fraction.insert(0, "0");
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  return text + fraction;
}

void AppendUtf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

constexpr std::uint32_t kReplacement = 0xfffd;
constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

Status ServiceError(Code code, std::string_view method, int http_status, std::string_view text) {
  if (method.empty()) return Status(code, std::string(text));
  std::string message = "KV ";
  message += method;
  message += " failed: ";
  message += std::to_string(http_status);
  message += ' ';
  message += text;
  return Status(code, std::move(message));
}

Status CheckKeyName(std::string_view method, std::string_view key, const KvLimits& limits) {
  if (key.empty()) return Status::InvalidArgument("Key name cannot be empty.");
  if (key == ".") return Status::InvalidArgument("\".\" is not allowed as a key name.");
  if (key == "..") return Status::InvalidArgument("\"..\" is not allowed as a key name.");
  if (static_cast<std::int64_t>(key.size()) > limits.max_key_bytes) {
    return ServiceError(Code::kTooLarge, method, 414, KeyTooLongText(key.size(), limits));
  }
  if (!core::IsValidUtf8(key)) return Status::InvalidArgument("Key name is not valid UTF-8.");
  return Status::Ok();
}

Status CheckServiceKey(std::string_view method, std::string_view key, const KvLimits& limits) {
  if (key.empty()) {
    return ServiceError(Code::kInvalidArgument, method, 400, "Key names must not be empty");
  }
  if (key == "." || key == "..") {
    return ServiceError(
        Code::kInvalidArgument, method, 400,
        "Illegal key name \"" + std::string(key) + "\". Please use a different name.");
  }
  if (static_cast<std::int64_t>(key.size()) > limits.max_key_bytes) {
    return ServiceError(Code::kTooLarge, method, 414, KeyTooLongText(key.size(), limits));
  }
  if (!core::IsValidUtf8(key)) {
    return ServiceError(Code::kInvalidArgument, method, 400, "Could not URL-decode key name");
  }
  return Status::Ok();
}

Status CheckPutValue(const platform::KvPutValue& value) {
  if (const auto* text = std::get_if<std::string>(&value); text && !core::IsValidUtf8(*text)) {
    return Status::InvalidArgument(
        "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as "
        "values; this text is not valid UTF-8 (pass Bytes for binary values).");
  }
  return Status::Ok();
}

std::int64_t PutValueBytes(const platform::KvPutValue& value) {
  return std::visit([](const auto& v) { return static_cast<std::int64_t>(v.size()); }, value);
}

Result<std::optional<std::int64_t>> ResolveExpiration(std::string_view method,
                                                      const platform::KvPutOptions& options,
                                                      core::Instant now, const KvLimits& limits) {
  const std::int64_t now_s = now.unix_ms() / 1000;
  const std::int64_t min_s = limits.min_expiration_ttl.seconds();
  if (options.expiration_ttl) {
    const std::int64_t ttl = *options.expiration_ttl;
    const std::string head = "Invalid expiration_ttl of " + std::to_string(ttl) + ". ";
    if (ttl <= 0) {
      return ServiceError(Code::kInvalidArgument, method, 400,
                          head + "Please specify integer greater than 0.");
    }
    if (ttl < min_s) {
      return ServiceError(Code::kInvalidArgument, method, 400,
                          head + "Expiration TTL must be at least " + std::to_string(min_s) + ".");
    }
    return std::optional<std::int64_t>(now_s + ttl);
  }
  if (options.expiration) {
    const std::int64_t at = *options.expiration;
    const std::string head = "Invalid expiration of " + std::to_string(at) + ". ";
    if (at <= now_s) {
      return ServiceError(Code::kInvalidArgument, method, 400,
                          head +
                              "Please specify integer greater than the current number of "
                              "seconds since the UNIX epoch.");
    }
    if (at < now_s + min_s) {
      return ServiceError(Code::kInvalidArgument, method, 400,
                          head + "Expiration times must be at least " + std::to_string(min_s) +
                              " seconds in the future.");
    }
    return std::optional<std::int64_t>(at);
  }
  return std::optional<std::int64_t>();
}

Result<std::optional<nlohmann::json>> CheckMetadata(std::string_view method,
                                                    const std::optional<nlohmann::json>& metadata,
                                                    const KvLimits& limits) {
  // workerd sends no metadata for null (and JavaScript has no way to send undefined).
  if (!metadata || metadata->is_null() || metadata->is_discarded()) {
    return std::optional<nlohmann::json>();
  }
  // JSON.stringify leaves non-ASCII characters unescaped, as dump() does by default.
  const std::size_t bytes = metadata->dump().size();
  if (static_cast<std::int64_t>(bytes) > limits.max_metadata_bytes) {
    return ServiceError(Code::kTooLarge, method, 413,
                        "Metadata length of " + std::to_string(bytes) + " exceeds limit of " +
                            std::to_string(limits.max_metadata_bytes) + ".");
  }
  return metadata;
}

Status CheckValueSize(std::string_view method, std::int64_t bytes, const KvLimits& limits) {
  if (bytes > limits.max_value_bytes) {
    return ServiceError(Code::kTooLarge, method, 413,
                        "Value length of " + std::to_string(bytes) + " exceeds limit of " +
                            std::to_string(limits.max_value_bytes) + ".");
  }
  return Status::Ok();
}

Result<core::Duration> ResolveCacheTtl(std::string_view method,
                                       const std::optional<core::Duration>& cache_ttl,
                                       const KvLimits& limits) {
  if (!cache_ttl) return limits.default_cache_ttl;
  if (*cache_ttl < limits.min_cache_ttl) {
    return ServiceError(Code::kInvalidArgument, method, 400,
                        "Invalid cache_ttl of " + SecondsText(*cache_ttl) +
                            ". Cache TTL must be at least " + SecondsText(limits.min_cache_ttl) +
                            ".");
  }
  return *cache_ttl;
}

Result<int> ResolveListLimit(std::string_view method, int limit, const KvLimits& limits) {
  if (limit <= 0) return static_cast<int>(limits.max_list_limit);
  if (limit > limits.max_list_limit) {
    return ServiceError(Code::kInvalidArgument, method, 400,
                        "Invalid key_count_limit of " + std::to_string(limit) +
                            ". Please specify an integer less than " +
                            std::to_string(limits.max_list_limit) + ".");
  }
  return limit;
}

Status CheckListPrefix(std::string_view method, std::string_view prefix, const KvLimits& limits) {
  if (static_cast<std::int64_t>(prefix.size()) > limits.max_key_bytes) {
    return ServiceError(Code::kTooLarge, method, 414, KeyTooLongText(prefix.size(), limits));
  }
  if (!core::IsValidUtf8(prefix)) {
    return ServiceError(Code::kInvalidArgument, method, 400, "Invalid prefix");
  }
  return Status::Ok();
}

std::string EncodeCursor(std::string_view key) {
  // base64url without padding: opaque to callers, safe in URLs, exact for any bytes.
  std::string out;
  out.reserve((key.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : key) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> DecodeCursor(std::string_view cursor) {
  std::array<int, 256> index;
  index.fill(-1);
  for (std::size_t i = 0; i < kBase64Url.size(); ++i) {
    index[static_cast<unsigned char>(kBase64Url[i])] = static_cast<int>(i);
  }
  if (cursor.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : cursor) {
    const int value = index[static_cast<unsigned char>(c)];
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero padding, so each key has exactly one cursor.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string_view TypeName(platform::KvType type) {
  switch (type) {
    case platform::KvType::kText:
      return "text";
    case platform::KvType::kJson:
      return "json";
    case platform::KvType::kArrayBuffer:
      return "arrayBuffer";
    case platform::KvType::kStream:
      return "stream";
  }
  return "text";
}

std::string DecodeUtf8Lossy(std::string_view bytes) {
  if (core::IsValidUtf8(bytes)) return std::string(bytes);
  // The WHATWG UTF-8 decoder: each maximal invalid subpart becomes one U+FFFD.
  std::string out;
  out.reserve(bytes.size() + 8);
  std::uint32_t code = 0;
  int needed = 0;
  int seen = 0;
  unsigned lower = 0x80;
  unsigned upper = 0xbf;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const unsigned b = static_cast<unsigned char>(bytes[i]);
    if (needed == 0) {
      if (b <= 0x7f) {
        out.push_back(static_cast<char>(b));
      } else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        code = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0) lower = 0xa0;
        if (b == 0xed) upper = 0x9f;
        needed = 2;
        code = b & 0x0f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0) lower = 0x90;
        if (b == 0xf4) upper = 0x8f;
        needed = 3;
        code = b & 0x07;
      } else {
        AppendUtf8(out, kReplacement);
      }
      continue;
    }
    if (b < lower || b > upper) {
      code = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      AppendUtf8(out, kReplacement);
      --i;  // Reprocess this byte as the start of a new sequence.
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    code = (code << 6) | (b & 0x3f);
    if (++seen == needed) {
      AppendUtf8(out, code);
      code = 0;
      needed = seen = 0;
    }
  }
  if (needed != 0) AppendUtf8(out, kReplacement);
  return out;
}

Result<nlohmann::json> ParseJsonValue(std::string_view text) {
  const std::string decoded = DecodeUtf8Lossy(text);
  std::size_t at = 0;
  try {
    return nlohmann::json::parse(decoded);
  } catch (const nlohmann::json::parse_error& error) {
    at = error.byte == 0 ? 0 : error.byte - 1;  // `byte` counts from 1.
  }
  if (at >= decoded.size() || decoded.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument("SyntaxError: Unexpected end of JSON input");
  }
  // V8 names the offending character and quotes the input, shortened when long.
  const unsigned lead = static_cast<unsigned char>(decoded[at]);
  const std::size_t width = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  const std::string quoted =
      decoded.size() > 32 ? "\"" + decoded.substr(0, 32) + "\"..." : "\"" + decoded + "\"";
  return Status::InvalidArgument("SyntaxError: Unexpected token '" + decoded.substr(at, width) +
                                 "', " + quoted + " is not valid JSON");
}

}  // namespace cfemu::emulator::kv
