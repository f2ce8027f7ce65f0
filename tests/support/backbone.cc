#include "support/backbone.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "herald/broker/admin.h"
#include "support/kafka_env.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald::testing {
namespace {

// A tiny HTTP/1.1 client over loopback: sends `request` whole, returns the
// whole response (head and body).
std::string HttpExchange(int port, const std::string& request);

std::string HttpGet(int port, const std::string& path) {
  return HttpExchange(
      port, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
}

std::string HttpExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    (void)!write(fd, request.data(), request.size());
    char buffer[8192];
    ssize_t n;
    // Read the headers, then Content-Length bytes: the server may keep the
    // connection open.
    size_t want = std::string::npos;
    while ((want == std::string::npos || out.size() < want) &&
           (n = read(fd, buffer, sizeof(buffer))) > 0) {
      out.append(buffer, n);
      const size_t end = out.find("\r\n\r\n");
      const size_t length = out.find("Content-Length: ");
      if (want == std::string::npos && end != std::string::npos && length < end) {
        size_t bytes = 0;
        const size_t eol = out.find("\r\n", length);
        if (absl::SimpleAtoi(out.substr(length + 16, eol - length - 16), &bytes)) {
          want = end + 4 + bytes;
        }
      }
    }
  }
  close(fd);
  return out;
}

}  // namespace

absl::Status Backbone::Start(BackboneOptions options) {
  options_ = std::move(options);
  bootstrap_ = options_.bootstrap.empty() ? TestBootstrap() : options_.bootstrap;
  topic_ = UniqueName("herald-test");
  auto admin = broker::Admin::Create({.bootstrap_servers = bootstrap_});
  if (!admin.ok()) return admin.status();
  if (absl::Status s = (*admin)->EnsureTopic(
          {.name = topic_, .partitions = options_.partitions, .configs = options_.topic_configs},
          absl::Seconds(30));
      !s.ok()) {
    return s;
  }
  std::vector<std::string> args = {"--kafka_bootstrap=" + bootstrap_, "--topic=" + topic_,
                                   "--create_topic=false", "--grpc_address=127.0.0.1:0",
                                   "--metrics_address=127.0.0.1:0"};
  args.insert(args.end(), options_.publisher_args.begin(), options_.publisher_args.end());
  auto publisher = ChildProcess::Start(HeraldBinary("herald-publisher"), args);
  if (!publisher.ok()) return publisher.status();
  publisher_ = std::move(*publisher);
  absl::StatusOr<int> port = publisher_->WaitForPort("grpc_port", absl::Seconds(60));
  if (!port.ok()) return port.status();
  publisher_port_ = *port;
  absl::StatusOr<int> metrics = publisher_->WaitForPort("metrics_port", absl::Seconds(1));
  if (!metrics.ok()) return metrics.status();
  publisher_metrics_port_ = *metrics;
  publisher_stub_ = v1::Publisher::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials()));
  return StartFanout();
}

absl::Status Backbone::StartFanout() {
  fanout_.reset();
  absl::StatusOr<FanoutProcess> f = LaunchFanout(fanout_port_);
  if (!f.ok()) return f.status();
  fanout_ = std::move(f->process);
  fanout_port_ = f->port;
  fanout_metrics_port_ = f->metrics_port;
  fanout_stub_ = v1::Fanout::NewStub(
      grpc::CreateChannel(fanout_address(), grpc::InsecureChannelCredentials()));
  return absl::OkStatus();
}

absl::Status Backbone::StartFanoutReplica() {
  replica_.reset();
  absl::StatusOr<FanoutProcess> f = LaunchFanout(replica_port_);
  if (!f.ok()) return f.status();
  replica_ = std::move(f->process);
  replica_port_ = f->port;
  return absl::OkStatus();
}

absl::StatusOr<Backbone::FanoutProcess> Backbone::LaunchFanout(int port) {
  std::vector<std::string> args = {
      "--kafka_bootstrap=" + bootstrap_, "--topic=" + topic_, "--create_topic=false",
      absl::StrCat("--grpc_address=127.0.0.1:", port), "--metrics_address=127.0.0.1:0"};
  args.insert(args.end(), options_.fanout_args.begin(), options_.fanout_args.end());
  auto process = ChildProcess::Start(HeraldBinary("herald-fanout"), args);
  if (!process.ok()) return process.status();
  FanoutProcess f{.process = std::move(*process)};
  absl::StatusOr<int> bound = f.process->WaitForPort("grpc_port", absl::Seconds(60));
  if (!bound.ok()) return bound.status();
  absl::StatusOr<int> metrics = f.process->WaitForPort("metrics_port", absl::Seconds(1));
  if (!metrics.ok()) return metrics.status();
  f.port = *bound;
  f.metrics_port = *metrics;
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", f.port), grpc::InsecureChannelCredentials()));
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return f;
    }
    if (!f.process->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("fanout never SERVING:\n", f.process->LogTail()));
}

