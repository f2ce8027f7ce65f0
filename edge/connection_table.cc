#include "connection_table.h"

#include <utility>

namespace herald::edge {

absl::Status ConnectionTable::ClaimStream(size_t peer, const std::string& ip,
                                          std::shared_ptr<SocketWriter> writer, Protocol protocol) {
  absl::MutexLock lock(&mu_);
  if (entries_.contains(peer)) {
    return absl::AlreadyExistsError("this connection already carries a request");
  }
  if (streams_ >= limits_.max_streams) {
    return absl::ResourceExhaustedError("this edge is at its connection limit");
  }
  size_t& from_ip = streams_per_ip_[ip];
  if (from_ip >= limits_.max_streams_per_ip) {
    if (from_ip == 0) streams_per_ip_.erase(ip);
    return absl::ResourceExhaustedError("too many connections from this address");
  }
  ++from_ip;
  ++streams_;
  if (protocol == Protocol::kH2) ++h2_streams_;
  entries_.emplace(peer, Entry{Kind::kStream, protocol, ip, std::move(writer), nullptr});
  return absl::OkStatus();
}

absl::Status ConnectionTable::ClaimAnswer(size_t peer, std::shared_ptr<SocketWriter> writer) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] =
      entries_.try_emplace(peer, Entry{Kind::kAnswer, Protocol::kHttp1, "", std::move(writer)});
  if (!inserted) return absl::AlreadyExistsError("this connection already carries a request");
  return absl::OkStatus();
}

bool ConnectionTable::SetConnection(size_t peer, std::shared_ptr<Connection> connection) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end() || it->second.kind != Kind::kStream) return false;
  it->second.connection = std::move(connection);
  return true;
}

std::optional<ConnectionTable::Entry> ConnectionTable::Find(size_t peer) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::optional<ConnectionTable::Entry> ConnectionTable::Release(size_t peer) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end()) return std::nullopt;
  Entry entry = std::move(it->second);
  entries_.erase(it);
  if (entry.kind == Kind::kStream) {
    --streams_;
    if (entry.protocol == Protocol::kH2) --h2_streams_;
    auto ip = streams_per_ip_.find(entry.ip);
    if (ip != streams_per_ip_.end() && --ip->second == 0) streams_per_ip_.erase(ip);
  }
  return entry;
}

std::vector<ConnectionTable::Entry> ConnectionTable::ReleaseAll() {
  absl::MutexLock lock(&mu_);
  std::vector<Entry> all;
  all.reserve(entries_.size());
  for (auto& [peer, entry] : entries_) all.push_back(std::move(entry));
  entries_.clear();
  streams_per_ip_.clear();
  streams_ = 0;
  h2_streams_ = 0;
  return all;
}

std::vector<ConnectionTable::Entry> ConnectionTable::Streams() const {
  absl::MutexLock lock(&mu_);
  std::vector<Entry> open;
  for (const auto& [peer, entry] : entries_) {
    if (entry.kind == Kind::kStream && entry.connection != nullptr) open.push_back(entry);
  }
  return open;
}

size_t ConnectionTable::streams() const {
  absl::MutexLock lock(&mu_);
  return streams_;
}

size_t ConnectionTable::streams(Protocol protocol) const {
  absl::MutexLock lock(&mu_);
  return protocol == Protocol::kH2 ? h2_streams_ : streams_ - h2_streams_;
}

size_t ConnectionTable::answers() const {
  absl::MutexLock lock(&mu_);
  return entries_.size() - streams_;
}

}  // namespace herald::edge
