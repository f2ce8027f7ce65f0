#include "expiry_timers.h"

#include <string>
#include <vector>

#include "connection.h"
#include "gtest/gtest.h"

namespace herald::edge {
namespace {

class NullWriter final : public SseWriter {
 public:
  bool Write(std::string) override { return true; }
  void Close() override {}
  void WhenDrained(std::function<void()> fn) override { fn(); }
};

std::shared_ptr<Connection> NewConnection(const std::string& stream) {
  return std::make_shared<Connection>("e", std::vector<std::string>{stream}, 4,
                                      std::make_unique<NullWriter>());
}

class ExpiryTimersTest : public ::testing::Test {
 protected:
  std::vector<std::string> Expired() {
    absl::MutexLock lock(&mu_);
    return expired_;
  }
  bool AwaitExpired(size_t n) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return expired_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
  }

  absl::Mutex mu_;
  std::vector<std::string> expired_ ABSL_GUARDED_BY(mu_);
  ExpiryTimers timers_{[this](Connection& c) {
    absl::MutexLock lock(&mu_);
    expired_.push_back(c.streams()[0]);
  }};
};

TEST_F(ExpiryTimersTest, ExpiresInDeadlineOrderAndSkipsConnectionsAlreadyGone) {
  const absl::Time now = absl::Now();
  auto late = NewConnection("late");
  auto early = NewConnection("early");
  auto gone = NewConnection("gone");
  auto middle = NewConnection("middle");
  // Every deadline is at least 500 ms away, so that a slow machine (a
  // sanitizer build) adds them all before the first is due.
  timers_.Add(now + absl::Milliseconds(800), late);
  timers_.Add(now + absl::Milliseconds(700), gone);
  timers_.Add(now + absl::Milliseconds(600), middle);
  timers_.Add(now + absl::Milliseconds(500), early);  // a new earliest deadline wakes the thread
  gone.reset();                                       // the stream ended first
  ASSERT_TRUE(AwaitExpired(3));
  EXPECT_EQ(Expired(), (std::vector<std::string>{"early", "middle", "late"}));
  EXPECT_GE(absl::Now() - now, absl::Milliseconds(800)) << "expired before its deadline";
}

TEST_F(ExpiryTimersTest, AFarDeadlineDoesNotExpireAndEntriesOfEndedStreamsArePurged) {
  auto open = NewConnection("open");
  timers_.Add(absl::Now() + absl::Hours(1), open);
  for (int i = 0; i < 10'000; ++i) {
    // Streams that opened and ended long before their tokens expire.
    timers_.Add(absl::Now() + absl::Hours(1), NewConnection("ended"));
  }
  EXPECT_LE(timers_.pending(), 2048u) << "entries of ended streams kept";
  EXPECT_TRUE(Expired().empty());
}

}  // namespace
}  // namespace herald::edge
