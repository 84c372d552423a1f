#include "emulator/http/envelope.h"

#include <utility>

namespace cfemu::emulator {

using core::Code;

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse response;
  response.status = status;
  response.body = DumpJson(body);
  return response;
}

HttpResponse Success(Json result, std::optional<Json> result_info) {
  Json body = {{"success", true},
               {"errors", Json::array()},
               {"messages", Json::array()},
               {"result", std::move(result)}};
  if (result_info) body["result_info"] = std::move(*result_info);
  return JsonResponse(200, body);
}

HttpResponse Failure(int http_status, int code, std::string message) {
  Json error = {{"code", code}, {"message", std::move(message)}};
  Json body = {{"success", false},
               {"errors", Json::array({std::move(error)})},
               {"messages", Json::array()},
               {"result", nullptr}};
  return JsonResponse(http_status, body);
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kTooLarge:
    case Code::kFailedPrecondition:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kNotInState:
    case Code::kLeaseLost:
      return 409;
    case Code::kOverloaded:
    case Code::kResourceExhausted:
    case Code::kRateLimited:
      return 429;
    case Code::kUnavailable:
    case Code::kCancelled:
      return 503;
    case Code::kTimeout:
      return 504;
    default:
      return 500;
  }
}

HttpResponse FailureFrom(const core::Status& status, int fallback_code) {
  const int code = status.cf_code() != 0 ? status.cf_code() : fallback_code;
  std::string message = status.message();
  const std::string suffix = " (" + std::to_string(code) + ")";
  if (message.size() > suffix.size() &&
      message.compare(message.size() - suffix.size(), suffix.size(), suffix) == 0) {
    message.resize(message.size() - suffix.size());
  }
  return Failure(HttpStatusFor(status.code()), code, std::move(message));
}

}  // namespace cfemu::emulator
