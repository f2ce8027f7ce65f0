#include "http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"
#include "herald/common/logging.h"
#include "sse.h"

namespace herald::edge {
namespace {

using namespace Pistache;

constexpr char kSseHead[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache, no-transform\r\n"
    "Connection: keep-alive\r\n"
    "X-Accel-Buffering: no\r\n"
    "Transfer-Encoding: chunked\r\n";

constexpr char kCorsAllowHeaders[] =
    "Content-Type, Authorization, Idempotency-Key, traceparent, Last-Event-ID";

// CORS header lines for a response written outside Pistache.
std::string CorsLines(const std::optional<std::string>& origin) {
  if (!origin.has_value()) return "";
  return absl::StrCat("Access-Control-Allow-Origin: ", *origin,
                      "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
}

void SendJson(Http::ResponseWriter& response, Http::Code code, absl::string_view error,
              absl::string_view message) {
  response.headers().add<Http::Header::ContentType>(MIME(Application, Json));
  response.send(code, common::JsonErrorBody(std::string(error), std::string(message)));
}

const char* Reason(int status) {
  switch (status) {
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 501:
      return "Not Implemented";
    case 200:
      return "OK";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 500 ? "Error" : "Internal Server Error";
  }
}

// A whole JSON response, for writing outside Pistache; the connection closes
// after it. `extra` holds whole header lines.
std::string JsonResponse(int status, const std::string& body, const std::string& extra = "") {
  return absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\nCache-Control: no-store\r\nConnection: close\r\n", extra, "\r\n", body);
}

// Whether `value` may travel as gRPC metadata (printable ASCII, bounded).
bool IsMetadataValue(absl::string_view value) {
  if (value.empty() || value.size() > 512) return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The answer for a call that ended with a gRPC error: its code mapped to HTTP
// (DESIGN.md), with a JSON error body.
std::string GrpcErrorResponse(const grpc::Status& status, const std::string& cors) {
  return JsonResponse(
      common::HttpStatusForGrpc(status.error_code()),
      common::JsonErrorBody(common::GrpcCodeName(status.error_code()), status.error_message()),
      cors);
}

// One Publisher.Publish for a POSTed event, alive until its callback.
struct PublishCall {
  grpc::ClientContext context;
  v1::PublishRequest request;
  v1::PublishResponse response;
  std::shared_ptr<SocketWriter> writer;
  std::string cors;  // header lines for the answer
};

// Pistache writes only typed headers: these are the ones it lacks.
#define HERALD_TEXT_HEADER(Class, HeaderName)                            \
  class Class final : public Http::Header::Header {                      \
   public:                                                               \
    NAME(HeaderName)                                                     \
    explicit Class(std::string value = "") : value_(std::move(value)) {} \
    void parse(const std::string& text) override { value_ = text; }      \
    void write(std::ostream& os) const override { os << value_; }        \
                                                                         \
   private:                                                              \
    std::string value_;                                                  \
  };
HERALD_TEXT_HEADER(Vary, "Vary")
HERALD_TEXT_HEADER(AllowCredentials, "Access-Control-Allow-Credentials")
HERALD_TEXT_HEADER(MaxAge, "Access-Control-Max-Age")
HERALD_TEXT_HEADER(WwwAuthenticate, "WWW-Authenticate")
HERALD_TEXT_HEADER(CacheControlText, "Cache-Control")
HERALD_TEXT_HEADER(NoSniff, "X-Content-Type-Options")
HERALD_TEXT_HEADER(ContentSecurityPolicy, "Content-Security-Policy")
#undef HERALD_TEXT_HEADER

// Retry-After, likewise.
class RetryAfter final : public Http::Header::Header {
 public:
  NAME("Retry-After")
  explicit RetryAfter(int seconds = 0) : seconds_(seconds) {}
  void parse(const std::string& text) override { (void)absl::SimpleAtoi(text, &seconds_); }
  void write(std::ostream& os) const override { os << seconds_; }

 private:
  int seconds_;
};

// Writes chunks for a Connection.
class ChunkWriter final : public SseWriter {
 public:
  explicit ChunkWriter(std::shared_ptr<SocketWriter> writer) : writer_(std::move(writer)) {}
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

}  // namespace

class EdgeServer::Handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)

  explicit Handler(EdgeServer* server) : server_(server) {}

  // Pistache's own onInput, plus capturing the request target from the raw
  // bytes: Pistache keeps one value per query key, /v1/events needs them all.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    // One owner per connection: bytes on a connection that holds a stream or
    // an unanswered request never reach the parser, so they start no second
    // handler, leave the peer idle for Pistache's timer and read nothing into
    // memory (after a 413, the rest of the body goes the same way).
    if (std::optional<ConnectionTable::Entry> claim = server_->table_.Find(peer->getID())) {
      OnBusy(peer, *claim, len);
      return;
    }
    // Peer data is only touched on this reactor thread.
    auto line = std::static_pointer_cast<RequestLine>(peer->tryGetData(kLineKey));
    if (line == nullptr) {
      line = std::make_shared<RequestLine>();
      peer->putData(kLineKey, line);
    }
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
        response.headers().add<Http::Header::Connection>(
            connection ? connection->control() : Http::ConnectionControl::Close);
        peer->setIdle(false);
        current_peer_ = peer;
        current_line_ = line->text;
        onRequest(request, std::move(response));
        current_peer_.reset();
        parser->reset();
        *line = RequestLine();
      }
    } catch (const Http::HttpError& err) {
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      response.send(static_cast<Http::Code>(err.code()), err.reason());
      parser->reset();
      *line = RequestLine();
    } catch (const std::exception& e) {
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      response.send(Http::Code::Internal_Server_Error, e.what());
      parser->reset();
      *line = RequestLine();
    }
  }

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
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

