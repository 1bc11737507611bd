// `loyaltyctl customers ...`: find, enroll, alias, merge, export, erase (docs/admin.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace loyalty::cli {

void add_customers_commands(CLI::App& app, const std::string& config);

}  // namespace loyalty::cli
