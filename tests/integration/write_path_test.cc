// The browser write path and the edge's security, through real binaries:
// POST /v1/rpc to the demo command service and its event arriving over SSE,
// the gRPC -> HTTP status mapping, and JWT authentication and grants on
// every endpoint.
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "herald/demo/v1/orders.pb.h"
#include "support/backbone.h"
#include "support/kafka_env.h"
#include "support/process.h"
#include "support/sse_client.h"
#include "support/status_assert.h"
#include "support/tokens.h"

namespace herald::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kJson[] = "Content-Type: application/json\r\n";
constexpr char kPlaceOrder[] = "/v1/rpc/herald.demo.v1.Orders/PlaceOrder";

// The status code of a whole HTTP response.
int StatusOf(const std::string& response) {
  const size_t sp = response.find(' ');
  return sp == std::string::npos ? 0 : std::atoi(response.c_str() + sp + 1);
}

std::string BodyOf(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// The demo command service as a child process.
std::unique_ptr<ChildProcess> StartOrders(const Backbone& mesh, const std::string& stream,
                                          int* port) {
  auto orders =
      ChildProcess::Start(HeraldBinary("herald-demo-orders"),
                          {"--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
                           "--publisher=" + mesh.publisher_address(), "--stream=" + stream});
  EXPECT_TRUE(orders.ok()) << orders.status();
  absl::StatusOr<int> grpc_port = (*orders)->WaitForPort("grpc_port", absl::Seconds(60));
  EXPECT_TRUE(grpc_port.ok()) << grpc_port.status();
  *port = grpc_port.value_or(0);
  return std::move(*orders);
}

TEST(RpcTest, AnOrderPostedThroughTheEdgeArrivesOnItsStream) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  int orders_port = 0;
  auto orders = StartOrders(mesh, "orders.e2e", &orders_port);
  ASSERT_TRUE(
      mesh.StartEdge({absl::StrCat("--rpc_routes=herald.demo.v1.Orders=127.0.0.1:", orders_port),
                      std::string("--descriptor_set=") + HERALD_DESCRIPTOR_SET})
          .ok());
  auto sse = SseClient::Connect(mesh.edge_port(), "/v1/events?stream=orders.e2e");
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200);

  const std::string placed = mesh.EdgePost(
      kPlaceOrder,
      R"({"symbol":"ACME","side":"SIDE_BUY","quantity":25,"limitPrice":101.5,"clientOrderId":"e2e-1"})",
      absl::StrCat(kJson,
                   "Idempotency-Key: k-1\r\ntraceparent: "
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"));
  ASSERT_EQ(StatusOf(placed), 200) << placed;
  const std::string body = BodyOf(placed);
  EXPECT_THAT(body, HasSubstr(R"("stream":"orders.e2e")"));
  EXPECT_THAT(body, HasSubstr(R"("symbol":"ACME")"));
  const size_t at = body.find(R"("orderId":")");
  ASSERT_NE(at, std::string::npos) << body;
  const std::string order_id = body.substr(at + 11, body.find('"', at + 11) - at - 11);
  ASSERT_FALSE(order_id.empty());
  EXPECT_THAT(body, Not(HasSubstr(R"("eventId":"")")));

  // The loop closes: POST -> gRPC -> Kafka -> SSE.
  std::optional<SseEvent> event = (*sse)->NextOfType("order.placed", absl::Seconds(20));
  ASSERT_TRUE(event.has_value());
  EXPECT_THAT(event->data, HasSubstr(order_id));
  EXPECT_THAT(event->data, HasSubstr(R"("quantity":"25")"));

  // The same client order again: 409, nothing published twice.
  const std::string again = mesh.EdgePost(
      kPlaceOrder,
      R"({"symbol":"ACME","side":"SIDE_BUY","quantity":25,"limitPrice":101.5,"clientOrderId":"e2e-1"})",
      kJson);
  EXPECT_EQ(StatusOf(again), 409) << again;
  EXPECT_THAT(again, HasSubstr(R"("code":"already_exists")"));

  struct Case {
    std::string path, body, headers;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      // The service's own validation, as INVALID_ARGUMENT.
      {kPlaceOrder, R"({"symbol":"ACME","side":"SIDE_BUY","quantity":0,"limitPrice":1})", kJson,
       400, "quantity"},
      // Transcoding: malformed JSON, a field of the wrong type, an unknown field, a bad enum.
      {kPlaceOrder, R"({"symbol":"ACME",)", kJson, 400, "PlaceOrderRequest"},
      {kPlaceOrder, R"({"symbol":"ACME","quantity":"lots"})", kJson, 400, "quantity"},
      {kPlaceOrder, R"({"symbol":["ACME"]})", kJson, 400, "symbol"},
      {kPlaceOrder, R"({"colour":"red"})", kJson, 400, "colour"},
      {kPlaceOrder, R"({"side":"SIDEWAYS"})", kJson, 400, "side"},
      {kPlaceOrder, "{}", "Content-Type: text/plain\r\n", 415, "application/json"},
      {"/v1/rpc/herald.demo.v1.Orders/CancelOrder", "{}", kJson, 404, "CancelOrder"},
      {"/v1/rpc/shop.v1.Cart/Add", "{}", kJson, 404, "shop.v1.Cart"},
      {"/v1/rpc/herald.v1.Publisher/Publish", "{}", kJson, 404, "herald.v1.Publisher"},
      {"/v1/rpc/", "{}", kJson, 404, "no service"},
      {kPlaceOrder, "{}", absl::StrCat(kJson, "Grpc-Timeout: soon\r\n"), 400, "Grpc-Timeout"},
  };
  for (const Case& c : cases) {
    const std::string answer = mesh.EdgePost(c.path, c.body, c.headers);
    EXPECT_EQ(StatusOf(answer), c.status) << c.path << " " << c.body << "\n" << answer;
    EXPECT_THAT(BodyOf(answer), HasSubstr(c.says)) << c.body;
    EXPECT_THAT(answer, HasSubstr("application/json"));
  }
  EXPECT_EQ(StatusOf(mesh.EdgeGet(kPlaceOrder)), 405);
  EXPECT_GE(mesh.EdgeMetric("herald_edge_rpc_calls_total"), 1);

  // The service down: 503, and the edge keeps serving.
  orders.reset();
  const std::string down = mesh.EdgePost(
      kPlaceOrder, R"({"symbol":"ACME","side":"SIDE_BUY","quantity":1,"limitPrice":1})", kJson);
  EXPECT_EQ(StatusOf(down), 503) << down;
  EXPECT_EQ(StatusOf(mesh.EdgeGet("/healthz")), 200);
}

// A backend that answers PlaceOrder with the status whose number is the
// request's quantity (0: OK), and remembers what it was sent.
class ScriptedBackend final : public grpc::CallbackGenericService {
 public:
  struct Seen {
    std::multimap<std::string, std::string> metadata;
    absl::Duration deadline_in;
  };

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor(ScriptedBackend* backend, grpc::GenericCallbackServerContext* context)
          : backend_(backend), context_(context) {
        StartRead(&request_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
        std::vector<grpc::Slice> slices;
        std::string bytes;
        (void)request_.Dump(&slices);
        for (const grpc::Slice& s : slices) {
          bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
        }
        demo::v1::PlaceOrderRequest request;
        request.ParseFromString(bytes);
        {
          absl::MutexLock lock(&backend_->mu_);
          backend_->seen_.metadata.clear();
          for (const auto& [k, v] : context_->client_metadata()) {
            backend_->seen_.metadata.emplace(std::string(k.data(), k.size()),
                                             std::string(v.data(), v.size()));
          }
          backend_->seen_.deadline_in = absl::FromChrono(context_->deadline()) - absl::Now();
        }
        if (request.quantity() != 0) {
          return Finish(grpc::Status(static_cast<grpc::StatusCode>(request.quantity()),
                                     absl::StrCat("scripted ", request.quantity())));
        }
        demo::v1::PlaceOrderResponse response;
        response.set_stream("scripted");
        response.mutable_order()->set_symbol(request.symbol());
        grpc::Slice slice(response.SerializeAsString());
        response_ = grpc::ByteBuffer(&slice, 1);
        StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      ScriptedBackend* backend_;
      grpc::GenericCallbackServerContext* context_;
      grpc::ByteBuffer request_;
      grpc::ByteBuffer response_;
    };
    return new Reactor(this, context);
  }

  Seen seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  Seen seen_ ABSL_GUARDED_BY(mu_);
};

TEST(RpcTest, EachGrpcCodeMapsToItsHttpStatusAndHeadersTravelAsMetadata) {
  ScriptedBackend backend;
  grpc::ServerBuilder builder;
  int backend_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &backend_port);
  builder.RegisterCallbackGenericService(&backend);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  const std::string kSecret = "integration-secret-integration-secret-0123";
  const std::string secret_file = WriteTempFile("rpc-hs256", kSecret);
  ASSERT_TRUE(mesh.StartEdge({absl::StrCat("--rpc_routes=herald.demo.v1.Orders=127.0.0.1:",
                                           backend_port, ";timeout=3s"),
                              std::string("--descriptor_set=") + HERALD_DESCRIPTOR_SET,
                              "--jwt_hs256_secret_file=" + secret_file,
                              "--public_methods=herald.demo.v1.Orders/PlaceOrder"})
                  .ok());
  const std::map<int, int> expected = {{0, 200},  {1, 499},  {2, 500},  {3, 400},  {4, 504},
                                       {5, 404},  {6, 409},  {7, 403},  {8, 429},  {9, 400},
                                       {10, 409}, {11, 400}, {12, 501}, {13, 500}, {14, 503},
                                       {15, 500}, {16, 401}};
  for (const auto& [code, http] : expected) {
    const std::string answer =
        mesh.EdgePost(kPlaceOrder, absl::StrCat(R"({"symbol":"X","quantity":)", code, "}"), kJson);
    EXPECT_EQ(StatusOf(answer), http) << "gRPC code " << code << "\n" << answer;
    if (code != 0) {
      EXPECT_THAT(BodyOf(answer), HasSubstr(absl::StrCat("scripted ", code)));
    }
  }

  // Idempotency-Key, traceparent and the subject go to the service; the
  // deadline is the route's, shortened by Grpc-Timeout.
  const std::string token = SignToken("HS256", kSecret, Claims("ada", ""));
  const std::string ok =
      mesh.EdgePost(kPlaceOrder, R"({"symbol":"X"})",
                    absl::StrCat(kJson, "Authorization: Bearer ", token,
                                 "\r\nIdempotency-Key: idem-7\r\ntraceparent: 00-abc-def-01\r\n"
                                 "Grpc-Timeout: 800m\r\n"));
  ASSERT_EQ(StatusOf(ok), 200) << ok;
  EXPECT_THAT(BodyOf(ok), HasSubstr(R"("stream":"scripted")"));
  ScriptedBackend::Seen seen = backend.seen();
  auto value = [&](const std::string& key) {
    auto it = seen.metadata.find(key);
    return it == seen.metadata.end() ? std::string("<none>") : it->second;
  };
  EXPECT_EQ(value("idempotency-key"), "idem-7");
  EXPECT_EQ(value("traceparent"), "00-abc-def-01");
  EXPECT_EQ(value("herald-subject"), "ada");
  // (gRPC rounds deadlines on the wire; the bounds allow for it and for a slow machine.)
  EXPECT_LE(seen.deadline_in, absl::Milliseconds(900));
  EXPECT_GT(seen.deadline_in, absl::ZeroDuration());
  ASSERT_EQ(StatusOf(mesh.EdgePost(kPlaceOrder, R"({"symbol":"X"})", kJson)), 200);
  EXPECT_GT(backend.seen().deadline_in, absl::Milliseconds(1500));  // the route's 3 s
  EXPECT_LE(backend.seen().deadline_in, absl::Milliseconds(3500));
  EXPECT_EQ(backend.seen().metadata.count("herald-subject"), 0u);  // no token, no subject
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  std::filesystem::remove(secret_file);
}

