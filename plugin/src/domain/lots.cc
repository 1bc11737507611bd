#include "domain/lots.h"

namespace loyalty::domain {

std::vector<Allocation> allocate_debit(const std::vector<Lot>& lots, Points debit,
                                       const std::string& preferred_lot) {
  std::vector<Allocation> out;
  Points todo = debit;
  auto take = [&](const Lot& lot) {
    if (todo <= Points(0) || lot.remaining <= Points(0)) return;
    const Points t = min(todo, lot.remaining);
    out.push_back(take_from(lot, t));
    todo -= t;
  };
  if (!preferred_lot.empty()) {
    for (const Lot& lot : lots) {
      if (lot.lot_id == preferred_lot) take(lot);
    }
  }
  for (const Lot& lot : lots) {
    if (lot.lot_id != preferred_lot) take(lot);
  }
  return out;
}

std::vector<Lot> expired_lots(const std::vector<Lot>& lots, const BusinessTime& at) {
  std::vector<Lot> out;
  for (const Lot& lot : lots) {
    if (lot.remaining > Points(0) && lot.expires_at <= at) out.push_back(lot);
  }
  return out;
}

bool add_expiring(std::vector<ExpiringPoints>& next, const Lot& lot, int32_t offset_minutes,
                  size_t max_dates) {
  return add_expiring(next, lot.expires_at, lot.remaining, offset_minutes, max_dates);
}

bool add_expiring(std::vector<ExpiringPoints>& next, const BusinessTime& lot_expires_at, Points remaining,
                  int32_t offset_minutes, size_t max_dates) {
  const BusinessTime expires{lot_expires_at.unix_ms, offset_minutes};
  if (!next.empty() && local_day(next.back().expires_at) == local_day(expires)) {
    next.back().points += remaining;
    return true;
  }
  if (next.size() >= max_dates) return false;
  next.push_back(ExpiringPoints{remaining, expires});
  return true;
}

}  // namespace loyalty::domain
