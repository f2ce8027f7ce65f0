// SocketWriter: the edge's own writer for one SSE response.
//
// Pistache 0.0.5's writer spins its reactor thread when a client stops reading
// (EAGAIN) and addresses writes by fd number, which a newer connection may
// have reused. So the edge writes a stream's socket itself: non-blocking sends
// from whichever thread has bytes, the rest kept in a bounded queue and
// flushed by the connection's EventLoop when the socket is writable again.
// Past the bound the client is too slow: the socket is shut down (the browser
// reconnects and resumes from its cursor), so memory never grows with a slow
// client.
//
// What is queued is a list of segments: buffers rendered once and shared by
// every connection that sends them (WriteShared), or the writer's own. Writes
// made during a round of the writer's loop are gathered and sent together at
// the end of the round (one sendmsg of up to 64 segments); writes from any
// other thread are sent at once, after what is gathered, so order holds.
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
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "event_loop.h"

namespace herald::edge {

// Counters shared by every writer (for /metrics).
struct WriterStats {
  std::atomic<int64_t> bytes_sent{0};
  std::atomic<int64_t> bytes_queued{0};
  std::atomic<int64_t> slow_closes{0};
};

class SocketWriter final : public Pollable, public std::enable_shared_from_this<SocketWriter> {
 public:
  // Writes `fd` until Abort(); does not close it.
  SocketWriter(int fd, size_t max_queued_bytes, EventLoop& loop, WriterStats& stats);
  ~SocketWriter() override;

  // Bytes as they are (the response head).
  bool WriteRaw(absl::string_view bytes);
  // One HTTP/1.1 chunk holding `data` (never empty).
  bool WriteChunk(absl::string_view data);
  // `bytes` (a view into `owner`), already framed, shared with other writers:
  // queued without a copy.
  bool WriteShared(std::shared_ptr<const std::string> owner, absl::string_view bytes);
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
  void OnEvents(uint32_t) override { OnWritable(); }
  // Sends what a round of the loop gathered (the loop calls it).
  void FlushRound() override;

  EventLoop& loop() const { return loop_; }

 private:
  struct Segment {
    std::shared_ptr<const std::string> owner;
    const char* data;
    size_t size;
  };
  // A FIFO of segments that costs nothing while empty (std::deque allocates
  // its first block up front: 600 bytes for every idle connection).
  class Segments {
   public:
    bool empty() const { return head_ == items_.size(); }
    Segment& front() { return items_[head_]; }
    void push_back(Segment s) { items_.push_back(std::move(s)); }
    void pop_front() {
      items_[head_++].owner.reset();
      if (empty()) {
        clear();
      } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }
    void clear() {
      if (items_.capacity() > 16) {
        std::vector<Segment>().swap(items_);  // a burst's room goes back
      } else {
        items_.clear();
      }
      head_ = 0;
    }
    std::vector<Segment>::iterator begin() {
      return items_.begin() + static_cast<std::ptrdiff_t>(head_);
    }
    std::vector<Segment>::iterator end() { return items_.end(); }

   private:
    std::vector<Segment> items_;
    size_t head_ = 0;
  };
  bool SendLocked(Segment segment) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a flush: waits for the socket if bytes remain, shuts it down if it
  // is ending and nothing remains; true if drained callbacks are due.
  bool AfterFlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ShutdownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shuts the socket down once nothing is pending: true if that is now.
  bool CloseWhenDrainedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes under the lock; if that closed the writer, its drained callbacks
  // go to the loop.
  bool Send(Segment segment);

  const int fd_;
  const size_t max_queued_;
  EventLoop& loop_;
  WriterStats& stats_;
  mutable absl::Mutex mu_;
  Segments pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;    // for EPOLLOUT
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;  // for the end of the round
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;  // Abort()ed: fd_ may be another socket now
  bool close_when_drained_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> drained_ ABSL_GUARDED_BY(mu_);
};

}  // namespace herald::edge
