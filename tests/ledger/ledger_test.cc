// The SQLite ledger on real files: schema, append-only entries, lots, verify, reports.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "ledger/admin.h"
#include "ledger/migrations.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {
namespace {

namespace fs = std::filesystem;
using domain::BusinessTime;
using domain::Points;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-ledger-XXXXXX";
    dir_ = mkdtemp(tmpl);
    opts_.path = dir_ + "/ledger.db";
    opts_.branch = "B01";
    opts_.synchronous = 1;
    l_ = SqliteLedger::open(opts_);
  }
  void TearDown() override {
    l_.reset();
    fs::remove_all(dir_);
  }

  // An earning of `points` for a new or existing account, committed.
  std::string earn(const std::string& ref, int64_t points, const std::string& id) {
    auto tx = l_->begin_write();
    auto a = tx->find_account_by_ref(ref);
    if (!a) a = tx->create_account("B01", ref, "", at_);
    app::EntryRow e;
    e.entry_id = "B01/" + id + "/earn";
    e.origin_branch = "B01";
    e.account_id = a->account_id;
    e.kind = "earn";
    e.points = Points(points);
    e.request_id = id;
    e.branch = "B01";
    e.business_at = at_;
    e.expires_at = at_.plus_days(365);
    e.body_hash = std::string(64, 'a');
    domain::Lot lot{e.entry_id, a->account_id, at_, *e.expires_at, Points(points), Points(points)};
    tx->append_entry(e, {}, lot);
    tx->put_request("B01", id, app::StoredRequest{std::string(64, 'a'), 0, "{}"}, 0);
    tx->commit();
    return a->account_id;
  }

  void raw_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(opts_.path.c_str(), &db);
    char* err = nullptr;
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    last_error_ = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string dir_, last_error_;
  LedgerOptions opts_;
  std::unique_ptr<SqliteLedger> l_;
  BusinessTime at_ = *domain::parse_rfc3339("2026-11-22T10:15:00-06:00");
};

TEST_F(LedgerTest, SchemaIsVersionedAndSurvivesReopen) {
  EXPECT_EQ(l_->schema_version(), migrations().back().version);
  const std::string account = earn("card:1", 45, "r1");
  const std::string epoch = l_->node_epoch();
  l_.reset();
  l_ = SqliteLedger::open(opts_);
  EXPECT_EQ(l_->node_epoch(), epoch);
  auto tx = l_->begin_read();
  EXPECT_EQ(tx->find_account_by_ref("card:1")->balance, Points(45));
  EXPECT_EQ(tx->find_account_by_ref("card:1")->account_id, account);
  EXPECT_EQ(account.rfind("B01-", 0), 0u);
  EXPECT_EQ(account.size(), 4u + 26u);
}

TEST_F(LedgerTest, NewerSchemaIsRefused) {
  l_.reset();
  raw_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  try {
    SqliteLedger::open(opts_);
    FAIL() << "opened a ledger from the future";
  } catch (const app::StoreFailure& f) {
    EXPECT_NE(std::string(f.what()).find("99"), std::string::npos);
  }
}

TEST_F(LedgerTest, EntriesAreAppendOnlyAndSequenced) {
  earn("card:1", 10, "r1");
  earn("card:2", 20, "r2");
  earn("card:1", 30, "r3");
  raw_sql("UPDATE entries SET points = 1000");
  EXPECT_NE(last_error_.find("append-only"), std::string::npos) << last_error_;
  raw_sql("DELETE FROM entries");
  EXPECT_NE(last_error_.find("append-only"), std::string::npos);
  raw_sql("UPDATE entries SET hub_offset = 7 WHERE origin_seq = 1");
  EXPECT_EQ(last_error_, "");
  raw_sql("UPDATE entries SET hub_offset = 8 WHERE origin_seq = 1");
  EXPECT_NE(last_error_.find("once"), std::string::npos);
  auto seqs = l_->with_db([&](sqlite3*) {
    std::vector<int64_t> out;
    auto q = l_->query("SELECT origin_seq FROM entries ORDER BY origin_seq");
    while (q.step()) out.push_back(q.i64(0));
    return out;
  });
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3}));
}

