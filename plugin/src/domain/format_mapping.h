// How one foreign POS format's codes map onto the contract's words: the [adapters.<name>]
// section of the TOML (docs/configuration.md), used by the translators under adapters/.
// Plain data; lookups are exact first, then case-insensitive (adapters::lookup).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace loyalty::domain {

struct FormatMapping {
  std::string branch;  // the contract branch of events whose store is not in `stores`
  std::map<std::string, std::string> stores;      // format's store/location id -> branch
  std::map<std::string, std::string> tenders;     // format's tender code -> contract method
  std::map<std::string, std::string> categories;  // format's department/category -> ours
  std::string customer_prefix = "card:";  // reference = prefix + the format's customer id
  int32_t utc_offset_minutes = 0;         // for timestamps written without an offset
  std::string currency;                   // when the input does not say
};

}  // namespace loyalty::domain
