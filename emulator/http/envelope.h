// The Cloudflare v4 API envelope (cloudflare-platform.md §6): every JSON response, success or
// failure, is {"success", "errors": [{"code", "message"}], "messages", "result"} plus
// "result_info" where a list is paginated. Failures use HTTP 4xx/5xx, success false and result
// null. Error codes are production's where documented; the few production does not document
// are marked as cfemu's choice.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "emulator/http/message.h"
#include "src/core/status.h"

namespace cfemu::emulator {

using Json = nlohmann::json;

namespace cf_code {
inline constexpr int kInvalidRequestHeaders = 6003;  // Unparseable request (bad HTTP).
inline constexpr int kMalformedJson = 6007;          // "Malformed JSON in request body".
inline constexpr int kBodyTooLarge = 6008;           // cfemu's choice: request body too large.
inline constexpr int kNoRoute = 7000;                // "No route for that URI".
inline constexpr int kMethodNotAllowed = 7001;       // "Method X not available for that URI."
inline constexpr int kInvalidObjectId = 7003;        // "Could not route to ..., invalid id?".
inline constexpr int kAuthentication = 10000;        // "Authentication error".
inline constexpr int kQueueNotFound = 10104;
inline constexpr int kQueueAlreadyExists = 11009;  // As wrangler reports a taken queue name.
inline constexpr int kQueueIdMalformed = 10107;
inline constexpr int kQueueJsonInvalid = 10207;    // Well-formed JSON of the wrong shape.
inline constexpr int kQueueJsonMalformed = 10208;  // Not JSON at all.
inline constexpr int kQueueInternal = 15000;
}  // namespace cf_code

// Serializes for the wire: invalid UTF-8 from a client (echoed in an error) is replaced, never
// thrown on.
std::string DumpJson(const Json& value);

HttpResponse JsonResponse(int status, const Json& body);
HttpResponse Success(Json result, std::optional<Json> result_info = std::nullopt);
HttpResponse Failure(int http_status, int code, std::string message);
// A Status as a failure: its cf_code (or `fallback_code`), its message without the trailing
// " (<code>)" the binding API appends, and the HTTP status of its Code.
HttpResponse FailureFrom(const core::Status& status, int fallback_code);
int HttpStatusFor(core::Code code);

}  // namespace cfemu::emulator
