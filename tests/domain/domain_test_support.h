// Helpers shared by the domain tests: literals for money, percents, quantities and times,
// and a small program like the contract's examples. Test-only; never linked into the plugin.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/earning.h"
#include "domain/fixed.h"
#include "domain/program.h"
#include "domain/requests.h"
#include "domain/time.h"

namespace loyalty::domain {

// Readable values in gtest failure messages (found by argument-dependent lookup).
template <class Tag>
void PrintTo(const Fixed<Tag>& x, std::ostream* os) {
  *os << x.str_trimmed();
}
inline void PrintTo(const Points& p, std::ostream* os) { *os << p.value() << " points"; }
inline void PrintTo(const BusinessTime& t, std::ostream* os) { *os << format_rfc3339(t); }

}  // namespace loyalty::domain

namespace loyalty::domain::testing {

// Literals. A malformed literal is a bug in the test: it fails the test and yields zero.
inline Money money(std::string_view s) {
  auto r = Money::parse(s);
  if (!r) {
    ADD_FAILURE() << "bad money literal '" << s << "': " << r.error().message;
    return Money{};
  }
  return *r;
}

inline Percent pct(std::string_view s) {
  auto r = Percent::parse(s);
  if (!r) {
    ADD_FAILURE() << "bad percent literal '" << s << "': " << r.error().message;
    return Percent{};
  }
  return *r;
}

inline Quantity qty(std::string_view s) {
  auto r = Quantity::parse(s);
  if (!r) {
    ADD_FAILURE() << "bad quantity literal '" << s << "': " << r.error().message;
    return Quantity{};
  }
  return *r;
}

inline BusinessTime at(std::string_view s) {
  auto r = parse_rfc3339(s);
  if (!r) {
    ADD_FAILURE() << "bad time literal '" << s << "': " << r.error().message;
    return BusinessTime{};
  }
  return *r;
}

// point_value 0.10 and 5 % (the contract's example), plus overrides for rule 1:
// SKU GIFT-100 excluded, SKU PROMO 10 %, category tabaco excluded, category comida 7 %,
// customer category gold 8 %, credit_card an excluded payment method.
inline ProgramConfig example_program() {
  ProgramConfig p;
  p.point_value = money("0.10");
  p.earn_percent = pct("5");
  p.excluded_payment_methods = {"credit_card"};
  p.sku_overrides = {{"GIFT-100", pct("0")}, {"PROMO", pct("10")}};
  p.category_overrides = {{"tabaco", pct("0")}, {"comida", pct("7")}};
  p.customer_categories = {{"gold", pct("8")}};
  return p;
}

inline SaleLine line(int64_t n, std::string_view amount, std::string sku = "",
                     std::string category = "") {
  return SaleLine{n, std::move(sku), std::move(category), Quantity::from_units(1), money(amount)};
}

inline Tender tender(std::string method, std::string_view amount, std::string_view change = "0") {
  return Tender{std::move(method), money(amount), money(change), ""};
}

inline SaleCompleted sale(std::vector<SaleLine> lines, std::vector<Tender> tenders) {
  SaleCompleted s;
  s.h.type = "sale.completed";
  s.h.id = "B01-T1-000123";
  s.ticket = "000123";
  s.customer = "card:4000123";
  s.lines = std::move(lines);
  s.tenders = std::move(tenders);
  return s;
}

inline CustomerFacts customer(std::string category = "") {
  return CustomerFacts{std::move(category), false, ""};
}

}  // namespace loyalty::domain::testing
