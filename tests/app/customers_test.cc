// Customer administration on a real SQLite ledger: merge (as entries, verify clean, balance
// summed, lots keep their expiry) and erase (personal data gone, amounts kept).
#include "app/customers.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/service.h"
#include "config/load.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::app {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class FixedClock final : public Clock {
 public:
  int64_t now_ms() const override { return 1'795'000'000'000; }
};

class CustomersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-customers-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = config::parse_settings("[plugin]\nbranch = \"B01\"\nsynchronous = \"normal\"\n",
                                    dir_ + "/loyalty.toml");
    ASSERT_TRUE(s.ok());
    ledger::LedgerOptions o;
    o.path = s->db_path;
    o.branch = "B01";
    o.synchronous = 1;
    ledger_ = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    service_ = std::make_unique<Service>(
        ledger_, std::make_shared<const config::Settings>(std::move(*s)), clock_);
  }
  void TearDown() override {
    auto report = ledger::verify(*ledger_);
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
    service_.reset();
    ledger_.reset();
    fs::remove_all(dir_);
  }
  json call(const json& r) {
    auto out = service_->handle(r.dump());
    EXPECT_EQ(out.code, 0) << out.json;
    return json::parse(out.json);
  }
  json sale(const std::string& id, const std::string& customer, const std::string& at) {
    return call({{"type", "sale.completed"},
                 {"id", id},
                 {"at", at},
                 {"ticket", id},
                 {"customer", customer},
                 {"lines", {{{"n", 1}, {"qty", "1"}, {"amount", "90.00"}}}},
                 {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  }
  int64_t balance(const std::string& ref) {
    return call({{"type", "balance.query"},
                 {"id", "q"},
                 {"at", "2026-11-23T00:00:00Z"},
                 {"customer", ref}})["balance"];
  }

  std::string dir_;
  std::shared_ptr<FixedClock> clock_ = std::make_shared<FixedClock>();
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  std::unique_ptr<Service> service_;
};

TEST_F(CustomersTest, MergeSumsBalancesKeepsHistoryAndExpiry) {
  sale("s1", "card:1", "2026-11-20T10:00:00-06:00");
  sale("s2", "card:2", "2026-11-21T10:00:00-06:00");
  sale("s3", "card:2", "2026-11-22T10:00:00-06:00");
  call({{"type", "customer.upsert"},
        {"id", "u"},
        {"at", "2026-11-22T10:00:00Z"},
        {"customer", "card:2"},
        {"aliases", {"phone:555"}}});
  auto r = merge_customers(*ledger_, *clock_, "B01", "card:2", "card:1", "merge-1", "v");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->points_moved, 90);
  EXPECT_EQ(r->lots_moved, 2);
  EXPECT_EQ(r->refs_moved, 2);
  EXPECT_EQ(r->to_balance, 135);
  EXPECT_EQ(balance("card:1"), 135);
  EXPECT_EQ(balance("card:2"), 135) << "the source's references now name the target";
  EXPECT_EQ(balance("phone:555"), 135);

  auto from = find_customer(*ledger_, "card:1", 100);
  ASSERT_TRUE(from.ok());
  int merge_in = 0;
  for (const auto& e : from->entries) {
    if (e.kind == "merge_in") {
      ++merge_in;
      ASSERT_TRUE(e.expires_at);  // the lot keeps its sale's expiry
    }
  }
  EXPECT_EQ(merge_in, 2);
  // The same request again (an admin who lost the output) gets the first answer and does
  // nothing (it was a conflict); a reference of the same account is refused.
  auto again = merge_customers(*ledger_, *clock_, "B01", "card:2", "card:1", "merge-1", "v");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->points_moved, 90);
  EXPECT_EQ(again->lots_moved, 2);
  EXPECT_EQ(again->from_account, r->from_account);
  EXPECT_EQ(balance("card:1"), 135);
  EXPECT_EQ(merge_customers(*ledger_, *clock_, "B01", "card:9", "card:1", "merge-1", "v").error().code,
            domain::ErrorCode::kConflict);  // the id with another merge
  EXPECT_FALSE(merge_customers(*ledger_, *clock_, "B01", "card:1", "card:1", "merge-2", "v").ok());
  EXPECT_EQ(
      merge_customers(*ledger_, *clock_, "B01", "card:9", "card:1", "merge-3", "v").error().code,
      domain::ErrorCode::kNotFound);
}

TEST_F(CustomersTest, MergeRefusesANegativeSource) {
  sale("s1", "card:1", "2026-11-20T10:00:00-06:00");
  call({{"type", "customer.upsert"},
        {"id", "u"},
        {"at", "2026-11-22T10:00:00Z"},
        {"customer", "card:2"}});
  call({{"type", "points.adjust"},
        {"id", "a"},
        {"at", "2026-11-22T10:00:00Z"},
        {"customer", "card:2"},
        {"points", -5},
        {"reason", "test"},
        {"operator", "t"}});
  auto r = merge_customers(*ledger_, *clock_, "B01", "card:2", "card:1", "merge-1", "v");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "from");
  EXPECT_EQ(balance("card:1"), 45);
}

