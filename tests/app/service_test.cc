// The service on a real SQLite ledger in a temporary directory, with a clock the test moves.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

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

using testing::ManualClock;

constexpr const char* kBaseConfig = R"(
[plugin]
branch = "B01"
db = "ledger.db"
synchronous = "normal"
[program]
point_value = "0.10"
earn_percent = "5"
expiry_days = 30
excluded_payment_methods = ["credit_card"]
hold_minutes = 15
[program.categories]
gold = "8"
[program.overrides.sku]
"GIFT-100" = "0"
)";

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { open(kBaseConfig); }
  void TearDown() override {
    if (ledger_) {
      auto report = ledger::verify(*ledger_);
      EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
    }
    service_.reset();
    ledger_.reset();
    fs::remove_all(dir_);
  }

  void open(const std::string& toml) {
    service_.reset();
    ledger_.reset();
    if (dir_.empty()) {
      char tmpl[] = "/tmp/loyalty-service-XXXXXX";
      dir_ = mkdtemp(tmpl);
    }
    auto opened = testing::open_service(toml, dir_, clock_);
    ASSERT_TRUE(opened.service);
    ledger_ = std::move(opened.ledger);
    service_ = std::move(opened.service);
  }

  json call(json request, int expected_code = 0) {
    auto out = service_->handle(request.dump());
    EXPECT_EQ(out.code, expected_code) << out.json;
    return json::parse(out.json);
  }

  std::string next_id() { return "req-" + std::to_string(++seq_); }

  json sale(const std::string& customer, const std::string& amount, const std::string& at,
            const std::string& method = "cash", std::string ticket = "") {
    if (ticket.empty()) ticket = "T" + std::to_string(seq_ + 1);
    return call({{"type", "sale.completed"}, {"id", next_id()}, {"at", at}, {"ticket", ticket},
                 {"customer", customer},
                 {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", amount}}}},
                 {"tenders", {{{"method", method}, {"amount", amount}}}}});
  }

  json balance(const std::string& customer, const std::string& at) {
    return call({{"type", "balance.query"}, {"id", "q"}, {"at", at}, {"customer", customer}});
  }

  int64_t count(const std::string& sql) {
    return ledger_->with_db([&](sqlite3*) {
      auto q = ledger_->query(sql.c_str());
      q.step();
      return q.i64(0);
    });
  }

  std::string dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  std::unique_ptr<app::Service> service_;
  int seq_ = 0;
};

const char* kAt = "2026-11-22T10:15:00-06:00";

TEST_F(ServiceTest, PluginInfoNamesVersionsBranchAndProgram) {
  json r = call({{"type", "plugin.info"}, {"id", "info"}, {"at", kAt}});
  EXPECT_EQ(r["abi_version"], 1);
  EXPECT_EQ(r["branch"], "B01");
  EXPECT_EQ(r["currency"], "MXN");
  EXPECT_EQ(r["schema_version"], ledger::kSchemaVersion);
  EXPECT_EQ(r["program_version"], service_->settings()->program.version);
  EXPECT_FALSE(r["version"].get<std::string>().empty());
}

TEST_F(ServiceTest, ContractSaleEarnsAndPrintsTheReceipt) {
  auto r = call(json::parse(R"({"type":"sale.completed","id":"B01-T1-000123","at":"2026-11-22T10:15:00-06:00",
     "branch":"B01","terminal":"T1","ticket":"000123","currency":"MXN","customer":"card:4000123",
     "lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"},
              {"n":2,"sku":"GIFT-100","category":"gift-cards","qty":"1","amount":"100.00"}],
     "tenders":[{"method":"cash","amount":"200.00","change":"10.00"}]})"));
  EXPECT_EQ(r["earned"], 45);
  EXPECT_EQ(r["balance"], 45);
  EXPECT_EQ(r["balance_value"], "4.50");
  EXPECT_EQ(r["customer"], "card:4000123");
  ASSERT_TRUE(r["receipt"].is_array());
  bool mentions_gift = false;
  for (const auto& l : r["receipt"]) {
    EXPECT_LE(l.get<std::string>().size(), 42u);
    mentions_gift |= l.get<std::string>().find("GIFT-100") != std::string::npos;
  }
  EXPECT_TRUE(mentions_gift);
}

