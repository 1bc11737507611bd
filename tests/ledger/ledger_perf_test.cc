// Speed of the POS path and of verify on a ledger of 100k accounts and 1M entries.
// Slow to set up (~20 s), so it runs only with LOYALTY_LEDGER_PERF=1 (optionally
// LOYALTY_LEDGER_PERF_DIR=<dir> to keep and reuse the database). Statement time is
// measured with synchronous=OFF: fsync is the disk's business, not the SQL's.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include <time.h>

#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using domain::Points;

constexpr int64_t kAccounts = 100'000;
constexpr int64_t kEntriesPerAccount = 10;

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    ADD_FAILURE() << err;
    sqlite3_free(err);
  }
}

// Fills a fresh ledger with kAccounts accounts of kEntriesPerAccount earnings of 10 points
// each (one lot each, one request each), consistent enough for verify to pass.
void populate(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; BEGIN;");
  exec(db,
       "CREATE TEMP TABLE n(i INTEGER PRIMARY KEY);"
       "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000) "
       "INSERT INTO n SELECT i FROM c;"
       "INSERT INTO accounts(account_id, category, balance, sales_count, created_at_ms, created_offset, "
       "origin_branch, updated_seq) SELECT printf('B01-%026d', i), '', 100, 10, 1767225600000, -360, 'B01', "
       "i * 10 FROM n;"
       "INSERT INTO aliases(ref, account_id) SELECT 'card:' || i, printf('B01-%026d', i) FROM n;");
  // Entries in time order: round r gives every account its r-th earning.
  exec(db,
       "INSERT INTO entries(entry_id, origin_branch, origin_seq, node_epoch, account_id, kind, points, "
       "request_id, branch, ticket, ref_entry_id, business_at_ms, business_offset, recorded_at_ms, "
       "expires_at_ms, expires_offset, program_version, reason, body_hash) "
       "SELECT 'B01/e' || (r.i * 100000 + n.i), 'B01', (r.i - 1) * 100000 + n.i, 'epoch', "
       "printf('B01-%026d', n.i), 'earn', 10, 'e' || (r.i * 100000 + n.i), 'B01', 'T' || n.i, '', "
       "1767225600000 + ((r.i - 1) * 100000 + n.i) * 1000, -360, 0, "
       "1767225600000 + ((r.i - 1) * 100000 + n.i) * 1000 + 31536000000, -360, 'p', '', zeroblob(32) "
       "FROM n AS r, n WHERE r.i <= 10 ORDER BY r.i, n.i;");
  exec(db,
       "INSERT INTO lots(account_id, expires_at_ms, earned_at_ms, lot_id, earned_offset, expires_offset, "
       "original, initial, remaining) SELECT account_id, expires_at_ms, business_at_ms, entry_id, -360, -360, "
       "10, 10, 10 FROM entries;"
       "INSERT INTO requests(branch, request_id, body_hash, code, response_json, created_at_ms) "
       "SELECT 'B01', request_id, body_hash, 0, '{}', 0 FROM entries;"
       "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);");
  sqlite3_close(db);
}

