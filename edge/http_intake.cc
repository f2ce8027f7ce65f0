// Bytes in: one owner per connection, the request line kept for repeated
// query parameters, bodies refused by their Content-Length, routing, and
// answers written later from another thread.
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

void EdgeServer::Handler::onRequest(const Http::Request& request, Http::ResponseWriter response) {
  const std::string& path = request.resource();
  current_origin_.reset();
  if (auto origin = request.headers().tryGetRaw("Origin"); origin.has_value()) {
    current_origin_ = server_->AllowedOrigin(origin->value());
    if (request.method() == Http::Method::Options) {
      Preflight(request, response, origin->value());
      return;
    }
  }
  if (current_origin_.has_value()) {
    response.headers().add<Http::Header::AccessControlAllowOrigin>(*current_origin_);
    response.headers().add<AllowCredentials>("true");
    response.headers().add<Vary>("Origin");
  }
  static constexpr absl::string_view kStreams = "/v1/streams/";
  static constexpr absl::string_view kRpc = "/v1/rpc/";
  static constexpr absl::string_view kEvents = "/events";
  if (absl::StartsWith(path, kStreams) && absl::EndsWith(path, kEvents) &&
      path.size() > kStreams.size() + kEvents.size()) {
    if (request.method() != Http::Method::Post) {
      SendJson(response, Http::Code::Method_Not_Allowed, "method_not_allowed",
               "POST an event here: {\"type\": ..., \"data\": ...}");
      return;
    }
    PostEvent(request, response,
              absl::string_view(path).substr(kStreams.size(),
                                             path.size() - kStreams.size() - kEvents.size()));
  } else if (absl::StartsWith(path, kRpc)) {
    Rpc(request, response, absl::string_view(path).substr(kRpc.size()));
  } else if (path == "/v1/events") {
    if (request.method() != Http::Method::Get) {
      SendJson(response, Http::Code::Method_Not_Allowed, "method_not_allowed",
               "GET /v1/events opens a stream");
      return;
    }
    Events(request, response);
  } else if (path == "/healthz") {
    response.send(Http::Code::Ok, "ok\n");
  } else if (path == "/readyz") {
    const bool ready = server_->hub_.Ready() && !server_->draining_.load();
    response.send(ready ? Http::Code::Ok : Http::Code::Service_Unavailable,
                  ready ? "ready\n" : "not ready\n");
  } else if (path == "/metrics") {
    response.headers().add<Http::Header::ContentType>(
        Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
    response.send(Http::Code::Ok, server_->metrics_.Render());
  } else if (const StaticFile* file = server_->options_.static_files != nullptr
                                          ? server_->options_.static_files->Find(path)
                                          : nullptr;
             file != nullptr &&
             (request.method() == Http::Method::Get || request.method() == Http::Method::Head)) {
    response.headers().add<Http::Header::ContentType>(
        Http::Mime::MediaType::fromString(file->content_type));
    response.headers().add<CacheControlText>(file->cache_control);
    response.headers().add<NoSniff>("nosniff");
    response.headers().add<ContentSecurityPolicy>(
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
    response.send(Http::Code::Ok, request.method() == Http::Method::Head ? "" : file->body);
  } else {
    SendJson(response, Http::Code::Not_Found, "not_found",
             absl::StrCat("no such resource: ", path));
  }
}

void EdgeServer::Handler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
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
  Answer(s, *writer,
         JsonResponse(
             413, common::JsonErrorBody("payload_too_large",
                                        absl::StrCat("the body is ", length, " bytes; at most ",
                                                     s.options_.max_body_bytes, " are accepted"))));
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
  ++s.calls_in_flight_;
  return writer;
}

void EdgeServer::Handler::Answer(EdgeServer& s, SocketWriter& writer, const std::string& text) {
  writer.WriteRaw(text);
  writer.CloseWhenDrained();
  --s.calls_in_flight_;
}

}  // namespace herald::edge