// A sale with a customer counts once on the account (promotions' first visit), whether it
// earned (the earn entry) or not (the 0-point sale entry); a retry, a query or an
// adjustment does not.
TEST_F(ServiceTest, ASaleCountsOnceOnItsAccount) {
  const auto sales_count = [&] { return count("SELECT coalesce(sum(sales_count), -1) FROM accounts"); };
  auto first = call({{"type", "sale.completed"}, {"id", "s1"}, {"at", kAt}, {"ticket", "T1"}, {"customer", "card:1"},
                     {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", "90.00"}}}},
                     {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  EXPECT_EQ(first["earned"], 45);
  EXPECT_EQ(sales_count(), 1);
  call({{"type", "sale.completed"}, {"id", "s1"}, {"at", kAt}, {"ticket", "T1"}, {"customer", "card:1"},
        {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", "90.00"}}}},
        {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  EXPECT_EQ(sales_count(), 1) << "a retry counted again";
  EXPECT_EQ(sale("card:1", "50.00", kAt, "credit_card")["earned"], 0);
  EXPECT_EQ(sales_count(), 2) << "a sale that earned nothing was not counted";
  balance("card:1", kAt);
  call({{"type", "points.adjust"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"points", 10},
        {"reason", "goodwill"}, {"operator", "ana"}});
  EXPECT_EQ(sales_count(), 2);
  call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "T9"},  // anonymous
        {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", "20.00"}}}},
        {"tenders", {{{"method", "cash"}, {"amount", "20.00"}}}}});
  EXPECT_EQ(sales_count(), 2);
}

TEST_F(ServiceTest, SameIdSameBodyReturnsTheFirstResponseAndChangesNothing) {
  json req = {{"type", "sale.completed"}, {"id", "dup"}, {"at", kAt}, {"ticket", "1"}, {"customer", "card:1"},
              {"lines", {{{"amount", "90.00"}}}}};
  auto first = service_->handle(req.dump());
  auto again = service_->handle(json::parse(req.dump()).dump(2));  // other whitespace, same body
  EXPECT_EQ(first.json, again.json);
  EXPECT_EQ(balance("card:1", kAt)["balance"], 45);
  req["lines"][0]["amount"] = "91.00";
  auto conflict = call(req, 4);
  EXPECT_EQ(conflict["error"]["code"], "conflict");
  EXPECT_EQ(balance("card:1", kAt)["balance"], 45);
}

TEST_F(ServiceTest, MalformedRequestsAreQuarantinedAndChangeNothing) {
  sale("card:1", "90.00", kAt);
  const int64_t entries = count("SELECT count(*) FROM entries");
  auto bad = service_->handle(std::string("{\"type\":\"sale.completed\",\"id\":\"x\0y\"}", 32));
  EXPECT_EQ(bad.code, 1);
  auto neg = call({{"type", "sale.completed"}, {"id", "neg"}, {"at", kAt}, {"ticket", "9"},
                   {"lines", {{{"amount", "-5.00"}}}}}, 2);
  EXPECT_EQ(neg["error"]["field"], "lines[0].amount");
  EXPECT_EQ(neg["id"], "neg");  // docs/contract.md: every error names the request it answers
  auto unknown_type = call({{"type", "sale.finished"}, {"id", "ut"}, {"at", kAt}}, 3);
  EXPECT_EQ(unknown_type["id"], "ut");
  auto unknown = call({{"type", "sale.completed"}, {"id", "u"}, {"at", kAt}, {"ticket", "9"},
                       {"lines", {{{"amount", "5.00"}, {"price", "5"}}}}}, 2);
  EXPECT_EQ(unknown["error"]["field"], "lines[0].price");
  auto line_gone = call({{"type", "refund.completed"}, {"id", "rf"}, {"at", kAt}, {"ticket", "R"},
                         {"original_ticket", "T1"}, {"lines", {{{"n", 7}, {"amount", "1.00"}}}}}, 2);
  EXPECT_EQ(line_gone["error"]["field"], "lines[0].n");
  EXPECT_EQ(count("SELECT count(*) FROM entries"), entries);
  EXPECT_EQ(count("SELECT count(*) FROM quarantine"), 5);
  EXPECT_EQ(count("SELECT length(raw) FROM quarantine WHERE error_code = 'invalid_json'"), 32);
  EXPECT_FALSE(json::parse(bad.json).contains("id"));  // not JSON: no id to give back
}

// Rule 12 when the ledger cannot keep the bytes (another process holds the write lock, or
// the disk is full): the answer is `unavailable`, so the POS sends them again, and they are
// kept then. It was the request's own error, and the bytes were gone.
TEST_F(ServiceTest, AMalformedRequestTheLedgerCannotKeepNowIsUnavailable) {
  std::string toml = kBaseConfig;
  toml.replace(toml.find("[plugin]\n") + 9, 0, "busy_timeout_ms = 100\n");
  open(toml);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string bad = R"({"type":"sale.completed","id":"BAD-1","at":"2026-11-22T10:15:00-06:00","ticket":"1",)"
                          R"("lines":[{"amount":"-5.00"}]})";
  const auto busy = service_->handle(bad);
  EXPECT_EQ(busy.code, 7) << busy.json;
  const json b = json::parse(busy.json);
  EXPECT_EQ(b["id"], "BAD-1");
  EXPECT_EQ(b["error"]["field"], "lines[0].amount");
  EXPECT_NE(b["error"]["message"].get<std::string>().find("cannot keep the request in quarantine now"),
            std::string::npos) << busy.json;
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(service_->handle(bad).code, 2);  // sent again: kept, and refused for what it is
  EXPECT_EQ(count("SELECT count(*) FROM quarantine"), 1);
}

TEST_F(ServiceTest, HoldReservesCapturesAndTimesOut) {
  sale("card:1", "1000.00", kAt);  // 500 points
  auto hold = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                    {"ticket", "P1"}, {"amount", "40.00"}});
  EXPECT_EQ(hold["points"], 400);
  EXPECT_EQ(balance("card:1", kAt)["available"], 100);
  auto refused = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                       {"ticket", "P2"}, {"amount", "20.00"}}, 5);
  EXPECT_EQ(refused["error"]["code"], "insufficient_points");
  // Capture.
  auto paid = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P1"},
                    {"customer", "card:1"}, {"lines", {{{"amount", "40.00"}}}},
                    {"tenders", {{{"method", "points"}, {"amount", "40.00"}, {"hold", hold["hold"]}}}}});
  EXPECT_EQ(paid["redeemed"], 400);
  EXPECT_EQ(paid["earned"], 0);
  EXPECT_EQ(paid["balance"], 100);
  EXPECT_EQ(paid["notes"][0]["reason"], "paid_with_points");
  // A hold that is never used lapses after hold_minutes of business time...
  call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"ticket", "P3"},
        {"amount", "10.00"}});
  EXPECT_EQ(balance("card:1", kAt)["available"], 0);
  EXPECT_EQ(balance("card:1", "2026-11-22T10:31:00-06:00")["available"], 100);
  // ...or of wall-clock time.
  call({{"type", "points.authorize"}, {"id", next_id()}, {"at", "2026-11-22T10:31:00-06:00"},
        {"customer", "card:1"}, {"ticket", "P4"}, {"amount", "10.00"}});
  clock_->now += 16 * 60 * 1000;
  EXPECT_EQ(balance("card:1", "2026-11-22T10:31:00-06:00")["available"], 100);
}

TEST_F(ServiceTest, PointsTenderBeyondTheBalanceIsRecordedWithAWarning) {
  sale("card:1", "100.00", kAt);  // 50 points
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "X"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "10.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "10.00"}}}}});
  EXPECT_EQ(r["balance"], -50);
  EXPECT_FALSE(r["warnings"].empty());
  auto refused =
      call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"amount", "0.10"}}, 5);
  EXPECT_EQ(refused["error"]["message"],  // not "0 available"
            "paying 0.10 needs 1 points, but the balance is -50 points: a negative balance cannot be redeemed");
  auto tiny = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                    {"amount", "0.001"}}, 5);  // the amount as sent, not "paying 0.00"
  EXPECT_EQ(tiny["error"]["message"].get<std::string>().rfind("paying 0.001 needs 1 points", 0), 0u) << tiny.dump();
  // The next earning repays the debt first.
  EXPECT_EQ(sale("card:1", "200.00", kAt)["balance"], 50);
}

TEST_F(ServiceTest, AvailableIsBalanceMinusHoldsAlsoWhenNegative) {
  // Contract section 2: available = balance - active holds, with no floor at 0.
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "X"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "10.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "10.00"}}}}});
  EXPECT_EQ(r["balance"], -100);
  EXPECT_EQ(r["available"], -100);
  EXPECT_EQ(balance("card:1", kAt)["available"], -100);
}

