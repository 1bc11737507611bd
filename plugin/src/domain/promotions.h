// Extension point for promotions (double points by weekday/hour, birthday month, first
// visit, referral, tiers, caps per ticket/day, stamps).
//
// The base earning (rules 1-4) runs first; then each Promotion of the program, in order,
// may add bonus points or cap the total. Promotions are pure: they see the sale, the
// customer's facts the engine was given, and the earning so far.
#pragma once

#include <string>

#include "domain/fixed.h"
#include "domain/requests.h"

namespace loyalty::domain {

struct CustomerFacts {
  std::string category;
  bool first_visit = false;
  std::string birthday;  // "MM-DD" or empty
};

struct PromotionOutcome {
  Points bonus{0};          // added to the earning (may be negative for caps)
  std::string reason;       // shown in history and on the receipt when bonus != 0
};

class Promotion {
 public:
  virtual ~Promotion() = default;
  virtual std::string name() const = 0;
  virtual PromotionOutcome apply(const SaleCompleted& sale, const CustomerFacts& customer,
                                 Points earned_so_far) const = 0;
};

}  // namespace loyalty::domain
