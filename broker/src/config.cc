#include "herald/broker/config.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace herald::broker {

absl::StatusOr<PropertyMap> ParseProperties(absl::string_view text) {
  PropertyMap properties;
  if (absl::StripAsciiWhitespace(text).empty()) return properties;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka property '", item, "' is not of the form key=value"));
    }
    std::string key(absl::StripAsciiWhitespace(item.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(item.substr(eq + 1)));
    if (!properties.emplace(key, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property '", key, "' is given twice"));
    }
  }
  return properties;
}

absl::Status ValidateBootstrapServers(absl::string_view servers) {
  if (absl::StripAsciiWhitespace(servers).empty()) {
    return absl::InvalidArgumentError(
        "kafka bootstrap servers are empty; give host:port[,host:port...]");
  }
  for (absl::string_view entry : absl::StrSplit(servers, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka bootstrap server '", entry, "' is not host:port"));
    }
  }
  return absl::OkStatus();
}

}  // namespace herald::broker
