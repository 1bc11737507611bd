// HubProcess: the loyalty-hub binary as a child process for tests (real process, real
// sockets on 127.0.0.1). Shared by the hub, client and fault tests.
//
//   HubProcess hub(dir);                       // dir/hub.toml is the configuration
//   hub.write_config(HubProcess::loopback_config(HubProcess::free_port()));
//   std::string token = hub.cli("token add B1");   // `loyalty-hub token add B1 --config ...`
//   uint16_t port = hub.start();                // `run --port-file`; 0 when it did not start
//   hub.kill_hard();                            // SIGKILL (and reaped)
//   hub.signal_term(); int rc = hub.wait_exit();
//
// The child's stderr is appended to dir/hub.stderr (kept with a failed test's files). Every
// wait is bounded (10 s). The destructor SIGKILLs a running child. One thread per object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace loyalty::testing {

class HubProcess {
 public:
  explicit HubProcess(std::filesystem::path dir);
  ~HubProcess();
  HubProcess(const HubProcess&) = delete;
  HubProcess& operator=(const HubProcess&) = delete;

  // A hub.toml on 127.0.0.1:port (0 = any free port) with storage hub.db and a push rate
  // high enough for tests; `extra` is appended (more tables, e.g. [tls]).
  static std::string loopback_config(uint16_t port, const std::string& extra = {});
  // A port that was free a moment ago (for a hub that must come back on the same port).
  static uint16_t free_port();
  static std::string binary();

  void write_config(const std::string& toml) const;
  std::string config() const { return (dir_ / "hub.toml").string(); }
  const std::filesystem::path& dir() const { return dir_; }

  // Runs `loyalty-hub <args> --config <hub.toml>` and returns its stdout without trailing
  // newlines.
  std::string cli(const std::string& args) const;
  // Starts `loyalty-hub run` and waits for its port file; returns the port, 0 on failure.
  uint16_t start();
  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }
  // GET `target` over plain HTTP on 127.0.0.1:port() (e.g. "/metrics"); the body, "" on error.
  std::string http_get(const std::string& target) const;
  void kill_hard();
  void signal_term();
  // Waits for the exit; the exit status, 128 + signal, or -1 after 10 s.
  int wait_exit();

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace loyalty::testing
