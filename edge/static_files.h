// StaticFiles: the dashboard's files, served by the edge at `/`.
//
// The whole folder is read into memory at start (it is small, and bounded by
// `max_bytes`), so a request never touches the file system: no path can
// escape the folder, and serving costs no system call beyond the write.
//
//   auto files = StaticFiles::Load("build/release/dashboard");
//   const StaticFile* f = (*files)->Find("/");   // index.html
//
// Thread-safety: immutable after Load().
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::edge {

struct StaticFile {
  std::string content_type;
  std::string body;
  std::string cache_control;
};

class StaticFiles final {
 public:
  // InvalidArgument if `dir` is not a folder, holds more than `max_bytes`, or
  // has no index.html.
  static absl::StatusOr<std::unique_ptr<StaticFiles>> Load(const std::string& dir,
                                                           size_t max_bytes = 32 << 20);

  // The file for a request path ("/" and "/index.html" are the index); null
  // if there is none.
  const StaticFile* Find(absl::string_view path) const;
  size_t size() const { return files_.size(); }

 private:
  StaticFiles() = default;
  std::map<std::string, StaticFile, std::less<>> files_;  // by "/relative/path"
};

}  // namespace herald::edge
