#include "fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

namespace loyalty::testing {
namespace {

bool send_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 100);
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Follows one direction's byte stream: passes the HTTP upgrade, then splits RFC 6455 frames,
// groups the frames of one data message, and duplicates, drops or holds whole messages.
// Streams that do not start with HTTP (TLS) pass untouched.
class FrameSplitter {
 public:
  using Clock = std::chrono::steady_clock;

  // Appends the bytes to send for `data` to `out`; returns the number of extra copies made.
  int feed(const uint8_t* data, size_t n, int extra_copies, FaultProxy& proxy,
           FaultProxy::Direction dir, std::vector<uint8_t>& out) {
    size_t i = 0;
    while (!upgraded_ && !opaque_ && i < n) {
      out.push_back(data[i]);
      if (seen_ < 4) {
        start_[seen_++] = static_cast<char>(data[i]);
        if (seen_ == 4 && std::memcmp(start_, "GET ", 4) != 0 &&
            std::memcmp(start_, "HTTP", 4) != 0) {
          opaque_ = true;
        }
      }
      header_tail_ = (header_tail_ << 8) | data[i];
      ++i;
      if (header_tail_ == 0x0d0a0d0a) upgraded_ = true;
    }
    if (i == n) return 0;
    if (opaque_) {
      out.insert(out.end(), data + i, data + n);
      return 0;
    }
    pending_.insert(pending_.end(), data + i, data + n);
    int duplicated = 0;
    size_t pos = 0;
    for (;;) {
      const size_t len = frame_length(pos);
      if (len == 0 || pos + len > pending_.size()) break;
      const uint8_t* f = pending_.data() + pos;
      const int opcode = f[0] & 0x0f;
      const bool fin = (f[0] & 0x80) != 0;
      if (opcode >= 8) {  // control frames pass at once, also inside a fragmented message
        out.insert(out.end(), f, f + len);
      } else {
        message_.insert(message_.end(), f, f + len);
        append_payload(f, len);
        if (fin) duplicated += finish_message(extra_copies, proxy, dir, out);
      }
      pos += len;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pos));
    return duplicated;
  }

  // Sends a held message that waited 1 s for a successor.
  void flush_late(FaultProxy& proxy, std::vector<uint8_t>& out) {
    if (held_.empty() || Clock::now() - held_at_ < std::chrono::seconds(1)) return;
    out.insert(out.end(), held_.begin(), held_.end());
    held_.clear();
    proxy.count_held(-1);
  }

 private:
  int finish_message(int extra_copies, FaultProxy& proxy, FaultProxy::Direction dir,
                     std::vector<uint8_t>& out) {
    int duplicated = 0;
    if (!held_.empty() && payload_.find(held_type_) != std::string::npos) {
      // The successor of the held message: it goes first, the held one right after it.
      emit(extra_copies, out);
      duplicated = extra_copies;
      out.insert(out.end(), held_.begin(), held_.end());
      held_.clear();
      proxy.count_held(-1);
      proxy.count_released(held_is_replay_);
    } else {
      const FaultProxy::Verdict v = proxy.classify(dir, payload_);
      switch (v) {
        case FaultProxy::Verdict::kDrop:
          break;  // never sent
        case FaultProxy::Verdict::kHold:
        case FaultProxy::Verdict::kReplay: {
          const bool replay = v == FaultProxy::Verdict::kReplay;
          if (replay) {
            emit(extra_copies, out);
            duplicated = extra_copies;
          }
          if (held_.empty()) {
            held_ = message_;
            held_at_ = Clock::now();
            held_type_ = marker_of(payload_);
            held_is_replay_ = replay;
            proxy.count_held(1);
            break;
          }
          if (replay) break;
          [[fallthrough]];
        }
        case FaultProxy::Verdict::kPass:
          emit(extra_copies, out);
          duplicated = extra_copies;
          break;
      }
    }
    message_.clear();
    payload_.clear();
    return duplicated;
  }

  void emit(int extra_copies, std::vector<uint8_t>& out) const {
    for (int c = 0; c <= extra_copies; ++c) out.insert(out.end(), message_.begin(), message_.end());
  }

