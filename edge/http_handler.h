// The edge's request handling: the endpoints (Router, on ApiRequest and
// ApiExchange, whatever protocol carried the request) and the HTTP/1.1
// intake on Pistache (Handler: bytes in, one owner per connection, answers
// written later from another thread).
#pragma once

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api.h"
#include "http_responses.h"
#include "http_server.h"

namespace herald::edge {

namespace Tcp = Pistache::Tcp;

// The endpoints. Stateless: one router serves every transport and thread.
class EdgeServer::Router final {
 public:
  explicit Router(EdgeServer* server) : server_(server) {}

  // Routes a whole request (CORS first) and answers it through `exchange`.
  void Route(const ApiRequest& request, ApiExchange& exchange) const;

 private:
  // One request on its way through the endpoints.
  struct Call {
    const ApiRequest& request;
    ApiExchange& exchange;
    std::optional<std::string> origin;  // when CORS allows it
  };
  // Answers now, with the CORS headers the origin gets.
  void Reply(Call& call, ApiAnswer answer) const;
  void ReplyJson(Call& call, int status, absl::string_view error, absl::string_view message) const;

  // http_access.cc

  // A CORS preflight: 204 for an allowed origin, 403 otherwise.
  void Preflight(Call& call, const std::string& origin) const;
  // The request's principal: true with `who` set, or left empty when there
  // is no token; false after answering 401 for a token that does not verify.
  bool Authenticate(Call& call, std::optional<Principal>* who) const;
  // True if `allowed` is OK; otherwise answers 401 or 403.
  bool Permit(Call& call, const absl::Status& allowed) const;
  // 403 for a grant missing, 401 (with WWW-Authenticate) for a bad token.
  void Deny(Call& call, const absl::Status& status) const;
  static const Principal* Who(const std::optional<Principal>& who) {
    return who.has_value() ? &*who : nullptr;
  }
  // Whether a write (a POSTed event, an rpc call) may go now: false after
  // answering 503 while draining, or 429 with Retry-After past the POST rate
  // of its subject (of its address without a token).
  bool MayWriteNow(Call& call, const std::optional<Principal>& who) const;
  // 400 with a JSON error, counted.
  void BadRequest(Call& call, absl::string_view message) const;
  // Whether the body is JSON; otherwise answers 415 naming `what`.
  bool IsJson(Call& call, absl::string_view what) const;

  // events_handler.cc and write_handlers.cc

  void Events(Call& call) const;
  void PostEvent(Call& call, absl::string_view encoded_stream) const;
  void Rpc(Call& call, absl::string_view name) const;
  // Takes the answer over and counts it in flight until it is written.
  std::function<void(ApiAnswer)> AnswerLater(Call& call) const;

  EdgeServer* server_;
};

// HTTP/1.1 on Pistache: one per reactor thread.
class EdgeServer::Handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)

  explicit Handler(EdgeServer* server) : server_(server) {}

  // Pistache's own onInput, plus capturing the request target from the raw
  // bytes: Pistache keeps one value per query key, /v1/events needs them all.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override;
  // Hands a whole request to the router.
  void onRequest(const Http::Request& request, Http::ResponseWriter response) override;
  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override;
  // Pistache closes the socket right after this returns: the claim's writer
  // lets go of it first.
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override;

  // Takes the answer on `peer` over from Pistache, for writing from another
  // thread (see README.md); the connection closes after it. Pistache must not
  // time the request out meanwhile.
  std::shared_ptr<SocketWriter> AnswerLater(const std::shared_ptr<Tcp::Peer>& peer);

 private:
  class Exchange;

  // Bytes on a claimed connection: a pipelined or hostile second request.
  // Counted and dropped; a stream is closed (its browser resumes from its
  // cursor), an answer still comes and closes the connection.
  void OnBusy(const std::shared_ptr<Tcp::Peer>& peer, const ConnectionTable::Entry& claim,
              size_t len);
  // 413 for a body over the limit, written with the edge's own writer; the
  // connection closes after it and nothing more is read from it.
  void RefuseBody(const std::shared_ptr<Tcp::Peer>& peer, uint64_t length);

  // What onInput keeps of the raw request: its line (for the repeated query
  // parameters) and its head (for Content-Length, checked before the body).
  struct RequestLine {
    std::string text;
    bool done = false;
    std::string head;
    bool head_done = false;
    std::weak_ptr<Tcp::Peer> peer;  // gone: Pistache closed it (maybe unreported)
  };
  static constexpr size_t kMaxHead = 16 * 1024;
  // Keeps a request whose head or body is still to come.
  void KeepPartial(const std::shared_ptr<Tcp::Peer>& peer, RequestLine line);
  // Drops kept requests of connections Pistache closed without telling
  // onDisconnection (its header and body timeouts), every few seconds.
  void SweepPartial();

  EdgeServer* server_;
  // The request being handled (onRequest runs inside onInput, on this thread).
  std::shared_ptr<Tcp::Peer> current_peer_;
  std::string current_line_;
  // Requests still arriving, by peer (most heads come whole: none kept).
  absl::flat_hash_map<size_t, RequestLine> partial_;
  absl::Time next_sweep_ = absl::InfinitePast();
};

}  // namespace herald::edge
