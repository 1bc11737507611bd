// Rule 6: lots, oldest expiry first. Invariant kept by every caller:
// Σ lot.remaining == max(0, balance).
#pragma once

#include <string>
#include <vector>

#include "domain/fixed.h"
#include "domain/responses.h"
#include "domain/time.h"

namespace loyalty::domain {

struct Lot {
  std::string lot_id;  // the entry id of the credit that created it
  std::string account_id;
  BusinessTime earned_at;
  BusinessTime expires_at;
  Points original{0};
  Points remaining{0};
};

// Where a lot sits in its account's consumption order: with its id, its whole key.
struct LotPlace {
  BusinessTime expires_at;
  BusinessTime earned_at;
};

struct Allocation {
  std::string lot_id;
  Points points{0};  // taken from the lot (> 0)
  // The lot's place: a store finds the lot by its whole key instead of among all of the
  // account's lots (the busiest customer of a replayed day had 1,034).
  LotPlace place;
};

// `points` of `lot`, with its place.
inline Allocation take_from(const Lot& lot, Points points) {
  return Allocation{lot.lot_id, points, LotPlace{lot.expires_at, lot.earned_at}};
}

// Takes up to `debit` points from `lots`, which must be in consumption order
// (expires_at, earned_at, lot_id). A `preferred_lot` (a clawback's own sale) goes first.
std::vector<Allocation> allocate_debit(const std::vector<Lot>& lots, Points debit,
                                       const std::string& preferred_lot = {});

// The remaining points of the lot a credit creates, given the balance before it.
inline Points lot_remaining_for_credit(Points balance_before, Points credit) {
  return max(Points(0), min(credit, balance_before + credit));
}

// Lots whose expiry is at or before `at` and that still hold points.
std::vector<Lot> expired_lots(const std::vector<Lot>& lots, const BusinessTime& at);

// The next expiry dates (balance.query `expiring`, receipt `{expiring}`): each item is the
// points that expire on one calendar date (of the lots' own offset), `expires_at` the first
// of them. Call with the unexpired lots in consumption order: a lot on the date of the last
// item adds to it, a lot on a later date starts a new item. False, adding nothing, once a
// lot would start item `max_dates + 1` (the caller stops there).
// Dates are those of `offset_minutes` (the asking request's offset), the same for every lot:
// in each lot's own offset, lots earned under -06:00 and -05:00 gave one date twice and
// dates out of order. Each item's `expires_at` is shown in that offset too.
bool add_expiring(std::vector<ExpiringPoints>& next, const Lot& lot, int32_t offset_minutes,
                  size_t max_dates = 3);
// The same for a lot known only by its expiry and remaining points.
bool add_expiring(std::vector<ExpiringPoints>& next, const BusinessTime& lot_expires_at, Points remaining,
                  int32_t offset_minutes, size_t max_dates = 3);

// The id of the entry that expires a lot: deterministic, so that whichever writer applies
// the expiry (a request, the sweep, history's preview of it) names the same entry.
inline std::string expiry_entry_id(const std::string& lot_id) { return "expire:" + lot_id; }

}  // namespace loyalty::domain
