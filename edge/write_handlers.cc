// Writes from browsers: POST /v1/streams/{stream}/events to the publisher,
// POST /v1/rpc/{service}/{method} to a routed service, answered from gRPC's
// callback threads.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"
#include "http_handler.h"

namespace herald::edge {
namespace {

// Whether `value` may travel as gRPC metadata (printable ASCII, bounded).
bool IsMetadataValue(absl::string_view value) {
  if (value.empty() || value.size() > 512) return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// One Publisher.Publish for a POSTed event, alive until its callback.
struct PublishCall {
  grpc::ClientContext context;
  v1::PublishRequest request;
  v1::PublishResponse response;
  std::function<void(ApiAnswer)> answer;
};

}  // namespace

void EdgeServer::Router::Rpc(Call& call, absl::string_view name) const {
  EdgeServer& s = *server_;
  const ApiRequest& request = call.request;
  if (request.method != ApiRequest::Method::kPost) {
    ReplyJson(call, 405, "method_not_allowed", "POST the request message as JSON here");
    return;
  }
  if (s.options_.rpc == nullptr) {
    ReplyJson(call, 404, "not_found", "no services are routed through this edge (--rpc_routes)");
    return;
  }
  absl::StatusOr<const RpcMethod*> found = s.options_.rpc->Find(name);
  if (!found.ok()) {
    const auto code = static_cast<grpc::StatusCode>(found.status().code());
    ReplyJson(call, common::HttpStatusForGrpc(code), common::GrpcCodeName(code),
              found.status().message());
    return;
  }
  const RpcMethod& method = **found;
  std::optional<Principal> who;
  if (!Authenticate(call, &who)) return;
  if (s.options_.auth != nullptr &&
      !Permit(call, s.options_.auth->MayCall(Who(who), method.name))) {
    return;
  }
  if (!IsJson(call, "the request message")) return;
  absl::StatusOr<std::string> bytes = s.options_.rpc->EncodeRequest(method, request.body);
  if (!bytes.ok()) {
    BadRequest(call, bytes.status().message());
    return;
  }
  RpcCallOptions options;
  absl::Duration timeout = method.timeout;
  if (const std::string* header = request.Header("grpc-timeout"); header != nullptr) {
    absl::StatusOr<absl::Duration> asked = ParseGrpcTimeout(*header);
    if (!asked.ok()) {
      BadRequest(call, asked.status().message());
      return;
    }
    timeout = std::min(timeout, *asked);
  }
  options.deadline = absl::Now() + timeout;
  for (const char* forwarded : {"Idempotency-Key", "traceparent", "tracestate"}) {
    const std::string lower = absl::AsciiStrToLower(forwarded);
    const std::string* header = request.Header(lower);
    if (header == nullptr) continue;
    if (!IsMetadataValue(*header)) {
      BadRequest(call, absl::StrCat(forwarded, ": 1 to 512 printable ASCII characters"));
      return;
    }
    options.metadata.emplace_back(lower, *header);
  }
  if (who.has_value()) {
    if (!IsMetadataValue(who->subject)) {
      BadRequest(call, "the token's subject cannot be forwarded (printable ASCII only)");
      return;
    }
    options.metadata.emplace_back("herald-subject", who->subject);
  }
  if (!MayWriteNow(call, who)) return;
  s.options_.rpc->Call(
      method, std::move(*bytes), options,
      [&s, answer = AnswerLater(call)](grpc::Status status, std::string json) {
        if (status.ok()) {
          s.rpc_calls_.Increment();
          json.push_back('\n');
          answer({.status = 200, .content_type = "application/json", .body = std::move(json)});
        } else {
          s.rpc_failures_.Increment();
          answer(GrpcErrorAnswer(status));
        }
      });
}

void EdgeServer::Router::PostEvent(Call& call, absl::string_view encoded_stream) const {
  EdgeServer& s = *server_;
  const ApiRequest& request = call.request;
  std::optional<Principal> who;
  if (!Authenticate(call, &who)) return;
  if (!IsJson(call, "the event")) return;
  absl::StatusOr<PostEventRequest> parsed = ParsePostEvent(encoded_stream, request.body);
  if (!parsed.ok()) {
    BadRequest(call, parsed.status().message());
    return;
  }
  if (s.options_.auth != nullptr &&
      !Permit(call, s.options_.auth->MayPublish(Who(who), parsed->stream))) {
    return;
  }
  if (!MayWriteNow(call, who)) return;
  auto* publish = new PublishCall();
  v1::Event* event = publish->request.mutable_event();
  event->set_stream(parsed->stream);
  event->set_type(parsed->type);
  event->set_text(parsed->data);
  if (const std::string* key = request.Header("idempotency-key"); key != nullptr) {
    event->set_idempotency_key(*key);
  }
  if (const std::string* trace = request.Header("traceparent"); trace != nullptr) {
    (*event->mutable_headers())["traceparent"] = *trace;
  }
  if (who.has_value()) (*event->mutable_headers())["herald-subject"] = who->subject;
  publish->context.set_deadline(absl::ToChronoTime(absl::Now() + s.options_.publish_timeout));
  // The answer comes on a gRPC thread.
  publish->answer = AnswerLater(call);
  s.publisher_->async()->Publish(
      &publish->context, &publish->request, &publish->response, [&s, publish](grpc::Status status) {
        if (status.ok()) {
          s.posted_.Increment();
          const v1::Position& at = publish->response.position();
          publish->answer(
              {.status = 201,
               .content_type = "application/json",
               .body = absl::StrCat(
                   "{\"id\":", common::JsonQuote(publish->response.cursor()),
                   ",\"stream\":", common::JsonQuote(publish->request.event().stream()),
                   ",\"partition\":", at.partition(), ",\"offset\":", at.offset(), "}\n")});
        } else {
          s.post_failures_.Increment();
          publish->answer(GrpcErrorAnswer(status));
        }
        delete publish;
      });
}

}  // namespace herald::edge
