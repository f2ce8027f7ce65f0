// EdgeServer::Handler: Pistache's handler for every request of herald-edge
// (see http_server.h). One instance per reactor thread (Pistache clones it).
//
// Files: http_intake.cc (bytes in, one owner per connection, routing, answers
// written later), http_access.cc (CORS, authentication, grants, rate limits,
// 4xx answers), events_handler.cc (GET /v1/events), write_handlers.cc (POSTed
// events and /v1/rpc calls).
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
#include "http_responses.h"
#include "http_server.h"

namespace herald::edge {

namespace Tcp = Pistache::Tcp;

class EdgeServer::Handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)

  explicit Handler(EdgeServer* server) : server_(server) {}

  // Pistache's own onInput, plus capturing the request target from the raw
  // bytes: Pistache keeps one value per query key, /v1/events needs them all.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override;
  // Routes a whole request (CORS first).
  void onRequest(const Http::Request& request, Http::ResponseWriter response) override;
  // Pistache closes the socket right after this returns: the claim's writer
  // lets go of it first.
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override;

 private:
  // http_intake.cc

  // Bytes on a claimed connection: a pipelined or hostile second request.
  // Counted and dropped; a stream is closed (its browser resumes from its
  // cursor), an answer still comes and closes the connection.
  void OnBusy(const std::shared_ptr<Tcp::Peer>& peer, const ConnectionTable::Entry& claim,
              size_t len);
  // 413 for a body over the limit, written with the edge's own writer; the
  // connection closes after it and nothing more is read from it.
  void RefuseBody(const std::shared_ptr<Tcp::Peer>& peer, uint64_t length);
  // Takes the answer on `peer` over from Pistache, for writing from another
  // thread (see README.md); the connection closes after it. Pistache must not
  // time the request out meanwhile. Each AnswerLater gets one Answer.
  std::shared_ptr<SocketWriter> AnswerLater(const std::shared_ptr<Tcp::Peer>& peer);
  // Writes `text` as the whole answer; from any thread.
  static void Answer(EdgeServer& s, SocketWriter& writer, const std::string& text);

  // http_access.cc

  // A CORS preflight: 204 for an allowed origin, 403 otherwise.
  void Preflight(const Http::Request& request, Http::ResponseWriter& response,
                 const std::string& origin);
  // The request's principal: true with `who` set, or left empty when there
  // is no token; false after answering 401 for a token that does not verify.
  bool Authenticate(const Http::Request& request, Http::ResponseWriter& response,
                    std::optional<Principal>* who);
  // True if `allowed` is OK; otherwise answers 401 or 403.
  bool Permit(const absl::Status& allowed, Http::ResponseWriter& response);
  // 403 for a grant missing, 401 (with WWW-Authenticate) for a bad token.
  void Deny(Http::ResponseWriter& response, const absl::Status& status);
  static const Principal* Who(const std::optional<Principal>& who) {
    return who.has_value() ? &*who : nullptr;
  }
  // Whether a write (a POSTed event, an rpc call) may go now: false after
  // answering 503 while draining, or 429 with Retry-After past the POST rate
  // of its subject (of its address without a token).
  bool MayWriteNow(const std::optional<Principal>& who, const Http::Request& request,
                   Http::ResponseWriter& response);
  // 400 with a JSON error, counted.
  void BadRequest(Http::ResponseWriter& response, absl::string_view message);
  // Whether the body is JSON; otherwise answers 415 naming `what`.
  bool IsJson(const Http::Request& request, Http::ResponseWriter& response, absl::string_view what);

  // events_handler.cc and write_handlers.cc

  void Events(const Http::Request& request, Http::ResponseWriter& response);
  void PostEvent(const Http::Request& request, Http::ResponseWriter& response,
                 absl::string_view encoded_stream);
  void Rpc(const Http::Request& request, Http::ResponseWriter& response, absl::string_view name);

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
  std::optional<std::string> current_origin_;  // when CORS allows it
  // Requests still arriving, by peer (most heads come whole: none kept).
  absl::flat_hash_map<size_t, RequestLine> partial_;
  absl::Time next_sweep_ = absl::InfinitePast();
};

}  // namespace herald::edge
