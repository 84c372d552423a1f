#include "emulator/queues/message_codec.h"

#include <cctype>
#include <memory>

#include "src/core/limits.h"
#include "src/core/utf8.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::Body;
using platform::Json;
using platform::Text;
using platform::V8Blob;

namespace {

constexpr int kMetadataInvalid = 10203;

// JavaScript's `typeof` of what a C++ body stands for, for workerd's messages.
std::string_view TypeOfBody(const Body& body) {
  if (std::holds_alternative<Text>(body)) return "string";
  if (const auto* json = std::get_if<Json>(&body)) {
    if (json->is_string()) return "string";
    if (json->is_number()) return "number";
    if (json->is_boolean()) return "boolean";
    return "object";
  }
  return "object";
}

Status Invalid(std::string message) {
  return Status::InvalidArgument(std::move(message) + " (10203)", kMetadataInvalid);
}

// An output of nlohmann's serializer that only counts: the size of `dump()` (same escapes,
// number formats and UTF-8 checks) without building the text, once per message sent.
class CountingOutput final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char) override { ++size_; }
  void write_characters(const char*, std::size_t length) override { size_ += length; }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_ = 0;
};

Result<std::int64_t> JsonSize(const Json& json) {
  try {
    auto output = std::make_shared<CountingOutput>();
    nlohmann::detail::serializer<Json> serializer(output, ' ');
    serializer.dump(json, /*pretty_print=*/false, /*ensure_ascii=*/false, /*indent_step=*/0);
    return static_cast<std::int64_t>(output->size());
  } catch (const Json::exception& e) {
    return Invalid(std::string("Message body cannot be serialized as JSON: ") + e.what());
  }
}

}  // namespace

std::string_view ContentTypeName(ContentType type) {
  switch (type) {
    case ContentType::kText:
      return "text";
    case ContentType::kBytes:
      return "bytes";
    case ContentType::kJson:
      return "json";
    case ContentType::kV8:
      return "v8";
  }
  return "json";
}

Result<ContentType> ParseContentType(std::string_view text, bool case_insensitive) {
  std::string key(text);
  if (case_insensitive) {
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (key == "text") return ContentType::kText;
  if (key == "bytes") return ContentType::kBytes;
  if (key == "json") return ContentType::kJson;
  if (key == "v8") return ContentType::kV8;
  return Invalid("Unsupported queue message content type: " + std::string(text));
}

ContentType DefaultContentType(std::string_view compatibility_date,
                               const std::vector<std::string>& compatibility_flags) {
  for (const auto& flag : compatibility_flags) {
    if (flag == "queues_json_messages") return ContentType::kJson;
    if (flag == "no_queues_json_messages") return ContentType::kV8;
  }
  return compatibility_date >= core::limits::kQueuesJsonMessagesDate ? ContentType::kJson
                                                                     : ContentType::kV8;
}

Result<EncodedBody> EncodeBody(Body body, ContentType type) {
  constexpr std::int64_t kOverhead = core::limits::kQueueMessageOverheadBytes;
  if (const auto* json = std::get_if<Json>(&body); json != nullptr && json->is_discarded()) {
    return Invalid("Message body cannot be undefined");
  }
  if (const auto* text = std::get_if<Text>(&body);
      text != nullptr && !core::IsValidUtf8(text->value)) {
    return Invalid("Message body is not valid UTF-8 text");
  }
  switch (type) {
    case ContentType::kText: {
      if (const auto* json = std::get_if<Json>(&body); json != nullptr && json->is_string()) {
        std::string value = json->get<std::string>();
        const auto size = static_cast<std::int64_t>(value.size()) + kOverhead;
        return EncodedBody{type, Body(std::in_place_type<Text>, Text{std::move(value)}), size};
      }
      const auto* text = std::get_if<Text>(&body);
      if (text == nullptr) {
        return Invalid("Content Type \"text\" requires a value of type string, but received: " +
                       std::string(TypeOfBody(body)));
      }
      const auto size = static_cast<std::int64_t>(text->value.size()) + kOverhead;
      return EncodedBody{type, std::move(body), size};
    }
    case ContentType::kBytes: {
      const auto* bytes = std::get_if<core::Bytes>(&body);
      if (bytes == nullptr) {
        return Invalid(
            "Content Type \"bytes\" requires a value of type ArrayBufferView, but received: " +
            std::string(TypeOfBody(body)));
      }
      const auto size = static_cast<std::int64_t>(bytes->size()) + kOverhead;
      return EncodedBody{type, std::move(body), size};
    }
    case ContentType::kJson: {
      if (auto* text = std::get_if<Text>(&body)) {
        Json json(std::move(text->value));
        auto size = JsonSize(json);
        if (!size.ok()) return size.status();
        return EncodedBody{type, Body(std::in_place_type<Json>, std::move(json)),
                           *size + kOverhead};
      }
      const auto* json = std::get_if<Json>(&body);
      if (json == nullptr) {
        return Invalid(
            "Content Type \"json\" requires a JSON-serializable value, but received binary data "
            "(use content type \"bytes\" or \"v8\")");
      }
      auto size = JsonSize(*json);
      if (!size.ok()) return size.status();
      return EncodedBody{type, std::move(body), *size + kOverhead};
    }
    case ContentType::kV8: {
      std::int64_t size = 0;
      if (const auto* text = std::get_if<Text>(&body)) {
        size = static_cast<std::int64_t>(text->value.size());
      } else if (const auto* bytes = std::get_if<core::Bytes>(&body)) {
        size = static_cast<std::int64_t>(bytes->size());
      } else if (const auto* blob = std::get_if<V8Blob>(&body)) {
        size = static_cast<std::int64_t>(blob->bytes.size());
      } else {
        auto json_size = JsonSize(std::get<Json>(body));
        if (!json_size.ok()) return json_size.status();
        size = *json_size;
      }
      return EncodedBody{type, std::move(body), size + kOverhead};
    }
  }
  return Invalid("unknown content type");
}

}  // namespace cfemu::emulator
