// `loyaltyctl admin set-password`: writes the admin page's password file.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace loyalty::cli {

void add_admin_commands(CLI::App& app, const std::string& config);

}  // namespace loyalty::cli