TEST_F(ServiceTest, ReleaseAndVoidOfAnOpenTicketFreeTheHold) {
  sale("card:1", "1000.00", kAt);
  auto h1 = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                  {"ticket", "P1"}, {"amount", "10.00"}});
  auto rel = call({{"type", "points.release"}, {"id", next_id()}, {"at", kAt}, {"hold", h1["hold"]}});
  EXPECT_EQ(rel["points"], 100);
  call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"ticket", "P2"},
        {"amount", "10.00"}});
  auto v = call({{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"}});
  EXPECT_EQ(v["released"].size(), 1u);
  EXPECT_EQ(balance("card:1", kAt)["available"], 500);
}

TEST_F(ServiceTest, ReleaseAndVoidMayNameTheCustomerAndMustThenBeTheirs) {
  sale("card:1", "1000.00", kAt, "cash", "S1");
  sale("card:2", "1000.00", kAt, "cash", "S2");
  auto hold = [&](const std::string& ticket) {
    return call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                 {"ticket", ticket}, {"amount", "10.00"}})["hold"];
  };
  const json h1 = hold("P1");
  json release = {{"type", "points.release"}, {"at", kAt}, {"hold", h1}, {"customer", "card:2"}};
  release["id"] = next_id();
  EXPECT_EQ(call(release, 2)["error"]["field"], "customer");  // card:2 does not own it
  release["id"] = next_id();
  release["customer"] = "card:404";
  EXPECT_EQ(call(release, 6)["error"]["field"], "customer");
  EXPECT_EQ(balance("card:1", kAt)["available"], 400);  // still held
  release["id"] = next_id();
  release["customer"] = "card:1";
  EXPECT_EQ(call(release)["points"], 100);
  hold("P2");
  json by_ticket = {{"type", "points.release"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"}, {"customer", "card:2"}};
  EXPECT_EQ(call(by_ticket, 2)["error"]["field"], "customer");
  // A void names the sale's customer, or none; another one changes nothing.
  json v = {{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", "S2"}, {"customer", "card:1"}};
  EXPECT_EQ(call(v, 2)["error"]["message"], "ticket S2 is not this customer's");
  EXPECT_EQ(balance("card:2", kAt)["balance"], 500);
  v["id"] = next_id();
  v["customer"] = "card:2";
  EXPECT_EQ(call(v)["clawed_back"], 500);
  json open_ticket = {{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"}, {"customer", "card:1"}};
  EXPECT_EQ(call(open_ticket)["released"].size(), 1u);
  EXPECT_EQ(balance("card:1", kAt)["available"], 500);
}

TEST_F(ServiceTest, ASaleClosesItsTicketsHoldsWhoeverTheyWereFor) {
  sale("card:1", "1000.00", kAt);
  sale("card:2", "1000.00", kAt);
  auto hold = [&](const std::string& ticket) {
    return call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                 {"ticket", ticket}, {"amount", "4.00"}})["hold"];
  };
  // The customer changed at the register: card:2 pays with points on card:1's hold.
  const json h1 = hold("P1");
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P1"}, {"customer", "card:2"},
                 {"lines", {{{"n", 1}, {"amount", "4.00"}}}},
                 {"tenders", {{{"method", "points"}, {"amount", "4.00"}, {"hold", h1}}}}});
  EXPECT_EQ(r["redeemed"], 40);
  ASSERT_EQ(r["warnings"].size(), 1u) << r.dump();
  EXPECT_NE(r["warnings"][0].get<std::string>().find("is another customer's"), std::string::npos) << r.dump();
  EXPECT_EQ(balance("card:2", kAt)["balance"], 460);
  EXPECT_EQ(balance("card:1", kAt)["available"], 500);  // card:1's hold ended with the ticket
  // An anonymous sale of a ticket that held points closes the hold too.
  hold("P2");
  EXPECT_EQ(balance("card:1", kAt)["available"], 460);
  call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"},
        {"lines", {{{"n", 1}, {"amount", "4.00"}}}}, {"tenders", {{{"method", "cash"}, {"amount", "4.00"}}}}});
  EXPECT_EQ(balance("card:1", kAt)["available"], 500);
  EXPECT_EQ(count("SELECT count(*) FROM holds WHERE status = 'active'"), 0);
}

