// The rules of contract section 3 on the pure domain: no SQLite, no JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "domain/earning.h"
#include "domain/fixed.h"
#include "domain/lots.h"
#include "domain/refunds.h"
#include "domain/time.h"

namespace loyalty::domain {
namespace {

Money m(const char* s) { return *Money::parse(s); }
Percent pct(const char* s) { return *Percent::parse(s); }

ProgramConfig program() {
  ProgramConfig p;
  p.point_value = m("0.10");
  p.earn_percent = pct("5");
  p.excluded_payment_methods = {"credit_card"};
  p.sku_overrides = {{"GIFT-100", pct("0")}, {"PROMO", pct("10")}};
  p.category_overrides = {{"tabaco", pct("0")}, {"comida", pct("7")}};
  p.customer_categories = {{"gold", pct("8")}};
  return p;
}

SaleLine line(int64_t n, const char* amount, std::string sku = "", std::string category = "") {
  return SaleLine{n, std::move(sku), std::move(category), Quantity::from_units(1), m(amount)};
}

Tender tender(std::string method, const char* amount, const char* change = "0") {
  return Tender{std::move(method), m(amount), m(change), ""};
}

SaleCompleted sale(std::vector<SaleLine> lines, std::vector<Tender> tenders) {
  SaleCompleted s;
  s.ticket = "1";
  s.customer = "card:1";
  s.lines = std::move(lines);
  s.tenders = std::move(tenders);
  return s;
}

Points earned(const ProgramConfig& p, const SaleCompleted& s, std::string category = "") {
  auto r = compute_earning(p, s, CustomerFacts{std::move(category), false, ""});
  EXPECT_TRUE(r.ok());
  return r->earned;
}

// ---- fixed point ------------------------------------------------------------------------

TEST(Fixed, ParsesPlainDecimals) {
  EXPECT_EQ(*parse_micros("90.00"), 90'000'000);
  EXPECT_EQ(*parse_micros("0.350"), 350'000);
  EXPECT_EQ(*parse_micros("0"), 0);
  EXPECT_EQ(*parse_micros("-1.5"), -1'500'000);
  EXPECT_EQ(*parse_micros("0.000001"), 1);
}

TEST(Fixed, RefusesWhatIsNotAPlainDecimal) {
  for (const char* bad : {"", "1e3", "+1", " 1", "1,000", "1.2345678", "abc", "1.", ".5x", "--1",
                          "1000000000000"}) {
    EXPECT_FALSE(parse_micros(bad).ok()) << bad;
  }
}

TEST(Fixed, Formats) {
  EXPECT_EQ(m("4.5").str(2), "4.50");
  EXPECT_EQ(m("-1.7").str(2), "-1.70");
  EXPECT_EQ(m("2.5").str_trimmed(0), "2.5");
  EXPECT_EQ(m("90").str_trimmed(2), "90.00");
}

// ---- time -------------------------------------------------------------------------------

TEST(Time, ParsesRfc3339WithOffsets) {
  auto a = parse_rfc3339("2026-11-22T10:15:00-06:00");
  auto b = parse_rfc3339("2026-11-22T16:15:00Z");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->unix_ms, b->unix_ms);
  EXPECT_EQ(format_rfc3339(*a), "2026-11-22T10:15:00-06:00");
  EXPECT_TRUE(parse_rfc3339("2026-11-22T10:15:00.250+05:30").ok());
  for (const char* bad : {"2026-02-30T10:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T10:15:00", "22/11/2026"}) {
    EXPECT_FALSE(parse_rfc3339(bad).ok()) << bad;
  }
}

TEST(Time, DateIsTheLocalDateOfTheOffset) {
  auto late = parse_rfc3339("2026-11-22T23:30:00-06:00");
  EXPECT_EQ(format_date(*late), "2026-11-22");
  EXPECT_EQ(format_date(late->plus_days(365)), "2027-11-22");
}

// ---- rule 1: a line's percent -----------------------------------------------------------

TEST(Rule1, SkuOverrideBeatsCategoryBeatsCustomerCategoryBeatsProgram) {
  const auto p = program();
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "PROMO", "comida")).percent, pct("10"));
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "X", "comida")).percent, pct("7"));
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "X", "bebidas")).percent, pct("8"));
  EXPECT_EQ(line_earning(p, "", line(1, "10", "X", "bebidas")).percent, pct("5"));
  EXPECT_EQ(line_earning(p, "unknown-category", line(1, "10")).percent, pct("5"));
}

