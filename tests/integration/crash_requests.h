// The deterministic requests of the crash test, shared by the child and the test.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace crash {

constexpr int kCustomers = 50;

inline std::string sale_id(int run, int k) { return "crash-" + std::to_string(run) + "-" + std::to_string(k); }

inline std::string customer_of(int run, int k) {
  return "card:" + std::to_string((static_cast<uint32_t>(run) * 2654435761u + static_cast<uint32_t>(k) * 40503u) %
                                  kCustomers);
}

inline std::string sale_body(int run, int k) {
  const std::string amount = std::to_string(10 + k % 90) + ".25";
  return R"({"type":"sale.completed","id":")" + sale_id(run, k) +
         R"(","at":"2026-11-22T10:15:00-06:00","ticket":"C)" + std::to_string(run) + "-" + std::to_string(k) +
         R"(","customer":")" + customer_of(run, k) + R"(","lines":[{"n":1,"sku":"CAFE","amount":")" + amount +
         R"("}],"tenders":[{"method":"cash","amount":")" + amount + R"("}]})";
}

// The "earned" field of a response, without a JSON library.
inline int64_t earned_of(const char* response) {
  const char* p = std::strstr(response, "\"earned\":");
  return p ? std::strtoll(p + 9, nullptr, 10) : -1;
}

}  // namespace crash
