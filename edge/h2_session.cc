#include "h2_session.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "http_responses.h"

namespace herald::edge {
namespace {

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

H2Session& Self(void* p) { return *static_cast<H2Session*>(p); }

}  // namespace

H2Session::H2Session(Options options, Delegate& delegate, std::string client_ip)
    : options_(options), delegate_(delegate), client_ip_(std::move(client_ip)) {
  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &OnFrameSend);
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_stream_reset_rate_limit(option, options_.reset_burst, options_.reset_rate);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(options_.max_header_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                          sizeof(settings) / sizeof(settings[0]));
}

H2Session::~H2Session() { nghttp2_session_del(session_); }

absl::Status H2Session::Receive(absl::string_view bytes) {
  const ssize_t n = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (n < 0) return absl::InvalidArgumentError(nghttp2_strerror(static_cast<int>(n)));
  return absl::OkStatus();
}

absl::Status H2Session::Produce(std::string& out, size_t limit) {
  while (out.size() < limit) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return absl::InternalError(nghttp2_strerror(static_cast<int>(n)));
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

bool H2Session::Done() const {
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void H2Session::GoAway(uint32_t error_code) {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), error_code, nullptr, 0);
}

H2Session::Stream* H2Session::Find(int32_t stream) {
  auto it = streams_.find(stream);
  return it == streams_.end() ? nullptr : it->second.get();
}

int H2Session::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  Self(self).streams_.emplace(frame->hd.stream_id, std::make_unique<Stream>());
  return 0;
}

int H2Session::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                        size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                        void* self) {
  H2Session& s = Self(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* stream = s.Find(frame->hd.stream_id);
  if (stream == nullptr || stream->dispatched) return 0;  // trailers: ignored
  // As HPACK counts a header list's size: an entry of nothing still costs.
  stream->header_bytes += namelen + valuelen + 32;
  if (stream->header_bytes > s.options_.max_header_bytes) {
    s.delegate_.OnRefused(frame->hd.stream_id, "headers");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM; nothing kept
  }
  const absl::string_view n(reinterpret_cast<const char*>(name), namelen);
  const absl::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    stream->method = std::string(v);
  } else if (n == ":path") {
    stream->path = std::string(v);
  } else if (n == "cookie") {
    // HTTP/2 may split the Cookie header into one field per cookie.
    for (absl::string_view pair : absl::StrSplit(v, ';', absl::SkipWhitespace())) {
      pair = absl::StripAsciiWhitespace(pair);
      const size_t eq = pair.find('=');
      if (eq == absl::string_view::npos) continue;
      stream->cookies.emplace_back(std::string(pair.substr(0, eq)),
                                   std::string(pair.substr(eq + 1)));
    }
  } else if (!n.empty() && n[0] != ':') {
    if (n == "content-length") {
      uint64_t length = 0;
      if (absl::SimpleAtoi(v, &length) && length > s.options_.max_body_bytes) {
        stream->too_large = true;
      }
    }
    stream->headers.emplace_back(std::string(n), std::string(v));
  }
  return 0;
}

int H2Session::OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
  H2Session& s = Self(self);
  const int32_t id = frame->hd.stream_id;
  if (frame->hd.type == NGHTTP2_RST_STREAM && !s.ResetAllowed()) {
    // Streams opened and cancelled faster than any page does (the
    // rapid-reset pattern), whether or not an answer went out first.
    nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
    return 0;
  }
  Stream* stream = s.Find(id);
  if (stream == nullptr || stream->dispatched) return 0;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  if (stream->too_large) {
    s.TooLarge(id, *stream);
    return 0;
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) s.Dispatch(id, *stream);
  return 0;
}

int H2Session::OnDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                           void* self) {
  H2Session& s = Self(self);
  Stream* stream = s.Find(id);
  if (stream == nullptr || stream->dispatched || stream->too_large) return 0;
  if (stream->body.size() + len > s.options_.max_body_bytes ||
      s.body_bytes_ + len > 4 * s.options_.max_body_bytes) {
    stream->too_large = true;
    s.body_bytes_ -= stream->body.size();
    stream->body = std::string();
    s.TooLarge(id, *stream);
    return 0;
  }
  stream->body.append(reinterpret_cast<const char*>(data), len);
  s.body_bytes_ += len;
  return 0;
}

int H2Session::OnStreamClose(nghttp2_session*, int32_t id, uint32_t, void* self) {
  H2Session& s = Self(self);
  auto it = s.streams_.find(id);
  if (it == s.streams_.end()) return 0;
  const bool dispatched = it->second->dispatched;
  s.body_bytes_ -= it->second->body.size();
  s.streams_.erase(it);
  if (dispatched) s.delegate_.OnClosed(id);
  return 0;
}

int H2Session::OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    Self(self).delegate_.OnRefused(0, "goaway");
  }
  return 0;
}

bool H2Session::ResetAllowed() {
  const absl::Time now = absl::Now();
  const double burst = static_cast<double>(options_.reset_burst);
  if (reset_tokens_ < 0) reset_tokens_ = burst;
  reset_tokens_ = std::min(burst, reset_tokens_ + absl::ToDoubleSeconds(now - reset_refill_) *
                                                      static_cast<double>(options_.reset_rate));
  reset_refill_ = now;
  if (reset_tokens_ < 1) return false;
  reset_tokens_ -= 1;
  return true;
}

