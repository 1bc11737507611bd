// JSON requests and responses: the contract's examples, every error class with its field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "protocol/codec.h"

namespace loyalty::protocol {
namespace {

using domain::ErrorCode;
using nlohmann::json;

domain::Error error_of(std::string_view text) {
  auto r = parse_request(text, "B01");
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? domain::Error{} : r.error();
}

TEST(Protocol, ContractSaleParses) {
  auto r = parse_request(R"({"type":"sale.completed","id":"B01-T1-000123","at":"2026-11-22T10:15:00-06:00",
     "branch":"B01","terminal":"T1","ticket":"000123","currency":"MXN","customer":"card:4000123",
     "lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"},
              {"n":2,"sku":"GIFT-100","category":"gift-cards","qty":"1","amount":"100.00"}],
     "tenders":[{"method":"cash","amount":"200.00","change":"10.00"}]})", "B09");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& s = std::get<domain::SaleCompleted>(r->request);
  EXPECT_EQ(s.h.branch, "B01");
  EXPECT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[1].amount, domain::Money::from_units(100));
  EXPECT_EQ(s.tenders[0].change, domain::Money::from_units(10));
  EXPECT_EQ(r->body_hash.size(), 64u);
}

TEST(Protocol, DefaultsAndOtherTypes) {
  auto r = parse_request(R"({"type":"points.authorize","id":"a","at":"2026-11-22T10:15:00Z","customer":"card:1",
                             "ticket":"000124","amount":"40.00"})", "B09");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(domain::header_of(r->request).branch, "B09");
  auto refund = parse_request(R"({"type":"refund.completed","id":"B01-T1-R-77","at":"2026-11-22T10:15:00Z",
     "ticket":"R-77","original_ticket":"000123","original_branch":"B01","customer":"card:4000123",
     "lines":[{"n":1,"qty":"1","amount":"45.00"}],"tenders":[{"method":"cash","amount":"45.00"}]})", "B01");
  ASSERT_TRUE(refund.ok()) << refund.error().message;
  for (const char* ok : {
           R"({"type":"points.release","id":"r","at":"2026-11-22T10:15:00Z","hold":"H-1"})",
           R"({"type":"sale.voided","id":"v","at":"2026-11-22T10:15:00Z","ticket":"1"})",
           R"({"type":"customer.upsert","id":"c","at":"2026-11-22T10:15:00Z","customer":"card:1","name":"Ana","birthday":"1990-05-17","aliases":["phone:1"]})",
           R"({"type":"balance.query","id":"q","at":"2026-11-22T10:15:00Z","customer":"card:1"})",
           R"({"type":"history.query","id":"q","at":"2026-11-22T10:15:00Z","customer":"card:1","from":"2026-01-01T00:00:00Z","limit":10})",
           R"({"type":"points.adjust","id":"j","at":"2026-11-22T10:15:00Z","customer":"card:1","points":-5,"reason":"x","operator":"ana"})",
           R"({"type":"points.transfer","id":"t","at":"2026-11-22T10:15:00Z","from":"card:1","to":"card:2","points":5})",
           R"({"type":"plugin.info","id":"i","at":"2026-11-22T10:15:00Z"})"}) {
    auto p = parse_request(ok, "B01");
    EXPECT_TRUE(p.ok()) << ok << ": " << (p.ok() ? "" : p.error().field + " " + p.error().message);
  }
}

