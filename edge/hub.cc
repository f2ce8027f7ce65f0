#include "hub.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/cursor.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"
#include "sse.h"

namespace herald::edge {
namespace {

// Catch-up responses stay well below a connection's queued-bytes bound.
constexpr uint32_t kCatchUpBatchBytes = 32 * 1024;

// A watch of `stream` continuing from where `feed` is in each of its
// candidate partitions (one missing from `feed`: from live). The murmur2
// partition's position also goes in the field fanouts read before streams had
// several partitions.
void SetStart(v1::StreamStart& start, const std::string& stream,
              const std::vector<int32_t>& partitions, const std::map<int32_t, int64_t>& feed,
              int32_t partition_count) {
  start.set_stream(stream);
  const int32_t home = common::PartitionForKey(stream, partition_count);
  for (int32_t p : partitions) {
    auto f = feed.find(p);
    if (f == feed.end()) continue;
    (*start.mutable_next_offsets())[p] = f->second;
    if (p == home) start.set_next_offset(f->second);
  }
}

}  // namespace

// A connection's own Fanout.Subscribe, from its cursor or rewind, until the
// connection has caught up with the shared feed. Callback API: nothing blocks.
// A catch-up that fails closes the connection (the browser resumes from its
// cursor).
//
// Lifetime: gRPC holds one reference until OnDone, the hub's watchdog one
// while it cancels; the last one deletes. A hold, added before the call
// starts and removed once no read will follow, keeps the call open while the
// catch-up waits for its browser to drain: the parked callback then starts a
// read on a live call even if the fanout ended it meanwhile (the read fails
// and OnDone follows).
class Hub::PrivateSubscription final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  PrivateSubscription(Hub& hub, std::shared_ptr<v1::Fanout::Stub> stub,
                      std::shared_ptr<Connection> conn, v1::SubscribeRequest request)
      : hub_(hub),
        stub_key_(stub.get()),
        stub_(std::move(stub)),
        connection_(std::move(conn)),
        request_(std::move(request)) {}

  // Call once the hub knows the catch-up (Cancel may come at once).
  void Begin() {
    stub_->async()->Subscribe(&context_, &request_, this);
    AddHold();
    Read();
    StartCall();
  }

  // Which session's replica this catch-up reads (an identity, never dereferenced).
  const v1::Fanout::Stub* stub() const { return stub_key_; }
  // Whether a read has been waiting since before `before`.
  bool StalledSince(absl::Time before) const {
    const int64_t since = reading_since_.load();
    return since != 0 && since < absl::ToUnixNanos(before);
  }
  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    reading_since_.store(0);
    if (!ok) {  // OnDone follows
      RemoveHold();
      return;
    }
    if (response_.has_reset()) {
      connection_->OnReset(response_.reset());
    } else if (response_.has_cursor()) {
      absl::StatusOr<common::Cursor> c = common::DecodeCursor(response_.cursor());
      if (c.ok()) connection_->OnPrivateCursor(c->next);
    } else if (response_.has_batch()) {
      connection_->OnPrivateEvents(response_.batch());
    }
    if (connection_->Closed() || !connection_->CatchingUp()) {
      context_.TryCancel();
      RemoveHold();
      return;
    }
    // Read the next batch only once the browser has taken this one: the
    // fanout waits on gRPC flow control, and nothing piles up here.
    connection_->WhenDrained([this] { Read(); });
  }

  void OnDone(const grpc::Status& status) override {
    if (connection_->CatchingUp() && !connection_->Closed()) {
      spdlog::info("catch-up ended before the hand-over ({}); closing the connection",
                   status.error_message());
      connection_->Close();
    }
    // The connection's last reference may go here, and with it a writer of
    // the HTTP server's: before the hub may finish stopping. The stub (and
    // its channel, whose callback thread this is) goes to the hub.
    connection_.reset();
    hub_.Forget(this, std::move(stub_));
    Unref();
  }

 private:
  void Read() {
    reading_since_.store(absl::ToUnixNanos(absl::Now()));
    StartRead(&response_);
  }

  Hub& hub_;
  const v1::Fanout::Stub* const stub_key_;
  std::shared_ptr<v1::Fanout::Stub> stub_;
  std::shared_ptr<Connection> connection_;
  v1::SubscribeRequest request_;
  v1::SubscribeResponse response_;
  grpc::ClientContext context_;
  std::atomic<int> refs_{1};
  std::atomic<int64_t> reading_since_{0};
};

