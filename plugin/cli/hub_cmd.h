// `loyaltyctl hub ...`: the central program configuration and overdraw reports on the sync
// hub, over the hub's admin HTTP endpoints (docs/sync.md, "HTTP endpoints"). Kept apart from
// loyaltyctl.cc, which only registers it.
//
//   loyaltyctl hub config set program.toml --hub https://hub.example:8443 --token-file admin.tok
//   loyaltyctl hub config show --hub http://127.0.0.1:8443 --token-file admin.tok
//   loyaltyctl hub overdraws --hub ... --token-file ...
//
// https verifies the hub's certificate (system store or --ca-file) with host name check and
// SNI; http only to loopback addresses.
#pragma once

#include <functional>
#include <optional>

namespace CLI {
class App;
}

namespace loyalty::cli {

// Adds the `hub` subcommand to `app`. The returned function, called after parsing, runs it
// and gives its exit code, or nullopt when `hub` was not on the command line.
std::function<std::optional<int>()> register_hub_command(CLI::App& app);

}  // namespace loyalty::cli
