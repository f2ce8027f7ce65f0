// GET /v1/events: a Server-Sent Events stream, claimed from Pistache and
// handed to the hub.
#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"
#include "http_handler.h"

namespace herald::edge {
namespace {

constexpr char kSseHead[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache, no-transform\r\n"
    "Connection: keep-alive\r\n"
    "X-Accel-Buffering: no\r\n"
    "Transfer-Encoding: chunked\r\n";

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

void EdgeServer::Handler::Events(const Http::Request& request, Http::ResponseWriter& response) {
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
  // Pistache keeps a write queue per connection until a write of its own
  // empties it (656 bytes per idle stream): a write of nothing does, and
  // sends nothing.
  peer->send(Pistache::RawBuffer(std::string(), 0));
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

}  // namespace herald::edge
