#include "support/fleet.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/kafka_env.h"
#include "support/sse_client.h"
#include "support/test_events.h"

namespace herald::testing {

std::string Target(const std::vector<std::string>& streams, const std::string& extra) {
  std::string target = "/v1/events?";
  for (size_t i = 0; i < streams.size(); ++i) {
    absl::StrAppend(&target, i ? "&" : "", "stream=", streams[i]);
  }
  return target + extra;
}

std::vector<std::string> StreamNames(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(prefix, i));
  return out;
}

Browser::Browser(Backbone& mesh, std::vector<std::string> streams, int expected, int cuts,
                 uint32_t seed)
    : mesh_(mesh), streams_(std::move(streams)), expected_(expected), rng_(seed) {
  cut_at_ = CutPoints(expected_, cuts, rng_);
}

Browser::~Browser() {
  stop_.store(true);
  Join();
}

void Browser::Begin() {
  thread_ = std::thread([this] { Run(); });
  WaitFor([this] { return started_.load(); }, absl::Seconds(60));
}

std::map<std::string, std::vector<int>> Browser::received() {
  absl::MutexLock lock(&mu_);
  return received_;
}

void Browser::Run() {
  std::string last_id;
  size_t next_cut = 0;
  int total = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(240);
  while (total < expected_ && absl::Now() < deadline && !stop_.load()) {
    std::map<std::string, std::string> headers;
    if (!last_id.empty()) headers["Last-Event-ID"] = last_id;
    auto client = SseClient::Connect(mesh_.edge_port(), Target(streams_), headers);
    if (!client.ok() || (*client)->status() != 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the edge is restarting
      continue;
    }
    ++reconnects_;
    bool cut = false;
    while (!cut && total < expected_ && absl::Now() < deadline && !stop_.load()) {
      std::optional<SseEvent> e = (*client)->Next(absl::Seconds(2));
      if (!(*client)->last_id().empty()) {
        last_id = (*client)->last_id();
        started_ = true;
      }
      if (!e.has_value()) {
        if ((*client)->ended()) break;
        continue;
      }
      if (e->type == "herald.reset") {
        ADD_FAILURE() << "unexpected reset " << e->data;
        continue;
      }
      {
        absl::MutexLock lock(&mu_);
        received_[StreamOf(e->data)].push_back(SeqOf(e->data));
      }
      ++total;
      if (next_cut < cut_at_.size() && total >= cut_at_[next_cut]) {
        ++next_cut;
        ++cuts_;
        cut = true;
      }
    }
  }
}

Fleet::Fleet(Backbone& mesh, const std::vector<std::string>& streams, int browsers, int min_streams,
             int max_streams, int per_stream, int cuts)
    : seed_(std::random_device{}()), per_stream_(per_stream), cuts_(cuts) {
  std::mt19937 rng(seed_);
  for (int i = 0; i < browsers; ++i) {
    std::vector<std::string> mine = streams;
    std::shuffle(mine.begin(), mine.end(), rng);
    mine.resize(std::uniform_int_distribution<int>(min_streams, max_streams)(rng));
    follows_.push_back(mine);
    browsers_.push_back(std::make_unique<Browser>(
        mesh, mine, static_cast<int>(mine.size()) * per_stream, cuts, rng()));
  }
}

void Fleet::Begin() {
  for (auto& b : browsers_) b->Begin();
}

void Fleet::Join() {
  for (auto& b : browsers_) b->Join();
}

void Fleet::ExpectExact() {
  std::vector<int> expected(per_stream_);
  for (int n = 0; n < per_stream_; ++n) expected[n] = n;
  for (size_t i = 0; i < browsers_.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("browser ", i));
    EXPECT_GE(browsers_[i]->cuts(), cuts_);
    std::map<std::string, std::vector<int>> got = browsers_[i]->received();
    EXPECT_EQ(got.size(), follows_[i].size());
    for (const std::string& s : follows_[i]) {
      ASSERT_EQ(got[s], expected) << "stream " << s << ": loss, duplicate or disorder";
    }
  }
}

Publishing::Publishing(Backbone& mesh, const std::vector<std::string>& streams, int per_stream)
    : thread_([&mesh, streams, per_stream, this] {
        absl::Time last = absl::Now();
        mesh.PublishInterleaved(streams, per_stream, [this, &last](int n) {
          const absl::Time now = absl::Now();
          {
            absl::MutexLock lock(&mu_);
            longest_gap_ = std::max(longest_gap_, now - last);
          }
          last = now;
          acked_.store(n);
        });
      }) {}

absl::Duration Publishing::longest_gap() {
  absl::MutexLock lock(&mu_);
  return longest_gap_;
}

bool Publishing::AwaitAcked(int n) {
  return WaitFor([&] { return acked_.load() >= n; }, absl::Seconds(180));
}

}  // namespace herald::testing
