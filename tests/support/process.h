// Test support: real Herald binaries as child processes.
//
//   auto fanout = ChildProcess::Start(HeraldBinary("herald-fanout"),
//                                     {"--kafka_bootstrap=" + bootstrap,
//                                     "--grpc_address=127.0.0.1:0"});
//   absl::StatusOr<int> port = fanout->WaitForPort("grpc_port", absl::Seconds(60));
//   fanout->Kill(SIGKILL);
//
// Each process gets `--ready_file` in a fresh temporary folder and logs to a
// file there; the destructor kills (SIGKILL) and reaps it, and the child gets
// SIGKILL if the thread that started it dies, so no test leaves a process
// behind, even when it fails or is killed. Start children from the test's main
// thread. A sanitizer report in a child's log fails the test (checked when
// the child is destroyed). With HERALD_TEST_KEEP_LOGS set, the folder (and the log) is kept and
// its path printed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace herald::testing {

// The path of a Herald binary built alongside the tests (or in
// SetHeraldLauncher's folder).
std::string HeraldBinary(const std::string& name);
// From now on ChildProcess::Start runs the Herald binaries (those under
// `binary_dir`) through `launcher`, a program given the binary's path and its
// arguments; the image test runs them inside the image this way. An empty
// launcher restores the default (the build's binaries, run directly).
void SetHeraldLauncher(const std::string& launcher, const std::string& binary_dir);
// A file of the source tree, e.g. "tests/browser/eventsource_page.mjs".
std::string HeraldSource(const std::string& relative);

// The resident set of process `pid` in KiB (-1 if it is gone).
int64_t RssKiB(int pid);
// The full path of a program on PATH (ChildProcess::Start needs one), or "".
std::string FindProgram(const std::string& name);
// A file's whole text ("" if it cannot be read), e.g. what a child wrote.
std::string ReadWholeFile(const std::string& path);

// A shell command run to its end: its exit code (-1 if it did not exit) and
// what it wrote to stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

class ChildProcess final {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::string& binary,
                                                             std::vector<std::string> args);
  ~ChildProcess();

  // Waits until the process wrote its ready file, then returns the named port.
  // FailedPrecondition with the log's tail if the process exited first.
  absl::StatusOr<int> WaitForPort(const std::string& name, absl::Duration timeout);

  // Sends `signal`; Wait() reaps. Kill(SIGKILL) + Wait() is a crash.
  void Kill(int signal);
  // The exit status (as waitpid gives it), or DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool Running();

  const std::string& log_path() const { return log_; }
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t bytes = 4000) const;

 private:
  ChildProcess(pid_t pid, std::string dir) : pid_(pid), dir_(std::move(dir)) {
    log_ = dir_ + "/log";
  }
  pid_t pid_;
  std::string dir_;
  std::string log_;
  bool reaped_ = false;
};

}  // namespace herald::testing