void H2Session::TooLarge(int32_t id, Stream& stream) {
  if (stream.dispatched) return;
  stream.dispatched = true;
  delegate_.OnRefused(id, "body");
  Respond(id, JsonAnswer(413, "payload_too_large",
                         absl::StrCat("the body is larger than ", options_.max_body_bytes,
                                      " bytes, the most accepted")));
}

void H2Session::Dispatch(int32_t id, Stream& stream) {
  stream.dispatched = true;
  ApiRequest request;
  request.method = ApiRequest::MethodOf(stream.method);
  const size_t q = stream.path.find('?');
  request.path = stream.path.substr(0, q);
  if (q != std::string::npos) request.query = stream.path.substr(q + 1);
  request.headers = std::move(stream.headers);
  request.cookies = std::move(stream.cookies);
  stream.head = request.method == ApiRequest::Method::kHead;
  body_bytes_ -= stream.body.size();
  request.body = std::move(stream.body);
  request.client_ip = client_ip_;
  stream.headers = HeaderList();
  stream.cookies = {};
  stream.body = std::string();
  delegate_.OnRequest(id, std::move(request));
}

void H2Session::Submit(int32_t id, Stream& stream, int status, const std::string& content_type,
                       const HeaderList& headers, bool has_body) {
  static const std::string kStatus = ":status";
  static const std::string kContentType = "content-type";
  const std::string status_text = absl::StrCat(status);
  std::vector<std::string> names;
  names.reserve(headers.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size() + 2);
  nva.push_back(Nv(kStatus, status_text));
  if (!content_type.empty()) nva.push_back(Nv(kContentType, content_type));
  for (const auto& [name, value] : headers) {
    names.push_back(absl::AsciiStrToLower(name));
    nva.push_back(Nv(names.back(), value));
  }
  stream.responding = true;
  nghttp2_data_provider provider{};
  provider.read_callback = &ReadBody;
  nghttp2_submit_response(session_, id, nva.data(), nva.size(), has_body ? &provider : nullptr);
}

void H2Session::Respond(int32_t id, const ApiAnswer& answer) {
  Stream* stream = Find(id);
  if (stream == nullptr || stream->responding) return;
  stream->out = answer.body;
  stream->ending = true;
  Submit(id, *stream, answer.status, answer.content_type, answer.headers,
         !answer.body.empty() && !stream->head);
}

void H2Session::Start(int32_t id, const HeaderList& headers) {
  Stream* stream = Find(id);
  if (stream == nullptr || stream->responding) return;
  Submit(id, *stream, 200, "", headers, true);
}

bool H2Session::Append(int32_t id, absl::string_view bytes) {
  Stream* stream = Find(id);
  if (stream == nullptr || !stream->responding || stream->ending) return false;
  if (stream->out.size() - stream->out_off > options_.max_queued_bytes) {
    // The reader stopped (its window is shut): this stream goes, the
    // connection's others do not wait for it. The browser resumes.
    Reset(id);
    return false;
  }
  if (stream->out_off > 0 && stream->out_off * 2 >= stream->out.size()) {
    stream->out.erase(0, stream->out_off);
    stream->out_off = 0;
  }
  if (stream->out_off == stream->out.size()) stream->progress = absl::Now();  // nothing was waiting
  stream->out.append(bytes.data(), bytes.size());
  if (stream->deferred) {
    stream->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return true;
}

void H2Session::End(int32_t id) {
  Stream* stream = Find(id);
  if (stream == nullptr || stream->ending) return;
  stream->ending = true;
  if (!stream->responding) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    return;
  }
  if (stream->deferred) {
    stream->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
}

void H2Session::ResetStalled(absl::Time now, absl::Duration timeout) {
  std::vector<int32_t> incomplete;
  std::vector<int32_t> shut;
  for (const auto& [id, stream] : streams_) {
    if (!stream->dispatched && now - stream->created > timeout) {
      incomplete.push_back(id);
    } else if (stream->responding && stream->out.size() > stream->out_off &&
               now - stream->progress > timeout) {
      shut.push_back(id);
    }
  }
  for (int32_t id : incomplete) {
    Stream* stream = Find(id);
    stream->dispatched = true;  // nothing more of it is routed
    body_bytes_ -= stream->body.size();
    stream->body = std::string();
    delegate_.OnRefused(id, "body");
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  for (int32_t id : shut) Reset(id);
}

void H2Session::Reset(int32_t id) {
  Stream* stream = Find(id);
  if (stream == nullptr) return;
  stream->ending = true;
  stream->out = std::string();
  stream->out_off = 0;
  delegate_.OnRefused(id, "slow");
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

size_t H2Session::Queued(int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second->out.size() - it->second->out_off;
}

ssize_t H2Session::ReadBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                            uint32_t* data_flags, nghttp2_data_source*, void* self) {
  Stream* stream = Self(self).Find(id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const size_t available = stream->out.size() - stream->out_off;
  const size_t n = std::min(length, available);
  if (n > 0) {
    stream->progress = absl::Now();
    std::memcpy(buf, stream->out.data() + stream->out_off, n);
    stream->out_off += n;
    if (stream->out_off == stream->out.size()) {
      stream->out.clear();
      stream->out_off = 0;
      if (stream->out.capacity() > 4096) stream->out.shrink_to_fit();  // a burst's room goes back
    }
  }
  if (stream->out_off == stream->out.size()) {
    if (stream->ending) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      stream->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

}  // namespace herald::edge
