// ASCII text helpers for the codes POS systems write in either case (currency codes, XML
// attribute values, mapping keys). Not for customer text: no locale, no Unicode folding.
#pragma once

#include <algorithm>
#include <string_view>

namespace loyalty::domain {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// "MXN" == "mxn"; bytes outside A-Z/a-z must match exactly.
inline bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

}  // namespace loyalty::domain
