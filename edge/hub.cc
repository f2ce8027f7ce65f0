#include "hub.h"

#include "absl/strings/str_cat.h"
#include "catch_up.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/cursor.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"
#include "sse.h"

namespace herald::edge {

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
      catchups_shared_(metrics.AddCounter(
          "herald_edge_catchups_shared_total",
          "Resuming browsers that joined a running catch-up of the same streams from nearby "
          "positions instead of opening their own")),
      catchups_queued_(
          metrics.AddGauge("herald_edge_catchups_queued",
                           "Catch-ups waiting for a slot (at --max_catchups running at once)")),
      upstream_timeouts_(metrics.AddCounter(
          "herald_edge_upstream_timeouts_total",
          "Attach streams and catch-ups dropped because the fanout sent nothing in time")),
      bodies_({.renderer = options_.renderer}) {
  metrics.AddCollector("herald_edge_event_bodies_total",
                       "Event bodies rendered, and handed out again without rendering (catch-ups "
                       "sending events already rendered), by how",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({{"how", "rendered"}}, static_cast<double>(bodies_.rendered()));
                         emit({{"how", "reused"}}, static_cast<double>(bodies_.reused()));
                       });
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
  watches_.Clear();
}

bool Hub::Ready() const {
  absl::MutexLock lock(&mu_);
  return attached_;
}

bool Hub::Serving() const {
  absl::MutexLock lock(&mu_);
  return watches_.partitions() > 0;
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
  return watches_.partitions();
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
      watches_.ForgetFeed();
    }
    epoch_ = response.epoch();
    bodies_.SetEpoch(epoch_);
    // Another partition count: streams live in other partitions now (their
    // connections are closing).
    watches_.SetPartitions(response.partitions());
    attached_ = true;
    if (rewatch_) {
      // Every stream again, each partition from where the feed is: the new
      // replica continues it exactly.
      rewatch_ = false;
      v1::AttachRequest watch;
      watches_.Rewatch(*watch.mutable_watch());
      if (watch.watch().streams_size() > 0) Enqueue(std::move(watch));
    }
    // Catch-ups that waited for a replica start now.
    for (auto& [conn, r] : registrations_) MaybeStartLocked(*r);
  }
  for (const v1::StreamJoined& j : response.joined()) {
    watches_.Joined(j, [this](WatchTable::Member& m, int32_t partition, int64_t handover) {
      mu_.AssertHeld();
      JoinKnownLocked(static_cast<Registration&>(m), partition, handover);
    });
  }
  std::vector<std::vector<LaneItem>> lanes(loops_.size());
  for (const v1::Reset& reset : response.resets()) {
    auto shared = std::make_shared<const v1::Reset>(reset);
    for (const std::string& s : reset.streams()) {
      if (const WatchTable::Members* members = watches_.MembersOf(s)) {
        AddLaneItem(lanes, *members, nullptr, shared);
      }
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
    watches_.Advance(p, e.position().offset() + 1);
    const WatchTable::Members* members = watches_.MembersOf(e.stream());
    if (members == nullptr) continue;
    // Where the feed is right after this event: live connections at it send
    // one block per group (see Connection::OnShared).
    auto snapshot = std::make_shared<FeedSnapshot>();
    snapshot->epoch = epoch_;
    const int32_t partitions = watches_.partitions();
    snapshot->next.assign(static_cast<size_t>(std::max(partitions, 0)), -1);
    for (const auto& [q, next] : watches_.feed()) {
      if (q >= 0 && q < partitions) snapshot->next[static_cast<size_t>(q)] = next;
    }
    auto shared = std::make_shared<const SharedEvent>(SharedEvent{
        e.stream(), p, e.position().offset(), bodies_.Body(epoch_, e), std::move(snapshot)});
    AddLaneItem(lanes, *members, std::move(shared), nullptr);
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
    watches_.Advance(progress.partition(), progress.next_offset());
  }
}

void Hub::AddLaneItem(std::vector<std::vector<LaneItem>>& lanes, const WatchTable::Members& members,
                      std::shared_ptr<const SharedEvent> event,
                      std::shared_ptr<const v1::Reset> reset) {
  std::vector<LaneItem*> items(lanes.size(), nullptr);
  for (WatchTable::Member* m : members) {
    const Registration* r = static_cast<Registration*>(m);
    LaneItem*& item = items[static_cast<size_t>(r->lane)];
    if (item == nullptr) {
      item = &lanes[static_cast<size_t>(r->lane)].emplace_back();
      item->event = event;
      item->reset = reset;
    }
    item->connections.push_back(r->connection);
  }
}

void Hub::JoinKnownLocked(Registration& r, int32_t partition, int64_t handover) {
  r.connection->SetJoin(partition, handover);
  // A fresh connection (or a partition its cursor does not name) starts live
  // right at the hand-over point.
  auto it = std::find(r.named.begin(), r.named.end(), partition);
  const bool named = it != r.named.end();
  if (named) r.named.erase(it);
  if (r.named.empty()) std::vector<int32_t>().swap(r.named);
  if ((r.fresh || !named) && r.rewind == 0) r.connection->SetPosition(partition, handover);
  MaybeStartLocked(r);
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
  if (watches_.partitions() == 0 || stub_ == nullptr) {
    return absl::UnavailableError("not attached to a fanout yet; retry shortly");
  }
  auto connection = std::make_shared<Connection>(
      epoch_, request.streams, watches_.partitions(), std::move(writer),
      ConnectionOptions{
          .retry_ms = options_.retry_ms, .bodies = &bodies_, .metrics = connection_metrics_});
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
  if (cursor.has_value()) {
    r.cursor = common::EncodeCursor(*cursor);
    for (int32_t p : connection->Partitions()) {
      if (auto c = cursor->next.find(p); c != cursor->next.end()) {
        r.named.push_back(p);
        connection->SetPosition(p, c->second);
      }
    }
  }
  registrations_[connection.get()] = std::move(registration);
  v1::AttachRequest watch;
  watches_.Add(r, connection->streams(), *watch.mutable_watch(),
               [this](WatchTable::Member& m, int32_t partition, int64_t handover) {
                 mu_.AssertHeld();
                 JoinKnownLocked(static_cast<Registration&>(m), partition, handover);
               });
  MaybeStartLocked(r);
  if (watch.watch().streams_size() > 0) Enqueue(std::move(watch));
  return connection;
}

void Hub::Remove(const std::shared_ptr<Connection>& connection) {
  absl::MutexLock lock(&mu_);
  auto it = registrations_.find(connection.get());
  if (it == registrations_.end()) return;
  v1::AttachRequest unwatch;
  watches_.Remove(*it->second, connection->streams(), *unwatch.mutable_unwatch());
  registrations_.erase(it);
  connection->Close();
  if (unwatch.unwatch().streams_size() > 0) Enqueue(std::move(unwatch));
}

void Hub::HeartbeatAll(absl::Time stale_before) {
  absl::MutexLock lock(&mu_);
  // Through the loops: after the events queued so far, so a connection's
  // cursor never moves past an event it has not been sent yet.
  auto feed = std::make_shared<const std::map<int32_t, int64_t>>(watches_.feed());
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
