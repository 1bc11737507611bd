// The balance projection (ledger/src/balance_projection.h) on real SQLite files: balance.query
// answered from memory must be what SQLite says at that moment, whoever wrote last.
//  - this connection's writes (committed, or rolled back), a merge's aliases;
//  - another connection's commits (loyaltyctl, another process);
//  - a preload that read while a write changed what it read;
//  - the load again after many writes.
// Each answer is compared with a second ledger on the same file that has no projection.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/customers.h"
#include "app/service.h"
#include "config/load.h"
#include "ledger/sqlite_ledger.h"
#include "manual_clock.h"

namespace loyalty {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kToml =
    "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\nsynchronous = \"normal\"\n"
    "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\nexpiry_days = 30\nhold_minutes = 15\n";

class BalanceProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-projection-XXXXXX";
    dir_ = mkdtemp(tmpl);
    clock_->now = 1'795'000'000'000;
  }
  void TearDown() override {
    services_.clear();
    ledgers_.clear();
    fs::remove_all(dir_);
  }

  // A Service on its own connection to the ledger; `adjust` edits its options.
  template <class F = void (*)(ledger::LedgerOptions&)>
  app::Service& open(F adjust = [](ledger::LedgerOptions&) {}) {
    auto settings = config::parse_settings(kToml, dir_ + "/loyalty.toml");
    EXPECT_TRUE(settings.ok());
    ledger::LedgerOptions o;
    o.path = settings->db_path;
    o.branch = "B01";
    o.synchronous = 1;
    o.checkpoint_pages = 0;
    adjust(o);
    ledgers_.push_back(std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release()));
    services_.push_back(std::make_unique<app::Service>(
        ledgers_.back(), std::make_shared<const config::Settings>(std::move(*settings)), clock_));
    return *services_.back();
  }
  // The reference: no projection, and every read its own transaction (sees every commit).
  app::Service& open_reference() {
    return open([](ledger::LedgerOptions& o) {
      o.balance_projection = false;
      o.read_reuse_us = 0;
    });
  }

  json call(app::Service& s, json req) {
    req["id"] = "r" + std::to_string(++n_);
    if (!req.contains("at")) req["at"] = "2026-11-10T12:00:00-06:00";
    const auto out = s.handle(req.dump());
    return json::parse(out.json);
  }
  json sale(app::Service& s, const std::string& customer, const std::string& amount) {
    return call(s, {{"type", "sale.completed"},
                    {"ticket", "T" + std::to_string(n_ + 1)},
                    {"customer", customer},
                    {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"amount", amount}, {"qty", "1"}}}},
                    {"tenders", {{{"method", "cash"}, {"amount", amount}}}}});
  }
  json adjust(app::Service& s, const std::string& customer, int64_t points) {
    return call(s, {{"type", "points.adjust"}, {"customer", customer}, {"points", points},
                    {"reason", "test"}, {"operator", "ana"}});
  }
  json balance(app::Service& s, const std::string& customer) {
    return call(s, {{"type", "balance.query"}, {"customer", customer}});
  }
  // The answer of `s` equals the reference's, but for the request id.
  void expect_same(app::Service& s, app::Service& reference, const std::string& customer,
                   const std::string& why) {
    json a = balance(s, customer), b = balance(reference, customer);
    a.erase("id");
    b.erase("id");
    EXPECT_EQ(a, b) << why << ": " << customer;
  }
  ledger::SqliteLedger& ledger(size_t i) { return *ledgers_.at(i); }
  // card:1 .. card:n, 50 points each, written through a connection closed again.
  void seed_customers(int n) {
    app::Service& first = open();
    for (int c = 1; c <= n; ++c) ASSERT_TRUE(sale(first, "card:" + std::to_string(c), "100.00")["ok"].get<bool>());
    services_.clear();
    ledgers_.clear();
  }

  // Waits until `done` or 10 s.
  template <class F>
  static bool eventually(F done) {
    for (int i = 0; i < 2000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return done();
  }

  std::string dir_;
  std::shared_ptr<testing::ManualClock> clock_ = std::make_shared<testing::ManualClock>();
  std::vector<std::shared_ptr<ledger::SqliteLedger>> ledgers_;
  std::vector<std::unique_ptr<app::Service>> services_;
  int n_ = 0;
};