TEST_F(ServiceTest, VoidOfACompletedSaleReversesIt) {
  sale("card:1", "100.00", kAt, "cash", "S1");
  auto v = call({{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", "S1"}});
  EXPECT_TRUE(v["reversed_sale"]);
  EXPECT_EQ(v["clawed_back"], 50);
  EXPECT_EQ(balance("card:1", kAt)["balance"], 0);
  // A refund of the voided sale claws back nothing more, and says why.
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R1"},
                 {"original_ticket", "S1"}, {"customer", "card:1"}, {"lines", {{{"n", 1}, {"amount", "100.00"}}}},
                 {"tenders", {{{"method", "cash"}, {"amount", "100.00"}}}}});
  EXPECT_EQ(r["clawed_back"], 0);
  ASSERT_EQ(r["warnings"].size(), 1u) << r.dump();
  EXPECT_EQ(r["warnings"][0], "ticket S1 was voided: the void already reversed its points");
  EXPECT_EQ(balance("card:1", kAt)["balance"], 0);
}

// A sale paid with points, voided and refunded back to points, in either order, gives its
// redemption back once: each gave the 200 points, and the customer gained 200.
TEST_F(ServiceTest, AVoidAndAPointsRefundGiveTheRedemptionBackOnce) {
  sale("card:1", "1000.00", kAt);  // 500 points
  auto pay = [&](const std::string& ticket) {
    return call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", ticket}, {"customer", "card:1"},
                 {"lines", {{{"n", 1}, {"amount", "20.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  };
  auto void_of = [&](const std::string& ticket) {
    return call({{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", ticket}});
  };
  auto refund_to_points = [&](const std::string& ticket) {
    return call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R" + ticket},
                 {"original_ticket", ticket}, {"lines", {{{"n", 1}, {"amount", "20.00"}}}},
                 {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  };
  EXPECT_EQ(pay("P1")["balance"], 300);
  EXPECT_EQ(void_of("P1")["restored"], 200);
  EXPECT_EQ(refund_to_points("P1")["restored"], 0);  // the void gave it back already
  EXPECT_EQ(balance("card:1", kAt)["balance"], 500);
  EXPECT_EQ(pay("P2")["balance"], 300);
  EXPECT_EQ(refund_to_points("P2")["restored"], 200);
  EXPECT_EQ(void_of("P2")["restored"], 0);  // the refund gave it back already
  EXPECT_EQ(balance("card:1", kAt)["balance"], 500);
}

// A void claws back what is left of the sale's earning: not what expired from its lot
// (rule 6 took those points already; the void took them again and left -90).
TEST_F(ServiceTest, AVoidAfterTheLotExpiredTakesNothingTwice) {
  sale("card:1", "200.00", "2026-01-01T10:00:00-06:00", "cash", "S1");  // 100, expires 01-31
  sale("card:1", "20.00", "2026-01-20T10:00:00-06:00", "cash", "S2");   // 10, expires 02-19
  auto v = call({{"type", "sale.voided"}, {"id", next_id()}, {"at", "2026-02-05T10:00:00-06:00"}, {"ticket", "S1"}});
  EXPECT_TRUE(v["reversed_sale"]);
  EXPECT_EQ(v["clawed_back"], 0);
  EXPECT_EQ(v["balance"], 10);
  // Its refund afterwards takes nothing either.
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", "2026-02-05T10:00:00-06:00"}, {"ticket", "R1"},
                 {"original_ticket", "S1"}, {"lines", {{{"n", 1}, {"amount", "200.00"}}}}});
  EXPECT_EQ(r["clawed_back"], 0);
  EXPECT_EQ(r["balance"], 10);
}

// A refund after the sale's lot expired takes back only what is left of the earning: the
// 45 that expired left the balance already, and taking 45 more took another sale's points.
TEST_F(ServiceTest, ARefundAfterTheLotExpiredTakesNothingTwice) {
  sale("card:1", "90.00", "2026-01-01T10:00:00-06:00", "cash", "T1");  // 45, expires 01-31
  sale("card:1", "90.00", "2026-01-20T10:00:00-06:00", "cash", "T2");  // 45, expires 02-19
  auto half = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", "2026-01-25T10:00:00-06:00"},
                    {"ticket", "R0"}, {"original_ticket", "T1"}, {"lines", {{{"n", 1}, {"amount", "30.00"}}}}});
  EXPECT_EQ(half["clawed_back"], 15);  // before the expiry: rule 7 as ever
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", "2026-02-05T10:00:00-06:00"},
                 {"ticket", "R1"}, {"original_ticket", "T1"}, {"lines", {{{"n", 1}, {"amount", "60.00"}}}}});
  EXPECT_EQ(r["clawed_back"], 0);  // the other 30 expired on 01-31
  EXPECT_EQ(r["balance"], 45);
}

// A refund back to points pays out at most what its lines took back: a second refund of a
// line already refunded restored 1000 points again, and 50.00 back to points for a 10.00
// sale restored 500.
TEST_F(ServiceTest, ARefundToPointsRestoresNoMoreThanItsLinesTookBack) {
  sale("card:1", "100.00", kAt, "cash", "S1");
  auto refund = [&](const std::string& ticket, const std::string& amount) {
    return call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R-" + ticket},
                 {"original_ticket", ticket}, {"lines", {{{"n", 1}, {"amount", amount}}}},
                 {"tenders", {{{"method", "points"}, {"amount", amount}}}}});
  };
  EXPECT_EQ(refund("S1", "100.00")["restored"], 1000);
  const json again = refund("S1", "100.00");
  EXPECT_EQ(again["restored"], 0) << again.dump();  // the line was refunded already
  sale("card:1", "10.00", kAt, "cash", "S2");
  const json over = refund("S2", "50.00");
  EXPECT_EQ(over["restored"], 100);  // the line took back 10.00
  bool said = false;
  for (const auto& w : over["warnings"]) {
    said |= w.get<std::string>() == "the points tender is worth more than the 10.00 its lines took back: 100 points restored";
  }
  EXPECT_TRUE(said) << over.dump();
}

// A refund recorded before its sale (rule 9, at the customer's rate) is corrected when the
// sale arrives at this branch, as when it arrives by sync: the sale was clawed back twice
// (its void took 45 more), and one that earned nothing kept the 45 the rate took.
TEST_F(ServiceTest, ARefundBeforeItsSaleIsCorrectedWhenTheSaleArrives) {
  sale("card:1", "200.00", kAt, "cash", "S0");  // 100
  auto early = [&](const std::string& ticket) {
    return call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R" + ticket},
                 {"original_ticket", ticket}, {"customer", "card:1"}, {"lines", {{{"n", 1}, {"amount", "90.00"}}}}});
  };
  EXPECT_EQ(early("T9")["clawed_back"], 45);
  sale("card:1", "90.00", kAt, "cash", "T9");  // earns 45: the refund took exactly that
  auto v = call({{"type", "sale.voided"}, {"id", next_id()}, {"at", kAt}, {"ticket", "T9"}});
  EXPECT_EQ(v["clawed_back"], 0) << v.dump();
  EXPECT_EQ(balance("card:1", kAt)["balance"], 100);
  EXPECT_EQ(early("T8")["clawed_back"], 45);
  const json card = sale("card:1", "90.00", kAt, "credit_card", "T8");  // earns nothing
  EXPECT_EQ(card["balance"], 100) << card.dump();  // the 45 given back
  EXPECT_EQ(count("SELECT count(*) FROM entries WHERE kind = 'refund_correction'"), 2);
}

// Releasing a hold that lapsed already frees nothing now: the answer said its points were
// released although none were held. Its lapse is what ends it.
TEST_F(ServiceTest, ReleasingALapsedHoldReleasesNothing) {
  sale("card:1", "1000.00", kAt);
  auto h = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                 {"ticket", "P1"}, {"amount", "5.00"}});
  auto late = call({{"type", "points.release"}, {"id", next_id()}, {"at", "2026-11-22T10:45:00-06:00"},
                    {"hold", h["hold"]}});
  EXPECT_TRUE(late["released"].empty()) << late.dump();
  EXPECT_EQ(late["points"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM holds WHERE status = 'expired'"), 1);
  auto h2 = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                  {"ticket", "P2"}, {"amount", "5.00"}});
  auto in_time = call({{"type", "points.release"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"}});
  ASSERT_EQ(in_time["released"].size(), 1u);
  EXPECT_EQ(in_time["points"], 50);
}

// A points tender beyond the available points but within the balance spends what another
// ticket's hold reserved; the warning said the balance went negative (it was 20).
TEST_F(ServiceTest, ASaleSpendingAnotherTicketsHoldSaysSo) {
  sale("card:1", "200.00", kAt);  // 100
  call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"ticket", "T2"},
        {"amount", "5.00"}});  // 50 held for T2
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "X1"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "8.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "8.00"}}}}});
  EXPECT_EQ(r["balance"], 20);
  ASSERT_EQ(r["warnings"].size(), 1u) << r.dump();
  EXPECT_EQ(r["warnings"][0], "points tender of 80 points exceeds the available 50; it spends points held for other tickets");
}

