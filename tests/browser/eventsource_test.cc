// A plain EventSource in headless Chromium, on two streams, while the edge is
// killed and restarted under it: the page ends with every event exactly once,
// in order. The browser reconnects by itself with its last event id.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/kafka_env.h"
#include "support/process.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::ChildProcess;
using ::herald::testing::FindProgram;
using ::herald::testing::HeraldSource;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;

struct PageResult {
  std::map<std::string, std::vector<int>> ticks;  // per stream, in arrival order
  std::map<std::string, int> done;
  int resets = 0;
  int opens = 0;
};

PageResult ReadPage(const std::string& path) {
  PageResult result;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    int n = -1;
    if (f.size() == 2 && f[0] == "opens") {
      (void)absl::SimpleAtoi(f[1], &result.opens);
    } else if (f.size() >= 3 && f[0] == "tick" && absl::SimpleAtoi(f[2], &n)) {
      result.ticks[f[1]].push_back(n);
    } else if (f.size() >= 2 && f[0] == "done") {
      ++result.done[f[1]];
    } else if (f[0] == "herald.reset") {
      ++result.resets;
    }
  }
  return result;
}

TEST(BrowserTest, EventSourceResumesExactlyAcrossAnEdgeRestart) {
  const std::string node = FindProgram("node");
  ASSERT_FALSE(node.empty()) << "node is not on PATH (scripts/setup installs it)";
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  // A short retry: hint, so the browser comes back soon after the restart.
  HERALD_ASSERT_OK(mesh.StartEdge({"--retry_ms=500"}));

  const std::vector<std::string> streams = {"browser/a", "browser/b"};
  char dir[] = "/tmp/herald-browser-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = absl::StrCat(dir, "/events.txt");
  auto page =
      ChildProcess::Start(node, {HeraldSource("tests/browser/eventsource_page.mjs"),
                                 absl::StrCat("--origin=http://127.0.0.1:", mesh.edge_port()),
                                 absl::StrCat("--streams=", absl::StrJoin(streams, ",")),
                                 "--out=" + out, "--timeout_ms=120000"});
  ASSERT_TRUE(page.ok()) << page.status();
  absl::StatusOr<int> open = (*page)->WaitForPort("connected", absl::Seconds(60));
  ASSERT_TRUE(open.ok()) << open.status() << "\n" << (*page)->LogTail();

  // 2 x 300 events at about 150 per second; the edge dies after a third and
  // comes back while publishing goes on.
  constexpr int kPerStream = 300;
  std::atomic<int> published{0};
  std::thread publisher([&] {
    for (int n = 0; n < kPerStream; ++n) {
      for (const std::string& s : streams) {
        HERALD_ASSERT_OK(mesh.Publish(s, "tick", TestPayload(s, n)));
        published.fetch_add(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(13));  // pacing, not a wait
    }
  });
  ASSERT_TRUE(WaitFor([&] { return published.load() >= kPerStream * 2 / 3; }, absl::Seconds(60)));
  mesh.edge().Kill(SIGKILL);
  HERALD_ASSERT_OK(mesh.edge().Wait(absl::Seconds(30)));
  const int at_kill = published.load();
  ASSERT_TRUE(WaitFor([&] { return published.load() >= at_kill + 60; }, absl::Seconds(60)))
      << "publishing while the edge is down";
  absl::Status restarted = mesh.StartEdge();
  ASSERT_TRUE(restarted.ok()) << restarted;
  publisher.join();
  for (const std::string& s : streams)
    HERALD_ASSERT_OK(mesh.Publish(s, "done", TestPayload(s, -2)));

  absl::StatusOr<int> exit = (*page)->Wait(absl::Seconds(150));
  ASSERT_TRUE(exit.ok()) << "the page never finished:\n" << (*page)->LogTail();
  EXPECT_EQ(*exit, 0) << (*page)->LogTail();
  const PageResult result = ReadPage(out);
  std::vector<int> expected(kPerStream);
  for (int n = 0; n < kPerStream; ++n) expected[n] = n;
  for (const std::string& s : streams) {
    auto got = result.ticks.find(s);
    ASSERT_NE(got, result.ticks.end()) << "nothing arrived on " << s;
    EXPECT_EQ(got->second, expected) << s << ": loss, duplicate or disorder";
    EXPECT_EQ(result.done.at(s), 1);
  }
  EXPECT_EQ(result.resets, 0);
  EXPECT_GE(result.opens, 2) << "the EventSource never reconnected by itself";
  std::printf("page: %d opens, %zu + %zu events\n", result.opens,
              result.ticks.count(streams[0]) ? result.ticks.at(streams[0]).size() : 0,
              result.ticks.count(streams[1]) ? result.ticks.at(streams[1]).size() : 0);
  std::remove(out.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace herald
