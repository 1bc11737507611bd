// FaultProxy against a plain TCP echo server: forwarding, a one-shot cut at a byte offset, a
// silent stall, and duplication of complete websocket frames after the upgrade header.
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace loyalty::testing {
namespace {

// Echoes every byte back, one connection at a time, until destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::listen(fd_, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        for (;;) {
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          ::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
        ::close(c);
      }
    });
  }
  ~EchoServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
};

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Reads until `want` bytes arrived, EOF, or `timeout_ms` of silence.
std::string read_some(int fd, size_t want, int timeout_ms) {
  std::string got;
  char buf[4096];
  while (got.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

void send_str(int fd, const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

TEST(FaultProxy, ForwardsBothWays) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  const int fd = connect_to(proxy.port());
  send_str(fd, "hello");
  EXPECT_EQ(read_some(fd, 5, 2000), "hello");
  EXPECT_EQ(proxy.bytes(FaultProxy::kToServer), 5u);
  EXPECT_EQ(proxy.faults(), 0);
  ::close(fd);
}

TEST(FaultProxy, CutsAtByteOffsetOnce) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.cut_at(FaultProxy::kToClient, 3);
  const int fd = connect_to(proxy.port());
  send_str(fd, "abcdef");
  EXPECT_EQ(read_some(fd, 6, 2000), "abc");  // then EOF
  EXPECT_EQ(proxy.faults(), 1);
  ::close(fd);
  const int fd2 = connect_to(proxy.port());  // one-shot: the next connection is clean
  send_str(fd2, "abcdef");
  EXPECT_EQ(read_some(fd2, 6, 2000), "abcdef");
  ::close(fd2);
}

TEST(FaultProxy, StallKeepsConnectionOpenButSilent) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  const int fd = connect_to(proxy.port());
  proxy.stall(true);
  send_str(fd, "xy");
  EXPECT_EQ(read_some(fd, 2, 100), "");
  EXPECT_EQ(proxy.open_connections(), 1);
  proxy.stall(false);
  EXPECT_EQ(read_some(fd, 2, 2000), "xy");
  ::close(fd);
}

TEST(FaultProxy, DuplicatesCompleteWebsocketDataFrames) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.duplicate_frames(FaultProxy::kToServer, 2);
  const int fd = connect_to(proxy.port());
  const std::string header = "GET / HTTP/1.1\r\n\r\n";
  const std::string text_frame = std::string("\x81\x02hi", 4);  // FIN text "hi", unmasked
  const std::string ping = std::string("\x89\x00", 2);          // control: not duplicated
  send_str(fd, header + text_frame + ping);
  const std::string want = header + text_frame + text_frame + text_frame + ping;
  EXPECT_EQ(read_some(fd, want.size(), 2000), want);
  EXPECT_EQ(proxy.duplicated_frames(), 2);
  ::close(fd);
}

TEST(FaultProxy, CutAllAndRefuse) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  const int fd = connect_to(proxy.port());
  send_str(fd, "a");
  EXPECT_EQ(read_some(fd, 1, 2000), "a");
  proxy.cut_all();
  EXPECT_EQ(read_some(fd, 1, 2000), "");
  ::close(fd);
  proxy.refuse(true);
  const int fd2 = connect_to(proxy.port());
  EXPECT_EQ(read_some(fd2, 1, 2000), "");
  ::close(fd2);
  EXPECT_EQ(proxy.faults(), 2);
}

}  // namespace
}  // namespace loyalty::testing
