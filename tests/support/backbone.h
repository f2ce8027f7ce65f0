// Test support: a publisher and a fanout (real binaries) on a fresh topic of
// the test broker, with gRPC clients for both.
//
//   Backbone mesh;
//   ASSERT_TRUE(mesh.Start({.fanout_args = {"--ring_events=64"}}).ok());
//   v1::PublishResponse r = mesh.Publish("orders.eu", "created", "{}").value();
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "herald/broker/config.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"
#include "support/process.h"

namespace herald::testing {

struct BackboneOptions {
  // The brokers to use; empty: the test run's broker (TestBootstrap()).
  std::string bootstrap;
  int32_t partitions = 6;
  broker::PropertyMap topic_configs;
  std::vector<std::string> publisher_args;
  std::vector<std::string> fanout_args;
};

class Backbone final {
 public:
  absl::Status Start(BackboneOptions options = {});

  // Starts (or restarts, on the same port) the fanout and waits until its
  // gRPC health check says SERVING.
  absl::Status StartFanout();
  ChildProcess& fanout() { return *fanout_; }
  // Starts (or restarts, on the same port) a second fanout replica of the
  // same topic: another address for the edge to fail over to.
  absl::Status StartFanoutReplica();
  ChildProcess& replica() { return *replica_; }
  std::string replica_address() const { return "127.0.0.1:" + std::to_string(replica_port_); }
  // Starts (or restarts, on the same port) herald-edge against the fanout and
  // waits until /readyz says ready.
  absl::Status StartEdge(std::vector<std::string> args = {});
  ChildProcess& edge() { return *edge_; }
  int edge_port() const { return edge_port_; }
  // The edge's HTTPS port when it was started with --https_address (a
  // restart keeps it: pass port 0 the first time); -1 otherwise.
  int edge_https_port() const { return edge_https_port_; }
  // GET on the edge; returns the whole response (head and body).
  std::string EdgeGet(const std::string& path);
  // `request` (whole, as sent) to the edge; the whole response.
  std::string EdgeRequest(const std::string& request);
  // POST on the edge; `headers` are whole lines ("Content-Type: ...\r\n").
  // Returns the whole response.
  std::string EdgePost(const std::string& path, const std::string& body,
                       const std::string& headers = "Content-Type: application/json\r\n");
  ChildProcess& publisher() { return *publisher_; }

  absl::StatusOr<v1::PublishResponse> Publish(const std::string& stream, const std::string& type,
                                              const std::string& text);

  // Publishes `per_stream` events to each stream over one PublishStream,
  // interleaved, with payload {"s":"<stream>","n":<n>}; calls
  // `progress(acknowledged)` as results come back. Fails the test on errors.
  void PublishInterleaved(const std::vector<std::string>& streams, int per_stream,
                          const std::function<void(int)>& progress);

  v1::Publisher::Stub& publisher_stub() { return *publisher_stub_; }
  v1::Fanout::Stub& fanout_stub() { return *fanout_stub_; }
  std::string fanout_address() const { return "127.0.0.1:" + std::to_string(fanout_port_); }
  std::string publisher_address() const { return "127.0.0.1:" + std::to_string(publisher_port_); }
  int fanout_metrics_port() const { return fanout_metrics_port_; }
  int publisher_metrics_port() const { return publisher_metrics_port_; }
  const std::string& topic() const { return topic_; }
  const std::string& bootstrap() const { return bootstrap_; }

  // One Prometheus sample of the fanout (e.g. "herald_fanout_replays_total"), or -1.
  double FanoutMetric(const std::string& sample);
  // The same for the edge (e.g. "herald_edge_connections").
  double EdgeMetric(const std::string& sample);
  // The same for the publisher (e.g. "herald_publisher_kafka_reachable").
  double PublisherMetric(const std::string& sample);

 private:
  struct FanoutProcess {
    std::unique_ptr<ChildProcess> process;
    int port = 0;
    int metrics_port = 0;
  };
  // Starts a fanout on `port` (0: any) and waits until it is SERVING.
  absl::StatusOr<FanoutProcess> LaunchFanout(int port);

  BackboneOptions options_;
  std::string bootstrap_;
  std::string topic_;
  std::unique_ptr<ChildProcess> publisher_;
  std::unique_ptr<ChildProcess> fanout_;
  std::unique_ptr<ChildProcess> replica_;
  int replica_port_ = 0;
  std::unique_ptr<ChildProcess> edge_;
  std::vector<std::string> edge_args_;
  // Read by browser threads while the test restarts the edge (on the same port).
  std::atomic<int> edge_port_{0};
  int edge_https_port_ = -1;
  int fanout_port_ = 0;
  int publisher_port_ = 0;
  int fanout_metrics_port_ = 0;
  int publisher_metrics_port_ = 0;
  std::unique_ptr<v1::Publisher::Stub> publisher_stub_;
  std::unique_ptr<v1::Fanout::Stub> fanout_stub_;
};

}  // namespace herald::testing
