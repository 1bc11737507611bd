#include "domain/earning.h"

#include <algorithm>

namespace loyalty::domain {
namespace {

__extension__ typedef __int128 i128;

// floor(a / b) for b > 0.
i128 floor_div(i128 a, i128 b) {
  i128 q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

bool mul_ok(i128 a, i128 b, i128& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

LineEarning line_earning(const ProgramConfig& program, const std::string& customer_category,
                         const SaleLine& line) {
  LineEarning le{line.n, line.amount, program.earn_percent, LineExclusion::kNone};
  if (auto it = program.sku_overrides.find(line.sku); !line.sku.empty() &&
                                                      it != program.sku_overrides.end()) {
    le.percent = it->second;
    if (le.percent.is_zero()) le.excluded = LineExclusion::kSku;
  } else if (auto jt = program.category_overrides.find(line.category);
             !line.category.empty() && jt != program.category_overrides.end()) {
    le.percent = jt->second;
    if (le.percent.is_zero()) le.excluded = LineExclusion::kCategory;
  } else if (auto kt = program.customer_categories.find(customer_category);
             !customer_category.empty() && kt != program.customer_categories.end()) {
    le.percent = kt->second;
    if (le.percent.is_zero()) le.excluded = LineExclusion::kCustomerCategory;
  } else if (le.percent.is_zero()) {
    le.excluded = LineExclusion::kProgram;
  }
  return le;
}

Result<EarnBreakdown> compute_earning(const ProgramConfig& program, const SaleCompleted& sale,
                                      const CustomerFacts& customer) {
  EarnBreakdown b;
  // Rule 2: tender share.
  for (const Tender& t : sale.tenders) {
    const Money net = net_of(t);
    b.total_tenders += net;
    if (program.is_points_method(t.method)) {
      b.points_amount += net;
    } else if (program.is_excluded_method(t.method)) {
      b.excluded_method_amount += net;
      if (std::find(b.excluded_methods.begin(), b.excluded_methods.end(), t.method) ==
          b.excluded_methods.end()) {
        b.excluded_methods.push_back(t.method);
      }
    } else {
      b.eligible_tenders += net;
    }
  }
  // Rule 1 and the weighted sum W = Σ amount × percent (scale 10^12).
  i128 weight = 0;
  for (const SaleLine& line : sale.lines) {
    LineEarning le = line_earning(program, customer.category, line);
    weight += static_cast<i128>(le.amount.micros()) * le.percent.micros();
    b.lines.push_back(le);
  }
  // Rule 4.
  const bool has_points_tender = std::any_of(sale.tenders.begin(), sale.tenders.end(),
      [&](const Tender& t) { return program.is_points_method(t.method); });
  if (has_points_tender && program.on_points_tender == PointsTenderPolicy::kBlock) {
    b.blocked_by_points = true;
    return b;
  }
  // Rule 3: floor(W × E / (T × 100 × V × 10^6)), or s = 1 without tenders.
  i128 num = weight, den = static_cast<i128>(100) * program.point_value.micros() * kMicrosPerUnit;
  if (!sale.tenders.empty()) {
    const int64_t e = std::max<int64_t>(0, b.eligible_tenders.micros());
    const int64_t t = b.total_tenders.micros();
    if (t <= 0) {
      num = 0;  // nothing was paid: nothing to earn on
    } else if (e < t) {  // s < 1 (s is capped at 1)
      if (!mul_ok(num, e, num) || !mul_ok(den, t, den)) {
        return make_error(ErrorCode::kInvalidEvent, "lines",
                          "amounts too large to compute the earning exactly");
      }
    }
  }
  if (den <= 0) return make_error(ErrorCode::kInternal, "point_value", "point value is not positive");
  const i128 points = num <= 0 ? 0 : floor_div(num, den);
  if (points > static_cast<i128>(INT64_MAX / 4)) {
    return make_error(ErrorCode::kInvalidEvent, "lines", "the sale would earn an absurd number of points");
  }
  b.base = Points(static_cast<int64_t>(points));
  b.earned = b.base;
  for (const auto& promo : program.promotions) {
    PromotionOutcome out = promo->apply(sale, customer, b.earned);
    if (out.bonus.value() != 0) {
      b.earned += out.bonus;
      b.promotions.push_back(std::move(out));
    }
  }
  b.earned = max(b.earned, Points(0));
  return b;
}

Points redeem_cost(const ProgramConfig& program, Money amount) {
  const int64_t v = program.point_value.micros();
  const int64_t a = amount.micros();
  if (a <= 0) return Points(0);
  return Points(a / v + (a % v != 0 ? 1 : 0));
}

Points points_for_value(const ProgramConfig& program, Money amount) {
  const int64_t a = amount.micros();
  if (a <= 0) return Points(0);
  return Points(a / program.point_value.micros());
}

Money value_of(const ProgramConfig& program, Points points) {
  return Money::from_micros(points.value() * program.point_value.micros());
}

}  // namespace loyalty::domain
