// Writing JSON strings: for log lines, CLI output and HTTP error bodies.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace herald::common {

// `text` as a JSON string literal, quotes included. Control characters,
// quotes and backslashes are escaped; bytes that are not valid UTF-8 become
// U+FFFD so that the result is always valid JSON.
std::string JsonQuote(absl::string_view text);

}  // namespace herald::common
