// FaultProxy against a plain TCP echo server: forwarding, a one-shot cut at a byte offset, a
// silent stall, duplication of complete websocket messages after the upgrade header, and
// dropped or reordered messages of one type.
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

std::string text_frame(const std::string& payload, bool fin = true, int opcode = 1) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  f += static_cast<char>(payload.size());  // < 126 here
  return f + payload;
}

TEST(FaultProxy, DropsAndReordersWholeMessagesOfOneType) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.reorder_messages(FaultProxy::kToServer, "push", 1);
  proxy.drop_messages(FaultProxy::kToServer, "entries", 1, R"("n":2)");
  const int fd = connect_to(proxy.port());
  const std::string header = "GET / HTTP/1.1\r\n\r\n";
  const std::string p1 = text_frame(R"({"first_seq":1,"type":"push"})");
  const std::string applied = text_frame(R"({"offset":3,"type":"applied"})");
  const std::string p2 = text_frame(R"({"first_seq":2,"type":"push"})");
  const std::string e1 = text_frame(R"({"type":"entries","n":1})");
  const std::string e2 = text_frame(R"({"type":"entries","n":2})");
  send_str(fd, header + p1 + applied + p2 + e1 + e2);
  // p1 waits for the next push; other messages pass it; the "entries" with n 2 is dropped.
  const std::string want = header + applied + p2 + p1 + e1;
  EXPECT_EQ(read_some(fd, want.size(), 2000), want);
  EXPECT_EQ(proxy.reordered_messages(), 1);
  EXPECT_EQ(proxy.dropped_messages(), 1);
  EXPECT_EQ(proxy.faults(), 2);
  ::close(fd);
}

TEST(FaultProxy, ReplaysACopyAfterTheNextMessageOfItsType) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.replay_messages(FaultProxy::kToServer, "push", 1);
  const int fd = connect_to(proxy.port());
  const std::string header = "GET / HTTP/1.1\r\n\r\n";
  const std::string p1 = text_frame(R"({"first_seq":1,"type":"push"})");
  const std::string p2 = text_frame(R"({"first_seq":2,"type":"push"})");
  send_str(fd, header + p1);
  EXPECT_EQ(read_some(fd, header.size() + p1.size(), 2000), header + p1);
  EXPECT_EQ(proxy.held_now(), 1);
  send_str(fd, p2);
  EXPECT_EQ(read_some(fd, p2.size() + p1.size(), 2000), p2 + p1);
  EXPECT_EQ(proxy.replayed_messages(), 1);
  EXPECT_EQ(proxy.held_now(), 0);
  ::close(fd);
}

TEST(FaultProxy, AHeldMessageWithoutSuccessorIsSentLate) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.reorder_messages(FaultProxy::kToServer, "push", 1);
  const int fd = connect_to(proxy.port());
  const std::string header = "GET / HTTP/1.1\r\n\r\n";
  const std::string p1 = text_frame(R"({"type":"push"})");
  send_str(fd, header + p1);
  EXPECT_EQ(read_some(fd, header.size() + 1, 100), header);  // held back
  EXPECT_EQ(read_some(fd, p1.size(), 3000), p1);              // then sent, not reordered
  EXPECT_EQ(proxy.reordered_messages(), 0);
  ::close(fd);
}

TEST(FaultProxy, AFragmentedMessageIsOneUnitAndControlFramesPass) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.drop_messages(FaultProxy::kToServer, "push", 1);
  const int fd = connect_to(proxy.port());
  const std::string header = "GET / HTTP/1.1\r\n\r\n";
  const std::string ping = std::string("\x89\x00", 2);
  const std::string first = text_frame(R"({"type":)", false, 1);
  const std::string last = text_frame(R"("push"})", true, 0);
  const std::string other = text_frame(R"({"type":"ack"})");
  send_str(fd, header + first + ping + last + other);
  EXPECT_EQ(read_some(fd, header.size() + ping.size() + other.size(), 2000), header + ping + other);
  EXPECT_EQ(proxy.dropped_messages(), 1);
  ::close(fd);
}

TEST(FaultProxy, StreamsThatAreNotHttpPassUntouched) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.drop_messages(FaultProxy::kToServer, "push", 1);
  const int fd = connect_to(proxy.port());
  // A TLS record would look like this: no HTTP start, so no framing, even after CRLFCRLF.
  const std::string tls = std::string("\x16\x03\x01\r\n\r\n", 7) + text_frame(R"({"type":"push"})");
  send_str(fd, tls);
  EXPECT_EQ(read_some(fd, tls.size(), 2000), tls);
  EXPECT_EQ(proxy.dropped_messages(), 0);
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