class AuthTest : public ::testing::Test {
 protected:
  static constexpr char kSecret[] = "auth-test-secret-auth-test-secret-0123456";

  void SetUp() override {
    rsa_ = NewRsaKey();
    files_ = {WriteTempFile("auth-hs256", kSecret),
              WriteTempFile("auth-rs256.pem", rsa_.public_pem)};
    HERALD_ASSERT_OK(mesh_.Start());
    int orders_port = 0;
    orders_ = StartOrders(mesh_, "auth.orders", &orders_port);
    ASSERT_TRUE(
        mesh_
            .StartEdge({absl::StrCat("--rpc_routes=herald.demo.v1.Orders=127.0.0.1:", orders_port),
                        std::string("--descriptor_set=") + HERALD_DESCRIPTOR_SET,
                        "--jwt_hs256_secret_file=" + files_[0],
                        "--jwt_rs256_public_key_file=" + files_[1], "--public_streams=public.*"})
            .ok());
  }
  void TearDown() override {
    for (const std::string& f : files_) std::filesystem::remove(f);
  }

  // The status of GET /v1/events?`query` with `headers`; an opened stream is closed.
  int Subscribe(const std::string& query, const std::map<std::string, std::string>& headers) {
    auto c = SseClient::Connect(mesh_.edge_port(), "/v1/events?" + query, headers);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return 0;
    if ((*c)->status() != 200) last_body_ = (*c)->ReadBody(absl::Seconds(5));
    if ((*c)->status() == 200) ++answered_200_;
    return (*c)->status();
  }
  static std::map<std::string, std::string> Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  static std::map<std::string, std::string> Cookie(const std::string& token) {
    return {{"Cookie", "theme=dark; herald_token=" + token}};
  }

