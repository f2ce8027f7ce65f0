#include "herald/common/stream_name.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace herald::common {
namespace {

absl::Status ValidateName(absl::string_view what, absl::string_view name, size_t max_bytes) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is empty; it must be 1-", max_bytes, " bytes of [A-Za-z0-9._:/-]"));
  }
  if (name.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", QuoteForMessage(name), " is ", name.size(), " bytes; the limit is ", max_bytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameByte(name[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s %s has a forbidden byte 0x%02x at offset %d; allowed are [A-Za-z0-9._:/-]", what,
          QuoteForMessage(name), static_cast<unsigned char>(name[i]), i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '-';
}

absl::Status ValidateStreamName(absl::string_view name) {
  return ValidateName("stream name", name, kMaxStreamNameBytes);
}

absl::Status ValidateEventType(absl::string_view type) {
  return ValidateName("event type", type, kMaxEventTypeBytes);
}

std::string QuoteForMessage(absl::string_view text, size_t max_bytes) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > max_bytes) out += "...";
  out += "\"";
  return out;
}

}  // namespace herald::common
