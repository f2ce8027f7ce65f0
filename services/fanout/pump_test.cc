#include "pump.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace herald::fanout {
namespace {

// Counts its steps; `alive` goes false when the last reference is let go.
class Counting final : public Pump::Task {
 public:
  explicit Counting(std::atomic<bool>* alive) : alive_(alive) { alive_->store(true); }
  ~Counting() override { alive_->store(false); }
  void Step() override { steps.fetch_add(1); }
  std::atomic<int> steps{0};

 private:
  std::atomic<bool>* alive_;
};

bool WaitUntil(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(PumpTest, ATaskScheduledManyTimesBeforeItRunsRunsOnce) {
  EventStore store(1, {});
  std::atomic<bool> alive;
  auto* task = new Counting(&alive);
  {
    Pump pump(store, 1, absl::Hours(1));
    // Hold the only worker until every schedule below has been made.
    absl::Notification go;
    class Blocker final : public Pump::Task {
     public:
      explicit Blocker(absl::Notification* go) : go_(go) {}
      void Step() override { go_->WaitForNotification(); }
      absl::Notification* go_;
    };
    auto* blocker = new Blocker(&go);
    pump.Schedule(blocker);
    blocker->Unref();
    for (int i = 0; i < 100; ++i) pump.Schedule(task);
    go.Notify();
    ASSERT_TRUE(WaitUntil([&] { return task->steps.load() >= 1; }));
  }  // the pump runs what is queued and joins
  EXPECT_EQ(task->steps.load(), 1);
  task->Unref();
  EXPECT_FALSE(alive.load());
}

TEST(PumpTest, AWaitingTaskStepsWhenTheStoreChangesNotBefore) {
  EventStore store(1, {});
  std::atomic<bool> alive;
  auto* task = new Counting(&alive);
  Pump pump(store, 2, absl::Hours(1));  // no tick: only a change wakes it
  pump.ScheduleOnChange(task, store.Version());
  ASSERT_TRUE(WaitUntil([&] { return pump.Waiting() == 1; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(task->steps.load(), 0);
  store.Poke();
  ASSERT_TRUE(WaitUntil([&] { return task->steps.load() == 1; }));
  EXPECT_EQ(pump.Waiting(), 0u);
  task->Unref();
}

TEST(PumpTest, AChangeBeforeTheTaskWaitsIsNotMissed) {
  EventStore store(1, {});
  std::atomic<bool> alive;
  auto* task = new Counting(&alive);
  Pump pump(store, 1, absl::Hours(1));
  const uint64_t seen = store.Version();
  store.Poke();  // between the task's look at the store and its wait
  pump.ScheduleOnChange(task, seen);
  ASSERT_TRUE(WaitUntil([&] { return task->steps.load() == 1; }));
  task->Unref();
}

TEST(PumpTest, TheTickWakesWaitingTasksWithoutAChange) {
  EventStore store(1, {});
  std::atomic<bool> alive;
  auto* task = new Counting(&alive);
  Pump pump(store, 1, absl::Milliseconds(20));
  pump.ScheduleOnChange(task, store.Version());
  ASSERT_TRUE(WaitUntil([&] { return task->steps.load() == 1; }));
  task->Unref();
}

TEST(PumpTest, TheLastReferenceDeletesTheTaskWhenThePumpIsDone) {
  EventStore store(1, {});
  std::atomic<bool> alive;
  auto* task = new Counting(&alive);
  {
    Pump pump(store, 1, absl::Hours(1));
    pump.ScheduleOnChange(task, store.Version());
    task->Unref();  // its owner is done with it (gRPC's OnDone): the pump holds it
    EXPECT_TRUE(alive.load());
  }
  EXPECT_FALSE(alive.load());
}

}  // namespace
}  // namespace herald::fanout
