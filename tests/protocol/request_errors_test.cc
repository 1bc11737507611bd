// Malformed requests: every error class, with the JSON path of the offending field.
#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

using domain::ErrorCode;

struct Case {
  std::string text;
  ErrorCode code;
  std::string field;
  std::string message_part;  // the message must contain this (may be empty)
};

void check(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const auto e = error_of(c.text);
    EXPECT_EQ(e.code, c.code) << c.text << "\n  -> " << describe(e);
    EXPECT_EQ(e.field, c.field) << c.text << "\n  -> " << describe(e);
    EXPECT_FALSE(e.message.empty()) << c.text;
    EXPECT_NE(e.message.find(c.message_part), std::string::npos)
        << c.text << "\n  -> " << describe(e) << "\n  wanted: " << c.message_part;
  }
}

TEST(ProtocolErrors, NotJson) {
  check({
      {"", ErrorCode::kInvalidJson, "", "not valid JSON"},
      {"nope", ErrorCode::kInvalidJson, "", "not valid JSON"},
      {R"({"type":)", ErrorCode::kInvalidJson, "", "line 1"},
      {R"({"type":"plugin.info"} x)", ErrorCode::kInvalidJson, "", ""},
      {R"({"type":"plugin.info",})", ErrorCode::kInvalidJson, "", ""},
      {R"({'type':'plugin.info'})", ErrorCode::kInvalidJson, "", ""},
      {"{\"type\":\"plugin.info\" /* c */}", ErrorCode::kInvalidJson, "", ""},
      {R"({"a":"\ud800"})", ErrorCode::kInvalidJson, "", ""},      // lone surrogate escape
      {"{\"a\":\"tab\there\"}", ErrorCode::kInvalidJson, "", ""},  // raw control character
  });
}

TEST(ProtocolErrors, NotAnObject) {
  check({
      {"[]", ErrorCode::kInvalidEvent, "", "JSON object, not an array"},
      {R"("just a string")", ErrorCode::kInvalidEvent, "", "not a string"},
      {"42", ErrorCode::kInvalidEvent, "", "not a number"},
      {"null", ErrorCode::kInvalidEvent, "", "not null"},
  });
}

TEST(ProtocolErrors, CommonFields) {
  check({
      {R"({"id":"x","at":"2026-11-22T10:15:00Z"})", ErrorCode::kInvalidEvent, "type", "required"},
      {R"({"type":5,"id":"x","at":"2026-11-22T10:15:00Z"})", ErrorCode::kInvalidEvent, "type",
       "must be a string, not a number"},
      {R"({"type":"","id":"x"})", ErrorCode::kInvalidEvent, "type", "empty"},
      {request("gift.sold"), ErrorCode::kUnknownType, "type", "gift.sold"},
      {request("Sale.Completed"), ErrorCode::kUnknownType, "type", "known types: sale.completed, "},
      {R"({"type":"balance.query","at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "required"},
      {R"({"type":"balance.query","id":"","at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "empty"},
      {R"({"type":"balance.query","id":7,"at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "must be a string"},
      {R"({"type":"balance.query","id":")" + std::string(129, 'i') +
           R"(","at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "128"},
      {R"({"type":"balance.query","id":"a\nb","at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "control"},
      {R"({"type":"balance.query","id":"x","customer":"c"})", ErrorCode::kInvalidEvent, "at",
       "required"},
      {R"({"type":"balance.query","id":"x","at":"2026-11-22 10:15","customer":"c"})",
       ErrorCode::kInvalidEvent, "at", "RFC 3339"},
      {R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00","customer":"c"})",
       ErrorCode::kInvalidEvent, "at", "offset"},
      {R"({"type":"balance.query","id":"x","at":"2026-02-30T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "at", "range"},
      {R"({"type":"balance.query","id":"x","at":1764000000,"customer":"c"})",
       ErrorCode::kInvalidEvent, "at", "must be an RFC 3339 time string"},
      {request("balance.query", R"("customer":"c","branch":"")"), ErrorCode::kInvalidEvent,
       "branch", "empty"},
      {request("balance.query", R"("customer":"c","branch":["B01"])"), ErrorCode::kInvalidEvent,
       "branch", "not an array"},
      {request("balance.query", R"("customer":"c","terminal":{})"), ErrorCode::kInvalidEvent,
       "terminal", "not an object"},
  });
}

