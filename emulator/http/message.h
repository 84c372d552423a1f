// Plain HTTP request and response structs: what the routers see. Only the server (server.cc)
// knows Beast; routers are pure functions over these, so they can be tested and fuzzed
// without sockets.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cfemu::emulator {

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent.
  std::string target;  // The request target as sent: path and query, percent-encoded.
  // Header names in lowercase; a repeated header keeps its last value.
  std::map<std::string, std::string, std::less<>> headers;
  std::string body;

  // The target before '?' (still percent-encoded) and the decoded query parameters.
  std::string_view path() const;
  std::map<std::string, std::string, std::less<>> query() const;
  // The header's value, or empty. `name` in lowercase.
  std::string_view header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Extra headers.
};

// Decodes %XX escapes (and nothing else: '+' stays '+', as in a path). False on a malformed
// escape.
bool PercentDecode(std::string_view text, std::string& out);
// Decodes a query component: %XX escapes and '+' as space.
bool QueryDecode(std::string_view text, std::string& out);

}  // namespace cfemu::emulator
