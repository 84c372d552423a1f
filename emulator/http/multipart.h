// multipart/form-data bodies (RFC 7578), as the official Cloudflare client sends KV values with
// their metadata: parts separated by a boundary, each with headers (Content-Disposition names
// it) and raw content.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cfemu::emulator {

struct MultipartPart {
  std::string name;      // Content-Disposition name.
  std::string filename;  // Content-Disposition filename; empty when absent.
  std::string content;
};

// True when `content_type` is multipart/form-data (any parameters).
bool IsMultipartFormData(std::string_view content_type);
// The parts of `body`; nullopt when the boundary is missing or the body is malformed, or it has
// more than `max_parts` parts.
std::optional<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type,
                                                         std::string_view body,
                                                         std::size_t max_parts = 16);

}  // namespace cfemu::emulator