TEST(ProtocolErrors, AmountsAreDecimalStrings) {
  const std::string why = "decimal strings";
  check({
      {sale(R"({"amount":90})"), ErrorCode::kInvalidEvent, "lines[0].amount", why},
      {sale(R"({"amount":1.5})"), ErrorCode::kInvalidEvent, "lines[0].amount", why},
      {sale(R"({"amount":"1","qty":2})"), ErrorCode::kInvalidEvent, "lines[0].qty", why},
      {sale("", R"("tenders":[{"method":"cash","amount":200}])"), ErrorCode::kInvalidEvent,
       "tenders[0].amount", why},
      {sale("", R"("tenders":[{"method":"cash","amount":"200","change":10.0}])"),
       ErrorCode::kInvalidEvent, "tenders[0].change", why},
      {request("points.authorize", R"("customer":"c","amount":40)"), ErrorCode::kInvalidEvent,
       "amount", why},
      {sale(R"({"amount":true})"), ErrorCode::kInvalidEvent, "lines[0].amount", "not a boolean"},
      {sale(R"({"amount":"1e3"})"), ErrorCode::kInvalidEvent, "lines[0].amount", "plain decimal"},
      {sale(R"({"amount":"+1"})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
      {sale(R"({"amount":" 1"})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
      {sale(R"({"amount":"1,00"})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
      {sale(R"({"amount":""})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
      {sale(R"({"amount":"1."})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
      {sale(R"({"amount":"1.0000001"})"), ErrorCode::kInvalidEvent, "lines[0].amount", "6 decimal"},
      {sale(R"({"amount":"1000000000000"})"), ErrorCode::kInvalidEvent, "lines[0].amount",
       "too large"},
      {sale(R"({"amount":"NaN"})"), ErrorCode::kInvalidEvent, "lines[0].amount", ""},
  });
}

TEST(ProtocolErrors, NegativeAmounts) {
  const std::string why = "must be zero or positive";
  check({
      {sale(R"({"amount":"-1"})"), ErrorCode::kInvalidEvent, "lines[0].amount", "refund.completed"},
      {sale(R"({"amount":"1"},{"amount":"-0.01"})"), ErrorCode::kInvalidEvent, "lines[1].amount",
       why},
      {sale(R"({"amount":"1","qty":"-2"})"), ErrorCode::kInvalidEvent, "lines[0].qty", why},
      // A negative zero is still a minus sign: the POS meant something negative.
      {sale(R"({"amount":"-0.00"})"), ErrorCode::kInvalidEvent, "lines[0].amount", why},
      {sale(R"({"amount":"1","qty":"-0"})"), ErrorCode::kInvalidEvent, "lines[0].qty", why},
      {sale("", R"("tenders":[{"method":"cash","amount":"-5"}])"), ErrorCode::kInvalidEvent,
       "tenders[0].amount", why},
      {sale("", R"("tenders":[{"method":"cash","amount":"5","change":"-1"}])"),
       ErrorCode::kInvalidEvent, "tenders[0].change", why},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1,"amount":"-45.00"}])"),
       ErrorCode::kInvalidEvent, "lines[0].amount", why},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1,"qty":"-1"}])"),
       ErrorCode::kInvalidEvent, "lines[0].qty", why},
      {request("points.authorize", R"("customer":"c","amount":"-1")"), ErrorCode::kInvalidEvent,
       "amount", "greater than zero"},  // zero is refused too: the message says so
      {request("points.authorize", R"("customer":"c","amount":"0.00")"), ErrorCode::kInvalidEvent,
       "amount", "greater than zero"},
  });
}

// Each amount is below 10^12 units, and so must be each total: ten tenders of 922337203685.48
// used to wrap the int64 sum of micro-units and earn nothing instead of 50 points.
TEST(ProtocolErrors, TotalsAboveTheLargestAmount) {
  const std::string max = "999999999999.999999";
  std::string tenders;
  for (int i = 0; i < 10; ++i) tenders += std::string(i ? "," : "") + R"({"method":"cash","amount":"922337203685.48"})";
  check({
      {sale("", R"("tenders":[)" + tenders + "]"), ErrorCode::kInvalidEvent, "tenders[1].amount",
       "the tenders add up to more than " + max},
      {sale(R"({"amount":"999999999999.99"},{"amount":"0.01"})"), ErrorCode::kInvalidEvent,
       "lines[1].amount", "the lines add up to more than " + max},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1,"amount":"600000000000"},)"
                                   R"({"n":2,"amount":"400000000000"}])"),
       ErrorCode::kInvalidEvent, "lines[1].amount", "the lines add up"},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1,"qty":"1"}],"tenders":[)" + tenders + "]"),
       ErrorCode::kInvalidEvent, "tenders[1].amount", "the tenders add up"},
  });
  // Just below the limit is fine.
  EXPECT_TRUE(parse(sale(R"({"amount":"999999999999.99"},{"amount":"0.009999"})")).ok());
}

