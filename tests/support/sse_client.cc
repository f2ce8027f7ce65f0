#include "support/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "support/raw_socket.h"

namespace herald::testing {

absl::StatusOr<std::unique_ptr<SseClient>> SseClient::Connect(
    int port, const std::string& target, const std::map<std::string, std::string>& headers,
    int receive_buffer) {
  absl::StatusOr<int> connected = ConnectLoopback(port, receive_buffer);
  if (!connected.ok()) return connected.status();
  const int fd = *connected;
  std::string request = absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                     "Accept: text/event-stream\r\nConnection: keep-alive\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&request, k, ": ", v, "\r\n");
  request += "\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  auto client = std::unique_ptr<SseClient>(new SseClient(fd));
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  size_t end;
  while ((end = client->raw_.find("\r\n\r\n")) == std::string::npos) {
    if (!client->Fill(deadline)) return absl::UnavailableError("no response head");
  }
  client->head_ = client->raw_.substr(0, end);
  client->raw_.erase(0, end + 4);
  (void)absl::SimpleAtoi(client->head_.substr(9, 3), &client->status_);
  client->chunked_ =
      absl::AsciiStrToLower(client->head_).find("transfer-encoding: chunked") != std::string::npos;
  return client;
}

SseClient::~SseClient() { close(fd_); }

bool SseClient::Fill(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) return false;
  char buffer[65536];
  const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
  if (n <= 0) {
    ended_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<size_t>(n));
  return true;
}

std::string SseClient::ReadBody(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t length = std::string::npos;
  const std::string lower = absl::AsciiStrToLower(head_);
  if (size_t at = lower.find("content-length: "); at != std::string::npos) {
    (void)absl::SimpleAtoi(lower.substr(at + 16, lower.find("\r\n", at) - at - 16), &length);
  }
  while ((length == std::string::npos || raw_.size() < length) && Fill(deadline)) {
  }
  return raw_;
}

bool SseClient::NextLine(absl::Time deadline, std::string* line) {
  while (true) {
    // Decode complete chunks into decoded_.
    while (chunked_ && !last_chunk_) {
      const size_t eol = raw_.find("\r\n");
      if (eol == std::string::npos) break;
      size_t size = 0;
      if (!absl::SimpleHexAtoi(raw_.substr(0, eol), &size)) {
        ended_ = true;
        return false;
      }
      if (size == 0) {
        last_chunk_ = true;  // the lines decoded so far still count
        break;
      }
      if (raw_.size() < eol + 2 + size + 2) break;
      decoded_.append(raw_, eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
    }
    if (!chunked_) {
      decoded_ += raw_;
      raw_.clear();
    }
    const size_t end = decoded_.find_first_of("\r\n");
    if (end != std::string::npos) {
      // CR LF, lone CR and lone LF all end a line (a CR at the very end may be
      // the first half of a CRLF still to come).
      if (decoded_[end] == '\r' && end + 1 == decoded_.size() && !last_chunk_) {
        if (!Fill(deadline)) return false;
        continue;
      }
      *line = decoded_.substr(0, end);
      decoded_.erase(0, end + ((decoded_[end] == '\r' && decoded_[end + 1] == '\n') ? 2 : 1));
      return true;
    }
    if (last_chunk_) {
      ended_ = true;
      return false;
    }
    if (!Fill(deadline)) return false;
  }
}

std::optional<SseEvent> SseClient::NextOfType(const std::string& type, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ended_ && absl::Now() < deadline) {
    std::optional<SseEvent> event = Next(deadline - absl::Now());
    if (event.has_value() && event->type == type) return event;
  }
  return std::nullopt;
}

std::optional<SseEvent> SseClient::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  while (NextLine(deadline, &line)) {
    if (std::optional<SseEvent> event = parser_.Line(line)) return event;
  }
  return std::nullopt;
}

}  // namespace herald::testing