// Rule 5 once per hold: the hold for 0.10 reserved 1 point; the payment split into two
// tenders of 0.05 on that hold cost 2 (a ceil each) and the second was told its hold was
// already captured. Tenders without a hold are rounded up together too.
TEST_F(ServiceTest, APaymentSplitOverTendersOfOneHoldCostsWhatTheHoldReserved) {
  sale("card:1", "200.00", kAt);  // 100 points
  auto h = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                 {"ticket", "P1"}, {"amount", "0.10"}});
  ASSERT_EQ(h["points"], 1);
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P1"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "0.10"}}}},
                 {"tenders", {{{"method", "points"}, {"amount", "0.05"}, {"hold", h["hold"]}},
                              {{"method", "points"}, {"amount", "0.05"}, {"hold", h["hold"]}}}}});
  EXPECT_EQ(r["redeemed"], 1);
  EXPECT_TRUE(r["warnings"].empty()) << r.dump();
  auto n = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P2"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "0.10"}}}},
                 {"tenders", {{{"method", "points"}, {"amount", "0.05"}}, {{"method", "points"}, {"amount", "0.05"}}}}});
  EXPECT_EQ(n["redeemed"], 1);
  EXPECT_EQ(n["balance"], 98);
}

// An unmatched refund paid back in points restores at most what its lines are worth, as a
// refund of a known sale does: 1.00 of goods paid back 500.00 in points restored 5,000.
TEST_F(ServiceTest, AnUnmatchedRefundToPointsRestoresNoMoreThanItsLinesAreWorth) {
  sale("card:1", "10.00", kAt);
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R1"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "1.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "500.00"}}}}});
  EXPECT_EQ(r["restored"], 10) << r.dump();
  ASSERT_FALSE(r["warnings"].empty());
  EXPECT_NE(r["warnings"].back().get<std::string>().find("worth more than the 1.00"), std::string::npos) << r.dump();
}

// A refund paid back in points to a customer not enrolled here enrolls the card: the POS gave
// points instead of money, and they were lost ("no customer is known: nothing restored").
TEST_F(ServiceTest, ARefundToPointsForANewCustomerEnrollsTheCard) {
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R2"}, {"customer", "card:new"},
                 {"lines", {{{"amount", "10.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "10.00"}}}}});
  EXPECT_EQ(r["restored"], 100) << r.dump();
  EXPECT_EQ(r["balance"], 100);
  EXPECT_NE(r["account"], "");
  EXPECT_EQ(balance("card:new", kAt)["balance"], 100);
}

// A correction that gives back points a refund took before its sale dates them at the refund:
// past their expiry by the time the sale came, they leave at once. The sale's answer (and
// receipt) showed them in the balance while balance.query at the same `at` did not.
TEST_F(ServiceTest, ALateCorrectionsExpiredPointsAreNotInTheSalesAnswer) {
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}});
  call({{"type", "points.adjust"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"}, {"points", 100},
        {"reason", "t"}, {"operator", "ana"}});
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R3"}, {"original_ticket", "P1"},
                 {"customer", "card:1"}, {"lines", {{{"amount", "100.00"}}}}});
  ASSERT_EQ(r["clawed_back"], 50) << r.dump();
  const char* later = "2027-01-01T10:15:00-06:00";  // 40 days on; expiry_days is 30
  auto s = sale("card:1", "100.00", later, "credit_card", "P1");  // earns 0; the correction gives 50 back
  const json q = balance("card:1", later);
  EXPECT_EQ(s["balance"], q["balance"]) << s.dump() << q.dump();
  EXPECT_EQ(q["balance"], 0);
}

TEST_F(ServiceTest, RefundsClawBackExactlyAndRefundToPointsRestores) {
  call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "S1"}, {"customer", "card:1"},
        {"lines", {{{"n", 1}, {"amount", "33.33"}}, {{"n", 2}, {"amount", "66.67"}}, {{"n", 3}, {"amount", "0.99"}}}}});
  const int64_t earned = balance("card:1", kAt)["balance"];
  ASSERT_EQ(earned, 50);
  int64_t clawed = 0;
  for (const char* part : {"10.00", "10.00", "13.33"}) {
    clawed += call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R"},
                    {"original_ticket", "S1"}, {"lines", {{{"n", 1}, {"amount", part}}}}})["clawed_back"]
                  .get<int64_t>();
  }
  auto last = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R"},
                    {"original_ticket", "S1"}, {"lines", {{{"n", 2}, {"amount", "66.67"}}, {{"n", 3}, {"amount", "0.99"}}}},
                    {"tenders", {{{"method", "points"}, {"amount", "5.00"}}}}});
  clawed += last["clawed_back"].get<int64_t>();
  EXPECT_EQ(clawed, earned);
  EXPECT_EQ(last["restored"], 50);
  EXPECT_EQ(last["balance"], 50);
  EXPECT_TRUE(last["matched"]);
}

TEST_F(ServiceTest, UnmatchedRefundClawsBackAtTheCurrentRateOrNothing) {
  sale("card:1", "200.00", kAt);  // 100
  auto r = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R"},
                 {"original_ticket", "NOPE"}, {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}});
  EXPECT_FALSE(r["matched"]);
  EXPECT_EQ(r["clawed_back"], 45);
  std::string toml = kBaseConfig;
  toml.replace(toml.find("hold_minutes"), 0, "unmatched_refund = \"ignore\"\n");
  open(toml);
  auto r2 = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R2"},
                  {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}});
  EXPECT_EQ(r2["clawed_back"], 0);
}

// Four sales of one day expire on one date: the receipt and balance.query say 180 points
// expire then, not the first lot's 45.
TEST_F(ServiceTest, PointsExpiringOnOneDateAreAddedUp) {
  sale("card:1", "90.00", "2026-11-22T10:15:00-06:00");
  sale("card:1", "90.00", "2026-11-22T10:15:00-06:00");
  sale("card:1", "90.00", "2026-11-22T18:00:00-06:00");
  const json last = sale("card:1", "90.00", "2026-11-22T23:30:00-06:00");
  bool said = false;
  for (const auto& l : last["receipt"]) said |= l.get<std::string>() == "Vencen 180 pts el 2026-12-22";  // expiry_days = 30
  EXPECT_TRUE(said) << last["receipt"].dump();
  sale("card:1", "10.00", "2026-11-23T09:00:00-06:00");
  const json b = balance("card:1", "2026-11-24T10:00:00-06:00");
  ASSERT_EQ(b["expiring"].size(), 2u) << b.dump();
  EXPECT_EQ(b["expiring"][0]["points"], 180);
  EXPECT_EQ(b["expiring"][0]["expires_at"], "2026-12-22T10:15:00-06:00");
  EXPECT_EQ(b["expiring"][0]["date"], "2026-12-22");
  EXPECT_EQ(b["expiring"][1]["points"], 5);
}

