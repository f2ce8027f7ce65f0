// Test support: browsers that follow streams through a real edge, and a
// publisher thread, for the exactness tests.
//
//   Fleet fleet(mesh, StreamNames("web/s", 50), /*browsers=*/10, /*min_streams=*/3,
//               /*max_streams=*/10, /*per_stream=*/400, /*cuts=*/5);
//   fleet.Begin();                                   // every browser has its start cursor
//   Publishing publishing(mesh, streams, 400);       // {"s":...,"n":0..399} per stream
//   ASSERT_TRUE(publishing.AwaitAcked(10'000));
//   ... kill, stop or restart things ...
//   publishing.Join(); fleet.Join(); fleet.ExpectExact();
//
// Each browser runs on a thread of its own, reconnects with Last-Event-ID
// after its own cuts and whenever the edge goes away, and keeps what it
// received per stream. Threads end by themselves (every event received, or
// 240 s).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "support/backbone.h"

namespace herald::testing {

// "/v1/events?stream=a&stream=b" + extra.
std::string Target(const std::vector<std::string>& streams, const std::string& extra = "");
// prefix0, prefix1, ...
std::vector<std::string> StreamNames(const std::string& prefix, int n);

class Browser {
 public:
  Browser(Backbone& mesh, std::vector<std::string> streams, int expected, int cuts, uint32_t seed);
  // Stops the browser (a test that failed early) and joins it.
  ~Browser();
  // Starts the browser and waits until it holds a start cursor.
  void Begin();
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, std::vector<int>> received();
  int cuts() const { return cuts_.load(); }
  int reconnects() const { return reconnects_.load(); }

 private:
  void Run();

  Backbone& mesh_;
  const std::vector<std::string> streams_;
  const int expected_;
  std::mt19937 rng_;
  std::vector<int> cut_at_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0}, reconnects_{0};
  absl::Mutex mu_;
  std::map<std::string, std::vector<int>> received_ ABSL_GUARDED_BY(mu_);
};

// Browsers following random subsets of `streams`, each cutting its own
// connection `cuts` times.
class Fleet {
 public:
  Fleet(Backbone& mesh, const std::vector<std::string>& streams, int browsers, int min_streams,
        int max_streams, int per_stream, int cuts);
  uint32_t seed() const { return seed_; }
  void Begin();
  void Join();
  // Every browser got each of its streams' events exactly once, in order.
  void ExpectExact();

 private:
  const uint32_t seed_;
  const int per_stream_;
  const int cuts_;
  std::vector<std::unique_ptr<Browser>> browsers_;
  std::vector<std::vector<std::string>> follows_;
};

// PublishInterleaved on a thread of its own, counting acknowledgements.
class Publishing {
 public:
  Publishing(Backbone& mesh, const std::vector<std::string>& streams, int per_stream);
  ~Publishing() { Join(); }
  // Waits until `n` events were acknowledged.
  bool AwaitAcked(int n);
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // The longest time without an acknowledgement (a publish stall).
  absl::Duration longest_gap();

 private:
  std::atomic<int> acked_{0};
  absl::Mutex mu_;
  absl::Duration longest_gap_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace herald::testing