Hub::Hub(HubOptions options, common::Registry& metrics)
    : options_(std::move(options)),
      upstream_connected_(metrics.AddGauge("herald_edge_upstream_connected",
                                           "1 while attached to a fanout replica")),
      upstream_reconnects_(metrics.AddCounter("herald_edge_upstream_reconnects_total",
                                              "Attach streams (re)opened to fanout replicas")),
      events_in_(metrics.AddCounter("herald_edge_events_received_total",
                                    "Events received on the shared feed")),
      feed_latency_(metrics.AddHistogram(
          "herald_edge_feed_latency_seconds",
          "From an event's publish time to its arrival on the edge's shared feed",
          common::LatencyBuckets())),
      catchups_opened_(metrics.AddCounter("herald_edge_catchups_total",
                                          "Private subscriptions opened for resuming browsers")),
      catchups_queued_(
          metrics.AddGauge("herald_edge_catchups_queued",
                           "Catch-ups waiting for a slot (at --max_catchups running at once)")),
      upstream_timeouts_(metrics.AddCounter(
          "herald_edge_upstream_timeouts_total",
          "Attach streams and catch-ups dropped because the fanout sent nothing in time")) {
  for (int i = 0; i < std::max(1, options_.delivery_threads); ++i) {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    if (!loop.ok()) {
      spdlog::critical("cannot start an event loop: {}", loop.status());
      std::abort();
    }
    loops_.push_back(std::move(*loop));
  }
  constexpr char kResets[] = "herald_edge_resets_total";
  constexpr char kResetsHelp[] = "herald.reset events sent to browsers, by reason";
  connection_metrics_ = {
      .events_sent = &metrics.AddCounter("herald_edge_events_sent_total",
                                         "Events sent to browsers (one per event per stream)"),
      .resets_retention = &metrics.AddCounter(kResets, kResetsHelp, {{"reason", "retention"}}),
      .resets_epoch = &metrics.AddCounter(kResets, kResetsHelp, {{"reason", "epoch"}}),
      .resets_malformed = &metrics.AddCounter(kResets, kResetsHelp, {{"reason", "malformed"}}),
      .resets_other = &metrics.AddCounter(kResets, kResetsHelp, {{"reason", "other"}}),
  };
}

Hub::~Hub() { Stop(); }

void Hub::Start() {
  reader_ = std::thread([this] { Run(); });
  writer_ = std::thread([this] { WriterLoop(); });
  watchdog_ = std::thread([this] { Watchdog(); });
}