TEST_F(ServiceTest, ExpiryAcrossLotsOldestFirst) {
  sale("card:1", "100.00", "2026-01-01T10:00:00-06:00");  // 50, expires 01-31
  sale("card:1", "200.00", "2026-01-20T10:00:00-06:00");  // 100, expires 02-19
  // Redeem 60: all of the first lot and 10 of the second.
  call({{"type", "sale.completed"}, {"id", next_id()}, {"at", "2026-01-25T10:00:00-06:00"}, {"ticket", "P"},
        {"customer", "card:1"}, {"lines", {{{"amount", "6.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "6.00"}}}}});
  auto b = balance("card:1", "2026-02-01T10:00:00-06:00");
  EXPECT_EQ(b["balance"], 90);  // nothing left of lot 1 to expire
  ASSERT_EQ(b["expiring"].size(), 1u);
  EXPECT_EQ(b["expiring"][0]["points"], 90);
  EXPECT_EQ(balance("card:1", "2026-02-20T10:00:00-06:00")["balance"], 0);
  // A request after expiry writes the expiry entry (deterministic id) and earns anew.
  auto s = sale("card:1", "20.00", "2026-02-20T10:00:00-06:00");
  EXPECT_EQ(s["balance"], 10);
  // (Asked on that day: by kAt the new 10 points have expired too, and history says so.)
  auto h = call({{"type", "history.query"}, {"id", "h"}, {"at", "2026-02-20T10:00:00-06:00"},
                 {"customer", "card:1"}});
  int expiries = 0;
  for (const auto& e : h["entries"]) {
    if (e["kind"] == "expire") {
      ++expiries;
      EXPECT_EQ(e["points"], -90);
      EXPECT_EQ(e["id"].get<std::string>().rfind("expire:", 0), 0u);
    }
  }
  EXPECT_EQ(expiries, 1);
}

TEST_F(ServiceTest, HistoryShowsAnExpiryThatNoWriteHasAppliedYet) {
  sale("card:1", "100.00", "2026-01-01T10:00:00-06:00");  // 50, expires 01-31
  // Only queries after the expiry: balance.query says 0, so history must say why (rule 6).
  EXPECT_EQ(balance("card:1", "2026-02-05T10:00:00-06:00")["balance"], 0);
  auto h = call({{"type", "history.query"}, {"id", "h"}, {"at", "2026-02-05T10:00:00-06:00"},
                 {"customer", "card:1"}});
  ASSERT_EQ(h["entries"].size(), 2u) << h.dump();
  EXPECT_EQ(h["entries"][1]["kind"], "expire");
  EXPECT_EQ(h["entries"][1]["points"], -50);
  EXPECT_EQ(h["entries"][1]["at"], "2026-01-31T10:00:00-06:00");
  // Before the expiry, or outside from/to, there is none; nothing was written.
  auto before = call({{"type", "history.query"}, {"id", "h"}, {"at", "2026-01-30T10:00:00-06:00"},
                      {"customer", "card:1"}});
  EXPECT_EQ(before["entries"].size(), 1u) << before.dump();
  auto window = call({{"type", "history.query"}, {"id", "h"}, {"at", "2026-02-05T10:00:00-06:00"},
                      {"customer", "card:1"}, {"to", "2026-01-15T00:00:00-06:00"}});
  EXPECT_EQ(window["entries"].size(), 1u) << window.dump();
  EXPECT_EQ(count("SELECT count(*) FROM entries WHERE kind = 'expire'"), 0);
  // The write that applies it later shows the same entry once.
  sale("card:1", "20.00", "2026-02-05T10:00:00-06:00");
  auto after = call({{"type", "history.query"}, {"id", "h"}, {"at", "2026-02-05T10:00:00-06:00"},
                     {"customer", "card:1"}});
  int expiries = 0;
  for (const auto& e : after["entries"]) expiries += e["kind"] == "expire";
  EXPECT_EQ(expiries, 1) << after.dump();
}

TEST_F(ServiceTest, CustomersAliasesCategoriesAndAdjustments) {
  auto c = call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                 {"name", "Ana"}, {"category", "gold"}, {"aliases", {"phone:+5215555"}}});
  EXPECT_TRUE(c["created"]);
  EXPECT_EQ(sale("phone:+5215555", "100.00", kAt)["earned"], 80);  // gold rate through the alias
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:2"}});
  auto clash = call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:2"},
                     {"aliases", {"phone:+5215555"}}}, 4);
  EXPECT_EQ(clash["error"]["field"], "aliases[0]");
  auto adj = call({{"type", "points.adjust"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                   {"points", -30}, {"reason", "correction"}, {"operator", "ana"}});
  EXPECT_EQ(adj["balance"], 50);
  call({{"type", "points.adjust"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:404"}, {"points", 5},
        {"reason", "x"}, {"operator", "ana"}}, 6);
}

TEST_F(ServiceTest, ARefusedRequestChangesNothingButItsRecordedAnswer) {
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
        {"aliases", {"phone:+5215555"}}});
  const int64_t accounts = count("SELECT count(*) FROM accounts");
  const int64_t entries = count("SELECT count(*) FROM entries");
  // A new customer whose second alias belongs to card:1: refused as a whole, so neither
  // the account nor its first alias may be left behind.
  json clash = {{"type", "customer.upsert"}, {"id", "clash"}, {"at", kAt}, {"customer", "card:2"},
                {"aliases", {"pos:77", "phone:+5215555"}}};
  auto first = call(clash, 4);
  EXPECT_EQ(first["error"]["field"], "aliases[1]");
  EXPECT_EQ(count("SELECT count(*) FROM accounts"), accounts);
  EXPECT_EQ(count("SELECT count(*) FROM entries"), entries);
  EXPECT_EQ(count("SELECT count(*) FROM aliases WHERE ref IN ('card:2', 'pos:77')"), 0);
  call({{"type", "balance.query"}, {"id", "q"}, {"at", kAt}, {"customer", "pos:77"}}, 6);
  // The refusal itself is recorded: the same id gets the same answer (rule 11).
  EXPECT_EQ(call(clash, 4), first);
  EXPECT_EQ(count("SELECT count(*) FROM requests WHERE request_id = 'clash'"), 1);
}

TEST_F(ServiceTest, ASaleOrRefundInAnotherCurrencyIsMalformed) {
  sale("card:1", "90.00", kAt);
  const int64_t entries = count("SELECT count(*) FROM entries");
  // The program counts in MXN: 90 dollars are not 90 pesos, so the sale cannot be priced.
  auto usd = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "U1"},
                   {"currency", "USD"}, {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}},
                  2);
  EXPECT_EQ(usd["error"]["code"], "invalid_event");
  EXPECT_EQ(usd["error"]["field"], "currency");
  auto refund = call({{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R1"},
                      {"original_ticket", "T1"}, {"currency", "USD"}, {"customer", "card:1"},
                      {"lines", {{{"n", 1}, {"amount", "90.00"}}}}},
                     2);
  EXPECT_EQ(refund["error"]["field"], "currency");
  EXPECT_EQ(count("SELECT count(*) FROM entries"), entries);
  EXPECT_EQ(count("SELECT count(*) FROM quarantine WHERE field = 'currency'"), 2);
  EXPECT_EQ(balance("card:1", kAt)["balance"], 45);
  // The program's own currency, named or not, is fine.
  auto mxn = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "M1"},
                   {"currency", "MXN"}, {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}});
  EXPECT_EQ(mxn["earned"], 45);
  auto lower = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "M2"},
                     {"currency", "mxn"}, {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}});
  EXPECT_EQ(lower["earned"], 45);
}

