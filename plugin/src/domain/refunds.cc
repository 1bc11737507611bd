#include "domain/refunds.h"

#include <algorithm>

namespace loyalty::domain {
namespace {

__extension__ typedef __int128 i128;

std::string line_field(size_t i, const char* name) {
  return "lines[" + std::to_string(i) + "]." + name;
}

// An excess of a qty-derived refund amount below a hundredth of a unit (what the warning
// would print as equal amounts) is the rounding of earlier qty refunds.
constexpr int64_t kQtyRoundingSlackMicros = kMicrosPerUnit / 100;

// A line counts at most its whole amount: branches that refunded the same line while cut off
// from each other can leave `refunded` above it (docs/sync.md, "Refunds across branches").
i128 refunded_weight(const std::vector<SaleLineRecord>& lines) {
  i128 r = 0;
  for (const auto& l : lines) {
    r += static_cast<i128>(std::min(l.refunded, l.amount).micros()) * l.percent.micros();
  }
  return r;
}

i128 total_weight(const std::vector<SaleLineRecord>& lines) {
  i128 w = 0;
  for (const auto& l : lines) w += static_cast<i128>(l.amount.micros()) * l.percent.micros();
  return w;
}

}  // namespace

Result<ClawbackDecision> clawback_for_refund(const SaleRecord& sale,
                                             const RefundCompleted& refund) {
  ClawbackDecision d;
  d.lines_after = sale.lines;
  auto& lines = d.lines_after;
  for (size_t i = 0; i < refund.lines.size(); ++i) {
    const RefundLine& rl = refund.lines[i];
    Money amount;
    bool from_qty = false;
    if (rl.n) {
      auto it = std::find_if(lines.begin(), lines.end(),
                             [&](const SaleLineRecord& l) { return l.n == *rl.n; });
      if (it == lines.end()) {
        return make_error(ErrorCode::kInvalidEvent, line_field(i, "n"),
                          "ticket " + sale.ticket + " has no line " + std::to_string(*rl.n));
      }
      if (rl.amount) {
        amount = *rl.amount;
      } else if (rl.qty && !it->qty.is_zero()) {
        // Amount pro rata of the quantity, rounded up to the micro-unit: pieces that add up to
        // the line's quantity then add up to at least its amount, so returning every unit, in
        // any number of refunds, refunds the whole line and claws back exactly what it earned
        // (rule 7); the cap below trims the excess. Clamped so an absurd qty cannot wrap.
        const i128 num = static_cast<i128>(it->amount.micros()) * rl.qty->micros();
        const i128 den = it->qty.micros();
        const i128 limit = static_cast<i128>(kMaxWholeUnits) * kMicrosPerUnit;
        const i128 pro_rata = num / den + (num % den > 0 ? 1 : 0);
        amount = Money::from_micros(static_cast<int64_t>(std::clamp(pro_rata, -limit, limit)));
        from_qty = true;
      } else {
        return make_error(ErrorCode::kInvalidEvent, line_field(i, "amount"),
                          "a refund line needs an amount (or a qty of a known line)");
      }
      const Money left = it->amount - it->refunded;
      if (amount > left) {
        // A rounded-up qty amount may pass what is left by a few micro-units (one at most per
        // earlier qty refund of the line): that is rounding, not an over-refund.
        if (!from_qty || (amount - left).micros() >= kQtyRoundingSlackMicros) {
          d.warnings.push_back("line " + std::to_string(it->n) + " refunds " + amount.str(2) +
                               " but only " + left.str(2) + " was left to refund; capped");
        }
        amount = left;
      }
      it->refunded += amount;
    } else {
      if (!rl.amount) {
        return make_error(ErrorCode::kInvalidEvent, line_field(i, "amount"),
                          "a refund line without n needs an amount");
      }
      // Without a line number the amount is applied to the original lines in order.
      Money todo = *rl.amount;
      for (auto& l : lines) {
        if (todo.is_zero()) break;
        const Money take = std::min(todo, l.amount - l.refunded);
        l.refunded += take;
        todo -= take;
      }
      if (!todo.is_zero()) {
        d.warnings.push_back("refund exceeds what was left of ticket " + sale.ticket +
                             " by " + todo.str(2) + "; capped");
      }
    }
  }
  const i128 w = total_weight(lines);
  if (w <= 0 || sale.earned.value() <= 0) return d;
  const i128 r = refunded_weight(lines);
  const i128 target = static_cast<i128>(sale.earned.value()) * r / w;  // floor, ≤ earned as r ≤ w
  const int64_t claw = static_cast<int64_t>(target) - sale.clawed_back.value();
  d.clawback = Points(std::max<int64_t>(0, claw));
  return d;
}

Result<Points> clawback_at_rate(const ProgramConfig& program, const RefundCompleted& refund,
                                const CustomerFacts& customer) {
  SaleCompleted as_sale;
  as_sale.h = refund.h;
  as_sale.customer = refund.customer;
  for (size_t i = 0; i < refund.lines.size(); ++i) {
    const RefundLine& rl = refund.lines[i];
    if (!rl.amount) {
      return make_error(ErrorCode::kInvalidEvent, line_field(i, "amount"),
                        "the original sale is unknown, so each refund line needs an amount");
    }
    as_sale.lines.push_back(SaleLine{rl.n.value_or(static_cast<int64_t>(i + 1)), rl.sku,
                                     rl.category, rl.qty.value_or(Quantity{}), *rl.amount});
  }
  as_sale.tenders = refund.tenders;
  CustomerFacts facts = customer;
  facts.first_visit = false;
  ProgramConfig base = program;
  base.promotions.clear();  // promotions reward visits, not refunds
  auto b = compute_earning(base, as_sale, facts);
  if (!b) return b.error();
  return b->base;
}

Points restored_by_refund(const ProgramConfig& program, const RefundCompleted& refund) {
  Money to_points;
  for (const Tender& t : refund.tenders) {
    if (program.is_points_method(t.method)) to_points += net_of(t);
  }
  return points_for_value(program, to_points);
}

}  // namespace loyalty::domain
