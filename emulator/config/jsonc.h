// JSON with comments and trailing commas (wrangler's .jsonc), parsed into nlohmann::json while
// remembering where each value was written, so that a configuration error names the file, the
// line and the field ("wrangler.jsonc:12: queues.consumers[0].max_batch_size: ...").
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/core/status.h"

namespace cfemu::emulator {

struct JsoncDocument {
  nlohmann::json value;
  // Line (1-based) of every value, by its path ("queues.consumers[0].max_batch_size"; the root
  // is ""). For a member the line is where its key is written.
  std::map<std::string, int> lines;

  int LineOf(const std::string& path) const {
    const auto it = lines.find(path);
    return it == lines.end() ? 0 : it->second;
  }
};

// `//` and `/* */` comments, trailing commas in arrays and objects, and a UTF-8 byte-order mark
// are accepted. Errors: kInvalidArgument "<origin>:<line>:<column>: <what was expected>".
core::Result<JsoncDocument> ParseJsonc(std::string_view text, std::string_view origin);

}  // namespace cfemu::emulator
