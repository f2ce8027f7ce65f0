#include "rpc.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"

namespace herald::edge {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";
constexpr absl::Duration kMaxTimeout = absl::Minutes(5);

bool IsFullName(absl::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') return false;
  }
  return name.find("..") == absl::string_view::npos;
}

// Protobuf's JSON errors may add lines pointing at the input; the first says it.
std::string FirstLine(const std::string& text) {
  return std::string(absl::StripAsciiWhitespace(text.substr(0, text.find('\n'))));
}

// One call in flight: alive until its callback.
struct GenericCall {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

}  // namespace

absl::StatusOr<RpcRoute> ParseRpcRoute(absl::string_view spec, absl::Duration default_timeout) {
  std::pair<absl::string_view, absl::string_view> kv =
      absl::StrSplit(spec, absl::MaxSplits('=', 1));
  RpcRoute route;
  route.service = std::string(absl::StripAsciiWhitespace(kv.first));
  if (!IsFullName(route.service)) {
    return absl::InvalidArgumentError(absl::StrCat("route '", spec, "': '", route.service,
                                                   "' is not a service name like package.Service"));
  }
  // (A null string_view splits into no parts at all.)
  std::vector<absl::string_view> parts = absl::StrSplit(kv.second, ';');
  if (!parts.empty()) route.address = std::string(absl::StripAsciiWhitespace(parts[0]));
  if (route.address.empty() || route.address.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("route '", spec, "': expected package.Service=host:port[;timeout=5s]"));
  }
  route.timeout = default_timeout;
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view option = absl::StripAsciiWhitespace(parts[i]);
    if (!absl::ConsumePrefix(&option, "timeout=") || !absl::ParseDuration(option, &route.timeout) ||
        route.timeout <= absl::ZeroDuration() || route.timeout > kMaxTimeout) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route '", spec, "': the only option is timeout=<duration>, e.g. timeout=2s (at most ",
          absl::FormatDuration(kMaxTimeout), ")"));
    }
  }
  return route;
}

absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  int64_t amount = 0;
  // gRPC's wire format: at most 8 digits and a unit.
  if (value.size() < 2 || value.size() > 9 ||
      !absl::SimpleAtoi(value.substr(0, value.size() - 1), &amount) || amount <= 0 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(value.front()))) {
    return absl::InvalidArgumentError(
        "Grpc-Timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n), e.g. 500m");
  }
  switch (value.back()) {
    case 'H':
      return absl::Hours(amount);
    case 'M':
      return absl::Minutes(amount);
    case 'S':
      return absl::Seconds(amount);
    case 'm':
      return absl::Milliseconds(amount);
    case 'u':
      return absl::Microseconds(amount);
    case 'n':
      return absl::Nanoseconds(amount);
    default:
      return absl::InvalidArgumentError(
          "Grpc-Timeout must end in a unit: H, M, S, m (ms), u (us) or n (ns)");
  }
}

absl::StatusOr<std::unique_ptr<RpcGateway>> RpcGateway::Create(
    const google::protobuf::DescriptorPool* pool, const std::vector<RpcRoute>& routes) {
  std::unique_ptr<RpcGateway> gateway(new RpcGateway());
  gateway->pool_ = pool;
  gateway->factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(pool);
  gateway->resolver_.reset(
      google::protobuf::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, pool));
  std::map<std::string, std::shared_ptr<grpc::GenericStub>> stubs;
  for (const RpcRoute& route : routes) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(route.service);
    if (service == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route for ", route.service,
          ": no such service in the descriptor set (is its .proto in --descriptor_set?)"));
    }
    if (!gateway->routes_.emplace(route.service, route.address).second) {
      return absl::InvalidArgumentError(absl::StrCat(route.service, " is routed twice"));
    }
    std::shared_ptr<grpc::GenericStub>& stub = stubs[route.address];
    if (stub == nullptr) {
      stub = std::make_shared<grpc::GenericStub>(
          grpc::CreateChannel(route.address, grpc::InsecureChannelCredentials()));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = service->method(i);
      RpcMethod method;
      method.descriptor = m;
      method.name = absl::StrCat(service->full_name(), "/", m->name());
      method.path = absl::StrCat("/", method.name);
      method.input_type_url = absl::StrCat(kTypeUrlPrefix, "/", m->input_type()->full_name());
      method.output_type_url = absl::StrCat(kTypeUrlPrefix, "/", m->output_type()->full_name());
      method.timeout = route.timeout;
      method.stub = stub;
      gateway->methods_.emplace(method.name, std::move(method));
    }
  }
  return gateway;
}

