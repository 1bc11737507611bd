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
  // The same id again is refused; a reference of the same account too.
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
