// The hub over real sockets on 127.0.0.1:0: the in-process Server for protocol behaviour
// (401 before upgrade, push/ack/fan-out, another branch's entries, malformed, binary and
// oversized frames, metrics), and the loyalty-hub binary for SIGKILL-restart and SIGTERM.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "sync/hub/hub_core.h"
#include "sync/hub/server.h"
#include "hub_process.h"
#include "test_client.h"

namespace loyalty::sync::hub {
namespace {

using loyalty::testing::HubProcess;
using loyalty::testing::TestClient;
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("hub_server_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Entry make_entry(const std::string& branch, int64_t seq, int64_t points = 10) {
  Entry e;
  e.entry_id = branch + "/r" + std::to_string(seq) + "/earn";
  e.origin_branch = branch;
  e.origin_seq = seq;
  e.node_epoch = "ep";
  e.account_id = "ACC-" + std::to_string(seq % 7);
  e.kind = "earn";
  e.points = points;
  e.request_id = "r" + std::to_string(seq);
  e.branch = branch;
  e.business_at = "2026-11-22T10:15:00Z";
  e.body_hash = "h" + std::to_string(seq);
  e.data = R"({"lines":[{"amount":"4.50","n":1}]})";  // as decode_frame re-serializes: keys sorted
  return e;
}

std::string push_text(const std::string& branch, int64_t first, int n) {
  Push p{first, first + n - 1, {}};
  for (int i = 0; i < n; ++i) p.entries.push_back(make_entry(branch, first + i));
  return encode(p);
}

std::string hello_text(const std::string& branch, int64_t applied = 0) {
  return encode(Hello{1, branch, "ep", 0, applied, "", "", 1});
}

class HubServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto store = HubStore::open((dir_ / "hub.db").string());
    ASSERT_TRUE(store.ok());
    HubLimits limits;
    hub_ = std::make_unique<HubCore>(std::move(*store), limits);
    for (const char* b : {"B01", "B02"}) {
      ASSERT_TRUE(
          hub_->store_for_tests().put_token_hash(b, sha256_hex(std::string("tok-") + b), 1).ok());
    }
    auto log = std::make_shared<spdlog::logger>("hub-test",
                                                std::make_shared<spdlog::sinks::null_sink_mt>());
    server_ = std::make_unique<Server>(*hub_, log, ServerOptions{});
    ASSERT_TRUE(server_->start().ok());
  }
  void TearDown() override {
    server_.reset();
    hub_.reset();
    fs::remove_all(dir_);
  }
  TestClient connect(const std::string& branch) {
    return TestClient::connect(server_->port(), branch, "tok-" + branch);
  }
  TestClient hello(const std::string& branch) {
    TestClient c = connect(branch);
    EXPECT_TRUE(c.ok()) << c.error;
    c.send(hello_text(branch));
    EXPECT_TRUE(c.read_until<Welcome>(5000).has_value());
    return c;
  }

  fs::path dir_;
  std::unique_ptr<HubCore> hub_;
  std::unique_ptr<Server> server_;
};

TEST_F(HubServerTest, BadTokenIsRefusedWith401BeforeUpgrade) {
  auto c = TestClient::connect(server_->port(), "B01", "tok-B02");
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.http_status, 401);
  auto d = TestClient::connect(server_->port(), "B09", "tok-B01");
  EXPECT_EQ(d.http_status, 401);
  auto e = TestClient::connect(server_->port(), "hub", "tok-B01");
  EXPECT_EQ(e.http_status, 401);
}

TEST_F(HubServerTest, PushIsAckedAndFannedOutToTheOtherBranch) {
  TestClient a = hello("B01");
  TestClient b = hello("B02");
  ASSERT_TRUE(a.send(push_text("B01", 1, 3)));
  auto ack = a.read_until<Ack>(5000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->acked_seq, 3);
  auto entries = b.read_until<Entries>(5000);
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->entries.size(), 3u);
  EXPECT_EQ(entries->entries[0].entry, make_entry("B01", 1));
  b.send(encode(Applied{entries->to_offset}));
  // The same batch again: re-acked, counted as duplicates, not fanned out again.
  a.send(push_text("B01", 1, 3));
  EXPECT_EQ(a.read_until<Ack>(5000)->acked_seq, 3);
  const auto m = nlohmann::json::parse(hub_->metrics_json(0, 0));
  EXPECT_EQ(m["duplicates"], 3);
  EXPECT_EQ(m["connected_branches"], 2);
}

TEST_F(HubServerTest, AnotherBranchsEntriesAreRefusedAndTheStreamClosed) {
  TestClient a = hello("B01");
  a.send(push_text("B02", 1, 1));
  auto err = a.read_until<ErrorFrame>(5000);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "not_your_entry");
  EXPECT_TRUE(err->fatal);
  EXPECT_EQ(a.wait_close(5000), 1008);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 0);
}

