// FaultProxy: a TCP proxy for tests that sits between a sync client and the hub on 127.0.0.1
// and injects network faults (R5 cuts, R6 silent stalls, R7 duplicated frames of
// ../shared/design/ledger-and-sync.md), and drops or reorders whole websocket messages of
// one frame type (R8).
//
//   FaultProxy proxy(hub_port);              // listens on 127.0.0.1:<proxy.port()>
//   client.connect("127.0.0.1", proxy.port());
//   proxy.cut_at(FaultProxy::kToServer, 1234); // close both sides once 1234 bytes went up
//   proxy.stall(true);                        // stop forwarding without closing
//   proxy.duplicate_frames(FaultProxy::kToClient, 2);  // every ws data frame sent 3 times
//   proxy.cut_all();                          // close every open connection now
//   proxy.drop_messages(FaultProxy::kToServer, "push", 1);     // the next PUSH never arrives
//   proxy.reorder_messages(FaultProxy::kToServer, "push", 2);  // two PUSHes swapped with the next
//   EXPECT_GT(proxy.faults(), 0);
//
// Every accepted connection opens a new upstream connection to 127.0.0.1:target_port and gets
// its own forwarding thread. Byte offsets count from the start of that connection (the HTTP
// upgrade included). cut_at() is one-shot: it fires on the first connection to reach the
// offset in that direction, then clears. When a direction starts with an HTTP request or
// response ("GET " / "HTTP"), the proxy follows RFC 6455 framing after the upgrade (the first
// "\r\n\r\n") and groups the frames of one data message (a fragmented message included;
// control frames pass at once). Duplication repeats whole messages. drop/reorder pick the
// next messages whose (unmasked) payload holds "type":"<type>": a dropped one is never sent; a
// reordered one is held back and sent right after the next message of the same type (or after
// 1 s when none comes, counted as late, not as reordered); a replayed one is sent and its copy
// is held back the same way. None of this works through TLS
// (wss), where bytes are opaque: those streams pass untouched.
//
// Thread-safety: every method may be called from any thread. The destructor closes every
// socket and joins every thread. Never throws after construction; construction throws
// std::runtime_error when it cannot listen.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
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
  // The next `count` messages of `type` in `dir` (that also contain `containing`, when
  // given) are dropped (one-shot counters, any connection).
  void drop_messages(Direction dir, const std::string& type, int count,
                     const std::string& containing = {});
  // The next `count` messages of `type` in `dir` are each held and sent after the following
  // message of that type.
  void reorder_messages(Direction dir, const std::string& type, int count);
  // The next `count` messages of `type` in `dir` are sent, and a copy of each is sent again
  // after the following message of that type (an old message arriving after newer ones).
  void replay_messages(Direction dir, const std::string& type, int count);
  // true: new connections are accepted and closed at once (hub unreachable).
  void refuse(bool on);
  // Closes every open connection now (counts as one fault per connection).
  void cut_all();

  uint64_t bytes(Direction dir) const { return bytes_[dir].load(); }
  int connections() const { return connections_.load(); }  // accepted so far
  int open_connections() const;
  int faults() const { return faults_.load(); }  // cuts + duplicated frames + refusals
  int duplicated_frames() const { return duplicated_.load(); }
  int dropped_messages() const { return dropped_.load(); }
  int reordered_messages() const { return reordered_.load(); }  // held ones sent after another
  int replayed_messages() const { return replayed_.load(); }
  int held_now() const { return held_now_.load(); }  // messages waiting for their successor

  // Used by the forwarding threads: what to do with one complete data message.
  enum class Verdict { kPass, kDrop, kHold, kReplay };
  Verdict classify(Direction dir, const std::string& payload);
  void count_released(bool replay) {
    ++(replay ? replayed_ : reordered_);
    ++faults_;
  }
  void count_held(int delta) { held_now_ += delta; }

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
  std::atomic<int> dropped_{0};
  std::atomic<int> reordered_{0};
  std::atomic<int> replayed_{0};
  std::atomic<int> held_now_{0};
  struct Rule {
    std::string type;
    int left = 0;
    std::string containing;
    bool matches(const std::string& payload) const {
      return left > 0 && payload.find(type) != std::string::npos &&
             (containing.empty() || payload.find(containing) != std::string::npos);
    }
  };
  std::mutex rules_mu_;
  Rule drop_[2], reorder_[2], replay_[2];
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace loyalty::testing
