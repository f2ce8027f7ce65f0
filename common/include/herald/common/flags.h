// Command-line flags with environment fallbacks.
//
// Every Herald binary takes Abseil flags. Each flag can also be set from the
// environment as HERALD_<FLAG_NAME_IN_CAPITALS>; a flag given on the command
// line wins over the environment, and the environment wins over the default.
//
//   ABSL_FLAG(std::string, kafka_bootstrap, "127.0.0.1:9092", "Kafka bootstrap servers");
//   int main(int argc, char** argv) {
//     herald::common::ParseFlags(argc, argv, "herald-publisher: gRPC in, Kafka out");
//     ...  // HERALD_KAFKA_BOOTSTRAP=10.0.0.5:9092 herald-publisher works too
//   }
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace herald::common {

// Looks up an environment variable; returns nullptr where it is not set.
using EnvLookup = std::function<const char*(const char*)>;

// The environment variable that sets `flag_name`: "kafka_bootstrap" gives
// "HERALD_KAFKA_BOOTSTRAP".
std::string EnvVarForFlag(absl::string_view flag_name);

// Sets every registered flag whose HERALD_* variable `lookup` finds. Abseil's own
// flags (--flagfile, --help, ...) are left alone. Returns InvalidArgument naming
// the variable and the flag's complaint when a value does not parse; every
// well-formed variable is still applied.
absl::Status ApplyFlagEnvironment(const EnvLookup& lookup);

// Sets the usage message, applies the environment, then parses argv (which
// overrides it). In release builds (NDEBUG) it also turns off Abseil's Mutex
// deadlock detection, which Debian's Abseil leaves on. Exits with a message on a bad flag or a bad
// environment value, as absl::ParseCommandLine does. Returns the positional arguments.
std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage);

}  // namespace herald::common
