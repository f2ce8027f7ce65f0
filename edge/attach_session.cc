// The hub's Attach stream: one session per fanout replica in turn, with
// backoff; the writer of watch requests; the watchdog that drops a replica
// (or a catch-up) that sends nothing.
#include "catch_up.h"

namespace herald::edge {

void Hub::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  size_t next = 0;
  while (!stopping_.load()) {
    const std::string address = options_.fanouts[next % options_.fanouts.size()];
    ++next;
    if (Session(address)) backoff = absl::Milliseconds(100);
    if (stopping_.load()) break;
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool Hub::Session(const std::string& address) {
  // Keepalive pings notice a dead TCP peer; the fanout allows one every 10 s
  // (common/grpc_server.cc). The edge sends little data of its own, so pings
  // must not wait for it.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 15'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  auto stub = std::shared_ptr<v1::Fanout::Stub>(v1::Fanout::NewStub(channel));
  grpc::ClientContext context;
  {
    // The watchdog may cancel the call while it starts (a hung replica
    // accepts TCP connections and answers nothing); a cancel before the call
    // exists applies once it does.
    absl::MutexLock lock(&mu_);
    if (stopping_.load()) return false;
    context_ = &context;
    address_ = address;
    reading_since_.store(absl::ToUnixNanos(absl::Now()));
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::AttachRequest, v1::AttachResponse>> stream =
      stub->Attach(&context);
  {
    absl::MutexLock lock(&mu_);
    stub_ = stub;
    {
      absl::MutexLock stream_lock(&stream_mu_);
      stream_ = stream.get();
    }
    // The old session's acknowledgements will never come.
    watches_.NewSession();
    // Every stream is watched again once the replica has said which topic it
    // serves (OnResponse): positions go only to a replica of the same epoch.
    rewatch_ = true;
    absl::MutexLock queue_lock(&queue_mu_);
    queue_.clear();
  }
  upstream_reconnects_.Increment();
  bool attached = false;
  v1::AttachResponse response;
  for (;;) {
    reading_since_.store(absl::ToUnixNanos(absl::Now()));
    if (!stream->Read(&response)) break;
    reading_since_.store(0);
    absl::MutexLock lock(&mu_);
    if (!attached) {
      spdlog::info("attached to fanout {}", address);
      upstream_connected_.Set(1);
    }
    attached = true;
    OnResponse(response);
  }
  {
    absl::MutexLock lock(&mu_);
    attached_ = false;
    context_ = nullptr;
    reading_since_.store(0);
  }
  upstream_connected_.Set(0);
  context.TryCancel();  // unblocks a write in progress
  // Catch-ups on this replica end too (a hung one would hold them forever):
  // their browsers resume from their cursors on the next.
  CancelCatchUps([&](const PrivateSubscription& c) { return c.stub() == stub.get(); });
  {
    // The writer holds stream_mu_ while writing: once we have it, no write is
    // in progress and none will use this stream.
    absl::MutexLock lock(&stream_mu_);
    stream_ = nullptr;
  }
  grpc::Status status = stream->Finish();
  if (!stopping_.load()) {
    spdlog::warn("fanout {} stream ended: {} {}", address, static_cast<int>(status.error_code()),
                 status.error_message());
  }
  return attached;
}

void Hub::WriterLoop() {
  while (!stopping_.load()) {
    v1::AttachRequest request;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return stopping_.load() || !queue_.empty();
      };
      queue_mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
      if (queue_.empty()) continue;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    // Without a stream the request is dropped: the next session re-watches
    // every stream in full.
    absl::MutexLock lock(&stream_mu_);
    if (stream_ != nullptr) stream_->Write(request);
  }
}

void Hub::Enqueue(v1::AttachRequest request) {
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back(std::move(request));
}

void Hub::Watchdog() {
  const absl::Duration tick = std::min(absl::Milliseconds(250), options_.upstream_timeout / 4);
  while (!stopping_.load()) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(tick));
    const absl::Time before = absl::Now() - options_.upstream_timeout;
    {
      absl::MutexLock lock(&mu_);
      const int64_t since = reading_since_.load();
      if (context_ != nullptr && since != 0 && since < absl::ToUnixNanos(before)) {
        spdlog::warn("fanout {} sent nothing for {}: dropping it", address_,
                     absl::FormatDuration(absl::Now() - absl::FromUnixNanos(since)));
        upstream_timeouts_.Increment();
        reading_since_.store(0);
        attached_ = false;  // not ready from now on, not only once the read returns
        upstream_connected_.Set(0);
        context_->TryCancel();
      }
    }
    std::vector<std::shared_ptr<v1::Fanout::Stub>> retired;
    {
      absl::MutexLock lock(&catchups_mu_);
      retired.swap(retired_stubs_);  // let go at the end of this round, on this thread
    }
    const size_t stalled =
        CancelCatchUps([&](const PrivateSubscription& c) { return c.StalledSince(before); });
    if (stalled > 0) {
      spdlog::warn("{} catch-up(s) got nothing from their fanout for {}: ending them", stalled,
                   absl::FormatDuration(options_.upstream_timeout));
      upstream_timeouts_.Increment(static_cast<double>(stalled));
    }
  }
}

}  // namespace herald::edge
