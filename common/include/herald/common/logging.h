// Logging for every Herald binary: spdlog, one line per record, to stderr.
//
//   herald::common::InitLogging("herald-fanout");   // after ParseFlags()
//   spdlog::info("serving on {}", address);
//
// The level comes from --log_level (or HERALD_LOG_LEVEL).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace herald::common {

// Names the default logger after the component, sets the pattern and the level
// from --log_level (trace, debug, info, warn, error, off). Call once, from main.
void InitLogging(absl::string_view component);

}  // namespace herald::common

// Debian's Abseil has its own string_view type (not std::string_view), which
// fmt does not know; these let log calls take it and absl::Status directly.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(const absl::Status& s, Context& ctx) const {
    const std::string text = s.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};
