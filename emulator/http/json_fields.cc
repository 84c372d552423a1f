#include "emulator/http/json_fields.h"

#include <algorithm>
#include <cmath>

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

const Json* FieldOf(const Json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// The deepest nesting of arrays and objects, outside strings. Deep values are refused before
// parsing: serializing them again (a message body, on pull) recurses once per level.
int NestingDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Status Invalid(std::string_view name, std::string_view want, int code) {
  return Status::InvalidArgument(std::string(name) + " must be " + std::string(want), code);
}

}  // namespace

Result<Json> ParseJsonBody(const HttpRequest& request, JsonCodes codes, bool object) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  if (NestingDepth(request.body) > kMaxJsonDepth) {
    return Status::InvalidArgument(
        "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", codes.invalid);
  }
  Json value = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return Status::InvalidArgument("Malformed JSON in request body", codes.malformed);
  }
  if (object && !value.is_object()) {
    return Status::InvalidArgument("The request body must be a JSON object", codes.invalid);
  }
  return value;
}

Result<std::optional<std::int64_t>> IntField(const Json& object, std::string_view name,
                                             std::int64_t min, std::int64_t max, int code) {
  const Json* field = FieldOf(object, name);
  if (field == nullptr) return std::optional<std::int64_t>();
  const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  std::int64_t value = 0;
  if (field->is_number_integer() && !field->is_number_unsigned()) {
    value = field->get<std::int64_t>();
  } else if (field->is_number_unsigned()) {
    const auto u = field->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) return Invalid(name, range, code);
    value = static_cast<std::int64_t>(u);
  } else if (field->is_number_float()) {
    const double d = field->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) ||
        d > static_cast<double>(max)) {
      return Invalid(name, range, code);
    }
    value = static_cast<std::int64_t>(d);
  } else {
    return Invalid(name, range, code);
  }
  if (value < min || value > max) return Invalid(name, range, code);
  return std::optional<std::int64_t>(value);
}

Result<std::optional<std::string>> StringField(const Json& object, std::string_view name,
                                               int code) {
  const Json* field = FieldOf(object, name);
  if (field == nullptr) return std::optional<std::string>();
  if (!field->is_string()) return Invalid(name, "a string", code);
  return std::optional<std::string>(field->get<std::string>());
}

Result<std::optional<bool>> BoolField(const Json& object, std::string_view name, int code) {
  const Json* field = FieldOf(object, name);
  if (field == nullptr) return std::optional<bool>();
  if (!field->is_boolean()) return Invalid(name, "a boolean", code);
  return std::optional<bool>(field->get<bool>());
}

Result<Json> ArrayField(const Json& object, std::string_view name, int code) {
  const Json* field = FieldOf(object, name);
  if (field == nullptr) return Json::array();
  if (!field->is_array()) return Invalid(name, "an array", code);
  return *field;
}

Result<std::optional<std::int64_t>> QueryInt(
    const std::map<std::string, std::string, std::less<>>& query, int code, std::string_view name,
    std::int64_t min, std::int64_t max) {
  const auto it = query.find(name);
  if (it == query.end() || it->second.empty()) return std::optional<std::int64_t>();
  const Json parsed = Json::parse(it->second, nullptr, false);
  return IntField(Json{{std::string(name), parsed}}, name, min, max, code);
}

}  // namespace cfemu::emulator
