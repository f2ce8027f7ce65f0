// The topic changes shape under a running mesh: partitions are added (and
// producers follow the new count, so streams move), or the topic is deleted
// and created again. The fanout must notice within seconds, without anyone
// restarting it, and every browser must either continue exactly or get an
// explicit herald.reset naming its streams: never a silent gap, and never an
// old cursor applied to the new log.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/broker/admin.h"
#include "herald/common/partitioner.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/kafka_env.h"
#include "support/sse_client.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::SeqOf;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::StreamOf;
using ::herald::testing::Target;
using ::herald::testing::WaitFor;
using ::testing::HasSubstr;

// A browser that reconnects with its last id until told to stop.
class Viewer {
 public:
  Viewer(int port, std::vector<std::string> streams) : port_(port), streams_(std::move(streams)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Viewer() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  bool started() const { return started_.load(); }

  struct Seen {
    std::vector<int> before;  // per stream, before its reset
    std::vector<int> after;
    int resets = 0;
  };
  std::map<std::string, Seen> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  // Every herald.reset it got said the epoch changed.
  void ExpectEpochResetsOnly() {
    absl::MutexLock lock(&mu_);
    for (const std::string& reset : reasons_) {
      EXPECT_THAT(reset, HasSubstr("\"reason\":\"epoch\""));
    }
  }
  const std::vector<std::string>& streams() const { return streams_; }
  std::string last_id() {
    absl::MutexLock lock(&mu_);
    return last_id_;
  }

 private:
  void Run() {
    std::string last_id;
    while (!stop_.load()) {
      std::map<std::string, std::string> headers;
      if (!last_id.empty()) headers["Last-Event-ID"] = last_id;
      auto client = SseClient::Connect(port_, Target(streams_), headers);
      if (!client.ok() || (*client)->status() != 200) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      while (!stop_.load()) {
        std::optional<SseEvent> e = (*client)->Next(absl::Milliseconds(500));
        if (!(*client)->last_id().empty()) {
          last_id = (*client)->last_id();
          started_.store(true);
          absl::MutexLock lock(&mu_);
          last_id_ = last_id;
        }
        if (!e.has_value()) {
          if ((*client)->ended()) break;
          continue;
        }
        absl::MutexLock lock(&mu_);
        if (e->type == "herald.reset") {
          reasons_.push_back(e->data);
          for (const std::string& s : streams_) {
            if (e->data.find("\"" + s + "\"") != std::string::npos) ++seen_[s].resets;
          }
          continue;
        }
        Seen& s = seen_[StreamOf(e->data)];
        (s.resets == 0 ? s.before : s.after).push_back(SeqOf(e->data));
      }
    }
  }

  const int port_;
  const std::vector<std::string> streams_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  absl::Mutex mu_;
  std::map<std::string, Seen> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> reasons_ ABSL_GUARDED_BY(mu_);
  std::string last_id_ ABSL_GUARDED_BY(mu_);
};

bool AllStarted(const std::vector<std::unique_ptr<Viewer>>& viewers) {
  return std::all_of(viewers.begin(), viewers.end(), [](const auto& v) { return v->started(); });
}

// Every viewer has had a reset for each of its streams.
bool AllReset(const std::vector<std::unique_ptr<Viewer>>& viewers) {
  for (const auto& v : viewers) {
    std::map<std::string, Viewer::Seen> seen = v->seen();
    for (const std::string& s : v->streams()) {
      if (seen[s].resets == 0) return false;
    }
  }
  return true;
}

// Publishes {"s":..,"n":from..to-1} to each stream, retrying each event until
// `deadline` (the topic may be coming back).
void PublishRange(Backbone& mesh, const std::vector<std::string>& streams, int from, int to) {
  for (int n = from; n < to; ++n) {
    for (const std::string& s : streams) {
      absl::Status last;
      ASSERT_TRUE(WaitFor(
          [&] {
            last = mesh.Publish(s, "t", absl::StrCat("{\"s\":\"", s, "\",\"n\":", n, "}")).status();
            return last.ok();
          },
          absl::Seconds(30)))
          << last;
    }
  }
}

TEST(PartitionsAddedTest, EveryBrowserContinuesExactlyOrIsToldOfTheGap) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 3}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto admin = broker::Admin::Create({.bootstrap_servers = mesh.bootstrap()});
  HERALD_ASSERT_OK(admin);

  // Streams whose murmur2 partition moves when 3 partitions become 6.
  std::vector<std::string> streams;
  for (int i = 0; streams.size() < 4; ++i) {
    const std::string s = absl::StrCat("pa/s", i);
    if (common::PartitionForKey(s, 3) != common::PartitionForKey(s, 6)) streams.push_back(s);
  }
  std::vector<std::unique_ptr<Viewer>> viewers;
  viewers.push_back(std::make_unique<Viewer>(mesh.edge_port(), streams));
  viewers.push_back(std::make_unique<Viewer>(mesh.edge_port(), std::vector{streams[0]}));
  viewers.push_back(
      std::make_unique<Viewer>(mesh.edge_port(), std::vector{streams[1], streams[2]}));
  ASSERT_TRUE(WaitFor([&] { return AllStarted(viewers); }, absl::Seconds(30)));

  // One publisher thread, 4 streams, about 40 events/s each. `moved[s]` is
  // the first n the publisher placed by the new partition count.
  std::atomic<bool> stop_publishing{false};
  absl::Mutex mu;
  std::map<std::string, int> published, moved;
  absl::Time all_moved = absl::InfiniteFuture();
  std::thread publisher([&] {
    for (int n = 0; !stop_publishing.load(); ++n) {
      for (const std::string& s : streams) {
        absl::StatusOr<v1::PublishResponse> r =
            mesh.Publish(s, "t", absl::StrCat("{\"s\":\"", s, "\",\"n\":", n, "}"));
        ASSERT_TRUE(r.ok()) << r.status();
        absl::MutexLock lock(&mu);
        published[s] = n + 1;
        if (!moved.contains(s) && r->position().partition() == common::PartitionForKey(s, 6)) {
          moved[s] = n;
          if (moved.size() == streams.size()) all_moved = absl::Now();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return published[streams[3]] >= 40;
      },
      absl::Seconds(30)));

  const absl::Time added = absl::Now();
  HERALD_ASSERT_OK((*admin)->AddPartitions(mesh.topic(), 6, absl::Seconds(30)));
  // Each viewer is told about each of its streams.
  ASSERT_TRUE(WaitFor([&] { return AllReset(viewers); }, absl::Seconds(60)))
      << mesh.fanout().LogTail();
  const absl::Duration told = absl::Now() - added;
  absl::Duration publisher_moved;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        publisher_moved = all_moved - added;
        return moved.size() == streams.size();
      },
      absl::Seconds(30)));
  // Then 40 more events per stream, all placed by the new count.
  int last_needed = 0;
  {
    absl::MutexLock lock(&mu);
    for (const auto& [s, n] : published) last_needed = std::max(last_needed, n + 40);
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        for (const std::string& s : streams) {
          if (published[s] < last_needed) return false;
        }
        return true;
      },
      absl::Seconds(60)));
  stop_publishing.store(true);
  publisher.join();
  std::map<std::string, int> final_count;
  {
    absl::MutexLock lock(&mu);
    final_count = published;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& v : viewers) {
          std::map<std::string, Viewer::Seen> seen = v->seen();
          for (const std::string& s : v->streams()) {
            if (std::find(seen[s].after.begin(), seen[s].after.end(), final_count[s] - 1) ==
                seen[s].after.end()) {
              return false;
            }
          }
        }
        return true;
      },
      absl::Seconds(60)));
  for (auto& v : viewers) v->Stop();

  int told_gap = 0;
  for (size_t i = 0; i < viewers.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("viewer ", i));
    viewers[i]->ExpectEpochResetsOnly();
    std::map<std::string, Viewer::Seen> seen = viewers[i]->seen();
    for (const std::string& s : viewers[i]->streams()) {
      SCOPED_TRACE(s);
      const Viewer::Seen& got = seen[s];
      EXPECT_EQ(got.resets, 1);
      // Before the reset: every event from the first, once, in order.
      for (size_t k = 0; k < got.before.size(); ++k) ASSERT_EQ(got.before[k], static_cast<int>(k));
      // After it: no duplicate, nothing older than before it, and from the
      // first event placed by the new count on (all in one partition), every
      // event once, in order. Events placed by the old count just before may
      // come in another order (other partitions) or not at all (misplaced
      // under the new count, counted by the fanout): that is the gap the
      // reset announced.
      ASSERT_FALSE(got.after.empty());
      std::vector<int> sorted = got.after;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
      if (!got.before.empty()) {
        EXPECT_GT(sorted.front(), got.before.back());
      }
      std::vector<int> placed_new;
      for (int n : got.after) {
        if (n >= moved[s]) placed_new.push_back(n);
      }
      ASSERT_FALSE(placed_new.empty());
      const int from = std::max(sorted.front(), moved[s]);
      EXPECT_EQ(placed_new.front(), from) << "an event placed by the new count is missing";
      for (size_t k = 0; k < placed_new.size(); ++k) {
        ASSERT_EQ(placed_new[k], from + static_cast<int>(k)) << "a gap after the reset";
      }
      EXPECT_EQ(placed_new.back(), final_count[s] - 1);
      told_gap += sorted.front() - (got.before.empty() ? 0 : got.before.back() + 1);
    }
  }
  std::printf(
      "3 -> 6 partitions under %zu viewers: every stream reset (epoch) %s after the change, the "
      "publisher placed by the new count %s after it; %d events fell in the announced gaps; "
      "exact before and after\n",
      viewers.size(), absl::FormatDuration(told).c_str(),
      absl::FormatDuration(publisher_moved).c_str(), told_gap);
}