TEST(Protocol, ErrorsHaveTheirClassAndField) {
  const std::string h = R"("id":"x","at":"2026-11-22T10:15:00Z",)";
  struct Case {
    std::string text;
    ErrorCode code;
    std::string field;
  } cases[] = {
      {"nope", ErrorCode::kInvalidJson, ""},
      {"{\"type\":", ErrorCode::kInvalidJson, ""},
      {"\"just a string\"", ErrorCode::kInvalidEvent, ""},
      {"{" + h + R"("type":"gift.sold"})", ErrorCode::kUnknownType, "type"},
      {R"({"id":"x","at":"2026-11-22T10:15:00Z"})", ErrorCode::kInvalidEvent, "type"},
      {R"({"type":"balance.query","at":"2026-11-22T10:15:00Z","customer":"c"})", ErrorCode::kInvalidEvent, "id"},
      {R"({"type":"balance.query","id":"x","at":"2026-11-22 10:15","customer":"c"})", ErrorCode::kInvalidEvent, "at"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"amount":"-1"}]})", ErrorCode::kInvalidEvent, "lines[0].amount"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"amount":"1","qty":"-2"}]})", ErrorCode::kInvalidEvent, "lines[0].qty"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"amount":1.5}]})", ErrorCode::kInvalidEvent, "lines[0].amount"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"amount":"1e3"}]})", ErrorCode::kInvalidEvent, "lines[0].amount"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"amount":"1","colour":"red"}]})", ErrorCode::kInvalidEvent, "lines[0].colour"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[{"n":1,"amount":"1"},{"n":1,"amount":"2"}]})", ErrorCode::kInvalidEvent, "lines[1].n"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[],"tenders":[{"method":"cash","amount":"5","change":"6"}]})", ErrorCode::kInvalidEvent, "tenders[0].change"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":[],"tenders":[{"amount":"5"}]})", ErrorCode::kInvalidEvent, "tenders[0].method"},
      {"{" + h + R"("type":"sale.completed","lines":[]})", ErrorCode::kInvalidEvent, "ticket"},
      {"{" + h + R"("type":"sale.completed","ticket":"1"})", ErrorCode::kInvalidEvent, "lines"},
      {"{" + h + R"("type":"sale.completed","ticket":"1","lines":{}})", ErrorCode::kInvalidEvent, "lines"},
      {"{" + h + R"("type":"points.authorize","customer":"c","amount":"0"})", ErrorCode::kInvalidEvent, "amount"},
      {"{" + h + R"("type":"points.adjust","customer":"c","points":1.5,"reason":"x"})", ErrorCode::kInvalidEvent, "points"},
      {"{" + h + R"("type":"points.adjust","customer":"c","points":"5","reason":"x"})", ErrorCode::kInvalidEvent, "points"},
      {"{" + h + R"("type":"points.adjust","customer":"c","points":5})", ErrorCode::kInvalidEvent, "reason"},
      {"{" + h + R"("type":"customer.upsert","customer":"c","birthday":"17/05/1990"})", ErrorCode::kInvalidEvent, "birthday"},
      {"{" + h + R"("type":"points.release"})", ErrorCode::kInvalidEvent, "hold"},
      {"{" + h + R"("type":"balance.query","customer":"c","extra":1})", ErrorCode::kInvalidEvent, "extra"},
  };
  for (const auto& c : cases) {
    auto e = error_of(c.text);
    EXPECT_EQ(e.code, c.code) << c.text << " -> " << e.message;
    EXPECT_EQ(e.field, c.field) << c.text << " -> " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(Protocol, HostileBytes) {
  std::string nul = R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":"c"})";
  nul[5] = '\0';
  EXPECT_EQ(error_of(nul).code, ErrorCode::kInvalidJson);
  EXPECT_NE(error_of(nul).message.find("offset 5"), std::string::npos);
  EXPECT_EQ(error_of("{\"a\":\"\xc3\x28\"}").code, ErrorCode::kInvalidJson);
  EXPECT_EQ(error_of(std::string(100000, '[') + std::string(100000, ']')).code, ErrorCode::kInvalidJson);
  std::string huge = R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":")" +
                     std::string(10 << 20, 'a') + "\"}";
  EXPECT_EQ(error_of(huge).field, "customer");
}

TEST(Protocol, HashIgnoresKeyOrderAndWhitespaceOnly) {
  auto a = parse_request(R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":"c"})", "B");
  auto b = parse_request("{ \"customer\" : \"c\", \"at\":\"2026-11-22T10:15:00Z\",\n \"id\":\"x\",\"type\":\"balance.query\"}", "B");
  auto c = parse_request(R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":"d"})", "B");
  EXPECT_EQ(a->body_hash, b->body_hash);
  EXPECT_NE(a->body_hash, c->body_hash);
}

TEST(Protocol, ResponsesAndErrorsEncode) {
  domain::RequestHeader h{"sale.completed", "B01-1", {}, "B01", ""};
  domain::SaleResponse s;
  s.customer = "card:1";
  s.earned = domain::Points(45);
  s.balance = domain::Points(45);
  s.balance_value = domain::Money::from_micros(4'500'000);
  s.receipt = {"Puntos ganados: 45"};
  s.notes = {{domain::ZeroEarnReason::kExcludedProduct, "GIFT-100"}};
  auto j = json::parse(encode_response(h, s));
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["earned"], 45);
  EXPECT_EQ(j["balance_value"], "4.50");
  EXPECT_EQ(j["notes"][0]["reason"], "excluded_product");
  EXPECT_EQ(j["receipt"][0], "Puntos ganados: 45");
  auto e = json::parse(encode_error(domain::make_error(ErrorCode::kInvalidEvent, "lines[0].amount", "negative"), "x"));
  EXPECT_EQ(e["ok"], false);
  EXPECT_EQ(e["id"], "x");
  EXPECT_EQ(e["error"]["code"], "invalid_event");
  EXPECT_EQ(e["error"]["field"], "lines[0].amount");
  // Invalid UTF-8 in a message never breaks the JSON.
  auto bad = encode_error(domain::make_error(ErrorCode::kInternal, "", "bad \xff byte"));
  EXPECT_FALSE(json::parse(bad, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace loyalty::protocol
