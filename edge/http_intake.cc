// Bytes in: one owner per connection, the request line kept for repeated
// query parameters, bodies refused by their Content-Length, routing, and
// answers written later from another thread.
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"
#include "herald/common/logging.h"
#include "http_handler.h"

namespace herald::edge {

void EdgeServer::Handler::onInput(const char* buffer, size_t len,
                                  const std::shared_ptr<Tcp::Peer>& peer) {
  // One owner per connection: bytes on a connection that holds a stream or
  // an unanswered request never reach the parser, so they start no second
  // handler, leave the peer idle for Pistache's timer and read nothing into
  // memory (after a 413, the rest of the body goes the same way).
  if (std::optional<ConnectionTable::Entry> claim = server_->table_.Find(peer->getID())) {
    OnBusy(peer, *claim, len);
    return;
  }
  // A head that came whole (the usual case) is kept nowhere; a partial one
  // waits in partial_ (this reactor thread's) for the rest.
  SweepPartial();
  const size_t id = peer->getID();
  RequestLine fresh;
  auto kept = partial_.find(id);
  RequestLine* line = kept != partial_.end() ? &kept->second : &fresh;
  if (!line->done) {
    const absl::string_view bytes(buffer, len);
    const size_t eol = bytes.find('\n');
    const absl::string_view head = bytes.substr(0, eol);
    line->text.append(head.data(), head.size());
    if (eol != absl::string_view::npos || line->text.size() > kMaxHead) line->done = true;
  }
  if (!line->head_done) {
    line->head.append(buffer, std::min(len, kMaxHead - std::min(kMaxHead, line->head.size())));
    if (const size_t end = line->head.find("\r\n\r\n"); end != std::string::npos) {
      line->head_done = true;
      const std::optional<uint64_t> length = ContentLengthOf(line->head.substr(0, end + 2));
      if (length.has_value() && *length > server_->options_.max_body_bytes) {
        partial_.erase(id);
        RefuseBody(peer, *length);
        getParser(peer)->reset();
        return;
      }
    } else if (line->head.size() >= kMaxHead) {
      line->head_done = true;  // Pistache refuses a head this large
    }
  }
  auto parser = getParser(peer);
  auto& request = parser->request;
  try {
    if (!parser->feed(buffer, len)) {
      parser->reset();
      throw Http::HttpError(Http::Code::Request_Entity_Too_Large,
                            "Request exceeded maximum buffer size");
    }
    if (parser->parse() == Http::Private::State::Done) {
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      auto connection = request.headers().tryGet<Http::Header::Connection>();
      response.headers().add<Http::Header::Connection>(connection ? connection->control()
                                                                  : Http::ConnectionControl::Close);
      peer->setIdle(false);
      current_peer_ = peer;
      current_line_ = std::move(line->text);
      partial_.erase(id);
      onRequest(request, std::move(response));
      current_peer_.reset();
      current_line_ = std::string();  // its memory too
      parser->reset();
      return;
    }
  } catch (const Http::HttpError& err) {
    Http::ResponseWriter response(request.version(), transport(), this, peer);
    response.send(static_cast<Http::Code>(err.code()), err.reason());
    parser->reset();
    partial_.erase(id);
    return;
  } catch (const std::exception& e) {
    Http::ResponseWriter response(request.version(), transport(), this, peer);
    response.send(Http::Code::Internal_Server_Error, e.what());
    parser->reset();
    partial_.erase(id);
    return;
  }
  if (line == &fresh) KeepPartial(peer, std::move(fresh));
}

void EdgeServer::Handler::KeepPartial(const std::shared_ptr<Tcp::Peer>& peer, RequestLine line) {
  line.peer = peer;
  partial_.emplace(peer->getID(), std::move(line));
}

void EdgeServer::Handler::SweepPartial() {
  if (partial_.empty()) return;
  const absl::Time now = absl::Now();
  if (now < next_sweep_) return;
  next_sweep_ = now + absl::Seconds(5);
  absl::erase_if(partial_, [](const auto& p) { return p.second.peer.expired(); });
}

// An HTTP/1.1 request's answer: through Pistache's writer at once, or, once
// the connection is claimed, with the edge's own writer.
class EdgeServer::Handler::Exchange final : public ApiExchange {
 public:
  Exchange(Handler& handler, Http::ResponseWriter& response, std::shared_ptr<Tcp::Peer> peer,
           bool head_only)
      : handler_(handler), response_(response), peer_(std::move(peer)), head_only_(head_only) {}

  void Answer(ApiAnswer answer) override { SendThroughPistache(response_, answer, head_only_); }

  std::function<void(ApiAnswer)> AnswerLater() override {
    return [writer = handler_.AnswerLater(peer_)](ApiAnswer answer) {
      writer->WriteRaw(Http1Text(answer));
      writer->CloseWhenDrained();
    };
  }

  absl::StatusOr<Stream> OpenStream(const HeaderList& headers) override {
    EdgeServer& s = *handler_.server_;
    // The claim holds the only writer of this socket: onDisconnection aborts
    // it before Pistache closes the descriptor. The connection's loop: its
    // writer's and its feed deliveries'.
    const int loop = s.hub_.PickLoop();
    auto writer = std::make_shared<SocketWriter>(peer_->fd(), s.options_.max_queued_bytes,
                                                 s.hub_.loop(loop), s.stats_);
    if (absl::Status claimed = s.table_.ClaimStream(peer_->getID(), peer_->address().host(), writer,
                                                    ConnectionTable::Protocol::kHttp1);
        !claimed.ok()) {
      return claimed;
    }
    // The response is ours now: keep Pistache's header timeout from writing
    // a 408 into it (see README.md). Failures shut the socket down; the
    // disconnection that follows releases the claim.
    peer_->setIdle(true);
    // Pistache keeps a write queue per connection until a write of its own
    // empties it (656 bytes per idle stream): a write of nothing does, and
    // sends nothing.
    peer_->send(Pistache::RawBuffer(std::string(), 0));
    std::string head = kSseHead;
    for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
    head += "\r\n";
    writer->WriteRaw(head);
    return Stream{std::make_unique<ChunkWriter>(std::move(writer)), loop};
  }

