#include "support/kafka_env.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/process.h"

namespace herald::testing {
namespace {

std::string ReadFile(const std::string& path) {
  return std::string(absl::StripAsciiWhitespace(ReadWholeFile(path)));
}

std::string ScriptPath() { return absl::StrCat(HERALD_SOURCE_DIR, "/scripts/kafka"); }

}  // namespace

std::string TestBootstrap() {
  if (const char* b = std::getenv("HERALD_TEST_BOOTSTRAP"); b != nullptr && *b != '\0') return b;
  const char* dir = std::getenv("HERALD_TEST_KAFKA_DIR");
  std::string bootstrap = dir != nullptr ? ReadFile(absl::StrCat(dir, "/bootstrap")) : "";
  if (bootstrap.empty()) {
    ADD_FAILURE() << "no test broker: run through ctest (which starts one), or set "
                     "HERALD_TEST_BOOTSTRAP=host:port";
  }
  return bootstrap;
}

std::string UniqueName(absl::string_view prefix) {
  static std::atomic<int> counter{0};
  static const uint32_t salt = absl::Uniform<uint32_t>(absl::BitGen());
  return absl::StrCat(prefix, "-", getpid(), "-", salt, "-", counter++);
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout, absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() >= deadline) return done();
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(poll));
  }
  return true;
}

absl::StatusOr<std::unique_ptr<PrivateBroker>> PrivateBroker::Start(int brokers) {
  char pattern[] = "/tmp/herald-kafka-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = pattern;
  const std::string command =
      absl::StrCat(ScriptPath(), " start --dir ", dir, " --brokers ", brokers,
                   " --port auto --no-topic >", dir, "/start.out 2>&1");
  if (std::system(command.c_str()) != 0) {
    std::string out = ReadFile(dir + "/start.out");
    std::system(
        absl::StrCat(ScriptPath(), " stop --purge --dir ", dir, " >/dev/null 2>&1").c_str());
    return absl::UnavailableError(absl::StrCat("private broker did not start: ", out));
  }
  return std::unique_ptr<PrivateBroker>(
      new PrivateBroker(dir, ReadFile(dir + "/bootstrap"), brokers));
}

absl::Status PrivateBroker::Stop() {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  if (std::system(absl::StrCat(ScriptPath(), " stop --dir ", dir_, " >/dev/null 2>&1").c_str()) !=
      0) {
    return absl::InternalError("scripts/kafka stop failed");
  }
  return absl::OkStatus();
}

absl::Status PrivateBroker::Kill(int node) {
  const std::string node_dir = brokers_ == 1 ? dir_ : absl::StrCat(dir_, "/node-", node);
  int pid = 0;
  if (!absl::SimpleAtoi(ReadFile(node_dir + "/kafka.pid"), &pid) || pid <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("no broker pid in ", node_dir));
  }
  kill(pid, SIGKILL);
  // Gone, or a zombie its adopting parent has not reaped yet.
  auto gone = [&] {
    if (kill(pid, 0) != 0) return true;
    const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && stat.substr(paren + 2, 1) == "Z";
  };
  if (!WaitFor(gone, absl::Seconds(30))) {
    return absl::DeadlineExceededError(absl::StrCat("broker ", pid, " survived SIGKILL"));
  }
  if (brokers_ == 1) stopped_ = true;
  return absl::OkStatus();
}

absl::Status PrivateBroker::Restart() {
  const std::string command =
      absl::StrCat(ScriptPath(), " start --dir ", dir_, " --no-topic >", dir_, "/start.out 2>&1");
  if (std::system(command.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("private broker did not restart: ", ReadFile(dir_ + "/start.out")));
  }
  stopped_ = false;
  return absl::OkStatus();
}

PrivateBroker::~PrivateBroker() {
  std::system(absl::StrCat(ScriptPath(), " stop --purge --dir ", dir_, " >/dev/null 2>&1").c_str());
}

}  // namespace herald::testing
