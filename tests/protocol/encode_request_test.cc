// encode_request: parse_request(encode_request(r)) gives back r, for every request type,
// with optional members both set and absent; and the contract's own examples survive
// parse -> encode -> parse unchanged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

using domain::BusinessTime;
using domain::Money;
using domain::Points;
using domain::Quantity;

Money money(const char* s) { return *Money::parse(s); }
Quantity qty(const char* s) { return *Quantity::parse(s); }
BusinessTime at(const char* s) { return *domain::parse_rfc3339(s); }

// Field-by-field equality, so that a member the encoder forgets fails by name.
void expect_same(const domain::RequestHeader& a, const domain::RequestHeader& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.at.unix_ms, b.at.unix_ms);
  EXPECT_EQ(a.at.offset_minutes, b.at.offset_minutes);
  EXPECT_EQ(a.branch, b.branch);
  EXPECT_EQ(a.terminal, b.terminal);
}
void expect_same(const std::vector<domain::Tender>& a, const std::vector<domain::Tender>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].method, b[i].method) << i;
    EXPECT_EQ(a[i].amount, b[i].amount) << i;
    EXPECT_EQ(a[i].change, b[i].change) << i;
    EXPECT_EQ(a[i].hold, b[i].hold) << i;
  }
}
void expect_same(const domain::SaleCompleted& a, const domain::SaleCompleted& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.ticket, b.ticket);
  EXPECT_EQ(a.currency, b.currency);
  EXPECT_EQ(a.customer, b.customer);
  ASSERT_EQ(a.lines.size(), b.lines.size());
  for (size_t i = 0; i < a.lines.size(); ++i) {
    EXPECT_EQ(a.lines[i].n, b.lines[i].n) << i;
    EXPECT_EQ(a.lines[i].sku, b.lines[i].sku) << i;
    EXPECT_EQ(a.lines[i].category, b.lines[i].category) << i;
    EXPECT_EQ(a.lines[i].qty, b.lines[i].qty) << i;
    EXPECT_EQ(a.lines[i].amount, b.lines[i].amount) << i;
  }
  expect_same(a.tenders, b.tenders);
}
void expect_same(const domain::PointsAuthorize& a, const domain::PointsAuthorize& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.customer, b.customer);
  EXPECT_EQ(a.ticket, b.ticket);
  EXPECT_EQ(a.amount, b.amount);
}
void expect_same(const domain::PointsRelease& a, const domain::PointsRelease& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.hold, b.hold);
  EXPECT_EQ(a.ticket, b.ticket);
}
void expect_same(const domain::SaleVoided& a, const domain::SaleVoided& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.ticket, b.ticket);
}
void expect_same(const domain::RefundCompleted& a, const domain::RefundCompleted& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.ticket, b.ticket);
  EXPECT_EQ(a.original_ticket, b.original_ticket);
  EXPECT_EQ(a.original_branch, b.original_branch);
  EXPECT_EQ(a.customer, b.customer);
  EXPECT_EQ(a.currency, b.currency);
  ASSERT_EQ(a.lines.size(), b.lines.size());
  for (size_t i = 0; i < a.lines.size(); ++i) {
    EXPECT_EQ(a.lines[i].n, b.lines[i].n) << i;
    EXPECT_EQ(a.lines[i].sku, b.lines[i].sku) << i;
    EXPECT_EQ(a.lines[i].category, b.lines[i].category) << i;
    EXPECT_EQ(a.lines[i].qty, b.lines[i].qty) << i;
    EXPECT_EQ(a.lines[i].amount, b.lines[i].amount) << i;
  }
  expect_same(a.tenders, b.tenders);
}
void expect_same(const domain::CustomerUpsert& a, const domain::CustomerUpsert& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.customer, b.customer);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.email, b.email);
  EXPECT_EQ(a.phone, b.phone);
  EXPECT_EQ(a.birthday, b.birthday);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.aliases, b.aliases);
}
void expect_same(const domain::BalanceQuery& a, const domain::BalanceQuery& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.customer, b.customer);
}
void expect_same(const domain::HistoryQuery& a, const domain::HistoryQuery& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.customer, b.customer);
  ASSERT_EQ(a.from.has_value(), b.from.has_value());
  ASSERT_EQ(a.to.has_value(), b.to.has_value());
  if (a.from) {
    EXPECT_EQ(a.from->unix_ms, b.from->unix_ms);
    EXPECT_EQ(a.from->offset_minutes, b.from->offset_minutes);
  }
  if (a.to) {
    EXPECT_EQ(a.to->unix_ms, b.to->unix_ms);
  }
  EXPECT_EQ(a.limit, b.limit);
}
void expect_same(const domain::PointsAdjust& a, const domain::PointsAdjust& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.customer, b.customer);
  EXPECT_EQ(a.points, b.points);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.operator_name, b.operator_name);
}
void expect_same(const domain::PointsTransfer& a, const domain::PointsTransfer& b) {
  expect_same(a.h, b.h);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.points, b.points);
  EXPECT_EQ(a.reason, b.reason);
}
void expect_same(const domain::PluginInfo& a, const domain::PluginInfo& b) {
  expect_same(a.h, b.h);
}

