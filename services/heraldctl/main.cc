// heraldctl: publish events and follow streams from the command line.
//
//   heraldctl publish --stream=orders.eu --type=order.created --data='{"id":1}'
//   producer | heraldctl publish --stream=dash/cpu --type=sample --rate=100   (JSON lines)
//   heraldctl tail --streams=orders.eu,dash/cpu [--cursor=C | --rewind=N] [--count=N]
//
// tail prints one JSON object per line: events as
//   {"stream":..., "type":..., "partition":..., "offset":..., "cursor":..., "data":...}
// resets as {"reset": {"streams": [...], "reason": ..., "detail": ...}}, and
// reconnects by itself from its last cursor when the fanout goes away.
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/flags.h"
#include "herald/common/json.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher address (publish)");
ABSL_FLAG(std::string, fanout, "127.0.0.1:7002", "herald-fanout address (tail)");
ABSL_FLAG(std::string, stream, "", "publish: the stream");
ABSL_FLAG(std::string, type, "message", "publish: the event type");
ABSL_FLAG(std::string, data, "",
          "publish: the payload (JSON or text); without it, one payload per line of stdin");
ABSL_FLAG(std::string, idempotency_key, "", "publish: idempotency key of a single event");
ABSL_FLAG(double, rate, 0, "publish from stdin: events per second (0: as fast as acknowledged)");
ABSL_FLAG(std::vector<std::string>, streams, {}, "tail: streams to follow, comma-separated");
ABSL_FLAG(std::string, cursor, "", "tail: resume from this cursor");
ABSL_FLAG(int32_t, rewind, 0, "tail: first replay the last N events of each stream");
ABSL_FLAG(int64_t, count, 0, "tail: exit after this many events (0: follow forever)");
ABSL_FLAG(absl::Duration, timeout, absl::InfiniteDuration(), "exit (status 3) after this long");

namespace {

using herald::common::JsonQuote;

int Fail(const std::string& message, int code = 2) {
  std::cerr << "heraldctl: " << message << "\n";
  return code;
}

std::string ResponseJson(const herald::v1::PublishResponse& r) {
  return absl::StrCat("{\"partition\":", r.position().partition(),
                      ",\"offset\":", r.position().offset(), ",\"cursor\":", JsonQuote(r.cursor()),
                      "}");
}

int PublishOne() {
  auto stub = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  herald::v1::PublishRequest request;
  herald::v1::Event* event = request.mutable_event();
  event->set_stream(absl::GetFlag(FLAGS_stream));
  event->set_type(absl::GetFlag(FLAGS_type));
  event->set_text(absl::GetFlag(FLAGS_data));
  event->set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
  herald::v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = stub->Publish(&context, request, &response);
  if (!status.ok()) {
    return Fail(absl::StrCat("publish failed: ", status.error_code(), " ", status.error_message()),
                1);
  }
  std::cout << ResponseJson(response) << std::endl;
  return 0;
}

// Lines from stdin over one PublishStream; a reader thread prints responses.
int PublishLines() {
  auto stub = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->PublishStream(&context);
  int64_t failed = 0;
  std::thread reader([&] {
    herald::v1::PublishStreamResponse response;
    while (stream->Read(&response)) {
      for (const herald::v1::PublishResult& r : response.results()) {
        if (r.has_ok()) {
          std::cout << ResponseJson(r.ok()) << "\n";
        } else {
          ++failed;
          std::cerr << "heraldctl: line " << r.request_id() << ": " << r.error().message() << "\n";
        }
      }
    }
  });
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Time start = absl::Now();
  std::string line;
  uint64_t n = 0;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (rate > 0) {
      const absl::Time due = start + absl::Seconds(static_cast<double>(n) / rate);
      if (absl::Time now = absl::Now(); due > now) absl::SleepFor(due - now);
    }
    herald::v1::PublishRequest request;
    request.set_request_id(++n);
    request.mutable_event()->set_stream(absl::GetFlag(FLAGS_stream));
    request.mutable_event()->set_type(absl::GetFlag(FLAGS_type));
    request.mutable_event()->set_text(line);
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return Fail(absl::StrCat("publish stream: ", status.error_message()), 1);
  return failed == 0 ? 0 : 1;
}

int Tail() {
  const std::vector<std::string> streams = absl::GetFlag(FLAGS_streams);
  if (streams.empty()) return Fail("tail needs --streams=a,b");
  auto stub = herald::v1::Fanout::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_fanout), grpc::InsecureChannelCredentials()));
  std::string cursor = absl::GetFlag(FLAGS_cursor);
  const int64_t count = absl::GetFlag(FLAGS_count);
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_timeout);
  int64_t seen = 0;
  absl::Duration backoff = absl::Milliseconds(100);
  bool first = true;
  while (absl::Now() < deadline) {
    herald::v1::SubscribeRequest request;
    for (const std::string& s : streams) request.add_streams(s);
    request.set_cursor(cursor);
    if (first && cursor.empty()) request.set_rewind(absl::GetFlag(FLAGS_rewind));
    grpc::ClientContext context;
    if (deadline != absl::InfiniteFuture()) context.set_deadline(absl::ToChronoTime(deadline));
    auto reader = stub->Subscribe(&context, request);
    herald::v1::SubscribeResponse response;
    while (reader->Read(&response)) {
      first = false;
      backoff = absl::Milliseconds(100);
      if (response.has_reset()) {
        const auto& r = response.reset();
        std::vector<std::string> names;
        for (const std::string& s : r.streams()) names.push_back(JsonQuote(s));
        std::cout << "{\"reset\":{\"streams\":[" << absl::StrJoin(names, ",")
                  << "],\"reason\":" << JsonQuote(r.reason())
                  << ",\"detail\":" << JsonQuote(r.detail()) << "}}" << std::endl;
      } else if (response.has_cursor()) {
        cursor = response.cursor();
      } else if (response.has_batch()) {
        for (const herald::v1::Event& e : response.batch().events()) {
          std::cout << "{\"stream\":" << JsonQuote(e.stream())
                    << ",\"type\":" << JsonQuote(e.type())
                    << ",\"partition\":" << e.position().partition()
                    << ",\"offset\":" << e.position().offset() << ",\"data\":"
                    << (e.has_proto() ? JsonQuote(e.proto().type_url()) : JsonQuote(e.text()))
                    << "}\n";
          ++seen;
        }
        cursor = response.batch().cursor();
        std::cout << "{\"cursor\":" << JsonQuote(cursor) << "}" << std::endl;
        if (count > 0 && seen >= count) {
          context.TryCancel();
          return 0;
        }
      }
    }
    grpc::Status status = reader->Finish();
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return Fail(status.error_message());
    }
    std::cerr << "heraldctl: subscription ended (" << status.error_message() << "); resuming from "
              << (cursor.empty() ? "live" : cursor) << "\n";
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = herald::common::ParseFlags(
      argc, argv,
      "heraldctl publish|tail [flags]: publish events to herald-publisher, or follow streams "
      "through herald-fanout. Every flag can also be set as HERALD_<FLAG>.");
  if (args.size() != 2) return Fail("give one command: publish or tail (see --help)");
  const std::string command = args[1];
  if (command == "publish") {
    if (absl::GetFlag(FLAGS_stream).empty()) return Fail("publish needs --stream");
    return absl::GetFlag(FLAGS_data).empty() ? PublishLines() : PublishOne();
  }
  if (command == "tail") return Tail();
  return Fail(absl::StrCat("unknown command '", command, "': use publish or tail"));
}
