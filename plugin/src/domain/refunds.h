// Rules 7 and 9: how much a refund claws back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domain/earning.h"

namespace loyalty::domain {

// What the ledger keeps of a sale so that later refunds claw back exactly (rule 7).
struct SaleLineRecord {
  int64_t n = 0;
  Money amount;
  Quantity qty;
  Percent percent;
  Money refunded;  // cumulative refunded amount of this line
};

struct SaleRecord {
  std::string branch;
  std::string ticket;
  std::string request_id;
  std::string account_id;     // empty: anonymous sale
  std::string earn_entry_id;  // the earning's entry (its lot), empty when it earned 0
  Points earned{0};
  Points clawed_back{0};      // cumulative
  Points redeemed{0};
  Points restored{0};         // points given back for it: by its void, and by refunds of it to points here
  bool voided = false;
  BusinessTime at;
  std::vector<SaleLineRecord> lines;
};

struct ClawbackDecision {
  Points clawback{0};          // claw back now (≥ 0)
  std::vector<SaleLineRecord> lines_after;  // the sale's lines with refunds applied
  std::vector<std::string> warnings;
};

// Rule 7, cumulative floor: target = floor(earned × R / W) with R the refunded weight so
// far; this refund claws back target − already clawed back.
Result<ClawbackDecision> clawback_for_refund(const SaleRecord& sale, const RefundCompleted& refund);

// Rule 9 with "clawback_at_rate": the refund priced like a sale at today's rules.
Result<Points> clawback_at_rate(const ProgramConfig& program, const RefundCompleted& refund,
                                const CustomerFacts& customer);

// Rule 8: points given back when refund tenders are points methods.
Points restored_by_refund(const ProgramConfig& program, const RefundCompleted& refund);

}  // namespace loyalty::domain
