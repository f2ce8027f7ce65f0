// The edge's requests and answers, whatever carries them: HTTP/1.1 through
// Pistache (http_intake.cc) or HTTP/2 through nghttp2 (h2_connection.h).
// The endpoints (api_router.cc, http_access.cc, events_handler.cc,
// write_handlers.cc) see only these types, so every endpoint behaves the same
// over both, with the same auth, CORS, limits and errors.
//
//   ApiRequest request = ...;            // built by the transport
//   router.Route(request, exchange);     // exchange: the transport's ApiExchange
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::edge {

class Connection;
class SseWriter;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One request, whole (its body read).
struct ApiRequest {
  enum class Method { kGet, kHead, kPost, kOptions, kOther };
  Method method = Method::kGet;
  std::string path;    // without the query
  std::string query;   // raw, after '?' (repeated keys kept)
  HeaderList headers;  // names in lower case
  std::vector<std::pair<std::string, std::string>> cookies;
  std::string body;
  std::string client_ip;

  static Method MethodOf(absl::string_view name);
  // The first header named `lower_name`, if any.
  const std::string* Header(absl::string_view lower_name) const;
  const std::string* Cookie(absl::string_view name) const;
  // Whether Content-Type is application/json (parameters ignored).
  bool IsJson() const;
};

// A whole answer. Content-Length (HTTP/1.1) or the end of the stream
// (HTTP/2) is the transport's.
struct ApiAnswer {
  int status = 200;
  std::string content_type;  // empty: none
  HeaderList headers;        // the others
  std::string body;
};

// How one request is answered: now, later from another thread, or with an
// event stream. Exactly one of them, once.
class ApiExchange {
 public:
  virtual ~ApiExchange() = default;
  // The answer, now (on the thread that routes the request).
  virtual void Answer(ApiAnswer answer) = 0;
  // Takes the answer over: the returned function writes it, once, from any
  // thread. Dropped if the client went meanwhile.
  virtual std::function<void(ApiAnswer)> AnswerLater() = 0;

  // An event stream, claimed in the connection table.
  struct Stream {
    std::unique_ptr<SseWriter> writer;  // the events, framed by the transport
    int loop = 0;                       // the event loop the stream lives on
  };
  // Claims the request for a Server-Sent Events stream whose head carries
  // `headers` (besides the status and the SSE ones). ResourceExhausted at a
  // connection limit: nothing is claimed, the caller answers 503.
  virtual absl::StatusOr<Stream> OpenStream(const HeaderList& headers) = 0;
  // The hub took the stream: its end (the client going) removes it.
  virtual void Started(std::shared_ptr<Connection> connection) = 0;
};

}  // namespace herald::edge
