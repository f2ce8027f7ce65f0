// Test support: the Kafka broker of the current test run, private brokers,
// unique names, and waiting on conditions with deadlines.
//
//   std::string bootstrap = herald::testing::TestBootstrap();
//   std::string topic = herald::testing::UniqueName("orders");
//   ASSERT_TRUE(herald::testing::WaitFor([&] { return seen == 10; }, absl::Seconds(30)));
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace herald::testing {

// The broker ctest's `kafka` fixture started: $HERALD_TEST_BOOTSTRAP if set,
// else the address in $HERALD_TEST_KAFKA_DIR/bootstrap. Fails the test (and
// returns "") when neither is there.
std::string TestBootstrap();

// `prefix` plus something no other test run or test uses.
std::string UniqueName(absl::string_view prefix);

// Polls `done` until it is true or `timeout` passed; returns the last value.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout,
             absl::Duration poll = absl::Milliseconds(10));

// A broker (or a cluster of `brokers` nodes, ids 1..N) of the test's own,
// started with scripts/kafka in a fresh temporary folder on free ports;
// stopped and removed by the destructor. For tests that stop or break brokers.
class PrivateBroker final {
 public:
  static absl::StatusOr<std::unique_ptr<PrivateBroker>> Start(int brokers = 1);
  ~PrivateBroker();

  // Every node's address, comma-separated.
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }
  // Stops every node (SIGTERM, then SIGKILL after 30 s). Idempotent.
  absl::Status Stop();
  // Kills node `node` (SIGKILL: connections reset, nothing flushed) and waits
  // until it is gone.
  absl::Status Kill(int node = 1);
  // Starts every stopped or killed node again, with its data, on its ports.
  absl::Status Restart();

 private:
  PrivateBroker(std::string dir, std::string bootstrap, int brokers)
      : dir_(std::move(dir)), bootstrap_(std::move(bootstrap)), brokers_(brokers) {}
  std::string dir_;
  std::string bootstrap_;
  int brokers_;
  bool stopped_ = false;
};

}  // namespace herald::testing