  static std::string marker_of(const std::string& payload) {
    const size_t at = payload.find("\"type\":\"");
    if (at == std::string::npos) return "\"type\":";
    const size_t end = payload.find('"', at + 8);
    return payload.substr(at, end == std::string::npos ? std::string::npos : end - at + 1);
  }

  // Unmasks the payload of the frame at f (length len) onto payload_.
  void append_payload(const uint8_t* f, size_t len) {
    const bool masked = (f[1] & 0x80) != 0;
    size_t header = 2;
    const uint64_t l7 = f[1] & 0x7f;
    if (l7 == 126) header = 4;
    if (l7 == 127) header = 10;
    const uint8_t* mask = f + header;
    if (masked) header += 4;
    for (size_t k = header; k < len; ++k) {
      const uint8_t b = masked ? static_cast<uint8_t>(f[k] ^ mask[(k - header) % 4]) : f[k];
      payload_.push_back(static_cast<char>(b));
    }
  }

  // Total bytes of the frame at pending_[pos], or 0 when its header is incomplete.
  size_t frame_length(size_t pos) const {
    const size_t avail = pending_.size() - pos;
    const uint8_t* p = pending_.data() + pos;
    if (avail < 2) return 0;
    const bool masked = (p[1] & 0x80) != 0;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) return 0;
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) return 0;
      len = 0;
      for (int k = 0; k < 8; ++k) len = (len << 8) | p[2 + k];
      header = 10;
    }
    if (masked) header += 4;
    return header + static_cast<size_t>(len);
  }

  bool upgraded_ = false;
  bool opaque_ = false;
  char start_[4] = {};
  int seen_ = 0;
  uint32_t header_tail_ = 0;
  std::vector<uint8_t> pending_;
  std::vector<uint8_t> message_;  // the raw frames of the data message being collected
  std::string payload_;           // its unmasked payload
  std::vector<uint8_t> held_;     // a message held back for reordering
  std::string held_type_;
  bool held_is_replay_ = false;
  Clock::time_point held_at_;
};

}  // namespace

struct FaultProxy::Conn {
  int fd[2] = {-1, -1};  // [0] client side, [1] server side
  std::atomic<bool> closed{false};
  uint64_t count[2] = {0, 0};
  FrameSplitter splitter[2];
  std::mutex mu;
  void close_both() {
    std::lock_guard lock(mu);
    if (closed.exchange(true)) return;
    for (int& f : fd) {
      if (f >= 0) ::shutdown(f, SHUT_RDWR);
    }
  }
};

FaultProxy::FaultProxy(uint16_t target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("FaultProxy: socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("FaultProxy: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("FaultProxy: pipe failed");
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  const char c = 'x';
  [[maybe_unused]] auto w = ::write(wake_pipe_[1], &c, 1);
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (auto& conn : conns_) conn->close_both();
  }
  for (auto& t : threads_) t.join();
  for (auto& conn : conns_) {
    for (int f : conn->fd) {
      if (f >= 0) ::close(f);
    }
  }
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void FaultProxy::cut_at(Direction dir, uint64_t offset) {
  cut_offset_[dir] = offset == 0 ? 1 : offset;
}
void FaultProxy::stall(bool on) { stall_ = on; }
void FaultProxy::duplicate_frames(Direction dir, int extra_copies) { dup_[dir] = extra_copies; }
void FaultProxy::refuse(bool on) { refuse_ = on; }

void FaultProxy::drop_messages(Direction dir, const std::string& type, int count,
                               const std::string& containing) {
  std::lock_guard lock(rules_mu_);
  drop_[dir] = Rule{"\"type\":\"" + type + "\"", count, containing};
}

void FaultProxy::reorder_messages(Direction dir, const std::string& type, int count) {
  std::lock_guard lock(rules_mu_);
  reorder_[dir] = Rule{"\"type\":\"" + type + "\"", count, {}};
}

void FaultProxy::replay_messages(Direction dir, const std::string& type, int count) {
  std::lock_guard lock(rules_mu_);
  replay_[dir] = Rule{"\"type\":\"" + type + "\"", count, {}};
}

FaultProxy::Verdict FaultProxy::classify(Direction dir, const std::string& payload) {
  std::lock_guard lock(rules_mu_);
  Rule& drop = drop_[dir];
  if (drop.matches(payload)) {
    --drop.left;
    ++dropped_;
    ++faults_;
    return Verdict::kDrop;
  }
  Rule& reorder = reorder_[dir];
  if (reorder.matches(payload)) {
    --reorder.left;
    return Verdict::kHold;
  }
  Rule& replay = replay_[dir];
  if (replay.matches(payload)) {
    --replay.left;
    return Verdict::kReplay;
  }
  return Verdict::kPass;
}

void FaultProxy::cut_all() {
  std::lock_guard lock(mu_);
  for (auto& conn : conns_) {
    if (!conn->closed.load()) {
      ++faults_;
      conn->close_both();
    }
  }
}

int FaultProxy::open_connections() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& conn : conns_) n += conn->closed.load() ? 0 : 1;
  return n;
}

