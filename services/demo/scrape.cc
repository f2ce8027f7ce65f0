#include "scrape.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace herald::demo {
namespace {

constexpr size_t kMaxResponse = 8 << 20;

bool WaitFor(int fd, short events, absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  if (ms <= 0) return false;
  pollfd p{fd, events, 0};
  return poll(&p, 1, static_cast<int>(ms)) == 1;
}

}  // namespace

absl::StatusOr<std::string> HttpGet(absl::string_view url, absl::Duration timeout) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http:// URL"));
  }
  const size_t slash = rest.find('/');
  const absl::string_view authority = rest.substr(0, slash);
  const std::string path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  const std::string host(authority.substr(0, colon));
  const std::string port =
      colon == absl::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host));
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const absl::Time deadline = absl::Now() + timeout;
  int rc = fd < 0 ? -1 : connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (fd < 0) return absl::UnavailableError("socket() failed");
  auto fail = [&](absl::string_view why) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("GET ", url, ": ", why));
  };
  if (rc != 0 && errno != EINPROGRESS) return fail("connection refused");
  if (!WaitFor(fd, POLLOUT, deadline)) return fail("connect timed out");
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) return fail("connection refused");
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", authority, "\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    if (!WaitFor(fd, POLLOUT, deadline)) return fail("send timed out");
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return fail("send failed");
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[16384];
  while (true) {
    if (!WaitFor(fd, POLLIN, deadline)) return fail("timed out reading the answer");
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) return fail("read failed");
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
    if (response.size() > kMaxResponse) return fail("answer too large");
    // Servers that keep the connection open: done at Content-Length.
    if (const size_t end = response.find("\r\n\r\n"); end != std::string::npos) {
      const std::string head = absl::AsciiStrToLower(response.substr(0, end));
      const size_t at = head.find("\r\ncontent-length:");
      size_t length = 0;
      if (at != std::string::npos &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(head).substr(
                               at + 17, head.find("\r\n", at + 2) - at - 17)),
                           &length) &&
          response.size() >= end + 4 + length) {
        response.resize(end + 4 + length);
        break;
      }
    }
  }
  close(fd);
  if (!absl::StartsWith(response, "HTTP/1.1 200") && !absl::StartsWith(response, "HTTP/1.0 200")) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", response.substr(0, response.find('\r'))));
  }
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos)
    return absl::UnavailableError(absl::StrCat("GET ", url, ": no body"));
  // Chunked answers are not expected from Herald's servers (they send Content-Length).
  return response.substr(body + 4);
}

Samples ParsePrometheus(absl::string_view text) {
  Samples samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double value = 0;
    const absl::string_view number = line.substr(space + 1);
    if (number == "+Inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(number, &value)) {
      continue;
    }
    const absl::string_view series = line.substr(0, space);
    const size_t brace = series.find('{');
    const std::string name(series.substr(0, brace));
    const std::string labels(brace == absl::string_view::npos ? "" : series.substr(brace));
    samples.by_name.emplace(name, std::make_pair(labels, value));
  }
  return samples;
}

double Samples::Sum(absl::string_view name) const {
  double sum = 0;
  auto [first, last] = by_name.equal_range(std::string(name));
  for (auto it = first; it != last; ++it) sum += it->second.second;
  return sum;
}

bool Samples::Has(absl::string_view name) const { return by_name.count(std::string(name)) > 0; }

std::vector<std::pair<double, double>> Samples::Buckets(absl::string_view name) const {
  std::map<double, double> by_le;
  auto [first, last] = by_name.equal_range(absl::StrCat(name, "_bucket"));
  for (auto it = first; it != last; ++it) {
    const std::string& labels = it->second.first;
    const size_t at = labels.find("le=\"");
    if (at == std::string::npos) continue;
    const size_t end = labels.find('"', at + 4);
    const std::string le = labels.substr(at + 4, end - at - 4);
    double bound = std::numeric_limits<double>::infinity();
    if (le != "+Inf" && !absl::SimpleAtod(le, &bound)) continue;
    by_le[bound] += it->second.second;
  }
  return {by_le.begin(), by_le.end()};
}

std::optional<double> QuantileBetween(const std::vector<std::pair<double, double>>& before,
                                      const std::vector<std::pair<double, double>>& after,
                                      double q) {
  if (after.empty() || before.size() != after.size()) return std::nullopt;
  std::vector<double> counts(after.size());
  for (size_t i = 0; i < after.size(); ++i) counts[i] = after[i].second - before[i].second;
  const double total = counts.back();
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] < rank) continue;
    const double upper = after[i].first;
    const double lower = i == 0 ? 0 : after[i - 1].first;
    if (std::isinf(upper)) return lower;
    const double below = i == 0 ? 0 : counts[i - 1];
    const double in_bucket = counts[i] - below;
    return in_bucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / in_bucket;
  }
  return after.back().first;
}

}  // namespace herald::demo
