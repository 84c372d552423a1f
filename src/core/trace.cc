#include "src/core/trace.h"

#include <algorithm>
#include <ostream>

#include "src/core/status.h"

namespace cfemu::core {

namespace {

struct KeyRef {
  std::string_view key;
  const TraceValue* value;       // Null for the three built-in fields.
  std::int64_t builtin_int;      // For `t`.
  std::string_view builtin_str;  // For `ev` and `actor`.
  bool is_int;
};

void AppendValue(std::string& out, const TraceValue& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    out += std::to_string(*i);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    AppendJsonString(out, *s);
  } else {
    out += std::get<bool>(value) ? "true" : "false";
  }
}

}  // namespace

const TraceValue* TraceRecord::Find(std::string_view key) const {
  for (const auto& field : fields) {
    if (field.key == key) return &field.value;
  }
  return nullptr;
}

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  // Runs of characters that need no escape are copied at once: ids, names and queue names
  // are usually one run.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        static constexpr char kDigits[] = "0123456789abcdef";
        out += "\\u00";
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 0xf]);
      }
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

void TraceSink::Emit(std::string_view actor, const TraceEvent& event) {
  if (!enabled_) return;
  CHECK_MSG(clock_ != nullptr, "TraceSink has no clock");
  const Instant t = clock_->Now();

  std::vector<KeyRef> keys;
  keys.reserve(event.fields().size() + 3);
  keys.push_back({"actor", nullptr, 0, actor, false});
  keys.push_back({"ev", nullptr, 0, event.name(), false});
  keys.push_back({"t", nullptr, t.unix_ms(), {}, true});  // Virtual Unix milliseconds.
  for (const auto& field : event.fields()) keys.push_back({field.key, &field.value, 0, {}, false});
  std::sort(keys.begin(), keys.end(),
            [](const KeyRef& a, const KeyRef& b) { return a.key < b.key; });

  std::string& line = scratch_;
  line.clear();
  line.push_back('{');
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) {
      CHECK_MSG(keys[i].key != keys[i - 1].key, std::string(keys[i].key));
      line.push_back(',');
    }
    AppendJsonString(line, keys[i].key);
    line.push_back(':');
    if (keys[i].value != nullptr) {
      AppendValue(line, *keys[i].value);
    } else if (keys[i].is_int) {
      line += std::to_string(keys[i].builtin_int);
    } else {
      AppendJsonString(line, keys[i].builtin_str);
    }
  }
  line.push_back('}');

  for (unsigned char c : line) {
    hash_ ^= c;
    hash_ *= 0x100000001b3ULL;
  }
  hash_ ^= static_cast<unsigned char>('\n');
  hash_ *= 0x100000001b3ULL;
  ++events_;

  if (stream_ != nullptr) *stream_ << line << '\n';
  if (!observers_.empty()) {
    const TraceRecord record{t, event.name(), actor, event.fields(), line};
    for (const auto& observer : observers_) observer(record);
  }
  if (keep_lines_) lines_.push_back(line);
}

std::string TraceSink::HashHex() const { return FormatHash(hash_); }

std::string FormatHash(std::uint64_t hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = kDigits[(hash >> (60 - 4 * i)) & 0xf];
  return out;
}

}  // namespace cfemu::core
