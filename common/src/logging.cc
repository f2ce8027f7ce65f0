#include "herald/common/logging.h"

#include <string>

#include "absl/flags/flag.h"
#include "spdlog/sinks/stdout_sinks.h"

ABSL_FLAG(std::string, log_level, "info", "Log level: trace, debug, info, warn, error or off");

namespace herald::common {

void InitLogging(absl::string_view component) {
  auto logger = spdlog::stderr_logger_mt(std::string(component));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%L%$ %n[%t] %v");
  const std::string level = absl::GetFlag(FLAGS_log_level);
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    logger->warn("unknown --log_level '{}'; using info", level);
    logger->set_level(spdlog::level::info);
  } else {
    logger->set_level(parsed);
  }
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace herald::common