TEST(TopicRecreatedTest, OldCursorsAreResetNeverAppliedToTheNewLog) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 3}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto admin = broker::Admin::Create({.bootstrap_servers = mesh.bootstrap()});
  HERALD_ASSERT_OK(admin);
  const std::vector<std::string> streams = {"tr/a", "tr/b", "tr/c", "tr/d"};
  std::vector<std::unique_ptr<Viewer>> viewers;
  viewers.push_back(std::make_unique<Viewer>(mesh.edge_port(), streams));
  viewers.push_back(std::make_unique<Viewer>(mesh.edge_port(), std::vector{streams[1]}));
  ASSERT_TRUE(WaitFor([&] { return AllStarted(viewers); }, absl::Seconds(30)));
  PublishRange(mesh, streams, 0, 40);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::map<std::string, Viewer::Seen> seen = viewers[0]->seen();
        return seen[streams[3]].before.size() == 40;
      },
      absl::Seconds(30)));
  const std::string old_cursor = viewers[0]->last_id();

  // Deleted and created again, same name, same partition count.
  const absl::Time deleted = absl::Now();
  HERALD_ASSERT_OK((*admin)->DeleteTopic(mesh.topic(), absl::Seconds(30)));
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::IsNotFound((*admin)->PartitionCount(mesh.topic(), absl::Seconds(5)).status());
      },
      absl::Seconds(30)));
  HERALD_ASSERT_OK(
      (*admin)->EnsureTopic({.name = mesh.topic(), .partitions = 3}, absl::Seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return AllReset(viewers); }, absl::Seconds(60)))
      << mesh.fanout().LogTail();
  const absl::Duration told = absl::Now() - deleted;

  // The new log grows well past the old positions; the viewers, live since
  // their reset, get all of it exactly.
  PublishRange(mesh, streams, 40, 140);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& v : viewers) {
          std::map<std::string, Viewer::Seen> seen = v->seen();
          for (const std::string& s : v->streams()) {
            if (seen[s].after.size() < 100) return false;
          }
        }
        return true;
      },
      absl::Seconds(60)));
  for (auto& v : viewers) v->Stop();
  std::vector<int> expected_after(100);
  for (int n = 0; n < 100; ++n) expected_after[n] = 40 + n;
  for (size_t i = 0; i < viewers.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("viewer ", i));
    viewers[i]->ExpectEpochResetsOnly();
    std::map<std::string, Viewer::Seen> seen = viewers[i]->seen();
    for (const std::string& s : viewers[i]->streams()) {
      std::vector<int> before(40);
      for (int n = 0; n < 40; ++n) before[n] = n;
      EXPECT_EQ(seen[s].before, before) << s;
      EXPECT_EQ(seen[s].after, expected_after) << s;
    }
  }

  // A browser coming back only now, with a cursor of the old topic whose
  // positions all exist in the new log: reset, not applied.
  auto late =
      SseClient::Connect(mesh.edge_port(), Target(streams), {{"Last-Event-ID", old_cursor}});
  HERALD_ASSERT_OK(late);
  std::optional<SseEvent> first;
  for (const absl::Time until = absl::Now() + absl::Seconds(20);
       !first.has_value() && absl::Now() < until;) {
    first = (*late)->Next(absl::Seconds(1));
  }
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type, "herald.reset");
  EXPECT_THAT(first->data, HasSubstr("\"reason\":\"epoch\""));
  std::printf(
      "topic deleted and created again under %zu viewers: every stream reset (epoch) %s after "
      "the delete; 100 events per stream after it, exact; a cursor of the old topic (%s) "
      "reset, not applied\n",
      viewers.size(), absl::FormatDuration(told).c_str(), old_cursor.c_str());
}

}  // namespace
}  // namespace herald
