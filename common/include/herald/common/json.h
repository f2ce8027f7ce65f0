// JSON for HTTP bodies, log lines and CLI output: quoting strings, and
// reading an object's members without reformatting their values.
//
//   absl::StatusOr<JsonMembers> body = ParseJsonObject(R"({"type":"t","data":{"a":1}})");
//   body->at("data") == R"({"a":1})";          // the value's text, as sent
//   JsonUnquote(body->at("type")).value() == "t";
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::common {

// `text` as a JSON string literal, quotes included. Control characters,
// quotes and backslashes are escaped; bytes that are not valid UTF-8 become
// U+FFFD so that the result is always valid JSON.
std::string JsonQuote(absl::string_view text);

// Top-level member name (unescaped) -> the member's value exactly as it
// appears in the text (whitespace around it trimmed).
using JsonMembers = std::map<std::string, absl::string_view>;

// Validates `text` as one JSON object (RFC 8259: strings must be valid UTF-8,
// nesting at most `max_depth` deep) and returns its top-level members.
// InvalidArgument says what is wrong and at which byte; a repeated member
// name is refused.
absl::StatusOr<JsonMembers> ParseJsonObject(absl::string_view text, int max_depth = 64);

// The string a JSON string literal (quotes included) stands for;
// InvalidArgument if `literal` is not one.
absl::StatusOr<std::string> JsonUnquote(absl::string_view literal);

}  // namespace herald::common