TEST(LedgerPerf, SaleAndVerifyWithOneMillionEntries) {
  if (getenv("LOYALTY_LEDGER_PERF") == nullptr) GTEST_SKIP() << "set LOYALTY_LEDGER_PERF=1 to run";
  const char* keep = getenv("LOYALTY_LEDGER_PERF_DIR");
  std::string dir;
  if (keep) {
    dir = keep;
    fs::create_directories(dir);
  } else {
    char tmpl[] = "/tmp/loyalty-ledger-perf-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  LedgerOptions o;
  o.path = dir + "/ledger.db";
  o.branch = "B01";
  o.synchronous = 0;
  if (const char* c = getenv("LOYALTY_LEDGER_PERF_CKPT")) o.checkpoint_pages = std::atoll(c);
  const bool fresh = !fs::exists(o.path);
  auto t0 = Clock::now();
  auto l = SqliteLedger::open(o);
  if (fresh) {
    l.reset();
    populate(o.path);
    l = SqliteLedger::open(o);
  }
  auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  std::printf("setup %.0f ms (fresh: %d)\n", ms_since(t0), fresh ? 1 : 0);

  const bool check = getenv("LOYALTY_LEDGER_PERF_VERIFY") == nullptr || *getenv("LOYALTY_LEDGER_PERF_VERIFY") != '0';
  if (check) {
    auto t = Clock::now();
    auto report = verify(*l);
    std::printf("verify: %.0f ms for %lld accounts, %lld entries\n", ms_since(t),
                static_cast<long long>(report.accounts_checked), static_cast<long long>(report.entries_checked));
    ASSERT_TRUE(report.ok()) << report.problems.front();
    EXPECT_GE(report.entries_checked, kAccounts * kEntriesPerAccount);
    EXPECT_LT(ms_since(t), 10'000);
  }

  // The POS path of a sale: request lookup, account, lots, holds, earn (+ a redeem one time
  // in three), the sale with three lines, the request; then COMMIT.
  std::mt19937_64 rng(42);
  const std::string run = std::to_string(std::random_device{}());  // ids unique across reruns
  const int kSales = getenv("LOYALTY_LEDGER_PERF_SALES") ? std::atoi(getenv("LOYALTY_LEDGER_PERF_SALES")) : 5000;
  double phase_us[4] = {0, 0, 0, 0};  // begin, reads, entries, sale+request
  auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  double cpu_statements = 0, cpu_commit = 0;
  std::vector<double> us, commit_us;
  us.reserve(kSales);
  commit_us.reserve(kSales);
  const std::string hash(64, 'c');
  const int64_t base_ms = 1767225600000 + 2'000'000'000;
  for (int i = 0; i < kSales; ++i) {
    const int64_t who = static_cast<int64_t>(rng() % kAccounts) + 1;
    const std::string id = "perf-" + run + "-" + std::to_string(i) + "-" + std::to_string(rng());
    const domain::BusinessTime at{base_ms + i * 1000, -360};
    auto t = Clock::now();
    auto lap = t;
    auto phase = [&](int k) {
      const auto now = Clock::now();
      phase_us[k] += std::chrono::duration<double, std::micro>(now - lap).count();
      lap = now;
    };
    const double c0 = cpu_us();
    auto tx = l->begin_write();
    phase(0);
    EXPECT_FALSE(tx->find_request("B01", id));
    auto a = tx->find_account_by_ref("card:" + std::to_string(who));
    ASSERT_TRUE(a);
    auto lots = tx->open_lots(a->account_id);
    auto holds = tx->active_holds_of_account(a->account_id);
    EXPECT_TRUE(holds.empty());
    phase(1);
    std::vector<domain::Allocation> take;
    if (i % 3 == 0 && !lots.empty()) {
      take.push_back(domain::take_from(lots.front(), Points(std::min<int64_t>(5, lots.front().remaining.value()))));
      app::EntryRow r;
      r.entry_id = id + "/redeem";
      r.origin_branch = "B01";
      r.account_id = a->account_id;
      r.kind = "redeem";
      r.points = -take.front().points;
      r.request_id = id;
      r.branch = "B01";
      r.ticket = id;
      r.business_at = at;
      r.body_hash = hash;
      tx->append_entry(r, take, std::nullopt);
    }
    app::EntryRow e;
    e.entry_id = id + "/earn";
    e.origin_branch = "B01";
    e.account_id = a->account_id;
    e.kind = "earn";
    e.points = Points(7);
    e.request_id = id;
    e.branch = "B01";
    e.ticket = id;
    e.business_at = at;
    e.expires_at = at.plus_days(365);
    e.program_version = "p";
    e.body_hash = hash;
    e.counts_sale = true;
    tx->append_entry(e, {}, domain::Lot{e.entry_id, a->account_id, at, *e.expires_at, Points(7), Points(7)});
    phase(2);
    domain::SaleRecord s;
    s.branch = "B01";
    s.ticket = "T" + run + "-" + std::to_string(100000 + i);  // POS tickets are sequential
    s.request_id = id;
    s.account_id = a->account_id;
    s.earn_entry_id = e.entry_id;
    s.earned = Points(7);
    s.at = at;
    for (int n = 1; n <= 3; ++n) {
      s.lines.push_back({n, domain::Money::from_micros(45'500'000), domain::Quantity::from_units(1),
                         domain::Percent::from_units(5), {}});
    }
    tx->put_sale(s);
    tx->put_request("B01", id, app::StoredRequest{hash, 0, std::string(600, 'j')}, at.unix_ms);
    phase(3);
    auto tc = Clock::now();
    const double c1 = cpu_us();
    tx->commit();
    const double c2 = cpu_us();
    cpu_statements += c1 - c0;
    cpu_commit += c2 - c1;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    commit_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - tc).count());
  }
  std::sort(us.begin(), us.end());
  std::sort(commit_us.begin(), commit_us.end());
  std::printf("  CPU per sale: statements %.1f us, COMMIT %.1f us\n", cpu_statements / kSales,
              cpu_commit / kSales);
  EXPECT_LT(cpu_statements / kSales, 100.0);
  std::printf("  mean us: BEGIN %.1f, reads %.1f, entries %.1f, sale+request %.1f\n", phase_us[0] / kSales,
              phase_us[1] / kSales, phase_us[2] / kSales, phase_us[3] / kSales);
  {
    int cur = 0, hi = 0;
    l->with_db([&](sqlite3* db) { return sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 0); });
    std::printf("  pages written per sale: %.1f; WAL file %.1f MB\n", static_cast<double>(cur) / kSales,
                static_cast<double>(fs::file_size(o.path + "-wal")) / 1e6);
  }
  std::printf("  of which COMMIT: p50 %.1f us, p99 %.1f us\n", commit_us[commit_us.size() / 2],
              commit_us[commit_us.size() * 99 / 100]);
  double sum = 0;
  for (double v : us) sum += v;
  const double mean = sum / static_cast<double>(us.size());
  std::printf("sale (synchronous=OFF): mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n", mean,
              us[us.size() / 2], us[us.size() * 99 / 100], us.back());
  if (check) {
    auto t = Clock::now();
    auto report = verify(*l);
    std::printf("verify after the sales: %.0f ms\n", ms_since(t));
    EXPECT_TRUE(report.ok()) << report.problems.front();
  }
  if (check) {
    auto t = Clock::now();
    auto rows = points_report(*l, "2026-01-01", "2026-12-31", std::nullopt);
    std::printf("points_report over the year: %.0f ms, %zu rows\n", ms_since(t), rows.size());
  }
  l.reset();
  if (!keep) fs::remove_all(dir);
}

}  // namespace
}  // namespace loyalty::ledger
