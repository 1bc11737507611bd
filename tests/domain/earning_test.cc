// Rules 1-5 and 8 of contract section 3: what a sale earns and what points are worth.
#include "domain/earning.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "domain/promotions.h"
#include "domain_test_support.h"

namespace loyalty::domain {
namespace {

__extension__ typedef __int128 i128;

using testing::customer;
using testing::example_program;
using testing::line;
using testing::money;
using testing::pct;
using testing::qty;
using testing::sale;
using testing::tender;

Points earned(const ProgramConfig& p, const SaleCompleted& s, std::string category = "") {
  auto r = compute_earning(p, s, customer(std::move(category)));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r->earned : Points(-1);
}

// ---- rule 1: a line's percent -------------------------------------------------------------

TEST(EarningRule1, SkuOverrideBeatsCategoryBeatsCustomerCategoryBeatsProgram) {
  const auto p = example_program();
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "PROMO", "comida")).percent, pct("10"));
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "X", "comida")).percent, pct("7"));
  EXPECT_EQ(line_earning(p, "gold", line(1, "10", "X", "bebidas")).percent, pct("8"));
  EXPECT_EQ(line_earning(p, "", line(1, "10", "X", "bebidas")).percent, pct("5"));
  EXPECT_EQ(line_earning(p, "unknown-category", line(1, "10")).percent, pct("5"));
  EXPECT_EQ(line_earning(p, "gold", line(1, "10")).percent, pct("8"));
}

TEST(EarningRule1, ANonZeroSkuOverrideBeatsAnExcludingCategory) {
  const auto le = line_earning(example_program(), "", line(1, "10", "PROMO", "tabaco"));
  EXPECT_EQ(le.percent, pct("10"));
  EXPECT_EQ(le.excluded, LineExclusion::kNone);
}

TEST(EarningRule1, ZeroExcludesAndSaysWhy) {
  const auto p = example_program();
  auto by_sku = line_earning(p, "gold", line(1, "100", "GIFT-100", "comida"));
  EXPECT_EQ(by_sku.percent, pct("0"));
  EXPECT_EQ(by_sku.excluded, LineExclusion::kSku);
  auto by_category = line_earning(p, "gold", line(2, "100", "CIG", "tabaco"));
  EXPECT_EQ(by_category.percent, pct("0"));
  EXPECT_EQ(by_category.excluded, LineExclusion::kCategory);
  auto normal = line_earning(p, "gold", line(3, "100", "CAFE", "bebidas"));
  EXPECT_EQ(normal.excluded, LineExclusion::kNone);
}

TEST(EarningRule1, EmptySkuOrCategoryNeverMatchesAnOverride) {
  auto p = example_program();
  p.sku_overrides[""] = pct("0");
  p.category_overrides[""] = pct("0");
  const auto le = line_earning(p, "", line(1, "10"));
  EXPECT_EQ(le.percent, pct("5"));
  EXPECT_EQ(le.excluded, LineExclusion::kNone);
}

TEST(EarningRule1, BreakdownCarriesEachLine) {
  auto s = sale({line(1, "90.00", "CAFE-AMER", "bebidas"),
                 line(2, "100.00", "GIFT-100", "gift-cards"), line(7, "10.00", "TORTA", "comida")},
                {});
  auto b = compute_earning(example_program(), s, customer("gold"));
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->lines.size(), 3u);
  EXPECT_EQ(b->lines[0].n, 1);
  EXPECT_EQ(b->lines[0].amount, money("90.00"));
  EXPECT_EQ(b->lines[0].percent, pct("8"));
  EXPECT_EQ(b->lines[1].n, 2);
  EXPECT_EQ(b->lines[1].excluded, LineExclusion::kSku);
  EXPECT_EQ(b->lines[2].n, 7);
  EXPECT_EQ(b->lines[2].percent, pct("7"));
  // 90 × 8 % + 10 × 7 % = 7.90 of value = 79 points.
  EXPECT_EQ(b->earned, Points(79));
}

