// Helpers shared by the JSON translators (square, odoo): parsing without exceptions,
// field-path-aware readers, and exact conversions of foreign money into domain::Money.
//
// Internal to loyalty_adapters: it exposes nlohmann-json, which the library links PRIVATE,
// so only the adapters' own .cc files may include it.
// Thread-safety: free functions are pure; a Reader belongs to one translate() call.
// Failure: nothing here throws on input; errors are domain::Error values whose `field`
// is the JSON path of the offending value ("data.object.payment.amount_money.amount").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "domain/fixed.h"
#include "domain/result.h"
#include "domain/time.h"

namespace loyalty::adapters::json_util {

using nlohmann::json;

// The contract's limit on ids, tickets and customer references (protocol/codec.cc).
inline constexpr size_t kMaxIdChars = 128;
// Inputs nested deeper than this are refused before nlohmann builds a tree.
inline constexpr size_t kMaxDepth = 64;

// Decimal places of an ISO 4217 currency's minor unit: 0 (JPY, KRW, CLP, ...),
// 3 (KWD, BHD, OMR, JOD, TND, IQD, LYD), else 2. Case-insensitive.
int currency_decimals(std::string_view currency);

// Parses one JSON document. kInvalidJson with the byte offset when the bytes are not
// JSON, or nest deeper than kMaxDepth.
domain::Result<json> parse(std::string_view bytes);

// `minor` units of a currency with `decimals` places (Square's cents) as micro-units,
// exactly. kInvalidEvent when the value is 10^12 whole units or more.
domain::Result<int64_t> minor_units_to_micros(int64_t minor, int decimals);

// A JSON number or decimal string as micro-units rounded to `decimals` places (0..6).
// Integers and decimal strings are exact (a string with more places than `decimals` is
// rounded too). A float is read through its shortest round-trip decimal text (what
// JavaScript's JSON.stringify wrote: 1.04 reads "1.04", 0.1 + 0.2 reads
// "0.30000000000000004") and rounded half away from zero at `decimals` places, so the
// result never depends on binary noise below the currency's minor unit. NaN, infinities
// and magnitudes of 10^12 or more are refused (kInvalidEvent); so is anything else.
domain::Result<int64_t> number_to_micros(const json& v, int decimals);

// An RFC 3339 time, or a time without an offset ("2021-09-01 10:00:00", Odoo's ORM
// format) read as UTC. Times in UTC (naive or 'Z') carry `display_offset_minutes` as their
// offset (the instant is unchanged) so that the business day is the store's; a time
// written with an explicit numeric offset keeps it.
domain::Result<domain::BusinessTime> parse_time(std::string_view text,
                                                int32_t display_offset_minutes);

// Why `s` cannot be a contract id/ticket/customer reference, or nullptr.
const char* identifier_problem(std::string_view s);

// "a string", "a number", ... for messages.
std::string type_word(const json& v);

// `base` + "." + `key` (just `key` at the root).
std::string join(std::string_view base, std::string_view key);
// `base` + "[i]".
std::string index(std::string_view base, size_t i);

enum class Need { kRequired = 1, kOptional = 2 };

// A value in the document with its path.
struct Node {
  const json* v = nullptr;  // never null in a Node handed out by Reader
  std::string path;
};

// Typed, path-aware access. Every reader returns false after recording the first error
// (kInvalidEvent, field = the path); absent optional values leave `out` unchanged. A JSON
// null counts as absent.
class Reader {
 public:
  bool object(const Node& parent, std::string_view key, Need need, std::optional<Node>& out);
  bool array(const Node& parent, std::string_view key, Need need, std::optional<Node>& out);
  // A string; required strings must be non-empty.
  bool string(const Node& parent, std::string_view key, Need need, std::string& out);
  // A JSON integer (not a float, not a string).
  bool integer(const Node& parent, std::string_view key, Need need, std::optional<int64_t>& out);
  // number_to_micros on the member.
  bool decimal(const Node& parent, std::string_view key, Need need, int decimals,
               std::optional<int64_t>& micros);
  // An id-like string or JSON integer as text ("7", "uid-1").
  bool id_text(const Node& parent, std::string_view key, Need need, std::string& out);
  // The element `i` of an array node.
  Node element(const Node& array, size_t i) const;

  // The member or nullptr when absent or null.
  static const json* get(const Node& parent, std::string_view key);

  bool fail(std::string path, std::string message);
  bool fail_type(std::string path, const json& v, std::string_view expected);
  const domain::Error& error() const { return error_; }

 private:
  domain::Error error_;
};

}  // namespace loyalty::adapters::json_util
