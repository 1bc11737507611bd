// Random store days through the real Service on a real SQLite ledger. Whatever the mix of
// requests (sales with every tender, holds, voids, partial refunds of random lines, refunds
// back to points, unknown originals, adjustments, transfers, customers and aliases, time
// jumps past expiry, retries and malformed input), these must hold after every request:
//  - no answer is `internal`, `ok` agrees with the return code, receipts fit the width;
//  - a retry (same id, same body) gets the first answer byte for byte and writes nothing;
//  - a malformed request writes nothing;
//  - a sale's refunds never claw back more than it earned (rule 7);
//  - for every customer: available <= balance, and the points of its whole history add up
//    to its balance (expiries included, also those no write has applied yet);
//  - loyaltyctl verify finds every balance equal to its recomputation;
//  - balance.query, answered from the ledger's projection in memory (preloaded and refreshed
//    in the background on even seeds), says what a second connection without one says.
// Each seed is one day of ~600 requests; a failure names the seed and the request.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/service.h"
#include "config/load.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "manual_clock.h"
#include "service_on_ledger.h"

namespace loyalty {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kCustomers = 10;
constexpr int kRequests = 600;
constexpr int kCheckEvery = 40;
constexpr int64_t kMinuteMs = 60'000;

struct SaleSeen {
  std::string ticket;
  std::string customer;
  std::vector<std::pair<std::string, std::string>> lines;  // amount, qty of line n = index + 1
  int64_t earned = 0;
  int64_t clawed_back = 0;  // by the refunds that named it
};

struct HoldSeen {
  std::string id, ticket, customer, amount;
};

class ServiceRandomTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-random-XXXXXX";
    dir_ = mkdtemp(tmpl);
    rng_.seed(GetParam());
    const bool remainder = pick(2) == 0;
    const bool ignore_unmatched = pick(3) == 0;
    const std::string toml = std::string("[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\nsynchronous = \"normal\"\n") +
                             "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\nexpiry_days = 30\n" +
                             "welcome_bonus = 5\nallow_transfers = true\nhold_minutes = 15\n" +
                             "excluded_payment_methods = [\"credit_card\"]\n" +
                             "on_points_tender = \"" + (remainder ? "earn_on_remainder" : "block") + "\"\n" +
                             "unmatched_refund = \"" + (ignore_unmatched ? "ignore" : "clawback_at_rate") + "\"\n" +
                             "[program.categories]\ngold = \"8\"\n" +
                             "[program.overrides.sku]\n\"GIFT-100\" = \"0\"\n\"PAN\" = \"3.5\"\n" +
                             "[program.overrides.category]\n\"tabaco\" = \"0\"\n";
    // Every third seed holds its groups (LedgerOptions::hold_commit_ms: needs the background
    // thread), so requests also read inside a group whose members are not COMMITted yet.
    held_ = GetParam() % 3 == 0;
    auto opened = testing::open_service(toml, dir_, clock_, /*synchronous=*/1,
                                        /*checkpoint_pages=*/held_ ? ledger::LedgerOptions{}.checkpoint_pages : 0,
                                        /*preload_balances=*/GetParam() % 2 == 0);
    ASSERT_TRUE(opened.service);
    ledger_ = std::move(opened.ledger);
    service_ = std::move(opened.service);
    // The reference for balance.query: SQLite itself, on a connection of its own.
    auto settings = config::parse_settings(toml, dir_ + "/loyalty.toml");
    ASSERT_TRUE(settings.ok());
    ledger::LedgerOptions o;
    o.path = settings->db_path;
    o.branch = settings->branch;
    o.read_only = true;
    o.balance_projection = false;
    o.read_reuse_us = 0;
    reference_ledger_ = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    reference_ = std::make_unique<app::Service>(
        reference_ledger_, std::make_shared<const config::Settings>(std::move(*settings)), clock_);
  }
  void TearDown() override {
    reference_.reset();
    reference_ledger_.reset();
    service_.reset();
    ledger_.reset();
    fs::remove_all(dir_);
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::string customer() { return "card:" + std::to_string(1 + pick(kCustomers)); }
  // 0.00 .. 250.00, now and then with an odd number of cents.
  std::string amount(int max_cents = 25'000) {
    const int cents = pick(max_cents + 1);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%02d", cents / 100, cents % 100);
    return buf;
  }
  static int64_t cents_of(const std::string& a) {
    const auto dot = a.find('.');
    return std::stoll(a.substr(0, dot)) * 100 + std::stoll(a.substr(dot + 1));
  }
  static std::string money(int64_t cents) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld.%02lld", static_cast<long long>(cents / 100), static_cast<long long>(cents % 100));
    return buf;
  }
  std::string at() const {
    const int64_t local = clock_->now - 6 * 60 * kMinuteMs;  // written at UTC-06:00
    const int64_t days = local / (24 * 60 * kMinuteMs);
    const int64_t in_day = local % (24 * 60 * kMinuteMs) / 1000;
    // civil_from_days (H. Hinnant)
    const int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    char buf[96];
    snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld-06:00", static_cast<long long>(y),
             static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(in_day / 3600),
             static_cast<long long>(in_day / 60 % 60), static_cast<long long>(in_day % 60));
    return buf;
  }

  // Sends one request and checks what every answer must satisfy; returns the answer.
  json send(json req) {
    req["id"] = "r" + std::to_string(++n_);
    if (!req.contains("at")) req["at"] = at();
    const std::string body = req.dump();
    auto out = service_->handle(body);
    context_ = "seed " + std::to_string(GetParam()) + ", request " + body + "\n -> " + out.json;
    EXPECT_NE(out.code, 8) << context_;
    json r = json::parse(out.json);
    EXPECT_EQ(r["ok"].get<bool>(), out.code == 0) << context_;
    if (r.contains("receipt")) {
      for (const auto& line : r["receipt"]) EXPECT_LE(line.get<std::string>().size(), 42u) << context_;
    }
    if (req["type"] != "balance.query" && req["type"] != "history.query") {
      sent_.push_back({body, out.json});
      // Held: the reference (another connection) sees the group once it is COMMITted; every
      // 4th request, so that groups of several members form in between.
      if (!held_ || n_ % 4 == 0) {
        if (held_) ledger_->flush();
        if (req.contains("customer") && req["customer"].is_string()) compare_balance(req["customer"]);
        compare_balance(customer());
      }
    }
    return r;
  }

  int64_t entries() {
    return ledger_->with_db([&](sqlite3*) {
      auto q = ledger_->query("SELECT count(*) FROM entries");
      q.step();
      return q.i64(0);
    });
  }

  void sale() {
    const bool anonymous = pick(5) == 0;
    json req = {{"type", "sale.completed"}, {"ticket", "T" + std::to_string(n_ + 1)}};
    std::optional<HoldSeen> hold;
    if (!anonymous && !holds_.empty() && pick(2) == 0) {  // completes a ticket that holds points
      const auto it = std::next(holds_.begin(), pick(static_cast<int>(holds_.size())));
      hold = it->second;
      holds_.erase(it);
      req["ticket"] = hold->ticket;
    }
    const std::string who = hold ? hold->customer : customer();
    if (!anonymous) req["customer"] = who;
    static const std::vector<std::pair<std::string, std::string>> kSkus = {
        {"CAFE", "bebidas"}, {"PAN", "panaderia"}, {"GIFT-100", "gift-cards"}, {"CIG", "tabaco"}, {"TORTA", "comida"}};
    SaleSeen seen{req["ticket"], anonymous ? "" : who, {}, 0, 0};
    json lines = json::array();
    int64_t total = 0;
    const int count = 1 + pick(4);
    for (int n = 1; n <= count; ++n) {
      const auto& [sku, category] = kSkus[static_cast<size_t>(pick(static_cast<int>(kSkus.size())))];
      const std::string a = amount(pick(4) == 0 ? 500 : 25'000);
      const std::string qty = pick(3) == 0 ? "0.350" : std::to_string(1 + pick(3));
      lines.push_back({{"n", n}, {"sku", sku}, {"category", category}, {"qty", qty}, {"amount", a}});
      seen.lines.emplace_back(a, qty);
      total += cents_of(a);
    }
    req["lines"] = lines;
    json tenders = json::array();
    int64_t left = total;
    if (hold) {
      const int64_t p = std::min(left, cents_of(hold->amount));
      tenders.push_back({{"method", "points"}, {"amount", money(p)}, {"hold", hold->id}});
      left -= p;
    } else if (!anonymous && pick(8) == 0) {  // points without asking first (maybe too many)
      const int64_t p = std::min<int64_t>(left, pick(pick(10) == 0 ? 20'000 : 600));
      tenders.push_back({{"method", "points"}, {"amount", money(p)}});
      left -= p;
    }
    static const char* kMethods[] = {"cash", "debit_card", "credit_card"};
    if (left > 0 && pick(3) == 0) {  // a split
      const int64_t part = left / 2;
      tenders.push_back({{"method", kMethods[pick(3)]}, {"amount", money(part)}});
      left -= part;
    }
    if (left > 0 || tenders.empty()) {
      const int method = pick(3);
      if (method == 0 && pick(2) == 0) {
        tenders.push_back({{"method", "cash"}, {"amount", money(left + 1000)}, {"change", "10.00"}});
      } else {
        tenders.push_back({{"method", kMethods[method]}, {"amount", money(left)}});
      }
    }
    if (pick(10) != 0) req["tenders"] = tenders;  // rule 2: no tenders, s = 1
    const json r = send(req);
    if (!r["ok"].get<bool>()) return;
    EXPECT_GE(r["earned"].get<int64_t>(), 0) << context_;
    EXPECT_GE(r["redeemed"].get<int64_t>(), 0) << context_;
    if (anonymous) {
      EXPECT_EQ(r["earned"], 0) << context_;
    }
    seen.earned = r["earned"].get<int64_t>();
    sales_.push_back(std::move(seen));
  }

  void authorize() {
    const std::string who = customer();
    const std::string ticket = "H" + std::to_string(n_ + 1);
    const std::string a = amount(pick(2) == 0 ? 100 : 600);
    const json r = send({{"type", "points.authorize"}, {"customer", who}, {"ticket", ticket}, {"amount", a}});
    if (r["ok"].get<bool>()) holds_[ticket] = HoldSeen{r["hold"], ticket, who, a};
  }

  void release_or_void() {
    if (!holds_.empty() && pick(2) == 0) {
      const auto it = std::next(holds_.begin(), pick(static_cast<int>(holds_.size())));
      if (pick(2) == 0) {
        send({{"type", "points.release"}, {"hold", it->second.id}, {"ticket", it->second.ticket},
              {"customer", it->second.customer}});
      } else {
        send({{"type", "sale.voided"}, {"ticket", it->second.ticket}});
      }
      holds_.erase(it);
    } else if (!sales_.empty()) {
      send({{"type", "sale.voided"}, {"ticket", sales_[static_cast<size_t>(pick(static_cast<int>(sales_.size())))].ticket}});
    }
  }

  void refund() {
    json req = {{"type", "refund.completed"}, {"ticket", "R" + std::to_string(n_ + 1)}};
    SaleSeen* sale = nullptr;
    if (!sales_.empty() && pick(6) != 0) {
      sale = &sales_[static_cast<size_t>(pick(static_cast<int>(sales_.size())))];
      req["original_ticket"] = sale->ticket;
      req["original_branch"] = "B01";
      if (!sale->customer.empty()) req["customer"] = sale->customer;
    } else {
      req["original_ticket"] = "UNKNOWN-" + std::to_string(n_);
      req["customer"] = customer();
    }
    json lines = json::array();
    int64_t total = 0;
    const size_t count = sale ? sale->lines.size() : 1;
    for (size_t i = 0; i < count; ++i) {
      if (sale && count > 1 && pick(2) == 0) continue;
      const std::string full = sale ? sale->lines[i].first : amount();
      std::string a = full;
      if (pick(2) == 0) a = money(cents_of(full) / (1 + pick(4)));  // part of the line
      if (pick(20) == 0) a = money(cents_of(full) + 1 + pick(1000));  // more than the line
      json line = {{"n", static_cast<int>(i) + 1}, {"amount", a}};
      if (pick(3) == 0) line["qty"] = sale ? sale->lines[i].second : "1";
      lines.push_back(line);
      total += cents_of(a);
    }
    if (lines.empty()) lines.push_back({{"n", 1}, {"amount", "0.01"}}), total = 1;
    req["lines"] = lines;
    req["tenders"] = json::array({{{"method", pick(4) == 0 ? "points" : "cash"}, {"amount", money(total)}}});
    const json r = send(req);
    if (!r["ok"].get<bool>()) return;
    EXPECT_GE(r["clawed_back"].get<int64_t>(), 0) << context_;
    EXPECT_GE(r["restored"].get<int64_t>(), 0) << context_;
    if (sale && r["matched"].get<bool>()) {
      sale->clawed_back += r["clawed_back"].get<int64_t>();
      EXPECT_LE(sale->clawed_back, sale->earned) << "rule 7: ticket " << sale->ticket << "\n" << context_;
    }
  }

  void customers() {
    json req = {{"type", "customer.upsert"}, {"customer", customer()}};
    if (pick(3) == 0) req["category"] = pick(2) == 0 ? "gold" : "";
    if (pick(3) == 0) req["aliases"] = json::array({"phone:55" + std::to_string(pick(kCustomers))});
    if (pick(2) == 0) req["name"] = "Cliente " + std::to_string(pick(100));
    send(req);
  }

  void adjust_or_transfer() {
    if (pick(2) == 0) {
      send({{"type", "points.adjust"}, {"customer", customer()}, {"points", pick(400) - 200}, {"reason", "random"},
            {"operator", "test"}});
    } else {
      send({{"type", "points.transfer"}, {"from", customer()}, {"to", customer()}, {"points", 1 + pick(100)}});
    }
  }

  void retry_or_junk() {
    if (!sent_.empty() && pick(3) != 0) {
      const auto& [body, answer] = sent_[static_cast<size_t>(pick(static_cast<int>(sent_.size())))];
      const int64_t before = entries();
      const auto again = service_->handle(body);
      EXPECT_EQ(again.json, answer) << "seed " << GetParam() << ": a retry of " << body;
      EXPECT_EQ(entries(), before) << "seed " << GetParam() << ": a retry wrote: " << body;
      return;
    }
    static const char* kJunk[] = {
        R"({"type":"sale.completed",)",
        "[]",
        R"({"type":"sale.completed","id":"x"})",
        R"({"type":"refund.completed","id":"j","at":"2026-01-01T00:00:00Z","ticket":"R","lines":[{"n":1,"amount":"-1.00"}]})",
    };
    const int64_t before = entries();
    const auto out = service_->handle(kJunk[pick(4)]);
    EXPECT_TRUE(out.code == 1 || out.code == 2) << out.json;
    EXPECT_EQ(entries(), before) << "malformed input wrote: " << out.json;
  }

  // balance.query of `who` from the service (its ledger's projection) and from the
  // reference (SQLite) agree.
  void compare_balance(const std::string& who) {
    const std::string body =
        json{{"type", "balance.query"}, {"id", "cmp" + std::to_string(n_)}, {"at", at()}, {"customer", who}}.dump();
    EXPECT_EQ(service_->handle(body).json, reference_->handle(body).json)
        << "the projection and SQLite disagree on " << who << " after " << context_;
  }

  // Every customer's balance, available points and history agree; verify is clean.
  void check_all() {
    ledger_->flush();
    for (int c = 1; c <= kCustomers; ++c) {
      const std::string who = "card:" + std::to_string(c);
      compare_balance(who);
      const json b = send({{"type", "balance.query"}, {"customer", who}});
      if (!b["ok"].get<bool>()) continue;  // not enrolled yet
      EXPECT_LE(b["available"].get<int64_t>(), b["balance"].get<int64_t>()) << context_;
      const json h = send({{"type", "history.query"}, {"customer", who}, {"limit", 10'000}});
      ASSERT_TRUE(h["ok"].get<bool>()) << context_;
      ASSERT_FALSE(h["truncated"].get<bool>()) << context_;
      int64_t sum = 0;
      for (const auto& e : h["entries"]) sum += e["points"].get<int64_t>();
      EXPECT_EQ(sum, b["balance"].get<int64_t>()) << "history and balance of " << who << "\n" << context_;
    }
    const auto report = ledger::verify(*ledger_);
    EXPECT_TRUE(report.ok()) << "seed " << GetParam() << ": "
                             << (report.problems.empty() ? "" : report.problems.front());
    // loyaltyctl report accounts for every point: its columns add up to the balances.
    int64_t net = 0;
    for (const auto& r : ledger::points_report(*ledger_, int64_t{0}, int64_t{4'000'000'000'000}, std::nullopt)) {
      net += r.earned - r.redeemed - r.clawed_back + r.restored - r.expired + r.adjusted;
    }
    EXPECT_EQ(net, ledger_->with_db([&](sqlite3*) {
      auto q = ledger_->query("SELECT coalesce(sum(balance), 0) FROM accounts");
      q.step();
      return q.i64(0);
    })) << "seed " << GetParam() << ": the report";
  }

  std::string dir_;
  std::mt19937 rng_;
  std::shared_ptr<testing::ManualClock> clock_ = std::make_shared<testing::ManualClock>();
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  std::unique_ptr<app::Service> service_;
  bool held_ = false;
  std::shared_ptr<ledger::SqliteLedger> reference_ledger_;
  std::unique_ptr<app::Service> reference_;
  int n_ = 0;
  std::string context_;
  std::vector<SaleSeen> sales_;
  std::map<std::string, HoldSeen> holds_;  // by ticket
  std::vector<std::pair<std::string, std::string>> sent_;  // body, first answer
};

TEST_P(ServiceRandomTest, InvariantsHoldThroughARandomDay) {
  for (int i = 0; i < kRequests; ++i) {
    // Minutes pass between requests; now and then a month, so that lots expire (30 days)
    // and holds time out (15 minutes).
    clock_->now += (pick(40) == 0 ? 24 * 60 * (20 + pick(20)) : pick(20)) * kMinuteMs;
    const int what = pick(100);
    if (what < 40) {
      sale();
    } else if (what < 50) {
      authorize();
    } else if (what < 56) {
      release_or_void();
    } else if (what < 72) {
      refund();
    } else if (what < 80) {
      customers();
    } else if (what < 88) {
      adjust_or_transfer();
    } else {
      retry_or_junk();
    }
    if (::testing::Test::HasFailure()) break;  // the first failure names its request
    if ((i + 1) % kCheckEvery == 0) check_all();
  }
  check_all();
}

INSTANTIATE_TEST_SUITE_P(Seeds, ServiceRandomTest, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

// Four terminals at once on one ledger with synchronous = "full", so that writers share
// commits (group commit: a savepoint each) and a refused request rolls back inside a group.
// Each terminal sells to the same ten cards, refunds its own sales, pays with points it
// asked for, adjusts, and retries its own earlier requests. Afterwards: no internal error,
// every retry answered byte for byte, every history adds up to its balance, verify clean.
TEST(ServiceConcurrentRandom, FourTerminalsSharingCommitsKeepTheLedgerExact) {
  char tmpl[] = "/tmp/loyalty-concurrent-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto opened = testing::open_service(
      "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\n[program]\npoint_value = \"0.10\"\n"
      "earn_percent = \"5\"\nexpiry_days = 30\nwelcome_bonus = 5\nexcluded_payment_methods = [\"credit_card\"]\n",
      dir, std::make_shared<testing::ManualClock>(), /*synchronous=*/2);
  ASSERT_TRUE(opened.service);
  const auto ledger = opened.ledger;
  app::Service& service = *opened.service;
  const uint64_t groups_before = ledger->groups_ended();

  constexpr int kTerminals = 4, kEach = 250;
  std::vector<std::thread> terminals;
  for (int t = 0; t < kTerminals; ++t) {
    terminals.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
      std::vector<std::pair<std::string, std::string>> sent;  // body, answer
      std::vector<std::pair<std::string, std::string>> sales;  // ticket, card
      for (int i = 0; i < kEach; ++i) {
        const std::string card = "card:" + std::to_string(1 + pick(10));
        const std::string id = "T" + std::to_string(t) + "-" + std::to_string(i);
        char at[40];
        snprintf(at, sizeof at, "2026-11-%02dT%02d:%02d:00-06:00", 1 + i / 60, 8 + i % 60 / 6, (i * 7 + t) % 60);
        const std::string amount = std::to_string(1 + pick(300)) + "." + std::to_string(10 + pick(90));
        json req;
        const int what = pick(10);
        if (!sent.empty() && what == 0) {  // a retry of one of this terminal's requests
          const auto& [body, answer] = sent[static_cast<size_t>(pick(static_cast<int>(sent.size())))];
          EXPECT_EQ(service.handle(body).json, answer) << body;
          continue;
        } else if (what <= 4 || sales.empty()) {
          req = {{"type", "sale.completed"}, {"ticket", id}, {"customer", card},
                 {"lines", {{{"n", 1}, {"qty", "1"}, {"amount", amount}}}},
                 {"tenders", {{{"method", pick(4) == 0 ? "credit_card" : "cash"}, {"amount", amount}}}}};
        } else if (what <= 6) {
          const auto& [ticket, who] = sales[static_cast<size_t>(pick(static_cast<int>(sales.size())))];
          req = {{"type", "refund.completed"}, {"ticket", "R" + id}, {"original_ticket", ticket}, {"customer", who},
                 {"lines", {{{"n", 1}, {"amount", amount}}}}, {"tenders", {{{"method", "cash"}, {"amount", amount}}}}};
        } else if (what == 7) {
          req = {{"type", "points.authorize"}, {"customer", card}, {"ticket", "P" + id}, {"amount", "1.00"}};
          req["id"] = id + "a";
          req["at"] = at;
          const auto h = service.handle(req.dump());
          EXPECT_NE(h.code, 8) << h.json;
          if (h.code != 0) continue;
          req = {{"type", "sale.completed"}, {"ticket", "P" + id}, {"customer", card},
                 {"lines", {{{"n", 1}, {"amount", "1.00"}}}},
                 {"tenders", {{{"method", "points"}, {"amount", "1.00"}, {"hold", json::parse(h.json)["hold"]}}}}};
        } else if (what == 8) {
          const int points = pick(100) - 50;
          req = {{"type", "points.adjust"}, {"customer", card}, {"points", points == 0 ? 1 : points}, {"reason", "t"},
                 {"operator", "ana"}};
        } else {
          req = {{"type", "customer.upsert"}, {"customer", card}, {"aliases", {"phone:" + std::to_string(pick(10))}}};
        }
        req["id"] = id;
        req["at"] = at;
        const std::string body = req.dump();
        const auto out = service.handle(body);
        EXPECT_NE(out.code, 8) << body << " -> " << out.json;
        sent.emplace_back(body, out.json);
        if (out.code == 0 && req["type"] == "sale.completed") sales.emplace_back(id, card);
      }
    });
  }
  for (auto& t : terminals) t.join();
  EXPECT_LT(ledger->groups_ended() - groups_before, static_cast<uint64_t>(kTerminals * kEach))
      << "the terminals never shared a commit";
  for (int c = 1; c <= 10; ++c) {
    const std::string card = "card:" + std::to_string(c);
    const json b = json::parse(service.handle(json{{"type", "balance.query"}, {"id", "q"}, {"at", "2026-11-05T20:00:00-06:00"},
                                                   {"customer", card}}.dump()).json);
    if (!b["ok"].get<bool>()) continue;
    EXPECT_LE(b["available"].get<int64_t>(), b["balance"].get<int64_t>()) << card;
    const json h = json::parse(service.handle(json{{"type", "history.query"}, {"id", "h"}, {"at", "2026-11-05T20:00:00-06:00"},
                                                   {"customer", card}, {"limit", 10'000}}.dump()).json);
    int64_t sum = 0;
    for (const auto& e : h["entries"]) sum += e["points"].get<int64_t>();
    EXPECT_EQ(sum, b["balance"].get<int64_t>()) << card;
  }
  const auto report = ledger::verify(*ledger);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loyalty