TEST(ProtocolErrors, UnknownFields) {
  const std::string why = "unknown field";
  check({
      {request("balance.query", R"("customer":"c","extra":1)"), ErrorCode::kInvalidEvent, "extra",
       why},
      {request("plugin.info", R"("customer":"c")"), ErrorCode::kInvalidEvent, "customer", why},
      {request("balance.query", R"("customer":"c","Customer":"d")"), ErrorCode::kInvalidEvent,
       "Customer", why},
      {sale(R"({"amount":"1"},{"amount":"1","price":"2"})"), ErrorCode::kInvalidEvent,
       "lines[1].price", why},
      {sale("", R"("tenders":[{"method":"cash","amount":"1","card":"4111"}])"),
       ErrorCode::kInvalidEvent, "tenders[0].card", why},
      {sale("", R"("discount":"5")"), ErrorCode::kInvalidEvent, "discount", why},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1,"amount":"1","reason":"x"}])"),
       ErrorCode::kInvalidEvent, "lines[0].reason", why},
      {request("points.authorize", R"("customer":"c","amount":"1","points":10)"),
       ErrorCode::kInvalidEvent, "points", why},
  });
}

TEST(ProtocolErrors, DuplicateKeys) {
  check({
      {R"({"type":"balance.query","id":"x","id":"y","at":"2026-11-22T10:15:00Z","customer":"c"})",
       ErrorCode::kInvalidEvent, "id", "twice"},
      {sale(R"({"amount":"1"},{"amount":"1","amount":"2"})"), ErrorCode::kInvalidEvent,
       "lines[1].amount", "twice"},
      {sale("", R"("tenders":[{"method":"cash","amount":"1","method":"card"}])"),
       ErrorCode::kInvalidEvent, "tenders[0].method", "twice"},
  });
}