TEST_F(ServiceTest, AnAtWhoseExpiryWouldPassTheYear9999IsRefused) {
  // expiry_days = 30: what a sale on 9999-12-15 earns would expire in the year 10000,
  // which no RFC 3339 time can say.
  auto late = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", "9999-12-15T10:00:00Z"},
                    {"ticket", "L1"}, {"customer", "card:1"}, {"lines", {{{"amount", "90.00"}}}}},
                   2);
  EXPECT_EQ(late["error"]["field"], "at");
  EXPECT_EQ(count("SELECT count(*) FROM entries"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM quarantine WHERE field = 'at'"), 1);
  // A month earlier still fits: the lot and the hold print four-digit years.
  auto r = sale("card:1", "90.00", "9999-11-30T10:00:00Z");
  EXPECT_EQ(r["expiring"][0]["expires_at"], "9999-12-30T10:00:00Z");
  EXPECT_EQ(r["expiring"][0]["date"], "9999-12-30");
  auto hold = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", "9999-12-01T10:00:00Z"},
                    {"customer", "card:1"}, {"amount", "1.00"}});
  EXPECT_EQ(hold["expires_at"], "9999-12-01T10:15:00Z");
  call({{"type", "points.authorize"}, {"id", next_id()}, {"at", "9999-12-31T23:50:00Z"},
        {"customer", "card:1"}, {"amount", "1.00"}},
       2);
  // Queries only read: a balance as of the last instant is fine.
  EXPECT_EQ(balance("card:1", "9999-12-31T23:59:59Z")["balance"], 0);

  // With lots that expire after a day and holds that last a week, the hold is the later
  // date: an authorization on 9999-12-28 would be held into the year 10000.
  std::string toml = kBaseConfig;
  toml.replace(toml.find("expiry_days = 30"), 16, "expiry_days = 1");
  toml.replace(toml.find("hold_minutes = 15"), 17, "hold_minutes = 10080");
  open(toml);
  auto held = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", "9999-12-28T10:00:00Z"},
                    {"customer", "card:1"}, {"amount", "1.00"}},
                   2);
  EXPECT_EQ(held["error"]["field"], "at");
  EXPECT_NE(held["error"]["message"].get<std::string>().find("hold_minutes = 10080"), std::string::npos);
  // The later of the two dates counts, not their sum: a week before the end still fits.
  auto fits = call({{"type", "points.authorize"}, {"id", next_id()}, {"at", "9999-12-24T10:00:00Z"},
                    {"customer", "card:1"}, {"amount", "1.00"}});
  EXPECT_EQ(fits["expires_at"], "9999-12-31T10:00:00Z");
}

TEST_F(ServiceTest, TransfersAreRefusedUnlessAllowed) {
  sale("card:1", "100.00", kAt);
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:2"}});
  json t = {{"type", "points.transfer"}, {"id", "t1"}, {"at", kAt}, {"from", "card:1"}, {"to", "card:2"}, {"points", 20}};
  const json refused = call(t, 2);
  EXPECT_EQ(refused["error"]["code"], "invalid_event");
  EXPECT_EQ(refused["error"]["field"], "type");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("allow_transfers"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM quarantine WHERE error_code = 'invalid_event'"), 1);
  std::string toml = kBaseConfig;
  toml.replace(toml.find("hold_minutes"), 0, "allow_transfers = true\n");
  open(toml);
  t["id"] = "t2";
  auto r = call(t);
  EXPECT_EQ(r["from_balance"], 30);
  EXPECT_EQ(r["to_balance"], 20);
  t["id"] = "t3";
  t["points"] = 31;
  call(t, 5);
}

TEST_F(ServiceTest, TransferredPointsKeepTheExpiryOfThePointsTheyCameFrom) {
  std::string toml = kBaseConfig;  // expiry_days = 30
  toml.replace(toml.find("hold_minutes"), 0, "allow_transfers = true\n");
  open(toml);
  sale("card:1", "100.00", "2026-01-01T10:00:00-06:00");  // 50 points, expire 01-31
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:2"}});
  // Transferred on 01-20, and back on 01-25: still due on 01-31, not 30 days after either.
  call({{"type", "points.transfer"}, {"id", next_id()}, {"at", "2026-01-20T10:00:00-06:00"}, {"from", "card:1"},
        {"to", "card:2"}, {"points", 50}});
  auto b = balance("card:2", "2026-01-20T10:00:00-06:00");
  ASSERT_EQ(b["expiring"].size(), 1u) << b.dump();
  EXPECT_EQ(b["expiring"][0]["expires_at"], "2026-01-31T10:00:00-06:00");
  call({{"type", "points.transfer"}, {"id", next_id()}, {"at", "2026-01-25T10:00:00-06:00"}, {"from", "card:2"},
        {"to", "card:1"}, {"points", 50}});
  EXPECT_EQ(balance("card:1", "2026-01-30T10:00:00-06:00")["balance"], 50);
  EXPECT_EQ(balance("card:1", "2026-02-01T10:00:00-06:00")["balance"], 0);
}

TEST_F(ServiceTest, AnonymousAndUnenrolledSalesEarnNothingButAreRecorded) {
  auto anon = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "A"},
                    {"lines", {{{"amount", "90.00"}}}}});
  EXPECT_EQ(anon["earned"], 0);
  EXPECT_TRUE(anon["receipt"].empty());
  std::string toml = kBaseConfig;
  toml.replace(toml.find("hold_minutes"), 0, "auto_enroll = false\nwelcome_bonus = 10\n");
  open(toml);
  auto r = sale("card:new", "90.00", kAt);
  EXPECT_EQ(r["earned"], 0);
  EXPECT_FALSE(r["warnings"].empty());
  auto c = call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:new"}});
  EXPECT_EQ(c["balance"], 10);  // welcome bonus
  EXPECT_EQ(count("SELECT count(*) FROM sales"), 2);
}

