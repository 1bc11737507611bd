// encode_facts (the `data` of a ledger entry) is written without a json tree; its bytes
// must stay those of the tree-based encoder it replaced, because entries.data is stored,
// synced and compared across branches. The old encoder is kept here as the oracle.
#include "protocol/sync_data.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "domain/fixed.h"
#include "domain/time.h"

namespace loyalty::protocol::test {
namespace {

using domain::Money;
using domain::Percent;
using domain::Points;
using domain::Quantity;
using nlohmann::json;

std::string dec(int64_t micros) { return domain::format_micros_trimmed(micros, 0); }

// The encoder before it stopped building a json tree (verbatim but for the name).
std::string tree_encode_facts(const EntryFacts& f) {
  json j = json::object();
  if (f.sale) {
    const domain::SaleRecord& s = *f.sale;
    json lines = json::array();
    for (const auto& l : s.lines) {
      lines.push_back({{"n", l.n},
                       {"amount", dec(l.amount.micros())},
                       {"qty", dec(l.qty.micros())},
                       {"percent", dec(l.percent.micros())},
                       {"refunded", dec(l.refunded.micros())}});
    }
    j["sale"] = {{"branch", s.branch},
                 {"ticket", s.ticket},
                 {"request_id", s.request_id},
                 {"account_id", s.account_id},
                 {"earn_entry_id", s.earn_entry_id},
                 {"earned", s.earned.value()},
                 {"redeemed", s.redeemed.value()},
                 {"at", domain::format_rfc3339(s.at)},
                 {"lines", lines}};
  }
  if (f.is_refund) {
    json r = {
        {"sale_branch", f.sale_branch}, {"sale_ticket", f.sale_ticket}, {"matched", f.matched}};
    json refunded = json::array();
    for (const auto& [n, amount] : f.refunded)
      refunded.push_back({{"n", n}, {"amount", dec(amount.micros())}});
    r["refunded"] = refunded;
    json lines = json::array();
    for (const auto& l : f.refund_lines) {
      json x = json::object();
      if (l.n) x["n"] = *l.n;
      if (l.qty) x["qty"] = dec(l.qty->micros());
      if (l.amount) x["amount"] = dec(l.amount->micros());
      lines.push_back(x);
    }
    r["lines"] = lines;
    r["target"] = f.target;
    if (f.restored != 0) r["restored"] = f.restored;
    j["refund"] = r;
  }
  if (f.is_void) j["void"] = {{"sale_branch", f.sale_branch}, {"sale_ticket", f.sale_ticket}};
  if (!f.ref.empty()) j["ref"] = f.ref;
  if (f.category) j["category"] = *f.category;
  return j.empty() ? std::string() : j.dump();
}

domain::SaleRecord sample_sale() {
  domain::SaleRecord s;
  s.branch = "B01";
  s.ticket = "000123";
  s.request_id = "B01-T1-000123";
  s.account_id = "A-0123456789ab";
  s.earn_entry_id = "B01/B01-T1-000123/earn";
  s.earned = Points(45);
  s.redeemed = Points(0);
  s.at = *domain::parse_rfc3339("2027-11-22T10:15:00-06:00");
  s.lines.push_back({1, Money::from_micros(55'000'000), Quantity::from_units(1),
                     Percent::from_units(5), Money{}});
  s.lines.push_back({2, Money::from_micros(210'500'000), Quantity::from_micros(1'500'000),
                     Percent::from_micros(7'500'000), Money::from_micros(10'000'000)});
  return s;
}

void expect_same(const EntryFacts& f) {
  const std::string want = tree_encode_facts(f);
  const std::string got = encode_facts(f);
  EXPECT_EQ(got, want);
  // And what it writes reads back.
  auto back = decode_facts(got);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(encode_facts(*back), got);
}

TEST(ProtocolSyncData, EmptyFactsAreEmptyText) {
  EXPECT_EQ(encode_facts(EntryFacts{}), "");
  expect_same(EntryFacts{});
}

TEST(ProtocolSyncData, EachKindMatchesTheTreeEncoder) {
  EntryFacts sale;
  sale.sale = sample_sale();
  expect_same(sale);

  EntryFacts anonymous_sale;
  anonymous_sale.sale = sample_sale();
  anonymous_sale.sale->account_id.clear();
  anonymous_sale.sale->earn_entry_id.clear();
  anonymous_sale.sale->lines.clear();
  expect_same(anonymous_sale);

  EntryFacts matched;
  matched.is_refund = true;
  matched.matched = true;
  matched.sale_branch = "B02";
  matched.sale_ticket = "T-9";
  matched.refunded = {{1, Money::from_micros(5'000'000)}, {3, Money::from_micros(1)}};
  matched.target = 12;
  expect_same(matched);
  EntryFacts to_points = matched;  // a refund back to points: what it restored travels too
  to_points.restored = 200;
  expect_same(to_points);
  EXPECT_NE(encode_facts(to_points).find("\"restored\":200"), std::string::npos);
  EXPECT_EQ(encode_facts(matched).find("restored"), std::string::npos);  // old entries unchanged

  EntryFacts unmatched = matched;
  unmatched.matched = false;
  unmatched.refunded.clear();
  domain::RefundLine all, none, qty_only;
  all.n = 2;
  all.qty = Quantity::from_units(2);
  all.amount = Money::from_micros(99'990'000);
  qty_only.qty = Quantity::from_micros(250'000);
  unmatched.refund_lines = {all, none, qty_only};
  unmatched.target = -3;
  expect_same(unmatched);

  EntryFacts voided;
  voided.is_void = true;
  voided.sale_branch = "B01";
  voided.sale_ticket = "000124";
  expect_same(voided);

  EntryFacts enroll;
  enroll.ref = "card:4000001";
  enroll.category = "";
  expect_same(enroll);
  enroll.category = "gold";
  expect_same(enroll);
  EntryFacts category_only;
  category_only.category = "silver";
  expect_same(category_only);
}

TEST(ProtocolSyncData, EscapesMatchTheTreeEncoder) {
  // Quotes, backslashes, every control character, DEL, and multi-byte UTF-8.
  std::string nasty = "\"q\" \\ / \x7f \xc3\xb1 \xe2\x82\xac \xf0\x9f\x98\x80";
  for (char c = 1; c < 0x20; ++c) nasty += c;
  EntryFacts f;
  f.sale = sample_sale();
  f.sale->ticket = nasty;
  f.sale->branch = "Sucursal Peñón";
  f.ref = nasty;
  f.category = nasty;
  f.is_void = true;
  f.sale_branch = nasty;
  f.sale_ticket = "tab\there";
  expect_same(f);
}

TEST(ProtocolSyncData, RandomFactsMatchTheTreeEncoder) {
  std::mt19937_64 rng(20261201);
  const std::vector<std::string> words = {"",     "B01", "a\"b",     "línea",
                                          "x\\y", "\n",  "T-000001", "\xe2\x82\xac"};
  auto word = [&] { return words[rng() % words.size()]; };
  auto micros = [&] { return static_cast<int64_t>(rng() % 2'000'000'000) - 100'000'000; };
  for (int round = 0; round < 500; ++round) {
    EntryFacts f;
    if (rng() % 2) {
      domain::SaleRecord s;
      s.branch = word();
      s.ticket = word();
      s.request_id = word();
      s.account_id = word();
      s.earn_entry_id = word();
      s.earned = Points(micros());
      s.redeemed = Points(micros());
      s.at = domain::BusinessTime{1'800'000'000'000 + micros(),
                                  static_cast<int32_t>(rng() % 1500) - 750};
      for (size_t i = rng() % 4; i > 0; --i) {
        s.lines.push_back({micros(), Money::from_micros(micros()), Quantity::from_micros(micros()),
                           Percent::from_micros(micros()), Money::from_micros(micros())});
      }
      f.sale = std::move(s);
    }
    f.is_refund = rng() % 3 == 0;
    f.is_void = rng() % 4 == 0;
    f.matched = rng() % 2;
    f.sale_branch = word();
    f.sale_ticket = word();
    for (size_t i = rng() % 3; i > 0; --i)
      f.refunded.emplace_back(micros(), Money::from_micros(micros()));
    for (size_t i = rng() % 3; i > 0; --i) {
      domain::RefundLine l;
      if (rng() % 2) l.n = micros();
      if (rng() % 2) l.qty = Quantity::from_micros(micros());
      if (rng() % 2) l.amount = Money::from_micros(micros());
      f.refund_lines.push_back(l);
    }
    f.target = micros();
    f.ref = rng() % 3 == 0 ? word() : "";
    if (rng() % 3 == 0) f.category = word();
    EXPECT_EQ(encode_facts(f), tree_encode_facts(f)) << "round " << round;
  }
}

}  // namespace
}  // namespace loyalty::protocol::test