TEST(EarningRule1, CustomerCategoryRate) {
  EXPECT_EQ(earned(example_program(), sale({line(1, "100.00")}, {}), "gold"), Points(80));
  EXPECT_EQ(earned(example_program(), sale({line(1, "100.00")}, {}), "silver"), Points(50));
}

// ---- rule 2: tender share -----------------------------------------------------------------

TEST(EarningRule2, ExcludedMethodEarnsOnlyTheRest) {
  auto s = sale({line(1, "100.00")}, {tender("credit_card", "60.00"), tender("cash", "40.00")});
  auto b = compute_earning(example_program(), s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->earned, Points(20));  // 100 × 0.4 × 5 % / 0.10
  EXPECT_EQ(b->eligible_tenders, money("40.00"));
  EXPECT_EQ(b->total_tenders, money("100.00"));
  EXPECT_EQ(b->excluded_method_amount, money("60.00"));
  EXPECT_EQ(b->excluded_methods, std::vector<std::string>{"credit_card"});
  EXPECT_EQ(b->points_amount, Money{});
}

// A POS that writes methods in capitals: "CREDIT_CARD" earned 45 where credit_card earns 0,
// and "Points" paid without being a points tender.
TEST(EarningRule2, MethodsMatchInAnyCase) {
  auto s = sale({line(1, "90.00")}, {tender("CREDIT_CARD", "90.00")});
  EXPECT_EQ(earned(example_program(), s), Points(0));
  auto b = compute_earning(example_program(), sale({line(1, "90.00")}, {tender("Points", "90.00")}), customer());
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->blocked_by_points);
  EXPECT_EQ(b->earned, Points(0));
  EXPECT_TRUE(example_program().is_points_method("POINTS"));
  EXPECT_FALSE(example_program().is_points_method("pointz"));
  EXPECT_FALSE(example_program().is_excluded_method("credit-card"));
}

TEST(EarningRule2, ChangeIsSubtracted) {
  // cash nets 90, card 30: s = 90 / 120.
  auto s = sale({line(1, "120.00")},
                {tender("cash", "100.00", "10.00"), tender("credit_card", "30.00")});
  auto b = compute_earning(example_program(), s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->eligible_tenders, money("90.00"));
  EXPECT_EQ(b->total_tenders, money("120.00"));
  EXPECT_EQ(b->earned, Points(45));
  // Change given on the excluded method's side counts against it too.
  auto s2 =
      sale({line(1, "100.00")}, {tender("credit_card", "60.00", "10.00"), tender("cash", "50.00")});
  EXPECT_EQ(earned(example_program(), s2), Points(25));
}

TEST(EarningRule2, NoTendersMeansFullShare) {
  EXPECT_EQ(earned(example_program(), sale({line(1, "90.00")}, {})), Points(45));
}

TEST(EarningRule2, TendersAboveTheLinesGiveAShareOfTheTenders) {
  // The share is a ratio of tenders, whatever the lines add up to.
  EXPECT_EQ(earned(example_program(), sale({line(1, "90.00")}, {tender("cash", "100.00")})),
            Points(45));
  EXPECT_EQ(
      earned(example_program(), sale({line(1, "90.00")}, {tender("cash", "500.00", "10.00")})),
      Points(45));
  // s = 100 / 150.
  EXPECT_EQ(earned(example_program(), sale({line(1, "90.00")}, {tender("cash", "100.00"),
                                                                tender("credit_card", "50.00")})),
            Points(30));
}

TEST(EarningRule2, ShareIsCappedAtOne) {
  // A tender whose change exceeds its amount nets negative, so eligible (100) > total (90).
  // Uncapped, s = 100/90 would earn 50; capped, the sale earns what a full share earns.
  auto s =
      sale({line(1, "90.00")}, {tender("cash", "100.00"), tender("credit_card", "0.00", "10.00")});
  auto b = compute_earning(example_program(), s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->eligible_tenders, b->total_tenders);
  EXPECT_EQ(b->earned, Points(45));
}

