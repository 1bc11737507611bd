// Everything loyalty_open reads from its TOML file (contract section 6), as plain values.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "domain/format_mapping.h"
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
  // Points a customer may redeem per business day while the hub is out of reach; unset, no
  // cap (contract section 4: a branch works fully offline; the hub reports overdraws).
  std::optional<int64_t> offline_redeem_allowance;
};

// [daemon]: loyaltyd, the HTTP front for POS systems that cannot load libloyalty.so
// (docs/configuration.md). The plugin itself ignores it.
struct DaemonSettings {
  std::string address = "127.0.0.1";  // an IP literal to listen on
  bool address_is_loopback = true;
  int64_t port = 8380;                // 0: any free port (tests)
  std::string token_file;  // absolute; required unless `address` is loopback; when set,
                           // requests need "Authorization: Bearer <the file's token>"
  int64_t max_body_bytes = 1024 * 1024;
  int64_t request_timeout_ms = 15'000;  // a request (header and body) must arrive within it
  int64_t io_threads = 2;               // network threads
  int64_t worker_threads = 8;           // threads running the service calls (their
                                        // writes share commits: see SqliteLedger)
  std::string drop_dir;                 // absolute; empty: no drop folder
  int64_t drop_poll_ms = 1000;
  std::string log_path;  // absolute; empty: the plugin's log ([plugin] log)
  int64_t log_max_bytes = 10 * 1024 * 1024;
  int64_t log_files = 5;
  // absolute; empty: no admin page. The admin login: "user:pbkdf2-sha256:<iterations>:
  // <salt hex>:<hash hex>" lines written by `loyaltyctl admin set-password` (docs/admin.md).
  std::string admin_password_file;
};

// The adapters an [adapters.<name>] section may name: the formats adapters/registry.cc
// lists. config does not link the adapters; loyaltyd checks that both lists agree.
inline constexpr std::array<std::string_view, 3> kAdapterNames = {"poslog", "square", "odoo"};

struct Settings {
  std::string source_path;  // the TOML file, absolute
  // [plugin]
  std::string branch;       // required
  std::string db_path;      // absolute (relative paths are relative to the TOML file)
  Synchronous synchronous = Synchronous::kFull;
  int64_t busy_timeout_ms = 5000;
  // Held groups (ledger::LedgerOptions::hold_commit_ms): a write is durable by its redo
  // record and COMMITted with the next ones within this many ms; 0: a COMMIT per write;
  // -1 (not set): 100 with synchronous = "normal"; with "full", 100 where the host writes
  // request records (bootstrap::OpenOptions::request_records: the plugin), else 0 (loyaltyd).
  int64_t commit_hold_ms = -1;
  std::string log_path;     // empty: no log file (the plugin never writes to stdout)
  std::string log_level = "info";
  int64_t max_request_bytes = 16 * 1024 * 1024;
  int64_t quarantine_max_rows = 10000;  // at most 64 KiB each: 640 MiB at the very worst
  // [program], [program.categories], [program.overrides.*]
  domain::ProgramConfig program;  // program.version is set: hash of its content
  // [receipt] (+ plugin.locale)
  receipt::ReceiptConfig receipt;
  // [sync]
  SyncSettings sync;
  // [daemon]
  DaemonSettings daemon;
  // [adapters.<name>]: how each foreign format maps onto the contract. A format without a
  // section maps with FormatMapping's defaults and `branch` = plugin.branch.
  std::map<std::string, domain::FormatMapping> adapters;
};

}  // namespace loyalty::config
