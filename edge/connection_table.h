// ConnectionTable: which handler owns each HTTP/1.1 connection of the edge,
// and each HTTP/2 stream (h2_connection.h claims them by its own ids).
//
// A connection carries one request at a time. A handler that answers after
// its request has returned (an SSE stream, a POST waiting for its gRPC
// answer) claims the connection. While a claim holds:
//   - bytes arriving on the connection never start another handler: the
//     server asks Find() first and ignores them (and closes a stream);
//   - the claim holds the only SocketWriter allowed to touch the socket.
// A claim fails when the connection is claimed already, so no entry is ever
// overwritten and no writer is ever orphaned. It is released exactly once,
// when Pistache reports the disconnection; Release() hands the entry back so
// that its writer is aborted before Pistache closes the descriptor. A writer
// therefore never outlives its connection nor reaches a descriptor number the
// kernel has given to a newer connection.
//
//   ConnectionTable table({.max_streams = 19'000, .max_streams_per_ip = 100});
//   if (absl::Status s = table.ClaimStream(peer_id, ip, writer); !s.ok()) { ...503 or ignore... }
//   table.SetConnection(peer_id, connection);   // once the hub took it
//   ...
//   if (auto entry = table.Release(peer_id)) entry->writer->Abort();   // onDisconnection
//
// Thread-safety: every method from any thread (one mutex, never held while
// calling out).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace herald::edge {

class Connection;
class SocketWriter;

class ConnectionTable final {
 public:
  enum class Kind {
    kStream,  // an SSE response, until the client goes
    kAnswer,  // a request whose answer comes later (a POST, a 413); the connection closes after
  };
  enum class Protocol { kHttp1, kH2 };
  struct Entry {
    Kind kind = Kind::kStream;
    Protocol protocol = Protocol::kHttp1;
    std::string ip;
    std::shared_ptr<SocketWriter> writer;
    std::shared_ptr<Connection> connection;  // a stream's, once the hub took it
  };
  struct Limits {
    size_t max_streams = 19'000;
    size_t max_streams_per_ip = 19'000;
  };

  explicit ConnectionTable(Limits limits) : limits_(limits) {}

  // Claims connection `peer` for a stream from `ip`, written by `writer`.
  // AlreadyExists if the connection is claimed; ResourceExhausted past the
  // limits (nothing is claimed then).
  // An HTTP/2 stream has no SocketWriter of its own (null).
  absl::Status ClaimStream(size_t peer, const std::string& ip, std::shared_ptr<SocketWriter> writer,
                           Protocol protocol = Protocol::kHttp1);
  // Claims connection `peer` for an answer written later by `writer`.
  // AlreadyExists if the connection is claimed.
  absl::Status ClaimAnswer(size_t peer, std::shared_ptr<SocketWriter> writer);
  // The stream's connection, once started. False if the claim is gone.
  bool SetConnection(size_t peer, std::shared_ptr<Connection> connection);

  // The entry of `peer` (a copy: the caller acts outside the lock).
  std::optional<Entry> Find(size_t peer) const;
  // Ends the claim on `peer` and hands its entry back; nullopt if there was none.
  std::optional<Entry> Release(size_t peer);
  // Every entry, released (the server stops).
  std::vector<Entry> ReleaseAll();
  // The open streams that have started (drain).
  std::vector<Entry> Streams() const;

  size_t streams() const;
  size_t streams(Protocol protocol) const;
  size_t answers() const;

 private:
  const Limits limits_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<size_t, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by Pistache peer id
  absl::flat_hash_map<std::string, size_t> streams_per_ip_ ABSL_GUARDED_BY(mu_);
  size_t streams_ ABSL_GUARDED_BY(mu_) = 0;
  size_t h2_streams_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace herald::edge
