// GET /v1/events: a Server-Sent Events stream, claimed from its transport
// and handed to the hub.
#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"
#include "http_handler.h"

namespace herald::edge {

void EdgeServer::Router::Events(Call& call) const {
  EdgeServer& s = *server_;
  auto retry_later = [&](absl::string_view why, int seconds) {
    s.refused_.Increment();
    ApiAnswer answer = JsonAnswer(503, "unavailable", why);
    answer.headers.emplace_back("Retry-After", absl::StrCat(seconds));
    Reply(call, std::move(answer));
  };
  if (s.draining_.load()) return retry_later("this edge is shutting down; reconnect", 1);
  if (!s.hub_.Serving()) return retry_later("not connected to a fanout yet", 2);
  std::optional<absl::string_view> last_event_id;
  if (const std::string* header = call.request.Header("last-event-id"); header != nullptr) {
    last_event_id = *header;
  }
  absl::StatusOr<EventsRequest> parsed =
      ParseEventsRequest(call.request.query, last_event_id, s.options_.request);
  if (!parsed.ok()) {
    BadRequest(call, parsed.status().message());
    return;
  }
  std::optional<Principal> who;
  if (!Authenticate(call, &who)) return;
  if (s.options_.auth != nullptr &&
      !Permit(call, s.options_.auth->MaySubscribe(Who(who), parsed->streams))) {
    return;
  }
  absl::StatusOr<ApiExchange::Stream> stream = call.exchange.OpenStream(CorsHeaders(call.origin));
  if (!stream.ok()) return retry_later(stream.status().message(), 5);  // nothing was claimed
  absl::StatusOr<std::shared_ptr<Connection>> connection =
      s.hub_.Add(*parsed, std::move(stream->writer), stream->loop);
  if (!connection.ok()) return;  // the hub ended the stream
  s.accepted_.Increment();
  call.exchange.Started(*connection);
  // Opened with a token: it lives no longer than the token.
  if (who.has_value()) s.expiry_->Add(who->valid_until, *connection);
}

}  // namespace herald::edge