TEST(ProtocolErrors, WrongTypesAndShapes) {
  check({
      {request("sale.completed", R"("ticket":"1")"), ErrorCode::kInvalidEvent, "lines", "required"},
      {request("sale.completed", R"("ticket":"1","lines":{})"), ErrorCode::kInvalidEvent, "lines",
       "must be an array, not an object"},
      {request("sale.completed", R"("lines":[])"), ErrorCode::kInvalidEvent, "ticket", "required"},
      {request("sale.completed", R"("ticket":123,"lines":[])"), ErrorCode::kInvalidEvent, "ticket",
       "must be a string, not a number"},
      {sale(R"({"amount":"1"},"two")"), ErrorCode::kInvalidEvent, "lines[1]",
       "must be an object, not a string"},
      {sale(R"({"amount":"1"})", R"("tenders":[null])"), ErrorCode::kInvalidEvent, "tenders[0]",
       "not null"},
      {sale(R"({"amount":"1"})", R"("tenders":{"method":"cash"})"), ErrorCode::kInvalidEvent,
       "tenders", "must be an array"},
      {sale(R"({"qty":"1"})"), ErrorCode::kInvalidEvent, "lines[0].amount", "required"},
      {sale(R"({"n":"1","amount":"1"})"), ErrorCode::kInvalidEvent, "lines[0].n",
       "JSON integer, not a string"},
      {sale(R"({"n":1.0,"amount":"1"})"), ErrorCode::kInvalidEvent, "lines[0].n", "fractional"},
      {sale(R"({"n":-1,"amount":"1"})"), ErrorCode::kInvalidEvent, "lines[0].n",
       "zero or positive"},
      {sale(R"({"n":1,"amount":"1"},{"n":1,"amount":"2"})"), ErrorCode::kInvalidEvent, "lines[1].n",
       "appears twice"},
      {sale(R"({"amount":"1"},{"n":1,"amount":"2"})"), ErrorCode::kInvalidEvent, "lines[1].n",
       "appears twice"},
      {sale(R"({"amount":"1","sku":5})"), ErrorCode::kInvalidEvent, "lines[0].sku",
       "must be a string"},
      {sale("", R"("tenders":[{"amount":"5"}])"), ErrorCode::kInvalidEvent, "tenders[0].method",
       "required"},
      {sale("", R"("tenders":[{"method":"","amount":"5"}])"), ErrorCode::kInvalidEvent,
       "tenders[0].method", "empty"},
      {sale("", R"("tenders":[{"method":"cash"}])"), ErrorCode::kInvalidEvent, "tenders[0].amount",
       "required"},
      {sale("", R"("tenders":[{"method":"cash","amount":"5","change":"6"}])"),
       ErrorCode::kInvalidEvent, "tenders[0].change", "exceed"},
      {sale("", R"("customer":"")"), ErrorCode::kInvalidEvent, "customer", "empty"},
      {sale("", R"("customer":4000123)"), ErrorCode::kInvalidEvent, "customer", "must be a string"},
      {request("refund.completed", R"("ticket":"R","lines":[{"n":1}])"), ErrorCode::kInvalidEvent,
       "lines[0].amount", "amount or a qty"},
      {request("refund.completed", R"("ticket":"R")"), ErrorCode::kInvalidEvent, "lines",
       "required"},
      {request("refund.completed",
               R"("ticket":"R","lines":[],"tenders":[{"method":"cash","amount":"-1"}])"),
       ErrorCode::kInvalidEvent, "tenders[0].amount", ""},
      {request("points.authorize", R"("amount":"1")"), ErrorCode::kInvalidEvent, "customer",
       "required"},
      {request("points.release"), ErrorCode::kInvalidEvent, "hold", "hold or the ticket"},
      {request("points.release", R"("hold":"")"), ErrorCode::kInvalidEvent, "hold", "empty"},
      {request("sale.voided"), ErrorCode::kInvalidEvent, "ticket", "required"},
      {request("balance.query"), ErrorCode::kInvalidEvent, "customer", "required"},
  });
}

TEST(ProtocolErrors, CustomerReferences) {
  check({
      {request("balance.query", R"("customer":"card:\n1")"), ErrorCode::kInvalidEvent, "customer",
       "control"},
      {request("balance.query", R"("customer":"card:\u0085")"), ErrorCode::kInvalidEvent,
       "customer", "control"},
      {request("balance.query", R"("customer":"card:)" + std::string(124, '1') + "\""),
       ErrorCode::kInvalidEvent, "customer", "128"},
      {request("balance.query", R"("customer":"a\u0000b")"), ErrorCode::kInvalidEvent, "customer",
       "NUL"},
      {request("customer.upsert", R"("customer":"c","aliases":"phone:1")"),
       ErrorCode::kInvalidEvent, "aliases", "must be an array"},
      {request("customer.upsert", R"("customer":"c","aliases":["phone:1",2])"),
       ErrorCode::kInvalidEvent, "aliases[1]", "reference"},
      {request("customer.upsert", R"("customer":"c","aliases":[""])"), ErrorCode::kInvalidEvent,
       "aliases[0]", "empty"},
      {request("customer.upsert", R"("customer":"c","birthday":"17/05/1990")"),
       ErrorCode::kInvalidEvent, "birthday", "1990-05-17"},
      {request("customer.upsert", R"("customer":"c","birthday":"2023-02-29")"),
       ErrorCode::kInvalidEvent, "birthday", ""},
      {request("customer.upsert", R"("customer":"c","birthday":"1990-13-01")"),
       ErrorCode::kInvalidEvent, "birthday", ""},
      {request("customer.upsert", R"("customer":"c","birthday":"1990-5-17")"),
       ErrorCode::kInvalidEvent, "birthday", ""},
      {request("customer.upsert", R"("customer":"c","birthday":"1990-05-17T00:00:00Z")"),
       ErrorCode::kInvalidEvent, "birthday", ""},
      {request("customer.upsert",
               R"("customer":"c","name":)" + std::string("\"") + std::string(600, 'n') + "\""),
       ErrorCode::kInvalidEvent, "name", "512"},
      {request("points.transfer", R"("from":"card:1","to":"","points":1)"),
       ErrorCode::kInvalidEvent, "to", "empty"},
  });
}