absl::StatusOr<const RpcMethod*> RpcGateway::Find(absl::string_view name) const {
  auto it = methods_.find(name);
  if (it == methods_.end()) {
    const size_t slash = name.find('/');
    const absl::string_view service = name.substr(0, slash);
    if (slash == absl::string_view::npos || routes_.find(std::string(service)) == routes_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "no service ", service, " is served here; call /v1/rpc/package.Service/Method"));
    }
    return absl::NotFoundError(absl::StrCat(service, " has no method ", name.substr(slash + 1)));
  }
  const RpcMethod& method = it->second;
  if (method.descriptor->client_streaming() || method.descriptor->server_streaming()) {
    return absl::UnimplementedError(
        absl::StrCat(method.name, " is a streaming method; /v1/rpc calls unary methods only"));
  }
  return &method;
}

absl::StatusOr<std::string> RpcGateway::EncodeRequest(const RpcMethod& method,
                                                      absl::string_view json) const {
  if (absl::StripAsciiWhitespace(json).empty()) json = "{}";
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  std::string bytes;
  const auto status = google::protobuf::util::JsonToBinaryString(
      resolver_.get(), method.input_type_url, std::string(json), &bytes, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the body is not a valid ",
                                                   method.descriptor->input_type()->full_name(),
                                                   ": ", FirstLine(status.message().as_string())));
  }
  return bytes;
}

absl::StatusOr<std::string> RpcGateway::DecodeResponse(const RpcMethod& method,
                                                       absl::string_view bytes) const {
  const google::protobuf::Descriptor* type = method.descriptor->output_type();
  // Parsed strictly first (the converter alone accepts truncated input), then
  // converted from the same bytes.
  std::unique_ptr<google::protobuf::Message> message(factory_->GetPrototype(type)->New());
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(
        absl::StrCat("the service's answer does not parse as ", type->full_name()));
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::BinaryToJsonString(
      resolver_.get(), method.output_type_url, std::string(bytes), &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("the service's answer has no JSON form: ",
                                            FirstLine(status.message().as_string())));
  }
  return json;
}

void RpcGateway::Call(const RpcMethod& method, std::string request, const RpcCallOptions& options,
                      std::function<void(grpc::Status, std::string)> done) const {
  auto* call = new GenericCall();
  call->context.set_deadline(absl::ToChronoTime(options.deadline));
  for (const auto& [key, value] : options.metadata) call->context.AddMetadata(key, value);
  grpc::Slice slice(request);
  call->request = grpc::ByteBuffer(&slice, 1);
  method.stub->UnaryCall(
      &call->context, method.path, grpc::StubOptions(), &call->request, &call->response,
      [this, &method, call, done = std::move(done)](grpc::Status status) {
        std::string json;
        if (status.ok()) {
          std::vector<grpc::Slice> slices;
          std::string bytes;
          if (call->response.Dump(&slices).ok()) {
            for (const grpc::Slice& s : slices) {
              bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
            }
          }
          absl::StatusOr<std::string> decoded = DecodeResponse(method, bytes);
          if (decoded.ok()) {
            json = std::move(*decoded);
          } else {
            status =
                grpc::Status(grpc::StatusCode::INTERNAL, std::string(decoded.status().message()));
          }
        }
        delete call;
        done(std::move(status), std::move(json));
      });
}

std::vector<std::string> RpcGateway::services() const {
  std::vector<std::string> out;
  for (const auto& [service, address] : routes_) out.push_back(service);
  return out;
}

}  // namespace herald::edge