// Encodes, parses back (with a default branch that must not be used when the request
// names one) and compares.
template <class T>
void round_trip(const T& original) {
  const domain::Request request = original;
  const std::string json = encode_request(request);
  auto parsed = parse(json);
  ASSERT_TRUE(parsed.ok()) << describe(parsed.error()) << "\n" << json;
  ASSERT_TRUE(std::holds_alternative<T>(parsed->request)) << json;
  expect_same(original, std::get<T>(parsed->request));
  // Deterministic: the same request always has the same idempotency fingerprint.
  auto again = parse(encode_request(request));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(parsed->body_hash, again->body_hash);
}

domain::RequestHeader header(const char* type, const char* id) {
  domain::RequestHeader h;
  h.type = type;
  h.id = id;
  h.at = at("2026-11-22T10:15:00.250-06:00");
  h.branch = "B02";
  h.terminal = "T7";
  return h;
}

TEST(ProtocolEncodeRequest, SaleWithEveryMember) {
  domain::SaleCompleted s;
  s.h = header("sale.completed", "B02-T7-000123");
  s.ticket = "000123";
  s.currency = "MXN";
  s.customer = "card:4000123";
  s.lines.push_back({1, "CAFE-AMER", "bebidas", qty("2"), money("90.00")});
  s.lines.push_back({7, "QUESO", "", qty("0.350"), money("0.125")});
  s.lines.push_back({0, "", "", qty("0"), money("0")});
  s.tenders.push_back({"cash", money("200.00"), money("10.00"), ""});
  s.tenders.push_back({"points", money("40.00"), money("0"), "H-1"});
  round_trip(s);
}

TEST(ProtocolEncodeRequest, AnonymousSaleWithoutOptionalMembers) {
  domain::SaleCompleted s;
  s.h.type = "sale.completed";
  s.h.id = "x";
  s.h.at = at("2026-11-22T16:15:00Z");
  s.h.branch = kDefaultBranch;  // what the parser fills in for a request without a branch
  s.ticket = "1";
  s.lines.push_back({1, "", "", qty("1"), money("5.00")});
  round_trip(s);
  const std::string json = encode_request(s);
  EXPECT_EQ(json.find("customer"), std::string::npos) << json;
  EXPECT_EQ(json.find("tenders"), std::string::npos) << json;
  EXPECT_EQ(json.find("terminal"), std::string::npos) << json;
}

TEST(ProtocolEncodeRequest, RefundWithAndWithoutLineNumbers) {
  domain::RefundCompleted r;
  r.h = header("refund.completed", "B02-T7-R-77");
  r.ticket = "R-77";
  r.original_ticket = "000123";
  r.original_branch = "B01";
  r.customer = "card:4000123";
  r.currency = "MXN";
  domain::RefundLine by_number;
  by_number.n = 1;
  by_number.qty = qty("1");
  by_number.amount = money("45.00");
  domain::RefundLine by_sku;
  by_sku.sku = "CAFE-AMER";
  by_sku.category = "bebidas";
  by_sku.amount = money("3.50");
  domain::RefundLine qty_only;
  qty_only.n = 2;
  qty_only.qty = qty("0.5");
  r.lines = {by_number, by_sku, qty_only};
  r.tenders.push_back({"points", money("45.00"), money("0"), ""});
  round_trip(r);
}

