#include "socket_writer.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace herald::edge {
namespace {

// A connected pair of stream sockets: the writer's end and the client's.
class SocketWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server_ = fds[0];
    client_ = fds[1];
    fcntl(server_, F_SETFL, fcntl(server_, F_GETFL) | O_NONBLOCK);
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }
  void TearDown() override {
    loop_.reset();
    close(server_);
    close(client_);
  }
  // Reads what the client gets until `want` bytes or EOF (10 s at most).
  std::string Read(size_t want) {
    std::string out;
    char buf[65536];
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (out.size() < want && absl::Now() < deadline) {
      const ssize_t n = recv(client_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) break;
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else {
        usleep(1000);
      }
    }
    return out;
  }
  // Runs `fn` as a task of the loop (a round) and waits for the round to end.
  void InRound(std::function<void()> fn) {
    absl::Notification done;
    loop_->Post([&] {
      EXPECT_TRUE(loop_->InRound());
      fn();
    });
    loop_->Post([&] { done.Notify(); });
    done.WaitForNotification();
  }

  int server_ = -1;
  int client_ = -1;
  std::unique_ptr<EventLoop> loop_;
  WriterStats stats_;
};

TEST_F(SocketWriterTest, ARoundsWritesLeaveTogetherAfterItInOrder) {
  auto writer = std::make_shared<SocketWriter>(server_, 1 << 20, *loop_, stats_);
  auto shared = std::make_shared<const std::string>("shared-block|");
  std::string expected;
  absl::Notification written;
  loop_->Post([&] {
    for (int i = 0; i < 100; ++i) {
      writer->WriteRaw(absl::StrCat("own-", i, "|"));
      writer->WriteShared(shared, *shared);
      expected += absl::StrCat("own-", i, "|", *shared);
    }
    // Gathered, not sent yet: nothing has reached the socket inside the round.
    EXPECT_EQ(stats_.bytes_sent.load(), 0);
    written.Notify();
  });
  written.WaitForNotification();
  // A write from another thread goes after what the round gathered.
  const std::string last = Read(expected.size());
  EXPECT_EQ(last, expected);
  writer->WriteRaw("after");
  EXPECT_EQ(Read(5), "after");
  EXPECT_EQ(stats_.bytes_sent.load(), static_cast<int64_t>(expected.size() + 5));
  EXPECT_EQ(stats_.bytes_queued.load(), 0);
}

TEST_F(SocketWriterTest, ABacklogLargerThanTheBoundIsSentNotDropped) {
  // A round holding more than the per-connection bound for a client that
  // reads: sent as it goes, the client is not taken for slow.
  int size = 1 << 20;
  setsockopt(client_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(server_, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  auto writer = std::make_shared<SocketWriter>(server_, 64 * 1024, *loop_, stats_);
  const std::string chunk(1000, 'x');
  InRound([&] {
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(writer->WriteChunk(chunk)) << i;
  });
  EXPECT_FALSE(writer->closed());
  EXPECT_EQ(stats_.slow_closes.load(), 0);
  const std::string got = Read(200 * (chunk.size() + 7));
  EXPECT_EQ(got.size(), 200 * (chunk.size() + 7));
}

TEST_F(SocketWriterTest, AClientThatStopsReadingIsDroppedPastTheBound) {
  auto writer = std::make_shared<SocketWriter>(server_, 64 * 1024, *loop_, stats_);
  const std::string chunk(4096, 'y');
  bool refused = false;
  for (int i = 0; i < 10'000 && !refused; ++i) refused = !writer->WriteChunk(chunk);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(writer->closed());
  EXPECT_EQ(stats_.slow_closes.load(), 1);
  EXPECT_EQ(stats_.bytes_queued.load(), 0);  // what was queued is let go
}

TEST_F(SocketWriterTest, EndInARoundSendsTheLastChunkAfterTheRestThenShutsDown) {
  auto writer = std::make_shared<SocketWriter>(server_, 1 << 20, *loop_, stats_);
  absl::Notification drained;
  InRound([&] {
    writer->WriteChunk("event");
    writer->WhenDrained([&] { drained.Notify(); });
    writer->End();
    EXPECT_FALSE(writer->WriteChunk("too late"));
  });
  EXPECT_EQ(Read(100), "5\r\nevent\r\n0\r\n\r\n");  // then EOF
  EXPECT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(writer->closed());
}

TEST_F(SocketWriterTest, AbortedWritersNeverTouchTheDescriptorAgain) {
  auto writer = std::make_shared<SocketWriter>(server_, 1 << 20, *loop_, stats_);
  InRound([&] {
    writer->WriteChunk("gathered");
    writer->Abort();  // the round's flush must not write a released descriptor
  });
  EXPECT_EQ(stats_.bytes_sent.load(), 0);
  EXPECT_EQ(Read(100), "");  // shut down: EOF, nothing else
}

}  // namespace
}  // namespace herald::edge
