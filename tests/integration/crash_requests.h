// The deterministic requests of the crash test (R1), shared by crash_child and the test:
// sale k of run r has id "<r>-<k>" and a body derived from (r, k) alone, so the test can
// rebuild and resend exactly what the child sent.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace crash {

constexpr int kCustomers = 40;

// splitmix64: a well-spread hash of (run, k).
inline uint64_t mix(int run, int k) {
  uint64_t x = (static_cast<uint64_t>(static_cast<uint32_t>(run)) << 32) | static_cast<uint32_t>(k);
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::string sale_id(int run, int k) { return std::to_string(run) + "-" + std::to_string(k); }

// A pseudo-random customer; one sale in ten is anonymous (empty).
inline std::string customer_of(int run, int k) {
  const uint64_t h = mix(run, k);
  if (h % 10 == 0) return {};
  return "card:" + std::to_string(4000000 + (h / 10) % kCustomers);
}

// "12.34" from a number of cents.
inline std::string money(uint64_t cents) {
  std::string c = std::to_string(cents % 100);
  return std::to_string(cents / 100) + "." + (c.size() == 1 ? "0" + c : c);
}

// One sale: one or two lines (the second sometimes the excluded GIFT-100), paid in cash or
// split with an excluded credit card.
inline std::string sale_body(int run, int k) {
  const uint64_t h = mix(run, k);
  const uint64_t line1 = 100 + (h >> 8) % 9000;
  const bool second = (h >> 24) % 3 == 0;
  const uint64_t line2 = second ? 1000 + (h >> 28) % 5000 : 0;
  const bool gift = (h >> 40) % 2 == 0;
  const uint64_t total = line1 + line2;
  std::string lines = R"([{"n":1,"sku":"CAFE","qty":"1","amount":")" + money(line1) + "\"}";
  if (second) {
    lines += std::string(R"(,{"n":2,"sku":")") + (gift ? "GIFT-100" : "PAN") +
             R"(","qty":"1","amount":")" + money(line2) + "\"}";
  }
  lines += "]";
  std::string tenders;
  if ((h >> 44) % 4 == 0) {
    const uint64_t card = total / 2;
    tenders = R"([{"method":"credit_card","amount":")" + money(card) +
              R"("},{"method":"cash","amount":")" + money(total - card + 500) +
              R"(","change":"5.00"}])";
  } else {
    tenders = R"([{"method":"cash","amount":")" + money(total) + "\"}]";
  }
  const std::string customer = customer_of(run, k);
  return R"({"type":"sale.completed","id":")" + sale_id(run, k) +
         R"(","at":"2026-11-22T10:15:00-06:00","ticket":"T)" + sale_id(run, k) + "\"" +
         (customer.empty() ? std::string() : R"(,"customer":")" + customer + "\"") +
         R"(,"lines":)" + lines + R"(,"tenders":)" + tenders + "}";
}

// The "earned" member of a response without a JSON library; -1 when absent.
inline int64_t earned_of(const char* response) {
  const char* p = std::strstr(response, "\"earned\":");
  return p != nullptr ? std::strtoll(p + 9, nullptr, 10) : -1;
}

// The "balance" member of a response; INT64_MIN when absent.
inline int64_t balance_of(const char* response) {
  const char* p = std::strstr(response, "\"balance\":");
  return p != nullptr ? std::strtoll(p + 10, nullptr, 10) : INT64_MIN;
}

}  // namespace crash