TEST(EarningRule2, ShareIsExactNotADecimalApproximation) {
  // s = 1/3 exactly: 300 × 1/3 × 5 % / 0.10 = 50. A rounded s (0.333333) would give 49.
  auto s = sale({line(1, "300.00")}, {tender("cash", "100.00"), tender("credit_card", "200.00")});
  EXPECT_EQ(earned(example_program(), s), Points(50));
}

TEST(EarningRule2, OnlyExcludedMethodsEarnNothingAndAreListedOnce) {
  auto p = example_program();
  p.excluded_payment_methods = {"credit_card", "gift_card"};
  auto s = sale({line(1, "90.00")}, {tender("credit_card", "30.00"), tender("gift_card", "30.00"),
                                     tender("credit_card", "30.00")});
  auto b = compute_earning(p, s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->earned, Points(0));
  EXPECT_EQ(b->excluded_methods, (std::vector<std::string>{"credit_card", "gift_card"}));
  EXPECT_EQ(b->excluded_method_amount, money("90.00"));
}

TEST(EarningRule2, TendersThatNetToZeroEarnNothing) {
  // Listed tenders that net to zero: nothing was paid, so s = 0 (design-decisions.md).
  EXPECT_EQ(earned(example_program(), sale({line(1, "90.00")}, {tender("cash", "10.00", "10.00")})),
            Points(0));
}

// ---- rule 3: the earning ------------------------------------------------------------------

TEST(EarningRule3, ContractExample) {
  EXPECT_EQ(earned(example_program(), sale({line(1, "90.00")}, {tender("cash", "90.00")})),
            Points(45));
}

TEST(EarningRule3, ContractSaleWithGiftCardAndChange) {
  auto s =
      sale({line(1, "90.00", "CAFE-AMER", "bebidas"), line(2, "100.00", "GIFT-100", "gift-cards")},
           {tender("cash", "200.00", "10.00")});
  EXPECT_EQ(earned(example_program(), s), Points(45));
}

TEST(EarningRule3, PointsFloorToZero) {
  EXPECT_EQ(earned(example_program(), sale({line(1, "1.99")}, {tender("cash", "1.99")})),
            Points(0));
  EXPECT_EQ(earned(example_program(), sale({line(1, "2.00")}, {tender("cash", "2.00")})),
            Points(1));
  EXPECT_EQ(earned(example_program(), sale({line(1, "3.99")}, {tender("cash", "3.99")})),
            Points(1));
  EXPECT_EQ(earned(example_program(), sale({}, {})), Points(0));
  EXPECT_EQ(earned(example_program(), sale({line(1, "0")}, {})), Points(0));
}

TEST(EarningRule3, RoundedOncePerSaleNotPerLine) {
  // Each 1.20 line is worth 0.6 points: n lines earn floor(0.6 n), never 0 per line.
  for (int n = 1; n <= 40; ++n) {
    std::vector<SaleLine> lines;
    for (int i = 1; i <= n; ++i) lines.push_back(line(i, "1.20"));
    EXPECT_EQ(earned(example_program(), sale(lines, {tender("cash", "1000.00", "0")})),
              Points(3 * n / 5))
        << n << " lines";
  }
  // Lines at different percents: 3 × 0.7 (1.00 comida at 7 %) + 2 × 1.5 (1.50 PROMO at 10 %)
  // = 5.1 points; flooring each line would give 0 + 0 + 0 + 1 + 1 = 2.
  auto s = sale({line(1, "1.00", "", "comida"), line(2, "1.00", "", "comida"),
                 line(3, "1.00", "", "comida"), line(4, "1.50", "PROMO"), line(5, "1.50", "PROMO")},
                {});
  EXPECT_EQ(earned(example_program(), s), Points(5));
}

