#include "h2_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"
#include "hub.h"

namespace herald::edge {
namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  if (e == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof(text));
  return text;
}

// ALPN: h2 or nothing (HTTP/1.1 clients use the plain port).
int SelectH2(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
             unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (nghttp2_select_next_protocol(&chosen, outlen, in, inlen) != 1) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

class H2Server::Acceptor final : public Pollable {
 public:
  explicit Acceptor(H2Server& server) : server_(server) {}
  void OnEvents(uint32_t) override { server_.Accept(); }
  void FlushRound() override {}

 private:
  H2Server& server_;
};

H2Server::H2Server(H2ServerOptions options, Hub& hub, ConnectionTable& table,
                   std::function<void(const ApiRequest&, ApiExchange&)> route, H2Stats& stats,
                   WriterStats& writer_stats, std::atomic<size_t>& next_key)
    : options_(std::move(options)), hub_(hub) {
  context_.next_key = &next_key;
  context_.hub = &hub;
  context_.table = &table;
  context_.writer_stats = &writer_stats;
  context_.stats = &stats;
  context_.route = std::move(route);
  context_.session = options_.session;
  context_.handshake_timeout = options_.handshake_timeout;
  context_.idle_timeout = options_.idle_timeout;
  context_.intake = [this](std::function<void()> fn, bool must) {
    return Intake(std::move(fn), must);
  };
  context_.closed = [this](const void* connection) {
    std::shared_ptr<H2Connection> last;  // destroyed outside the lock
    absl::MutexLock lock(&mu_);
    auto it = connections_.find(connection);
    if (it == connections_.end()) return;
    last = std::move(it->second);
    connections_.erase(it);
  };
}

H2Server::~H2Server() {
  Stop();
  if (tls_ != nullptr) SSL_CTX_free(tls_);
}

absl::Status H2Server::Start() {
  const size_t colon = options_.address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", options_.address, "' is not host:port"));
  }
  if (options_.cert_file.empty() != options_.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  if (!options_.cert_file.empty()) {
    tls_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    SSL_CTX_set_options(
        tls_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // HTTP/2 forbids TLS 1.2's non-AEAD ciphers (RFC 9113, appendix A).
    SSL_CTX_set_cipher_list(tls_, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(tls_, &SelectH2, nullptr);
    if (SSL_CTX_use_certificate_chain_file(tls_, options_.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", options_.cert_file, ": ", OpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(tls_, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("key ", options_.key_file, ": ", OpenSslError()));
    }
    context_.tls = tls_;
  }
  const std::string host = options_.address.substr(0, colon);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.empty() ? "0.0.0.0" : host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IPv4 address"));
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, options_.listen_backlog) != 0) {
    const std::string why = strerror(errno);
    close(listen_fd_);
    listen_fd_ = -1;
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.address, ": ", why));
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  for (int i = 0; i < std::max(1, options_.intake_threads); ++i) {
    intake_threads_.emplace_back([this] { RunIntake(); });
  }
  acceptor_ = std::make_shared<Acceptor>(*this);
  hub_.loop(0).Watch(acceptor_, listen_fd_, EPOLLIN);
  return absl::OkStatus();
}

void H2Server::Accept() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    const int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // The listener stays readable: stop watching it until the next Tick
        // rather than spin.
        spdlog::warn("HTTP/2 listener: {} (the open-file limit); accepting again in a second",
                     strerror(errno));
        hub_.loop(0).Watch(acceptor_, listen_fd_, EPOLLIN | EPOLLONESHOT);
        absl::MutexLock lock(&mu_);
        accept_paused_ = true;
      }
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char ip[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
    const int loop = hub_.PickLoop();
    auto connection = std::make_shared<H2Connection>(context_, fd, ip, hub_.loop(loop), loop);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      connections_.emplace(connection.get(), connection);
    }
    connection->Start();
  }
}

bool H2Server::Intake(std::function<void()> fn, bool must) {
  absl::MutexLock lock(&mu_);
  if (!must && (stopping_ || intake_.size() >= options_.max_waiting_requests)) return false;
  intake_.push_back(std::move(fn));
  return true;
}

void H2Server::RunIntake() {
  while (true) {
    std::function<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !intake_.empty() || intake_done_;
      };
      mu_.Await(absl::Condition(&ready));
      if (intake_.empty()) return;  // stopped, and nothing left
      fn = std::move(intake_.front());
      intake_.pop_front();
    }
    fn();
  }
}

void H2Server::Tick() {
  std::vector<std::shared_ptr<H2Connection>> all;
  {
    absl::MutexLock lock(&mu_);
    if (accept_paused_ && !stopping_) {
      accept_paused_ = false;
      hub_.loop(0).Watch(acceptor_, listen_fd_, EPOLLIN);
    }
    all.reserve(connections_.size());
    for (auto& [key, c] : connections_) all.push_back(c);
  }
  const absl::Time now = absl::Now();
  for (std::shared_ptr<H2Connection>& c : all) c->Tick(now);
}

void H2Server::Stop() {
  std::vector<std::shared_ptr<H2Connection>> all;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || listen_fd_ < 0) return;
    stopping_ = true;
    for (auto& [key, c] : connections_) all.push_back(c);
  }
  hub_.loop(0).Forget(listen_fd_, acceptor_.get());
  hub_.loop(0).Drain();  // no Accept runs any more
  close(listen_fd_);
  for (std::shared_ptr<H2Connection>& c : all) c->Shutdown();
  all.clear();
  for (int i = 0; i < hub_.loops(); ++i) hub_.loop(i).Drain();
  {
    absl::MutexLock lock(&mu_);
    intake_done_ = true;  // the closes above queued their releases
  }
  for (std::thread& t : intake_threads_) t.join();
  intake_threads_.clear();
}

}  // namespace herald::edge