void FaultProxy::accept_loop() {
  while (!stop_) {
    pollfd pfds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(pfds, 2, -1) < 0) continue;
    if (stop_ || (pfds[1].revents & POLLIN)) break;
    if (!(pfds[0].revents & POLLIN)) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    if (refuse_) {
      ++faults_;  // counted before the close the test may be waiting on
      ::close(client);
      continue;
    }
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(target_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (server >= 0) ::close(server);
      ::close(client);
      continue;
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_shared<Conn>();
    conn->fd[0] = client;
    conn->fd[1] = server;
    std::lock_guard lock(mu_);
    conns_.push_back(conn);
    threads_.emplace_back([this, conn] { pump(conn); });
  }
}

void FaultProxy::pump(std::shared_ptr<Conn> conn) {
  std::vector<uint8_t> buf(64 * 1024);
  std::vector<uint8_t> out;
  while (!stop_ && !conn->closed.load()) {
    if (stall_) {
      ::usleep(5000);  // a silent link: read nothing, send nothing, keep the sockets open
      continue;
    }
    for (int dir = 0; dir < 2; ++dir) {  // held messages whose successor did not come
      out.clear();
      conn->splitter[dir].flush_late(*this, out);
      if (!out.empty() && !send_all(conn->fd[dir == kToServer ? 1 : 0], out.data(), out.size())) {
        conn->close_both();
      }
    }
    pollfd pfds[2] = {{conn->fd[0], POLLIN, 0}, {conn->fd[1], POLLIN, 0}};
    if (::poll(pfds, 2, 20) <= 0) continue;
    for (int side = 0; side < 2; ++side) {
      if (!(pfds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      // side 0 = bytes from the client = direction kToServer.
      const int dir = side == 0 ? kToServer : kToClient;
      const ssize_t n = ::recv(conn->fd[side], buf.data(), buf.size(), 0);
      if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        conn->close_both();
        break;
      }
      size_t take = static_cast<size_t>(n);
      bool cut = false;
      const uint64_t cut_offset = cut_offset_[dir].load();
      if (cut_offset != 0 && conn->count[dir] + take >= cut_offset) {
        uint64_t expected = cut_offset;
        if (cut_offset_[dir].compare_exchange_strong(expected, 0)) {
          // A connection already past the offset (cut_at set late) is cut at once.
          take = cut_offset > conn->count[dir] ? static_cast<size_t>(cut_offset - conn->count[dir]) : 0;
          cut = true;
        }
      }
      out.clear();
      const int dups = conn->splitter[dir].feed(buf.data(), take, dup_[dir].load(), *this,
                                                static_cast<Direction>(dir), out);
      duplicated_ += dups;
      faults_ += dups;
      conn->count[dir] += take;
      bytes_[dir] += take;
      const int to = side == 0 ? 1 : 0;
      if (!send_all(conn->fd[to], out.data(), out.size()) || cut) {
        if (cut) ++faults_;
        conn->close_both();
        break;
      }
    }
  }
  conn->close_both();
}

}  // namespace loyalty::testing
