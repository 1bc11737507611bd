// Reads the TOML configuration (contract section 6) into Settings. Unknown keys and wrong
// types are invalid_config errors naming the key.
#pragma once

#include <string>
#include <string_view>

#include "config/settings.h"
#include "domain/result.h"

namespace loyalty::config {

domain::Result<Settings> load_settings(const std::string& path);

// `source_path` is the file the text came from: relative paths are resolved against its
// directory and messages name it.
domain::Result<Settings> parse_settings(std::string_view toml_text, const std::string& source_path);

// First 16 hex digits of the SHA-256 of the program's canonical content.
std::string program_version(const domain::ProgramConfig& program);

}  // namespace loyalty::config