  Backbone mesh_;
  KeyPair rsa_;
  std::vector<std::string> files_;
  std::unique_ptr<ChildProcess> orders_;
  std::string last_body_;
  int answered_200_ = 0;  // the edge counts a stream just after its head is sent
};

TEST_F(AuthTest, BadTokensAreRefusedWith401) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string grants = R"("subscribe":["a"],"publish":["a"],"rpc":["*"])";
  const std::map<std::string, std::string> bad = {
      {"expired", SignToken("HS256", kSecret,
                            absl::StrCat(R"({"sub":"ada","exp":)", now - 3600, ",", grants, "}"))},
      {"not yet valid", SignToken("HS256", kSecret,
                                  absl::StrCat(R"({"sub":"ada","exp":)", now + 7200, R"(,"nbf":)",
                                               now + 3600, ",", grants, "}"))},
      {"wrong key", SignToken("RS256", NewRsaKey().private_pem, Claims("ada", grants))},
      {"wrong secret",
       SignToken("HS256", "not-the-secret-not-the-secret-not-the-secret", Claims("ada", grants))},
      {"alg none", UnsignedToken(Claims("ada", grants))},
      {"HS256 with the RS256 public key",
       SignToken("HS256", rsa_.public_pem, Claims("ada", grants))},
      {"garbage", "abc.def.ghi"},
  };
  EXPECT_EQ(Subscribe("stream=a", {}), 401) << last_body_;
  for (const auto& [why, token] : bad) {
    EXPECT_EQ(Subscribe("stream=a", Bearer(token)), 401) << why << ": " << last_body_;
    EXPECT_EQ(Subscribe("stream=a", Cookie(token)), 401) << why << ": " << last_body_;
    const std::string post =
        mesh_.EdgePost("/v1/streams/a/events", R"({"type":"t","data":1})",
                       absl::StrCat(kJson, "Authorization: Bearer ", token, "\r\n"));
    EXPECT_EQ(StatusOf(post), 401) << why << "\n" << post;
    EXPECT_THAT(post, HasSubstr("WWW-Authenticate: Bearer"));
    const std::string rpc = mesh_.EdgePost(
        kPlaceOrder, R"({"symbol":"A","side":"SIDE_BUY","quantity":1,"limitPrice":1})",
        absl::StrCat(kJson, "Authorization: Bearer ", token, "\r\n"));
    EXPECT_EQ(StatusOf(rpc), 401) << why << "\n" << rpc;
  }
  // The edge never logs a token.
  const std::string log = mesh_.edge().LogTail(1 << 20);
  for (const auto& [why, token] : bad) {
    EXPECT_THAT(log, Not(HasSubstr(token.substr(token.find('.') + 1)))) << why;
  }
  EXPECT_GE(mesh_.EdgeMetric(R"(herald_edge_auth_failures_total{reason="signature"})"), 3);
  EXPECT_GE(mesh_.EdgeMetric(R"(herald_edge_auth_failures_total{reason="algorithm"})"), 1);
  EXPECT_GE(mesh_.EdgeMetric(R"(herald_edge_auth_failures_total{reason="expired"})"), 1);
}