// A refund or void of a sale made before a merge takes the points back from the account
// that holds them now: it took them from the merged-away account (left at -260, out of any
// reference's reach) while the merged one kept them.
TEST_F(CustomersTest, ARefundOrVoidAfterAMergeMovesTheMergedAccountsPoints) {
  sale("a1", "card:A", "2026-11-20T10:00:00-06:00");  // 45
  sale("a2", "card:A", "2026-11-20T11:00:00-06:00");  // 45
  sale("b1", "card:B", "2026-11-20T12:00:00-06:00");  // 45
  ASSERT_TRUE(merge_customers(*ledger_, *clock_, "B01", "card:A", "card:B", "m1", "v").ok());
  ASSERT_EQ(balance("card:B"), 135);
  auto r = call({{"type", "refund.completed"}, {"id", "r1"}, {"at", "2026-11-22T10:00:00Z"}, {"ticket", "R1"},
                 {"original_ticket", "a1"}, {"customer", "card:A"}, {"lines", {{{"n", 1}, {"amount", "90.00"}}}}});
  EXPECT_EQ(r["clawed_back"], 45);
  EXPECT_TRUE(r["warnings"].empty()) << r.dump();
  call({{"type", "sale.voided"}, {"id", "v1"}, {"at", "2026-11-22T10:00:00Z"}, {"ticket", "a2"}});
  EXPECT_EQ(balance("card:B"), 45);
}

// Merging into an account with a negative balance: the moved points repay it first, as any
// credit does. The lots kept all the moved points (verify: "balance 20 but its lots hold 50")
// and the debt came back when they expired.
TEST_F(CustomersTest, AMergeIntoANegativeBalanceRepaysItFirst) {
  sale("c1", "card:C", "2026-11-20T10:00:00-06:00");  // 45
  call({{"type", "customer.upsert"}, {"id", "u"}, {"at", "2026-11-22T10:00:00Z"}, {"customer", "card:D"}});
  call({{"type", "points.adjust"}, {"id", "a"}, {"at", "2026-11-22T10:00:00Z"}, {"customer", "card:D"},
        {"points", -30}, {"reason", "test"}, {"operator", "t"}});
  auto r = merge_customers(*ledger_, *clock_, "B01", "card:C", "card:D", "m1", "v");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->to_balance, 15);
  const json q = call({{"type", "balance.query"}, {"id", "q"}, {"at", "2026-11-23T00:00:00Z"}, {"customer", "card:D"}});
  ASSERT_EQ(q["expiring"].size(), 1u) << q.dump();
  EXPECT_EQ(q["expiring"][0]["points"], 15);
  auto v = ledger::verify(*ledger_);
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems.front());
}

// The source's personal data was left on an account no reference reached (find, export and
// erase by its old reference went to the target's): the target takes the fields it lacks
// and the source's row is erased.
TEST_F(CustomersTest, AMergeLeavesNoPersonalDataOutOfReach) {
  call({{"type", "customer.upsert"}, {"id", "u1"}, {"at", "2026-11-22T10:00:00Z"}, {"customer", "card:A"},
        {"name", "Ana Source"}, {"email", "ana@src.mx"}});
  call({{"type", "customer.upsert"}, {"id", "u2"}, {"at", "2026-11-22T10:00:00Z"}, {"customer", "card:B"},
        {"name", "Bea Target"}});
  auto r = merge_customers(*ledger_, *clock_, "B01", "card:A", "card:B", "m1", "v");
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto b = find_customer(*ledger_, "card:B", 10);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->pii.name.value_or(""), "Bea Target");
  EXPECT_EQ(b->pii.email.value_or(""), "ana@src.mx");
  const int64_t left = ledger_->with_db([&](sqlite3*) {
    auto q = ledger_->query("SELECT count(*) FROM customer_pii WHERE name = 'Ana Source'");
    q.step();
    return q.i64(0);
  });
  EXPECT_EQ(left, 0);
}

TEST_F(CustomersTest, EraseRemovesPersonalDataAndKeepsAmounts) {
  call({{"type", "customer.upsert"},
        {"id", "u"},
        {"at", "2026-11-22T10:00:00Z"},
        {"customer", "phone:5512345678"},
        {"name", "Ana Ruiz"},
        {"email", "ana@example.mx"},
        {"aliases", {"card:7"}}});
  sale("s1", "phone:5512345678", "2026-11-20T10:00:00-06:00");
  auto r = erase_customer(*ledger_, "card:7", "feedfacefeedfacefeedfacefeedface");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->tokens.size(), 1u);
  auto v = find_customer(*ledger_, "card:7", 100);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->pii.name);
  EXPECT_FALSE(v->pii.email);
  EXPECT_EQ(v->account.balance.value(), 45);
  EXPECT_EQ(v->entries.size(), 1u);
  for (const auto& ref : v->refs) EXPECT_EQ(ref.find("5512345678"), std::string::npos) << ref;
  EXPECT_FALSE(find_customer(*ledger_, "phone:5512345678", 0).ok());
  // Nothing in the ledger file keeps the phone number (stored responses included).
  const int64_t left = ledger_->with_db([&](sqlite3*) {
    auto q = ledger_->query(
        "SELECT (SELECT count(*) FROM requests WHERE instr(response_json, '5512345678') > 0) + "
        "(SELECT count(*) FROM aliases WHERE instr(ref, '5512345678') > 0) + "
        "(SELECT count(*) FROM customer_pii)");
    q.step();
    const int64_t n = q.i64(0);
    q.run();
    return n;
  });
  EXPECT_EQ(left, 0);
  EXPECT_EQ(balance("card:7"), 45);
}

}  // namespace
}  // namespace loyalty::app
