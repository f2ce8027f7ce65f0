#include "sse.h"

#include "absl/strings/str_cat.h"

namespace herald::edge {

std::string RenderEventBody(absl::string_view type, absl::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 24);
  if (type != "message") absl::StrAppend(&out, "event: ", type, "\n");
  size_t start = 0;
  while (true) {
    const size_t end = data.find_first_of("\r\n", start);
    absl::StrAppend(&out, "data: ", data.substr(start, end - start), "\n");
    if (end == absl::string_view::npos) break;
    // CRLF is one line break, a lone CR or LF another.
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out.push_back('\n');
  return out;
}

std::string IdLine(absl::string_view id) { return absl::StrCat("id: ", id, "\n"); }

std::string IdOnlyBlock(absl::string_view id) { return absl::StrCat("id: ", id, "\n\n"); }

std::string RetryBlock(int64_t milliseconds) {
  return absl::StrCat("retry: ", milliseconds, "\n\n");
}

std::string CommentBlock(absl::string_view text) {
  std::string out = absl::StrCat(": ", text, "\n\n");
  for (size_t i = 2; i + 2 < out.size(); ++i) {
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  }
  return out;
}

}  // namespace herald::edge
