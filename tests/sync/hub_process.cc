#include "hub_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

namespace loyalty::testing {

namespace fs = std::filesystem;

HubProcess::HubProcess(fs::path dir) : dir_(std::move(dir)) {}

HubProcess::~HubProcess() { kill_hard(); }

std::string HubProcess::loopback_config(uint16_t port, const std::string& extra) {
  return "[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\n[storage]\ndb = \"hub.db\"\n[limits]\npush_rate_per_s = 10000\n" + extra;
}

uint16_t HubProcess::free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string HubProcess::binary() {
  return std::string(LOYALTY_BINARY_DIR) + "/sync/hub/loyalty-hub";
}

void HubProcess::write_config(const std::string& toml) const {
  std::ofstream(dir_ / "hub.toml") << toml;
}

std::string HubProcess::cli(const std::string& args) const {
  const std::string cmd =
      binary() + " " + args + " --config " + config() + " 2>>" + (dir_ / "hub.stderr").string();
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[256];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  if (p) ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

uint16_t HubProcess::start() {
  kill_hard();
  const fs::path port_file = dir_ / "port";
  fs::remove(port_file);
  const std::string bin = binary();
  const std::string cfg = config();
  const std::string pf = port_file.string();
  const std::string err = (dir_ / "hub.stderr").string();
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) ::dup2(fd, 2);
    const int null = ::open("/dev/null", O_WRONLY);  // never hold the test's stdout pipe
    if (null >= 0) ::dup2(null, 1);
    ::execl(bin.c_str(), bin.c_str(), "run", "--config", cfg.c_str(), "--port-file", pf.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  port_ = 0;
  for (int i = 0; i < 1000; ++i) {  // polling a real process, bounded at 10 s
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = static_cast<uint16_t>(port);
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited (bad configuration)
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return port_;
}

std::string HubProcess::http_get(const std::string& target) const {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port_);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {};
  }
  const std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string res;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    res.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t body = res.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : res.substr(body + 4);
}

void HubProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void HubProcess::signal_term() {
  if (pid_ > 0) ::kill(pid_, SIGTERM);
}

int HubProcess::wait_exit() {
  for (int i = 0; i < 1000 && pid_ > 0; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

}  // namespace loyalty::testing
