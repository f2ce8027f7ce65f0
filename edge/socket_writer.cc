#include "socket_writer.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace herald::edge {

absl::StatusOr<std::unique_ptr<OutputLoop>> OutputLoop::Create() {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(epoll_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
  return std::unique_ptr<OutputLoop>(new OutputLoop(epoll_fd, wake_fd));
}

OutputLoop::OutputLoop(int epoll_fd, int wake_fd) : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {
  thread_ = std::thread([this] { Run(); });
}

OutputLoop::~OutputLoop() {
  stopping_.store(true);
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  close(wake_fd_);
  close(epoll_fd_);
  // Callbacks posted after the thread's last round: they learn that their
  // writers are closed.
  for (auto& fn : posted_) fn();
}

void OutputLoop::Post(std::vector<std::function<void()>> fns) {
  if (fns.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    for (auto& fn : fns) posted_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void OutputLoop::WaitWritable(const std::shared_ptr<SocketWriter>& writer, int fd) {
  absl::MutexLock lock(&mu_);
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.fd = fd;
  auto [it, inserted] = writers_.try_emplace(fd, Watched{writer.get(), writer});
  if (inserted) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  } else {
    it->second = Watched{writer.get(), writer};
    // ENOENT: the socket this entry was for was closed without Forget (the
    // kernel dropped its registration), and `fd` is a new socket's number.
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
  }
}

void OutputLoop::Forget(int fd, const SocketWriter* writer) {
  absl::MutexLock lock(&mu_);
  auto it = writers_.find(fd);
  if (it == writers_.end() || it->second.writer != writer) return;
  writers_.erase(it);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void OutputLoop::Run() {
  epoll_event events[256];
  while (!stopping_.load()) {
    const int n = epoll_wait(epoll_fd_, events, 256, 1000);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
        std::vector<std::function<void()>> posted;
        {
          absl::MutexLock lock(&mu_);
          posted.swap(posted_);
        }
        for (auto& fn : posted) fn();
        continue;
      }
      std::shared_ptr<SocketWriter> writer;
      {
        absl::MutexLock lock(&mu_);
        auto it = writers_.find(events[i].data.fd);
        if (it != writers_.end()) writer = it->second.weak.lock();
      }
      if (writer != nullptr) writer->OnWritable();
    }
  }
}

SocketWriter::SocketWriter(int fd, size_t max_queued_bytes, OutputLoop& loop, WriterStats& stats)
    : fd_(fd), max_queued_(max_queued_bytes), loop_(loop), stats_(stats) {}

SocketWriter::~SocketWriter() {
  loop_.Forget(fd_, this);
  stats_.bytes_queued -= static_cast<int64_t>(pending_.size());
}

bool SocketWriter::WriteRaw(absl::string_view bytes) { return Send(std::string(bytes)); }

bool SocketWriter::WriteChunk(absl::string_view data) {
  if (data.empty()) return !closed();
  return Send(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

bool SocketWriter::Send(std::string bytes) {
  std::vector<std::function<void()>> ready;
  bool ok;
  {
    absl::MutexLock lock(&mu_);
    ok = SendLocked(std::move(bytes));
    if (closed_) ready.swap(drained_);
  }
  // A catch-up waiting for this writer to drain learns that it never will.
  loop_.Post(std::move(ready));
  return ok;
}

bool SocketWriter::SendLocked(std::string bytes) {
  if (closed_ || close_when_drained_) return false;  // ended: nothing may follow

  if (pending_.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ShutdownLocked();  // the peer is gone
      return false;
    }
    const size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    stats_.bytes_sent += static_cast<int64_t>(sent);
    if (sent == bytes.size()) return true;
    bytes.erase(0, sent);
  }
  pending_ += bytes;
  stats_.bytes_queued += static_cast<int64_t>(bytes.size());
  if (pending_.size() > max_queued_) {
    // The client does not read fast enough: drop it rather than grow. It
    // reconnects and resumes from its last id.
    stats_.slow_closes += 1;
    ShutdownLocked();
    return false;
  }
  if (!waiting_) {
    waiting_ = true;
    loop_.WaitWritable(shared_from_this(), fd_);
  }
  return true;
}

bool SocketWriter::FlushLocked() {
  while (!pending_.empty()) {
    const ssize_t n = ::send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      ShutdownLocked();
      return false;
    }
    stats_.bytes_sent += n;
    stats_.bytes_queued -= n;
    pending_.erase(0, static_cast<size_t>(n));
  }
  return true;
}

void SocketWriter::OnWritable() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    waiting_ = false;
    if (released_) return;  // the event was for a socket Pistache has closed since
    if (!closed_ && FlushLocked() && !pending_.empty()) {
      waiting_ = true;
      loop_.WaitWritable(shared_from_this(), fd_);
    }
    if (close_when_drained_ && pending_.empty()) ShutdownLocked();
    if (closed_ || pending_.empty()) ready.swap(drained_);
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
  stats_.bytes_queued -= static_cast<int64_t>(pending_.size());
  pending_.clear();
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
    SendLocked("0\r\n\r\n");
    if (CloseWhenDrainedLocked()) ready.swap(drained_);
  }
  loop_.Post(std::move(ready));
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
  loop_.Post(std::move(ready));
}

void SocketWriter::CloseWhenDrained() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    if (CloseWhenDrainedLocked()) ready.swap(drained_);
  }
  loop_.Post(std::move(ready));
}

bool SocketWriter::CloseWhenDrainedLocked() {
  close_when_drained_ = true;
  if (!pending_.empty()) return false;  // OnWritable shuts it down once flushed
  ShutdownLocked();
  return true;
}

bool SocketWriter::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

}  // namespace herald::edge
