// A plain HTTP/1.1 client for Herald's own tools (no TLS, no redirects), with
// a deadline on every step: GETs of small answers (metrics, readiness), and a
// response read as it arrives (an event stream).
//
//   absl::StatusOr<std::string> text = HttpGet("http://127.0.0.1:9101/metrics", absl::Seconds(2));
//
//   auto stream = HttpStream::Open("http://edge:8080/v1/events?stream=a", {}, deadline);
//   absl::StatusOr<std::string> more = (*stream)->Read(deadline);  // body bytes, de-chunked
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace herald::common {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A plain HTTP/1.1 GET of http://host[:port]/path; the body of a 200 sent
// with Content-Length or up to the close, at most 8 MiB. InvalidArgument for
// a URL that is not http://, Unavailable with the reason (the status line of
// an answer other than 200) otherwise.
absl::StatusOr<std::string> HttpGet(absl::string_view url, absl::Duration timeout);

// A GET whose body is read piece by piece as the server sends it.
class HttpStream final {
 public:
  // Connects, sends the GET with `headers` and reads the response's head.
  // Unavailable unless the server answered 200; the message has the status
  // line and the start of the body (Herald's errors say what was wrong).
  static absl::StatusOr<std::unique_ptr<HttpStream>> Open(absl::string_view url,
                                                          const HttpHeaders& headers,
                                                          absl::Time deadline);
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // The body bytes that arrive by `deadline` (chunked transfer decoded):
  // empty when none came in time. Unavailable once the server ended the
  // response or the connection failed.
  absl::StatusOr<std::string> Read(absl::Time deadline);

 private:
  explicit HttpStream(int fd) : fd_(fd) {}
  // Moves the body bytes of raw_ to *out; false once the last chunk was read.
  bool Decode(std::string* out);

  int fd_;
  bool chunked_ = false;
  bool ended_ = false;
  size_t chunk_left_ = 0;    // bytes of the current chunk still to come
  bool chunk_crlf_ = false;  // the CRLF after a chunk's data is still to come
  std::string raw_;          // received, not yet decoded
};

}  // namespace herald::common
