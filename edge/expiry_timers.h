// ExpiryTimers: ends each stream when the token that opened it expires.
//
// A stream authorized by a token lives no longer than the token: at its
// `valid_until` (exp plus the leeway) the stream gets one last event,
// `herald.auth` with {"reason":"expired"} and the current cursor as its id,
// and ends. The browser comes back with a fresh token and that id, and misses
// nothing (herald.js does it by itself with `refreshToken`).
//
// One thread sleeps until the earliest deadline of a min-heap: the cost is a
// heap entry per authenticated stream, never a scan of every connection.
// Entries hold the connection weakly; a stream that ended first is skipped at
// its deadline, and the heap is purged of such entries whenever it has grown
// to twice its size after the last purge, so its memory follows the open
// streams, not the streams ever opened.
//
//   ExpiryTimers timers([](Connection& c) { c.EndWith("herald.auth", ...); });
//   timers.Add(principal.valid_until, connection);
//
// Thread-safety: Add from any thread; `expire` runs on the timers' thread.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace herald::edge {

class Connection;

class ExpiryTimers final {
 public:
  explicit ExpiryTimers(std::function<void(Connection&)> expire);
  ~ExpiryTimers();  // stops the thread; pending deadlines are dropped

  // Calls `expire` on `connection` at `at`, if it is still alive then.
  void Add(absl::Time at, const std::shared_ptr<Connection>& connection);
  size_t pending() const;

 private:
  struct Timer {
    absl::Time at;
    std::weak_ptr<Connection> connection;
  };
  static bool Later(const Timer& a, const Timer& b) { return a.at > b.at; }
  void Run();

  const std::function<void(Connection&)> expire_;
  mutable absl::Mutex mu_;
  std::vector<Timer> heap_ ABSL_GUARDED_BY(mu_);  // std::push_heap with Later: earliest first
  size_t purge_at_ ABSL_GUARDED_BY(mu_) = 1024;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace herald::edge
