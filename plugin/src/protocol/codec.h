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
// Errors: invalid_json (not JSON, invalid UTF-8, a NUL byte, nesting deeper than 64; the
// message gives the byte offset where known), unknown_type (a "type" we do not know; the
// message lists the known ones), invalid_event (everything else: valid JSON that is not an
// object, a key twice in one object, missing or wrong-typed field, unknown field, amount
// given as a JSON number, negative amount, bad decimal or time), each naming the field by
// its JSON path ("lines[0].amount"). Out of memory is unavailable. Never throws.
// `body_hash` is taken over the document as received, before "branch" is defaulted: key
// order and whitespace do not change it, any value does, and the configuration does not.
// `request_id`, when given, receives the request's "id" as soon as the document is an object
// with a well-formed one, also when the request then fails: error responses carry it.
// Thread-safe (no shared state).
domain::Result<ParsedRequest> parse_request(std::string_view json,
                                            const std::string& default_branch,
                                            std::string* request_id = nullptr);

// The contract JSON of `request` (section 2), such that parse_request(encode_request(r))
// gives back r: every member the parser reads is written, optional ones only when set, and
// "type" is the word of the variant's alternative (the header's `type` is not consulted).
// Validation is parse_request's job: a value it would refuse (a negative amount) is written
// as it is and refused there, so adapters' requests meet the same checks as a POS's.
// Throws only std::bad_alloc. Thread-safe (no shared state).
std::string encode_request(const domain::Request& request);

// {"ok":true,"type":...,"id":...,"branch":...,<response fields>}. Never throws; always
// valid UTF-8 JSON (invalid bytes in strings become U+FFFD).
std::string encode_response(const domain::RequestHeader& header, const domain::Response& r);

// {"ok":false,"id":...,"error":{"code":"...","field":"...","message":"..."}} ("id" only when
// non-empty). Never throws; always valid UTF-8 JSON.
std::string encode_error(const domain::Error& error, std::string_view request_id = {});

}  // namespace loyalty::protocol