TEST_F(LedgerTest, RollbackLeavesNothing) {
  earn("card:1", 10, "r1");
  {
    auto tx = l_->begin_write();
    tx->create_account("B01", "card:2", "", at_);
  }  // no commit
  auto tx = l_->begin_read();
  EXPECT_FALSE(tx->find_account_by_ref("card:2"));
  tx->commit();
  earn("card:3", 5, "r2");
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, LotsAllocationsAndSales) {
  const std::string account = earn("card:1", 50, "r1");
  auto tx = l_->begin_write();
  auto lots = tx->open_lots(account);
  ASSERT_EQ(lots.size(), 1u);
  app::EntryRow e;
  e.entry_id = "B01/r2/redeem";
  e.origin_branch = "B01";
  e.account_id = account;
  e.kind = "redeem";
  e.points = Points(-20);
  e.request_id = "r2";
  e.branch = "B01";
  e.business_at = at_;
  e.body_hash = std::string(64, 'b');
  tx->append_entry(e, {domain::Allocation{lots[0].lot_id, Points(20)}}, std::nullopt);
  EXPECT_EQ(tx->open_lots(account)[0].remaining, Points(30));
  domain::SaleRecord s;
  s.branch = "B01";
  s.ticket = "000123";
  s.request_id = "r1";
  s.account_id = account;
  s.earned = Points(50);
  s.at = at_;
  s.lines = {{1, domain::Money::from_units(90), domain::Quantity::from_units(2), domain::Percent::from_units(5), {}},
             {2, domain::Money::from_units(10), domain::Quantity::from_micros(350'000), domain::Percent::from_units(0),
              domain::Money::from_units(3)}};
  tx->put_sale(s);
  auto back = tx->find_sale("B01", "000123");
  ASSERT_TRUE(back);
  ASSERT_EQ(back->lines.size(), 2u);
  EXPECT_EQ(back->lines[1].qty, domain::Quantity::from_micros(350'000));
  EXPECT_EQ(back->lines[1].refunded, domain::Money::from_units(3));
  tx->put_request("B01", "r2", app::StoredRequest{std::string(64, 'b'), 0, "{}"}, 0);
  tx->commit();
  EXPECT_TRUE(verify(*l_).ok());
  // Taking more than a lot holds fails; the caller rolls the transaction back.
  {
    auto bad = l_->begin_write();
    e.entry_id = "B01/r3/too-much";
    EXPECT_THROW(bad->append_entry(e, {domain::Allocation{lots[0].lot_id, Points(31)}}, std::nullopt),
                 app::StoreFailure);
  }
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, HoldsResolveOnce) {
  const std::string account = earn("card:1", 50, "r1");
  auto tx = l_->begin_write();
  app::Hold h;
  h.hold_id = "H-1";
  h.account_id = account;
  h.branch = "B01";
  h.ticket = "T";
  h.points = Points(20);
  h.status = "active";
  h.created_at = at_;
  h.business_deadline = at_.plus_minutes(15);
  tx->insert_hold(h);
  EXPECT_EQ(tx->active_holds_of_account(account).size(), 1u);
  EXPECT_EQ(tx->active_holds_of_ticket("B01", "T").size(), 1u);
  tx->resolve_hold("H-1", "captured", 1);
  EXPECT_THROW(tx->resolve_hold("H-1", "released", 2), app::StoreFailure);
  EXPECT_EQ(tx->find_hold("H-1")->status, "captured");
}

TEST_F(LedgerTest, QuarantineKeepsRawBytesAndIsCapped) {
  l_.reset();
  opts_.quarantine_max_rows = 3;
  l_ = SqliteLedger::open(opts_);
  for (int i = 0; i < 5; ++i) {
    l_->quarantine(app::QuarantineRow{i, "abi", std::string("a\0b", 3) + std::to_string(i), "invalid_json", "", "x"});
  }
  auto rows = l_->with_db([&](sqlite3*) {
    std::vector<std::string> out;
    auto q = l_->query("SELECT raw FROM quarantine ORDER BY id");
    while (q.step()) out.push_back(q.text(0));
    return out;
  });
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.back(), std::string("a\0b4", 4));
}

TEST_F(LedgerTest, VerifyFindsATamperedBalance) {
  earn("card:1", 45, "r1");
  earn("card:2", 10, "r2");
  EXPECT_TRUE(verify(*l_).ok());
  raw_sql("UPDATE accounts SET balance = balance + 1 WHERE rowid = 1");
  auto report = verify(*l_);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.problems[0].find("entries sum to 45"), std::string::npos) << report.problems[0];
  EXPECT_EQ(report.accounts_checked, 2);
  EXPECT_EQ(report.entries_checked, 2);
}

TEST_F(LedgerTest, WritersFromFourThreadsAreSerialised) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) earn("card:" + std::to_string(t), 1, "t" + std::to_string(t) + "-" + std::to_string(i));
    });
  }
  for (auto& t : ts) t.join();
  auto report = verify(*l_);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries_checked, 200);
}

TEST_F(LedgerTest, PointsReportByBusinessDay) {
  earn("card:1", 45, "r1");
  earn("card:2", 10, "r2");
  auto rows = points_report(*l_, "2026-11-22", "2026-11-22", std::nullopt);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].earned, 55);
  EXPECT_EQ(rows[0].customers, 2);
  EXPECT_TRUE(points_report(*l_, "2026-11-23", "2026-11-30", std::nullopt).empty());
  EXPECT_TRUE(points_report(*l_, "2026-11-22", "2026-11-22", std::string("B02")).empty());
}

}  // namespace
}  // namespace loyalty::ledger
