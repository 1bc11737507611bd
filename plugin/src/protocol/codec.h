// JSON <-> domain values for contract section 2 (nlohmann-json). The only place that knows
// the wire format of requests and responses.
#pragma once

#include <string>
#include <string_view>

#include "domain/requests.h"
#include "domain/responses.h"
#include "domain/result.h"

namespace loyalty::protocol {

struct ParsedRequest {
  domain::Request request;
  std::string body_hash;  // hex SHA-256 of the canonical JSON (keys sorted, no spaces)
};

// Parses and validates one request. `default_branch` fills a missing "branch".
// Errors: invalid_json (not JSON, invalid UTF-8, a NUL byte, nesting deeper than 64, not an
// object), unknown_type (a "type" we do not know), invalid_event (everything else: missing
// or wrong-typed field, unknown field, negative amount, bad decimal or time), each naming
// the field by its JSON path ("lines[0].amount").
domain::Result<ParsedRequest> parse_request(std::string_view json,
                                            const std::string& default_branch);

// {"ok":true,"type":...,"id":...,<response fields>}
std::string encode_response(const domain::RequestHeader& header, const domain::Response& r);

// {"ok":false,"error":{"code":"...","field":"...","message":"..."}} (+ "id" when known)
std::string encode_error(const domain::Error& error, std::string_view request_id = {});

}  // namespace loyalty::protocol
