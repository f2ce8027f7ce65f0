#include "herald/common/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace herald::common {
namespace {

constexpr size_t kMaxResponse = 8 << 20;
constexpr size_t kMaxHead = 64 << 10;

struct Url {
  std::string host;
  std::string port;
  std::string authority;  // host:port as given, for the Host header
  std::string path;
};

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http:// URL"));
  }
  const size_t slash = rest.find('/');
  Url parsed;
  parsed.authority = std::string(rest.substr(0, slash));
  parsed.path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  // host, host:port, [v6] or [v6]:port
  const size_t bracket = parsed.authority.rfind(']');
  const size_t colon = parsed.authority.rfind(':');
  const bool port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  parsed.host = parsed.authority.substr(0, port ? colon : std::string::npos);
  parsed.port = port ? parsed.authority.substr(colon + 1) : "80";
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  }
  if (parsed.host.empty())
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' has no host"));
  return parsed;
}

bool WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 60'000)));
    if (n == 1) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// A connected non-blocking socket to the first of the host's addresses that
// answers, or why not (of the last one tried).
absl::StatusOr<int> Connect(const Url& url, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", url.host, ": ", rc != 0 ? gai_strerror(rc) : "no address"));
  }
  std::string why = "no address";
  int connected = -1;
  for (addrinfo* a = found; a != nullptr && connected < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      why = absl::StrCat("socket(): ", strerror(errno));
      continue;
    }
    int error = 0;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        if (!WaitFor(fd, POLLOUT, deadline)) {
          close(fd);
          why = "connect timed out";
          break;  // the deadline is spent: no other address gets a turn
        }
        socklen_t len = sizeof(error);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      }
    }
    if (error != 0) {
      close(fd);
      why = strerror(error);
      continue;
    }
    connected = fd;
  }
  freeaddrinfo(found);
  if (connected < 0) return absl::UnavailableError(absl::StrCat(url.authority, ": ", why));
  return connected;
}

bool SendAll(int fd, absl::string_view bytes, absl::Time deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (!WaitFor(fd, POLLOUT, deadline)) return false;
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string Request(const Url& url, const HttpHeaders& headers, bool close) {
  std::string request =
      absl::StrCat("GET ", url.path, " HTTP/1.1\r\nHost: ", url.authority, "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
  absl::StrAppend(&request, close ? "Connection: close\r\n" : "", "\r\n");
  return request;
}

// The value of header `name` (lower case) in a lower-cased head; empty if absent.
absl::string_view HeaderValue(absl::string_view head, absl::string_view name) {
  const std::string key = absl::StrCat("\r\n", name, ":");
  const size_t at = head.find(key);
  if (at == absl::string_view::npos) return {};
  const size_t start = at + key.size();
  const size_t end = head.find("\r\n", start);
  return absl::StripAsciiWhitespace(head.substr(start, end - start));
}

}  // namespace

absl::StatusOr<std::string> HttpGet(absl::string_view url, absl::Duration timeout) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<int> fd = Connect(*parsed, deadline);
  if (!fd.ok())
    return absl::UnavailableError(absl::StrCat("GET ", url, ": ", fd.status().message()));
  auto fail = [&](absl::string_view why) {
    close(*fd);
    return absl::UnavailableError(absl::StrCat("GET ", url, ": ", why));
  };
  if (!SendAll(*fd, Request(*parsed, {}, /*close=*/true), deadline)) return fail("send failed");
  std::string response;
  char buffer[16384];
  while (true) {
    if (!WaitFor(*fd, POLLIN, deadline)) return fail("timed out reading the answer");
    const ssize_t n = recv(*fd, buffer, sizeof(buffer), 0);
    if (n < 0) return fail("read failed");
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
    if (response.size() > kMaxResponse) return fail("answer too large");
    // Servers that keep the connection open: done at Content-Length.
    if (const size_t end = response.find("\r\n\r\n"); end != std::string::npos) {
      const std::string head = absl::AsciiStrToLower(response.substr(0, end));
      size_t length = 0;
      if (absl::SimpleAtoi(HeaderValue(head, "content-length"), &length) &&
          response.size() >= end + 4 + length) {
        response.resize(end + 4 + length);
        break;
      }
    }
  }
  close(*fd);
  if (!absl::StartsWith(response, "HTTP/1.1 200") && !absl::StartsWith(response, "HTTP/1.0 200")) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", response.substr(0, response.find('\r'))));
  }
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": no body"));
  }
  // Herald's servers send Content-Length: a chunked answer is refused, not
  // returned with its framing.
  if (absl::StrContains(
          HeaderValue(absl::AsciiStrToLower(response.substr(0, body)), "transfer-encoding"),
          "chunked")) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": a chunked answer (not supported)"));
  }
  return response.substr(body + 4);
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpStream::Open(absl::string_view url,
                                                             const HttpHeaders& headers,
                                                             absl::Time deadline) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> fd = Connect(*parsed, deadline);
  if (!fd.ok())
    return absl::UnavailableError(absl::StrCat("GET ", url, ": ", fd.status().message()));
  std::unique_ptr<HttpStream> stream(new HttpStream(*fd));
  auto fail = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": ", why));
  };
  if (!SendAll(stream->fd_, Request(*parsed, headers, /*close=*/false), deadline)) {
    return fail("send failed");
  }
  std::string& raw = stream->raw_;
  size_t end = std::string::npos;
  char buffer[16384];
  while ((end = raw.find("\r\n\r\n")) == std::string::npos) {
    if (raw.size() > kMaxHead) return fail("response head too large");
    if (!WaitFor(stream->fd_, POLLIN, deadline)) return fail("timed out waiting for the answer");
    const ssize_t n = recv(stream->fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return fail("the connection closed before an answer");
    raw.append(buffer, static_cast<size_t>(n));
  }
  const std::string head = absl::AsciiStrToLower(raw.substr(0, end));
  raw.erase(0, end + 4);
  const std::string status_line = head.substr(0, head.find('\r'));
  stream->chunked_ = absl::StrContains(HeaderValue(head, "transfer-encoding"), "chunked");
  if (!absl::StartsWith(head, "http/1.1 200") && !absl::StartsWith(head, "http/1.0 200")) {
    // The start of the error's body says what was wrong.
    std::string body;
    const absl::Time soon = std::min(deadline, absl::Now() + absl::Seconds(1));
    while (body.size() < 300) {
      absl::StatusOr<std::string> more = stream->Read(soon);
      if (!more.ok() || more->empty()) break;
      body += *more;
    }
    return fail(absl::StrCat(absl::AsciiStrToUpper(status_line.substr(0, 8)),
                             status_line.substr(std::min<size_t>(8, status_line.size())), ": ",
                             absl::StripAsciiWhitespace(body.substr(0, 300))));
  }
  return stream;
}

