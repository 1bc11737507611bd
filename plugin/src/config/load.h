// Reads the TOML configuration (contract section 6, plus the extensions documented in
// docs/configuration.md) into Settings. This file and load.cc are the only places that
// know about toml++.
//
// Strict by design: unknown keys at every level, wrong types, out-of-range values and
// amounts written as TOML floats are errors, never silent defaults. Every error is
// ErrorCode::kInvalidConfig with `field` set to the dotted key ("program.earn_percent",
// "program.overrides.sku.GIFT-100", "receipt.sale_template[2]"; empty for a file that
// cannot be read or parsed) and a message that says what is wrong, with the TOML line
// when it is known.
//
// Thread-safety: the functions are pure apart from reading the file (load_settings) and
// the current directory (to make a relative `source_path` absolute); call them from any
// thread. They never throw: unexpected failures (out of memory) are kInternal errors.
#pragma once

#include <string>
#include <string_view>

#include "config/settings.h"
#include "domain/program.h"
#include "domain/result.h"

namespace loyalty::config {

// Reads and parses the file at `path` (see parse_settings). A missing or unreadable file
// is an error whose message names the path.
domain::Result<Settings> load_settings(const std::string& path);

// Parses TOML text. `source_path` is the file the text came from: relative paths inside
// it (plugin.db, plugin.log, sync.token_file, sync.ca_file, daemon.token_file,
// daemon.drop_dir, daemon.log) are resolved against its
// directory and every path in the result is absolute and normalized. Only plugin.branch
// is required; everything else has the defaults of settings.h and domain/program.h.
// settings.program.version is set with program_version().
domain::Result<Settings> parse_settings(std::string_view toml_text, const std::string& source_path);

// The program's identity: the first 16 hex digits (lowercase) of the SHA-256 of a
// canonical text dump of every program field, sorted by field name. Amounts and percents
// enter as exact micro-units, so "5" and "5.0" are the same program; `version` itself is
// not part of it. Any change to an earning, redeeming or refunding rule changes it;
// receipt, sync and [plugin] settings do not.
std::string program_version(const domain::ProgramConfig& program);

}  // namespace loyalty::config
