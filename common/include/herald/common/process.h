// Process-level helpers for Herald's binaries.
//
//   int main(int argc, char** argv) {
//     herald::common::BlockShutdownSignals();   // first, before any thread starts
//     ...start servers...
//     herald::common::WriteReadyFile(path, {{"grpc_port", 7001}});
//     int signal = herald::common::AwaitShutdownSignal();
//     ...drain and stop...
//   }
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace herald::common {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards, so that only AwaitShutdownSignal() receives them.
void BlockShutdownSignals();

// Waits for SIGINT or SIGTERM; returns the signal number.
int AwaitShutdownSignal();

// Atomically writes {"name": value, ...} to `path` (write to a temporary file,
// then rename), so that a watcher never sees half a file. Does nothing for an
// empty path. Tests and scripts use it to learn the ports a process bound.
absl::Status WriteReadyFile(const std::string& path,
                            const std::vector<std::pair<std::string, int>>& ports);

}  // namespace herald::common
