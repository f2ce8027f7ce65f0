#include "support/h2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "support/process.h"

namespace herald::testing {

absl::StatusOr<std::string> DevCertificate() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::filesystem::path base =
        tmp != nullptr ? tmp : std::filesystem::temp_directory_path();
    auto* path = new std::string((base / absl::StrCat("herald-tls-", getpid())).string());
    const std::string command =
        absl::StrCat(HeraldSource("scripts/dev-cert"), " ", *path, " >/dev/null");
    if (std::system(command.c_str()) != 0) path->clear();
    return path;
  }();
  if (dir->empty()) return absl::InternalError("scripts/dev-cert failed");
  return *dir;
}

struct H2ClientCallbacks {
  static H2Client& Self(void* p) { return *static_cast<H2Client*>(p); }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* p) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Client::Stream& s = Self(p).streams_[frame->hd.stream_id];
    const std::string n(reinterpret_cast<const char*>(name), namelen);
    const std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      s.status = std::atoi(v.c_str());
    } else {
      s.headers.emplace_back(n, v);
    }
    return 0;
  }

  static int OnData(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* p) {
    H2Client::Stream& s = Self(p).streams_[id];
    const std::string_view bytes(reinterpret_cast<const char*>(data), len);
    s.body.append(bytes);
    s.partial.append(bytes);
    size_t start = 0;
    while (true) {
      const size_t eol = s.partial.find('\n', start);
      if (eol == std::string::npos) break;
      std::string_view line(s.partial.data() + start, eol - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (std::optional<SseEvent> e = s.parser.Line(absl::string_view(line.data(), line.size())))
        s.events.push_back(std::move(*e));
      start = eol + 1;
    }
    s.partial.erase(0, start);
    if (s.paused) {
      nghttp2_session_consume_connection(session, len);
    } else {
      nghttp2_session_consume(session, id, len);
    }
    return 0;
  }

  static int OnClose(nghttp2_session*, int32_t id, uint32_t error_code, void* p) {
    H2Client::Stream& s = Self(p).streams_[id];
    s.closed = true;
    s.error_code = error_code;
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      Self(p).goaway_ = true;
      Self(p).goaway_code_ = frame->goaway.error_code;
    }
    return 0;
  }
};

std::string H2Client::Stream::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<H2Client>> H2Client::Connect(int port, Options options) {
  // SSL_write to a connection the edge closed (a flood it ended) must fail,
  // not kill the test.
  signal(SIGPIPE, SIG_IGN);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string why = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to ", port, ": ", why));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  std::string alpn;
  if (options.tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // a test certificate
    std::string wire;
    for (const std::string& p : options.alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
      char text[256] = "";
      ERR_error_string_n(ERR_get_error(), text, sizeof(text));
      SSL_free(ssl);
      SSL_CTX_free(ctx);
      close(fd);
      return absl::UnavailableError(absl::StrCat("TLS handshake: ", text));
    }
    const unsigned char* chosen = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &chosen, &len);
    alpn.assign(reinterpret_cast<const char*>(chosen), len);
  }
  std::unique_ptr<H2Client> client(new H2Client(fd, ctx, ssl));
  client->alpn_ = alpn;
  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2ClientCallbacks::OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2ClientCallbacks::OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2ClientCallbacks::OnClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2ClientCallbacks::OnFrame);
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&client->session_, callbacks, client.get(), option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(client->session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  if (!client->Flush()) return absl::UnavailableError("the server closed the connection");
  return client;
}

H2Client::H2Client(int fd, SSL_CTX* ctx, SSL* ssl) : fd_(fd), ctx_(ctx), ssl_(ssl) {}

H2Client::~H2Client() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  close(fd_);
}

int32_t H2Client::Request(const std::string& method, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          const std::string& body) {
  std::vector<std::pair<std::string, std::string>> all = {{":method", method},
                                                          {":scheme", ssl_ ? "https" : "http"},
                                                          {":authority", "localhost"},
                                                          {":path", path}};
  all.insert(all.end(), headers.begin(), headers.end());
  std::vector<nghttp2_nv> nva;
  for (auto& [n, v] : all) {
    nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                   n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  }
  auto* source = new std::pair<std::string, size_t>(body, 0);
  nghttp2_data_provider provider{};
  provider.source.ptr = source;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
    auto* s = static_cast<std::pair<std::string, size_t>*>(src->ptr);
    const size_t n = std::min(length, s->first.size() - s->second);
    std::memcpy(buf, s->first.data() + s->second, n);
    s->second += n;
    if (s->second == s->first.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      delete s;
    }
    return static_cast<ssize_t>(n);
  };
  const int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                            body.empty() ? nullptr : &provider, nullptr);
  if (body.empty()) delete source;
  streams_[id];
  Flush();
  return id;
}

