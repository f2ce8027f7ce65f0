// sse_load: many SSE connections to herald-edge, a paced publisher, and the
// publish -> browser latency.
//
// Opens --connections EventSource-like HTTP connections to the edge (spread
// over --source_ips, all loopback), connection i following stream i mod
// --streams. Once every connection has its start block (the edge has joined
// it to the shared feed), publishes --rate events/s in total through
// herald-publisher, round-robin over the streams, each payload carrying its
// send time. Receiver threads (one epoll each) de-chunk and parse the SSE
// streams and record now - sent for every event delivered to every
// connection. The first --warmup of publishing is not measured.
//
// Reports the connect time, the latency percentiles, the delivery ratio
// (deliveries received / events published x connections following their
// stream) and, with --edge_pid, the edge's RSS (sampled every 100 ms, and its
// kernel high-water mark) and CPU.
//
//   sse_load --edge=127.0.0.1:8080 --publisher=127.0.0.1:7001
//       --connections=10000 --streams=1 --rate=10 --duration=30s --edge_pid=1234
//
// Bounded: the connection count, the run time and the drain wait are all
// fixed by flags; every socket is closed on exit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "herald/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, edge, "127.0.0.1:8080", "herald-edge HTTP address (loopback)");
ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher address");
ABSL_FLAG(int32_t, connections, 1000, "SSE connections to open (at most 18000)");
ABSL_FLAG(int32_t, streams, 10, "Streams; connection i follows stream i mod streams");
ABSL_FLAG(double, rate, 100, "Events per second published, in total");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(30), "How long to publish and measure");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(5), "Publishing before measuring");
ABSL_FLAG(int32_t, payload_bytes, 128, "Payload size");
ABSL_FLAG(std::vector<std::string>, source_ips,
          std::vector<std::string>({"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}),
          "Loopback source addresses the connections are spread over");
ABSL_FLAG(int32_t, threads, 2, "Receiver threads (one epoll each)");
ABSL_FLAG(int32_t, edge_pid, 0, "The edge's pid, to report its RSS and CPU (0: not reported)");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(120), "Time allowed to open them all");
ABSL_FLAG(std::string, run_id, "", "Stream name prefix (default: a fresh one per run)");

namespace {

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

// One SSE connection: HTTP head, then chunked transfer coding, then SSE lines.
struct Conn {
  int fd = -1;
  int stream = 0;
  bool head_done = false;
  bool started = false;  // the id-only start block arrived
  bool closed = false;
  std::string in;                    // raw bytes not yet consumed
  int64_t chunk_left = -1;           // -1: expecting a chunk-size line
  std::string line;                  // the SSE line being assembled
  std::string data;                  // the event's data so far
  std::atomic<int64_t> received{0};  // measured events
};

struct Receiver {
  int epoll_fd = -1;
  std::vector<Conn*> conns;
  std::vector<double> latencies_ms;  // measured
  int64_t warmup_events = 0;
  int64_t other_events = 0;
  std::thread thread;
};

std::atomic<int64_t> g_measure_from{std::numeric_limits<int64_t>::max()};
std::atomic<bool> g_stop{false};
std::atomic<int> g_started{0};
std::atomic<int> g_closed{0};

void OnEvent(Receiver& r, Conn& c, int64_t now) {
  const size_t at = c.data.find("\"t\":");
  int64_t sent = 0;
  if (at == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(c.data).substr(at + 4, c.data.find(',', at) - at - 4),
                        &sent)) {
    ++r.other_events;
    return;
  }
  if (sent < g_measure_from.load(std::memory_order_relaxed)) {
    ++r.warmup_events;
    return;
  }
  c.received.fetch_add(1, std::memory_order_relaxed);
  r.latencies_ms.push_back(static_cast<double>(now - sent) / 1e6);
}

// SSE lines of de-chunked bytes.
void OnBody(Receiver& r, Conn& c, absl::string_view bytes, int64_t now) {
  for (char ch : bytes) {
    if (ch != '\n') {
      c.line.push_back(ch);
      continue;
    }
    if (!c.line.empty() && c.line.back() == '\r') c.line.pop_back();
    if (c.line.empty()) {
      if (!c.data.empty()) OnEvent(r, c, now);
      c.data.clear();
    } else if (c.line.rfind("data:", 0) == 0) {
      if (!c.data.empty()) c.data.push_back('\n');
      c.data.append(c.line, c.line.size() > 5 && c.line[5] == ' ' ? 6 : 5);
    } else if (c.line.rfind("id:", 0) == 0 && !c.started) {
      c.started = true;
      g_started.fetch_add(1);
    }
    c.line.clear();
  }
}

void OnReadable(Receiver& r, Conn& c) {
  char buffer[65536];
  while (true) {
    const ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      if (!c.closed) {
        c.closed = true;
        g_closed.fetch_add(1);
      }
      epoll_ctl(r.epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
      return;
    }
    if (n < 0) return;
    const int64_t now = NowNanos();
    c.in.append(buffer, static_cast<size_t>(n));
    size_t pos = 0;
    if (!c.head_done) {
      const size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      if (c.in.compare(0, 12, "HTTP/1.1 200") != 0) {
        std::fprintf(stderr, "sse_load: the edge answered %s\n",
                     c.in.substr(0, c.in.find('\r')).c_str());
        c.closed = true;
        g_closed.fetch_add(1);
        epoll_ctl(r.epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
        return;
      }
      c.head_done = true;
      pos = end + 4;
    }
    while (pos < c.in.size()) {
      if (c.chunk_left < 0) {
        const size_t eol = c.in.find("\r\n", pos);
        if (eol == std::string::npos) break;
        int64_t size = 0;
        absl::SimpleHexAtoi(absl::string_view(c.in).substr(pos, eol - pos), &size);
        c.chunk_left = size;
        pos = eol + 2;
      } else if (c.chunk_left > 0) {
        const size_t take = std::min<size_t>(static_cast<size_t>(c.chunk_left), c.in.size() - pos);
        OnBody(r, c, absl::string_view(c.in).substr(pos, take), now);
        c.chunk_left -= static_cast<int64_t>(take);
        pos += take;
      } else {
        if (c.in.size() - pos < 2) break;  // the CRLF after the chunk
        pos += 2;
        c.chunk_left = -1;
      }
    }
    c.in.erase(0, pos);
    // Level-triggered: a short read emptied the socket, and epoll reports
    // more when it comes, without a recv() that only says EAGAIN.
    if (static_cast<size_t>(n) < sizeof(buffer)) return;
  }
}

void RunReceiver(Receiver& r) {
  epoll_event events[512];
  while (!g_stop.load()) {
    const int n = epoll_wait(r.epoll_fd, events, 512, 100);
    for (int i = 0; i < n; ++i) OnReadable(r, *static_cast<Conn*>(events[i].data.ptr));
  }
}

struct ProcSample {
  int64_t rss_kib = -1;
  int64_t hwm_kib = -1;
  int64_t cpu_ticks = -1;
};

ProcSample SampleProcess(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stoll(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stoll(line.substr(6));
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces): state is field 3; utime
  // and stime are fields 14 and 15.
  const size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::string_view(text).substr(close + 2), ' ', absl::SkipEmpty());
    int64_t utime = 0;
    int64_t stime = 0;
    if (f.size() > 13 && absl::SimpleAtoi(f[11], &utime) && absl::SimpleAtoi(f[12], &stime)) {
      s.cpu_ticks = utime + stime;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int streams = std::max(1, absl::GetFlag(FLAGS_streams));
  if (connections < 1 || connections > 18000) {
    std::fprintf(stderr, "sse_load: --connections must be 1..18000\n");
    return 2;
  }
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < static_cast<rlim_t>(connections) + 100) {
      std::fprintf(stderr, "sse_load: %d connections need more descriptors than %llu\n",
                   connections, static_cast<unsigned long long>(limit.rlim_cur));
      return 2;
    }
  }
  const std::string edge = absl::GetFlag(FLAGS_edge);
  const size_t colon = edge.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(edge.substr(colon + 1), &port)) {
    std::fprintf(stderr, "sse_load: --edge must be host:port\n");
    return 2;
  }
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, edge.substr(0, colon).c_str(), &target.sin_addr) != 1) {
    std::fprintf(stderr, "sse_load: --edge host must be an IPv4 address\n");
    return 2;
  }
  std::vector<in_addr> sources;
  for (const std::string& ip : absl::GetFlag(FLAGS_source_ips)) {
    in_addr a{};
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
      std::fprintf(stderr, "sse_load: source address %s is not loopback\n", ip.c_str());
      return 2;
    }
    sources.push_back(a);
  }
  const std::string run = absl::GetFlag(FLAGS_run_id).empty()
                              ? absl::StrCat("load/", absl::ToUnixMillis(absl::Now()))
                              : absl::GetFlag(FLAGS_run_id);
  std::vector<std::string> names;
  for (int s = 0; s < streams; ++s) names.push_back(absl::StrCat(run, "/", s));

  // Receivers first, so that connections are read from the start.
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int t = 0; t < threads; ++t) {
    auto r = std::make_unique<Receiver>();
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    receivers.push_back(std::move(r));
  }
  for (auto& r : receivers) r->thread = std::thread([&r = *r] { RunReceiver(r); });

  // Connect at most `window` at a time beyond those started, so the edge's
  // accept backlog is never flooded.
  const ProcSample idle = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
  std::vector<std::unique_ptr<Conn>> conns;
  const absl::Time connect_start = absl::Now();
  const absl::Time connect_deadline = connect_start + absl::GetFlag(FLAGS_connect_timeout);
  constexpr int kWindow = 100;
  int failed_connects = 0;
  for (int i = 0; i < connections; ++i) {
    while (i - g_started.load() - g_closed.load() >= kWindow && absl::Now() < connect_deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    auto c = std::make_unique<Conn>();
    c->stream = i % streams;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr = sources[static_cast<size_t>(i) % sources.size()];
    if (c->fd < 0 || bind(c->fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0 ||
        connect(c->fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
      std::fprintf(stderr, "sse_load: connection %d: %s\n", i, strerror(errno));
      if (c->fd >= 0) close(c->fd);
      ++failed_connects;
      continue;
    }
    const std::string request =
        absl::StrCat("GET /v1/events?stream=", names[static_cast<size_t>(c->stream)],
                     " HTTP/1.1\r\nHost: ", edge, "\r\nAccept: text/event-stream\r\n\r\n");
    (void)!send(c->fd, request.data(), request.size(), MSG_NOSIGNAL);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    Receiver& r = *receivers[static_cast<size_t>(i) % receivers.size()];
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c.get();
    epoll_ctl(r.epoll_fd, EPOLL_CTL_ADD, c->fd, &ev);
    conns.push_back(std::move(c));
  }
  while (g_started.load() + g_closed.load() < static_cast<int>(conns.size()) &&
         absl::Now() < connect_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration connect_time = absl::Now() - connect_start;
  const int started = g_started.load();
  const ProcSample held = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
  std::printf("sse_load: %d connections started in %s (%d failed to connect, %d closed)\n", started,
              absl::FormatDuration(connect_time).c_str(), failed_connects, g_closed.load());
  if (held.rss_kib >= 0) {
    std::printf("  edge RSS: %.1f MB before, %.1f MB holding %d connections\n",
                static_cast<double>(idle.rss_kib) / 1024, static_cast<double>(held.rss_kib) / 1024,
                started);
  }
  // Followers per stream, among the started connections.
  std::vector<int64_t> followers(static_cast<size_t>(streams), 0);
  for (const auto& c : conns) {
    if (c->started && !c->closed) ++followers[static_cast<size_t>(c->stream)];
  }

  // Edge RSS and CPU, sampled while publishing.
  std::atomic<int64_t> peak_rss{held.rss_kib};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling.load()) {
      const ProcSample s = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
      if (s.rss_kib > peak_rss.load()) peak_rss.store(s.rss_kib);
      absl::SleepFor(absl::Milliseconds(100));
    }
  });

  auto publisher = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = publisher->PublishStream(&context);
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> rejected{0};
  std::thread acks([&] {
    herald::v1::PublishStreamResponse response;
    while (stream->Read(&response)) {
      for (const herald::v1::PublishResult& r : response.results()) {
        (r.has_ok() ? acked : rejected).fetch_add(1);
      }
    }
  });
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const std::string padding(
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_payload_bytes) - 40)), 'x');
  const absl::Time start = absl::Now();
  g_measure_from = absl::ToUnixNanos(start + warmup);
  ProcSample measure_start;
  absl::Time measure_start_time;
  int64_t index = 0;
  int64_t measured = 0;
  int64_t expected = 0;
  while (true) {
    const absl::Time due = start + absl::Seconds(static_cast<double>(index) / rate);
    if (due - start >= warmup + duration) break;
    if (absl::Time now = absl::Now(); due > now) absl::SleepFor(due - now);
    const bool measuring = due >= start + warmup;
    if (measuring && measured == 0) {
      measure_start = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
      measure_start_time = absl::Now();
    }
    const int s = static_cast<int>(index % streams);
    herald::v1::PublishRequest r;
    r.set_request_id(static_cast<uint64_t>(index));
    r.mutable_event()->set_stream(names[static_cast<size_t>(s)]);
    r.mutable_event()->set_type("load");
    r.mutable_event()->set_text(
        absl::StrCat("{\"t\":", NowNanos(), ",\"n\":", index, ",\"p\":\"", padding, "\"}"));
    if (!stream->Write(r)) break;
    ++index;
    if (measuring) {
      ++measured;
      expected += followers[static_cast<size_t>(s)];
    }
  }
  const ProcSample measure_end = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
  const absl::Duration measured_for = absl::Now() - measure_start_time;
  stream->WritesDone();
  acks.join();
  const grpc::Status publish_status = stream->Finish();

  // Let the last deliveries arrive (bounded), then stop.
  auto received = [&] {
    int64_t n = 0;
    for (const auto& c : conns) n += c->received.load(std::memory_order_relaxed);
    return n;
  };
  const absl::Time drain = absl::Now() + absl::Seconds(10);
  while (received() < expected && absl::Now() < drain) absl::SleepFor(absl::Milliseconds(20));
  g_stop = true;
  for (auto& r : receivers) r->thread.join();
  sampling = false;
  sampler.join();
  const ProcSample final_sample = SampleProcess(absl::GetFlag(FLAGS_edge_pid));

  std::vector<double> l;
  int64_t warmup_events = 0;
  int64_t other_events = 0;
  for (auto& r : receivers) {
    l.insert(l.end(), r->latencies_ms.begin(), r->latencies_ms.end());
    warmup_events += r->warmup_events;
    other_events += r->other_events;
    close(r->epoll_fd);
  }
  for (auto& c : conns) close(c->fd);
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    return l.empty() ? 0.0 : l[std::min(l.size() - 1, static_cast<size_t>(p * l.size()))];
  };
  std::printf(
      "  published %.0f events/s for %s after %s of warm-up, round-robin over %d streams, "
      "%d-byte payloads; %lld measured events, %lld acknowledged in all, %lld rejected (%s)\n",
      rate, absl::FormatDuration(duration).c_str(), absl::FormatDuration(warmup).c_str(), streams,
      absl::GetFlag(FLAGS_payload_bytes), static_cast<long long>(measured),
      static_cast<long long>(acked.load()), static_cast<long long>(rejected.load()),
      publish_status.ok() ? "publish stream ok" : publish_status.error_message().c_str());
  std::printf(
      "  deliveries: expected %lld, received %zu (delivery %.5f); warm-up %lld, other %lld; "
      "%d connections closed by the edge\n",
      static_cast<long long>(expected), l.size(),
      expected ? static_cast<double>(l.size()) / static_cast<double>(expected) : 0.0,
      static_cast<long long>(warmup_events), static_cast<long long>(other_events), g_closed.load());
  std::printf(
      "  publish->browser latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max "
      "%.2f ms\n",
      pct(0.5), pct(0.9), pct(0.99), pct(0.999), l.empty() ? 0.0 : l.back());
  // The histogram: deliveries per latency bucket (upper bounds in ms).
  std::string histogram;
  size_t from = 0;
  for (double bound : {1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e300}) {
    const size_t to = static_cast<size_t>(std::upper_bound(l.begin(), l.end(), bound) - l.begin());
    absl::StrAppend(&histogram, histogram.empty() ? "" : ", ",
                    bound > 1e299 ? "more" : absl::StrCat("<=", bound), ": ", to - from);
    from = to;
  }
  std::printf("  histogram (ms): %s\n", histogram.c_str());
  if (final_sample.rss_kib >= 0) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu_s =
        static_cast<double>(measure_end.cpu_ticks - measure_start.cpu_ticks) / ticks;
    std::printf(
        "  edge: peak RSS %.1f MB while publishing (sampled every 100 ms), kernel high-water "
        "mark %.1f MB; CPU %.2f s over %s measured (%.0f%% of one core)\n",
        static_cast<double>(peak_rss.load()) / 1024,
        static_cast<double>(final_sample.hwm_kib) / 1024, cpu_s,
        absl::FormatDuration(measured_for).c_str(),
        100.0 * cpu_s / absl::ToDoubleSeconds(measured_for));
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  const double own_cpu = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  std::printf("  load tool: %.2f s CPU in all (connect, publish, receive and parse)\n", own_cpu);
  return static_cast<int64_t>(l.size()) == expected && started == connections ? 0 : 1;
}