  void Started(std::shared_ptr<Connection> connection) override {
    handler_.server_->table_.SetConnection(peer_->getID(), std::move(connection));
  }

 private:
  static constexpr char kSseHead[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache, no-transform\r\n"
      "Connection: keep-alive\r\n"
      "X-Accel-Buffering: no\r\n"
      "Transfer-Encoding: chunked\r\n";

  // Writes a stream's events as HTTP/1.1 chunks; the response ends when
  // the connection lets go of it.
  class ChunkWriter final : public SseWriter {
   public:
    explicit ChunkWriter(std::shared_ptr<SocketWriter> writer) : writer_(std::move(writer)) {}
    ~ChunkWriter() override { writer_->End(); }
    bool Write(std::string bytes) override { return writer_->WriteChunk(bytes); }
    bool WriteShared(const std::shared_ptr<const SharedBlock>& block) override {
      // Owned by the block: no copy per connection.
      return writer_->WriteShared(std::shared_ptr<const std::string>(block, &block->chunk),
                                  block->chunk);
    }
    void Close() override { writer_->End(); }
    void WhenDrained(std::function<void()> fn) override { writer_->WhenDrained(std::move(fn)); }

   private:
    std::shared_ptr<SocketWriter> writer_;
  };

  Handler& handler_;
  Http::ResponseWriter& response_;
  std::shared_ptr<Tcp::Peer> peer_;
  const bool head_only_;
};

void EdgeServer::Handler::onRequest(const Http::Request& request, Http::ResponseWriter response) {
  ApiRequest api;
  api.method = ApiRequest::MethodOf(Http::methodString(request.method()));
  api.path = request.resource();
  // The raw target: "GET /v1/events?stream=a&stream=b HTTP/1.1".
  const size_t sp1 = current_line_.find(' ');
  const size_t sp2 = current_line_.rfind(' ');
  if (sp1 != std::string::npos && sp2 > sp1) {
    const absl::string_view target =
        absl::string_view(current_line_).substr(sp1 + 1, sp2 - sp1 - 1);
    if (const size_t q = target.find('?'); q != absl::string_view::npos) {
      api.query = std::string(target.substr(q + 1));
    }
  }
  for (const std::shared_ptr<Http::Header::Header>& header : request.headers().list()) {
    std::ostringstream value;
    header->write(value);
    api.headers.emplace_back(absl::AsciiStrToLower(header->name()), value.str());
  }
  for (const auto& [name, raw] : request.headers().rawList()) {
    api.headers.emplace_back(absl::AsciiStrToLower(name), raw.value());
  }
  for (const Http::Cookie& cookie : request.cookies()) {
    api.cookies.emplace_back(cookie.name, cookie.value);
  }
  api.body = request.body();
  api.client_ip = request.address().host();
  Exchange exchange(*this, response, current_peer_, api.method == ApiRequest::Method::kHead);
  server_->router_->Route(api, exchange);
}

void EdgeServer::Handler::onConnection(const std::shared_ptr<Tcp::Peer>& peer) {
  ++server_->http1_connections_;
  // Pistache's own (private) onConnection does exactly this.
  peer->putData(ParserData, std::make_shared<Http::RequestParser>(getMaxRequestSize()));
}

void EdgeServer::Handler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
  --server_->http1_connections_;
  partial_.erase(peer->getID());
  std::optional<ConnectionTable::Entry> entry = server_->table_.Release(peer->getID());
  if (!entry.has_value()) return;
  if (entry->writer != nullptr) entry->writer->Abort();
  if (entry->connection != nullptr) server_->hub_.Remove(entry->connection);
}

void EdgeServer::Handler::OnBusy(const std::shared_ptr<Tcp::Peer>& peer,
                                 const ConnectionTable::Entry& claim, size_t len) {
  server_->busy_requests_.Increment();
  if (claim.kind != ConnectionTable::Kind::kStream) return;
  spdlog::debug("{} bytes of another request on the stream of {}: closing it", len,
                peer->address().host());
  claim.writer->End();  // the connection learns it at its next write
}

void EdgeServer::Handler::RefuseBody(const std::shared_ptr<Tcp::Peer>& peer, uint64_t length) {
  EdgeServer& s = *server_;
  s.bad_requests_.Increment();
  std::shared_ptr<SocketWriter> writer = AnswerLater(peer);
  writer->WriteRaw(Http1Text(JsonAnswer(413, "payload_too_large",
                                        absl::StrCat("the body is ", length, " bytes; at most ",
                                                     s.options_.max_body_bytes, " are accepted"))));
  writer->CloseWhenDrained();
}

std::shared_ptr<SocketWriter> EdgeServer::Handler::AnswerLater(
    const std::shared_ptr<Tcp::Peer>& peer) {
  EdgeServer& s = *server_;
  auto writer = std::make_shared<SocketWriter>(peer->fd(), s.options_.max_queued_bytes,
                                               s.hub_.loop(s.hub_.PickLoop()), s.stats_);
  peer->setIdle(true);
  if (absl::Status claimed = s.table_.ClaimAnswer(peer->getID(), writer); !claimed.ok()) {
    // onInput hands no request of a claimed connection to a handler.
    spdlog::critical("broken invariant: a second handler on one connection: {}", claimed);
    std::abort();
  }
  return writer;
}

}  // namespace herald::edge
