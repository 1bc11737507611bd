// Requests that must parse, and the domain values they become.
#include <gtest/gtest.h>

#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

using domain::Money;
using domain::Points;
using domain::Quantity;

template <class T>
const T& parsed_as(const domain::Result<ParsedRequest>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : describe(r.error()));
  EXPECT_TRUE(r.ok() && std::holds_alternative<T>(r->request));
  return std::get<T>(r->request);
}

TEST(ProtocolRequest, ContractSale) {
  auto r = parse(kContractSale);
  const auto& s = parsed_as<domain::SaleCompleted>(r);
  EXPECT_EQ(s.h.type, "sale.completed");
  EXPECT_EQ(s.h.id, "B01-T1-000123");
  EXPECT_EQ(s.h.at, *domain::parse_rfc3339("2026-11-22T16:15:00Z"));
  EXPECT_EQ(s.h.at.offset_minutes, -360);
  EXPECT_EQ(s.h.branch, "B01");  // given, so the default B09 does not apply
  EXPECT_EQ(s.h.terminal, "T1");
  EXPECT_EQ(s.ticket, "000123");
  EXPECT_EQ(s.currency, "MXN");
  EXPECT_EQ(s.customer, "card:4000123");
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].n, 1);
  EXPECT_EQ(s.lines[0].sku, "CAFE-AMER");
  EXPECT_EQ(s.lines[0].category, "bebidas");
  EXPECT_EQ(s.lines[0].qty, Quantity::from_units(2));
  EXPECT_EQ(s.lines[0].amount, Money::from_units(90));
  EXPECT_EQ(s.lines[1].n, 2);
  EXPECT_EQ(s.lines[1].sku, "GIFT-100");
  EXPECT_EQ(s.lines[1].category, "gift-cards");
  EXPECT_EQ(s.lines[1].amount, Money::from_units(100));
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount, Money::from_units(200));
  EXPECT_EQ(s.tenders[0].change, Money::from_units(10));
  EXPECT_EQ(s.tenders[0].hold, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body_hash.size(), 64u);
  EXPECT_EQ(r->body_hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(ProtocolRequest, ContractRefund) {
  auto r = parse(kContractRefund);
  const auto& f = parsed_as<domain::RefundCompleted>(r);
  EXPECT_EQ(f.h.id, "B01-T1-R-77");
  EXPECT_EQ(f.h.branch, kDefaultBranch);
  EXPECT_EQ(f.ticket, "R-77");
  EXPECT_EQ(f.original_ticket, "000123");
  EXPECT_EQ(f.original_branch, "B01");
  EXPECT_EQ(f.customer, "card:4000123");
  EXPECT_EQ(f.currency, "");
  ASSERT_EQ(f.lines.size(), 1u);
  EXPECT_EQ(f.lines[0].n, std::optional<int64_t>(1));
  EXPECT_EQ(f.lines[0].qty, std::optional<Quantity>(Quantity::from_units(1)));
  EXPECT_EQ(f.lines[0].amount, std::optional<Money>(Money::from_units(45)));
  ASSERT_EQ(f.tenders.size(), 1u);
  EXPECT_EQ(f.tenders[0].amount, Money::from_units(45));
  EXPECT_EQ(f.tenders[0].change, Money{});
}

TEST(ProtocolRequest, ContractAuthorize) {
  auto r = parse(kContractAuthorize);
  const auto& a = parsed_as<domain::PointsAuthorize>(r);
  EXPECT_EQ(a.h.branch, kDefaultBranch);
  EXPECT_EQ(a.h.terminal, "");
  EXPECT_EQ(a.customer, "card:4000123");
  EXPECT_EQ(a.ticket, "000124");
  EXPECT_EQ(a.amount, Money::from_units(40));
}

TEST(ProtocolRequest, SaleDefaults) {
  // Line numbers default to position + 1, qty to 1, change to 0; lines may be empty;
  // null is the same as absent.
  auto r = parse(
      sale(R"({"amount":"1.5"},{"amount":"0","qty":"0.350","sku":null})",
           R"("customer":null,"tenders":[{"method":"points","amount":"1.50","hold":"H-1"}])"));
  const auto& s = parsed_as<domain::SaleCompleted>(r);
  EXPECT_EQ(s.customer, "");
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].n, 1);
  EXPECT_EQ(s.lines[1].n, 2);
  EXPECT_EQ(s.lines[0].qty, Quantity::from_units(1));
  EXPECT_EQ(s.lines[1].qty, Quantity::from_micros(350'000));
  EXPECT_EQ(s.lines[0].amount, Money::from_micros(1'500'000));
  EXPECT_EQ(s.lines[1].amount, Money{});
  EXPECT_EQ(s.tenders[0].hold, "H-1");
  EXPECT_EQ(s.tenders[0].change, Money{});

  auto empty = parse(sale(""));
  EXPECT_TRUE(parsed_as<domain::SaleCompleted>(empty).lines.empty());
  EXPECT_TRUE(parsed_as<domain::SaleCompleted>(empty).tenders.empty());
}

TEST(ProtocolRequest, ManyLinesWithExplicitNumbers) {
  std::string lines;
  for (int i = 0; i < 500; ++i) {
    if (i > 0) lines += ',';
    lines += R"({"n":)" + std::to_string(1000 - i) + R"(,"amount":"1.00"})";
  }
  auto r = parse(sale(lines));
  const auto& s = parsed_as<domain::SaleCompleted>(r);
  ASSERT_EQ(s.lines.size(), 500u);
  EXPECT_EQ(s.lines[499].n, 501);
}

TEST(ProtocolRequest, ReleaseAndVoid) {
  auto a = parse(request("points.release", R"("hold":"H-1")"));
  EXPECT_EQ(parsed_as<domain::PointsRelease>(a).hold, "H-1");
  auto b = parse(request("points.release", R"("ticket":"000124")"));
  EXPECT_EQ(parsed_as<domain::PointsRelease>(b).ticket, "000124");
  auto c = parse(request("sale.voided", R"("ticket":"000124","terminal":"T2")"));
  EXPECT_EQ(parsed_as<domain::SaleVoided>(c).ticket, "000124");
  EXPECT_EQ(parsed_as<domain::SaleVoided>(c).h.terminal, "T2");
}

TEST(ProtocolRequest, CustomerUpsert) {
  auto r = parse(request("customer.upsert",
                         R"("customer":"card:1","name":"Ana Ñúñez","email":"ana@example.com",
                            "phone":"+52 55 1234 5678","birthday":"2000-02-29","category":"gold",
                            "aliases":["phone:+525512345678","pos:77"])"));
  const auto& u = parsed_as<domain::CustomerUpsert>(r);
  EXPECT_EQ(u.customer, "card:1");
  EXPECT_EQ(u.name, std::optional<std::string>("Ana Ñúñez"));
  EXPECT_EQ(u.email, std::optional<std::string>("ana@example.com"));
  EXPECT_EQ(u.phone, std::optional<std::string>("+52 55 1234 5678"));
  EXPECT_EQ(u.birthday, std::optional<std::string>("2000-02-29"));
  EXPECT_EQ(u.category, std::optional<std::string>("gold"));
  EXPECT_EQ(u.aliases, (std::vector<std::string>{"phone:+525512345678", "pos:77"}));

  auto bare = parse(request("customer.upsert", R"("customer":"card:2","name":null)"));
  const auto& b = parsed_as<domain::CustomerUpsert>(bare);
  EXPECT_FALSE(b.name.has_value());
  EXPECT_FALSE(b.birthday.has_value());
  EXPECT_TRUE(b.aliases.empty());
}

TEST(ProtocolRequest, Queries) {
  auto b = parse(request("balance.query", R"("customer":"card:1")"));
  EXPECT_EQ(parsed_as<domain::BalanceQuery>(b).customer, "card:1");

  auto h = parse(request(
      "history.query",
      R"("customer":"card:1","from":"2026-01-01T00:00:00Z","to":"2026-12-31T23:59:59.5+01:00","limit":10000)"));
  const auto& q = parsed_as<domain::HistoryQuery>(h);
  EXPECT_EQ(q.from, std::optional(*domain::parse_rfc3339("2026-01-01T00:00:00Z")));
  ASSERT_TRUE(q.to.has_value());
  EXPECT_EQ(q.to->offset_minutes, 60);
  EXPECT_EQ(q.limit, 10000);
  auto d = parse(request("history.query", R"("customer":"card:1")"));
  EXPECT_EQ(parsed_as<domain::HistoryQuery>(d).limit, 1000);
  EXPECT_FALSE(parsed_as<domain::HistoryQuery>(d).from.has_value());

  auto i = parse(request("plugin.info"));
  EXPECT_EQ(parsed_as<domain::PluginInfo>(i).h.id, "x");
}

TEST(ProtocolRequest, AdjustAndTransfer) {
  auto a = parse(request(
      "points.adjust", R"("customer":"card:1","points":-5,"reason":"goodwill","operator":"ana")"));
  const auto& adj = parsed_as<domain::PointsAdjust>(a);
  EXPECT_EQ(adj.points, Points(-5));
  EXPECT_EQ(adj.reason, "goodwill");
  EXPECT_EQ(adj.operator_name, "ana");
  auto t = parse(
      request("points.transfer", R"("from":"card:1","to":"card:2","points":25,"reason":"family")"));
  const auto& tr = parsed_as<domain::PointsTransfer>(t);
  EXPECT_EQ(tr.from, "card:1");
  EXPECT_EQ(tr.to, "card:2");
  EXPECT_EQ(tr.points, Points(25));
  EXPECT_EQ(tr.reason, "family");
}

TEST(ProtocolRequest, IdentifierLimitsCountCharactersNotBytes) {
  std::string id;
  for (int i = 0; i < 128; ++i) id += "é";  // 128 characters, 256 bytes
  auto r = parse(R"({"type":"plugin.info","at":"2026-11-22T10:15:00Z","id":")" + id + "\"}");
  EXPECT_EQ(parsed_as<domain::PluginInfo>(r).h.id, id);
  auto e = error_of(R"({"type":"plugin.info","at":"2026-11-22T10:15:00Z","id":")" + id + "e\"}");
  EXPECT_EQ(e.field, "id");
}

TEST(ProtocolRequest, WhitespaceAndUnicodeEscapesAreFine) {
  auto r =
      parse(" \r\n\t" + request("balance.query", R"("customer":"card:\u00e9\ud83d\ude00")") + "\n");
  EXPECT_EQ(parsed_as<domain::BalanceQuery>(r).customer, "card:é\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace loyalty::protocol::test
