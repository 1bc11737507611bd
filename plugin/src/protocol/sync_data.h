// The `data` of a ledger entry: the kind-specific facts that travel with it to other
// branches (docs/sync.md, "Branch"). JSON text stored in entries.data and sent as the
// entry's "data" member. Thread-safe, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/refunds.h"
#include "domain/requests.h"
#include "domain/result.h"

namespace loyalty::protocol {

struct EntryFacts {
  // earn / sale: the sale record (lines with n, amount, qty, percent; earned, redeemed).
  std::optional<domain::SaleRecord> sale;
  // clawback / refund_correction / void_clawback / void_restore: which sale.
  std::string sale_branch, sale_ticket;
  bool is_refund = false;  // "refund" facts present
  bool is_void = false;    // "void" facts present
  bool matched = false;    // the refund found its sale where it was recorded
  // A matched refund or a correction: amount added to each sale line's `refunded`.
  std::vector<std::pair<int64_t, domain::Money>> refunded;
  // An unmatched refund: its lines as the POS sent them (for the later correction).
  std::vector<domain::RefundLine> refund_lines;
  // A correction: what the refunded part earned (the total clawback it stands for).
  int64_t target = 0;
  // A matched refund: the points it gave back to points (rule 8), which the sale counts so
  // that a void gives back only the rest of its redemption. Written only when not 0.
  int64_t restored = 0;
  // enroll / alias / category: the customer reference and category.
  std::string ref;
  std::optional<std::string> category;
};

// Compact JSON text; "" when `f` holds nothing.
std::string encode_facts(const EntryFacts& f);
// Parses what encode_facts wrote ("" gives empty facts); invalid_event naming the member.
domain::Result<EntryFacts> decode_facts(std::string_view json);

}  // namespace loyalty::protocol
