// Everything loyalty_open reads from its TOML file (contract section 6), as plain values.
#pragma once

#include <cstdint>
#include <string>

#include "domain/program.h"
#include "receipt/receipt.h"

namespace loyalty::config {

enum class Synchronous { kOff = 0, kNormal = 1, kFull = 2, kExtra = 3 };

struct SyncSettings {
  bool enabled = false;     // [sync] present
  std::string url;          // ws:// (loopback only) or wss://
  std::string token_file;   // absolute after loading
  std::string ca_file;      // optional CA bundle for wss (absolute)
  int64_t stale_after_seconds = 60;
  int64_t offline_redeem_allowance = 0;  // points per customer per day while offline
};

struct Settings {
  std::string source_path;  // the TOML file, absolute
  // [plugin]
  std::string branch;       // required
  std::string db_path;      // absolute (relative paths are relative to the TOML file)
  Synchronous synchronous = Synchronous::kFull;
  int64_t busy_timeout_ms = 5000;
  std::string log_path;     // empty: no log file (the plugin never writes to stdout)
  std::string log_level = "info";
  int64_t max_request_bytes = 16 * 1024 * 1024;
  int64_t quarantine_max_rows = 100000;
  // [program], [program.categories], [program.overrides.*]
  domain::ProgramConfig program;  // program.version is set: hash of its content
  // [receipt] (+ plugin.locale)
  receipt::ReceiptConfig receipt;
  // [sync]
  SyncSettings sync;
};

}  // namespace loyalty::config
