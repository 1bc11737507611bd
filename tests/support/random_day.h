// RandomDay: the random business of the random-day sync tests, shared so that the in-test
// hub (tests/app/sync_apply_test.cc, SyncApplyRandomTest) and the real loyalty-hub over
// websockets (tests/sync/client/sync_random_test.cc) drive the same mix of requests.
//
//   RandomDay day(seed);
//   add branches with `day.program()` in their [program] table;
//   for (int i = 0; i < 300; ++i) {
//     const int64_t step = day.time_step_ms();       // advance both clocks by it
//     day.request(i, [&](const std::string& b, json req) { ...; return answer; });
//   }
//
// The mix: sales of up to three lines with cash, credit card (excluded) or debit card, a
// sixth of them also part-paid with points; refunds of any branch's sales (random lines, a
// quarter back to points); holds captured or released; voids; adjustments; transfers;
// customer upserts that change the category or add an alias that may already be another
// card's. Six cards (`card:1`..`card:6`) on three branches (B1..B3). The program varies
// `unmatched_refund` and `on_points_tender` by seed, with a welcome bonus and transfers on.
// `send` fills in `id` and `at`; it returns the parsed answer. Header-only test helper.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "domain/time.h"

namespace loyalty::testing {

class RandomDay {
 public:
  using json = nlohmann::json;

  explicit RandomDay(uint32_t seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  // [program] keys of this seed.
  std::string program() {
    return std::string("welcome_bonus = 5\nallow_transfers = true\n") + "unmatched_refund = \"" +
           (pick(3) == 0 ? "ignore" : "clawback_at_rate") + "\"\n" + "on_points_tender = \"" +
           (pick(2) == 0 ? "block" : "earn_on_remainder") + "\"\n";
  }

  // Minutes between requests, now and then a jump of 15 to 34 days (past lots' expiry).
  int64_t time_step_ms() {
    return (pick(60) == 0 ? 24 * 60 * (15 + pick(20)) : pick(30)) * 60'000LL;
  }

  // The `at` of a request made at `unix_ms` (UTC).
  static std::string at(int64_t unix_ms) { return domain::format_rfc3339(domain::BusinessTime{unix_ms, 0}); }

  const std::vector<std::string>& branches() const { return branches_; }
  std::string card(int c) const { return "card:" + std::to_string(c); }
  static constexpr int kCards = 6;

  // One random request, the i-th of the day, at a random branch (see the header comment).
  template <class Send>
  void request(int i, Send&& send) {
    const std::string b = branches_[static_cast<size_t>(pick(3))];
    const std::string card_ref = card(1 + pick(kCards));
    const int what = pick(100);
    if (what < 45) {
      const std::string ticket = "S" + std::to_string(i);
      json lines = json::array();
      const int n = 1 + pick(3);
      for (int l = 1; l <= n; ++l) lines.push_back({{"n", l}, {"qty", "1"}, {"amount", money(20'000)}});
      static const char* kMethods[] = {"cash", "credit_card", "debit_card"};
      json tenders = json::array({{{"method", kMethods[pick(3)]}, {"amount", "1.00"}}});
      if (pick(6) == 0) tenders.push_back({{"method", "points"}, {"amount", money(300)}});
      const json r = send(b, {{"type", "sale.completed"}, {"ticket", ticket}, {"customer", card_ref},
                              {"lines", lines}, {"tenders", tenders}});
      if (r.value("ok", false)) sold_.push_back({b, ticket, card_ref, n});
    } else if (what < 65 && !sold_.empty()) {
      const Sold& s = sold_[static_cast<size_t>(pick(static_cast<int>(sold_.size())))];
      json lines = json::array();
      for (int l = 1; l <= s.lines; ++l) {
        if (pick(2) == 0) lines.push_back({{"n", l}, {"amount", money(20'000)}});
      }
      if (lines.empty()) lines.push_back({{"n", 1}, {"qty", "1"}});
      send(b, {{"type", "refund.completed"}, {"ticket", "R" + std::to_string(i)}, {"original_ticket", s.ticket},
               {"original_branch", s.branch}, {"customer", s.customer}, {"lines", lines},
               {"tenders", {{{"method", pick(4) == 0 ? "points" : "cash"}, {"amount", "1.00"}}}}});
    } else if (what < 75) {
      const std::string ticket = "P" + std::to_string(i);
      const json h = send(b, {{"type", "points.authorize"}, {"customer", card_ref}, {"ticket", ticket},
                              {"amount", money(400)}});
      if (h.value("ok", false) && pick(3) != 0) {
        const std::string amount = h["amount"];
        send(b, {{"type", "sale.completed"}, {"ticket", ticket}, {"customer", card_ref},
                 {"lines", {{{"n", 1}, {"amount", amount}}}},
                 {"tenders", {{{"method", "points"}, {"amount", amount}, {"hold", h["hold"]}}}}});
      } else if (h.value("ok", false)) {
        send(b, {{"type", "points.release"}, {"hold", h["hold"]}, {"customer", card_ref}});
      }
    } else if (what < 82 && !sold_.empty()) {
      const Sold& s = sold_[static_cast<size_t>(pick(static_cast<int>(sold_.size())))];
      send(s.branch, {{"type", "sale.voided"}, {"ticket", s.ticket}});
    } else if (what < 90) {
      send(b, {{"type", "points.adjust"}, {"customer", card_ref}, {"points", pick(200) - 100}, {"reason", "r"},
               {"operator", "ana"}});
    } else if (what < 94) {
      send(b, {{"type", "points.transfer"}, {"from", card_ref}, {"to", card(1 + pick(kCards))},
               {"points", 1 + pick(50)}});
    } else {
      json upsert = {{"type", "customer.upsert"}, {"customer", card_ref}, {"category", pick(2) == 0 ? "gold" : ""}};
      if (pick(2) == 0) upsert["aliases"] = json::array({"phone:" + std::to_string(pick(4))});  // may clash
      send(b, upsert);
    }
  }

 private:
  struct Sold {
    std::string branch, ticket, customer;
    int lines;
  };

  // An amount of 0.01 to max_cents / 100.
  std::string money(int max_cents) {
    const int c = 1 + pick(max_cents);
    return std::to_string(c / 100) + "." + (c % 100 < 10 ? "0" : "") + std::to_string(c % 100);
  }

  std::mt19937 rng_;
  std::vector<std::string> branches_ = {"B1", "B2", "B3"};
  std::vector<Sold> sold_;
};

}  // namespace loyalty::testing
