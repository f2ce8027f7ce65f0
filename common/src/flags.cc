#include "herald/common/flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace herald::common {

std::string EnvVarForFlag(absl::string_view flag_name) {
  return absl::StrCat("HERALD_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyFlagEnvironment(const EnvLookup& lookup) {
  std::string errors;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    // Abseil's built-in flags live in absl/; they are not Herald's to configure.
    if (absl::StartsWith(flag->Filename(), "absl/")) continue;
    const std::string var = EnvVarForFlag(name);
    const char* value = lookup(var.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      absl::StrAppend(&errors, errors.empty() ? "" : "; ", var, "='", value,
                      "' is not a valid value for --", name, ": ", error);
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(errors);
  return absl::OkStatus();
}

std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage) {
#ifdef NDEBUG
  // Debian's Abseil is built with Mutex deadlock detection on: a lock-order
  // graph update on every acquisition, which cost the edge a tenth of its CPU
  // when writing to thousands of connections. Debug builds (the tests) keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  absl::SetProgramUsageMessage(usage);
  if (absl::Status status = ApplyFlagEnvironment([](const char* n) { return std::getenv(n); });
      !status.ok()) {
    std::fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "herald",
                 std::string(status.message()).c_str());
    std::exit(2);
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace herald::common