TEST_F(AuthTest, GrantsAreEnforcedWholeOnEveryEndpoint) {
  // Granted stream a only, by HS256 and by RS256.
  for (const std::string& token :
       {SignToken("HS256", kSecret,
                  Claims("ada", R"("subscribe":["a"],"publish":["a"],"rpc":["x.Y/*"])")),
        SignToken("RS256", rsa_.private_pem,
                  Claims("ada", R"("subscribe":["a"],"publish":["a"],"rpc":["x.Y/*"])"))}) {
    EXPECT_EQ(Subscribe("stream=a", Bearer(token)), 200);
    EXPECT_EQ(Subscribe("stream=a", Cookie(token)), 200);
    EXPECT_EQ(Subscribe("stream=b", Bearer(token)), 403) << last_body_;
    EXPECT_THAT(last_body_, HasSubstr("subscribe to b"));
    // Half allowed is refused whole, and nothing was opened for it.
    ASSERT_TRUE(WaitFor(
        [&] { return mesh_.EdgeMetric("herald_edge_streams_opened_total") == answered_200_; },
        absl::Seconds(10)));
    const double opened = answered_200_;
    EXPECT_EQ(Subscribe("stream=a&stream=b", Bearer(token)), 403) << last_body_;
    EXPECT_EQ(Subscribe("stream=b&stream=a", Cookie(token)), 403) << last_body_;
    EXPECT_EQ(mesh_.EdgeMetric("herald_edge_streams_opened_total"), opened);
    // Public streams need no grant.
    EXPECT_EQ(Subscribe("stream=a&stream=public.x", Bearer(token)), 200);

    const std::string auth = absl::StrCat(kJson, "Authorization: Bearer ", token, "\r\n");
    EXPECT_EQ(StatusOf(mesh_.EdgePost("/v1/streams/a/events", R"({"type":"t","data":1})", auth)),
              201);
    const std::string elsewhere =
        mesh_.EdgePost("/v1/streams/b/events", R"({"type":"t","data":1})", auth);
    EXPECT_EQ(StatusOf(elsewhere), 403) << elsewhere;
    EXPECT_THAT(BodyOf(elsewhere), HasSubstr("publish on b"));
    const std::string call = mesh_.EdgePost(
        kPlaceOrder, R"({"symbol":"A","side":"SIDE_BUY","quantity":1,"limitPrice":1})", auth);
    EXPECT_EQ(StatusOf(call), 403) << call;
    EXPECT_THAT(BodyOf(call), HasSubstr("call herald.demo.v1.Orders/PlaceOrder"));
  }
  // Without a token: public streams only, and never a publish or a call.
  EXPECT_EQ(Subscribe("stream=public.x", {}), 200);
  EXPECT_EQ(Subscribe("stream=public.x&stream=a", {}), 401);
  EXPECT_EQ(
      StatusOf(mesh_.EdgePost("/v1/streams/public.x/events", R"({"type":"t","data":1})", kJson)),
      401);
  // A token granted the method calls it, and the order names its subject.
  const std::string caller =
      SignToken("HS256", kSecret, Claims("grace", R"("rpc":["herald.demo.v1.Orders/*"])"));
  const std::string placed =
      mesh_.EdgePost(kPlaceOrder, R"({"symbol":"A","side":"SIDE_BUY","quantity":1,"limitPrice":1})",
                     absl::StrCat(kJson, "Authorization: Bearer ", caller, "\r\n"));
  EXPECT_EQ(StatusOf(placed), 200) << placed;
  EXPECT_THAT(BodyOf(placed), HasSubstr(R"("placedBy":"grace")"));
}

}  // namespace
}  // namespace herald::testing