  // Pistache closes the socket right after this returns: the claim's writer
  // lets go of it first.
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    std::optional<ConnectionTable::Entry> entry = server_->table_.Release(peer->getID());
    if (!entry.has_value()) return;
    if (entry->writer != nullptr) entry->writer->Abort();
    if (entry->connection != nullptr) server_->hub_.Remove(entry->connection);
  }

 private:
  // Bytes on a claimed connection: a pipelined or hostile second request.
  // Counted and dropped; a stream is closed (its browser resumes from its
  // cursor), an answer still comes and closes the connection.
  void OnBusy(const std::shared_ptr<Tcp::Peer>& peer, const ConnectionTable::Entry& claim,
              size_t len) {
    server_->busy_requests_.Increment();
    if (claim.kind != ConnectionTable::Kind::kStream) return;
    spdlog::debug("{} bytes of another request on the stream of {}: closing it", len,
                  peer->address().host());
    claim.writer->End();  // the connection learns it at its next write
  }

  // A CORS preflight: 204 for an allowed origin, 403 otherwise.
  void Preflight(const Http::Request& request, Http::ResponseWriter& response,
                 const std::string& origin) {
    if (!current_origin_.has_value()) {
      SendJson(response, Http::Code::Forbidden, "permission_denied",
               absl::StrCat("origin ", origin, " may not use this edge"));
      return;
    }
    response.headers().add<Http::Header::AccessControlAllowOrigin>(*current_origin_);
    response.headers().add<AllowCredentials>("true");
    response.headers().add<Vary>("Origin");
    response.headers().add<Http::Header::AccessControlAllowMethods>("GET, POST, OPTIONS");
    response.headers().add<Http::Header::AccessControlAllowHeaders>(kCorsAllowHeaders);
    response.headers().add<MaxAge>("600");
    (void)request;
    response.send(Http::Code::No_Content);
  }

  // 413 for a body over the limit, written with the edge's own writer; the
  // connection closes after it and nothing more is read from it.
  void RefuseBody(const std::shared_ptr<Tcp::Peer>& peer, uint64_t length) {
    EdgeServer& s = *server_;
    s.bad_requests_.Increment();
    std::shared_ptr<SocketWriter> writer = AnswerLater(peer);
    Answer(s, *writer,
           JsonResponse(413, common::JsonErrorBody(
                                 "payload_too_large",
                                 absl::StrCat("the body is ", length, " bytes; at most ",
                                              s.options_.max_body_bytes, " are accepted"))));
  }

  // Takes the answer on `peer` over from Pistache, for writing from another
  // thread (see README.md); the connection closes after it. Pistache must not
  // time the request out meanwhile. Each AnswerLater gets one Answer.
  std::shared_ptr<SocketWriter> AnswerLater(const std::shared_ptr<Tcp::Peer>& peer) {
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

  static void Answer(EdgeServer& s, SocketWriter& writer, const std::string& text) {
    writer.WriteRaw(text);
    writer.CloseWhenDrained();
    --s.calls_in_flight_;
  }

  // The request's principal: true with `who` set, or left empty when there
  // is no token; false after answering 401 for a token that does not verify.
  bool Authenticate(const Http::Request& request, Http::ResponseWriter& response,
                    std::optional<Principal>* who) {
    const Authenticator* auth = server_->options_.auth;
    if (auth == nullptr || !auth->enabled()) return true;
    std::optional<std::string> authorization;
    if (auto typed = request.headers().tryGet<Http::Header::Authorization>(); typed != nullptr) {
      authorization = typed->value();
    } else if (auto raw = request.headers().tryGetRaw("Authorization"); raw.has_value()) {
      authorization = raw->value();
    }
    std::optional<std::string> cookie;
    if (request.cookies().has("herald_token")) {
      cookie = absl::StrCat("herald_token=", request.cookies().get("herald_token").value);
    }
    const std::optional<std::string> token = TokenFromHeaders(authorization, cookie);
    if (!token.has_value()) return true;
    absl::StatusOr<Principal> verified = auth->Verify(*token);
    if (!verified.ok()) {
      Deny(response, verified.status());
      return false;
    }
    *who = std::move(*verified);
    return true;
  }

  // True if `allowed` is OK; otherwise answers 401 or 403.
  bool Permit(const absl::Status& allowed, Http::ResponseWriter& response) {
    if (allowed.ok()) return true;
    Deny(response, allowed);
    return false;
  }

  void Deny(Http::ResponseWriter& response, const absl::Status& status) {
    EdgeServer& s = *server_;
    if (absl::IsPermissionDenied(status)) {
      s.forbidden_.Increment();
      SendJson(response, Http::Code::Forbidden, "permission_denied", status.message());
      return;
    }
    const absl::string_view reason = Authenticator::ReasonOf(status);
    s.auth_failures_.at(std::string(reason))->Increment();
    response.headers().add<WwwAuthenticate>(
        reason == "missing" ? std::string(R"(Bearer realm="herald")")
                            : absl::StrCat(R"(Bearer realm="herald", error="invalid_token")"));
    SendJson(response, Http::Code::Unauthorized, "unauthenticated", status.message());
  }

  static const Principal* Who(const std::optional<Principal>& who) {
    return who.has_value() ? &*who : nullptr;
  }

  // Whether a write (a POSTed event, an rpc call) may go now: false after
  // answering 503 while draining, or 429 with Retry-After past the POST rate
  // of its subject (of its address without a token).
  bool MayWriteNow(const std::optional<Principal>& who, const Http::Request& request,
                   Http::ResponseWriter& response) {
    EdgeServer& s = *server_;
    if (s.draining_.load()) {
      response.headers().add<RetryAfter>(1);
      SendJson(response, Http::Code::Service_Unavailable, "unavailable",
               "this edge is shutting down; retry");
      return false;
    }
    const std::string key = who.has_value() ? absl::StrCat("sub ", who->subject)
                                            : absl::StrCat("ip ", request.address().host());
    const int wait = s.PostDelay(key);
    if (wait == 0) return true;
    s.rate_limited_.Increment();
    response.headers().add<RetryAfter>(wait);
    SendJson(response, Http::Code::Too_Many_Requests, "resource_exhausted",
             absl::StrCat("more than ", s.options_.post_rate, " requests per second from ",
                          absl::StartsWith(key, "sub ") ? "this subject" : "this client",
                          "; retry in ", wait, " s"));
    return false;
  }

  // 400 with a JSON error, counted.
  void BadRequest(Http::ResponseWriter& response, absl::string_view message) {
    server_->bad_requests_.Increment();
    SendJson(response, Http::Code::Bad_Request, "invalid_argument", message);
  }

  bool IsJson(const Http::Request& request, Http::ResponseWriter& response,
              absl::string_view what) {
    auto content_type = request.headers().tryGet<Http::Header::ContentType>();
    if (content_type != nullptr && content_type->mime() == MIME(Application, Json)) return true;
    server_->bad_requests_.Increment();
    SendJson(response, Http::Code::Unsupported_Media_Type, "unsupported_media_type",
             absl::StrCat("send ", what, " as Content-Type: application/json"));
    return false;
  }

  void Rpc(const Http::Request& request, Http::ResponseWriter& response, absl::string_view name) {
    EdgeServer& s = *server_;
    if (request.method() != Http::Method::Post) {
      SendJson(response, Http::Code::Method_Not_Allowed, "method_not_allowed",
               "POST the request message as JSON here");
      return;
    }
    if (s.options_.rpc == nullptr) {
      SendJson(response, Http::Code::Not_Found, "not_found",
               "no services are routed through this edge (--rpc_routes)");
      return;
    }
    absl::StatusOr<const RpcMethod*> found = s.options_.rpc->Find(name);
    if (!found.ok()) {
      const auto code = static_cast<grpc::StatusCode>(found.status().code());
      SendJson(response, static_cast<Http::Code>(common::HttpStatusForGrpc(code)),
               common::GrpcCodeName(code), found.status().message());
      return;
    }
    const RpcMethod& method = **found;
    std::optional<Principal> who;
    if (!Authenticate(request, response, &who)) return;
    if (s.options_.auth != nullptr &&
        !Permit(s.options_.auth->MayCall(Who(who), method.name), response)) {
      return;
    }
    if (!IsJson(request, response, "the request message")) return;
    absl::StatusOr<std::string> bytes = s.options_.rpc->EncodeRequest(method, request.body());
    if (!bytes.ok()) {
      BadRequest(response, bytes.status().message());
      return;
    }
    RpcCallOptions options;
    absl::Duration timeout = method.timeout;
    if (auto header = request.headers().tryGetRaw("Grpc-Timeout"); header.has_value()) {
      absl::StatusOr<absl::Duration> asked = ParseGrpcTimeout(header->value());
      if (!asked.ok()) {
        BadRequest(response, asked.status().message());
        return;
      }
      timeout = std::min(timeout, *asked);
    }
    options.deadline = absl::Now() + timeout;
    for (const char* forwarded : {"Idempotency-Key", "traceparent", "tracestate"}) {
      auto header = request.headers().tryGetRaw(forwarded);
      if (!header.has_value()) continue;
      if (!IsMetadataValue(header->value())) {
        BadRequest(response, absl::StrCat(forwarded, ": 1 to 512 printable ASCII characters"));
        return;
      }
      options.metadata.emplace_back(absl::AsciiStrToLower(forwarded), header->value());
    }
    if (who.has_value()) {
      if (!IsMetadataValue(who->subject)) {
        BadRequest(response, "the token's subject cannot be forwarded (printable ASCII only)");
        return;
      }
      options.metadata.emplace_back("herald-subject", who->subject);
    }
    if (!MayWriteNow(who, request, response)) return;
    std::shared_ptr<SocketWriter> writer = AnswerLater(current_peer_);
    s.options_.rpc->Call(
        method, std::move(*bytes), options,
        [&s, writer, cors = CorsLines(current_origin_)](grpc::Status status, std::string json) {
          if (status.ok()) {
            s.rpc_calls_.Increment();
            json.push_back('\n');
            Answer(s, *writer, JsonResponse(200, json, cors));
          } else {
            s.rpc_failures_.Increment();
            Answer(s, *writer, GrpcErrorResponse(status, cors));
          }
        });
  }

  void PostEvent(const Http::Request& request, Http::ResponseWriter& response,
                 absl::string_view encoded_stream) {
    EdgeServer& s = *server_;
    std::optional<Principal> who;
    if (!Authenticate(request, response, &who)) return;
    if (!IsJson(request, response, "the event")) return;
    absl::StatusOr<PostEventRequest> parsed = ParsePostEvent(encoded_stream, request.body());
    if (!parsed.ok()) {
      BadRequest(response, parsed.status().message());
      return;
    }
    if (s.options_.auth != nullptr &&
        !Permit(s.options_.auth->MayPublish(Who(who), parsed->stream), response)) {
      return;
    }
    if (!MayWriteNow(who, request, response)) return;
    auto* call = new PublishCall();
    call->cors = CorsLines(current_origin_);
    v1::Event* event = call->request.mutable_event();
    event->set_stream(parsed->stream);
    event->set_type(parsed->type);
    event->set_text(parsed->data);
    if (auto key = request.headers().tryGetRaw("Idempotency-Key"); key.has_value()) {
      event->set_idempotency_key(key->value());
    }
    if (auto trace = request.headers().tryGetRaw("traceparent"); trace.has_value()) {
      (*event->mutable_headers())["traceparent"] = trace->value();
    }
    if (who.has_value()) (*event->mutable_headers())["herald-subject"] = who->subject;
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + s.options_.publish_timeout));
    // The answer comes on a gRPC thread.
    call->writer = AnswerLater(current_peer_);
    s.publisher_->async()->Publish(
        &call->context, &call->request, &call->response, [&s, call](grpc::Status status) {
          std::string answer;
          if (status.ok()) {
            s.posted_.Increment();
            const v1::Position& at = call->response.position();
            answer = JsonResponse(
                201,
                absl::StrCat("{\"id\":", common::JsonQuote(call->response.cursor()),
                             ",\"stream\":", common::JsonQuote(call->request.event().stream()),
                             ",\"partition\":", at.partition(), ",\"offset\":", at.offset(), "}\n"),
                call->cors);
          } else {
            s.post_failures_.Increment();
            answer = GrpcErrorResponse(status, call->cors);
          }
          Answer(s, *call->writer, answer);
          delete call;
        });
  }

  void Events(const Http::Request& request, Http::ResponseWriter& response) {
    EdgeServer& s = *server_;
    auto retry_later = [&](absl::string_view why, int seconds) {
      s.refused_.Increment();
      response.headers().add<RetryAfter>(seconds);
      SendJson(response, Http::Code::Service_Unavailable, "unavailable", why);
    };
    if (s.draining_.load()) return retry_later("this edge is shutting down; reconnect", 1);
    if (!s.hub_.Serving()) return retry_later("not connected to a fanout yet", 2);
    // The raw target: "GET /v1/events?stream=a&stream=b HTTP/1.1".
    absl::string_view query;
    const size_t sp1 = current_line_.find(' ');
    const size_t sp2 = current_line_.rfind(' ');
    if (sp1 != std::string::npos && sp2 > sp1) {
      const absl::string_view target =
          absl::string_view(current_line_).substr(sp1 + 1, sp2 - sp1 - 1);
      if (const size_t q = target.find('?'); q != absl::string_view::npos) {
        query = target.substr(q + 1);
      }
    }
    std::optional<std::string> header_value;
    if (auto header = request.headers().tryGetRaw("Last-Event-ID"); header.has_value()) {
      header_value = header->value();
    }
    std::optional<absl::string_view> last_event_id;
    if (header_value.has_value()) last_event_id = *header_value;
    absl::StatusOr<EventsRequest> parsed =
        ParseEventsRequest(query, last_event_id, s.options_.request);
    if (!parsed.ok()) {
      BadRequest(response, parsed.status().message());
      return;
    }
    std::optional<Principal> who;
    if (!Authenticate(request, response, &who)) return;
    if (s.options_.auth != nullptr &&
        !Permit(s.options_.auth->MaySubscribe(Who(who), parsed->streams), response)) {
      return;
    }
    std::shared_ptr<Tcp::Peer> peer = current_peer_;
    const size_t id = peer->getID();
    // The claim holds the only writer of this socket: onDisconnection aborts
    // it before Pistache closes the descriptor.
    // The connection's loop: its writer's and its feed deliveries'.
    const int loop = s.hub_.PickLoop();
    auto writer = std::make_shared<SocketWriter>(peer->fd(), s.options_.max_queued_bytes,
                                                 s.hub_.loop(loop), s.stats_);
    if (absl::Status claimed = s.table_.ClaimStream(id, request.address().host(), writer);
        !claimed.ok()) {
      return retry_later(claimed.message(), 5);  // at a limit: nothing was claimed
    }
    // The response is ours now: keep Pistache's header timeout from writing a
    // 408 into it (see README.md). Failures below shut the socket down; the
    // disconnection that follows releases the claim.
    peer->setIdle(true);
    if (!writer->WriteRaw(absl::StrCat(kSseHead, CorsLines(current_origin_), "\r\n"))) return;
    absl::StatusOr<std::shared_ptr<Connection>> connection =
        s.hub_.Add(*parsed, std::make_unique<ChunkWriter>(writer), loop);
    if (!connection.ok()) {
      writer->End();
      return;
    }
    s.accepted_.Increment();
    s.table_.SetConnection(id, *connection);
    // Opened with a token: it lives no longer than the token.
    if (who.has_value()) s.expiry_->Add(who->valid_until, *connection);
  }

  // What onInput keeps of the raw request: its line (for the repeated query
  // parameters) and its head (for Content-Length, checked before the body).
  struct RequestLine {
    std::string text;
    bool done = false;
    std::string head;
    bool head_done = false;
  };
  static constexpr size_t kMaxHead = 16 * 1024;
  static constexpr char kLineKey[] = "herald.request-line";

  EdgeServer* server_;
  // The request being handled (onRequest runs inside onInput, on this thread).
  std::shared_ptr<Tcp::Peer> current_peer_;
  std::string current_line_;
  std::optional<std::string> current_origin_;  // when CORS allows it
};

