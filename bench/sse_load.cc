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
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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
ABSL_FLAG(absl::Duration, window, absl::Seconds(10),
          "Latency is also reported for events sent in the first and the last this long of the "
          "measure: a backlog that grows shows as a later window slower than the first");
ABSL_FLAG(int32_t, payload_bytes, 128, "Payload size");
ABSL_FLAG(std::vector<std::string>, source_ips,
          std::vector<std::string>({"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}),
          "Loopback source addresses the connections are spread over");
ABSL_FLAG(int32_t, threads, 2, "Receiver threads (one epoll each)");
ABSL_FLAG(int32_t, edge_pid, 0, "The edge's pid, to report its RSS and CPU (0: not reported)");
ABSL_FLAG(std::vector<std::string>, more_pids, {},
          "Further processes of the server under test (other edge processes, nginx workers): "
          "their RSS and CPU are added to --edge_pid's");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(120), "Time allowed to open them all");
ABSL_FLAG(std::string, run_id, "", "Stream name prefix (default: a fresh one per run)");
ABSL_FLAG(absl::Duration, hold, absl::ZeroDuration(),
          "Once every connection has started, hold them idle this long and report the edge's "
          "RSS per connection");
ABSL_FLAG(std::string, release_file, "",
          "With --hold: stop holding as soon as this file exists (a script measuring several "
          "load processes at once releases them together)");
ABSL_FLAG(int32_t, storm_behind, 0,
          "Resume storm instead of the paced load: cut every connection, publish this many "
          "events per stream, then reconnect them all at once with their Last-Event-ID and check "
          "that each gets exactly those events");
ABSL_FLAG(int32_t, fanout_pid, 0, "herald-fanout's pid: its threads and RSS during a storm");
ABSL_FLAG(
    std::string, protocol, "http1",
    "http1 (one TCP connection per EventSource), h2 (HTTP/2 over TLS, ALPN h2: --edge is "
    "the edge's HTTPS address) or h2c (HTTP/2 with prior knowledge): with HTTP/2, "
    "--streams_per_connection EventSources share each TCP connection, as a browser's tabs do");
ABSL_FLAG(int32_t, streams_per_connection, 10, "HTTP/2: EventSources per TCP connection");
ABSL_FLAG(std::string, server, "herald",
          "What --edge is: herald (GET /v1/events?stream=S, publishing through --publisher) or "
          "nchan (nginx with Nchan: GET /sub/S as EventSource, POST /pub/S on the same address), "
          "for a side-by-side run with the same load");

namespace {

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

// One SSE connection: HTTP head, then chunked transfer coding, then SSE lines.
struct Conn {
  int fd = -1;
  int stream = 0;
  bool head_done = false;
  bool chunked = true;   // Transfer-Encoding: chunked (else the body is the stream)
  bool started = false;  // the id-only start block arrived
  bool closed = false;
  std::string in;                    // raw bytes not yet consumed
  int64_t chunk_left = -1;           // -1: expecting a chunk-size line
  std::string line;                  // the SSE line being assembled
  std::string data;                  // the event's data so far
  std::atomic<int64_t> received{0};  // measured events
  std::string last_id;               // the last id: line (the browser's Last-Event-ID)
  // Resume storm: the "n" of every event after the reconnect, and when the
  // last expected one arrived.
  std::vector<int64_t> storm_ns;
  int64_t storm_done_ns = 0;
};

struct H2Link;

struct Receiver {
  int epoll_fd = -1;
  std::vector<Conn*> conns;
  std::vector<double> latencies_ms;  // measured
  std::vector<double> first_ms;      // of events sent in the first --window of the measure
  std::vector<double> last_ms;       // and in the last
  int64_t warmup_events = 0;
  int64_t other_events = 0;
  std::thread thread;
};

std::atomic<int64_t> g_measure_from{std::numeric_limits<int64_t>::max()};
std::atomic<int64_t> g_first_until{0};
std::atomic<int64_t> g_last_from{std::numeric_limits<int64_t>::max()};
std::atomic<bool> g_stop{false};
std::atomic<int> g_started{0};
std::atomic<int> g_closed{0};
bool g_nchan = false;

// HTTP/2: one TCP (and TLS) connection carrying several EventSources, each a
// stream; read by one receiver thread. Registered in epoll with the low bit
// of its pointer set (a Conn's is clear).
struct H2Link {
  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* session = nullptr;
  Receiver* receiver = nullptr;
  std::map<int32_t, Conn*> by_stream;
  std::string out;  // frames the socket has not taken yet
  bool closed = false;
};
SSL_CTX* g_tls = nullptr;  // h2: the client context (the edge's certificate is not checked)

// Publishes to Nchan: POST /pub/<channel> on one keep-alive connection,
// pipelined (nginx answers in order): a thread reads the answers, so the
// paced rate holds however long Nchan takes to answer each one.
class NchanPublisher {
 public:
  NchanPublisher(const sockaddr_in& target, std::atomic<int64_t>& acked,
                 std::atomic<int64_t>& rejected)
      : acked_(acked), rejected_(rejected) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0) {
      close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd_ >= 0) reader_ = std::thread([this] { ReadAnswers(); });
  }
  ~NchanPublisher() {
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool Publish(const std::string& channel, const std::string& body) {
    if (fd_ < 0) return false;
    const std::string request = absl::StrCat(
        "POST /pub/", channel, " HTTP/1.1\r\nHost: nchan\r\nContent-Type: text/plain\r\n",
        "Content-Length: ", body.size(), "\r\n\r\n", body);
    sent_.fetch_add(1);
    return send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(request.size());
  }
  // Waits (up to `timeout`) for the answers to every request sent.
  void AwaitAnswers(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (acked_.load() + rejected_.load() < sent_.load() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

 private:
  void ReadAnswers() {
    std::string in;
    char buffer[4096];
    while (true) {
      // Each answer: a head, then Content-Length bytes.
      const size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::string head = absl::AsciiStrToLower(in.substr(0, end));
        size_t length = 0;
        if (const size_t at = head.find("content-length:"); at != std::string::npos) {
          absl::SimpleAtoi(
              absl::StripAsciiWhitespace(head.substr(at + 15, head.find("\r\n", at) - at - 15)),
              &length);
        }
        if (in.size() >= end + 4 + length) {
          (in.compare(9, 1, "2") == 0 ? acked_ : rejected_).fetch_add(1);
          in.erase(0, end + 4 + length);
          continue;
        }
      }
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      in.append(buffer, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  std::atomic<int64_t>& acked_;
  std::atomic<int64_t>& rejected_;
  std::atomic<int64_t> sent_{0};
  std::thread reader_;
};

std::atomic<bool> g_storm{false};
size_t g_storm_expect = 0;

void OnEvent(Receiver& r, Conn& c, int64_t now) {
  if (g_storm.load(std::memory_order_relaxed)) {
    const size_t n_at = c.data.find("\"n\":");
    int64_t n = -1;
    if (n_at != std::string::npos) {
      absl::SimpleAtoi(
          absl::string_view(c.data).substr(n_at + 4, c.data.find(',', n_at) - n_at - 4), &n);
    }
    c.storm_ns.push_back(n);
    if (c.storm_ns.size() == g_storm_expect) c.storm_done_ns = now;
    return;
  }
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
  const double ms = static_cast<double>(now - sent) / 1e6;
  r.latencies_ms.push_back(ms);
  if (sent < g_first_until.load(std::memory_order_relaxed)) r.first_ms.push_back(ms);
  if (sent >= g_last_from.load(std::memory_order_relaxed)) r.last_ms.push_back(ms);
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
    } else if (c.line.rfind("id:", 0) == 0) {
      c.last_id = c.line.substr(c.line.size() > 3 && c.line[3] == ' ' ? 4 : 3);
      if (!c.started) {
        c.started = true;
        g_started.fetch_add(1);
      }
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
      const std::string head = absl::AsciiStrToLower(c.in.substr(0, end));
      c.chunked = head.find("transfer-encoding: chunked") != std::string::npos;
      if (g_nchan && !c.started) {
        // Nchan sends no start block: the 200 means subscribed.
        c.started = true;
        g_started.fetch_add(1);
      }
      pos = end + 4;
    }
    if (!c.chunked) {
      OnBody(r, c, absl::string_view(c.in).substr(pos), now);
      pos = c.in.size();
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

void MarkClosed(Conn& c) {
  if (!c.closed) {
    c.closed = true;
    g_closed.fetch_add(1);
  }
}

int H2OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* p) {
  auto& link = *static_cast<H2Link*>(p);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  const absl::string_view n(reinterpret_cast<const char*>(name), namelen);
  const absl::string_view v(reinterpret_cast<const char*>(value), valuelen);
  auto it = link.by_stream.find(frame->hd.stream_id);
  if (n == ":status" && v != "200" && it != link.by_stream.end()) {
    std::fprintf(stderr, "sse_load: the edge answered %.*s\n", static_cast<int>(v.size()),
                 v.data());
    MarkClosed(*it->second);
  }
  return 0;
}

int H2OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* p) {
  auto& link = *static_cast<H2Link*>(p);
  auto it = link.by_stream.find(id);
  if (it != link.by_stream.end()) {
    OnBody(*link.receiver, *it->second, absl::string_view(reinterpret_cast<const char*>(data), len),
           NowNanos());
  }
  return 0;
}

int H2OnClose(nghttp2_session*, int32_t id, uint32_t, void* p) {
  auto& link = *static_cast<H2Link*>(p);
  if (auto it = link.by_stream.find(id); it != link.by_stream.end()) MarkClosed(*it->second);
  return 0;
}

// Writes pending frames (window updates, requests) as far as the socket takes them.
bool H2Flush(H2Link& l) {
  while (true) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(l.session, &data);
    if (n <= 0) break;
    l.out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  while (!l.out.empty()) {
    ssize_t n;
    if (l.ssl != nullptr) {
      const int r = SSL_write(l.ssl, l.out.data(), static_cast<int>(l.out.size()));
      if (r <= 0) {
        const int e = SSL_get_error(l.ssl, r);
        return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
      }
      n = r;
    } else {
      n = send(l.fd, l.out.data(), l.out.size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    l.out.erase(0, static_cast<size_t>(n));
  }
  return true;
}

void H2OnReadable(Receiver& r, H2Link& l) {
  char buffer[65536];
  bool ok = true;
  while (ok) {
    ssize_t n;
    if (l.ssl != nullptr) {
      const int got = SSL_read(l.ssl, buffer, sizeof(buffer));
      if (got <= 0) {
        const int e = SSL_get_error(l.ssl, got);
        ok = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
        break;
      }
      n = got;
    } else {
      n = recv(l.fd, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        ok = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        break;
      }
    }
    if (nghttp2_session_mem_recv(l.session, reinterpret_cast<const uint8_t*>(buffer),
                                 static_cast<size_t>(n)) < 0) {
      ok = false;
    }
  }
  if (ok) ok = H2Flush(l);
  if (!ok && !l.closed) {
    l.closed = true;
    for (auto& [id, c] : l.by_stream) MarkClosed(*c);
    epoll_ctl(r.epoll_fd, EPOLL_CTL_DEL, l.fd, nullptr);
  }
}

void RunReceiver(Receiver& r) {
  epoll_event events[512];
  while (!g_stop.load()) {
    const int n = epoll_wait(r.epoll_fd, events, 512, 100);
    for (int i = 0; i < n; ++i) {
      if ((events[i].data.u64 & 1) != 0) {
        H2OnReadable(r, *reinterpret_cast<H2Link*>(events[i].data.u64 & ~uint64_t{1}));
      } else {
        OnReadable(r, *static_cast<Conn*>(events[i].data.ptr));
      }
    }
  }
}

// Opens one HTTP/2 connection from `source` carrying an EventSource for
// each of `group` (blocking until the requests are out), then hands it to
// `r`. Null when the connection or the handshake fails.
std::unique_ptr<H2Link> OpenH2(const sockaddr_in& target, in_addr source_ip,
                               const std::vector<Conn*>& group,
                               const std::vector<std::string>& names, const std::string& authority,
                               Receiver& r) {
  auto l = std::make_unique<H2Link>();
  l->receiver = &r;
  l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr = source_ip;
  if (l->fd < 0 || bind(l->fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0 ||
      connect(l->fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0) {
    std::fprintf(stderr, "sse_load: HTTP/2 connection: %s\n", strerror(errno));
    if (l->fd >= 0) close(l->fd);
    return nullptr;
  }
  const int one = 1;
  setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (g_tls != nullptr) {
    l->ssl = SSL_new(g_tls);
    SSL_set_fd(l->ssl, l->fd);
    if (SSL_connect(l->ssl) != 1) {
      std::fprintf(stderr, "sse_load: TLS handshake failed\n");
      SSL_free(l->ssl);
      close(l->fd);
      return nullptr;
    }
  }
  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2OnClose);
  nghttp2_session_client_new(&l->session, callbacks, l.get());
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(l->session, NGHTTP2_FLAG_NONE, nullptr, 0);
  for (Conn* c : group) {
    std::string method = "GET";
    std::string scheme = g_tls != nullptr ? "https" : "http";
    std::string host = authority;
    std::string path = absl::StrCat("/v1/events?stream=", names[static_cast<size_t>(c->stream)]);
    std::string accept = "text/event-stream";
    const std::pair<std::string*, const char*> fields[] = {{&method, ":method"},
                                                           {&scheme, ":scheme"},
                                                           {&host, ":authority"},
                                                           {&path, ":path"},
                                                           {&accept, "accept"}};
    std::vector<nghttp2_nv> nva;
    for (const auto& [value, name] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                     reinterpret_cast<uint8_t*>(value->data()), std::strlen(name), value->size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    const int32_t id =
        nghttp2_submit_request(l->session, nullptr, nva.data(), nva.size(), nullptr, nullptr);
    l->by_stream[id] = c;
  }
  H2Flush(*l);
  fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = reinterpret_cast<uint64_t>(l.get()) | 1;
  epoll_ctl(r.epoll_fd, EPOLL_CTL_ADD, l->fd, &ev);
  return l;
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

// The server under test: --edge_pid and --more_pids, summed.
ProcSample SampleServer() {
  ProcSample total = SampleProcess(absl::GetFlag(FLAGS_edge_pid));
  for (const std::string& p : absl::GetFlag(FLAGS_more_pids)) {
    int pid = 0;
    if (!absl::SimpleAtoi(p, &pid)) continue;
    const ProcSample s = SampleProcess(pid);
    if (s.rss_kib < 0) continue;
    total.rss_kib = std::max<int64_t>(total.rss_kib, 0) + s.rss_kib;
    total.hwm_kib = std::max<int64_t>(total.hwm_kib, 0) + s.hwm_kib;
    total.cpu_ticks = std::max<int64_t>(total.cpu_ticks, 0) + s.cpu_ticks;
  }
  return total;
}

int64_t ThreadsOf(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoll(line.substr(8));
  }
  return -1;
}

// The resume storm (--storm_behind=K): every connection is cut, K events per
// stream are published, then every connection comes back at once with its
// last id. Exact: each gets exactly the K events of its stream, in order.
template <typename Open>
int RunStorm(std::vector<std::unique_ptr<Conn>>& conns,
             std::vector<std::unique_ptr<Receiver>>& receivers,
             const std::vector<std::string>& names, Open& open_conn, bool all_started) {
  const int k = absl::GetFlag(FLAGS_storm_behind);
  for (auto& r : receivers) {
    for (auto& c : conns) epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  }
  for (auto& c : conns) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
  // K events per stream, acknowledged before anyone comes back.
  std::vector<std::vector<int64_t>> published(names.size());
  {
    auto publisher = herald::v1::Publisher::NewStub(
        grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
    int64_t n = 0;
    for (int i = 0; i < k; ++i) {
      for (size_t s = 0; s < names.size(); ++s, ++n) {
        herald::v1::PublishRequest request;
        request.mutable_event()->set_stream(names[s]);
        request.mutable_event()->set_type("storm");
        request.mutable_event()->set_text(absl::StrCat("{\"t\":", NowNanos(), ",\"n\":", n, "}"));
        herald::v1::PublishResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        if (grpc::Status st = publisher->Publish(&context, request, &response); !st.ok()) {
          std::fprintf(stderr, "sse_load: storm publish: %s\n", st.error_message().c_str());
          return 1;
        }
        published[s].push_back(n);
      }
    }
  }
  for (auto& c : conns) {
    c->head_done = false;
    c->started = false;
    c->closed = false;
    c->in.clear();
    c->chunk_left = -1;
    c->line.clear();
    c->data.clear();
    c->storm_ns.clear();
    c->storm_done_ns = 0;
  }
  g_storm_expect = static_cast<size_t>(k);
  g_storm = true;
  g_started = 0;
  g_closed = 0;
  const int fanout_pid = absl::GetFlag(FLAGS_fanout_pid);
  const int64_t threads_before = fanout_pid > 0 ? ThreadsOf(fanout_pid) : -1;
  const ProcSample fanout_before = SampleProcess(fanout_pid);
  std::atomic<int64_t> peak_threads{threads_before};
  std::atomic<int64_t> peak_fanout_rss{fanout_before.rss_kib};
  std::atomic<int64_t> peak_edge_rss{SampleServer().rss_kib};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling.load()) {
      if (fanout_pid > 0) {
        peak_threads.store(std::max(peak_threads.load(), ThreadsOf(fanout_pid)));
        peak_fanout_rss.store(std::max(peak_fanout_rss.load(), SampleProcess(fanout_pid).rss_kib));
      }
      peak_edge_rss.store(std::max(peak_edge_rss.load(), SampleServer().rss_kib));
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  // All at once: no window.
  const int64_t start = NowNanos();
  int failed = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    if (!open_conn(*conns[i], static_cast<int>(i))) ++failed;
  }
  const int64_t opened = NowNanos();
  auto done = [&] {
    for (const auto& c : conns) {
      if (c->storm_done_ns == 0 && c->fd >= 0 && !c->closed) return false;
    }
    return true;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  absl::SleepFor(absl::Milliseconds(200));  // anything extra would show now
  g_stop = true;
  for (auto& r : receivers) r->thread.join();
  sampling = false;
  sampler.join();

  int exact = 0;
  int short_of = 0;
  int wrong = 0;
  std::vector<double> done_ms;
  for (const auto& c : conns) {
    const std::vector<int64_t>& want = published[static_cast<size_t>(c->stream)];
    if (c->storm_ns == want) {
      ++exact;
      done_ms.push_back(static_cast<double>(c->storm_done_ns - start) / 1e6);
    } else if (c->storm_ns.size() < want.size() &&
               std::equal(c->storm_ns.begin(), c->storm_ns.end(), want.begin())) {
      ++short_of;
    } else {
      ++wrong;
    }
  }
  std::sort(done_ms.begin(), done_ms.end());
  auto pct = [&](double p) {
    return done_ms.empty()
               ? 0.0
               : done_ms[std::min(done_ms.size() - 1, static_cast<size_t>(p * done_ms.size()))];
  };
  std::printf(
      "  storm: %zu browsers cut, %d events per stream published, all reconnected with their "
      "Last-Event-ID in %.0f ms (%d failed to connect)\n",
      conns.size(), k, static_cast<double>(opened - start) / 1e6, failed);
  std::printf(
      "  exact: %d of %zu (short: %d, wrong or duplicated: %d); time to exact from the first "
      "reconnect: p50 %.0f ms, p99 %.0f ms, last %.0f ms\n",
      exact, conns.size(), short_of, wrong, pct(0.5), pct(0.99),
      done_ms.empty() ? 0.0 : done_ms.back());
  if (fanout_pid > 0) {
    std::printf(
        "  fanout: %lld threads before, %lld at most during the storm; RSS %.1f MB before, "
        "%.1f MB at most\n",
        static_cast<long long>(threads_before), static_cast<long long>(peak_threads.load()),
        static_cast<double>(fanout_before.rss_kib) / 1024,
        static_cast<double>(peak_fanout_rss.load()) / 1024);
  }
  std::printf("  edge: RSS %.1f MB at most during the storm\n",
              static_cast<double>(peak_edge_rss.load()) / 1024);
  for (auto& r : receivers) close(r->epoll_fd);
  for (auto& c : conns) {
    if (c->fd >= 0) close(c->fd);
  }
  return exact == static_cast<int>(conns.size()) && all_started ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // TLS writes to a connection the server closed
  const int connections = absl::GetFlag(FLAGS_connections);
  const int streams = std::max(1, absl::GetFlag(FLAGS_streams));
  if (connections < 1 || connections > 60000) {
    std::fprintf(stderr, "sse_load: --connections must be 1..60000\n");
    return 2;
  }
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    // Past the hard limit only with the privilege to raise it (root).
    const rlim_t want = static_cast<rlim_t>(connections) + 1000;
    limit.rlim_cur = std::max(limit.rlim_max, want);
    limit.rlim_max = std::max(limit.rlim_max, want);
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      getrlimit(RLIMIT_NOFILE, &limit);
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
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
  g_nchan = absl::GetFlag(FLAGS_server) == "nchan";
  if (!g_nchan && absl::GetFlag(FLAGS_server) != "herald") {
    std::fprintf(stderr, "sse_load: --server must be herald or nchan\n");
    return 2;
  }
  const std::string protocol = absl::GetFlag(FLAGS_protocol);
  if (protocol != "http1" && protocol != "h2" && protocol != "h2c") {
    std::fprintf(stderr, "sse_load: --protocol must be http1, h2 or h2c\n");
    return 2;
  }
  const bool h2 = protocol != "http1";
  const int per_link = std::max(1, absl::GetFlag(FLAGS_streams_per_connection));
  if (h2 && (g_nchan || absl::GetFlag(FLAGS_storm_behind) > 0)) {
    std::fprintf(stderr, "sse_load: HTTP/2 is for herald's paced and idle loads\n");
    return 2;
  }
  if (protocol == "h2") {
    g_tls = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_tls, SSL_VERIFY_NONE, nullptr);  // loopback, a development certificate
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(g_tls, kAlpn, sizeof(kAlpn));
  }
  const std::string run = absl::GetFlag(FLAGS_run_id).empty()
                              ? absl::StrCat("load/", absl::ToUnixMillis(absl::Now()))
                              : absl::GetFlag(FLAGS_run_id);
  std::vector<std::string> names;
  for (int s = 0; s < streams; ++s) {
    // Nchan channel ids are path segments.
    names.push_back(g_nchan ? absl::StrReplaceAll(absl::StrCat(run, "-", s), {{"/", "-"}})
                            : absl::StrCat(run, "/", s));
  }

  // Receivers first, so that connections are read from the start.
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int t = 0; t < threads; ++t) {
    auto r = std::make_unique<Receiver>();
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    receivers.push_back(std::move(r));
  }
  for (auto& r : receivers) r->thread = std::thread([&r = *r] { RunReceiver(r); });

  // Opens connection `i` (again, after a storm's cut: with its last id).
  auto open_conn = [&](Conn& c, int i) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr = sources[static_cast<size_t>(i) % sources.size()];
    if (c.fd < 0 || bind(c.fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0 ||
        connect(c.fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
      std::fprintf(stderr, "sse_load: connection %d: %s\n", i, strerror(errno));
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      return false;
    }
    const std::string request = absl::StrCat(
        g_nchan ? "GET /sub/" : "GET /v1/events?stream=", names[static_cast<size_t>(c.stream)],
        " HTTP/1.1\r\nHost: ", edge, "\r\nAccept: text/event-stream\r\n",
        c.last_id.empty() ? "" : absl::StrCat("Last-Event-ID: ", c.last_id, "\r\n"), "\r\n");
    (void)!send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    Receiver& r = *receivers[static_cast<size_t>(i) % receivers.size()];
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    epoll_ctl(r.epoll_fd, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  };

  // Connect at most `window` at a time beyond those started, so the edge's
  // accept backlog is never flooded.
  const ProcSample idle = SampleServer();
  std::vector<std::unique_ptr<Conn>> conns;
  const absl::Time connect_start = absl::Now();
  const absl::Time connect_deadline = connect_start + absl::GetFlag(FLAGS_connect_timeout);
  constexpr int kWindow = 100;
  int failed_connects = 0;
  std::vector<std::unique_ptr<H2Link>> links;
  for (int i = 0; h2 && i < connections; i += per_link) {
    while (i - g_started.load() - g_closed.load() >= std::max(kWindow, per_link) &&
           absl::Now() < connect_deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    std::vector<Conn*> group;
    for (int j = i; j < std::min(connections, i + per_link); ++j) {
      auto c = std::make_unique<Conn>();
      c->stream = j % streams;
      group.push_back(c.get());
      conns.push_back(std::move(c));
    }
    const size_t k = links.size();
    auto link = OpenH2(target, sources[k % sources.size()], group, names, edge,
                       *receivers[k % receivers.size()]);
    if (link == nullptr) {
      failed_connects += static_cast<int>(group.size());
      for (size_t j = 0; j < group.size(); ++j) conns.pop_back();
      continue;
    }
    links.push_back(std::move(link));
  }
  for (int i = 0; !h2 && i < connections; ++i) {
    while (i - g_started.load() - g_closed.load() >= kWindow && absl::Now() < connect_deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    auto c = std::make_unique<Conn>();
    c->stream = i % streams;
    if (!open_conn(*c, i)) {
      ++failed_connects;
      continue;
    }
    conns.push_back(std::move(c));
  }
  while (g_started.load() + g_closed.load() < static_cast<int>(conns.size()) &&
         absl::Now() < connect_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration connect_time = absl::Now() - connect_start;
  const int started = g_started.load();
  const ProcSample held = SampleServer();
  std::printf("sse_load: %d connections started in %s (%d failed to connect, %d closed)\n", started,
              absl::FormatDuration(connect_time).c_str(), failed_connects, g_closed.load());
  if (h2) {
    std::printf("  over %s: %zu TCP connections, %d EventSources (streams) each\n",
                protocol == "h2" ? "HTTP/2 with TLS" : "HTTP/2 cleartext (h2c)", links.size(),
                per_link);
  }
  if (held.rss_kib >= 0) {
    std::printf("  edge RSS: %.1f MB before, %.1f MB holding %d connections\n",
                static_cast<double>(idle.rss_kib) / 1024, static_cast<double>(held.rss_kib) / 1024,
                started);
  }
  if (absl::GetFlag(FLAGS_hold) > absl::ZeroDuration()) {
    // Idle: what holding them costs the edge.
    std::fflush(stdout);
    const absl::Time until = absl::Now() + absl::GetFlag(FLAGS_hold);
    const std::string release = absl::GetFlag(FLAGS_release_file);
    while (absl::Now() < until && (release.empty() || access(release.c_str(), F_OK) != 0)) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    const ProcSample after = SampleServer();
    std::printf(
        "  idle: %d connections held %s: edge RSS %.1f MB (%.2f KiB per connection over the "
        "%.1f MB before), %d closed by the edge\n",
        started, absl::FormatDuration(absl::GetFlag(FLAGS_hold)).c_str(),
        static_cast<double>(after.rss_kib) / 1024,
        started > 0 ? static_cast<double>(after.rss_kib - idle.rss_kib) / started : 0.0,
        static_cast<double>(idle.rss_kib) / 1024, g_closed.load());
    g_stop = true;
    for (auto& r : receivers) r->thread.join();
    for (auto& r : receivers) close(r->epoll_fd);
    for (auto& c : conns) close(c->fd);
    for (auto& l : links) close(l->fd);
    return started == connections ? 0 : 1;
  }
  if (absl::GetFlag(FLAGS_storm_behind) > 0) {
    return RunStorm(conns, receivers, names, open_conn, started == connections);
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
      const ProcSample s = SampleServer();
      if (s.rss_kib > peak_rss.load()) peak_rss.store(s.rss_kib);
      absl::SleepFor(absl::Milliseconds(100));
    }
  });

  auto publisher = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  std::unique_ptr<
      grpc::ClientReaderWriter<herald::v1::PublishRequest, herald::v1::PublishStreamResponse>>
      stream;
  std::unique_ptr<NchanPublisher> nchan;
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> rejected{0};
  std::thread acks;
  if (g_nchan) {
    nchan = std::make_unique<NchanPublisher>(target, acked, rejected);
  } else {
    stream = publisher->PublishStream(&context);
    acks = std::thread([&] {
      herald::v1::PublishStreamResponse response;
      while (stream->Read(&response)) {
        for (const herald::v1::PublishResult& r : response.results()) {
          (r.has_ok() ? acked : rejected).fetch_add(1);
        }
      }
    });
  }
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const std::string padding(
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_payload_bytes) - 40)), 'x');
  const absl::Time start = absl::Now();
  g_measure_from = absl::ToUnixNanos(start + warmup);
  const absl::Duration window = std::min(absl::GetFlag(FLAGS_window), duration / 2);
  g_first_until = absl::ToUnixNanos(start + warmup + window);
  g_last_from = absl::ToUnixNanos(start + warmup + duration - window);
  ProcSample measure_start;
  absl::Time measure_start_time;
  int64_t index = 0;
  int64_t measured = 0;
  int64_t expected = 0;
  while (true) {
    const absl::Time due = start + absl::Seconds(static_cast<double>(index) / rate);
    if (due - start >= warmup + duration) break;
    if (absl::Time now = absl::Now(); due > now) absl::SleepFor(due - now);
    // By when it is actually sent (what the receivers measure by), not when it was due.
    const int64_t sent_at = NowNanos();
    const bool measuring = sent_at >= g_measure_from.load();
    if (measuring && measured == 0) {
      measure_start = SampleServer();
      measure_start_time = absl::Now();
    }
    const int s = static_cast<int>(index % streams);
    std::string text =
        absl::StrCat("{\"t\":", sent_at, ",\"n\":", index, ",\"p\":\"", padding, "\"}");
    if (nchan != nullptr) {
      if (!nchan->Publish(names[static_cast<size_t>(s)], text)) break;
    } else {
      herald::v1::PublishRequest r;
      r.set_request_id(static_cast<uint64_t>(index));
      r.mutable_event()->set_stream(names[static_cast<size_t>(s)]);
      r.mutable_event()->set_type("load");
      r.mutable_event()->set_text(std::move(text));
      if (!stream->Write(r)) break;
    }
    ++index;
    if (measuring) {
      ++measured;
      expected += followers[static_cast<size_t>(s)];
    }
  }
  const ProcSample measure_end = SampleServer();
  const absl::Duration measured_for = absl::Now() - measure_start_time;
  grpc::Status publish_status;
  if (nchan != nullptr) nchan->AwaitAnswers(absl::Seconds(10));
  if (stream != nullptr) {
    stream->WritesDone();
    acks.join();
    publish_status = stream->Finish();
  }

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
  const ProcSample final_sample = SampleServer();

  std::vector<double> l;
  std::vector<double> first;
  std::vector<double> last;
  int64_t warmup_events = 0;
  int64_t other_events = 0;
  for (auto& r : receivers) {
    l.insert(l.end(), r->latencies_ms.begin(), r->latencies_ms.end());
    first.insert(first.end(), r->first_ms.begin(), r->first_ms.end());
    last.insert(last.end(), r->last_ms.begin(), r->last_ms.end());
    warmup_events += r->warmup_events;
    other_events += r->other_events;
    close(r->epoll_fd);
  }
  for (auto& c : conns) close(c->fd);
  for (auto& link : links) close(link->fd);
  std::sort(l.begin(), l.end());
  std::sort(first.begin(), first.end());
  std::sort(last.begin(), last.end());
  auto pct_of = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return pct_of(l, p); };
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
  std::printf(
      "  over time: events sent in the first %s: p50 %.2f ms, p99 %.2f ms; in the last %s: p50 "
      "%.2f ms, p99 %.2f ms\n",
      absl::FormatDuration(window).c_str(), pct_of(first, 0.5), pct_of(first, 0.99),
      absl::FormatDuration(window).c_str(), pct_of(last, 0.5), pct_of(last, 0.99));
  if (final_sample.rss_kib >= 0) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu_s =
        static_cast<double>(measure_end.cpu_ticks - measure_start.cpu_ticks) / ticks;
    std::printf(
        "  edge: peak RSS %.1f MB while publishing (sampled every 100 ms), kernel high-water "
        "mark %.1f MB; CPU %.2f s over %s measured (%.0f%% of one core), %.2f us per delivery\n",
        static_cast<double>(peak_rss.load()) / 1024,
        static_cast<double>(final_sample.hwm_kib) / 1024, cpu_s,
        absl::FormatDuration(measured_for).c_str(),
        100.0 * cpu_s / absl::ToDoubleSeconds(measured_for),
        expected > 0 ? cpu_s * 1e6 / static_cast<double>(expected) : 0.0);
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  const double own_cpu = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  std::printf("  load tool: %.2f s CPU in all (connect, publish, receive and parse)\n", own_cpu);
  return static_cast<int64_t>(l.size()) == expected && started == connections ? 0 : 1;
}
