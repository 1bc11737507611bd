// loyaltyd assembled: the plugin's Runtime (settings, ledger, service, logger), the HTTP
// server and the drop folder, from one TOML file. main.cc adds the command line and the
// signals; the tests build the same object in-process.
//
// Thread-safety: open() and start() from one thread; stop() from any thread (a signal
// handler's io_context, a test); wait() from one thread. The destructor stops and waits.
#pragma once

#include <memory>
#include <string>

#include "bootstrap/runtime.h"
#include "daemon/admin_api.h"
#include "daemon/drop_folder.h"
#include "daemon/http_api.h"
#include "daemon/server.h"
#include "domain/result.h"

namespace spdlog {
class logger;
}

namespace loyalty::daemon {

enum class DropWatch {
  kPolling = 1,  // a thread polls the drop folder every daemon.drop_poll_ms
  kManual = 2,   // nobody polls: the caller calls drop_folder()->poll_once() (tests)
};

class Daemon {
 public:
  // Opens the runtime and checks what the plugin does not: every [adapters.<name>] is a
  // registered adapter, the token file is readable and not empty, the drop folder can be
  // created, the log file can be opened. Errors are kInvalidConfig (or the runtime's).
  static domain::Result<std::unique_ptr<Daemon>> open(const std::string& config_path,
                                                      DropWatch watch = DropWatch::kPolling);
  ~Daemon();

  // Listens and starts the drop folder.
  domain::Status start();
  uint16_t port() const { return server_->port(); }
  // Graceful: see Server::stop(); the drop folder finishes the file it is on.
  void stop();
  void wait();

  bootstrap::Runtime& runtime() { return *runtime_; }
  DropFolder* drop_folder() { return drop_.get(); }  // nullptr without daemon.drop_dir
  std::shared_ptr<spdlog::logger> logger() { return log_; }

 private:
  Daemon() = default;

  std::unique_ptr<bootstrap::Runtime> runtime_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<AdminApi> admin_;  // null without daemon.admin_password_file
  std::unique_ptr<Api> api_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<DropFolder> drop_;
  DropWatch watch_ = DropWatch::kPolling;
};

}  // namespace loyalty::daemon
