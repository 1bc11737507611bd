// The canonical text of a request and its hash, the idempotency fingerprint.
//
// Canonical text = nlohmann::json::dump() of the parsed document: object keys sorted
// bytewise, no whitespace, strings with only '"', '\\' and control characters escaped.
// `append_canonical` produces those exact bytes without going through the serializer's
// per-character path (a test checks the two agree). Thread-safe, no state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "protocol/request_json.h"

namespace loyalty::protocol {

// Appends the canonical text of `doc` (strings must be valid UTF-8, as the parser
// guarantees). Recursion depth equals the document's nesting depth (at most 64 for
// anything parse_request accepts).
void append_canonical(const nlohmann::json& doc, std::string& out);
// The same for parse_request's tree (request_json.h).
void append_canonical(const RequestJson& doc, std::string& out);

// Lowercase hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace loyalty::protocol
