// send_floor: the kernel's cost of one SSE delivery on loopback, with no
// server around it: the floor under the edge's "CPU per delivery".
//
// Opens --connections loopback TCP pairs, then for --rounds rounds writes one
// --bytes chunk to every sender socket (one send() each, as the edge does for
// a connection with one event due), while a reader thread drains the other
// ends. Reports the sending thread's CPU (user + system, getrusage
// RUSAGE_THREAD) per send; on loopback the receive side's TCP processing
// runs in the sender's context and is counted too. Then the same with
// --batch chunks per send (sendmsg of several iovecs, as the edge does for a
// connection with a backlog), per chunk.
//
//   send_floor [--connections=2000] [--rounds=50] [--bytes=250] [--batch=4]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

ABSL_FLAG(int, connections, 2000, "loopback TCP pairs");
ABSL_FLAG(int, rounds, 50, "rounds of one write per connection");
ABSL_FLAG(int, bytes, 250, "bytes per chunk (an SSE event of a 200-byte payload)");
ABSL_FLAG(int, batch, 4, "chunks per send in the batched pass");

namespace {

double ThreadCpuMicros() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_connections);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int batch = std::max(1, absl::GetFlag(FLAGS_batch));
  const std::string chunk(static_cast<size_t>(absl::GetFlag(FLAGS_bytes)), 'x');

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0) Die("bind");
  if (listen(listener, 4096) != 0) Die("listen");
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> senders, readers;
  for (int i = 0; i < n; ++i) {
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0) Die("socket (raise the open-file limit or lower --connections)");
    if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("connect");
    const int s = accept(listener, nullptr, nullptr);
    if (s < 0) Die("accept");
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as the edge's sockets
    senders.push_back(s);
    readers.push_back(c);
  }
  close(listener);

  // The browsers: drain every reader until told to stop.
  std::atomic<bool> stop{false};
  std::thread drain([&] {
    const int ep = epoll_create1(0);
    for (int fd : readers) {
      epoll_event ev{.events = EPOLLIN, .data = {.fd = fd}};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::vector<epoll_event> ready(1024);
    char buf[65536];
    while (!stop.load()) {
      const int k = epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), 50);
      for (int i = 0; i < k; ++i) {
        while (recv(ready[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        }
      }
    }
    close(ep);
  });

  auto pass = [&](int per_send) {
    std::vector<iovec> iov(static_cast<size_t>(per_send),
                           iovec{const_cast<char*>(chunk.data()), chunk.size()});
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    const double cpu0 = ThreadCpuMicros();
    const absl::Time t0 = absl::Now();
    for (int r = 0; r < rounds; ++r) {
      for (int fd : senders) {
        if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0) Die("sendmsg");
      }
      // Let the reader keep up, as browsers do between events.
      absl::SleepFor(absl::Milliseconds(5));
    }
    const double cpu = ThreadCpuMicros() - cpu0;
    const double sends = static_cast<double>(rounds) * n;
    std::printf(
        "%d chunk(s) of %zu bytes per send: %.0f sends in %.1f s, %.2f us CPU per send, "
        "%.2f us per chunk\n",
        per_send, chunk.size(), sends, absl::ToDoubleSeconds(absl::Now() - t0), cpu / sends,
        cpu / sends / per_send);
  };
  std::printf("send_floor: %d loopback TCP pairs, %d rounds, sender thread CPU (getrusage)\n", n,
              rounds);
  pass(1);
  pass(batch);
  stop.store(true);
  drain.join();
  for (int fd : senders) close(fd);
  for (int fd : readers) close(fd);
  return 0;
}
