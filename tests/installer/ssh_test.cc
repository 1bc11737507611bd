// A rollout over ssh: the test starts its own sshd (Debian's openssh-server) on
// 127.0.0.1:<free port> as the current user, with a host key and an authorized key made
// here, and a config in a temporary folder (no system file is read or changed, except
// that sshd running as root needs its privilege-separation folder /run/sshd, created if
// missing, as the openssh-server package does at boot). loyalty-install copies the package
// tarball with scp and runs the package's own loyalty-install on the "remote" side, for two
// branches. Skipped, with the reason, when sshd or ssh are not installed or sshd cannot start.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "installer_test_support.h"

namespace loyalty::installer::testing {
namespace {

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

bool accepts(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

class Sshd {
 public:
  // Returns "" when running, else why not.
  std::string start(const fs::path& dir) {
    for (const char* p :
         {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/scp", "/usr/bin/ssh-keygen"}) {
      if (!fs::exists(p))
        return std::string(p) + " is not installed (apt-get install openssh-server openssh-client)";
    }
    if (geteuid() == 0 && !fs::exists("/run/sshd")) fs::create_directories("/run/sshd");
    for (const char* k : {"host_key", "client_key"}) {
      auto r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / k).string()});
      if (r.exit_code != 0) return "ssh-keygen failed: " + r.err;
    }
    fs::copy_file(dir / "client_key.pub", dir / "authorized_keys");
    port_ = free_port();
    write_file_atomic(
        dir / "sshd_config",
        "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " +
            (dir / "host_key").string() + "\nAuthorizedKeysFile " +
            (dir / "authorized_keys").string() + "\nPidFile " + (dir / "sshd.pid").string() +
            "\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin "
            "prohibit-password\nLogLevel ERROR\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n");  // scp uses SFTP
    log_ = dir / "sshd.log";
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
      execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-f", (dir / "sshd_config").c_str(), "-D", "-e",
            nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {  // up to 5 s for a real process to listen
      if (accepts(port_)) return "";
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "sshd exited: " + read_file(log_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "sshd did not listen within 5 s: " + read_file(log_);
  }
  ~Sshd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path log_;
};

TEST(SshRolloutTest, TwoBranchesOnARemoteHostThroughSshAndScp) {
  const fs::path dir = fresh_dir("ssh");
  Sshd sshd;
  const std::string why = sshd.start(dir);
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string user = getpwuid(geteuid())->pw_name;
  const fs::path pkg = make_package(dir / "packages", "1.0.0");
  const std::string opts =
      "\"-i\", \"" + (dir / "client_key").string() +
      "\", \"-o\", \"StrictHostKeyChecking=no\", \"-o\", \"UserKnownHostsFile=/dev/null\", "
      "\"-o\", \"LogLevel=ERROR\", \"-o\", \"ConnectTimeout=10\"";
  std::string m = "package = \"" + pkg.string() + "\"\ntemplate = \"" +
                  (data_dir() / "branch.toml.in").string() +
                  "\"\nbatch_size = 1\nssh = [\"ssh\", " + opts + "]\nscp = [\"scp\", " + opts +
                  "]\n" + "[defaults]\nearn = \"5\"\n";
  for (const char* id : {"R01", "R02"}) {
    fs::create_directories(dir / "remote" / "pos" / id);
    m += std::string("[[branch]]\nid = \"") + id + "\"\ntarget = \"ssh://" + user +
         "@127.0.0.1:" + std::to_string(sshd.port()) + (dir / "remote" / "branches" / id).string() +
         "\"\nvalues = { plugin_dir = \"" + (dir / "remote" / "pos" / id).string() +
         "\", sync_url = \"ws://127.0.0.1:9/v1/sync\", sync_token = \"token-" + id + "\" }\n";
  }
  write_file_atomic(dir / "m.toml", m);
  ProcessResult r = run({LOYALTY_INSTALL, "rollout", (dir / "m.toml").string(), "--json",
                         "--report", (dir / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  for (const char* id : {"R01", "R02"}) {
    const fs::path root = dir / "remote" / "branches" / id;
    const fs::path pos = dir / "remote" / "pos" / id;
    EXPECT_EQ(served_version(pos), "1.0.0") << id;
    EXPECT_TRUE(probe(pos, root, "card:1")["ok"].get<bool>());
    EXPECT_EQ(read_file(root / "etc" / "branch.token"), std::string("token-") + id + "\n");
    EXPECT_EQ(file_mode(root / "etc" / "branch.token"), 0600u);
  }
  for (const auto& b : j["branches"]) {
    EXPECT_EQ(b["status"], "installed") << b.dump();
    EXPECT_NE(b["target"].get<std::string>().find("ssh://"), std::string::npos);
  }
  // No temporary folders left behind on the remote side.
  for (const auto& e : fs::directory_iterator("/tmp")) {
    EXPECT_EQ(e.path().filename().string().rfind("loyalty-install.", 0), std::string::npos)
        << e.path();
  }
}

}  // namespace
}  // namespace loyalty::installer::testing