EdgeServer::EdgeServer(EdgeOptions options, Hub& hub, common::Registry& metrics)
    : options_(std::move(options)),
      hub_(hub),
      metrics_(metrics),
      table_({.max_streams = options_.max_connections,
              .max_streams_per_ip = options_.max_connections_per_ip}),
      accepted_(metrics.AddCounter("herald_edge_streams_opened_total", "SSE streams opened")),
      refused_(metrics.AddCounter("herald_edge_streams_refused_total",
                                  "SSE streams refused with 503 (limits, drain, no fanout)")),
      bad_requests_(
          metrics.AddCounter("herald_edge_bad_requests_total", "Requests refused with 400 or 415")),
      posted_(metrics.AddCounter("herald_edge_posts_total", "Events POSTed and published")),
      post_failures_(metrics.AddCounter("herald_edge_post_failures_total",
                                        "POSTed events the publisher refused or did not answer")),
      rate_limited_(metrics.AddCounter("herald_edge_rate_limited_total",
                                       "POSTs refused with 429 (per-subject rate limit)")),
      rpc_calls_(metrics.AddCounter("herald_edge_rpc_calls_total",
                                    "/v1/rpc calls the service answered with OK")),
      rpc_failures_(metrics.AddCounter("herald_edge_rpc_failures_total",
                                       "/v1/rpc calls that ended with a gRPC error")),
      forbidden_(metrics.AddCounter("herald_edge_forbidden_total",
                                    "Requests refused with 403 (not granted by the token)")),
      busy_requests_(metrics.AddCounter(
          "herald_edge_busy_connection_requests_total",
          "Bytes of another request on a connection holding a stream or an unanswered request "
          "(dropped; a stream is closed)")),
      ended_expired_(metrics.AddCounter("herald_edge_streams_ended_total",
                                        "Streams the edge ended with herald.auth, by reason",
                                        {{"reason", "expired"}})) {
  for (const char* reason :
       {"missing", "malformed", "algorithm", "signature", "expired", "not_yet_valid", "claims"}) {
    auth_failures_[reason] =
        &metrics.AddCounter("herald_edge_auth_failures_total",
                            "Requests refused with 401, by reason", {{"reason", reason}});
  }
  metrics.AddCollector(
      "herald_edge_connections", "Open SSE streams", common::MetricType::kGauge,
      [this](const common::Emit& emit) { emit({}, static_cast<double>(table_.streams())); });
  metrics.AddCollector("herald_edge_pending_answers",
                       "Requests whose answer is still to be written (POSTs waiting for gRPC)",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(table_.answers()));
                       });
  metrics.AddCollector("herald_edge_bytes_sent_total", "SSE bytes written to sockets",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.bytes_sent.load()));
                       });
  metrics.AddCollector("herald_edge_bytes_queued", "SSE bytes waiting for slow sockets",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.bytes_queued.load()));
                       });
  metrics.AddCollector("herald_edge_slow_client_closes_total",
                       "Streams closed because the client read too slowly",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.slow_closes.load()));
                       });
}