TEST(Rule1, ZeroExcludesAndSaysWhy) {
  const auto p = program();
  EXPECT_EQ(line_earning(p, "", line(1, "100", "GIFT-100", "gift-cards")).excluded, LineExclusion::kSku);
  EXPECT_EQ(line_earning(p, "", line(1, "100", "CIG", "tabaco")).excluded, LineExclusion::kCategory);
}

// ---- rules 2-4: tender share, earning, points tenders --------------------------------

TEST(Rule3, ContractExample) {
  EXPECT_EQ(earned(program(), sale({line(1, "90.00")}, {tender("cash", "90.00")})), Points(45));
}

TEST(Rule3, ContractSaleWithGiftCardAndChange) {
  auto s = sale({line(1, "90.00", "CAFE-AMER", "bebidas"), line(2, "100.00", "GIFT-100", "gift-cards")},
                {tender("cash", "200.00", "10.00")});
  EXPECT_EQ(earned(program(), s), Points(45));
}

TEST(Rule3, SaleWhosePointsFloorToZero) {
  EXPECT_EQ(earned(program(), sale({line(1, "1.99")}, {tender("cash", "1.99")})), Points(0));
}

TEST(Rule3, RoundedOncePerSaleNotPerLine) {
  // Each line is worth 0.6 points; five lines are 3 points, not 0.
  auto s = sale({line(1, "1.20"), line(2, "1.20"), line(3, "1.20"), line(4, "1.20"), line(5, "1.20")}, {});
  EXPECT_EQ(earned(program(), s), Points(3));
}

TEST(Rule3, WeighedQuantities) {
  SaleLine bread{1, "PAN", "panaderia", *Quantity::parse("0.350"), m("31.47")};
  EXPECT_EQ(earned(program(), sale({bread}, {})), Points(15));  // 31.47 * 5% / 0.10 = 15.735
}

TEST(Rule2, ExcludedMethodEarnsOnlyTheRest) {
  auto s = sale({line(1, "100.00")}, {tender("credit_card", "60.00"), tender("cash", "40.00")});
  EXPECT_EQ(earned(program(), s), Points(20));  // 100 * 0.4 * 5% / 0.10
}

TEST(Rule2, ChangeIsSubtractedAndShareIsCappedAtOne) {
  auto s = sale({line(1, "90.00")}, {tender("cash", "500.00", "10.00")});
  EXPECT_EQ(earned(program(), s), Points(45));
}

TEST(Rule2, NoTendersMeansFullShare) {
  EXPECT_EQ(earned(program(), sale({line(1, "90.00")}, {})), Points(45));
}

TEST(Rule2, OnlyExcludedMethodEarnsNothing) {
  auto s = sale({line(1, "90.00")}, {tender("credit_card", "90.00")});
  auto b = compute_earning(program(), s, {});
  EXPECT_EQ(b->earned, Points(0));
  EXPECT_EQ(b->excluded_methods, std::vector<std::string>{"credit_card"});
}

TEST(Rule4, BlockMeansAnyPointsTenderEarnsZero) {
  auto s = sale({line(1, "90.00")}, {tender("points", "10.00"), tender("cash", "80.00")});
  auto b = compute_earning(program(), s, {});
  EXPECT_EQ(b->earned, Points(0));
  EXPECT_TRUE(b->blocked_by_points);
}

TEST(Rule4, EarnOnRemainderCountsPointsAsExcluded) {
  auto p = program();
  p.on_points_tender = PointsTenderPolicy::kEarnOnRemainder;
  auto s = sale({line(1, "90.00")}, {tender("points", "10.00"), tender("cash", "80.00")});
  EXPECT_EQ(earned(p, s), Points(40));  // 90 * 80/90 * 5% / 0.10
}

TEST(Rule1, CustomerCategoryRate) {
  EXPECT_EQ(earned(program(), sale({line(1, "100.00")}, {}), "gold"), Points(80));
}

// ---- rules 5 and 8 ----------------------------------------------------------------------

TEST(Rule5, RedeemCostRoundsUp) {
  EXPECT_EQ(redeem_cost(program(), m("40.00")), Points(400));
  EXPECT_EQ(redeem_cost(program(), m("40.01")), Points(401));
  EXPECT_EQ(redeem_cost(program(), m("0.001")), Points(1));
}

