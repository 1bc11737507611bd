#include "domain/fixed.h"

#include <cstdlib>

namespace loyalty::domain {
namespace {

Error bad_decimal(std::string message) {
  return make_error(ErrorCode::kInvalidEvent, "", std::move(message));
}

}  // namespace

Result<int64_t> parse_micros(std::string_view text) {
  if (text.empty()) return bad_decimal("empty decimal");
  size_t i = 0;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    i = 1;
  }
  int64_t whole = 0;
  size_t whole_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') {
      return bad_decimal("'" + std::string(text) + "' is not a plain decimal (digits and '.')");
    }
    whole = whole * 10 + (c - '0');
    ++whole_digits;
    if (whole >= kMaxWholeUnits) {
      return bad_decimal("'" + std::string(text) + "' is too large (at most 12 integer digits)");
    }
  }
  int64_t frac = 0;
  int frac_digits = 0;
  if (i < text.size()) {  // at '.'
    ++i;
    if (i == text.size()) return bad_decimal("'" + std::string(text) + "' ends with '.'");
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') {
        return bad_decimal("'" + std::string(text) + "' is not a plain decimal (digits and '.')");
      }
      if (++frac_digits > kMaxDecimals) {
        return bad_decimal("'" + std::string(text) + "' has more than 6 decimal places");
      }
      frac = frac * 10 + (c - '0');
    }
  }
  if (whole_digits == 0) {
    return bad_decimal("'" + std::string(text) + "' has no digits before '.'");
  }
  for (int k = frac_digits; k < kMaxDecimals; ++k) frac *= 10;
  const int64_t micros = whole * kMicrosPerUnit + frac;
  return negative ? -micros : micros;
}

std::string format_micros(int64_t micros, int decimals) {
  if (decimals < 0) decimals = 0;
  if (decimals > kMaxDecimals) decimals = kMaxDecimals;
  const bool negative = micros < 0;
  // Work on the magnitude in unsigned space so INT64_MIN is safe.
  const uint64_t mag = negative ? 0 - static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
  const uint64_t whole = mag / kMicrosPerUnit;
  uint64_t frac = mag % kMicrosPerUnit;
  for (int k = decimals; k < kMaxDecimals; ++k) frac /= 10;
  std::string out = negative && (whole != 0 || frac != 0) ? "-" : "";
  out += std::to_string(whole);
  if (decimals > 0) {
    std::string f = std::to_string(frac);
    out += '.';
    out.append(static_cast<size_t>(decimals) - f.size(), '0');
    out += f;
  }
  return out;
}

std::string format_micros_trimmed(int64_t micros, int min_decimals) {
  int decimals = kMaxDecimals;
  int64_t m = micros < 0 ? -micros : micros;
  while (decimals > min_decimals && m % 10 == 0) {
    m /= 10;
    --decimals;
  }
  return format_micros(micros, decimals);
}

}  // namespace loyalty::domain