HttpStream::~HttpStream() { close(fd_); }

bool HttpStream::Decode(std::string* out) {
  if (!chunked_) {
    out->append(raw_);
    raw_.clear();
    return true;
  }
  while (!raw_.empty()) {
    if (chunk_left_ > 0) {
      const size_t take = std::min(chunk_left_, raw_.size());
      out->append(raw_, 0, take);
      raw_.erase(0, take);
      chunk_left_ -= take;
      if (chunk_left_ == 0) chunk_crlf_ = true;
      continue;
    }
    if (chunk_crlf_) {
      if (raw_.size() < 2) return true;
      raw_.erase(0, 2);
      chunk_crlf_ = false;
      continue;
    }
    const size_t eol = raw_.find("\r\n");
    if (eol == std::string::npos) return true;
    const absl::string_view line = absl::string_view(raw_).substr(0, raw_.find_first_of(";\r"));
    size_t size = 0;
    if (!absl::SimpleHexAtoi(line, &size)) return false;  // not chunked as said
    raw_.erase(0, eol + 2);
    if (size == 0) return false;
    chunk_left_ = size;
  }
  return true;
}

absl::StatusOr<std::string> HttpStream::Read(absl::Time deadline) {
  std::string out;
  if (ended_) return absl::UnavailableError("the response ended");
  // Bytes that came with the head, or after a chunk's end.
  if (!raw_.empty() && !Decode(&out)) {
    ended_ = true;
    if (out.empty()) return absl::UnavailableError("the server ended the response");
  }
  char buffer[16384];
  while (out.empty() && !ended_) {
    if (!WaitFor(fd_, POLLIN, deadline)) return out;
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      ended_ = true;
      if (!out.empty()) return out;
      return absl::UnavailableError(n == 0 ? "the server closed the stream" : "read failed");
    }
    raw_.append(buffer, static_cast<size_t>(n));
    if (!Decode(&out)) {
      ended_ = true;
      if (out.empty()) return absl::UnavailableError("the server ended the response");
    }
  }
  return out;
}

}  // namespace herald::common
