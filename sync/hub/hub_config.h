// The hub's own TOML configuration (docs/sync.md "Hub configuration"), read with toml++.
// Strict: an unknown key or table is an error naming it ("limits.max_frame"), wrong types
// and ranges are errors naming the key. Relative paths are resolved against the file's
// directory.
//
//   [listen]   address = "0.0.0.0"  port = 8443
//   [storage]  db = "/var/lib/loyalty-hub/hub.db"
//   [tls]      cert_file = "/etc/loyalty-hub/hub.crt"  key_file = "/etc/loyalty-hub/hub.key"
//   [limits]   max_frame_bytes = 1048576  max_connections_per_branch = 1  push_rate_per_s = 100
//              io_threads = 2  fanout_interval_ms = 50  max_unapplied_frames = 4
//   [log]      file = "/var/log/loyalty-hub/hub.log"  level = "info"
//   [admin]    token_sha256 = "<64 hex>"
//   [branches.B01]  token_sha256 = "<64 hex>"
//
// Branch tokens normally live in the hub database (loyalty-hub token add); [branches.<id>]
// adds hashes managed by configuration tooling. Only SHA-256 hashes are ever stored.
//
// Thread-safety: pure functions. Never throw.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "domain/result.h"

namespace loyalty::sync::hub {

struct HubConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 8443;
  std::string db_path = "hub.db";
  std::string tls_cert_file;
  std::string tls_key_file;
  int64_t max_frame_bytes = 1024 * 1024;
  int max_connections_per_branch = 1;
  double push_rate_per_s = 100;
  int io_threads = 2;
  int64_t fanout_interval_ms = 50;  // fan-out tick (server.h ServerOptions)
  int max_unapplied_frames = 4;     // ENTRIES frames in flight to a branch (HubLimits)
  std::string log_file;  // empty: stderr
  std::string log_level = "info";
  std::map<std::string, std::string> token_sha256;  // branch id or "admin" -> hash
};

domain::Result<HubConfig> load_hub_config(const std::string& path);
domain::Result<HubConfig> parse_hub_config(std::string_view text, const std::string& source_path);

// A branch id: 1..64 of [A-Za-z0-9_-]; "hub" is reserved (hub-made entries), "admin" names
// the admin token.
bool valid_branch_id(std::string_view id);

}  // namespace loyalty::sync::hub
