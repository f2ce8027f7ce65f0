#include "h2_connection.h"

#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "connection.h"
#include "herald/common/logging.h"
#include "http_responses.h"
#include "hub.h"
#include "socket_writer.h"

namespace herald::edge {
namespace {

constexpr size_t kOutLimit = 64 * 1024;
constexpr size_t kReadSize = 16 * 1024;
constexpr absl::Duration kStallTimeout = absl::Seconds(30);

// A stream's events, into its connection; the stream ends when the hub's
// Connection lets go of it.
class H2StreamWriter final : public SseWriter {
 public:
  H2StreamWriter(std::weak_ptr<H2Connection> connection, int32_t stream)
      : connection_(std::move(connection)), stream_(stream) {}
  ~H2StreamWriter() override { Close(); }
  bool Write(std::string bytes) override {
    auto c = connection_.lock();
    return c != nullptr && c->Write(stream_, bytes);
  }
  bool WriteShared(const std::shared_ptr<const SharedBlock>& block) override {
    auto c = connection_.lock();
    return c != nullptr && c->Write(stream_, block->sse());
  }
  void Close() override {
    if (auto c = connection_.lock()) c->End(stream_);
  }
  void WhenDrained(std::function<void()> fn) override {
    if (auto c = connection_.lock()) {
      c->WhenDrained(stream_, std::move(fn));
    } else {
      fn();
    }
  }

 private:
  std::weak_ptr<H2Connection> connection_;
  const int32_t stream_;
};

// One request's answer, from the intake thread that routes it.
class H2Exchange final : public ApiExchange {
 public:
  H2Exchange(std::shared_ptr<H2Connection> connection, int32_t stream)
      : connection_(std::move(connection)), stream_(stream) {}
  void Answer(ApiAnswer answer) override { connection_->Answer(stream_, std::move(answer)); }
  std::function<void(ApiAnswer)> AnswerLater() override {
    return [weak = std::weak_ptr<H2Connection>(connection_), stream = stream_](ApiAnswer answer) {
      if (auto c = weak.lock()) c->Answer(stream, std::move(answer));
    };
  }
  absl::StatusOr<Stream> OpenStream(const HeaderList& headers) override {
    return connection_->OpenStream(stream_, headers);
  }
  void Started(std::shared_ptr<Connection> connection) override {
    connection_->Started(stream_, std::move(connection));
  }

 private:
  std::shared_ptr<H2Connection> connection_;
  const int32_t stream_;
};

}  // namespace

H2Connection::H2Connection(H2Context& context, int fd, std::string client_ip, EventLoop& loop,
                           int loop_index)
    : context_(context),
      fd_(fd),
      client_ip_(std::move(client_ip)),
      loop_(loop),
      loop_index_(loop_index) {
  ++context_.stats->connections;
}

H2Connection::~H2Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void H2Connection::Start() {
  loop_.PostCallbacks({[self = shared_from_this()] {
    if (self->context_.tls != nullptr) {
      self->ssl_ = SSL_new(self->context_.tls);
      if (self->ssl_ == nullptr || SSL_set_fd(self->ssl_, self->fd_) != 1) {
        ++self->context_.stats->tls_failures;
        self->Close();
        return;
      }
      SSL_set_accept_state(self->ssl_);
    } else {
      self->handshake_done_ = true;
      self->session_ = std::make_unique<H2Session>(self->context_.session, *self, self->client_ip_);
    }
    self->watching_ = EPOLLIN | EPOLLRDHUP;
    self->loop_.Watch(self, self->fd_, self->watching_);
    if (self->session_ != nullptr && !self->WriteOut()) self->Close();  // h2c: SETTINGS first
  }});
}

void H2Connection::Shutdown() {
  loop_.PostCallbacks({[self = shared_from_this()] {
    if (self->session_ != nullptr) {
      self->session_->GoAway(NGHTTP2_NO_ERROR);
      self->WriteOut();
    }
    self->Close();
  }});
}

void H2Connection::Tick(absl::Time now) {
  loop_.PostCallbacks({[self = shared_from_this(), now] { self->CheckTimeouts(now); }});
}

void H2Connection::CheckTimeouts(absl::Time now) {
  if (done_) return;
  if (!handshake_done_ && now - created_ > context_.handshake_timeout) {
    ++context_.stats->tls_failures;
    Close();
    return;
  }
  if (session_ != nullptr) {
    // A request that never completes, a stream whose reader never opens its
    // window: reset, whatever else the connection does.
    session_->ResetStalled(now, kStallTimeout);
    if (!WriteOut()) {
      Close();
      return;
    }
  }
  if (session_ != nullptr && session_->open_streams() == 0 &&
      now - last_active_ > context_.idle_timeout) {
    session_->GoAway(NGHTTP2_NO_ERROR);
    WriteOut();
    Close();
  }
}

void H2Connection::OnEvents(uint32_t events) {
  if (done_) return;
  last_active_ = absl::Now();
  if (!handshake_done_ && !Handshake()) return;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0 && !ReadAll()) {
    WriteOut();  // a GOAWAY nghttp2 queued, if the socket takes it
    Close();
    return;
  }
  Flush();
}

