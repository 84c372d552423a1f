#include "src/engine/envelope.h"

#include <charconv>
#include <string>

#include "src/core/trace.h"
#include "src/engine/queue_config.h"

namespace cfemu::engine {

using Json = nlohmann::json;

Json EncodeEnvelope(const Envelope& envelope) {
  // Built member by member: an initializer list copies every value through json_ref wrappers
  // and was most of the cost of a send.
  Json out(Json::value_t::object);
  auto& members = out.get_ref<Json::object_t&>();
  members.emplace("p", kProtocol);
  members.emplace("q", envelope.queue);
  members.emplace("id", envelope.id);
  members.emplace("gen", envelope.gen);
  members.emplace("at", envelope.at);
  if (envelope.group) members.emplace("g", *envelope.group);
  return out;
}

namespace {

// The length of `text` as a JSON string in nlohmann's compact dump, quotes included: a quote,
// a backslash, backspace, form feed, newline, return and tab take two bytes, other control
// characters six (u00XX), the rest one.
std::size_t JsonStringBytes(std::string_view text) {
  std::size_t bytes = text.size() + 2;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      bytes += 1;
    } else if (c < 0x20) {
      bytes += 5;
    }
  }
  return bytes;
}

std::size_t DigitCount(std::int64_t n) {
  std::size_t digits = n < 0 ? 2 : 1;
  for (std::int64_t rest = n / 10; rest != 0; rest /= 10) ++digits;
  return digits;
}

}  // namespace

std::size_t EnvelopeBytes(std::string_view queue, std::string_view id, std::int64_t gen,
                          std::int64_t at, std::optional<std::string_view> group) {
  // The compact serialization's length, computed without building it: the keys and
  // punctuation, the escaped strings and the digits.
  std::size_t bytes = std::string_view(R"({"at":,"gen":,"id":,"p":"cfq/1","q":})").size();
  bytes += JsonStringBytes(queue) + JsonStringBytes(id) + DigitCount(gen) + DigitCount(at);
  if (group) bytes += std::string_view(R"(,"g":)").size() + JsonStringBytes(*group);
  return bytes;
}

std::size_t EnvelopeBytes(const Envelope& envelope) {
  std::optional<std::string_view> group;
  if (envelope.group) group = *envelope.group;
  return EnvelopeBytes(envelope.queue, envelope.id, envelope.gen, envelope.at, group);
}

namespace {

DecodedEnvelope Foreign(std::string reason) {
  DecodedEnvelope out;
  out.kind = EnvelopeKind::kForeign;
  out.reason = std::move(reason);
  return out;
}

// "cfq/<major>" -> major, or 0 when the text is not of that form.
int ProtocolMajor(std::string_view protocol) {
  if (protocol.rfind("cfq/", 0) != 0) return 0;
  std::string_view digits = protocol.substr(4);
  const auto dot = digits.find('.');
  if (dot != std::string_view::npos) digits = digits.substr(0, dot);
  int major = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), major);
  if (error != std::errc() || end != digits.data() + digits.size()) return 0;
  return major;
}

bool IsInt(const Json& value) { return value.is_number_integer() || value.is_number_unsigned(); }

}  // namespace

DecodedEnvelope DecodeEnvelope(const platform::Body& body) {
  const Json* json = std::get_if<Json>(&body);
  Json parsed;
  if (json == nullptr) {
    // A text body may still carry JSON (a producer that sent with content type text).
    const auto* text = std::get_if<platform::Text>(&body);
    if (text == nullptr) return Foreign("not a JSON body");
    parsed = Json::parse(text->value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return Foreign("not a JSON body");
    json = &parsed;
  }
  if (!json->is_object()) return Foreign("not a JSON object");
  // Strings are read in place (get_ref): only the queue and id that the envelope keeps are
  // copied.
  const auto p = json->find("p");
  if (p == json->end() || !p->is_string()) return Foreign("no protocol field 'p'");
  const std::string& protocol = p->get_ref<const std::string&>();
  const int major = ProtocolMajor(protocol);
  if (major == 0) return Foreign("unknown protocol '" + protocol + "'");
  if (major > 1) {
    DecodedEnvelope out;
    out.kind = EnvelopeKind::kNewerMajor;
    out.reason = "protocol " + protocol + " is newer than cfq/1";
    return out;
  }
  const auto q = json->find("q");
  const auto id = json->find("id");
  const auto gen = json->find("gen");
  const auto at = json->find("at");
  if (q == json->end() || !q->is_string() ||
      !ValidateQueueName(q->get_ref<const std::string&>()).ok()) {
    return Foreign("malformed envelope: bad queue 'q'");
  }
  if (id == json->end() || !id->is_string() || id->get_ref<const std::string&>().empty() ||
      id->get_ref<const std::string&>().size() > 255) {
    return Foreign("malformed envelope: bad job id 'id'");
  }
  if (gen == json->end() || !IsInt(*gen) || gen->get<std::int64_t>() < 1) {
    return Foreign("malformed envelope: bad generation 'gen'");
  }
  if (at == json->end() || !IsInt(*at)) return Foreign("malformed envelope: bad time 'at'");
  DecodedEnvelope out;
  out.kind = EnvelopeKind::kValid;
  out.envelope.queue = q->get_ref<const std::string&>();
  out.envelope.id = id->get_ref<const std::string&>();
  out.envelope.gen = gen->get<std::int64_t>();
  out.envelope.at = at->get<std::int64_t>();
  const auto g = json->find("g");
  if (g != json->end()) {
    if (!g->is_string()) return Foreign("malformed envelope: bad group 'g'");
    out.envelope.group = g->get_ref<const std::string&>();
  }
  return out;
}

std::string BodyText(const platform::Body& body) {
  if (const auto* json = std::get_if<Json>(&body)) {
    return json->dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (const auto* text = std::get_if<platform::Text>(&body)) return text->value;
  const core::Bytes* bytes = nullptr;
  if (const auto* raw = std::get_if<core::Bytes>(&body)) bytes = raw;
  if (const auto* blob = std::get_if<platform::V8Blob>(&body)) bytes = &blob->bytes;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "hex:";
  for (std::uint8_t byte : *bytes) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

}  // namespace cfemu::engine
