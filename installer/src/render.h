// Renders a branch's loyalty.toml from a template and the branch's values.
//
// Placeholders are {{name}} (letters, digits, '_'). Each value is escaped for a TOML basic
// string (the template puts the quotes). Errors name what is wrong:
//  - a placeholder with no value ("missing value for {{sync_url}} at line 7"),
//  - a value the template never uses, unless it is one the installer itself reads
//    (kInstallerKeys), which catches typos in manifests,
//  - a rendered file that is not valid TOML (with its line).
// When the values give sync_url and the template has no [sync] table, a [sync] section
// with url and token_file = "branch.token" is appended.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace loyalty::installer {

using Values = std::map<std::string, std::string>;

// Keys loyalty-install reads itself; a template need not use them.
extern const std::vector<std::string> kInstallerKeys;

// The file name of the hub token beside loyalty.toml.
inline constexpr const char* kTokenFile = "branch.token";

// Throws InstallError.
std::string render_config(const std::string& template_text, const Values& values,
                          const std::string& template_name);

}  // namespace loyalty::installer
