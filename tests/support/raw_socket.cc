#include "support/raw_socket.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace herald::testing {

absl::StatusOr<int> ConnectLoopback(int port, int receive_buffer) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port, " failed"));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<RawSocket>> RawSocket::Connect(int port) {
  absl::StatusOr<int> fd = ConnectLoopback(port);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<RawSocket>(new RawSocket(*fd));
}

RawSocket::~RawSocket() { Close(); }

void RawSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool RawSocket::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawSocket::ReadSome(absl::Duration timeout) {
  if (closed_ || fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) <= 0) return true;
  char buffer[65536];
  const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
  if (n > 0) {
    received_.append(buffer, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  closed_ = true;
  return false;
}

bool RawSocket::ReadUntil(absl::string_view needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!absl::StrContains(received_, needle)) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || !ReadSome(std::min(left, absl::Milliseconds(100)))) {
      return absl::StrContains(received_, needle);
    }
  }
  return true;
}

bool RawSocket::ReadToEnd(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!closed_ && absl::Now() < deadline) ReadSome(absl::Milliseconds(100));
  return closed_;
}

}  // namespace herald::testing
