// H2Session: the server side of one HTTP/2 connection (nghttp2), bytes in
// and bytes out, with no socket, TLS or thread of its own. H2Connection
// drives it from its event loop; the fuzz target drives it from memory.
//
//   H2Session session(options, delegate, "10.0.0.7");
//   session.Receive(bytes_read);         // requests reach delegate.OnRequest
//   session.Respond(stream, answer);     // or Start / Append / End for a stream
//   session.Produce(out, 64 * 1024);     // frames to write
//
// What it bounds, whatever the client sends:
//   - concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS; past it nghttp2
//     refuses the stream);
//   - a request's header bytes (name + value + 32 each, as HPACK counts
//     them): a decompression bomb is refused header by header, before it
//     grows, with RST_STREAM;
//   - a request's body (413 from its content-length or as it comes; the
//     rest is dropped), and the bodies buffered on the connection (4 bodies'
//     worth); a request must be complete within 30 s (ResetStalled);
//   - streams the client resets (the CVE-2023-44487 pattern): past a burst
//     and a rate of RST_STREAMs the connection ends with GOAWAY
//     (ENHANCE_YOUR_CALM), counted here and by nghttp2's own limit;
//   - a response's queued bytes: a stream whose reader stops (its flow
//     control window stays shut) is reset once more than `max_queued_bytes`
//     wait and more comes (one large write, a catch-up's batch, is taken
//     whole); the other streams of the connection go on.
//
// Thread-safety: none; one thread at a time.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api.h"

namespace herald::edge {

class H2Session final {
 public:
  struct Options {
    uint32_t max_concurrent_streams = 100;
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 1 << 20;
    // Per stream, queued and not yet taken by flow control.
    size_t max_queued_bytes = 256 * 1024;
    // Streams the client may reset: a burst, then so many per second.
    uint64_t reset_burst = 1000;
    uint64_t reset_rate = 33;
  };
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // A whole request (its body read).
    virtual void OnRequest(int32_t stream, ApiRequest request) = 0;
    // The stream is gone: ended, reset by either side, or the session ends.
    virtual void OnClosed(int32_t stream) = 0;
    // The session answered the request itself ("body": 413), or reset a
    // stream whose reader stopped ("slow") or whose headers were too large
    // ("headers"), or ends the connection for the client's protocol error
    // or flood ("goaway", stream 0).
    virtual void OnRefused(int32_t stream, absl::string_view why) = 0;
  };

  H2Session(Options options, Delegate& delegate, std::string client_ip);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Bytes from the client. An error ends the connection (after Produce has
  // written the GOAWAY nghttp2 queued).
  absl::Status Receive(absl::string_view bytes);
  // Appends frames for the client to `out` while it holds less than `limit`.
  absl::Status Produce(std::string& out, size_t limit);
  // True when the session wants neither to read nor to write (GOAWAY done).
  bool Done() const;
  // Sends GOAWAY with `error_code` (NGHTTP2_NO_ERROR on shutdown).
  void GoAway(uint32_t error_code);

  // A whole answer to `stream`.
  void Respond(int32_t stream, const ApiAnswer& answer);
  // A 200 response whose body comes with Append; `headers` besides :status.
  void Start(int32_t stream, const HeaderList& headers);
  // Body bytes for a started stream; false if it is gone or ending, or was
  // reset now for having more than `max_queued_bytes` waiting.
  bool Append(int32_t stream, absl::string_view bytes);
  // Ends the stream once what is queued has gone.
  void End(int32_t stream);
  // Resets the stream (RST_STREAM CANCEL): its reader is too slow.
  void Reset(int32_t stream);
  // Resets streams stalled for `timeout`: a request not complete yet (its
  // headers or body trickled), or an answer whose reader keeps its window
  // shut (bytes waiting, none taken).
  void ResetStalled(absl::Time now, absl::Duration timeout);
  // Bytes of `stream` not yet taken into frames (0 when it is gone).
  size_t Queued(int32_t stream) const;
  bool Open(int32_t stream) const { return streams_.contains(stream); }
  size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream {
    std::string method;
    std::string path;
    HeaderList headers;
    std::vector<std::pair<std::string, std::string>> cookies;
    std::string body;
    size_t header_bytes = 0;
    bool too_large = false;  // answered 413; the rest of the body is dropped
    bool dispatched = false;
    bool head = false;  // HEAD: the answer has no body
    absl::Time created = absl::Now();
    absl::Time progress = absl::Now();  // when flow control last took bytes
    // The response body: out[out_off..] waits for flow control.
    std::string out;
    size_t out_off = 0;
    bool responding = false;
    bool ending = false;
    bool deferred = false;  // nghttp2 waits for Append
  };
  Stream* Find(int32_t stream);
  void Dispatch(int32_t id, Stream& stream);
  void Submit(int32_t id, Stream& stream, int status, const std::string& content_type,
              const HeaderList& headers, bool has_body);
  void TooLarge(int32_t id, Stream& stream);
  // A token per RST_STREAM from the client: a burst, then a rate.
  bool ResetAllowed();

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream, const uint8_t* data,
                         size_t len, void* self);
  static int OnStreamClose(nghttp2_session*, int32_t stream, uint32_t error_code, void* self);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static ssize_t ReadBody(nghttp2_session*, int32_t stream, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* self);

  const Options options_;
  Delegate& delegate_;
  const std::string client_ip_;
  nghttp2_session* session_ = nullptr;
  absl::flat_hash_map<int32_t, std::unique_ptr<Stream>> streams_;
  double reset_tokens_ = -1;  // -1: a full burst
  size_t body_bytes_ = 0;     // request bodies buffered, all streams
  absl::Time reset_refill_ = absl::Now();
};

}  // namespace herald::edge
