// The loyaltyd binary as a child process: --help, and SIGTERM while a request is in flight
// (the request is answered, then the process exits 0). Every program's exit code for a bad
// command line (plugin/src/command_line/command_line.h). loyaltyctl: loyaltyctl_test.cc.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include "daemon_test_support.h"

namespace loyalty::daemon::test {
namespace {

TEST(DaemonBinary, HelpShowsTheExample) {
  FILE* p = ::popen(LOYALTYD_BINARY " --help", "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
    out.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_NE(out.find("loyaltyd --config /etc/loyalty/loyalty.toml"), std::string::npos) << out;
}

// docs/daemon.md: 2 for a bad command line (CLI11's own codes were 105-114), 0 for --help.
TEST(ProgramCommandLines, ABadCommandLineExitsTwoAndHelpZero) {
  std::istringstream programs(LOYALTY_PROGRAMS);
  int seen = 0;
  for (std::string program; programs >> program; ++seen) {
    EXPECT_EQ(exit_code(program + " --help"), 0) << program;
    EXPECT_EQ(exit_code(program + " --no-such-option"), 2) << program;
    EXPECT_EQ(exit_code(program + " --help-me-please x y"), 2) << program;
  }
  EXPECT_EQ(seen, 6);
  EXPECT_EQ(exit_code(LOYALTYD_BINARY " --config"), 2);      // a value missing
  EXPECT_EQ(exit_code(LOYALTYD_BINARY " positional"), 2);    // an extra argument
}

using DaemonProcess = DaemonFixture;

TEST_F(DaemonProcess, SigtermLetsTheRequestInFlightFinish) {
  std::ofstream(dir_ + "/loyalty.toml") << kBaseConfig << "[daemon]\nport = 0\n";
  const std::string port_file = dir_ + "/port";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(LOYALTYD_BINARY, "loyaltyd", "--config", (dir_ + "/loyalty.toml").c_str(),
            "--port-file", port_file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // A child process announces its port through the file (written by rename, so whole);
  // waiting for it is the only wait in this suite, bounded at 20 s.
  uint16_t port = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (port == 0 && std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    int p = 0;
    if (in >> p) {
      port = static_cast<uint16_t>(p);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_NE(port, 0) << "loyaltyd did not start";

  const std::string body = sale("SIG-1");
  Conn c(port);
  ASSERT_TRUE(
      c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  ASSERT_EQ(c.read().status, 100);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  ASSERT_TRUE(c.send(body));
  const HttpResponse r = c.read();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.doc()["earned"], 45);
  // "Connection: close" only when the daemon had seen the signal before it answered: the
  // signal is handled on the daemon's own loop, and the body may be read first. Either way
  // it then ends (waitpid below) with the request answered.
  if (auto it = r.headers.find("connection"); it != r.headers.end()) {
    EXPECT_EQ(it->second, "close");
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace loyalty::daemon::test