TEST(EarningRule3, WeighedQuantitiesEarnOnTheAmount) {
  SaleLine bread{1, "PAN", "panaderia", qty("0.350"), money("31.47")};
  EXPECT_EQ(earned(example_program(), sale({bread}, {})), Points(15));  // 15.735
  bread.qty = qty("2.5");
  EXPECT_EQ(earned(example_program(), sale({bread}, {})), Points(15));
  bread.qty = qty("0.001");
  EXPECT_EQ(earned(example_program(), sale({bread}, {tender("cash", "31.47")})), Points(15));
}

TEST(EarningRule3, OtherPointValues) {
  auto p = example_program();
  p.point_value = money("1");
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {})), Points(4));  // 4.5
  p.point_value = money("0.01");
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {})), Points(450));
  p.point_value = money("0.25");
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {})), Points(18));
  p.earn_percent = pct("2.5");
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {})), Points(9));
}

// The earning against an independent computation in cents and basis points.
TEST(EarningRule3, MatchesAReferenceComputationOnRandomSales) {
  struct Kind {
    const char* sku;
    const char* category;
    int64_t bp;  // basis points; -1 = the customer's default
  };
  const Kind kinds[] = {{"", "", -1},         {"PROMO", "", 1000}, {"GIFT-100", "", 0},
                        {"", "comida", 700},  {"", "tabaco", 0},   {"PROMO", "tabaco", 1000},
                        {"X", "comida", 700}, {"X", "bebidas", -1}};
  const int64_t point_value_cents[] = {1, 10, 25, 100, 7};
  const uint32_t seed = 0xea12;
  std::mt19937 rng(seed);
  for (int round = 0; round < 5000; ++round) {
    auto p = example_program();
    const int64_t v_cents = point_value_cents[rng() % 5];
    p.point_value = Money::from_micros(v_cents * 10'000);
    const bool gold = rng() % 2 == 0;
    const int64_t default_bp = gold ? 800 : 500;

    std::vector<SaleLine> lines;
    i128 weight = 0;  // Σ cents × bp
    const int n_lines = static_cast<int>(rng() % 8);
    for (int i = 0; i < n_lines; ++i) {
      const Kind& k = kinds[rng() % 8];
      const int64_t cents = rng() % 50'000;
      lines.push_back(SaleLine{i + 1, k.sku, k.category, Quantity::from_units(1),
                               Money::from_micros(cents * 10'000)});
      weight += static_cast<i128>(cents) * (k.bp < 0 ? default_bp : k.bp);
    }
    std::vector<Tender> tenders;
    int64_t eligible = 0, total = 0;
    const int n_tenders = static_cast<int>(rng() % 4);
    for (int i = 0; i < n_tenders; ++i) {
      const bool card = rng() % 3 == 0;
      const int64_t amount = rng() % 60'000;
      const int64_t change =
          card ? 0 : (rng() % 4 == 0 ? static_cast<int64_t>(rng() % (amount + 1)) : 0);
      tenders.push_back(Tender{card ? "credit_card" : "cash", Money::from_micros(amount * 10'000),
                               Money::from_micros(change * 10'000), ""});
      total += amount - change;
      if (!card) eligible += amount - change;
    }
    // floor(W × s / (100 % × 100 bp/% × V)), s = E / T capped at 1, 1 without tenders.
    i128 num = weight, den = static_cast<i128>(10'000) * v_cents;
    if (!tenders.empty()) {
      if (total <= 0) {
        num = 0;
      } else if (eligible < total) {
        num *= eligible;
        den *= total;
      }
    }
    const int64_t expected = static_cast<int64_t>(num / den);
    auto b = compute_earning(p, sale(lines, tenders), customer(gold ? "gold" : ""));
    ASSERT_TRUE(b.ok()) << "seed " << seed << " round " << round;
    ASSERT_EQ(b->earned, Points(expected)) << "seed " << seed << " round " << round;
    ASSERT_EQ(b->base, b->earned) << "seed " << seed << " round " << round;
  }
}

TEST(EarningRule3, AbsurdAmountsAreAnErrorNotAWrongNumber) {
  auto p = example_program();
  p.earn_percent = pct("100");
  // A tender share below 1 multiplies 10^26-scale weights by 10^18-scale tenders.
  auto huge =
      sale({line(1, "999999999999.999999")},
           {tender("cash", "999999999999.999999"), tender("credit_card", "999999999999.999999")});
  auto b = compute_earning(p, huge, customer());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(b.error().field, "lines");
  // Points beyond any sane int64 balance.
  p.point_value = Money::from_micros(1);
  p.earn_percent = pct("1000");
  auto b2 = compute_earning(p, sale({line(1, "999999999999.999999")}, {}), customer());
  ASSERT_FALSE(b2.ok());
  EXPECT_EQ(b2.error().code, ErrorCode::kInvalidEvent);
}

TEST(EarningRule3, LargestAmountsWithoutASplitAreExact) {
  auto p = example_program();
  // 999999999999.999999 × 5 % / 0.10 = 499999999999.9999995.
  EXPECT_EQ(earned(p, sale({line(1, "999999999999.999999")}, {})), Points(499'999'999'999));
  EXPECT_EQ(
      earned(p, sale({line(1, "999999999999.999999")}, {tender("cash", "999999999999.999999")})),
      Points(499'999'999'999));
}

// ---- rule 4: points tenders ---------------------------------------------------------------

TEST(EarningRule4, BlockMeansAnyPointsTenderEarnsZero) {
  auto s = sale({line(1, "90.00")}, {tender("points", "10.00"), tender("cash", "80.00")});
  auto b = compute_earning(example_program(), s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->earned, Points(0));
  EXPECT_EQ(b->base, Points(0));
  EXPECT_TRUE(b->blocked_by_points);
  EXPECT_EQ(b->points_amount, money("10.00"));
  ASSERT_EQ(b->lines.size(), 1u);  // the lines are still reported
}

TEST(EarningRule4, EarnOnRemainderCountsPointsAsExcluded) {
  auto p = example_program();
  p.on_points_tender = PointsTenderPolicy::kEarnOnRemainder;
  auto s = sale({line(1, "90.00")}, {tender("points", "10.00"), tender("cash", "80.00")});
  auto b = compute_earning(p, s, customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->earned, Points(40));  // 90 × 80/90 × 5 % / 0.10
  EXPECT_FALSE(b->blocked_by_points);
  // Points and an excluded method together: s = 50 / 100.
  auto s2 = sale({line(1, "100.00")}, {tender("points", "20.00"), tender("credit_card", "30.00"),
                                       tender("cash", "50.00")});
  EXPECT_EQ(earned(p, s2), Points(25));
  // Paid entirely with points: nothing to earn on.
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {tender("points", "90.00")})), Points(0));
}

TEST(EarningRule4, PointsMethodsComeFromTheProgram) {
  auto p = example_program();
  p.points_methods = {"wallet"};
  EXPECT_EQ(
      earned(p, sale({line(1, "90.00")}, {tender("wallet", "10.00"), tender("cash", "80.00")})),
      Points(0));
  // "points" is just another method when the program does not list it.
  EXPECT_EQ(
      earned(p, sale({line(1, "90.00")}, {tender("points", "10.00"), tender("cash", "80.00")})),
      Points(45));
}

// ---- promotions hook (applied after rules 1-4) --------------------------------------------

class FixedBonus : public Promotion {
 public:
  explicit FixedBonus(int64_t bonus) : bonus_(bonus) {}
  std::string name() const override { return "fixed"; }
  PromotionOutcome apply(const SaleCompleted&, const CustomerFacts&, Points) const override {
    return PromotionOutcome{Points(bonus_), "bonus " + std::to_string(bonus_)};
  }

 private:
  int64_t bonus_;
};

TEST(EarningPromotions, AddToTheBaseAndNeverGoBelowZero) {
  auto p = example_program();
  p.promotions = {std::make_shared<FixedBonus>(10), std::make_shared<FixedBonus>(0)};
  auto b = compute_earning(p, sale({line(1, "90.00")}, {}), customer());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->base, Points(45));
  EXPECT_EQ(b->earned, Points(55));
  ASSERT_EQ(b->promotions.size(), 1u);  // a zero bonus is not listed
  EXPECT_EQ(b->promotions[0].reason, "bonus 10");

  p.promotions = {std::make_shared<FixedBonus>(-100)};
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {})), Points(0));

  p.promotions = {std::make_shared<FixedBonus>(10)};  // blocked sales get no bonus
  EXPECT_EQ(earned(p, sale({line(1, "90.00")}, {tender("points", "90.00")})), Points(0));
}

// ---- rules 5 and 8: redeeming and the value of points -------------------------------------

TEST(EarningRule5, RedeemCostRoundsUp) {
  const auto p = example_program();
  EXPECT_EQ(redeem_cost(p, money("40.00")), Points(400));
  EXPECT_EQ(redeem_cost(p, money("40.01")), Points(401));
  EXPECT_EQ(redeem_cost(p, money("40.10")), Points(401));
  EXPECT_EQ(redeem_cost(p, money("0.001")), Points(1));
  EXPECT_EQ(redeem_cost(p, money("0.000001")), Points(1));
  EXPECT_EQ(redeem_cost(p, money("0")), Points(0));
  EXPECT_EQ(redeem_cost(p, money("-5")), Points(0));
  auto q = p;
  q.point_value = money("0.25");
  EXPECT_EQ(redeem_cost(q, money("1.00")), Points(4));
  EXPECT_EQ(redeem_cost(q, money("1.01")), Points(5));
}

TEST(EarningRule8, PointsForValueRoundsDown) {
  const auto p = example_program();
  EXPECT_EQ(points_for_value(p, money("45.00")), Points(450));
  EXPECT_EQ(points_for_value(p, money("45.09")), Points(450));
  EXPECT_EQ(points_for_value(p, money("45.10")), Points(451));
  EXPECT_EQ(points_for_value(p, money("0.09")), Points(0));
  EXPECT_EQ(points_for_value(p, money("0")), Points(0));
  EXPECT_EQ(points_for_value(p, money("-45")), Points(0));
}

TEST(EarningValue, ValueOfPoints) {
  const auto p = example_program();
  EXPECT_EQ(value_of(p, Points(45)), money("4.50"));
  EXPECT_EQ(value_of(p, Points(0)), money("0"));
  EXPECT_EQ(value_of(p, Points(-3)), money("-0.30"));
  EXPECT_EQ(value_of(p, Points(401)), money("40.10"));
}

// ceil and floor are exactly the smallest / largest whole points around an amount.
TEST(EarningRule5, CostAndValueBracketEveryAmount) {
  const int64_t values_micros[] = {10'000, 100'000, 250'000, 300'000, 1'000'000, 70'000, 333'333};
  const uint32_t seed = 0x5a1e;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> amount(1, 1'000'000'000'000);  // up to 1,000,000.00
  for (int i = 0; i < 20'000; ++i) {
    ProgramConfig p;
    p.point_value = Money::from_micros(values_micros[rng() % 7]);
    const Money a = Money::from_micros(i % 4 == 0 ? amount(rng) / 10'000 * 10'000 : amount(rng));
    const Points cost = redeem_cost(p, a);
    ASSERT_GE(value_of(p, cost), a) << "seed " << seed << " i " << i << " " << a.str(6);
    ASSERT_LT(value_of(p, cost - Points(1)), a) << "seed " << seed << " i " << i << " " << a.str(6);
    const Points pts = points_for_value(p, a);
    ASSERT_LE(value_of(p, pts), a) << "seed " << seed << " i " << i << " " << a.str(6);
    ASSERT_GT(value_of(p, pts + Points(1)), a) << "seed " << seed << " i " << i << " " << a.str(6);
    ASSERT_LE(cost - pts, Points(1)) << "seed " << seed << " i " << i;
  }
}

}  // namespace
}  // namespace loyalty::domain
