// A topic's id (KIP-516), read with one Metadata v12 request.
//
// librdkafka 2.0.2 does not expose topic ids; they are what tells a topic from
// one deleted and created again with the same name and partition count. The
// request goes over a plain TCP connection to a bootstrap server, so this
// works on PLAINTEXT listeners only; elsewhere it says so and the caller does
// without the id.
#include "internal/topic_id.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace herald::broker::internal {
namespace {

constexpr int16_t kMetadataKey = 3;
constexpr int16_t kMetadataVersion = 12;  // Kafka 3.1 and later
constexpr size_t kMaxResponseBytes = 16 << 20;

class Writer {
 public:
  void Int8(uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void Int16(int16_t v) {
    Int8(static_cast<uint8_t>(static_cast<uint16_t>(v) >> 8));
    Int8(static_cast<uint8_t>(v));
  }
  void Int32(int32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      Int8(static_cast<uint8_t>(static_cast<uint32_t>(v) >> shift));
    }
  }
  void UVarint(uint32_t v) {
    while (v >= 0x80) {
      Int8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    Int8(static_cast<uint8_t>(v));
  }
  void Raw(absl::string_view s) { bytes_.append(s.data(), s.size()); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  uint8_t Int8() {
    if (at_ >= bytes_.size()) {
      ok_ = false;
      return 0;
    }
    return static_cast<uint8_t>(bytes_[at_++]);
  }
  int16_t Int16() {
    const uint8_t high = Int8();
    const uint8_t low = Int8();
    return static_cast<int16_t>((high << 8) | low);
  }
  int32_t Int32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | Int8();
    return static_cast<int32_t>(v);
  }
  uint32_t UVarint() {
    uint32_t v = 0;
    for (int shift = 0; shift <= 28 && ok_; shift += 7) {
      const uint8_t b = Int8();
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  absl::string_view Bytes(size_t n) {
    if (n > bytes_.size() - at_) {
      ok_ = false;
      return {};
    }
    absl::string_view out = bytes_.substr(at_, n);
    at_ += n;
    return out;
  }
  // Compact (nullable) string: length + 1 as a varint, 0 for null.
  std::string CompactString() {
    const uint32_t n = UVarint();
    return n == 0 ? std::string() : std::string(Bytes(n - 1));
  }
  // Compact array length (-1 for null).
  int64_t CompactLength() { return static_cast<int64_t>(UVarint()) - 1; }
  void SkipTaggedFields() {
    const uint32_t count = UVarint();
    for (uint32_t i = 0; i < count && ok_; ++i) {
      UVarint();  // tag
      Bytes(UVarint());
    }
  }

 private:
  absl::string_view bytes_;
  size_t at_ = 0;
  bool ok_ = true;
};

std::string MetadataRequest(const std::string& client_id, const std::string& topic) {
  Writer w;
  // Request header v2.
  w.Int16(kMetadataKey);
  w.Int16(kMetadataVersion);
  w.Int32(1);  // correlation id
  w.Int16(static_cast<int16_t>(client_id.size()));
  w.Raw(client_id);
  w.UVarint(0);  // tagged fields
  // Body: one topic by name.
  w.UVarint(2);                  // compact array of 1
  w.Raw(std::string(16, '\0'));  // topic id: unknown
  w.UVarint(static_cast<uint32_t>(topic.size() + 1));
  w.Raw(topic);
  w.UVarint(0);  // the topic's tagged fields
  w.Int8(0);     // allow_auto_topic_creation
  w.Int8(0);     // include_topic_authorized_operations
  w.UVarint(0);  // tagged fields
  Writer framed;
  framed.Int32(static_cast<int32_t>(w.bytes().size()));
  framed.Raw(w.bytes());
  return framed.bytes();
}

absl::StatusOr<std::string> ParseTopicId(absl::string_view body, const std::string& topic) {
  Reader r(body);
  if (r.Int32() != 1) return absl::InternalError("metadata response for another request");
  r.SkipTaggedFields();
  r.Int32();  // throttle
  for (int64_t n = r.CompactLength(); n > 0 && r.ok(); --n) {
    r.Int32();
    r.CompactString();
    r.Int32();
    r.CompactString();
    r.SkipTaggedFields();
  }
  r.CompactString();  // cluster id
  r.Int32();          // controller
  for (int64_t n = r.CompactLength(); n > 0 && r.ok(); --n) {
    const int16_t error = r.Int16();
    const std::string name = r.CompactString();
    const absl::string_view id = r.Bytes(16);
    r.Int8();  // internal
    for (int64_t p = r.CompactLength(); p > 0 && r.ok(); --p) {
      r.Int16();
      r.Int32();
      r.Int32();
      r.Int32();
      for (int arrays = 0; arrays < 3; ++arrays) {
        for (int64_t k = r.CompactLength(); k > 0 && r.ok(); --k) r.Int32();
      }
      r.SkipTaggedFields();
    }
    r.Int32();  // authorized operations
    r.SkipTaggedFields();
    if (!r.ok()) break;
    if (name != topic) continue;
    if (error == 3) return absl::NotFoundError(absl::StrCat("topic ", topic, " does not exist"));
    if (error != 0) {
      return absl::UnavailableError(absl::StrCat("metadata of topic ", topic, ": error ", error));
    }
    std::string hex;
    for (unsigned char c : id) absl::StrAppendFormat(&hex, "%02x", c);
    return hex;
  }
  if (!r.ok()) return absl::InternalError("malformed metadata response");
  return absl::NotFoundError(absl::StrCat("topic ", topic, " not in the metadata response"));
}

// Sends `request` to host:port and returns the response body (after its size).
absl::StatusOr<std::string> Exchange(const std::string& host, const std::string& port,
                                     const std::string& request, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int err = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); err != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(err)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", host));
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    auto wait = [&](short events) {
      const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      pollfd p{fd, events, 0};
      return ms > 0 && poll(&p, 1, static_cast<int>(ms)) == 1;
    };
    std::string response;
    bool done = false;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      int error = 0;
      socklen_t len = sizeof(error);
      if (wait(POLLOUT) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
        size_t sent = 0;
        while (sent < request.size() && wait(POLLOUT)) {
          const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        size_t want = 4;
        char buffer[8192];
        while (sent == request.size() && response.size() < want && wait(POLLIN)) {
          const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
          if (n <= 0) break;
          response.append(buffer, static_cast<size_t>(n));
          if (want == 4 && response.size() >= 4) {
            Reader size(response);
            const int32_t body = size.Int32();
            if (body < 0 || static_cast<size_t>(body) > kMaxResponseBytes) break;
            want = 4 + static_cast<size_t>(body);
          }
        }
        done = want > 4 && response.size() >= want;
      }
    }
    close(fd);
    if (done) {
      freeaddrinfo(found);
      return response.substr(4);
    }
    last = absl::UnavailableError(absl::StrCat("no metadata answer from ", host, ":", port));
  }
  freeaddrinfo(found);
  return last;
}

}  // namespace

absl::StatusOr<std::string> ReadTopicId(const ClientConfig& client, const std::string& topic,
                                        absl::Time deadline) {
  if (auto it = client.properties.find("security.protocol");
      it != client.properties.end() && absl::AsciiStrToLower(it->second) != "plaintext") {
    return absl::UnimplementedError(
        absl::StrCat("topic ids are read over PLAINTEXT listeners only, not ", it->second));
  }
  const std::string request = MetadataRequest(client.client_id, topic);
  absl::Status last = absl::InvalidArgumentError("no bootstrap server");
  for (absl::string_view server : absl::StrSplit(client.bootstrap_servers, ',')) {
    server = absl::StripAsciiWhitespace(server);
    const size_t colon = server.rfind(':');
    if (colon == absl::string_view::npos) continue;
    std::string host(server.substr(0, colon));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    absl::StatusOr<std::string> body =
        Exchange(host, std::string(server.substr(colon + 1)), request, deadline);
    if (!body.ok()) {
      last = body.status();
      continue;
    }
    return ParseTopicId(*body, topic);
  }
  return last;
}

}  // namespace herald::broker::internal
