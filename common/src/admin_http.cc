#include "herald/common/admin_http.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace herald::common {
namespace {

using namespace Pistache;

class AdminHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(AdminHandler)

  AdminHandler(const Registry* registry, std::function<bool()> ready)
      : registry_(registry), ready_(std::move(ready)) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    if (request.method() != Http::Method::Get) {
      response.send(Http::Code::Method_Not_Allowed, "only GET\n");
      return;
    }
    const std::string& path = request.resource();
    if (path == "/metrics") {
      response.headers().add<Http::Header::ContentType>(
          Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
      response.send(Http::Code::Ok, registry_->Render());
    } else if (path == "/healthz") {
      response.send(Http::Code::Ok, "ok\n");
    } else if (path == "/readyz") {
      const bool ready = ready_();
      response.send(ready ? Http::Code::Ok : Http::Code::Service_Unavailable,
                    ready ? "ready\n" : "not ready\n");
    } else {
      response.send(Http::Code::Not_Found, "not found: try /metrics, /healthz or /readyz\n");
    }
  }

 private:
  const Registry* registry_;
  std::function<bool()> ready_;
};

}  // namespace

class AdminHttpServer::Impl {
 public:
  std::unique_ptr<Http::Endpoint> endpoint;
};

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(
    const std::string& address, const Registry& registry, std::function<bool()> ready) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  auto impl = std::make_unique<Impl>();
  try {
    impl->endpoint = std::make_unique<Http::Endpoint>(
        Address(address.substr(0, colon), Port(static_cast<uint16_t>(port))));
    impl->endpoint->init(Http::Endpoint::options()
                             .threads(1)
                             .flags(Tcp::Options::ReuseAddr)
                             .maxRequestSize(16 * 1024));
    impl->endpoint->setHandler(Http::make_handler<AdminHandler>(&registry, std::move(ready)));
    impl->endpoint->serveThreaded();
  } catch (const std::exception& e) {
    // Pistache reports bind failures by throwing; turn them into a status here.
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", address, ": ", e.what()));
  }
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(std::move(impl)));
}

AdminHttpServer::AdminHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminHttpServer::~AdminHttpServer() {
  if (impl_->endpoint != nullptr) impl_->endpoint->shutdown();
}

int AdminHttpServer::port() const { return static_cast<uint16_t>(impl_->endpoint->getPort()); }

}  // namespace herald::common
