#include "adapters/adapter.h"

#include <algorithm>

#include "domain/ascii.h"

namespace loyalty::adapters {

const std::string* lookup(const std::map<std::string, std::string>& table, std::string_view key) {
  if (auto it = table.find(std::string(key)); it != table.end()) return &it->second;
  for (const auto& [k, v] : table) {
    if (domain::ascii_iequals(k, key)) return &v;
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