void Hub::Stop() {
  if (stopping_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  {
    absl::MutexLock lock(&queue_mu_);  // wakes the writer
  }
  if (reader_.joinable()) reader_.join();
  if (writer_.joinable()) writer_.join();
  if (watchdog_.joinable()) watchdog_.join();
  // Closed connections run the catch-ups' parked callbacks; cancelled calls
  // end the others.
  CloseAll();
  CancelCatchUps([](const PrivateSubscription&) { return true; });
  std::vector<std::shared_ptr<v1::Fanout::Stub>> retired;
  {
    absl::MutexLock lock(&catchups_mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(catchups_mu_) { return catchups_.empty(); };
    catchups_mu_.Await(absl::Condition(&done));
    retired.swap(retired_stubs_);
  }
  retired.clear();  // outside the lock
  // The work queued for connections runs (on closed connections), then every
  // connection is released. Outside the lock: the loops write to connections.
  for (auto& loop : loops_) loop->Drain();
  absl::MutexLock lock(&mu_);
  registrations_.clear();
  streams_.clear();
  watched_.clear();
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

size_t Hub::CancelCatchUps(absl::FunctionRef<bool(const PrivateSubscription&)> which) {
  std::vector<PrivateSubscription*> victims;
  {
    absl::MutexLock lock(&catchups_mu_);
    for (PrivateSubscription* c : catchups_) {
      if (!which(*c)) continue;
      c->Ref();
      victims.push_back(c);
    }
  }
  // Outside the lock: a cancel may run the call's callbacks right here.
  for (PrivateSubscription* c : victims) {
    c->Cancel();
    c->Unref();
  }
  return victims.size();
}

void Hub::Forget(PrivateSubscription* catch_up, std::shared_ptr<v1::Fanout::Stub> stub) {
  bool queued;
  {
    absl::MutexLock lock(&catchups_mu_);
    catchups_.erase(catch_up);
    retired_stubs_.push_back(std::move(stub));
    queued = !queued_catchups_.empty();
  }
  // A slot is free: the next queued catch-up starts, on a loop's thread (this
  // is a gRPC callback, which must not take the hub's lock). Nothing queued,
  // nothing to post: most catch-ups end without taking the hub's lock.
  if (queued) loops_[0]->PostCallbacks({[this] { StartQueuedCatchUps(); }});
}

void Hub::StartQueuedCatchUps() {
  if (stopping_.load()) return;
  absl::MutexLock lock(&mu_);
  while (true) {
    std::shared_ptr<Connection> connection;
    {
      absl::MutexLock catchups_lock(&catchups_mu_);
      if (queued_catchups_.empty() || catchups_.size() >= options_.max_catchups) break;
      connection = queued_catchups_.front().lock();
      queued_catchups_.pop_front();
      catchups_queued_.Set(static_cast<double>(queued_catchups_.size()));
    }
    if (connection == nullptr) continue;  // gone while it waited
    auto it = registrations_.find(connection.get());
    if (it == registrations_.end() || it->second->connection != connection) continue;
    it->second->queued = false;
    MaybeStartLocked(*it->second);
  }
}

bool Hub::Ready() const {
  absl::MutexLock lock(&mu_);
  return attached_;
}

bool Hub::Serving() const {
  absl::MutexLock lock(&mu_);
  return partitions_ > 0;
}

bool Hub::AwaitReady(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return attached_; };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

std::string Hub::Epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

int32_t Hub::Partitions() const {
  absl::MutexLock lock(&mu_);
  return partitions_;
}

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
    stale_joins_.clear();
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

void Hub::OnResponse(const v1::AttachResponse& response) {
  if (!response.epoch().empty()) {
    if (!epoch_.empty() && response.epoch() != epoch_) {
      // The topic was recreated (or another cluster answers): positions mean
      // nothing any more. Close every connection; browsers come back with
      // their cursors and get herald.reset (epoch).
      spdlog::error("fanout epoch changed from {} to {} ({} partitions): closing every connection",
                    epoch_, response.epoch(), response.partitions());
      for (auto& [conn, reg] : registrations_) reg->connection->Close();
      feed_.clear();
    }
    const bool repartitioned = partitions_ != response.partitions();
    epoch_ = response.epoch();
    partitions_ = response.partitions();
    attached_ = true;
    if (repartitioned) {
      // Streams live in other partitions now; their connections are closing.
      watched_.clear();
      for (auto& [name, entry] : streams_) {
        entry.partitions = common::CandidatePartitions(name, partitions_);
        entry.join.clear();
        for (int32_t p : entry.partitions) ++watched_[p];
      }
    }
    if (rewatch_) {
      // Every stream again, each partition from where the feed is: the new
      // replica continues it exactly.
      rewatch_ = false;
      v1::AttachRequest watch;
      for (const auto& [name, entry] : streams_) {
        SetStart(*watch.mutable_watch()->add_streams(), name, entry.partitions, feed_, partitions_);
      }
      if (watch.watch().streams_size() > 0) Enqueue(std::move(watch));
    }
    // Catch-ups that waited for a replica start now.
    for (auto& [conn, r] : registrations_) MaybeStartLocked(*r);
  }
  for (const v1::StreamJoined& j : response.joined()) {
    if (auto stale = stale_joins_.find(j.stream()); stale != stale_joins_.end()) {
      if (--stale->second == 0) stale_joins_.erase(stale);
      continue;
    }
    auto it = streams_.find(j.stream());
    if (it == streams_.end()) continue;
    auto [join, first] = it->second.join.try_emplace(j.partition(), j.next_offset());
    join->second = std::max(join->second, j.next_offset());
    if (!first) continue;
    for (Registration* r : it->second.registrations) {
      r->join[j.partition()] = std::max(r->join[j.partition()], j.next_offset());
      if (--r->waiting[j.partition()] == 0) {
        JoinKnownLocked(*r, j.partition());
        TrimLocked(*r);
      }
    }
  }
  std::vector<std::vector<LaneItem>> lanes(loops_.size());
  for (const v1::Reset& reset : response.resets()) {
    auto shared = std::make_shared<const v1::Reset>(reset);
    for (const std::string& s : reset.streams()) {
      auto it = streams_.find(s);
      if (it == streams_.end()) continue;
      AddLaneItem(lanes, it->second.registrations, nullptr, shared);
    }
  }
  const absl::Time now = absl::Now();
  for (const v1::Event& e : response.events()) {
    events_in_.Increment();
    if (e.has_publish_time()) {
      const absl::Time published = absl::FromUnixSeconds(e.publish_time().seconds()) +
                                   absl::Nanoseconds(e.publish_time().nanos());
      // Live events only: replayed history would say how old it is, not how fast.
      if (const absl::Duration age = now - published; age < absl::Minutes(1)) {
        feed_latency_.Observe(std::max(0.0, absl::ToDoubleSeconds(age)));
      }
    }
    const int32_t p = e.position().partition();
    int64_t& feed = feed_[p];
    feed = std::max(feed, e.position().offset() + 1);
    auto it = streams_.find(e.stream());
    if (it == streams_.end() || it->second.registrations.empty()) continue;
    // Where the feed is right after this event: live connections at it send
    // one block per group (see Connection::OnShared).
    auto snapshot = std::make_shared<FeedSnapshot>();
    snapshot->epoch = epoch_;
    snapshot->next.assign(static_cast<size_t>(std::max(partitions_, 0)), -1);
    for (const auto& [q, next] : feed_) {
      if (q >= 0 && q < partitions_) snapshot->next[static_cast<size_t>(q)] = next;
    }
    auto shared = std::make_shared<const SharedEvent>(SharedEvent{
        e.stream(), p, e.position().offset(),
        std::make_shared<const std::string>(RenderEventBody(
            e.type(), options_.renderer != nullptr ? options_.renderer->Data(e) : e.text())),
        std::move(snapshot)});
    AddLaneItem(lanes, it->second.registrations, std::move(shared), nullptr);
  }
  for (size_t lane = 0; lane < lanes.size(); ++lane) {
    if (lanes[lane].empty()) continue;
    loops_[lane]->Post([items = std::move(lanes[lane])] {
      for (const LaneItem& item : items) {
        if (item.event != nullptr) {
          BlockCache blocks;  // one block per group of connections, for this event
          for (const std::shared_ptr<Connection>& c : item.connections) {
            c->OnShared(*item.event, &blocks);
          }
        } else {
          for (const std::shared_ptr<Connection>& c : item.connections) c->OnReset(*item.reset);
        }
      }
    });
  }
  for (const v1::PartitionProgress& progress : response.progress()) {
    int64_t& feed = feed_[progress.partition()];
    feed = std::max(feed, progress.next_offset());
  }
}

void Hub::AddLaneItem(std::vector<std::vector<LaneItem>>& lanes,
                      const std::vector<Registration*>& regs,
                      std::shared_ptr<const SharedEvent> event,
                      std::shared_ptr<const v1::Reset> reset) {
  std::vector<LaneItem*> items(lanes.size(), nullptr);
  for (Registration* r : regs) {
    LaneItem*& item = items[static_cast<size_t>(r->lane)];
    if (item == nullptr) {
      item = &lanes[static_cast<size_t>(r->lane)].emplace_back();
      item->event = event;
      item->reset = reset;
    }
    item->connections.push_back(r->connection);
  }
}

void Hub::JoinKnownLocked(Registration& r, int32_t partition) {
  const int64_t join = r.join[partition];
  r.connection->SetJoin(partition, join);
  // A fresh connection (or a partition its cursor does not name) starts live
  // right at the hand-over point.
  if (r.fresh || !r.has_position.contains(partition)) {
    if (r.rewind == 0) r.connection->SetPosition(partition, join);
  }
  MaybeStartLocked(r);
}

void Hub::TrimLocked(Registration& r) {
  // Every join known: the bookkeeping is spent (memory an idle connection
  // would otherwise hold for its life).
  if (std::all_of(r.waiting.begin(), r.waiting.end(),
                  [](const auto& w) { return w.second <= 0; })) {
    r.join.clear();
    r.waiting.clear();
    r.has_position.clear();
  }
}

void Hub::MaybeStartLocked(Registration& r) {
  if (!r.needs_private || r.private_started) return;
  // Between replicas: wait for the next one rather than fail against the
  // last (the first response of the next session calls this again).
  if (!attached_) return;
  // A resume starts its catch-up once its start cursor is out; a rewind's
  // start comes from the catch-up itself.
  if (r.rewind == 0 && !r.connection->Started()) return;
  if (r.rewind == 0 && !r.connection->CatchingUp()) return;
  {
    // At the cap, the catch-up waits its turn (StartQueuedCatchUps) rather
    // than being refused: its browser holds its connection meanwhile.
    absl::MutexLock lock(&catchups_mu_);
    if (catchups_.size() >= options_.max_catchups) {
      if (!r.queued) {
        r.queued = true;
        queued_catchups_.push_back(r.connection);
        catchups_queued_.Set(static_cast<double>(queued_catchups_.size()));
      }
      return;
    }
  }
  r.private_started = true;
  catchups_opened_.Increment();
  v1::SubscribeRequest request;
  for (const std::string& s : r.connection->streams()) request.add_streams(s);
  request.set_cursor(std::move(r.cursor));
  r.cursor.clear();
  r.cursor.shrink_to_fit();
  request.set_rewind(r.rewind);
  request.set_max_batch_bytes(kCatchUpBatchBytes);
  auto* catch_up = new PrivateSubscription(*this, stub_, r.connection, std::move(request));
  {
    absl::MutexLock lock(&catchups_mu_);
    catchups_.insert(catch_up);
  }
  catch_up->Begin();
}

int Hub::PickLoop() {
  return next_loop_.fetch_add(1, std::memory_order_relaxed) % static_cast<int>(loops_.size());
}

absl::StatusOr<std::shared_ptr<Connection>> Hub::Add(const EventsRequest& request,
                                                     std::unique_ptr<SseWriter> writer,
                                                     int loop_index) {
  absl::MutexLock lock(&mu_);
  if (stopping_.load()) return absl::UnavailableError("this edge is stopping");
  // During a failover (attached before, not now) the connection is taken:
  // its streams are watched on the next replica with the rest.
  if (partitions_ == 0 || stub_ == nullptr) {
    return absl::UnavailableError("not attached to a fanout yet; retry shortly");
  }
  auto connection =
      std::make_shared<Connection>(epoch_, request.streams, partitions_, std::move(writer),
                                   ConnectionOptions{.retry_ms = options_.retry_ms,
                                                     .renderer = options_.renderer,
                                                     .metrics = connection_metrics_});
  auto registration = std::make_unique<Registration>();
  Registration& r = *registration;
  r.connection = connection;
  r.lane = loop_index % static_cast<int>(loops_.size());

  std::optional<common::Cursor> cursor;
  if (!request.cursor.empty()) {
    absl::StatusOr<common::Cursor> c = common::DecodeCursor(request.cursor);
    v1::Reset reset;
    for (const std::string& s : request.streams) reset.add_streams(s);
    if (!c.ok()) {
      reset.set_reason("malformed");
      reset.set_detail(std::string(c.status().message()));
      connection->OnReset(reset);
    } else if (c->epoch != epoch_) {
      reset.set_reason("epoch");
      reset.set_detail(
          absl::StrCat("the cursor is of epoch ", c->epoch, ", the topic is at ", epoch_));
      connection->OnReset(reset);
    } else {
      cursor = std::move(*c);
    }
  }
  r.fresh = !cursor.has_value();
  r.rewind = r.fresh ? request.rewind : 0;
  r.needs_private = cursor.has_value() || r.rewind > 0;
  if (cursor.has_value()) r.cursor = common::EncodeCursor(*cursor);

  v1::AttachRequest watch;
  // Where the feed is in each partition that is already watched: a new
  // stream joins there (the fanout's answer may be later, never earlier).
  std::map<int32_t, int64_t> feed;
  for (int32_t p : connection->Partitions()) {
    auto f = watched_[p] > 0 ? feed_.find(p) : feed_.end();
    if (f != feed_.end()) feed[p] = f->second;
    r.join[p] = f != feed_.end() ? f->second : 0;
    r.waiting[p] = 0;
    if (cursor.has_value()) {
      if (auto c = cursor->next.find(p); c != cursor->next.end()) {
        r.has_position.insert(p);
        connection->SetPosition(p, c->second);
      }
    }
  }
  for (const std::string& s : connection->streams()) {
    auto [it, created] = streams_.try_emplace(s);
    StreamEntry& entry = it->second;
    if (created) {
      entry.partitions = common::CandidatePartitions(s, partitions_);
      for (int32_t p : entry.partitions) ++watched_[p];
      SetStart(*watch.mutable_watch()->add_streams(), s, entry.partitions, feed, partitions_);
    }
    entry.registrations.push_back(&r);
    for (int32_t p : entry.partitions) {
      if (auto j = entry.join.find(p); j != entry.join.end()) {
        r.join[p] = std::max(r.join[p], j->second);
      } else {
        ++r.waiting[p];
      }
    }
  }
  registrations_[connection.get()] = std::move(registration);
  for (int32_t p : connection->Partitions()) {
    if (r.waiting[p] == 0) JoinKnownLocked(r, p);
  }
  TrimLocked(r);
  MaybeStartLocked(r);
  if (watch.watch().streams_size() > 0) Enqueue(std::move(watch));
  return connection;
}

void Hub::Remove(const std::shared_ptr<Connection>& connection) {
  absl::MutexLock lock(&mu_);
  auto it = registrations_.find(connection.get());
  if (it == registrations_.end()) return;
  Registration* r = it->second.get();
  v1::AttachRequest unwatch;
  for (const std::string& s : connection->streams()) {
    auto entry = streams_.find(s);
    if (entry == streams_.end()) continue;
    auto& regs = entry->second.registrations;
    regs.erase(std::remove(regs.begin(), regs.end(), r), regs.end());
    if (regs.empty()) {
      // Its watch not acknowledged yet: that acknowledgement is not for a
      // later watch of the same stream.
      if (const size_t unacknowledged = entry->second.partitions.size() - entry->second.join.size();
          unacknowledged > 0) {
        stale_joins_[s] += static_cast<int>(unacknowledged);
      }
      for (int32_t p : entry->second.partitions) {
        if (auto w = watched_.find(p); w != watched_.end() && --w->second <= 0) watched_.erase(w);
      }
      streams_.erase(entry);
      unwatch.mutable_unwatch()->add_streams(s);
    }
  }
  registrations_.erase(it);
  connection->Close();
  if (unwatch.unwatch().streams_size() > 0) Enqueue(std::move(unwatch));
}

void Hub::HeartbeatAll(absl::Time stale_before) {
  absl::MutexLock lock(&mu_);
  // Through the loops: after the events queued so far, so a connection's
  // cursor never moves past an event it has not been sent yet.
  auto feed = std::make_shared<const std::map<int32_t, int64_t>>(feed_);
  std::vector<std::vector<std::shared_ptr<Connection>>> lanes(loops_.size());
  for (auto& [conn, r] : registrations_)
    lanes[static_cast<size_t>(r->lane)].push_back(r->connection);
  for (size_t lane = 0; lane < lanes.size(); ++lane) {
    if (lanes[lane].empty()) continue;
    loops_[lane]->Post([feed, stale_before, connections = std::move(lanes[lane])] {
      for (const std::shared_ptr<Connection>& c : connections) {
        for (const auto& [p, next] : *feed) c->OnProgress(p, next);
        c->Heartbeat(stale_before);
      }
    });
  }
}

void Hub::CloseAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [conn, r] : registrations_) r->connection->Close();
}

size_t Hub::ConnectionCount() const {
  absl::MutexLock lock(&mu_);
  return registrations_.size();
}

}  // namespace herald::edge