EdgeServer::~EdgeServer() { Stop(); }

absl::Status EdgeServer::Start() {
  expiry_ = std::make_unique<ExpiryTimers>([this](Connection& connection) {
    connection.EndWith("herald.auth", R"({"reason":"expired"})");
    ended_expired_.Increment();
  });
  publisher_ = v1::Publisher::NewStub(
      grpc::CreateChannel(options_.publisher, grpc::InsecureChannelCredentials()));
  const size_t colon = options_.address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", options_.address, "' is not host:port"));
  }
  try {
    endpoint_ = std::make_unique<Http::Endpoint>(
        Address(options_.address.substr(0, colon), Port(static_cast<uint16_t>(port))));
    endpoint_->init(Http::Endpoint::options()
                        .threads(options_.threads)
                        .flags(Tcp::Options::ReuseAddr | Tcp::Options::ReusePort)
                        .maxRequestSize(16 * 1024 + options_.max_body_bytes)
                        // Streams are marked idle; idle peers are closed this long after
                        // their last request, so it must outlast any stream.
                        .keepaliveTimeout(std::chrono::hours(24 * 365)));
    endpoint_->setHandler(Http::make_handler<Handler>(this));
    endpoint_->serveThreaded();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options_.address, ": ", e.what()));
  }
  heartbeat_ = std::thread([this] { Heartbeats(); });
  return absl::OkStatus();
}

