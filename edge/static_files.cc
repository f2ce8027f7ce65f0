#include "static_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace herald::edge {
namespace {

std::string ContentType(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

absl::StatusOr<std::unique_ptr<StaticFiles>> StaticFiles::Load(const std::string& dir,
                                                               size_t max_bytes) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::InvalidArgumentError(absl::StrCat("--static_dir: ", dir, " is not a folder"));
  }
  std::unique_ptr<StaticFiles> files(new StaticFiles());
  size_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, error)) {
    if (!entry.is_regular_file()) continue;
    const std::filesystem::path relative = std::filesystem::relative(entry.path(), dir);
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream body;
    body << in.rdbuf();
    StaticFile file;
    file.body = body.str();
    total += file.body.size();
    if (total > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--static_dir: ", dir, " holds more than ", max_bytes, " bytes"));
    }
    file.content_type = ContentType(relative);
    // The page always asks again (it names the bundles); the rest may be kept a while.
    file.cache_control = relative.extension() == ".html" ? "no-cache" : "public, max-age=300";
    files->files_.emplace(absl::StrCat("/", relative.generic_string()), std::move(file));
  }
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat("--static_dir: ", dir, ": ", error.message()));
  }
  if (files->Find("/") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--static_dir: ", dir, " has no index.html"));
  }
  return files;
}

const StaticFile* StaticFiles::Find(absl::string_view path) const {
  if (path == "/") path = "/index.html";
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace herald::edge
