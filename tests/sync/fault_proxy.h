// FaultProxy: a TCP proxy for tests that sits between a sync client and the hub on 127.0.0.1
// and injects network faults (R5 cuts, R6 silent stalls, R7 duplicated frames of
// ../shared/design/ledger-and-sync.md).
//
//   FaultProxy proxy(hub_port);              // listens on 127.0.0.1:<proxy.port()>
//   client.connect("127.0.0.1", proxy.port());
//   proxy.cut_at(FaultProxy::kToServer, 1234); // close both sides once 1234 bytes went up
//   proxy.stall(true);                        // stop forwarding without closing
//   proxy.duplicate_frames(FaultProxy::kToClient, 2);  // every ws data frame sent 3 times
//   proxy.cut_all();                          // close every open connection now
//   EXPECT_GT(proxy.faults(), 0);
//
// Every accepted connection opens a new upstream connection to 127.0.0.1:target_port and gets
// its own forwarding thread. Byte offsets count from the start of that connection (the HTTP
// upgrade included). cut_at() is one-shot: it fires on the first connection to reach the
// offset in that direction, then clears. Frame duplication understands RFC 6455 framing after
// the HTTP upgrade (the first "\r\n\r\n" in each direction) and repeats only complete,
// unfragmented text/binary frames; it does not work through TLS (wss) since bytes are opaque.
//
// Thread-safety: every method may be called from any thread. The destructor closes every
// socket and joins every thread. Never throws after construction; construction throws
// std::runtime_error when it cannot listen.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace loyalty::testing {

class FaultProxy {
 public:
  enum Direction { kToServer = 0, kToClient = 1 };

  explicit FaultProxy(uint16_t target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }

  // Closes both sides of the first connection whose byte count in `dir` reaches `offset`
  // (bytes before the offset are forwarded, the rest are not). One-shot.
  void cut_at(Direction dir, uint64_t offset);
  // true: stop forwarding in both directions and stop reading, keep sockets open (a silent
  // link). false: resume (pending bytes are then forwarded).
  void stall(bool on);
  // Each complete websocket data frame in `dir` is sent 1 + extra_copies times. 0 = off.
  void duplicate_frames(Direction dir, int extra_copies);
  // true: new connections are accepted and closed at once (hub unreachable).
  void refuse(bool on);
  // Closes every open connection now (counts as one fault per connection).
  void cut_all();

  uint64_t bytes(Direction dir) const { return bytes_[dir].load(); }
  int connections() const { return connections_.load(); }  // accepted so far
  int open_connections() const;
  int faults() const { return faults_.load(); }  // cuts + duplicated frames + refusals
  int duplicated_frames() const { return duplicated_.load(); }

 private:
  struct Conn;
  void accept_loop();
  void pump(std::shared_ptr<Conn> conn);

  uint16_t target_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> stall_{false};
  std::atomic<bool> refuse_{false};
  std::atomic<int> dup_[2] = {0, 0};
  std::atomic<uint64_t> cut_offset_[2] = {0, 0};  // 0 = none
  std::atomic<uint64_t> bytes_[2] = {0, 0};
  std::atomic<int> connections_{0};
  std::atomic<int> faults_{0};
  std::atomic<int> duplicated_{0};
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace loyalty::testing
