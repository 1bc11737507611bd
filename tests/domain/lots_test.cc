// Rule 6: lots, consumed oldest expiry first; credits repay a negative balance first;
// expiry at the lot's expiry instant.
#include "domain/lots.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "domain_test_support.h"

namespace loyalty::domain {
namespace {

using testing::at;

const BusinessTime kT0 = BusinessTime{1'795'364'100'000, -360};  // 2026-11-22T10:15:00-06:00

Lot lot(std::string id, int64_t expires_in_days, int64_t remaining, int64_t original = -1) {
  return Lot{std::move(id),
             "A",
             kT0.plus_days(expires_in_days - 365),
             kT0.plus_days(expires_in_days),
             Points(original < 0 ? remaining : original),
             Points(remaining)};
}

// The order the ledger hands lots to allocate_debit in (lots.h).
void sort_for_consumption(std::vector<Lot>& lots) {
  std::sort(lots.begin(), lots.end(), [](const Lot& a, const Lot& b) {
    return std::tie(a.expires_at.unix_ms, a.earned_at.unix_ms, a.lot_id) <
           std::tie(b.expires_at.unix_ms, b.earned_at.unix_ms, b.lot_id);
  });
}

std::vector<std::pair<std::string, int64_t>> flat(const std::vector<Allocation>& a) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& x : a) out.emplace_back(x.lot_id, x.points.value());
  return out;
}

using Flat = std::vector<std::pair<std::string, int64_t>>;

// ---- add_expiring ---------------------------------------------------------------------------

// Lots that expire on one date are one item: four sales of a day (two at the same minute)
// expire together, and "45 pts expire on 2027-11-22" would tell the customer a quarter of it.
TEST(LotsExpiring, LotsOfOneDateAddUpAndThreeDatesAreListed) {
  auto lot_at = [](std::string id, const char* expires, int64_t points) {
    Lot l = lot(std::move(id), 0, points);
    l.expires_at = at(expires);
    return l;
  };
  const std::vector<Lot> lots = {
      lot_at("a", "2027-11-22T10:15:00-06:00", 45), lot_at("b", "2027-11-22T10:15:00-06:00", 45),
      lot_at("c", "2027-11-22T18:00:00-06:00", 45), lot_at("d", "2027-11-22T23:30:00-06:00", 45),
      lot_at("e", "2027-11-23T00:10:00-06:00", 7),  lot_at("f", "2027-12-01T09:00:00-06:00", 3),
      lot_at("g", "2028-01-05T09:00:00-06:00", 2),  lot_at("h", "2028-01-05T10:00:00-06:00", 1)};
  std::vector<ExpiringPoints> next;
  size_t taken = 0;
  for (const Lot& l : lots) {
    if (!add_expiring(next, l, -360)) break;
    ++taken;
  }
  EXPECT_EQ(taken, 6u);  // the 7th lot would be a 4th date
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].points.value(), 180);
  EXPECT_EQ(format_rfc3339(next[0].expires_at), "2027-11-22T10:15:00-06:00");  // the first of them
  EXPECT_EQ(next[1].points.value(), 7);
  EXPECT_EQ(next[2].points.value(), 3);
  std::vector<ExpiringPoints> one;
  EXPECT_TRUE(add_expiring(one, lots[6], -360, 1));
  EXPECT_TRUE(add_expiring(one, lots[7], -360, 1));  // same date: still the one item
  EXPECT_FALSE(add_expiring(one, lots[0], -360, 1));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].points.value(), 3);
}

// Lots earned under two offsets (two zones, or a POS sending Z beside one sending local
// time) are dated in the asking request's offset: in each lot's own, 2027-03-11 came twice,
// out of order around 2027-03-10, and a third date fell off the list.
TEST(LotsExpiring, DatesAreThoseOfTheAskingRequestsOffset) {
  auto lot_at = [](std::string id, const char* expires, int64_t points) {
    Lot l = lot(std::move(id), 0, points);
    l.expires_at = at(expires);
    return l;
  };
  // In consumption order (by instant): 05:15Z, 05:30Z, 15:00Z.
  const std::vector<Lot> lots = {lot_at("a", "2027-03-11T00:15:00-05:00", 10),
                                 lot_at("b", "2027-03-10T23:30:00-06:00", 45),
                                 lot_at("c", "2027-03-11T10:00:00-05:00", 20)};
  std::vector<ExpiringPoints> next;
  for (const Lot& l : lots) ASSERT_TRUE(add_expiring(next, l, -300));
  ASSERT_EQ(next.size(), 1u);  // all on 2027-03-11 at -05:00
  EXPECT_EQ(next[0].points.value(), 75);
  EXPECT_EQ(format_rfc3339(next[0].expires_at), "2027-03-11T00:15:00-05:00");
  std::vector<ExpiringPoints> at_six;
  for (const Lot& l : lots) ASSERT_TRUE(add_expiring(at_six, l, -360));
  ASSERT_EQ(at_six.size(), 2u);  // 2027-03-10 (a and b at -06:00), then 2027-03-11
  EXPECT_EQ(format_date(at_six[0].expires_at), "2027-03-10");
  EXPECT_EQ(at_six[0].points.value(), 55);
  EXPECT_EQ(format_date(at_six[1].expires_at), "2027-03-11");
  EXPECT_EQ(at_six[1].points.value(), 20);
}

