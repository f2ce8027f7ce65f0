// heraldctl: publish events and follow streams from the command line.
//
//   heraldctl publish --stream=orders.eu --type=order.created --data='{"id":1}'
//   producer | heraldctl publish --stream=dash/cpu --type=sample --rate=100   (JSON lines)
//   heraldctl tail --streams=orders.eu,dash/cpu [--cursor=C | --rewind=N] [--count=N]
//   heraldctl check --edge=http://herald-edge:80 [--token_file=F]   (the chart's helm test)
//
// check asks the edge's /readyz, opens an event stream on a stream of its own
// (herald.check.<random>), publishes one event to it and waits for it there:
// the whole path, publisher -> Kafka -> fanout -> edge -> SSE. Exit 0 when it
// arrived, 1 with what failed otherwise.
//
// tail prints one JSON object per line: events as
//   {"stream":..., "type":..., "partition":..., "offset":..., "cursor":..., "data":...}
// resets as {"reset": {"streams": [...], "reason": ..., "detail": ...}}, and
// reconnects by itself from its last cursor when the fanout goes away.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/flags.h"
#include "herald/common/http_client.h"
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
ABSL_FLAG(absl::Duration, timeout, absl::InfiniteDuration(),
          "exit (status 3) after this long (check: 60s when not given)");
ABSL_FLAG(std::string, edge, "http://127.0.0.1:8080", "check: the edge's plain HTTP address");
ABSL_FLAG(bool, round_trip, true,
          "check: after /readyz, publish an event and wait for it over SSE (false: /readyz only)");
ABSL_FLAG(std::string, token_file, "",
          "check: a file holding a JWT for the edge (when it requires one); sent as Bearer");

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

// /readyz, then one event published and received over SSE.
int Check() {
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout) == absl::InfiniteDuration()
                                     ? absl::Seconds(60)
                                     : absl::GetFlag(FLAGS_timeout);
  const absl::Time deadline = absl::Now() + timeout;
  std::string edge = absl::GetFlag(FLAGS_edge);
  while (absl::EndsWith(edge, "/")) edge.pop_back();

  // Ready: the edge is attached to a fanout and not draining. It may still be
  // starting: ask again until the deadline.
  auto ask = [&] {
    return herald::common::HttpGet(edge + "/readyz",
                                   std::min(absl::Seconds(5), deadline - absl::Now()));
  };
  absl::StatusOr<std::string> ready = ask();
  while (!ready.ok() && absl::Now() + absl::Seconds(1) < deadline) {
    absl::SleepFor(absl::Seconds(1));
    ready = ask();
  }
  if (!ready.ok()) return Fail(absl::StrCat("edge not ready: ", ready.status().message()), 1);
  std::cout << "edge ready: " << edge << "/readyz" << std::endl;
  if (!absl::GetFlag(FLAGS_round_trip)) return 0;

  herald::common::HttpHeaders headers = {{"Accept", "text/event-stream"}};
  if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
    std::ifstream in(file);
    if (!in.is_open()) return Fail(absl::StrCat("cannot open --token_file ", file), 1);
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    token = std::string(absl::StripAsciiWhitespace(token));
    if (token.empty()) return Fail(absl::StrCat("--token_file ", file, " holds no token"), 1);
    headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
  }
  std::random_device random;
  const std::string stream = absl::StrFormat("herald.check.%08x%08x", random(), random());
  const std::string nonce = absl::StrFormat("%08x%08x", random(), random());
  auto events = herald::common::HttpStream::Open(absl::StrCat(edge, "/v1/events?stream=", stream),
                                                 headers, deadline);
  if (!events.ok()) return Fail(absl::StrCat("event stream: ", events.status().message()), 1);
  std::cout << "event stream open: " << stream << std::endl;

  auto stub = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  herald::v1::PublishRequest request;
  request.mutable_event()->set_stream(stream);
  request.mutable_event()->set_type("check");
  request.mutable_event()->set_text(absl::StrCat("{\"nonce\":\"", nonce, "\"}"));
  herald::v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  const absl::Time published = absl::Now();
  if (grpc::Status s = stub->Publish(&context, request, &response); !s.ok()) {
    return Fail(absl::StrCat("publish to ", absl::GetFlag(FLAGS_publisher),
                             " failed: ", s.error_code(), " ", s.error_message()),
                1);
  }
  std::cout << "published: " << ResponseJson(response) << std::endl;

  std::string received;
  while (!absl::StrContains(received, nonce)) {
    if (absl::Now() >= deadline) {
      return Fail(
          absl::StrCat("the event did not arrive over SSE within ", absl::FormatDuration(timeout)),
          1);
    }
    absl::StatusOr<std::string> more = (*events)->Read(deadline);
    if (!more.ok()) return Fail(absl::StrCat("event stream: ", more.status().message()), 1);
    received += *more;
    // Keep what could hold the nonce, not the whole stream (heartbeats).
    if (received.size() > (64 << 10)) received.erase(0, received.size() - 1024);
  }
  std::cout << "received over SSE in "
            << absl::FormatDuration(absl::Trunc(absl::Now() - published, absl::Milliseconds(1)))
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = herald::common::ParseFlags(
      argc, argv,
      "heraldctl publish|tail|check [flags]: publish events to herald-publisher, follow "
      "streams through herald-fanout, or check the whole path to an edge's event stream. "
      "Every flag can also be set as HERALD_<FLAG>.");
  if (args.size() != 2) return Fail("give one command: publish, tail or check (see --help)");
  const std::string command = args[1];
  if (command == "publish") {
    if (absl::GetFlag(FLAGS_stream).empty()) return Fail("publish needs --stream");
    return absl::GetFlag(FLAGS_data).empty() ? PublishLines() : PublishOne();
  }
  if (command == "tail") return Tail();
  if (command == "check") return Check();
  return Fail(absl::StrCat("unknown command '", command, "': use publish, tail or check"));
}
