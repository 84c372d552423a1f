// UTF-8 validation: Workers strings are always well-formed Unicode, so a C++ string that is not
// valid UTF-8 cannot stand for a JavaScript string and is rejected where one is expected.
#pragma once

#include <string_view>

namespace cfemu::core {

bool IsValidUtf8(std::string_view text);

}  // namespace cfemu::core
