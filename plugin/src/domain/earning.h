// Rules 1-5 and 8 of the contract: what a sale earns, what redeeming costs.
// Pure functions; exact integer arithmetic on micro-units with 128-bit intermediates.
#pragma once

#include <string>
#include <vector>

#include "domain/fixed.h"
#include "domain/program.h"
#include "domain/promotions.h"
#include "domain/requests.h"

namespace loyalty::domain {

// Why a line's percent is 0, if it is: an override of its SKU or product category (the
// product is excluded), its customer's category, or the program's own earn_percent.
enum class LineExclusion { kNone = 1, kSku = 2, kCategory = 3, kCustomerCategory = 4, kProgram = 5 };

struct LineEarning {
  int64_t n = 0;
  Money amount;
  Percent percent;  // rule 1
  LineExclusion excluded = LineExclusion::kNone;
};

struct EarnBreakdown {
  Points base{0};    // rules 1-4
  Points earned{0};  // base plus promotions, never below zero
  std::vector<LineEarning> lines;
  Money eligible_tenders;         // net tenders that earn
  Money total_tenders;            // all net tenders
  Money excluded_method_amount;   // net paid with excluded methods
  std::vector<std::string> excluded_methods;  // which ones, in tender order, unique
  Money points_amount;            // net paid with points methods
  bool blocked_by_points = false; // rule 4, "block"
  std::vector<PromotionOutcome> promotions;
};

// Rule 1: a line's percent.
LineEarning line_earning(const ProgramConfig& program, const std::string& customer_category,
                         const SaleLine& line);

// Rules 1-4 (+ promotions). Fails only on arithmetic overflow (absurd amounts).
Result<EarnBreakdown> compute_earning(const ProgramConfig& program, const SaleCompleted& sale,
                                      const CustomerFacts& customer);

// Rule 5: ceil(amount / point_value).
Points redeem_cost(const ProgramConfig& program, Money amount);
// Rule 8: floor(amount / point_value).
Points points_for_value(const ProgramConfig& program, Money amount);
// Money value of points: points * point_value.
Money value_of(const ProgramConfig& program, Points points);

// Net amount of a tender (amount - change).
inline Money net_of(const Tender& t) { return t.amount - t.change; }

}  // namespace loyalty::domain