std::optional<std::string> EdgeServer::AllowedOrigin(const std::string& origin) const {
  for (const std::string& allowed : options_.cors_origins) {
    if (allowed == "*" || allowed == origin) return origin;
  }
  return std::nullopt;
}

int EdgeServer::PostDelay(const std::string& client) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&buckets_mu_);
  if (buckets_.size() > 100'000) {
    // Forget clients whose buckets have refilled: bounded memory.
    absl::erase_if(buckets_, [&](const auto& b) {
      return b.second.tokens + absl::ToDoubleSeconds(now - b.second.updated) * options_.post_rate >=
             options_.post_burst;
    });
  }
  auto [it, created] = buckets_.try_emplace(client, Bucket{options_.post_burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(options_.post_burst,
                      b.tokens + absl::ToDoubleSeconds(now - b.updated) * options_.post_rate);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / options_.post_rate)));
}

int EdgeServer::port() const { return static_cast<uint16_t>(endpoint_->getPort()); }

void EdgeServer::Heartbeats() {
  // Every tick (a fifth of the interval), connections that wrote nothing for
  // half of it get a heartbeat: the gap between two writes stays within
  // seven tenths of the interval, plus scheduling, never past it.
  const absl::Duration tick = std::max(options_.heartbeat / 5, absl::Milliseconds(10));
  const absl::Duration nap = std::min(absl::Milliseconds(100), tick / 4);
  absl::Time next = absl::Now() + tick;
  while (!stopping_.load()) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(nap));
    const absl::Time now = absl::Now();
    if (now < next) continue;
    hub_.HeartbeatAll(now - options_.heartbeat / 2);
    next = now + tick;
  }
}

