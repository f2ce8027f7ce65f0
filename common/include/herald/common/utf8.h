// UTF-8 validation for payloads that browsers will receive as text.
#pragma once

#include "absl/strings/string_view.h"

namespace herald::common {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

}  // namespace herald::common
