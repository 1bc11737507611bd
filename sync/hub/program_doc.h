// Validation of a central program document before the hub stores it: TOML with only the
// [program] and [receipt] tables, accepted by the branch's own config loader
// (plugin/src/config), so a document the hub pushes is one every branch can apply.
#pragma once

#include <string>

#include "domain/result.h"

namespace loyalty::sync::hub {

// kInvalidConfig naming the key ("program.earn_percent") when the document is not valid.
domain::Status validate_program_document(const std::string& document);

}  // namespace loyalty::sync::hub
