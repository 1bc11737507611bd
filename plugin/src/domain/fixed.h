// Exact decimal quantities: money, percentages and quantities as integer micro-units.
//
// No binary floating point ever touches an amount. A value is an int64 count of
// millionths (6 decimal places), which covers every currency's minor unit and weighed
// quantities like "0.350". Inputs are limited to |x| < 10^12 so that products of two
// values fit comfortably in 128-bit intermediates.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/result.h"

namespace loyalty::domain {

inline constexpr int64_t kMicrosPerUnit = 1'000'000;
inline constexpr int kMaxDecimals = 6;
inline constexpr int64_t kMaxWholeUnits = 1'000'000'000'000;  // 10^12

// Parses a plain decimal string: optional '-', digits, optional '.' and up to six digits.
// No exponent, no '+', no spaces, no thousands separators.
Result<int64_t> parse_micros(std::string_view text);

// Formats micro-units with exactly `decimals` places (truncating toward zero past them).
std::string format_micros(int64_t micros, int decimals);
// Formats with as many places as needed, at least `min_decimals` ("5", "2.5", "90.00").
std::string format_micros_trimmed(int64_t micros, int min_decimals);

template <class Tag>
class Fixed {
 public:
  constexpr Fixed() = default;
  static constexpr Fixed from_micros(int64_t micros) { return Fixed(micros); }
  static constexpr Fixed from_units(int64_t units) { return Fixed(units * kMicrosPerUnit); }
  static Result<Fixed> parse(std::string_view text) {
    auto m = parse_micros(text);
    if (!m) return m.error();
    return Fixed(*m);
  }

  constexpr int64_t micros() const { return micros_; }
  constexpr bool is_zero() const { return micros_ == 0; }
  constexpr bool is_negative() const { return micros_ < 0; }

  constexpr Fixed operator+(Fixed o) const { return Fixed(micros_ + o.micros_); }
  constexpr Fixed operator-(Fixed o) const { return Fixed(micros_ - o.micros_); }
  constexpr Fixed& operator+=(Fixed o) { micros_ += o.micros_; return *this; }
  constexpr Fixed& operator-=(Fixed o) { micros_ -= o.micros_; return *this; }
  constexpr auto operator<=>(const Fixed&) const = default;

  std::string str(int decimals) const { return format_micros(micros_, decimals); }
  std::string str_trimmed(int min_decimals = 0) const {
    return format_micros_trimmed(micros_, min_decimals);
  }

 private:
  constexpr explicit Fixed(int64_t micros) : micros_(micros) {}
  int64_t micros_ = 0;
};

struct MoneyTag {};
struct PercentTag {};
struct QuantityTag {};
using Money = Fixed<MoneyTag>;        // an amount in the sale currency
using Percent = Fixed<PercentTag>;    // "5" means five percent
using Quantity = Fixed<QuantityTag>;  // items or weight

// Whole loyalty points. Signed: debits are negative.
class Points {
 public:
  constexpr Points() = default;
  constexpr explicit Points(int64_t v) : v_(v) {}
  constexpr int64_t value() const { return v_; }
  constexpr Points operator+(Points o) const { return Points(v_ + o.v_); }
  constexpr Points operator-(Points o) const { return Points(v_ - o.v_); }
  constexpr Points operator-() const { return Points(-v_); }
  constexpr Points& operator+=(Points o) { v_ += o.v_; return *this; }
  constexpr Points& operator-=(Points o) { v_ -= o.v_; return *this; }
  constexpr auto operator<=>(const Points&) const = default;

 private:
  int64_t v_ = 0;
};

inline constexpr Points min(Points a, Points b) { return a < b ? a : b; }
inline constexpr Points max(Points a, Points b) { return a < b ? b : a; }

}  // namespace loyalty::domain
