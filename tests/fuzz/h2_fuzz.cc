// libFuzzer: the edge's HTTP/2 server session (H2Session) on whatever a
// client sends after the connection preface: frames, HPACK header blocks,
// flow control, resets. Every complete request is answered the way the edge
// answers (an event stream started, written and ended, or a whole answer),
// and the frames produced are drained in small reads between inputs, as a
// slow socket would. Properties: no crash, no sanitizer report, and the
// session's buffers stay within its bounds (a stream's queue never holds
// more than its bound plus one write).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "h2_session.h"

namespace {

using herald::edge::ApiAnswer;
using herald::edge::ApiRequest;
using herald::edge::H2Session;

constexpr size_t kBound = 4096;
constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Answering final : public H2Session::Delegate {
 public:
  void OnRequest(int32_t stream, ApiRequest request) override {
    if (request.path == "/v1/events") {
      started.push_back(stream);
    } else {
      answers.push_back({stream, ApiAnswer{.status = request.body.size() > 10 ? 201 : 200,
                                           .content_type = "application/json",
                                           .headers = {{"X-Echo", request.path}},
                                           .body = request.body}});
    }
  }
  void OnClosed(int32_t) override {}
  void OnRefused(int32_t, absl::string_view) override {}

  std::vector<int32_t> started;
  std::vector<std::pair<int32_t, ApiAnswer>> answers;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  Answering delegate;
  H2Session session({.max_concurrent_streams = 8,
                     .max_header_bytes = 2048,
                     .max_body_bytes = 1024,
                     .max_queued_bytes = kBound,
                     .reset_burst = 50,
                     .reset_rate = 10},
                    delegate, "127.0.0.1");
  std::string out;
  (void)session.Receive(absl::string_view(kPreface, sizeof(kPreface) - 1));
  // The input in pieces, as reads from a socket come; its first byte picks
  // the piece size.
  const size_t piece = size > 0 ? 1 + bytes[0] % 97 : 1;
  for (size_t at = size > 0 ? 1 : 0; at < size; at += piece) {
    const size_t n = std::min(piece, size - at);
    if (!session.Receive(absl::string_view(reinterpret_cast<const char*>(bytes + at), n)).ok()) {
      break;
    }
    for (auto& [stream, answer] : delegate.answers) session.Respond(stream, answer);
    delegate.answers.clear();
    for (int32_t stream : delegate.started) {
      session.Start(stream, {{"content-type", "text/event-stream"}});
      for (int i = 0; i < 3; ++i) {
        session.Append(stream, "id: 1\ndata: {\"n\":1}\n\n");
        if (session.Queued(stream) > kBound + 64) std::abort();  // the bound holds
      }
      if (n % 2 == 0) session.End(stream);
    }
    delegate.started.clear();
    out.clear();
    (void)session.Produce(out, 512);  // a socket that takes little at a time
  }
  out.clear();
  (void)session.Produce(out, 1 << 20);
  return 0;
}
