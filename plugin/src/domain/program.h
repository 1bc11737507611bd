// The loyalty program an admin configures (contract section 3 and 6), as a plain value.
//
// A ProgramConfig is immutable once built; the service swaps whole programs atomically.
// `version` identifies it in every ledger entry computed with it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "domain/ascii.h"
#include "domain/fixed.h"

namespace loyalty::domain {

enum class PointsTenderPolicy { kBlock = 1, kEarnOnRemainder = 2 };
enum class UnmatchedRefundPolicy { kClawbackAtRate = 1, kIgnore = 2 };

class Promotion;  // see promotions.h

struct ProgramConfig {
  std::string version;  // content hash of the program, recorded with every entry
  std::string currency = "MXN";
  Money point_value = Money::from_micros(100'000);  // 0.10
  Percent earn_percent = Percent::from_units(5);
  int64_t expiry_days = 365;
  Points welcome_bonus{0};
  bool auto_enroll = true;
  std::set<std::string> points_methods{"points"};
  PointsTenderPolicy on_points_tender = PointsTenderPolicy::kBlock;
  std::set<std::string> excluded_payment_methods;
  UnmatchedRefundPolicy unmatched_refund = UnmatchedRefundPolicy::kClawbackAtRate;
  int64_t hold_minutes = 15;
  bool allow_transfers = false;
  std::map<std::string, Percent> customer_categories;  // customer category -> percent
  std::map<std::string, Percent> sku_overrides;        // SKU -> percent ("0" excludes)
  std::map<std::string, Percent> category_overrides;   // product category -> percent
  // Extra earning rules applied after the base rules (double points, caps, ...).
  std::vector<std::shared_ptr<const Promotion>> promotions;

  // Tender methods match in any ASCII case: a POS that writes "CREDIT_CARD" or "Points" must
  // not earn on a method the program excludes, nor pay with points without spending them.
  bool is_points_method(const std::string& m) const { return has_method(points_methods, m); }
  bool is_excluded_method(const std::string& m) const { return has_method(excluded_payment_methods, m); }

 private:
  static bool has_method(const std::set<std::string>& methods, const std::string& m) {
    return methods.count(m) != 0 ||
           std::any_of(methods.begin(), methods.end(), [&m](const std::string& x) { return ascii_iequals(x, m); });
  }
};

}  // namespace loyalty::domain