TEST_F(BalanceProjectionTest, ARepeatedQueryIsAnsweredFromMemoryAndWritesEmptyIt) {
  app::Service& s = open();
  app::Service& ref = open_reference();
  ASSERT_TRUE(sale(s, "card:1", "90.00")["ok"].get<bool>());
  const auto before = ledger(0).stats();
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);
  auto after = ledger(0).stats();
  EXPECT_EQ(after.projection_misses - before.projection_misses, 1u);
  EXPECT_EQ(after.projection_hits - before.projection_hits, 1u);
  // A sale, a hold, an adjustment: each answer afterwards is SQLite's.
  ASSERT_TRUE(sale(s, "card:1", "200.00")["ok"].get<bool>());
  expect_same(s, ref, "card:1", "after a sale");
  ASSERT_TRUE(call(s, {{"type", "points.authorize"}, {"ticket", "H1"}, {"customer", "card:1"}, {"amount", "0.50"}})["ok"]
                  .get<bool>());
  expect_same(s, ref, "card:1", "after a hold");
  EXPECT_EQ(balance(s, "card:1")["available"], 140);
  const json hold = call(s, {{"type", "points.authorize"}, {"ticket", "H2"}, {"customer", "card:1"}, {"amount", "1.00"}});
  ASSERT_TRUE(hold["ok"].get<bool>()) << hold;
  EXPECT_EQ(balance(s, "card:1")["available"], 130);
  ASSERT_TRUE(call(s, {{"type", "points.release"}, {"hold", hold["hold"]}, {"ticket", "H2"}})["ok"].get<bool>());
  expect_same(s, ref, "card:1", "after a release");
  EXPECT_EQ(balance(s, "card:1")["available"], 140);
  ASSERT_TRUE(adjust(s, "card:1", -3)["ok"].get<bool>());
  expect_same(s, ref, "card:1", "after an adjustment");
  EXPECT_EQ(balance(s, "card:1")["balance"], 142);
}

TEST_F(BalanceProjectionTest, AWriteRolledBackLeavesWhatWasCommitted) {
  app::Service& s = open();
  ASSERT_TRUE(sale(s, "card:1", "90.00")["ok"].get<bool>());
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);  // in the projection now
  {
    auto tx = ledger(0).begin_write();
    auto acct = tx->find_account_by_ref("card:1");
    ASSERT_TRUE(acct);
    app::EntryRow e;
    e.entry_id = "B01/x/adjust";
    e.origin_branch = "B01";
    e.account_id = acct->account_id;
    e.kind = "adjust";
    e.points = domain::Points(500);
    e.business_at = domain::BusinessTime{clock_->now, 0};
    e.recorded_at_ms = clock_->now;
    tx->append_entry(e, {}, std::nullopt);
    EXPECT_EQ(tx->balance_view("card:1")->balance, domain::Points(545));  // the write sees its own
    // no commit: rolled back
  }
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);
}

TEST_F(BalanceProjectionTest, AnotherConnectionsCommitIsSeen) {
  app::Service& s = open();
  app::Service& other = open([](ledger::LedgerOptions& o) { o.balance_projection = false; });
  ASSERT_TRUE(sale(s, "card:1", "90.00")["ok"].get<bool>());
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);
  const auto clears = ledger(0).stats().projection_clears;
  ASSERT_TRUE(adjust(other, "card:1", 100)["ok"].get<bool>());
  // A read that begins after read_reuse_us (1 ms) sees the commit of the other connection.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(balance(s, "card:1")["balance"], 145);
  EXPECT_EQ(ledger(0).stats().projection_clears, clears + 1);
  // A new reference on the other connection moves the answer too.
  ASSERT_TRUE(call(other, {{"type", "customer.upsert"}, {"customer", "card:1"}, {"aliases", {"phone:555"}}})["ok"]
                  .get<bool>());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(balance(s, "phone:555")["balance"], 145);
}

class BalanceProjectionMergeTest : public BalanceProjectionTest, public ::testing::WithParamInterface<bool> {};

// The source's references name the target afterwards, also once the background thread has
// loaded every account again (preload_balances).
TEST_P(BalanceProjectionMergeTest, AMergeMovesTheReferences) {
  const bool refreshing = GetParam();
  app::Service& s = open([&](ledger::LedgerOptions& o) {
    o.preload_balances = refreshing;
    o.reload_after_forgotten = 1;
  });
  app::Service& ref = open_reference();
  ASSERT_TRUE(sale(s, "card:1", "90.00")["ok"].get<bool>());
  ASSERT_TRUE(sale(s, "card:2", "200.00")["ok"].get<bool>());
  EXPECT_EQ(balance(s, "card:1")["balance"], 45);
  EXPECT_EQ(balance(s, "card:2")["balance"], 100);
  const auto loads = ledger(0).stats().preloads;
  auto merged = app::merge_customers(*ledgers_[0], *clock_, "B01", "card:2", "card:1", "m1", "1");
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  if (refreshing) {
    ASSERT_TRUE(eventually([&] { return ledger(0).stats().preloads > loads; }));
  }
  expect_same(s, ref, "card:2", "the merge's source reference");
  expect_same(s, ref, "card:1", "the merge's target");
  EXPECT_EQ(balance(s, "card:2")["balance"], 145);
}
INSTANTIATE_TEST_SUITE_P(Refresh, BalanceProjectionMergeTest, ::testing::Bool());