TEST_F(HubServerTest, MalformedFrameIsQuarantinedAndClosed) {
  TestClient a = hello("B01");
  a.send(R"({"type":"push","first_seq":"one"})");
  auto err = a.read_until<ErrorFrame>(5000);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "invalid");
  EXPECT_NE(err->message.find("first_seq"), std::string::npos);
  EXPECT_EQ(a.wait_close(5000), 1008);
  EXPECT_EQ(hub_->store_for_tests().quarantined(), 1);
  // The hub stays up for everyone else.
  TestClient b = hello("B02");
  EXPECT_TRUE(b.ok());
}

TEST_F(HubServerTest, BinaryFrameClosesWith1003) {
  TestClient a = hello("B01");
  a.send_binary(std::string("\x00\x01\x02", 3));
  EXPECT_EQ(a.wait_close(5000), 1003);
}

TEST_F(HubServerTest, OversizedFrameClosesWith1009) {
  TestClient a = hello("B01");
  a.send(std::string(kMaxFrameBytes + 10, ' '));
  EXPECT_EQ(a.wait_close(5000), 1009);
}

// An admin request over [limits] max_frame_bytes (a 2 MB program document) is answered 413
// naming the limit; the client saw only a connection reset.
TEST_F(HubServerTest, AnOversizedHttpBodyIsAnswered413) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string body(2 * 1024 * 1024, '#');
  const std::string request = "PUT /v1/config HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer x\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  EXPECT_EQ(sent, request.size()) << "the hub reset the connection while the body was sent";
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("max_frame_bytes"), std::string::npos) << answer;
}

TEST_F(HubServerTest, ANewerConnectionReplacesTheOlder) {
  TestClient a1 = hello("B01");
  TestClient a2 = hello("B01");
  EXPECT_EQ(a1.wait_close(5000), 1008);
  a2.send(push_text("B01", 1, 1));
  EXPECT_TRUE(a2.read_until<Ack>(5000).has_value());
}

// ---- the loyalty-hub binary -------------------------------------------------------------

TEST(HubBinary, SigkillLosesNothingAckedAndSigtermClosesGracefully) {
  const fs::path dir = fresh_dir("binary");
  HubProcess hub(dir);
  hub.write_config("[listen]\naddress = \"127.0.0.1\"\nport = 0\n[storage]\ndb = \"hub.db\"\n");
  const std::string t1 = hub.cli("token add B01");
  const std::string t2 = hub.cli("token add B02");
  ASSERT_EQ(t1.size(), 64u);
  uint16_t port = hub.start();
  ASSERT_NE(port, 0);
  {
    auto a = TestClient::connect(port, "B01", t1);
    ASSERT_TRUE(a.ok()) << a.error;
    a.send(hello_text("B01"));
    ASSERT_TRUE(a.read_until<Welcome>(5000));
    for (int64_t first = 1; first <= 40; first += 10) a.send(push_text("B01", first, 10));
    int64_t acked = 0;
    while (acked < 40) {
      auto ack = a.read_until<Ack>(5000);
      ASSERT_TRUE(ack.has_value());
      acked = ack->acked_seq;
    }
    hub.kill_hard();  // after the ACKs: every acked entry must survive
  }
  port = hub.start();
  ASSERT_NE(port, 0);
  auto a = TestClient::connect(port, "B01", t1);
  ASSERT_TRUE(a.ok()) << a.error;
  a.send(hello_text("B01"));
  auto w = a.read_until<Welcome>(5000);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->acked_seq, 40);
  EXPECT_EQ(w->head_offset, 40);
  auto b = TestClient::connect(port, "B02", t2);
  ASSERT_TRUE(b.ok());
  b.send(hello_text("B02"));
  ASSERT_TRUE(b.read_until<Welcome>(5000));
  int64_t got = 0;
  while (got < 40) {
    auto e = b.read_until<Entries>(5000);
    ASSERT_TRUE(e.has_value());
    for (size_t i = 0; i < e->entries.size(); ++i) {
      EXPECT_EQ(e->entries[i].entry.origin_seq, got + 1 + static_cast<int64_t>(i));
    }
    got += static_cast<int64_t>(e->entries.size());
    b.send(encode(Applied{e->to_offset}));
  }
  EXPECT_EQ(got, 40);
  // SIGTERM: both branches see 1001 (going away) and the process exits 0.
  hub.signal_term();
  EXPECT_EQ(a.wait_close(5000), 1001);
  EXPECT_EQ(b.wait_close(5000), 1001);
  EXPECT_EQ(hub.wait_exit(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loyalty::sync::hub