TEST_F(ServiceTest, ExcludedPaymentMethodIsExplainedOnTheReceipt) {
  auto r = sale("card:1", "90.00", kAt, "credit_card");
  EXPECT_EQ(r["earned"], 0);
  EXPECT_EQ(r["notes"][0]["reason"], "excluded_method");
  bool said = false;
  for (const auto& l : r["receipt"]) said |= l.get<std::string>().find("credit_card") != std::string::npos;
  EXPECT_TRUE(said);
}

// Half paid by an excluded card: the sale earns on the cash half, and the receipt says the
// card's part earned nothing (not "no points" for the sale). With "earn_on_remainder" a sale
// paid with points says so, not that its amount was below one point.
TEST_F(ServiceTest, APartlyExcludedPaymentIsExplainedAsAPart) {
  auto r = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "H"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "90.00"}}}},
                 {"tenders", {{{"method", "cash"}, {"amount", "45.00"}}, {{"method", "credit_card"}, {"amount", "45.00"}}}}});
  EXPECT_EQ(r["earned"], 22);
  EXPECT_EQ(r["notes"][0]["reason"], "excluded_method");
  std::string text;
  for (const auto& l : r["receipt"]) text += l.get<std::string>() + "\n";
  EXPECT_NE(text.find("Sin puntos por el pago excluido"), std::string::npos) << text;
  EXPECT_EQ(text.find("Sin puntos:"), std::string::npos) << text;

  std::string toml = kBaseConfig;
  toml.replace(toml.find("hold_minutes"), 0, "on_points_tender = \"earn_on_remainder\"\n");
  open(toml);
  auto p = call({{"type", "sale.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "P"}, {"customer", "card:1"},
                 {"lines", {{{"amount", "1.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "1.00"}}}}});
  EXPECT_EQ(p["earned"], 0);
  ASSERT_EQ(p["notes"].size(), 1u) << p.dump();
  EXPECT_EQ(p["notes"][0]["reason"], "paid_with_points");
}

// A customer category at 0 % earns nothing; the receipt said "the amount does not reach one
// point" for a 900.00 sale. It names the category (or the program, at 0 % itself).
TEST_F(ServiceTest, ACategoryThatEarnsNothingIsExplainedAsSuch) {
  std::string toml = kBaseConfig;
  toml.replace(toml.find("gold = \"8\""), 0, "staff = \"0\"\n");
  open(toml);
  call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:s"}, {"category", "staff"}});
  auto r = sale("card:s", "900.00", kAt);
  EXPECT_EQ(r["earned"], 0);
  ASSERT_EQ(r["notes"].size(), 1u) << r.dump();
  EXPECT_EQ(r["notes"][0], json({{"reason", "zero_rate"}, {"detail", "staff"}}));
  std::string text;
  for (const auto& l : r["receipt"]) text += l.get<std::string>() + "\n";
  EXPECT_NE(text.find("Sin puntos: la categoría staff no acumula"), std::string::npos) << text;

  toml = kBaseConfig;
  toml.replace(toml.find("earn_percent = \"5\""), 18, "earn_percent = \"0\"");
  open(toml);
  auto p = sale("card:p", "900.00", kAt);
  EXPECT_EQ(p["earned"], 0);
  ASSERT_EQ(p["notes"].size(), 1u) << p.dump();
  EXPECT_EQ(p["notes"][0], json({{"reason", "zero_rate"}, {"detail", ""}}));
  EXPECT_EQ(sale("card:p", "9.00", kAt)["notes"][0]["reason"], "zero_rate");
}

// The refund answers for the account whose points it moved: the sale's customer, also when
// the POS names nobody (the receipt printed "Cliente: card:1" beside "customer":"") or
// another customer (a warning says whose points were taken back).
TEST_F(ServiceTest, ARefundAnswersForTheSalesCustomer) {
  sale("card:1", "90.00", kAt, "cash", "S1");
  sale("card:2", "90.00", kAt, "cash", "S2");
  auto refund = [&](const std::string& ticket, const std::string& customer) {
    json req = {{"type", "refund.completed"}, {"id", next_id()}, {"at", kAt}, {"ticket", "R" + ticket},
                {"original_ticket", ticket}, {"lines", {{{"n", 1}, {"amount", "10.00"}}}}};
    if (!customer.empty()) req["customer"] = customer;
    return call(req);
  };
  auto nobody = refund("S1", "");
  EXPECT_EQ(nobody["customer"], "card:1");
  EXPECT_EQ(nobody["clawed_back"], 5);
  EXPECT_TRUE(nobody["warnings"].empty()) << nobody.dump();
  auto other = refund("S2", "card:1");
  EXPECT_EQ(other["customer"], "card:2");
  EXPECT_EQ(other["balance"], 40);  // card:2's
  ASSERT_EQ(other["warnings"].size(), 1u) << other.dump();
  EXPECT_EQ(other["warnings"][0], "ticket S2 was card:2's sale, not card:1's: its points were taken back from card:2");
  bool printed = false;
  for (const auto& l : other["receipt"]) printed |= l.get<std::string>() == "Cliente: card:2";
  EXPECT_TRUE(printed) << other["receipt"].dump();
  auto same = refund("S1", "card:1");
  EXPECT_EQ(same["customer"], "card:1");
  EXPECT_TRUE(same["warnings"].empty()) << same.dump();
}

// A category the program does not know is kept (the admin may add it) but not silently:
// "glod" earns the program's rate, and the POS hears why.
TEST_F(ServiceTest, AnUpsertWithACategoryTheProgramLacksWarns) {
  auto typo = call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                    {"category", "glod"}});
  EXPECT_EQ(typo["category"], "glod");
  ASSERT_EQ(typo["warnings"].size(), 1u) << typo.dump();
  EXPECT_EQ(typo["warnings"][0], "category 'glod' is not in [program.categories]: the program's earn_percent applies");
  auto gold = call({{"type", "customer.upsert"}, {"id", next_id()}, {"at", kAt}, {"customer", "card:1"},
                    {"category", "gold"}});
  EXPECT_TRUE(gold["warnings"].empty()) << gold.dump();
}

TEST_F(ServiceTest, EveryEntryRecordsTheProgramVersion) {
  sale("card:1", "90.00", kAt);
  const std::string v1 = service_->settings()->program.version;
  std::string toml = kBaseConfig;
  toml.replace(toml.find("earn_percent = \"5\""), 18, "earn_percent = \"6\"");
  open(toml);
  sale("card:1", "90.00", kAt);
  EXPECT_NE(service_->settings()->program.version, v1);
  EXPECT_EQ(count("SELECT count(DISTINCT program_version) FROM entries"), 2);
}

}  // namespace
}  // namespace loyalty