// ---- allocate_debit -----------------------------------------------------------------------

TEST(LotsAllocate, DebitsConsumeOldestExpiryFirst) {
  const std::vector<Lot> lots = {lot("a", 10, 10), lot("b", 20, 10), lot("c", 30, 10)};
  EXPECT_EQ(flat(allocate_debit(lots, Points(4))), (Flat{{"a", 4}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(15))), (Flat{{"a", 10}, {"b", 5}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(20))), (Flat{{"a", 10}, {"b", 10}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(25))), (Flat{{"a", 10}, {"b", 10}, {"c", 5}}));
}

// Each allocation carries its lot's place (expiry, earn time), for the store to find the lot
// by its key.
TEST(LotsAllocate, AllocationsCarryTheirLotsPlace) {
  const std::vector<Lot> lots = {lot("a", 10, 5), lot("b", 20, 5), lot("c", 30, 5)};
  const auto got = allocate_debit(lots, Points(7), "c");
  ASSERT_EQ(flat(got), (Flat{{"c", 5}, {"a", 2}}));
  EXPECT_EQ(got[0].place.expires_at.unix_ms, lots[2].expires_at.unix_ms);
  EXPECT_EQ(got[0].place.earned_at.unix_ms, lots[2].earned_at.unix_ms);
  EXPECT_EQ(got[1].place.expires_at.unix_ms, lots[0].expires_at.unix_ms);
  EXPECT_EQ(got[1].place.earned_at.unix_ms, lots[0].earned_at.unix_ms);
}

TEST(LotsAllocate, DebitBeyondAllLotsTakesWhatThereIs) {
  const std::vector<Lot> lots = {lot("a", 10, 3), lot("b", 20, 4)};
  EXPECT_EQ(flat(allocate_debit(lots, Points(100))), (Flat{{"a", 3}, {"b", 4}}));
  EXPECT_TRUE(allocate_debit({}, Points(100)).empty());
}

TEST(LotsAllocate, NothingToDebitTakesNothing) {
  const std::vector<Lot> lots = {lot("a", 10, 3)};
  EXPECT_TRUE(allocate_debit(lots, Points(0)).empty());
  EXPECT_TRUE(allocate_debit(lots, Points(-5)).empty());
  EXPECT_TRUE(allocate_debit(lots, Points(0), "a").empty());
}

TEST(LotsAllocate, EmptyLotsAreSkipped) {
  const std::vector<Lot> lots = {lot("a", 10, 0, 50), lot("b", 20, 5), lot("c", 25, 0, 9),
                                 lot("d", 30, 5)};
  EXPECT_EQ(flat(allocate_debit(lots, Points(8))), (Flat{{"b", 5}, {"d", 3}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(8), "a")), (Flat{{"b", 5}, {"d", 3}}));
}

TEST(LotsAllocate, PreferredLotGoesFirstThenOldestExpiry) {
  const std::vector<Lot> lots = {lot("a", 10, 10), lot("b", 20, 10), lot("c", 30, 10)};
  EXPECT_EQ(flat(allocate_debit(lots, Points(4), "b")), (Flat{{"b", 4}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(15), "b")), (Flat{{"b", 10}, {"a", 5}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(25), "c")), (Flat{{"c", 10}, {"a", 10}, {"b", 5}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(99), "b")), (Flat{{"b", 10}, {"a", 10}, {"c", 10}}));
  // An unknown or empty preference changes nothing.
  EXPECT_EQ(flat(allocate_debit(lots, Points(15), "zzz")), (Flat{{"a", 10}, {"b", 5}}));
  EXPECT_EQ(flat(allocate_debit(lots, Points(15), "")), (Flat{{"a", 10}, {"b", 5}}));
}

