// `loyaltyctl admin set-password`: writes the admin page's password file.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace loyalty::cli {

void add_admin_commands(CLI::App& app, const std::string& config);

}  // namespace loyalty::cli
