// Helpers for the loyaltyd tests: a scratch directory with a config, an in-process daemon
// bound to 127.0.0.1 port 0, and a plain-socket HTTP client that can misbehave on purpose
// (half a header, broken chunking) and always times out instead of hanging.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/daemon.h"

namespace loyalty::daemon::test {

namespace fs = std::filesystem;
using nlohmann::json;

// Exit status of `command` run by the shell, its output thrown away; -1 if it did not exit.
inline int exit_code(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The stdout and stderr of `command`.
inline std::string output_of(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  std::string out;
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

struct HttpResponse {
  int status = 0;  // 0: the connection closed (or timed out) before a response
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  json doc() const { return json::parse(body, nullptr, false); }
};

// One TCP connection to the daemon.
class Conn {
 public:
  explicit Conn(uint16_t port, int timeout_ms = 10'000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (an interim 100 Continue counts as one).
  HttpResponse read() {
    HttpResponse r;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        return r;
      }
    }
    std::string head = buf_.substr(0, head_end);
    buf_.erase(0, head_end + 4);
    r.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      const size_t next = head.find("\r\n", pos + 2);
      const std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      pos = next;
    }
    const size_t length =
        r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length) {
      if (!fill()) {
        r.status = 0;
        return r;
      }
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view extra_headers = {}) {
    std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
    req += extra_headers;
    if (!body.empty() || method == "POST") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    if (!send(req)) {
      return {};
    }
    return read();
  }

  // True when the peer closed the connection (EOF or reset) before the receive timeout.
  bool closed_by_peer() {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

inline std::string sale(const std::string& id, const std::string& customer = "card:4000123",
                        const std::string& amount = "90.00") {
  return R"({"type":"sale.completed","id":")" + id +
         R"(","at":"2026-11-22T10:15:00-06:00","ticket":")" + id + R"(","customer":")" + customer +
         R"(","lines":[{"n":1,"sku":"CAFE","amount":")" + amount +
         R"("}],"tenders":[{"method":"cash","amount":")" + amount + R"("}]})";
}

inline constexpr const char* kBaseConfig = R"([plugin]
branch = "B01"
db = "ledger.db"
synchronous = "normal"
log = "loyalty.log"
[program]
point_value = "0.10"
earn_percent = "5"
)";

// A temporary directory holding loyalty.toml, the ledger and the drop folder, and the
// daemon running on it.
class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyaltyd-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    daemon_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes the config ([daemon] lines appended to the base) and starts the daemon.
  void start(const std::string& daemon_section = "", const std::string& extra = "") {
    std::ofstream(dir_ + "/loyalty.toml") << kBaseConfig << "[daemon]\nport = 0\n"
                                          << daemon_section << "\n"
                                          << extra;
    auto d = Daemon::open(dir_ + "/loyalty.toml", DropWatch::kManual);
    ASSERT_TRUE(d.ok()) << d.error().field << ": " << d.error().message;
    daemon_ = std::move(*d);
    auto st = daemon_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  void restart() {
    daemon_.reset();
    auto d = Daemon::open(dir_ + "/loyalty.toml", DropWatch::kManual);
    ASSERT_TRUE(d.ok()) << d.error().field << ": " << d.error().message;
    daemon_ = std::move(*d);
    ASSERT_TRUE(daemon_->start().ok());
  }

  uint16_t port() const { return daemon_->port(); }

  HttpResponse call(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view headers = {}) {
    Conn c(port());
    return c.request(method, target, body, headers);
  }

  // The first column of `sql`'s first row, read through SQLite as an admin would; -1 when
  // the ledger cannot be read.
  int64_t count(const std::string& sql) const {
    sqlite3* db = nullptr;
    int64_t n = -1;
    if (sqlite3_open_v2((dir_ + "/ledger.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
  }
  // Rows in the ledger's quarantine.
  int quarantined() const { return static_cast<int>(count("SELECT count(*) FROM quarantine")); }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace loyalty::daemon::test