bool H2Connection::Handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    session_ = std::make_unique<H2Session>(context_.session, *this, client_ip_);
    return true;
  }
  const int error = SSL_get_error(ssl_, r);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    const uint32_t want =
        EPOLLIN | EPOLLRDHUP | (error == SSL_ERROR_WANT_WRITE ? uint32_t{EPOLLOUT} : 0u);
    if (want != watching_) loop_.Watch(shared_from_this(), fd_, watching_ = want);
    return false;
  }
  ++context_.stats->tls_failures;
  spdlog::debug("TLS handshake with {} failed: {}", client_ip_,
                ERR_reason_error_string(ERR_peek_last_error()) != nullptr
                    ? ERR_reason_error_string(ERR_peek_last_error())
                    : "closed");
  Close();
  return false;
}

bool H2Connection::ReadAll() {
  char buffer[kReadSize];
  for (int i = 0; i < 16; ++i) {
    ssize_t n;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int r = SSL_read(ssl_, buffer, sizeof(buffer));
      if (r <= 0) {
        const int error = SSL_get_error(ssl_, r);
        return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
      }
      n = r;
    } else {
      n = read(fd_, buffer, sizeof(buffer));
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    if (absl::Status s = session_->Receive(absl::string_view(buffer, static_cast<size_t>(n)));
        !s.ok()) {
      spdlog::debug("HTTP/2 from {}: {}; closing", client_ip_, s.message());
      return false;
    }
    if (static_cast<size_t>(n) < sizeof(buffer) && (ssl_ == nullptr || SSL_pending(ssl_) == 0)) {
      return true;
    }
  }
  // Fair to the loop's other connections; what TLS holds decrypted already
  // would never wake epoll again, so come back for it.
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) {
    loop_.PostCallbacks({[weak = weak_from_this()] {
      if (auto self = weak.lock()) self->OnEvents(EPOLLIN);
    }});
  }
  return true;
}

bool H2Connection::WriteOut() {
  if (done_ || session_ == nullptr) return false;
  while (true) {
    if (out_.size() - out_off_ < kOutLimit / 2) {
      if (out_off_ > 0) {
        out_.erase(0, out_off_);
        out_off_ = 0;
      }
      if (!session_->Produce(out_, kOutLimit).ok()) return false;
    }
    const size_t pending = out_.size() - out_off_;
    if (pending == 0) break;
    ssize_t n;
    bool blocked = false;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int r = SSL_write(ssl_, out_.data() + out_off_, static_cast<int>(pending));
      if (r <= 0) {
        const int error = SSL_get_error(ssl_, r);
        if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) return false;
        blocked = true;
      }
      n = r;
    } else {
      n = send(fd_, out_.data() + out_off_, pending, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        blocked = true;
      }
    }
    if (blocked) break;
    out_off_ += static_cast<size_t>(n);
    context_.writer_stats->bytes_sent += n;
  }
  const bool pending = out_off_ < out_.size();
  if (!pending) {
    out_.clear();
    out_off_ = 0;
    if (out_.capacity() > kOutLimit) out_.shrink_to_fit();
  }
  const uint32_t want = EPOLLIN | EPOLLRDHUP | (pending ? uint32_t{EPOLLOUT} : 0u);
  if (want != watching_) loop_.Watch(shared_from_this(), fd_, watching_ = want);
  return pending || !session_->Done();  // false: nothing more to do, close
}

void H2Connection::Flush() {
  std::vector<std::pair<int32_t, Inbox>> work;
  {
    absl::MutexLock lock(&mu_);
    scheduled_ = false;
    work.reserve(inbox_.size());
    for (auto& [id, in] : inbox_) work.emplace_back(id, std::move(in));
    inbox_.clear();
  }
  if (done_ || session_ == nullptr) return;
  for (auto& [id, in] : work) {
    if (in.answer.has_value()) session_->Respond(id, *in.answer);
    if (in.start.has_value()) session_->Start(id, *in.start);
    if (!in.bytes.empty()) session_->Append(id, in.bytes);
    if (in.slow) {
      session_->Reset(id);
    } else if (in.end) {
      session_->End(id);
    }
  }
  if (!WriteOut()) {
    Close();
    return;
  }
  std::vector<std::function<void()>> ready;

  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, open] : open_) {
      if (open.drained.empty() || inbox_.contains(id) || session_->Queued(id) > 0) continue;
      for (auto& fn : open.drained) ready.push_back(std::move(fn));
      open.drained.clear();
    }
  }
  for (auto& fn : ready) fn();
}

void H2Connection::ScheduleLocked() {
  if (scheduled_) return;
  scheduled_ = true;
  if (loop_.InRound()) {
    loop_.FlushAtEndOfRound(shared_from_this());
  } else {
    loop_.PostCallbacks({[weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Flush();
    }});
  }
}