TEST_F(BalanceProjectionTest, APreloadKeepsNothingThatChangedWhileItRead) {
  // Five customers, then a ledger that preloads them. After its load has read them and before
  // it installs them, the loading ledger's own connection adjusts card:3 and gives card:4's
  // account the reference phone:9. Only the load's own care keeps its older card:3 and
  // card:4 out of the projection.
  seed_customers(5);
  std::atomic<app::Service*> loading{nullptr};
  std::atomic<bool> ran{false};
  app::Service& s = open([&](ledger::LedgerOptions& o) {
    o.preload_balances = true;
    o.reload_after_forgotten = 0;
    o.preload_before_install_for_tests = [&] {
      if (ran) return;
      // The load began inside open(): wait for the test to have its Service.
      if (!eventually([&] { return loading.load() != nullptr; })) return;
      EXPECT_TRUE(adjust(*loading.load(), "card:3", 40)["ok"].get<bool>());
      EXPECT_TRUE(call(*loading.load(), {{"type", "customer.upsert"}, {"customer", "card:4"}, {"aliases", {"phone:9"}}})["ok"]
                      .get<bool>());
      ran = true;
    };
  });
  app::Service& ref = open_reference();
  loading = &s;
  ASSERT_TRUE(eventually([&] { return ledger(0).stats().preloads >= 1; }));
  ASSERT_TRUE(ran);
  EXPECT_EQ(ledger(0).stats().preloaded_accounts, 3u);  // card:3 and card:4 were left out
  const auto hits = ledger(0).stats().projection_hits;
  for (int c = 1; c <= 5; ++c) expect_same(s, ref, "card:" + std::to_string(c), "after the load");
  expect_same(s, ref, "phone:9", "a reference added during the load");
  EXPECT_EQ(ledger(0).stats().projection_hits, hits + 3) << "card:1, 2 and 5 came from the load";
}

TEST_F(BalanceProjectionTest, ALoadGivesWayToACommitAndGoesOnFromWhereItStopped) {
  seed_customers(10);
  // Three accounts a chunk; before the first chunk is installed, a sale commits: the load
  // installs that chunk (what changed is left out), gives up, and goes on at the next pause
  // from the accounts after it, not from the start.
  std::atomic<app::Service*> loading{nullptr};
  std::atomic<int> chunks{0};
  app::Service& s = open([&](ledger::LedgerOptions& o) {
    o.preload_balances = true;
    o.preload_chunk_accounts = 3;
    o.reload_after_forgotten = 0;
    o.preload_before_install_for_tests = [&] {
      if (chunks++ != 0) return;
      if (!eventually([&] { return loading.load() != nullptr; })) return;
      EXPECT_TRUE(sale(*loading.load(), "card:11", "20.00")["ok"].get<bool>());
    };
  });
  app::Service& ref = open_reference();
  loading = &s;
  ASSERT_TRUE(eventually([&] { return ledger(0).stats().preloads >= 1; }));
  // Chunk 1, then (going on after it) 4-6, 7-9 and the rest: four, none read twice.
  EXPECT_EQ(chunks.load(), 4);
  EXPECT_GE(ledger(0).stats().preloaded_accounts, 10u);
  const auto misses = ledger(0).stats().projection_misses;
  for (int c = 1; c <= 10; ++c) expect_same(s, ref, "card:" + std::to_string(c), "after the interrupted load");
  EXPECT_EQ(ledger(0).stats().projection_misses, misses) << "every account of the load was installed";
  expect_same(s, ref, "card:11", "the sale during the load");
}

TEST_F(BalanceProjectionTest, AfterManyWritesEveryAccountIsLoadedAgain) {
  app::Service& s = open([](ledger::LedgerOptions& o) {
    o.preload_balances = true;
    o.reload_after_forgotten = 2;
  });
  app::Service& ref = open_reference();
  ASSERT_TRUE(eventually([&] { return ledger(0).stats().preloads >= 1; }));  // the load at open
  ASSERT_TRUE(sale(s, "card:1", "90.00")["ok"].get<bool>());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ledger(0).stats().preloads, 1u) << "one account forgotten: the reads fill it";
  ASSERT_TRUE(sale(s, "card:2", "200.00")["ok"].get<bool>());
  // Two forgotten: a load at the next pause puts both back without a read asking SQLite.
  ASSERT_TRUE(eventually([&] { return ledger(0).stats().preloads >= 2; }));
  const auto misses = ledger(0).stats().projection_misses;
  expect_same(s, ref, "card:1", "loaded again");
  expect_same(s, ref, "card:2", "loaded again");
  EXPECT_EQ(balance(s, "card:2")["balance"], 100);
  EXPECT_EQ(ledger(0).stats().projection_misses, misses);
}

}  // namespace
}  // namespace loyalty