TEST(LotsAllocate, TiesOnExpiryFollowTheGivenOrder) {
  // The ledger orders by (expires_at, earned_at, lot_id); allocate_debit keeps that order.
  std::vector<Lot> lots = {lot("b", 10, 5), lot("a", 10, 5), lot("c", 5, 5)};
  lots[0].earned_at = lots[1].earned_at;  // same expiry and earning time: lot id decides
  sort_for_consumption(lots);
  EXPECT_EQ(flat(allocate_debit(lots, Points(12))), (Flat{{"c", 5}, {"a", 5}, {"b", 2}}));
}

// Random lots in consumption order: an allocation takes min(debit, Σ remaining), never more
// than a lot holds, the preferred lot first, and then a prefix of the others.
TEST(LotsAllocate, RandomDebitsTakeAPrefixInOrder) {
  const uint32_t seed = 0x1075;
  std::mt19937 rng(seed);
  for (int round = 0; round < 5000; ++round) {
    std::vector<Lot> lots;
    const int n = static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      lots.push_back(lot("L" + std::to_string(i), static_cast<int64_t>(rng() % 400),
                         rng() % 4 == 0 ? 0 : static_cast<int64_t>(rng() % 100)));
    }
    sort_for_consumption(lots);
    const int64_t total =
        std::accumulate(lots.begin(), lots.end(), int64_t{0},
                        [](int64_t s, const Lot& l) { return s + l.remaining.value(); });
    const Points debit(static_cast<int64_t>(rng() % 400));
    const std::string preferred =
        n > 0 && rng() % 2 ? lots[rng() % static_cast<uint32_t>(n)].lot_id : "";
    const auto alloc = allocate_debit(lots, debit, preferred);
    const auto where = [&](std::string_view id) {
      return std::find_if(lots.begin(), lots.end(), [&](const Lot& l) { return l.lot_id == id; });
    };

    int64_t taken = 0;
    for (size_t k = 0; k < alloc.size(); ++k) {
      const auto it = where(alloc[k].lot_id);
      ASSERT_NE(it, lots.end()) << "seed " << seed << " round " << round;
      ASSERT_GT(alloc[k].points, Points(0)) << "seed " << seed << " round " << round;
      ASSERT_LE(alloc[k].points, it->remaining) << "seed " << seed << " round " << round;
      taken += alloc[k].points.value();
      // Each lot at most once.
      for (size_t j = 0; j < k; ++j) ASSERT_NE(alloc[j].lot_id, alloc[k].lot_id);
    }
    ASSERT_EQ(taken, std::min(debit.value(), total)) << "seed " << seed << " round " << round;
    size_t k = 0;
    if (!preferred.empty() && where(preferred)->remaining > Points(0) && debit > Points(0)) {
      ASSERT_FALSE(alloc.empty());
      ASSERT_EQ(alloc[0].lot_id, preferred) << "seed " << seed << " round " << round;
      k = 1;
    }
    // The rest: the non-empty, non-preferred lots in order; all but the last taken in full.
    std::vector<const Lot*> rest;
    for (const Lot& l : lots) {
      if (l.lot_id != preferred && l.remaining > Points(0)) rest.push_back(&l);
    }
    for (size_t j = 0; k < alloc.size(); ++j, ++k) {
      ASSERT_LT(j, rest.size());
      ASSERT_EQ(alloc[k].lot_id, rest[j]->lot_id) << "seed " << seed << " round " << round;
      if (k + 1 < alloc.size()) {
        ASSERT_EQ(alloc[k].points, rest[j]->remaining) << "seed " << seed << " round " << round;
      }
    }
  }
}

// ---- lot_remaining_for_credit -------------------------------------------------------------

TEST(LotsCredit, ACreditFirstRepaysANegativeBalance) {
  struct Case {
    int64_t balance_before, credit, remaining;
  };
  for (const Case& c :
       {Case{-30, 45, 15}, Case{-50, 45, 0}, Case{-45, 45, 0}, Case{-44, 45, 1}, Case{0, 45, 45},
        Case{10, 45, 45}, Case{-1, 1, 0}, Case{-1, 2, 1}, Case{0, 0, 0}, Case{100, 0, 0}}) {
    EXPECT_EQ(lot_remaining_for_credit(Points(c.balance_before), Points(c.credit)),
              Points(c.remaining))
        << c.balance_before << " + " << c.credit;
  }
}

// ---- the lot invariant ---------------------------------------------------------------------

