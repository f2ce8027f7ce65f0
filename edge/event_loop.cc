#include "event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace herald::edge {
namespace {

// The loop whose round runs on this thread, and the counts it gathered.
thread_local EventLoop* t_round = nullptr;
thread_local std::vector<std::pair<common::Counter*, int64_t>> t_tally;

void FlushTally() {
  for (auto& [counter, n] : t_tally) counter->Increment(static_cast<double>(n));
  t_tally.clear();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(size_t max_tasks) {
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
  return std::unique_ptr<EventLoop>(
      new EventLoop(epoll_fd, wake_fd, std::max<size_t>(1, max_tasks)));
}

EventLoop::EventLoop(int epoll_fd, int wake_fd, size_t max_tasks)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd), max_tasks_(max_tasks) {
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);  // wakes a Post waiting for room
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  // What was posted after the thread's last round: tasks run on closed
  // connections, callbacks learn that their writers are closed.
  while (RunRound()) {
  }
  RunCallbacks();
  close(wake_fd_);
  close(epoll_fd_);
}

void EventLoop::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Post(std::function<void()> task) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return tasks_.size() < max_tasks_ || stopping_.load();
    };
    mu_.Await(absl::Condition(&room));
    tasks_.push_back(std::move(task));
    wake = !std::exchange(woken_, true);
  }
  if (wake) Wake();
}

void EventLoop::PostCallbacks(std::vector<std::function<void()>> fns) {
  if (fns.empty()) return;
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    for (auto& fn : fns) callbacks_.push_back(std::move(fn));
    wake = !std::exchange(woken_, true);
  }
  if (wake) Wake();
}

void EventLoop::Drain() {
  if (std::this_thread::get_id() == thread_.get_id()) return;
  absl::Notification done;
  Post([&done] { done.Notify(); });
  done.WaitForNotification();
}

void EventLoop::WaitWritable(const std::shared_ptr<Pollable>& writer, int fd) {
  Watch(writer, fd, EPOLLOUT | EPOLLONESHOT);
}

bool EventLoop::IsCurrent() const { return std::this_thread::get_id() == thread_.get_id(); }

void EventLoop::Watch(const std::shared_ptr<Pollable>& writer, int fd, uint32_t events) {
  absl::MutexLock lock(&mu_);
  epoll_event ev{};
  ev.events = events;
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

void EventLoop::Forget(int fd, const Pollable* writer) {
  absl::MutexLock lock(&mu_);
  auto it = writers_.find(fd);
  if (it == writers_.end() || it->second.writer != writer) return;
  writers_.erase(it);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

bool EventLoop::InRound() const { return t_round == this; }

void EventLoop::FlushAtEndOfRound(std::shared_ptr<Pollable> writer) {
  round_writers_.push_back(std::move(writer));
}

void EventLoop::Tally(common::Counter* counter, int64_t by) {
  if (counter == nullptr) return;
  if (t_round == nullptr) {
    counter->Increment(static_cast<double>(by));
    return;
  }
  for (auto& [c, n] : t_tally) {
    if (c == counter) {
      n += by;
      return;
    }
  }
  t_tally.emplace_back(counter, by);
}

bool EventLoop::RunRound() {
  std::deque<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);  // Post() waiting for room may go on
  }
  if (tasks.empty()) return false;
  t_round = this;
  for (auto& task : tasks) task();
  t_round = nullptr;
  // One send per connection for everything the round wrote to it.
  std::vector<std::shared_ptr<Pollable>> writers;
  writers.swap(round_writers_);
  for (const std::shared_ptr<Pollable>& w : writers) w->FlushRound();
  FlushTally();
  return true;
}

void EventLoop::RunCallbacks() {
  std::vector<std::function<void()>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    callbacks.swap(callbacks_);
  }
  for (auto& fn : callbacks) fn();
}

void EventLoop::Run() {
  epoll_event events[256];
  while (!stopping_.load()) {
    const int n = epoll_wait(epoll_fd_, events, 256, 1000);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
        absl::MutexLock lock(&mu_);
        woken_ = false;  // what is posted from now on wakes the loop again
        continue;
      }
      std::shared_ptr<Pollable> writer;
      {
        absl::MutexLock lock(&mu_);
        auto it = writers_.find(events[i].data.fd);
        if (it != writers_.end()) writer = it->second.weak.lock();
      }
      if (writer != nullptr) writer->OnEvents(events[i].events);
    }
    RunCallbacks();
    RunRound();
  }
}

}  // namespace herald::edge