TEST(Rule8, PointsForValueRoundsDown) {
  EXPECT_EQ(points_for_value(program(), m("45.00")), Points(450));
  EXPECT_EQ(points_for_value(program(), m("45.09")), Points(450));
  EXPECT_EQ(value_of(program(), Points(45)), m("4.50"));
}

// ---- rule 7: clawback -------------------------------------------------------------------

SaleRecord record_of(const ProgramConfig& p, const SaleCompleted& s) {
  auto b = compute_earning(p, s, {});
  SaleRecord r;
  r.ticket = s.ticket;
  r.account_id = "A";
  r.earned = b->earned;
  for (size_t i = 0; i < s.lines.size(); ++i) {
    r.lines.push_back(SaleLineRecord{s.lines[i].n, s.lines[i].amount, s.lines[i].qty, b->lines[i].percent, Money{}});
  }
  return r;
}

RefundCompleted refund(std::vector<RefundLine> lines) {
  RefundCompleted r;
  r.ticket = "R";
  r.original_ticket = "1";
  r.lines = std::move(lines);
  return r;
}

RefundLine rline(int64_t n, Money amount) { return RefundLine{n, "", "", std::nullopt, amount}; }

// Applies refunds in order; returns the clawback of each.
std::vector<Points> apply_refunds(SaleRecord& rec, const std::vector<RefundCompleted>& refunds) {
  std::vector<Points> out;
  for (const auto& r : refunds) {
    auto d = clawback_for_refund(rec, r);
    EXPECT_TRUE(d.ok());
    rec.lines = d->lines_after;
    rec.clawed_back += d->clawback;
    out.push_back(d->clawback);
  }
  return out;
}

TEST(Rule7, FullRefundClawsBackExactlyWhatWasEarned) {
  const auto p = program();
  auto s = sale({line(1, "33.33"), line(2, "66.67", "X", "comida"), line(3, "10.00", "GIFT-100")}, {});
  auto rec = record_of(p, s);
  apply_refunds(rec, {refund({rline(1, m("33.33")), rline(2, m("66.67")), rline(3, m("10.00"))})});
  EXPECT_EQ(rec.clawed_back, rec.earned);
}

TEST(Rule7, ManyPartialRefundsInAnyOrderSumToExactlyEarned) {
  const auto p = program();
  auto s = sale({line(1, "99.99"), line(2, "12.34", "X", "comida"), line(3, "7.77")}, {tender("cash", "120.10")});
  const auto base = record_of(p, s);
  ASSERT_GT(base.earned, Points(0));
  // Split every line into odd parts.
  std::vector<RefundCompleted> parts;
  for (const auto& l : s.lines) {
    int64_t left = l.amount.micros();
    int64_t step = 1'230'000;
    while (left > 0) {
      const int64_t take = std::min(left, step);
      parts.push_back(refund({rline(l.n, Money::from_micros(take))}));
      left -= take;
      step += 10'000;
    }
  }
  const uint32_t seed = 20261122;
  std::mt19937 rng(seed);
  for (int round = 0; round < 50; ++round) {
    std::shuffle(parts.begin(), parts.end(), rng);
    auto rec = base;
    Points total{0};
    for (const auto& c : apply_refunds(rec, parts)) {
      total += c;
      ASSERT_LE(total, rec.earned) << "seed " << seed << " round " << round;
      ASSERT_GE(c, Points(0));
    }
    EXPECT_EQ(total, base.earned) << "seed " << seed << " round " << round;
  }
}

TEST(Rule7, OneCentStepsNeverClawBackMoreThanEarned) {
  const auto p = program();
  auto rec = record_of(p, sale({line(1, "2.00")}, {}));  // 1 point
  ASSERT_EQ(rec.earned, Points(1));
  Points total{0};
  for (int i = 0; i < 200; ++i) {
    for (auto c : apply_refunds(rec, {refund({rline(1, m("0.01"))})})) total += c;
    ASSERT_LE(total, Points(1));
  }
  EXPECT_EQ(total, Points(1));
}

