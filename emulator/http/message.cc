#include "emulator/http/message.h"

namespace cfemu::emulator {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Decode(std::string_view text, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

}  // namespace

bool PercentDecode(std::string_view text, std::string& out) { return Decode(text, false, out); }

bool QueryDecode(std::string_view text, std::string& out) { return Decode(text, true, out); }

std::string_view HttpRequest::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::map<std::string, std::string, std::less<>> HttpRequest::query() const {
  std::map<std::string, std::string, std::less<>> out;
  const std::string_view t = target;
  const std::size_t q = t.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string key;
    std::string value;
    // A malformed escape keeps the raw text: the route then rejects the value if it matters.
    if (!QueryDecode(pair.substr(0, eq), key)) key = std::string(pair.substr(0, eq));
    if (eq != std::string_view::npos && !QueryDecode(pair.substr(eq + 1), value)) {
      value = std::string(pair.substr(eq + 1));
    }
    out[key] = value;
  }
  return out;
}

std::string_view HttpRequest::header(std::string_view name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace cfemu::emulator
