#include "herald/common/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::common {
namespace {

using ::testing::HasSubstr;

// A one-connection server on loopback that reads the request's head, then
// writes `pieces` one by one (each its own send, a little apart).
class OneShotServer {
 public:
  explicit OneShotServer(std::vector<std::string> pieces) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listener_, 1);
    thread_ = std::thread([this, pieces = std::move(pieces)] {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buffer[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request_.append(buffer, static_cast<size_t>(n));
      }
      for (const std::string& piece : pieces) {
        send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
        absl::SleepFor(absl::Milliseconds(5));
      }
      close(fd);
    });
  }
  ~OneShotServer() {
    Join();
    close(listener_);
  }
  // Waits for the connection to be served (or gives up waiting for one).
  void Join() {
    if (!thread_.joinable()) return;
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  // The request's head, once Join() returned.
  const std::string& request() const { return request_; }

 private:
  int listener_;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

std::string ReadAll(HttpStream& stream) {
  std::string body;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> more = stream.Read(deadline);
    if (!more.ok()) break;
    body += *more;
  }
  return body;
}

TEST(HttpStreamTest, DecodesChunksSplitAnywhere) {
  // "event: a\n\n" and "data: 1\n\n", chunked, cut inside sizes, data and CRLFs.
  OneShotServer server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n",
                        "Transfer-Encoding: chunked\r\n\r\n", "a\r\nevent:", " a\n\n\r", "\n9",
                        "\r\ndata: 1\n\n\r\n", "0\r\n\r\n"});
  auto stream = HttpStream::Open(server.url("/v1/events?stream=s"), {{"Authorization", "Bearer t"}},
                                 absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(ReadAll(**stream), "event: a\n\ndata: 1\n\n");
  // The end of the response is said, not waited for.
  EXPECT_FALSE((*stream)->Read(absl::Now() + absl::Seconds(1)).ok());
}

TEST(HttpStreamTest, SendsTheHeadersAndReadsAPlainBody) {
  OneShotServer server({"HTTP/1.1 200 OK\r\n\r\nhello ", "world"});
  auto stream = HttpStream::Open(server.url("/path?q=1"), {{"Authorization", "Bearer t"}},
                                 absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(ReadAll(**stream), "hello world");
  server.Join();
  EXPECT_THAT(server.request(), HasSubstr("GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:"));
  EXPECT_THAT(server.request(), HasSubstr("\r\nAuthorization: Bearer t\r\n"));
}

TEST(HttpStreamTest, AnErrorSaysTheStatusAndTheStartOfTheBody) {
  OneShotServer server({"HTTP/1.1 401 Unauthorized\r\nContent-Length: 40\r\n\r\n",
                        R"({"error":"unauthorized","detail":"no t"})"});
  auto stream =
      HttpStream::Open(server.url("/v1/events?stream=s"), {}, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(stream.ok());
  EXPECT_THAT(stream.status().message(), HasSubstr("HTTP/1.1 401 unauthorized"));
  EXPECT_THAT(stream.status().message(), HasSubstr(R"("error":"unauthorized")"));
}

TEST(HttpStreamTest, RefusesWhatIsNotHttp) {
  EXPECT_EQ(HttpStream::Open("https://x/", {}, absl::Now() + absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      HttpStream::Open("http://127.0.0.1:1/", {}, absl::Now() + absl::Seconds(1)).status().code(),
      absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace herald::common
