// Rules 7, 8 and 9: what refunds claw back and restore.
#include "domain/refunds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "domain_test_support.h"

namespace loyalty::domain {
namespace {

__extension__ typedef __int128 i128;

using testing::customer;
using testing::example_program;
using testing::line;
using testing::money;
using testing::qty;
using testing::sale;
using testing::tender;

// What the ledger would keep of `s` after computing its earning.
SaleRecord record_of(const ProgramConfig& p, const SaleCompleted& s, std::string category = "") {
  auto b = compute_earning(p, s, customer(std::move(category)));
  EXPECT_TRUE(b.ok());
  SaleRecord r;
  r.ticket = s.ticket;
  r.account_id = "A";
  r.earn_entry_id = "earn:1";
  r.earned = b.ok() ? b->earned : Points(0);
  for (size_t i = 0; i < s.lines.size(); ++i) {
    r.lines.push_back(SaleLineRecord{s.lines[i].n, s.lines[i].amount, s.lines[i].qty,
                                     b.ok() ? b->lines[i].percent : Percent{}, Money{}});
  }
  return r;
}

RefundCompleted refund(std::vector<RefundLine> lines, std::vector<Tender> tenders = {}) {
  RefundCompleted r;
  r.h.type = "refund.completed";
  r.ticket = "R-77";
  r.original_ticket = "000123";
  r.customer = "card:4000123";
  r.lines = std::move(lines);
  r.tenders = std::move(tenders);
  return r;
}

RefundLine by_amount(int64_t n, Money amount) {
  return RefundLine{n, "", "", std::nullopt, amount};
}
RefundLine by_amount(int64_t n, const char* amount) { return by_amount(n, money(amount)); }
RefundLine by_qty(int64_t n, const char* q) { return RefundLine{n, "", "", qty(q), std::nullopt}; }
RefundLine unnumbered(const char* amount) {
  return RefundLine{std::nullopt, "", "", std::nullopt, money(amount)};
}

// Applies one refund to the record as the service does; returns the decision.
ClawbackDecision apply(SaleRecord& rec, const RefundCompleted& r) {
  auto d = clawback_for_refund(rec, r);
  EXPECT_TRUE(d.ok()) << d.error().message;
  if (!d.ok()) return {};
  EXPECT_GE(d->clawback, Points(0));
  rec.lines = d->lines_after;
  rec.clawed_back += d->clawback;
  return *d;
}

// The design's cumulative floor: floor(earned × Σ refunded·percent / Σ amount·percent).
Points cumulative_target(const SaleRecord& rec) {
  i128 w = 0, r = 0;
  for (const auto& l : rec.lines) {
    w += static_cast<i128>(l.amount.micros()) * l.percent.micros();
    r += static_cast<i128>(l.refunded.micros()) * l.percent.micros();
  }
  if (w <= 0 || rec.earned <= Points(0)) return Points(0);
  return Points(static_cast<int64_t>(static_cast<i128>(rec.earned.value()) * r / w));
}

// A sale with three percents and a tender share below 1: earns 61 points
// (99.99 × 5 % + 12.34 × 7 % + 7.77 × 10 % = 6.6403, × 120.10 / 130.09, / 0.10 = 61.30).
SaleCompleted mixed_sale() {
  return sale({line(1, "99.99"), line(2, "12.34", "X", "comida"), line(3, "7.77", "PROMO")},
              {tender("cash", "120.10"), tender("credit_card", "9.99")});
}

// ---- rule 7: full refunds -----------------------------------------------------------------

TEST(RefundRule7, FullRefundClawsBackExactlyWhatWasEarned) {
  const auto p = example_program();
  auto rec = record_of(p, mixed_sale());
  ASSERT_EQ(rec.earned, Points(61));
  auto d = apply(rec, refund({by_amount(1, "99.99"), by_amount(2, "12.34"), by_amount(3, "7.77")}));
  EXPECT_EQ(d.clawback, Points(61));
  EXPECT_TRUE(d.warnings.empty());
  // Lines in another order, excluded lines included.
  auto s =
      sale({line(1, "33.33"), line(2, "66.67", "X", "comida"), line(3, "10.00", "GIFT-100")}, {});
  auto rec2 = record_of(p, s, "gold");
  ASSERT_GT(rec2.earned, Points(0));
  apply(rec2, refund({by_amount(3, "10.00"), by_amount(2, "66.67"), by_amount(1, "33.33")}));
  EXPECT_EQ(rec2.clawed_back, rec2.earned);
}

// Two branches cut off from each other refunded the same line (docs/sync.md, "Refunds across
// branches"): the merged record has a line refunded past its amount. A later refund still
// claws back nothing past what the sale earned, and a line counts at most its amount.
TEST(RefundRule7, ALineRefundedTwiceByTwoBranchesNeverLetsAClawbackPassTheEarning) {
  const auto p = example_program();
  auto rec = record_of(p, mixed_sale());
  ASSERT_EQ(rec.earned, Points(61));
  rec.lines[0].refunded = money("199.98");  // line 1 (99.99) refunded at both branches
  rec.clawed_back = Points(61);             // the owner capped the merged clawbacks
  EXPECT_EQ(apply(rec, refund({by_amount(2, "12.34")})).clawback, Points(0));
  EXPECT_EQ(apply(rec, refund({by_amount(3, "7.77")})).clawback, Points(0));
  EXPECT_EQ(rec.clawed_back, Points(61));
  // Before the cap arrived: what is left to claw back counts line 1 once.
  auto early = record_of(p, mixed_sale());
  early.lines[0].refunded = money("199.98");
  early.clawed_back = Points(0);
  EXPECT_EQ(apply(early, refund({by_amount(2, "12.34"), by_amount(3, "7.77")})).clawback, Points(61));
}

TEST(RefundRule7, FullRefundByQuantityOrWithoutLineNumbers) {
  const auto p = example_program();
  auto s = mixed_sale();
  s.lines[0].qty = qty("3");
  s.lines[1].qty = qty("0.350");
  auto by_q = record_of(p, s);
  apply(by_q, refund({by_qty(1, "3"), by_qty(2, "0.350"), by_qty(3, "1")}));
  EXPECT_EQ(by_q.clawed_back, Points(61));
  auto no_n = record_of(p, s);
  apply(no_n, refund({unnumbered("120.10")}));
  EXPECT_EQ(no_n.clawed_back, Points(61));
}

TEST(RefundRule7, RandomSalesFullyRefundedClawBackExactlyEarned) {
  const char* skus[] = {"", "PROMO", "GIFT-100", "X"};
  const char* categories[] = {"", "comida", "tabaco", "bebidas"};
  const uint32_t seed = 0xf011;
  std::mt19937 rng(seed);
  int with_earning = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<SaleLine> lines;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 1; i <= n; ++i) {
      lines.push_back(SaleLine{i, skus[rng() % 4], categories[rng() % 4], Quantity::from_units(1),
                               Money::from_micros(static_cast<int64_t>(rng() % 100'000) * 10'000)});
    }
    std::vector<Tender> tenders;
    if (rng() % 2)
      tenders.push_back(Tender{"cash", Money::from_units(1 + rng() % 500), Money{}, ""});
    if (rng() % 2)
      tenders.push_back(Tender{"credit_card", Money::from_units(rng() % 500), Money{}, ""});
    auto rec = record_of(example_program(), sale(lines, tenders), rng() % 2 ? "gold" : "");
    std::vector<RefundLine> all;
    for (const auto& l : lines) all.push_back(by_amount(l.n, l.amount));
    std::shuffle(all.begin(), all.end(), rng);
    apply(rec, refund(all));
    ASSERT_EQ(rec.clawed_back, rec.earned) << "seed " << seed << " round " << round;
    with_earning += rec.earned > Points(0);
  }
  EXPECT_GT(with_earning, 1000);  // the property was not vacuous
}

// ---- rule 7: partial refunds --------------------------------------------------------------

// Seven refunds of odd amounts, in all 5040 orders: the total is exactly what was earned at
// the end, never more in between, and each step is the design's cumulative floor.
TEST(RefundRule7, SevenOddPartsInEveryOrderSumToExactlyEarned) {
  const auto base = record_of(example_program(), mixed_sale());
  ASSERT_EQ(base.earned, Points(61));
  const std::vector<RefundCompleted> parts = {
      refund({by_amount(1, "12.34")}), refund({by_amount(1, "45.67")}),
      refund({by_amount(1, "41.98")}), refund({by_amount(2, "0.01")}),
      refund({by_amount(2, "12.33")}), refund({by_amount(3, "7.00")}),
      refund({by_amount(3, "0.77")})};
  std::vector<size_t> order(parts.size());
  std::iota(order.begin(), order.end(), 0);
  int orders = 0;
  do {
    auto rec = base;
    for (size_t k = 0; k < order.size(); ++k) {
      const auto d = apply(rec, parts[order[k]]);
      ASSERT_TRUE(d.warnings.empty()) << "order #" << orders;
      ASSERT_LE(rec.clawed_back, rec.earned) << "order #" << orders << " step " << k;
      ASSERT_EQ(rec.clawed_back, cumulative_target(rec)) << "order #" << orders << " step " << k;
    }
    ASSERT_EQ(rec.clawed_back, Points(61)) << "order #" << orders;
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 5040);
}

TEST(RefundRule7, OneCentStepsNeverClawBackMoreThanEarned) {
  // 19.99 earns 9 points (9.995); refunded one cent at a time over 1999 refunds.
  auto rec =
      record_of(example_program(), sale({line(1, "19.99")}, {tender("cash", "20.00", "0.01")}));
  ASSERT_EQ(rec.earned, Points(9));
  for (int cents = 1; cents <= 1999; ++cents) {
    apply(rec, refund({by_amount(1, "0.01")}));
    ASSERT_EQ(rec.clawed_back, Points(9 * cents / 1999)) << cents << " cents refunded";
  }
  EXPECT_EQ(rec.clawed_back, Points(9));
  // One more cent is capped: nothing more is clawed back.
  auto d = apply(rec, refund({by_amount(1, "0.01")}));
  EXPECT_EQ(d.clawback, Points(0));
  EXPECT_FALSE(d.warnings.empty());

  // A one-point sale: nothing is clawed back until the last cent.
  auto small = record_of(example_program(), sale({line(1, "2.00")}, {}));
  ASSERT_EQ(small.earned, Points(1));
  for (int cents = 1; cents <= 200; ++cents) {
    apply(small, refund({by_amount(1, "0.01")}));
    ASSERT_EQ(small.clawed_back, Points(cents == 200 ? 1 : 0)) << cents;
  }
}

TEST(RefundRule7, OneCentStepsAcrossLinesInRandomOrder) {
  const auto base = record_of(example_program(), mixed_sale());
  std::vector<int64_t> steps;  // one entry per cent, naming the line
  for (const auto& l : base.lines) {
    for (int64_t c = 0; c < l.amount.micros() / 10'000; ++c) steps.push_back(l.n);
  }
  ASSERT_EQ(steps.size(), 12'010u);
  const uint32_t seed = 0xce47;
  std::mt19937 rng(seed);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(steps.begin(), steps.end(), rng);
    auto rec = base;
    for (size_t k = 0; k < steps.size(); ++k) {
      apply(rec, refund({by_amount(steps[k], "0.01")}));
      ASSERT_LE(rec.clawed_back, rec.earned)
          << "seed " << seed << " round " << round << " step " << k;
    }
    ASSERT_EQ(rec.clawed_back, rec.earned) << "seed " << seed << " round " << round;
  }
}

// Random sales split into random parts (some refunds naming several lines), random order.
TEST(RefundRule7, RandomSplitsInRandomOrderSumToExactlyEarned) {
  const char* skus[] = {"", "PROMO", "GIFT-100", "X"};
  const char* categories[] = {"", "comida", "tabaco"};
  const uint32_t seed = 20261122;
  std::mt19937 rng(seed);
  for (int round = 0; round < 500; ++round) {
    std::vector<SaleLine> lines;
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 1; i <= n; ++i) {
      lines.push_back(
          SaleLine{i, skus[rng() % 4], categories[rng() % 3], Quantity::from_units(1),
                   Money::from_micros((1 + static_cast<int64_t>(rng() % 30'000)) * 10'000)});
    }
    std::vector<Tender> tenders = {Tender{"cash", Money::from_units(1 + rng() % 300), Money{}, ""}};
    if (rng() % 2)
      tenders.push_back(Tender{"credit_card", Money::from_units(rng() % 300), Money{}, ""});
    const auto base = record_of(example_program(), sale(lines, tenders));

    // Cut each line into 1..6 parts of whole cents.
    std::vector<RefundLine> pieces;
    for (const auto& l : lines) {
      int64_t left = l.amount.micros() / 10'000;
      const int cuts = static_cast<int>(rng() % 6);
      for (int c = 0; c < cuts && left > 1; ++c) {
        const int64_t take = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(left - 1));
        pieces.push_back(by_amount(l.n, Money::from_micros(take * 10'000)));
        left -= take;
      }
      pieces.push_back(by_amount(l.n, Money::from_micros(left * 10'000)));
    }
    std::shuffle(pieces.begin(), pieces.end(), rng);
    // Group consecutive pieces into refunds of 1..3 lines.
    std::vector<RefundCompleted> refunds;
    for (size_t i = 0; i < pieces.size();) {
      const size_t k = std::min<size_t>(pieces.size() - i, 1 + rng() % 3);
      refunds.push_back(refund(std::vector<RefundLine>(pieces.begin() + static_cast<long>(i),
                                                       pieces.begin() + static_cast<long>(i + k))));
      i += k;
    }
    auto rec = base;
    for (size_t k = 0; k < refunds.size(); ++k) {
      const auto d = apply(rec, refunds[k]);
      ASSERT_TRUE(d.warnings.empty()) << "seed " << seed << " round " << round << " refund " << k;
      ASSERT_LE(rec.clawed_back, rec.earned)
          << "seed " << seed << " round " << round << " refund " << k;
      ASSERT_EQ(rec.clawed_back, cumulative_target(rec)) << "seed " << seed << " round " << round;
    }
    ASSERT_EQ(rec.clawed_back, rec.earned) << "seed " << seed << " round " << round;
  }
}

TEST(RefundRule7, NothingMoreAfterEverythingWasClawedBack) {
  // A void already clawed back the whole earning: later refunds claw back nothing.
  auto rec = record_of(example_program(), sale({line(1, "90.00")}, {}));
  rec.clawed_back = rec.earned;
  auto d = apply(rec, refund({by_amount(1, "45.00")}));
  EXPECT_EQ(d.clawback, Points(0));
}

TEST(RefundRule7, SalesThatEarnedNothingClawBackNothing) {
  auto excluded = record_of(example_program(), sale({line(1, "100.00", "GIFT-100")}, {}));
  ASSERT_EQ(excluded.earned, Points(0));
  EXPECT_EQ(apply(excluded, refund({by_amount(1, "100.00")})).clawback, Points(0));
  auto tiny = record_of(example_program(), sale({line(1, "1.99")}, {}));
  EXPECT_EQ(apply(tiny, refund({by_amount(1, "1.99")})).clawback, Points(0));
  auto blocked =
      record_of(example_program(), sale({line(1, "90.00")}, {tender("points", "90.00")}));
  EXPECT_EQ(apply(blocked, refund({by_amount(1, "90.00")})).clawback, Points(0));
}

// ---- rule 7: caps, lines without n, quantities, errors ------------------------------------

TEST(RefundRule7, RefundBeyondTheLineIsCappedWithAWarning) {
  auto rec = record_of(example_program(), sale({line(1, "50.00")}, {}));
  ASSERT_EQ(rec.earned, Points(25));
  auto d = apply(rec, refund({by_amount(1, "80.00")}));
  EXPECT_EQ(d.clawback, Points(25));
  EXPECT_EQ(rec.lines[0].refunded, money("50.00"));
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("line 1"), std::string::npos) << d.warnings[0];
  EXPECT_NE(d.warnings[0].find("capped"), std::string::npos) << d.warnings[0];
}

TEST(RefundRule7, ASecondRefundIsCappedAtWhatTheFirstLeft) {
  auto rec = record_of(example_program(), sale({line(1, "50.00"), line(2, "10.00")}, {}));
  ASSERT_EQ(rec.earned, Points(30));
  auto first = apply(rec, refund({by_amount(1, "30.00")}));
  EXPECT_TRUE(first.warnings.empty());
  EXPECT_EQ(first.clawback, Points(15));
  auto second = apply(rec, refund({by_amount(1, "30.00")}));  // only 20.00 left
  EXPECT_EQ(second.warnings.size(), 1u);
  EXPECT_EQ(rec.lines[0].refunded, money("50.00"));
  EXPECT_EQ(second.clawback, Points(10));
  auto third = apply(rec, refund({by_amount(1, "5.00"), by_amount(2, "10.00")}));
  EXPECT_EQ(third.warnings.size(), 1u);
  EXPECT_EQ(third.clawback, Points(5));
  EXPECT_EQ(rec.clawed_back, rec.earned);
}

TEST(RefundRule7, TheSameLineTwiceInOneRefundIsCappedToo) {
  auto rec = record_of(example_program(), sale({line(1, "50.00")}, {}));
  auto d = apply(rec, refund({by_amount(1, "30.00"), by_amount(1, "30.00")}));
  EXPECT_EQ(d.clawback, Points(25));
  EXPECT_EQ(d.warnings.size(), 1u);
  EXPECT_EQ(rec.lines[0].refunded, money("50.00"));
}

TEST(RefundRule7, LinesWithoutNumberAreAppliedInLineOrder) {
  auto rec =
      record_of(example_program(),
                sale({line(1, "50.00"), line(2, "50.00", "GIFT-100"), line(3, "20.00")}, {}));
  ASSERT_EQ(rec.earned, Points(35));
  auto d = apply(rec, refund({unnumbered("50.00")}));
  EXPECT_EQ(rec.lines[0].refunded, money("50.00"));
  EXPECT_EQ(rec.lines[1].refunded, Money{});
  EXPECT_EQ(d.clawback, Points(25));  // line 1 is 25 of the 35 points' weight
  // The next amount goes to line 2 (excluded, no points), then line 3.
  d = apply(rec, refund({unnumbered("60.00")}));
  EXPECT_EQ(rec.lines[1].refunded, money("50.00"));
  EXPECT_EQ(rec.lines[2].refunded, money("10.00"));
  EXPECT_EQ(d.clawback, Points(5));
  EXPECT_TRUE(d.warnings.empty());
  // More than is left: the rest is taken and the excess is reported.
  d = apply(rec, refund({unnumbered("25.00")}));
  EXPECT_EQ(rec.lines[2].refunded, money("20.00"));
  EXPECT_EQ(d.clawback, Points(5));
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("15.00"), std::string::npos) << d.warnings[0];
  EXPECT_EQ(rec.clawed_back, rec.earned);
}

TEST(RefundRule7, LinesWithoutNumberSkipWhatWasAlreadyRefunded) {
  auto rec = record_of(example_program(), sale({line(1, "50.00"), line(2, "30.00")}, {}));
  apply(rec, refund({by_amount(1, "20.00")}));
  apply(rec, refund({unnumbered("40.00")}));
  EXPECT_EQ(rec.lines[0].refunded, money("50.00"));
  EXPECT_EQ(rec.lines[1].refunded, money("10.00"));
}

TEST(RefundRule7, QtyOnlyRefundIsProRata) {
  SaleCompleted s = sale({SaleLine{1, "CAFE", "", Quantity::from_units(2), money("90.00")}}, {});
  auto rec = record_of(example_program(), s);
  ASSERT_EQ(rec.earned, Points(45));
  auto d = apply(rec, refund({by_qty(1, "1")}));
  EXPECT_EQ(rec.lines[0].refunded, money("45.00"));
  EXPECT_EQ(d.clawback, Points(22));  // floor(45 / 2)
  d = apply(rec, refund({by_qty(1, "1")}));
  EXPECT_EQ(d.clawback, Points(23));
  EXPECT_TRUE(d.warnings.empty());
}

TEST(RefundRule7, WeighedQtyOnlyRefund) {
  SaleCompleted s = sale({SaleLine{1, "PAN", "panaderia", qty("0.350"), money("31.47")}}, {});
  auto rec = record_of(example_program(), s);
  ASSERT_EQ(rec.earned, Points(15));
  auto d = apply(rec, refund({by_qty(1, "0.175")}));
  EXPECT_EQ(rec.lines[0].refunded, money("15.735"));
  EXPECT_EQ(d.clawback, Points(7));  // floor(15 × 1/2)
}

// Refunding every unit of a line, a few units at a time, is refunding the whole line.
TEST(RefundRule7, QtyOnlyPiecesOfAWholeLineClawBackExactlyEarned) {
  // 3 units for 10.00 (5 points): one unit is 3.333333..., not a whole number of micros.
  auto rec =
      record_of(example_program(),
                sale({SaleLine{1, "TAZA", "", Quantity::from_units(3), money("10.00")}}, {}));
  ASSERT_EQ(rec.earned, Points(5));
  for (int i = 0; i < 3; ++i) {
    const auto d = apply(rec, refund({by_qty(1, "1")}));
    EXPECT_TRUE(d.warnings.empty()) << "unit " << i << ": " << d.warnings.front();
    ASSERT_LE(rec.clawed_back, rec.earned);
  }
  EXPECT_EQ(rec.lines[0].refunded, money("10.00"));
  EXPECT_EQ(rec.clawed_back, Points(5));

  // A weighed line returned in three pieces: 0.100 + 0.100 + 0.150 kg of 0.350 kg.
  auto bread = record_of(example_program(),
                         sale({SaleLine{1, "PAN", "panaderia", qty("0.350"), money("31.47")}}, {}));
  ASSERT_EQ(bread.earned, Points(15));
  for (const char* piece : {"0.100", "0.100", "0.150"}) {
    const auto d = apply(bread, refund({by_qty(1, piece)}));
    EXPECT_TRUE(d.warnings.empty()) << piece << ": " << d.warnings.front();
  }
  EXPECT_EQ(bread.lines[0].refunded, money("31.47"));
  EXPECT_EQ(bread.clawed_back, Points(15));
}

TEST(RefundRule7, QtyOnlyPiecesInRandomSizesAndOrders) {
  const uint32_t seed = 0x9175;
  std::mt19937 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    const int64_t q_micros = 1 + static_cast<int64_t>(rng() % 20'000'000);  // up to 20 units
    const int64_t a_cents = 1 + static_cast<int64_t>(rng() % 100'000);
    auto rec =
        record_of(example_program(), sale({SaleLine{1, "X", "", Quantity::from_micros(q_micros),
                                                    Money::from_micros(a_cents * 10'000)}},
                                          {}));
    int64_t left = q_micros;
    int pieces = 0;
    while (left > 0) {
      const int64_t take =
          pieces == 5 ? left : 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(left));
      const auto d =
          apply(rec, refund({RefundLine{1, "", "", Quantity::from_micros(take), std::nullopt}}));
      ASSERT_TRUE(d.warnings.empty())
          << "seed " << seed << " round " << round << " piece " << pieces;
      ASSERT_LE(rec.clawed_back, rec.earned) << "seed " << seed << " round " << round;
      left -= take;
      ++pieces;
    }
    ASSERT_EQ(rec.lines[0].refunded, rec.lines[0].amount) << "seed " << seed << " round " << round;
    ASSERT_EQ(rec.clawed_back, rec.earned) << "seed " << seed << " round " << round;
  }
}

TEST(RefundRule7, QtyBeyondTheLineIsCappedWithAWarning) {
  auto rec =
      record_of(example_program(),
                sale({SaleLine{1, "CAFE", "", Quantity::from_units(2), money("90.00")}}, {}));
  auto d = apply(rec, refund({by_qty(1, "3")}));
  EXPECT_EQ(rec.lines[0].refunded, money("90.00"));
  EXPECT_EQ(d.clawback, Points(45));
  EXPECT_EQ(d.warnings.size(), 1u);
  // Anything more on a fully refunded line is reported too.
  d = apply(rec, refund({by_qty(1, "0.001")}));
  EXPECT_EQ(d.clawback, Points(0));
  EXPECT_EQ(d.warnings.size(), 1u);
}

TEST(RefundRule7, AnAbsurdQtyIsCappedNotWrapped) {
  // amount × qty / line qty is far beyond int64: still just "everything that is left".
  // (With these quantities the product modulo 2^64 is huge, negative, or small positive.)
  for (const char* q : {"999999999999", "23758", "158381"}) {
    auto rec = record_of(example_program(),
                         sale({SaleLine{1, "X", "", qty("0.000001"), money("999999999999")}}, {}));
    ASSERT_GT(rec.earned, Points(0));
    auto d = apply(rec, refund({by_qty(1, q)}));
    EXPECT_EQ(rec.lines[0].refunded, money("999999999999")) << q;
    EXPECT_EQ(d.clawback, rec.earned) << q;
    EXPECT_EQ(d.warnings.size(), 1u) << q;
  }
}

TEST(RefundRule7, AnAmountWinsOverAQty) {
  auto rec =
      record_of(example_program(),
                sale({SaleLine{1, "CAFE", "", Quantity::from_units(2), money("90.00")}}, {}));
  apply(rec, refund({RefundLine{1, "", "", Quantity::from_units(1), money("10.00")}}));
  EXPECT_EQ(rec.lines[0].refunded, money("10.00"));
}

TEST(RefundRule7, MalformedRefundLinesAreErrorsNamingTheField) {
  const auto rec =
      record_of(example_program(),
                sale({line(1, "50.00"), SaleLine{2, "", "", Quantity{}, money("5.00")}}, {}));
  struct Case {
    RefundCompleted refund;
    const char* field;
  };
  const Case cases[] = {
      {refund({by_amount(9, "1.00")}), "lines[0].n"},
      {refund({by_amount(1, "1.00"), by_amount(7, "1.00")}), "lines[1].n"},
      {refund({RefundLine{1, "", "", std::nullopt, std::nullopt}}), "lines[0].amount"},
      {refund({by_qty(2, "1")}), "lines[0].amount"},  // qty of a line sold without qty
      {refund({by_amount(1, "1.00"), RefundLine{std::nullopt, "", "", qty("1"), std::nullopt}}),
       "lines[1].amount"},
  };
  for (const auto& c : cases) {
    auto d = clawback_for_refund(rec, c.refund);
    ASSERT_FALSE(d.ok()) << c.field;
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidEvent);
    EXPECT_EQ(d.error().field, c.field);
  }
}

// ---- rule 9: unmatched refunds ------------------------------------------------------------

TEST(RefundRule9, UnmatchedRefundIsPricedLikeASale) {
  const auto p = example_program();
  auto r = refund({RefundLine{std::nullopt, "X", "bebidas", std::nullopt, money("90.00")}},
                  {tender("cash", "90.00")});
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(45));
  EXPECT_EQ(*clawback_at_rate(p, r, customer("gold")), Points(72));
  // Line overrides apply as in a sale.
  r.lines = {RefundLine{1, "PROMO", "", std::nullopt, money("90.00")},
             RefundLine{2, "GIFT-100", "", std::nullopt, money("50.00")},
             RefundLine{3, "", "comida", qty("0.5"), money("10.00")}};
  r.tenders = {};
  EXPECT_EQ(*clawback_at_rate(p, r, customer("gold")), Points(97));  // 90 + 0 + 7
}

TEST(RefundRule9, TenderShareAndRoundingAsInASale) {
  const auto p = example_program();
  auto r = refund({RefundLine{std::nullopt, "", "", std::nullopt, money("90.00")}},
                  {tender("credit_card", "60.00"), tender("cash", "30.00")});
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(15));
  r.lines = {RefundLine{std::nullopt, "", "", std::nullopt, money("1.99")}};
  r.tenders = {};
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(0));
}

TEST(RefundRule9, PointsTendersFollowTheProgramsPolicy) {
  auto p = example_program();
  auto r = refund({RefundLine{std::nullopt, "", "", std::nullopt, money("90.00")}},
                  {tender("points", "30.00"), tender("cash", "60.00")});
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(0));  // "block": a points sale earns 0
  p.on_points_tender = PointsTenderPolicy::kEarnOnRemainder;
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(30));
}

class Bonus : public Promotion {
 public:
  std::string name() const override { return "bonus"; }
  PromotionOutcome apply(const SaleCompleted&, const CustomerFacts&, Points) const override {
    return PromotionOutcome{Points(100), "bonus"};
  }
};

TEST(RefundRule9, PromotionsAreNotClawedBackAtRate) {
  auto p = example_program();
  p.promotions = {std::make_shared<Bonus>()};
  auto r = refund({RefundLine{std::nullopt, "", "", std::nullopt, money("90.00")}});
  EXPECT_EQ(*clawback_at_rate(p, r, customer()), Points(45));
}

TEST(RefundRule9, EachLineNeedsAnAmount) {
  auto r = refund({RefundLine{std::nullopt, "", "", std::nullopt, money("10.00")},
                   RefundLine{2, "", "", qty("1"), std::nullopt}});
  auto c = clawback_at_rate(example_program(), r, customer());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(c.error().field, "lines[1].amount");
}

// ---- rule 8: refunds paid back in points --------------------------------------------------

TEST(RefundRule8, RefundToPointsRestoresFloorOfTheValue) {
  const auto p = example_program();
  auto r = refund({by_amount(1, "45.05")}, {tender("points", "45.05")});
  EXPECT_EQ(restored_by_refund(p, r), Points(450));
  r.tenders = {tender("cash", "45.05")};
  EXPECT_EQ(restored_by_refund(p, r), Points(0));
  r.tenders = {tender("points", "10.00"), tender("cash", "35.05")};
  EXPECT_EQ(restored_by_refund(p, r), Points(100));
  r.tenders = {};
  EXPECT_EQ(restored_by_refund(p, r), Points(0));
}

TEST(RefundRule8, PointsTendersAreSummedBeforeRounding) {
  const auto p = example_program();
  auto r = refund({}, {tender("points", "0.05"), tender("points", "0.05")});
  EXPECT_EQ(restored_by_refund(p, r), Points(1));
  r.tenders = {tender("points", "10.00", "0.05")};  // change is subtracted
  EXPECT_EQ(restored_by_refund(p, r), Points(99));
}

TEST(RefundRule8, PointsMethodsComeFromTheProgram) {
  auto p = example_program();
  p.points_methods = {"points", "wallet"};
  auto r = refund({}, {tender("wallet", "4.00"), tender("points", "1.00")});
  EXPECT_EQ(restored_by_refund(p, r), Points(50));
  p.points_methods = {"wallet"};
  EXPECT_EQ(restored_by_refund(p, r), Points(40));
}

}  // namespace
}  // namespace loyalty::domain