// A random life of an account: earnings, redemptions, clawbacks (their own lot first),
// negative adjustments beyond the balance, and expiry. After every step
// Σ lot.remaining == max(0, balance) (lots.h).
TEST(LotsInvariant, RemainingAlwaysEqualsTheNonNegativeBalance) {
  const uint32_t seed = 0x10751;
  std::mt19937 rng(seed);
  for (int life = 0; life < 200; ++life) {
    std::vector<Lot> lots;
    int64_t balance = 0;
    BusinessTime now = kT0;
    int next_id = 0;
    for (int step = 0; step < 200; ++step) {
      now = now.plus_minutes(static_cast<int64_t>(rng() % (20 * 24 * 60)));
      // Expiry on touch.
      for (const Lot& e : expired_lots(lots, now)) {
        ASSERT_LE(e.expires_at, now);
        balance -= e.remaining.value();
        for (Lot& l : lots) {
          if (l.lot_id == e.lot_id) l.remaining = Points(0);
        }
      }
      const uint32_t op = rng() % 3;
      const Points amount(1 + static_cast<int64_t>(rng() % 300));
      if (op == 0) {  // a credit (earning, restore, positive adjustment) creates a lot
        const Points rem = lot_remaining_for_credit(Points(balance), amount);
        lots.push_back(
            Lot{"L" + std::to_string(next_id++), "A", now, now.plus_days(365), amount, rem});
        balance += amount.value();
      } else {  // a debit, which may exceed the balance (clawbacks, adjustments)
        sort_for_consumption(lots);
        std::string preferred;
        if (op == 2 && !lots.empty()) preferred = lots[rng() % lots.size()].lot_id;
        for (const Allocation& a : allocate_debit(lots, amount, preferred)) {
          for (Lot& l : lots) {
            if (l.lot_id == a.lot_id) l.remaining -= a.points;
          }
        }
        balance -= amount.value();
      }
      int64_t sum = 0;
      for (const Lot& l : lots) {
        ASSERT_GE(l.remaining, Points(0))
            << "seed " << seed << " life " << life << " step " << step;
        ASSERT_LE(l.remaining, l.original)
            << "seed " << seed << " life " << life << " step " << step;
        sum += l.remaining.value();
      }
      ASSERT_EQ(sum, std::max<int64_t>(0, balance))
          << "seed " << seed << " life " << life << " step " << step;
    }
  }
}

// ---- expired_lots --------------------------------------------------------------------------

TEST(LotsExpiry, ALotExpiresAtItsExpiryInstant) {
  // lots.h: "expiry at or before `at`"; contract: a lot expires expiry_days after the sale.
  const std::vector<Lot> lots = {lot("a", 1, 10), lot("b", 2, 10)};
  const BusinessTime a_expiry = lots[0].expires_at;
  EXPECT_TRUE(expired_lots(lots, a_expiry.plus_minutes(-1)).empty());
  EXPECT_TRUE(expired_lots(lots, BusinessTime{a_expiry.unix_ms - 1, -360}).empty());
  const auto exactly = expired_lots(lots, a_expiry);
  ASSERT_EQ(exactly.size(), 1u);
  EXPECT_EQ(exactly[0].lot_id, "a");
  EXPECT_EQ(exactly[0].remaining, Points(10));
  EXPECT_EQ(expired_lots(lots, BusinessTime{a_expiry.unix_ms + 1, -360}).size(), 1u);
  EXPECT_EQ(expired_lots(lots, lots[1].expires_at).size(), 2u);
  EXPECT_EQ(expired_lots(lots, lots[1].expires_at.plus_days(1000)).size(), 2u);
}

TEST(LotsExpiry, ASalesLotExpiresExpiryDaysLaterToTheMillisecond) {
  const BusinessTime sale_at = at("2026-11-22T10:15:00-06:00");
  const std::vector<Lot> lots = {
      Lot{"earn:1", "A", sale_at, sale_at.plus_days(365), Points(45), Points(45)}};
  EXPECT_TRUE(expired_lots(lots, at("2027-11-22T10:14:59.999-06:00")).empty());
  EXPECT_EQ(expired_lots(lots, at("2027-11-22T10:15:00-06:00")).size(), 1u);
  // The same instant written in another offset.
  EXPECT_TRUE(expired_lots(lots, at("2027-11-22T16:14:59Z")).empty());
  EXPECT_EQ(expired_lots(lots, at("2027-11-22T16:15:00Z")).size(), 1u);
  EXPECT_EQ(expired_lots(lots, at("2027-11-23T00:15:00+08:00")).size(), 1u);
}

TEST(LotsExpiry, OnlyLotsThatStillHoldPointsExpire) {
  const std::vector<Lot> lots = {lot("spent", 1, 0, 30), lot("half", 2, 15, 30),
                                 lot("later", 400, 5)};
  const auto e = expired_lots(lots, kT0.plus_days(10));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].lot_id, "half");
  EXPECT_EQ(e[0].remaining, Points(15));  // only what is left expires
  EXPECT_EQ(e[0].original, Points(30));
  EXPECT_TRUE(expired_lots({}, kT0).empty());
}

}  // namespace
}  // namespace loyalty::domain
