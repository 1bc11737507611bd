// Helpers shared by the protocol tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/codec.h"

namespace loyalty::protocol::test {

inline constexpr const char* kDefaultBranch = "B09";

// The three examples of contract section 2, verbatim except for "at" where the contract
// elides it.
inline const std::string kContractSale =
    R"({"type":"sale.completed","id":"B01-T1-000123","at":"2026-11-22T10:15:00-06:00",
 "branch":"B01","terminal":"T1","ticket":"000123","currency":"MXN",
 "customer":"card:4000123",
 "lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"},
          {"n":2,"sku":"GIFT-100","category":"gift-cards","qty":"1","amount":"100.00"}],
 "tenders":[{"method":"cash","amount":"200.00","change":"10.00"}]})";

inline const std::string kContractRefund =
    R"({"type":"refund.completed","id":"B01-T1-R-77","at":"2026-11-22T12:00:00-06:00","ticket":"R-77",
 "original_ticket":"000123","original_branch":"B01","customer":"card:4000123",
 "lines":[{"n":1,"qty":"1","amount":"45.00"}],
 "tenders":[{"method":"cash","amount":"45.00"}]})";

inline const std::string kContractAuthorize =
    R"({"type":"points.authorize","id":"B01-T1-000124-A","at":"2026-11-22T10:20:00-06:00","customer":"card:4000123","ticket":"000124","amount":"40.00"})";

// `{"type":<type>,"id":"x","at":"2026-11-22T10:15:00Z",<rest>}`
inline std::string request(std::string_view type, std::string_view rest = {}) {
  std::string s = R"({"type":")";
  s += type;
  s += R"(","id":"x","at":"2026-11-22T10:15:00Z")";
  if (!rest.empty()) {
    s += ',';
    s += rest;
  }
  s += '}';
  return s;
}

// A sale around the given lines (and optional extra top-level members).
inline std::string sale(std::string_view lines, std::string_view extra = {}) {
  std::string rest = R"("ticket":"1","lines":[)";
  rest += lines;
  rest += ']';
  if (!extra.empty()) {
    rest += ',';
    rest += extra;
  }
  return request("sale.completed", rest);
}

inline domain::Result<ParsedRequest> parse(std::string_view text) {
  return parse_request(text, kDefaultBranch);
}

// The error of a request that must fail (a failed expectation otherwise).
inline domain::Error error_of(std::string_view text) {
  auto r = parse(text);
  EXPECT_FALSE(r.ok()) << "accepted: " << text.substr(0, 300);
  return r.ok() ? domain::Error{} : r.error();
}

inline std::string describe(const domain::Error& e) {
  return std::string(domain::error_code_word(e.code)) + " [" + e.field + "] " + e.message;
}

}  // namespace loyalty::protocol::test
