// Message bodies as production validates and measures them: content types (text, bytes, json,
// v8; `send` matches them case-insensitively, `sendBatch` only in lowercase, as workerd does),
// the compatibility-date default (json from 2024-03-18, else v8), and the size measure of
// cpp-contract.md: bytes of the serialized body + exactly 100 bytes of metadata.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/platform/queue.h"

namespace cfemu::emulator {

enum class ContentType : std::uint8_t { kText, kBytes, kJson, kV8 };

std::string_view ContentTypeName(ContentType type);  // "text", "bytes", "json", "v8".

// Errors: kInvalidArgument "Unsupported queue message content type: <t> (10203)".
core::Result<ContentType> ParseContentType(std::string_view text, bool case_insensitive);

// json on or after 2024-03-18 or with flag queues_json_messages; v8 otherwise (or with flag
// no_queues_json_messages).
ContentType DefaultContentType(std::string_view compatibility_date,
                               const std::vector<std::string>& compatibility_flags);

struct EncodedBody {
  ContentType type;
  platform::Body body;      // As consumers receive it (a Text sent as json arrives as Json).
  std::int64_t size_bytes;  // Serialized body + kQueueMessageOverheadBytes.
};

// Checks `body` against `type` with workerd's messages (plus " (10203)"): undefined bodies,
// text needing a string, bytes needing binary, json needing a serializable value; text must
// be valid UTF-8. Never truncates or converts lossily.
core::Result<EncodedBody> EncodeBody(platform::Body body, ContentType type);

}  // namespace cfemu::emulator