TEST(ProtocolErrors, PointsAndQueries) {
  check({
      {request("points.adjust", R"("customer":"c","points":0,"reason":"x","operator":"o")"),
       ErrorCode::kInvalidEvent, "points", "not be zero"},
      {request("points.adjust", R"("customer":"c","points":1.5,"reason":"x")"),
       ErrorCode::kInvalidEvent, "points", "fractional"},
      {request("points.adjust", R"("customer":"c","points":5.0,"reason":"x")"),
       ErrorCode::kInvalidEvent, "points", "fractional"},
      {request("points.adjust", R"("customer":"c","points":"5","reason":"x")"),
       ErrorCode::kInvalidEvent, "points", "not a string"},
      {request("points.adjust", R"("customer":"c","points":18446744073709551615,"reason":"x")"),
       ErrorCode::kInvalidEvent, "points", "between"},
      {request("points.adjust", R"("customer":"c","points":-9223372036854775808,"reason":"x")"),
       ErrorCode::kInvalidEvent, "points", "between"},
      {request("points.adjust", R"("customer":"c","points":5)"), ErrorCode::kInvalidEvent, "reason",
       "required"},
      {request("points.adjust", R"("customer":"c","points":5,"reason":"")"),
       ErrorCode::kInvalidEvent, "reason", "empty"},
      // Contract section 2 names the operator among adjust's fields, none optional: an
      // adjustment nobody answers for is refused.
      {request("points.adjust", R"("customer":"c","points":5,"reason":"x")"),
       ErrorCode::kInvalidEvent, "operator", "required"},
      {request("points.adjust", R"("customer":"c","points":5,"reason":"x","operator":"")"),
       ErrorCode::kInvalidEvent, "operator", "empty"},
      {request("points.adjust", R"("points":5,"reason":"x")"), ErrorCode::kInvalidEvent, "customer",
       "required"},
      {request("points.transfer", R"("from":"a","to":"b","points":0)"), ErrorCode::kInvalidEvent,
       "points", "greater than zero"},
      {request("points.transfer", R"("from":"a","to":"b","points":-3)"), ErrorCode::kInvalidEvent,
       "points", "greater than zero"},
      {request("points.transfer", R"("from":"a","points":3)"), ErrorCode::kInvalidEvent, "to",
       "required"},
      {request("history.query", R"("customer":"c","limit":0)"), ErrorCode::kInvalidEvent, "limit",
       "greater than zero"},
      {request("history.query", R"("customer":"c","limit":10001)"), ErrorCode::kInvalidEvent,
       "limit", "between 1 and 10000"},
      {request("history.query", R"("customer":"c","from":"yesterday")"), ErrorCode::kInvalidEvent,
       "from", "RFC 3339"},
      {request("history.query",
               R"("customer":"c","from":"2026-02-01T00:00:00Z","to":"2026-01-01T00:00:00Z")"),
       ErrorCode::kInvalidEvent, "to", "before"},
  });
}

}  // namespace
}  // namespace loyalty::protocol::test