bool H2Connection::Write(int32_t stream, absl::string_view bytes) {
  absl::MutexLock lock(&mu_);
  if (closed_ || !open_.contains(stream)) return false;
  Inbox& in = inbox_[stream];
  if (in.end) return false;
  // A round's backlog (the loop behind) is taken whole, as over HTTP/1.1.
  if (in.bytes.size() > context_.session.max_queued_bytes && !loop_.InRound()) {
    in.slow = true;  // reset: the browser resumes from its cursor
    in.end = true;
    in.bytes = std::string();
  } else {
    in.bytes.append(bytes.data(), bytes.size());
  }
  ScheduleLocked();
  return !in.slow;
}

void H2Connection::End(int32_t stream) {
  absl::MutexLock lock(&mu_);
  if (closed_ || !open_.contains(stream)) return;
  inbox_[stream].end = true;
  ScheduleLocked();
}

void H2Connection::WhenDrained(int32_t stream, std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(stream);
    if (!closed_ && it != open_.end()) {
      it->second.drained.push_back(std::move(fn));
      ScheduleLocked();
      return;
    }
  }
  fn();
}

void H2Connection::Answer(int32_t stream, ApiAnswer answer) {
  absl::MutexLock lock(&mu_);
  if (closed_ || !open_.contains(stream)) return;  // the client went
  inbox_[stream].answer = std::move(answer);
  ScheduleLocked();
}

absl::StatusOr<ApiExchange::Stream> H2Connection::OpenStream(int32_t stream,
                                                             const HeaderList& headers) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(stream);
  if (closed_ || it == open_.end()) return absl::CancelledError("the client went");
  const size_t key = (*context_.next_key)++;
  if (absl::Status claimed =
          context_.table->ClaimStream(key, client_ip_, nullptr, ConnectionTable::Protocol::kH2);
      !claimed.ok()) {
    return claimed;
  }
  it->second.key = key;
  HeaderList head = {{"content-type", "text/event-stream"},
                     {"cache-control", "no-cache, no-transform"},
                     {"x-accel-buffering", "no"}};
  head.insert(head.end(), headers.begin(), headers.end());
  inbox_[stream].start = std::move(head);
  ScheduleLocked();
  return ApiExchange::Stream{std::make_unique<H2StreamWriter>(weak_from_this(), stream),
                             loop_index_};
}

void H2Connection::Started(int32_t stream, std::shared_ptr<Connection> connection) {
  size_t key = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(stream);
    if (!closed_ && it != open_.end()) key = it->second.key;
  }
  // Gone meanwhile: its release found no connection to remove.
  if (key == 0 || !context_.table->SetConnection(key, connection)) {
    context_.hub->Remove(connection);
  }
}

void H2Connection::OnRequest(int32_t stream, ApiRequest request) {
  ++context_.stats->streams;
  {
    absl::MutexLock lock(&mu_);
    open_.try_emplace(stream);
  }
  const bool taken = context_.intake(
      [self = shared_from_this(), stream, request = std::move(request)] {
        {
          absl::MutexLock lock(&self->mu_);
          if (!self->OpenLocked(stream)) return;  // reset or gone while waiting: no work for it
        }
        H2Exchange exchange(self, stream);
        self->context_.route(request, exchange);
      },
      false);
  if (taken) return;
  ++context_.stats->refused_busy;
  {
    absl::MutexLock lock(&mu_);
    open_.erase(stream);
  }
  ApiAnswer busy = JsonAnswer(503, "unavailable", "this edge has too many requests waiting");
  busy.headers.emplace_back("retry-after", "1");
  session_->Respond(stream, busy);
}

void H2Connection::OnClosed(int32_t stream) {
  Open open;
  {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(stream);
    if (it == open_.end()) return;
    open = std::move(it->second);
    open_.erase(it);
    inbox_.erase(stream);
  }
  if (open.key != 0) Release(open.key);
  for (auto& fn : open.drained) fn();
}

void H2Connection::OnRefused(int32_t, absl::string_view why) {
  if (why == "headers") {
    ++context_.stats->refused_headers;
  } else if (why == "body") {
    ++context_.stats->refused_body;
  } else if (why == "slow") {
    ++context_.stats->slow_resets;
    ++context_.writer_stats->slow_closes;
  } else if (why == "goaway") {
    ++context_.stats->protocol_errors;
  }
}

void H2Connection::Release(size_t key) {
  context_.intake(
      [context = &context_, key] {
        if (std::optional<ConnectionTable::Entry> entry = context->table->Release(key);
            entry.has_value() && entry->connection != nullptr) {
          context->hub->Remove(entry->connection);
        }
      },
      true);
}

void H2Connection::Close() {
  if (done_) return;
  done_ = true;
  absl::flat_hash_map<int32_t, Open> open;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    open.swap(open_);
    inbox_.clear();
  }
  loop_.Forget(fd_, this);
  for (auto& [id, stream] : open) {
    if (stream.key != 0) Release(stream.key);
    for (auto& fn : stream.drained) fn();
  }
  session_.reset();
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  close(fd_);
  --context_.stats->connections;
  context_.closed(this);  // may be the last owner but one: the caller holds another
}

}  // namespace herald::edge
