#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace herald::testing {

namespace {

struct Launcher {
  std::string program;  // empty: binaries run directly
  std::string binary_dir = HERALD_BINARY_DIR;
};

Launcher& TheLauncher() {
  static Launcher* launcher = new Launcher;
  return *launcher;
}

}  // namespace

std::string HeraldBinary(const std::string& name) {
  return absl::StrCat(TheLauncher().binary_dir, "/", name);
}

void SetHeraldLauncher(const std::string& launcher, const std::string& binary_dir) {
  TheLauncher() = launcher.empty() ? Launcher{} : Launcher{launcher, binary_dir};
}

std::string HeraldSource(const std::string& relative) {
  return absl::StrCat(HERALD_SOURCE_DIR, "/", relative);
}

int64_t RssKiB(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::string& binary,
                                                                  std::vector<std::string> args) {
  char pattern[] = "/tmp/herald-proc-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = pattern;
  args.insert(args.begin(), binary);
  args.push_back(absl::StrCat("--ready_file=", dir, "/ready"));
  std::string program = binary;
  if (const Launcher& launcher = TheLauncher();
      !launcher.program.empty() && absl::StartsWith(binary, launcher.binary_dir + "/")) {
    program = launcher.program;
    args.insert(args.begin(), program);
  }
  const std::string log = dir + "/log";
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    // Dies with the test, whatever happens to it (a ctest timeout included).
    // The signal follows the thread that forked: start children from the
    // test's main thread.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, dir));
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  // A sanitizer report in a child fails the test that started it, even when
  // the child only wrote it on its way out.
  const std::string log = ReadWholeFile(log_);
  for (const char* report : {"WARNING: ThreadSanitizer:", "ERROR: AddressSanitizer:",
                             "ERROR: LeakSanitizer:", ": runtime error: "}) {
    const size_t at = log.find(report);
    if (at != std::string::npos) {
      ADD_FAILURE() << "a sanitizer report in the log of " << dir_ << " (pid " << pid_ << "):\n"
                    << log.substr(at, 8000);
      break;
    }
  }
  if (std::getenv("HERALD_TEST_KEEP_LOGS") != nullptr) {
    std::fprintf(stderr, "kept the log of pid %d in %s\n", static_cast<int>(pid_), dir_.c_str());
    return;
  }
  std::system(absl::StrCat("rm -rf ", dir_).c_str());
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

absl::StatusOr<int> ChildProcess::WaitForPort(const std::string& name, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(dir_ + "/ready");
    if (in.good()) {
      std::stringstream text;
      text << in.rdbuf();
      const std::string json = text.str();
      const std::string key = absl::StrCat("\"", name, "\": ");
      const size_t at = json.find(key);
      if (at == std::string::npos) return absl::NotFoundError(absl::StrCat(name, " not in ", json));
      int port = 0;
      const size_t start = at + key.size();
      const size_t end = json.find_first_of(",}", start);
      if (!absl::SimpleAtoi(json.substr(start, end - start), &port)) {
        return absl::InternalError(absl::StrCat("bad ready file: ", json));
      }
      return port;
    }
    if (!Running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("process exited before it was ready:\n", LogTail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("not ready in time:\n", LogTail()));
}

void ChildProcess::Kill(int signal) {
  if (!reaped_) kill(pid_, signal);
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (reaped_) return 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("process still running");
}

std::string ChildProcess::LogTail(size_t bytes) const {
  const std::string s = ReadWholeFile(log_);
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace herald::testing
