// H2Connection: one HTTP/2 connection (TLS with ALPN h2, or h2c), owned by
// one of the edge's event loops for its whole life, like an HTTP/1.1 stream.
//
// The loop's thread alone touches the socket, the TLS state and the
// H2Session. Requests leave it for the server's intake threads (routing
// takes the hub's lock, which a loop must never wait for); what comes back
// (answers, a stream's head, its events, its end) is queued per stream under
// the connection's lock and moved into the session on the loop: at the end
// of the round for the shared feed's deliveries, at once otherwise. Each
// event stream of the connection is an entry of the ConnectionTable, counted
// against the same limits as an HTTP/1.1 stream, and a Connection of the
// hub whose SseWriter is an H2StreamWriter.
//
// Bounded: frames produced wait in at most 64 KiB per connection; each
// stream's bytes are bounded by H2Session's `max_queued_bytes` (the stream
// is reset past it and its browser resumes); requests waiting for intake are
// bounded by the server (503 past it).
//
// Thread-safety: Write, End, WhenDrained, Answer, OpenStream and Started from
// any thread; the rest on the loop's thread.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api.h"
#include "connection_table.h"
#include "event_loop.h"
#include "h2_session.h"

namespace herald::edge {

class Hub;
struct WriterStats;

// Counters of the HTTP/2 listeners (for /metrics).
struct H2Stats {
  std::atomic<int64_t> connections{0};  // TCP connections open
  std::atomic<int64_t> streams{0};      // requests received
  std::atomic<int64_t> refused_headers{0};
  std::atomic<int64_t> refused_body{0};
  std::atomic<int64_t> refused_busy{0};
  std::atomic<int64_t> slow_resets{0};
  std::atomic<int64_t> protocol_errors{0};  // connections ended by GOAWAY for the client's fault
  std::atomic<int64_t> tls_failures{0};
};

// What every connection of one listener shares (owned by H2Server).
struct H2Context {
  Hub* hub = nullptr;
  ConnectionTable* table = nullptr;
  WriterStats* writer_stats = nullptr;
  H2Stats* stats = nullptr;
  std::function<void(const ApiRequest&, ApiExchange&)> route;
  H2Session::Options session;
  SSL_CTX* tls = nullptr;  // null: h2c
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Minutes(2);
  // Runs `fn` on an intake thread; false when too many wait (`must`: never
  // refused, for work bounded by the streams themselves).
  std::function<bool(std::function<void()> fn, bool must)> intake;
  // Table keys of HTTP/2 streams (disjoint from Pistache's peer ids),
  // shared by every listener of the table.
  std::atomic<size_t>* next_key = nullptr;
  // The connection is closed (its server lets go of it).
  std::function<void(const void* connection)> closed;
};

class H2Connection final : public Pollable,
                           public H2Session::Delegate,
                           public std::enable_shared_from_this<H2Connection> {
 public:
  // Serves `fd` (accepted, non-blocking; closed by the connection) on `loop`.
  H2Connection(H2Context& context, int fd, std::string client_ip, EventLoop& loop, int loop_index);
  ~H2Connection() override;

  // Starts serving (any thread).
  void Start();
  // Closes after a GOAWAY (any thread).
  void Shutdown();
  // Timeouts: a handshake that does not finish, a connection left idle
  // (any thread).
  void Tick(absl::Time now);

  void OnEvents(uint32_t events) override;
  void FlushRound() override { Flush(); }

  // For a stream's writer and its exchange, from any thread.
  bool Write(int32_t stream, absl::string_view bytes);
  void End(int32_t stream);
  void WhenDrained(int32_t stream, std::function<void()> fn);
  void Answer(int32_t stream, ApiAnswer answer);
  absl::StatusOr<ApiExchange::Stream> OpenStream(int32_t stream, const HeaderList& headers);
  void Started(int32_t stream, std::shared_ptr<Connection> connection);

 private:
  // H2Session::Delegate (loop thread).
  void OnRequest(int32_t stream, ApiRequest request) override;
  void OnClosed(int32_t stream) override;
  void OnRefused(int32_t stream, absl::string_view why) override;

  struct Inbox {
    std::optional<ApiAnswer> answer;
    std::optional<HeaderList> start;
    std::string bytes;
    bool end = false;
    bool slow = false;  // more than the bound waited: reset
  };
  struct Open {
    size_t key = 0;  // its ConnectionTable entry, once it is a stream
    std::vector<std::function<void()>> drained;
  };
  void CheckTimeouts(absl::Time now);
  bool OpenLocked(int32_t stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !closed_ && open_.contains(stream);
  }
  // Has the loop move the inbox into the session soon.
  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loop thread: the inbox into the session, frames out, drained callbacks.
  void Flush();
  bool Handshake();
  // Reads what the socket has; false when the connection must end.
  bool ReadAll();
  // Writes frames while the socket takes them; false when it failed or the
  // session is done (the caller closes).
  bool WriteOut();
  void Close();
  // Releases a stream's table entry and removes it from the hub (on an
  // intake thread: a loop never takes the hub's lock).
  void Release(size_t key);

  H2Context& context_;
  const int fd_;
  const std::string client_ip_;
  EventLoop& loop_;
  const int loop_index_;

  absl::Mutex mu_;
  absl::flat_hash_map<int32_t, Open> open_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int32_t, Inbox> inbox_ ABSL_GUARDED_BY(mu_);
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;

  // Loop thread only.
  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;
  std::unique_ptr<H2Session> session_;
  std::string out_;
  size_t out_off_ = 0;
  uint32_t watching_ = 0;  // epoll events asked for
  bool done_ = false;
  const absl::Time created_ = absl::Now();
  absl::Time last_active_ = absl::Now();
};

}  // namespace herald::edge
