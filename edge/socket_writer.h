// SocketWriter: the edge's own writer for one SSE response.
//
// Pistache 0.0.5's writer spins its reactor thread when a client stops reading
// (EAGAIN) and addresses writes by fd number, which a newer connection may
// have reused. So the edge writes a stream's socket itself: non-blocking sends
// from whichever thread has bytes, the rest kept in a bounded buffer and
// flushed by an OutputLoop when the socket is writable again. Past the bound
// the client is too slow: the socket is shut down (the browser reconnects and
// resumes from its cursor), so memory never grows with a slow client.
//
// The socket stays Pistache's: it closes it right after its onDisconnection,
// from which the edge calls Abort(). After Abort the writer never touches the
// descriptor again, so a reused descriptor number is never written by mistake
// (one descriptor per stream: no dup, which would halve the connections a
// process's descriptor limit allows).
//
// Drained callbacks (WhenDrained) run on the loop's thread with no lock held,
// never inside Write/End/Abort: a writer's caller may hold its own locks, and
// a callback may start a gRPC read whose completion takes them again.
//
// Thread-safety: Write/End/Abort from any thread (one mutex per writer);
// OnWritable from the loop's thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace herald::edge {

// Counters shared by every writer (for /metrics).
struct WriterStats {
  std::atomic<int64_t> bytes_sent{0};
  std::atomic<int64_t> bytes_queued{0};
  std::atomic<int64_t> slow_closes{0};
};

class SocketWriter;

// One thread waiting for sockets to become writable again.
class OutputLoop final {
 public:
  static absl::StatusOr<std::unique_ptr<OutputLoop>> Create();
  ~OutputLoop();

  // Calls writer->OnWritable() once its socket can take more bytes.
  void WaitWritable(const std::shared_ptr<SocketWriter>& writer, int fd);
  // Stops watching `fd` for `writer` (before the socket is closed). A no-op
  // if `fd` is watched for another writer: descriptor numbers are reused, and
  // a writer may be destroyed long after its socket was closed.
  void Forget(int fd, const SocketWriter* writer);
  // Runs `fns` on the loop's thread, in order.
  void Post(std::vector<std::function<void()>> fns);

 private:
  OutputLoop(int epoll_fd, int wake_fd);
  void Run();

  const int epoll_fd_;
  const int wake_fd_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  struct Watched {
    const SocketWriter* writer;
    std::weak_ptr<SocketWriter> weak;
  };
  absl::flat_hash_map<int, Watched> writers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class SocketWriter final : public std::enable_shared_from_this<SocketWriter> {
 public:
  // Writes `fd` until Abort(); does not close it.
  SocketWriter(int fd, size_t max_queued_bytes, OutputLoop& loop, WriterStats& stats);
  ~SocketWriter();

  // Bytes as they are (the response head).
  bool WriteRaw(absl::string_view bytes);
  // One HTTP/1.1 chunk holding `data` (never empty).
  bool WriteChunk(absl::string_view data);
  // Ends the response: the terminating chunk after what is queued, then the
  // socket is shut down once that is on it.
  void End();
  // Shuts the socket down at once and lets go of it: call before the socket
  // is closed.
  void Abort();
  // Shuts the socket down once everything written so far is on it (the end
  // of a response that is not chunked).
  void CloseWhenDrained();
  bool closed() const;
  // Calls `fn` once nothing is pending, or once the writer closed: right
  // here if that is already so, else later on the loop's thread.
  void WhenDrained(std::function<void()> fn);

  void OnWritable();

 private:
  bool SendLocked(std::string bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ShutdownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shuts the socket down once nothing is pending: true if that is now.
  bool CloseWhenDrainedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes under the lock; if that closed the writer, its drained callbacks
  // go to the loop.
  bool Send(std::string bytes);

  const int fd_;
  const size_t max_queued_;
  OutputLoop& loop_;
  WriterStats& stats_;
  mutable absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  bool close_when_drained_ ABSL_GUARDED_BY(mu_) =
      false;  // Abort()ed: fd_ may be another socket now
  std::vector<std::function<void()>> drained_ ABSL_GUARDED_BY(mu_);
};

}  // namespace herald::edge
