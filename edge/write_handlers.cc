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
  std::shared_ptr<SocketWriter> writer;
  std::string cors;  // header lines for the answer
};

}  // namespace

void EdgeServer::Handler::Rpc(const Http::Request& request, Http::ResponseWriter& response,
                              absl::string_view name) {
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

void EdgeServer::Handler::PostEvent(const Http::Request& request, Http::ResponseWriter& response,
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

}  // namespace herald::edge
