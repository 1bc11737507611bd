// `loyaltyctl program ...`: show, change and trace the branch's program while it runs
// (docs/admin.md). Every change is validated, shown as a diff, confirmed on a terminal
// (unless --yes), recorded with its actor in admin_audit and stored as a new program
// version that running plugins pick up without a restart.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace loyalty::cli {

// Registers `program` and its subcommands on `app`; `config` is the path of the TOML file
// as parsed by the top-level -c option (read when a command runs).
void add_program_commands(CLI::App& app, const std::string& config);

}  // namespace loyalty::cli