absl::Status Backbone::StartEdge(std::vector<std::string> args) {
  if (!args.empty()) edge_args_ = std::move(args);
  std::vector<std::string> all = {
      "--fanout=" + fanout_address(), absl::StrCat("--publisher=127.0.0.1:", publisher_port_),
      absl::StrCat("--http_address=127.0.0.1:", edge_port_.load()), "--heartbeat=1s", "--drain=1s"};
  bool https = false;
  for (const std::string& arg : edge_args_) {
    if (absl::StartsWith(arg, "--https_address=")) {
      https = true;
      // A restart listens where the last edge did.
      all.push_back(edge_https_port_ > 0
                        ? absl::StrCat(arg.substr(0, arg.rfind(':') + 1), edge_https_port_)
                        : arg);
    } else {
      all.push_back(arg);
    }
  }
  edge_.reset();
  auto edge = ChildProcess::Start(HeraldBinary("herald-edge"), all);
  if (!edge.ok()) return edge.status();
  edge_ = std::move(*edge);
  absl::StatusOr<int> port = edge_->WaitForPort("http_port", absl::Seconds(60));
  if (!port.ok()) return port.status();
  edge_port_ = *port;
  if (https) {
    absl::StatusOr<int> https_port = edge_->WaitForPort("https_port", absl::Seconds(10));
    if (!https_port.ok()) return https_port.status();
    edge_https_port_ = *https_port;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (HttpGet(edge_port_, "/readyz").find(" 200 ") != std::string::npos) return absl::OkStatus();
    if (!edge_->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("edge never ready:\n", edge_->LogTail()));
}

std::string Backbone::EdgeGet(const std::string& path) { return HttpGet(edge_port_, path); }

std::string Backbone::EdgeRequest(const std::string& request) {
  return HttpExchange(edge_port_, request);
}

std::string Backbone::EdgePost(const std::string& path, const std::string& body,
                               const std::string& headers) {
  return HttpExchange(edge_port_, absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\n", headers,
                                               "Content-Length: ", body.size(), "\r\n\r\n", body));
}

absl::StatusOr<v1::PublishResponse> Backbone::Publish(const std::string& stream,
                                                      const std::string& type,
                                                      const std::string& text) {
  v1::PublishRequest request;
  request.mutable_event()->set_stream(stream);
  request.mutable_event()->set_type(type);
  request.mutable_event()->set_text(text);
  v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = publisher_stub_->Publish(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return response;
}

void Backbone::PublishInterleaved(const std::vector<std::string>& streams, int per_stream,
                                  const std::function<void(int)>& progress) {
  grpc::ClientContext context;
  auto stream = publisher_stub_->PublishStream(&context);
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::thread reader([&] {
    v1::PublishStreamResponse response;
    while (stream->Read(&response)) {
      for (const v1::PublishResult& r : response.results()) {
        if (r.has_ok()) {
          progress(++acked);
        } else {
          ++failed;
          ADD_FAILURE() << r.error().message();
        }
      }
    }
  });
  uint64_t id = 0;
  for (int n = 0; n < per_stream; ++n) {
    for (const std::string& s : streams) {
      v1::PublishRequest request;
      request.set_request_id(++id);
      request.mutable_event()->set_stream(s);
      request.mutable_event()->set_type("tick");
      request.mutable_event()->set_text(TestPayload(s, n));
      if (!stream->Write(request)) break;
    }
  }
  stream->WritesDone();
  reader.join();
  HERALD_EXPECT_OK(stream->Finish());
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(acked.load(), per_stream * static_cast<int>(streams.size()));
}

namespace {

double MetricIn(const std::string& text, const std::string& sample) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() > sample.size() && line.substr(0, sample.size()) == sample &&
        line[sample.size()] == ' ') {
      double v;
      if (absl::SimpleAtod(line.substr(sample.size() + 1), &v)) return v;
    }
  }
  return -1;
}

}  // namespace

double Backbone::FanoutMetric(const std::string& sample) {
  return MetricIn(HttpGet(fanout_metrics_port_, "/metrics"), sample);
}

double Backbone::EdgeMetric(const std::string& sample) {
  return MetricIn(HttpGet(edge_port_, "/metrics"), sample);
}

double Backbone::PublisherMetric(const std::string& sample) {
  return MetricIn(HttpGet(publisher_metrics_port_, "/metrics"), sample);
}

}  // namespace herald::testing
