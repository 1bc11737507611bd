// Wires a running plugin from its TOML file: settings, logger, ledger, service.
// Shared by the C ABI, loyaltyd and loyaltyctl so that all run the same code path.
#pragma once

#include <memory>
#include <string>

#include "app/clock.h"
#include "app/service.h"
#include "bootstrap/program_manager.h"
#include "config/settings.h"
#include "domain/result.h"

namespace spdlog {
class logger;
}

namespace loyalty::sync {
class SyncClient;
}

namespace loyalty::bootstrap {

struct OpenOptions {
  bool read_only = false;  // loyaltyctl report/verify: never writes the ledger
  // How often the program watcher looks for a version stored by another process
  // (program_manager.h); 0: no watcher (one-shot tools such as loyaltyctl).
  int64_t program_watch_ms = 1000;
  // Start the sync client when [sync] is configured (the plugin and loyaltyd; not loyaltyctl).
  bool start_sync = true;
  // Fill the balance projection with every account in the background after open
  // (LedgerOptions::preload_balances): the plugin and loyaltyd, not one-shot tools.
  bool preload_balances = true;
  // Requests write request records (ledger::LedgerOptions::request_log: held groups, each
  // request's record written before its work, and with synchronous = "full" synced while
  // its work runs; with "normal" not synced, as statement records were). The plugin:
  // a POS's calls come one at a time and each waits about one flush. loyaltyd turns it off:
  // with 8 workers at 500 requests/s its p99 was 9.3-10.3 ms against 1.4-2.3 ms without
  // (the checkpoints' bursts hold up the records' syncs; docs/performance.md, "stop 22").
  bool request_records = true;
  // The wall clock of the service, the program manager and the sync client (offline
  // staleness, hold deadlines, recorded_at_ms). Null: the system clock. Tests move time with it.
  std::shared_ptr<const app::Clock> clock;
};

class Runtime {
 public:
  ~Runtime();
  app::Service& service() { return *service_; }
  const config::Settings& settings() const { return *settings_; }
  std::shared_ptr<app::LedgerStore> store() { return store_; }
  std::shared_ptr<spdlog::logger> logger() { return logger_; }
  // The effective program and its changes (admin, hub); settings() above is the file's.
  ProgramManager& program() { return *program_; }
  sync::SyncClient* sync_client() { return sync_.get(); }  // null without [sync]

  // The error body of a failed open, as the ABI returns it.
  static domain::Result<std::unique_ptr<Runtime>> open(const std::string& config_path,
                                                       const OpenOptions& options = {});

 private:
  Runtime() = default;
  std::shared_ptr<const config::Settings> settings_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<app::LedgerStore> store_;
  std::unique_ptr<app::Service> service_;
  std::unique_ptr<ProgramManager> program_;
  std::unique_ptr<sync::SyncClient> sync_;  // with [sync]; stopped first on close
};

}  // namespace loyalty::bootstrap
