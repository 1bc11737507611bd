#include "adapters/adapter.h"

#include <algorithm>
#include <cctype>

namespace loyalty::adapters {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}
}  // namespace

const std::string* lookup(const std::map<std::string, std::string>& table, std::string_view key) {
  if (auto it = table.find(std::string(key)); it != table.end()) return &it->second;
  for (const auto& [k, v] : table) {
    if (iequals(k, key)) return &v;
  }
  return nullptr;
}

const Adapter* find_adapter(std::string_view name) {
  for (const Adapter* a : all_adapters()) {
    if (a->name() == name) return a;
  }
  return nullptr;
}

}  // namespace loyalty::adapters