TEST(ProtocolEncodeRequest, HoldsAndVoids) {
  domain::PointsAuthorize a;
  a.h = header("points.authorize", "A-1");
  a.customer = "card:4000123";
  a.ticket = "000124";
  a.amount = money("40.00");
  round_trip(a);
  a.ticket.clear();
  round_trip(a);

  domain::PointsRelease by_hold;
  by_hold.h = header("points.release", "R-1");
  by_hold.hold = "H-123";
  round_trip(by_hold);
  domain::PointsRelease by_ticket;
  by_ticket.h = header("points.release", "R-2");
  by_ticket.ticket = "000124";
  round_trip(by_ticket);

  domain::SaleVoided v;
  v.h = header("sale.voided", "V-1");
  v.ticket = "000124";
  round_trip(v);
}

TEST(ProtocolEncodeRequest, Customers) {
  domain::CustomerUpsert u;
  u.h = header("customer.upsert", "U-1");
  u.customer = "card:4000123";
  u.name = "Ana \"la\" Pérez\n";
  u.email = "";  // set but empty is not the same as absent for an upsert
  u.phone = "+52 55 1234 5678";
  u.birthday = "1990-05-17";
  u.category = "gold";
  u.aliases = {"phone:5512345678", "pos:77"};
  round_trip(u);
  domain::CustomerUpsert bare;
  bare.h = header("customer.upsert", "U-2");
  bare.customer = "pos:1";
  round_trip(bare);
}

TEST(ProtocolEncodeRequest, QueriesAdjustmentsTransfersInfo) {
  domain::BalanceQuery b;
  b.h = header("balance.query", "Q-1");
  b.customer = "card:4000123";
  round_trip(b);

  domain::HistoryQuery h;
  h.h = header("history.query", "Q-2");
  h.customer = "card:4000123";
  h.from = at("2026-01-01T00:00:00+05:30");
  h.to = at("2026-12-31T23:59:59Z");
  h.limit = 50;
  round_trip(h);
  h.from.reset();
  h.to.reset();
  h.limit = 1000;
  round_trip(h);

  domain::PointsAdjust adj;
  adj.h = header("points.adjust", "ADJ-1");
  adj.customer = "card:4000123";
  adj.points = Points(-250);
  adj.reason = "goodwill";
  adj.operator_name = "maria";
  round_trip(adj);

  domain::PointsTransfer t;
  t.h = header("points.transfer", "TR-1");
  t.from = "card:1";
  t.to = "card:2";
  t.points = Points(100);
  t.reason = "family";
  round_trip(t);

  domain::PluginInfo info;
  info.h = header("plugin.info", "I-1");
  round_trip(info);
}

// The type word comes from the alternative, so an adapter that forgets h.type still
// produces a valid request.
TEST(ProtocolEncodeRequest, TypeWordComesFromTheAlternative) {
  domain::SaleVoided v;
  v.h = header("", "V-2");
  v.ticket = "9";
  auto parsed = parse(encode_request(v));
  ASSERT_TRUE(parsed.ok()) << describe(parsed.error());
  EXPECT_EQ(domain::header_of(parsed->request).type, "sale.voided");
}

// A value parse_request refuses is not hidden by the encoder: the service refuses it.
TEST(ProtocolEncodeRequest, InvalidValuesReachTheParser) {
  domain::SaleCompleted s;
  s.h = header("sale.completed", "S-neg");
  s.ticket = "1";
  s.lines.push_back({1, "X", "", qty("1"), money("-1.00")});
  auto parsed = parse(encode_request(s));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, domain::ErrorCode::kInvalidEvent);
  EXPECT_EQ(parsed.error().field, "lines[0].amount");
}

// The contract examples: parse -> encode -> parse is the identity on the domain values.
TEST(ProtocolEncodeRequest, ContractExamplesSurviveReencoding) {
  for (const std::string& text : {kContractSale, kContractRefund, kContractAuthorize}) {
    auto first = parse(text);
    ASSERT_TRUE(first.ok()) << describe(first.error());
    std::visit([](const auto& r) { round_trip(r); }, first->request);
  }
}

}  // namespace
}  // namespace loyalty::protocol::test