void H2Client::Pause(int32_t stream) { streams_[stream].paused = true; }

void H2Client::Cancel(int32_t stream) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
  Flush();
}

absl::Status H2Client::RapidReset(const std::string& path, int count) {
  // Raw frames, as an attacker writes them: this client's own session would
  // hold requests back at the edge's concurrency limit and drop a HEADERS
  // cancelled before it went out. One header block, static-table indexed.
  std::string block = "\x82";                                               // :method GET
  block += ssl_ != nullptr ? "\x87" : "\x86";                               // :scheme
  block += "\x01\x09localhost";                                             // :authority
  block += "\x04" + std::string(1, static_cast<char>(path.size())) + path;  // :path
  auto frame = [](uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    std::string f;
    const uint32_t n = static_cast<uint32_t>(payload.size());
    f += static_cast<char>(n >> 16);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n);
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    for (int shift : {24, 16, 8, 0}) f += static_cast<char>(stream >> shift);
    return f + payload;
  };
  const std::string cancel("\0\0\0\x08", 4);
  uint32_t id = static_cast<uint32_t>(nghttp2_session_get_next_stream_id(session_));
  std::string batch;
  for (int i = 0; i < count; ++i, id += 2) {
    batch += frame(0x1, 0x5, id, block);   // HEADERS, END_STREAM | END_HEADERS
    batch += frame(0x3, 0x0, id, cancel);  // RST_STREAM CANCEL
    if (batch.size() < 16384 && i + 1 < count) continue;
    out_ += batch;
    batch.clear();
    if (!Flush()) return absl::UnavailableError(absl::StrCat("the edge closed after ", i));
    DrainRaw(absl::ZeroDuration());
    if (closed_ || goaway_)
      return absl::UnavailableError(absl::StrCat("the edge ended it after ", i));
  }
  return absl::OkStatus();
}

bool H2Client::DrainRaw(absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  do {
    const bool buffered = ssl_ != nullptr && SSL_pending(ssl_) > 0;
    if (!buffered) {
      pollfd p{fd_, POLLIN, 0};
      const absl::Duration left = std::max(absl::ZeroDuration(), deadline - absl::Now());
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left))) <= 0) continue;
    }
    char buffer[16384];
    const ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buffer, sizeof(buffer))
                                      : recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      closed_ = true;
      return true;
    }
    raw_.append(buffer, static_cast<size_t>(n));
    while (raw_.size() >= 9) {  // frame by frame: only GOAWAY matters here
      const size_t length = (static_cast<uint8_t>(raw_[0]) << 16) |
                            (static_cast<uint8_t>(raw_[1]) << 8) | static_cast<uint8_t>(raw_[2]);
      if (raw_.size() < 9 + length) break;
      if (raw_[3] == 0x7 && length >= 8) {
        goaway_ = true;
        goaway_code_ = 0;
        for (int k = 13; k < 17; ++k)
          goaway_code_ = (goaway_code_ << 8) | static_cast<uint8_t>(raw_[k]);
      }
      raw_.erase(0, 9 + length);
    }
    if (goaway_) return true;
  } while (absl::Now() < deadline);
  return closed_ || goaway_;
}

uint32_t H2Client::max_concurrent_streams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool H2Client::Flush() {
  while (true) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  while (!out_.empty()) {
    ssize_t n;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, out_.data(), static_cast<int>(out_.size()));
    } else {
      n = send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    }
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    out_.erase(0, static_cast<size_t>(n));
  }
  return true;
}

bool H2Client::ReadSome(absl::Duration wait) {
  const bool buffered = ssl_ != nullptr && SSL_pending(ssl_) > 0;
  if (!buffered) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)));
    if (ready <= 0) return false;
  }
  char buffer[16384];
  ssize_t n;
  if (ssl_ != nullptr) {
    n = SSL_read(ssl_, buffer, sizeof(buffer));
    if (n <= 0 && SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_READ) return false;
  } else {
    n = recv(fd_, buffer, sizeof(buffer), 0);
  }
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buffer),
                               static_cast<size_t>(n)) < 0) {
    closed_ = true;
    return false;
  }
  Flush();
  return true;
}

bool H2Client::PumpUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (closed_ || absl::Now() >= deadline) return false;
    ReadSome(std::min(absl::Milliseconds(50), deadline - absl::Now()));
  }
  return true;
}

}  // namespace herald::testing
