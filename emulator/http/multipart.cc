#include "emulator/http/multipart.h"

#include <cctype>

namespace cfemu::emulator {

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of `key=` in a header's parameters ("; name=\"value\""), unquoted.
std::string Parameter(std::string_view header, std::string_view key) {
  const std::string lower = Lower(header);
  std::size_t at = 0;
  while ((at = lower.find(key, at)) != std::string::npos) {
    const bool starts = at == 0 || lower[at - 1] == ';' || lower[at - 1] == ' ';
    if (starts && at + key.size() < lower.size() && lower[at + key.size()] == '=') break;
    at += key.size();
  }
  if (at == std::string::npos) return "";
  std::string_view rest = header.substr(at + key.size() + 1);
  if (!rest.empty() && rest.front() == '"') {
    rest.remove_prefix(1);
    return std::string(rest.substr(0, rest.find('"')));
  }
  return std::string(rest.substr(0, rest.find(';')));
}

// Reads one part's headers; false when they do not end with a blank line.
bool ReadHeaders(std::string_view& rest, MultipartPart& part) {
  const std::size_t end = rest.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::string_view headers = rest.substr(0, end);
  rest.remove_prefix(end + 4);
  while (!headers.empty()) {
    const std::size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (Lower(line.substr(0, colon)) != "content-disposition") continue;
    part.name = Parameter(line.substr(colon + 1), "name");
    part.filename = Parameter(line.substr(colon + 1), "filename");
  }
  return true;
}

}  // namespace

bool IsMultipartFormData(std::string_view content_type) {
  return Lower(content_type.substr(0, 19)) == "multipart/form-data";
}

std::optional<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type,
                                                         std::string_view body,
                                                         std::size_t max_parts) {
  if (!IsMultipartFormData(content_type)) return std::nullopt;
  const std::string boundary = Parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) return std::nullopt;
  const std::string delimiter = "--" + boundary;
  const std::size_t first = body.find(delimiter);
  if (first == std::string_view::npos) return std::nullopt;
  std::string_view rest = body.substr(first + delimiter.size());
  std::vector<MultipartPart> parts;
  while (true) {
    if (rest.substr(0, 2) == "--") return parts;  // The closing delimiter.
    if (rest.substr(0, 2) != "\r\n" || parts.size() >= max_parts) return std::nullopt;
    rest.remove_prefix(2);
    MultipartPart part;
    if (!ReadHeaders(rest, part)) return std::nullopt;
    const std::size_t end = rest.find("\r\n" + delimiter);
    if (end == std::string_view::npos) return std::nullopt;
    part.content = std::string(rest.substr(0, end));
    rest.remove_prefix(end + 2 + delimiter.size());
    parts.push_back(std::move(part));
  }
}

}  // namespace cfemu::emulator