void EdgeServer::Drain() {
  draining_.store(true);
  std::vector<ConnectionTable::Entry> open = table_.Streams();
  spdlog::info("draining {} open streams over {}", open.size(),
               absl::FormatDuration(options_.drain));
  if (open.empty()) return;
  // Close streams evenly over the window, each with a retry: hint spread over
  // the window too, so that reconnects reach other edges as a trickle.
  std::mt19937 rng(std::random_device{}());
  const int64_t window_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.drain));
  std::uniform_int_distribution<int64_t> jitter(options_.retry_ms, options_.retry_ms + window_ms);
  const absl::Duration step = options_.drain / static_cast<double>(open.size());
  for (ConnectionTable::Entry& s : open) {
    s.writer->WriteChunk(RetryBlock(jitter(rng)));
    s.connection->Close();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(step));
  }
}

void EdgeServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (heartbeat_.joinable()) heartbeat_.join();
  expiry_.reset();
  // Before Pistache closes the sockets.
  for (ConnectionTable::Entry& entry : table_.ReleaseAll()) {
    if (entry.writer != nullptr) entry.writer->Abort();
  }
  if (endpoint_ != nullptr) endpoint_->shutdown();
  // The hub's connections hold writers that use this server's counters:
  // they go before the server does.
  hub_.Stop();
  // Publishes still in flight answer into aborted writers; wait for their
  // callbacks (each is bounded by the publish deadline).
  while (calls_in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace herald::edge