TEST(Rule7, RefundBeyondTheLineIsCappedWithAWarning) {
  auto rec = record_of(program(), sale({line(1, "50.00")}, {}));
  auto d = clawback_for_refund(rec, refund({rline(1, m("80.00"))}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->clawback, rec.earned);
  EXPECT_FALSE(d->warnings.empty());
}

TEST(Rule7, LinesWithoutNumberAreAppliedInLineOrder) {
  auto rec = record_of(program(), sale({line(1, "50.00"), line(2, "50.00", "GIFT-100")}, {}));
  RefundLine no_n{std::nullopt, "", "", std::nullopt, m("50.00")};
  auto d = clawback_for_refund(rec, refund({no_n}));
  EXPECT_EQ(d->clawback, rec.earned);  // line 1 holds all the earning weight
}

TEST(Rule7, QtyOnlyRefundIsProRata) {
  SaleCompleted s = sale({SaleLine{1, "CAFE", "", Quantity::from_units(2), m("90.00")}}, {});
  auto rec = record_of(program(), s);
  RefundLine half{1, "", "", Quantity::from_units(1), std::nullopt};
  auto d = clawback_for_refund(rec, refund({half}));
  EXPECT_EQ(d->clawback, Points(22));  // floor(45 / 2)
}

TEST(Rule7, UnknownLineIsInvalid) {
  auto rec = record_of(program(), sale({line(1, "50.00")}, {}));
  auto d = clawback_for_refund(rec, refund({rline(9, m("1.00"))}));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().field, "lines[0].n");
}

// ---- rule 9 -----------------------------------------------------------------------------

TEST(Rule9, UnmatchedRefundIsPricedLikeASale) {
  auto r = refund({RefundLine{std::nullopt, "X", "bebidas", std::nullopt, m("90.00")}});
  r.tenders = {tender("cash", "90.00")};
  EXPECT_EQ(*clawback_at_rate(program(), r, CustomerFacts{"", false, ""}), Points(45));
  EXPECT_EQ(*clawback_at_rate(program(), r, CustomerFacts{"gold", false, ""}), Points(72));
}

TEST(Rule8, RefundToPointsRestoresFloor) {
  auto r = refund({rline(1, m("45.05"))});
  r.tenders = {tender("points", "45.05")};
  EXPECT_EQ(restored_by_refund(program(), r), Points(450));
  r.tenders = {tender("cash", "45.05")};
  EXPECT_EQ(restored_by_refund(program(), r), Points(0));
}

// ---- rule 6: lots -----------------------------------------------------------------------

Lot lot(std::string id, int64_t expires_day, int64_t remaining) {
  BusinessTime t{expires_day * 86'400'000, 0};
  return Lot{std::move(id), "A", t, t, Points(remaining), Points(remaining)};
}

TEST(Rule6, DebitsConsumeOldestExpiryFirst) {
  auto a = allocate_debit({lot("a", 1, 10), lot("b", 2, 10), lot("c", 3, 10)}, Points(15));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].lot_id, "a");
  EXPECT_EQ(a[0].points, Points(10));
  EXPECT_EQ(a[1].lot_id, "b");
  EXPECT_EQ(a[1].points, Points(5));
}

TEST(Rule6, ClawbackTakesItsOwnLotFirst) {
  auto a = allocate_debit({lot("a", 1, 10), lot("b", 2, 10)}, Points(4), "b");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].lot_id, "b");
}

TEST(Rule6, DebitBeyondAllLotsTakesWhatThereIs) {
  auto a = allocate_debit({lot("a", 1, 3)}, Points(10));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].points, Points(3));
}

TEST(Rule6, CreditFirstRepaysANegativeBalance) {
  EXPECT_EQ(lot_remaining_for_credit(Points(-30), Points(45)), Points(15));
  EXPECT_EQ(lot_remaining_for_credit(Points(-50), Points(45)), Points(0));
  EXPECT_EQ(lot_remaining_for_credit(Points(10), Points(45)), Points(45));
}

TEST(Rule6, LotsExpireAtTheirExpiryInstant) {
  auto lots = std::vector<Lot>{lot("a", 1, 10), lot("b", 2, 10)};
  EXPECT_EQ(expired_lots(lots, BusinessTime{86'400'000 - 1, 0}).size(), 0u);
  EXPECT_EQ(expired_lots(lots, BusinessTime{86'400'000, 0}).size(), 1u);
  EXPECT_EQ(expired_lots(lots, BusinessTime{3 * 86'400'000, 0}).size(), 2u);
}

}  // namespace
}  // namespace loyalty::domain
