#include "socket_writer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace herald::edge {
namespace {

constexpr char kLastChunk[] = "0\r\n\r\n";
constexpr int kMaxIov = 64;

}  // namespace

SocketWriter::SocketWriter(int fd, size_t max_queued_bytes, EventLoop& loop, WriterStats& stats)
    : fd_(fd), max_queued_(max_queued_bytes), loop_(loop), stats_(stats) {}

SocketWriter::~SocketWriter() {
  loop_.Forget(fd_, this);
  stats_.bytes_queued -= static_cast<int64_t>(pending_bytes_);
}

bool SocketWriter::WriteRaw(absl::string_view bytes) {
  auto owner = std::make_shared<const std::string>(bytes);
  return Send({owner, owner->data(), owner->size()});
}

bool SocketWriter::WriteChunk(absl::string_view data) {
  if (data.empty()) return !closed();
  auto owner = std::make_shared<const std::string>(
      absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
  return Send({owner, owner->data(), owner->size()});
}

bool SocketWriter::WriteShared(std::shared_ptr<const std::string> owner, absl::string_view bytes) {
  return Send({std::move(owner), bytes.data(), bytes.size()});
}

bool SocketWriter::Send(Segment segment) {
  std::vector<std::function<void()>> ready;
  bool ok;
  {
    absl::MutexLock lock(&mu_);
    ok = SendLocked(std::move(segment));
    if (closed_) ready.swap(drained_);
  }
  // A catch-up waiting for this writer to drain learns that it never will.
  loop_.PostCallbacks(std::move(ready));
  return ok;
}

bool SocketWriter::SendLocked(Segment segment) {
  if (closed_ || close_when_drained_) return false;  // ended: nothing may follow
  if (segment.size == 0) return true;
  pending_bytes_ += segment.size;
  stats_.bytes_queued += static_cast<int64_t>(segment.size);
  pending_.push_back(std::move(segment));
  if (!waiting_) {
    if (loop_.InRound() && pending_bytes_ <= max_queued_) {
      // Gathered: the loop sends the round's writes together at its end.
      if (!scheduled_) {
        scheduled_ = true;
        loop_.FlushAtEndOfRound(shared_from_this());
      }
      return true;
    }
    if (!FlushLocked()) return false;  // the peer is gone
  }
  if (pending_bytes_ > max_queued_) {
    // The client does not read fast enough: drop it rather than grow. It
    // reconnects and resumes from its last id.
    stats_.slow_closes += 1;
    ShutdownLocked();
    return false;
  }
  if (!pending_.empty() && !waiting_) {
    waiting_ = true;
    loop_.WaitWritable(shared_from_this(), fd_);
  }
  return true;
}

bool SocketWriter::FlushLocked() {
  while (!pending_.empty()) {
    iovec iov[kMaxIov];
    int count = 0;
    size_t offered = 0;
    for (auto it = pending_.begin(); it != pending_.end() && count < kMaxIov; ++it, ++count) {
      iov[count].iov_base = const_cast<char*>(it->data);
      iov[count].iov_len = it->size;
      offered += it->size;
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      ShutdownLocked();
      return false;
    }
    stats_.bytes_sent += n;
    stats_.bytes_queued -= n;
    pending_bytes_ -= static_cast<size_t>(n);
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      Segment& first = pending_.front();
      if (first.size <= left) {
        left -= first.size;
        pending_.pop_front();
      } else {
        first.data += left;
        first.size -= left;
        left = 0;
      }
    }
    if (static_cast<size_t>(n) < offered) return true;  // the socket is full
  }
  return true;
}

bool SocketWriter::AfterFlushLocked() {
  if (!closed_ && !pending_.empty() && !waiting_) {
    waiting_ = true;
    loop_.WaitWritable(shared_from_this(), fd_);
  }
  if (close_when_drained_ && pending_.empty()) ShutdownLocked();
  return closed_ || pending_.empty();
}

void SocketWriter::OnWritable() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    waiting_ = false;
    if (released_) return;  // the event was for a socket Pistache has closed since
    if (!closed_) FlushLocked();
    if (AfterFlushLocked()) ready.swap(drained_);
  }
  for (auto& fn : ready) fn();
}

void SocketWriter::FlushRound() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    scheduled_ = false;
    if (released_ || closed_) {
      ready.swap(drained_);
    } else if (!waiting_) {
      FlushLocked();
      if (AfterFlushLocked()) ready.swap(drained_);
    }
  }
  for (auto& fn : ready) fn();
}

void SocketWriter::WhenDrained(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_ && !pending_.empty()) {
      drained_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void SocketWriter::ShutdownLocked() {
  if (closed_) return;
  closed_ = true;
  stats_.bytes_queued -= static_cast<int64_t>(pending_bytes_);
  pending_.clear();
  pending_bytes_ = 0;
  // Both directions: Pistache, reading the same socket, sees the end and
  // reports the disconnection.
  if (!released_) ::shutdown(fd_, SHUT_RDWR);
}

void SocketWriter::End() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    // The terminating chunk goes after what is queued (a closing herald.auth
    // among it); a no-op once the writer is closed or already ending.
    SendLocked({nullptr, kLastChunk, sizeof(kLastChunk) - 1});
    if (CloseWhenDrainedLocked()) ready.swap(drained_);
  }
  loop_.PostCallbacks(std::move(ready));
}

void SocketWriter::Abort() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    ShutdownLocked();
    released_ = true;
    loop_.Forget(fd_, this);
    ready.swap(drained_);
  }
  loop_.PostCallbacks(std::move(ready));
}

void SocketWriter::CloseWhenDrained() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    if (CloseWhenDrainedLocked()) ready.swap(drained_);
  }
  loop_.PostCallbacks(std::move(ready));
}

bool SocketWriter::CloseWhenDrainedLocked() {
  close_when_drained_ = true;
  if (!pending_.empty()) return false;  // a flush shuts it down once all is out
  ShutdownLocked();
  return true;
}

bool SocketWriter::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

}  // namespace herald::edge
