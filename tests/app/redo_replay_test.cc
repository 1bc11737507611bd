// A power cut in redo mode (synchronous = "full", ledger/src/redo_log.h): the database loses
// its newest commits, and the next open re-runs them from the redo log. Simulated on real
// files: the ledger's files are copied between two requests (what a power cut at that
// moment can leave: a prefix of the commits), the day goes on, and the copy, given the redo
// log as it was at the end, is opened again. It must then equal the ledger that never
// crashed, table by table, row by row, and verify clean.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/service.h"
#include "app/sync_apply.h"
#include "config/load.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "manual_clock.h"

namespace loyalty {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using testing::ManualClock;

constexpr const char* kRedoConfig = R"(
[plugin]
branch = "B01"
db = "ledger.db"
[program]
point_value = "0.10"
earn_percent = "5"
expiry_days = 30
excluded_payment_methods = ["credit_card"]
hold_minutes = 15
[program.categories]
gold = "8"
)";

constexpr const char* kDay = "2026-11-22T10:15:00-06:00";

// Every row of every table, in a fixed order: two ledgers with equal dumps hold the same data.
std::map<std::string, std::vector<std::string>> dump(const fs::path& db_path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::vector<std::string> tables;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  sqlite3_finalize(s);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& t : tables) {
    EXPECT_EQ(sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\"").c_str(), -1, &s, nullptr), SQLITE_OK);
    auto& rows = out[t];
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(s, c));
        row += std::to_string(sqlite3_column_type(s, c)) + ":";
        if (p) row.append(p, static_cast<size_t>(sqlite3_column_bytes(s, c)));
        row += '|';
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    std::sort(rows.begin(), rows.end());
  }
  sqlite3_close(db);
  return out;
}

class RedoReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-redo-XXXXXX";
    dir_ = mkdtemp(tmpl);
    fs::create_directories(dir_ / "live");
  }
  void TearDown() override {
    service_.reset();
    ledger_.reset();
    fs::remove_all(dir_);
  }

  // redo_min_bytes 0: every request takes the redo log (by default only large ones do).
  void open(const fs::path& where, int64_t rotate_bytes = 16 << 20, int64_t min_bytes = 0) {
    service_.reset();
    ledger_.reset();
    auto settings = config::parse_settings(kRedoConfig, (where / "loyalty.toml").string());
    ASSERT_TRUE(settings.ok()) << settings.error().field << ": " << settings.error().message;
    ledger::LedgerOptions o;
    o.path = settings->db_path;
    o.branch = settings->branch;
    o.synchronous = synchronous_;
    o.redo_rotate_bytes = rotate_bytes;
    o.redo_min_bytes = min_bytes;
    o.hold_commit_ms = hold_commit_ms_;
    o.hold_idle_us = hold_idle_us_;
    o.request_log = request_log_;
    ledger_ = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    ASSERT_TRUE(ledger_->redo_mode());
    service_ = std::make_unique<app::Service>(
        ledger_, std::make_shared<const config::Settings>(std::move(*settings)), clock_);
    if (request_log_) {
      // As bootstrap::Runtime does: the requests a crash left in the log run again now.
      app::Service* service = service_.get();
      ledger_->set_request_executor(
          [service](app::LedgerTx& tx, std::string_view record) { service->reexecute(tx, record); });
    }
  }
  void close() {
    service_.reset();
    ledger_.reset();
  }
  int synchronous_ = 2;  // the default ("full"): redo mode
  // POS requests in held groups, each durable by its own record (opt-in with full).
  int64_t hold_commit_ms_ = 100;
  int64_t hold_idle_us_ = 1000;
  // Requests write request records (LedgerOptions::request_log, as the plugin's hosts do):
  // a re-run runs the requests again through the service.
  bool request_log_ = false;
  // call() moves the clock on: a re-run must use each request's own time, not the clock's.
  int64_t tick_ms_ = 0;

  json call(const json& request) {
    clock_->now += tick_ms_;
    auto out = service_->handle(request.dump());
    return json::parse(out.json);
  }

  // The files a power cut right now could leave (no transaction is open between calls).
  void snapshot(const fs::path& to) {
    fs::remove_all(to);
    fs::create_directories(to);
    for (const char* f : {"ledger.db", "ledger.db-wal"}) {
      if (fs::exists(dir_ / "live" / f)) fs::copy_file(dir_ / "live" / f, to / f);
    }
  }
  // The snapshot, with the redo log as the live ledger left it.
  void give_redo_log(const fs::path& to) {
    fs::copy_file(dir_ / "live" / "ledger.db-redo", to / "ledger.db-redo", fs::copy_options::overwrite_existing);
  }

  // The store's day: request `i` of a mix of every kind that writes (sales of several
  // customers, an excluded card, holds and points payments, a void, partial refunds with
  // points back, customers and aliases, an adjustment, a malformed request).
  json request(int i) {
    const std::string id = "r" + std::to_string(i);
    const std::string ticket = "T" + std::to_string(i);
    const std::string customer = "card:" + std::to_string(i % 5);
    const std::string amount = std::to_string(100 + i * 7 % 90) + "." + std::to_string(10 + i % 80);
    switch (i % 9) {
      case 0:
        return {{"type", "customer.upsert"}, {"id", id}, {"at", kDay}, {"customer", customer},
                {"name", "Cliente " + std::to_string(i)}, {"category", i % 2 ? "gold" : ""},
                {"aliases", {"phone:+52155" + std::to_string(i)}}};
      case 3:
        return {{"type", "points.authorize"}, {"id", id}, {"at", kDay}, {"customer", customer},
                {"ticket", "P" + std::to_string(i)}, {"amount", "1.00"}};
      case 4:  // pays ticket P(i-1) with the hold just made
        return {{"type", "sale.completed"}, {"id", id}, {"at", kDay}, {"ticket", "P" + std::to_string(i - 1)},
                {"customer", "card:" + std::to_string((i - 1) % 5)}, {"lines", {{{"n", 1}, {"amount", "3.00"}}}},
                {"tenders", {{{"method", "points"}, {"amount", "1.00"}}, {{"method", "cash"}, {"amount", "2.00"}}}}};
      case 5:  // part of sale T(i-4)
        return {{"type", "refund.completed"}, {"id", id}, {"at", kDay}, {"ticket", "R" + std::to_string(i)},
                {"original_ticket", "T" + std::to_string(i - 4)}, {"lines", {{{"n", 2}, {"amount", "10.00"}}}}};
      case 6:
        return {{"type", "sale.voided"}, {"id", id}, {"at", kDay}, {"ticket", "T" + std::to_string(i - 4)}};
      case 7:
        return {{"type", "points.adjust"}, {"id", id}, {"at", kDay}, {"customer", customer}, {"points", 3},
                {"reason", "goodwill"}, {"operator", "ana"}};
      default:
        return {{"type", "sale.completed"}, {"id", id}, {"at", kDay}, {"ticket", ticket}, {"customer", customer},
                {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", amount}},
                           {{"n", 2}, {"sku", "PAN"}, {"qty", "2"}, {"amount", "20.00"}}}},
                {"tenders", {{{"method", i % 4 == 1 ? "credit_card" : "cash"}, {"amount", "1000.00"}}}}};
    }
  }
  void day(int from, int to) {
    for (int i = from; i < to; ++i) {
      answers_[i] = call(request(i));
      if (i % 10 == 8) service_->handle("{\"type\": \"sale.completed\", \"id\": ");  // quarantined
    }
  }

  // 4 threads, 40 rounds each: a sale, a points.authorize that spends more than the
  // customer may have (refused, its answer recorded; or a hold with a random id), and every
  // tenth round the sale's id again with another body (conflict, nothing written). Group
  // commit: they share COMMITs and records; a refused member undoes only its own work.
  void four_terminals() {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          const std::string id = "w" + std::to_string(t) + "-" + std::to_string(i);
          const std::string customer = "card:" + std::to_string(i % 3);
          service_->handle(json({{"type", "sale.completed"}, {"id", id}, {"at", kDay}, {"ticket", id},
                                 {"customer", customer}, {"lines", {{{"n", 1}, {"amount", "50.00"}}}},
                                 {"tenders", {{{"method", "cash"}, {"amount", "50.00"}}}}})
                               .dump());
          service_->handle(json({{"type", "points.authorize"}, {"id", id + "-h"}, {"at", kDay},
                                 {"customer", customer}, {"amount", "30.00"}})
                               .dump());
          if (i % 10 == 0) {
            service_->handle(json({{"type", "points.adjust"}, {"id", id}, {"at", kDay}, {"customer", "card:1"},
                                   {"points", 1}, {"reason", "x"}, {"operator", "ana"}})
                                 .dump());
          }
        }
      });
    }
    for (auto& th : ts) th.join();
  }

  // 30 requests on a 16 KiB log, which starts over every few of them. Returns how often.
  uint64_t day_on_a_tiny_log(int64_t rotate_bytes = 16384) {
    open(dir_ / "live", rotate_bytes);
    day(0, 30);
    const uint64_t rotations = ledger_->stats().redo_rotations;
    EXPECT_GE(rotations, 2u);
    return rotations;
  }

  // Requests from 30 on until one starts the log over again (past `rotations`): its index,
  // or -1 when none did within 30.
  int until_the_log_starts_over(uint64_t rotations) {
    for (int i = 30; i < 60; ++i) {
      answers_[i] = call(request(i));
      if (ledger_->stats().redo_rotations > rotations) return i;
    }
    return -1;
  }

  // The power cut: the snapshot in cut/ gets the log as the live ledger left it and is opened
  // (which re-runs what it lacks); it must verify clean and equal the live ledger. Returns
  // the number of records re-run.
  uint64_t recover_and_compare(int64_t rotate_bytes = 16 << 20, int64_t min_bytes = 0) {
    close();
    give_redo_log(dir_ / "cut");
    open(dir_ / "cut", rotate_bytes, min_bytes);
    const uint64_t replayed = ledger_->stats().redo_replayed;
    EXPECT_TRUE(ledger::verify(*ledger_).ok());
    close();
    expect_same(dir_ / "live" / "ledger.db", dir_ / "cut" / "ledger.db");
    return replayed;
  }

  void expect_same(const fs::path& a, const fs::path& b) {
    const auto da = dump(a), db = dump(b);
    ASSERT_EQ(da.size(), db.size());
    for (const auto& [table, rows] : da) {
      EXPECT_EQ(rows, db.at(table)) << "table " << table;
    }
  }

  fs::path dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  std::unique_ptr<app::Service> service_;
  std::map<int, json> answers_;
};

TEST_F(RedoReplayTest, APowerCutLosesNoAcknowledgedRequest) {
  open(dir_ / "live");
  day(0, 25);
  snapshot(dir_ / "cut");  // the database as the power cut leaves it: request 24 was the last
  day(25, 80);
  const auto stats = ledger_->stats();
  EXPECT_GE(stats.redo_records, 80u);
  close();
  give_redo_log(dir_ / "cut");

  open(dir_ / "cut");
  EXPECT_GE(ledger_->stats().redo_replayed, 55u);  // requests 25..79 and the quarantined ones
  EXPECT_TRUE(ledger::verify(*ledger_).ok());
  // Every acknowledged request is there: a retry gets its first answer back.
  for (int i : {25, 50, 79}) EXPECT_EQ(call(request(i)), answers_[i]) << "request " << i;
  close();
  expect_same(dir_ / "live" / "ledger.db", dir_ / "cut" / "ledger.db");

  // Opening again re-runs nothing: the database now has every record.
  open(dir_ / "cut");
  EXPECT_EQ(ledger_->stats().redo_replayed, 0u);
}

TEST_F(RedoReplayTest, ATornLastRecordIsNotRun) {
  open(dir_ / "live");
  day(0, 20);
  snapshot(dir_ / "cut");
  day(20, 30);
  snapshot(dir_ / "before-last");  // the state after request 29
  day(30, 31);
  close();
  give_redo_log(dir_ / "cut");
  // The power went while the last record was being written: only part of it is on disk.
  {
    ledger::LedgerOptions o;
    o.path = (dir_ / "before-last" / "ledger.db").string();
    o.synchronous = 1;
    o.redo_log = false;
    // The offset of the last record is where the state after request 29 says the next goes.
    auto l = ledger::SqliteLedger::open(o);
    const std::string next = l->with_db([&](sqlite3*) {
      auto q = l->query("SELECT value FROM meta WHERE key = 'redo_next'");
      q.step();
      return q.text(0);
    });
    const auto offset = std::stoll(next.substr(next.find(' ') + 1));
    fs::resize_file(dir_ / "cut" / "ledger.db-redo", static_cast<uintmax_t>(offset + 40));
  }
  open(dir_ / "cut");
  EXPECT_TRUE(ledger::verify(*ledger_).ok());
  close();
  // Request 30 was never acknowledged (its fsync did not finish): the ledger is as after 29.
  expect_same(dir_ / "before-last" / "ledger.db", dir_ / "cut" / "ledger.db");
}

TEST_F(RedoReplayTest, ALogThatStartedOverIsFollowedFromItsBeginning) {
  // A tiny log: it starts over every few requests, each time after an fsync of the WAL. A
  // held group stays open between requests (no idle COMMIT), so the log starts over both
  // ways: alone in a new group (fsync, record at 0), and with earlier members only in
  // records (the group COMMITs with an fsync instead, and the next record goes to 0).
  hold_idle_us_ = 10'000'000;
  const uint64_t rotations = day_on_a_tiny_log();
  // Cut right after a request that started the log over (or made it start at the next
  // record): its fsync of the WAL is the last one before the cut, so a power cut can leave
  // no older database than this copy. The copy's meta.redo_next names the end of the old
  // log, and the next record is at offset 0.
  const int cut_at = until_the_log_starts_over(rotations);
  ASSERT_GE(cut_at, 0) << "no rotation within 30 requests";
  snapshot(dir_ / "cut");
  // Two more (a record is 1-3 KiB): the log does not start over again.
  const uint64_t now = ledger_->stats().redo_rotations;
  for (int i = cut_at + 1; i < cut_at + 3; ++i) answers_[i] = call(request(i));
  ASSERT_EQ(ledger_->stats().redo_rotations, now);
  // The two, and the request that started the log over when it was alone in its group.
  const uint64_t replayed = recover_and_compare(16384);
  EXPECT_GE(replayed, 2u);
  EXPECT_LE(replayed, 3u);
}

TEST_F(RedoReplayTest, ALogThatStartedOverIsFollowedFromItsBeginningWithoutHeldGroups) {
  hold_commit_ms_ = 0;  // a COMMIT per request: the copy from just before the one that starts over
  const uint64_t rotations = day_on_a_tiny_log();
  int cut_at = -1;
  for (int i = 30; i < 60 && cut_at < 0; ++i) {
    snapshot(dir_ / "cut");
    answers_[i] = call(request(i));
    if (ledger_->stats().redo_rotations > rotations) cut_at = i;
  }
  ASSERT_GE(cut_at, 0) << "no rotation within 30 requests";
  for (int i = cut_at + 1; i < cut_at + 3; ++i) answers_[i] = call(request(i));
  EXPECT_EQ(recover_and_compare(16384), 3u);
}

TEST_F(RedoReplayTest, ConcurrentWritersSharingCommitsReplayExactly) {
  open(dir_ / "live");
  day(0, 5);
  snapshot(dir_ / "cut");
  four_terminals();
  EXPECT_GT(recover_and_compare(), 0u);
}

TEST_F(RedoReplayTest, TwoConnectionsWriteOneLog) {
  // loyaltyctl (its own process and connection) writes while the POS plugin runs: both
  // append to the same log, each where the database says the next record goes.
  open(dir_ / "live");
  day(0, 5);
  snapshot(dir_ / "cut");
  auto settings = config::parse_settings(kRedoConfig, (dir_ / "live" / "loyalty.toml").string());
  ASSERT_TRUE(settings.ok());
  ledger::LedgerOptions o;
  o.path = settings->db_path;
  o.branch = "B01";
  o.redo_min_bytes = 0;
  auto other_ledger = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
  app::Service other(other_ledger, std::make_shared<const config::Settings>(std::move(*settings)), clock_);
  for (int i = 5; i < 40; ++i) {
    app::Service& s = i % 3 == 0 ? other : *service_;
    answers_[i] = json::parse(s.handle(request(i).dump()).json);
  }
  EXPECT_GT(other_ledger->stats().redo_records, 5u);
  other_ledger.reset();
  EXPECT_GE(recover_and_compare(), 35u);
}

TEST_F(RedoReplayTest, RequestsCommitWithFullAndLargeBulkWritesTakeTheLog) {
  // The default split: a POS request commits with SQLite's FULL (no record, however large:
  // its statements are not even recorded); a bulk write (here the expiry sweep) whose
  // statements reach redo_min_bytes writes a record and commits with NORMAL.
  constexpr int64_t kMin = 4 << 10;
  hold_commit_ms_ = 0;  // no held groups: a COMMIT per request
  open(dir_ / "live", 16 << 20, kMin);
  day(0, 20);
  json lines = json::array(), tenders = json::array({{{"method", "cash"}, {"amount", "1500.00"}}});
  for (int n = 1; n <= 150; ++n) {
    lines.push_back({{"n", n}, {"sku", "SKU-" + std::to_string(n)}, {"qty", "1"}, {"amount", "10.00"}});
  }
  for (int i = 0; i < 40; ++i) {  // a 150-line sale, and 40 customers with a lot each
    const std::string id = "big" + std::to_string(i);
    call({{"type", "sale.completed"}, {"id", id}, {"at", kDay}, {"ticket", id},
          {"customer", "card:big" + std::to_string(i)}, {"lines", i == 0 ? lines : json::array({lines[0]})},
          {"tenders", tenders}});
  }
  EXPECT_EQ(ledger_->stats().redo_records, 0u);
  // Each request that wrote was made durable by an fsync of the WAL; one that wrote nothing
  // (the same id again: the first answer comes back) is not synced again.
  // One thread, so one commit per write transaction: every one of them wrote, and synced.
  const auto before = ledger_->stats();
  EXPECT_GE(before.wal_syncs, 60u);  // 20 of the day (a malformed one's quarantine too), 40 sales
  EXPECT_EQ(before.wal_syncs, before.commits);
  call({{"type", "sale.completed"}, {"id", "big1"}, {"at", kDay}, {"ticket", "big1"}, {"customer", "card:big1"},
        {"lines", json::array({lines[0]})}, {"tenders", tenders}});
  EXPECT_EQ(ledger_->stats().commits, before.commits);  // the retry's transaction rolled back
  EXPECT_EQ(ledger_->stats().wal_syncs, before.wal_syncs);
  // A transaction that commits without changing a row (a sweep with nothing due) syncs nothing.
  EXPECT_EQ(app::expire_due_lots(*ledger_, *service_->settings(), *clock_, 1000), 0);
  EXPECT_EQ(ledger_->stats().commits, before.commits + 1);
  EXPECT_EQ(ledger_->stats().wal_syncs, before.wal_syncs);
  snapshot(dir_ / "cut");  // every commit so far was fsync'd by SQLite: a power cut keeps it
  ManualClock later;
  later.now = clock_->now + 40LL * 24 * 3600 * 1000;  // kDay + expiry_days = 30 has passed
  EXPECT_GE(app::expire_due_lots(*ledger_, *service_->settings(), later, 1000), 40);
  EXPECT_EQ(ledger_->stats().redo_records, 1u);
  EXPECT_EQ(recover_and_compare(16 << 20, kMin), 1u);
}

TEST_F(RedoReplayTest, AnotherDatabasesLogIsIgnored) {
  open(dir_ / "live");
  day(0, 10);
  close();
  // A new ledger at the same path (the old file deleted, its redo log left behind).
  fs::remove(dir_ / "live" / "ledger.db");
  fs::remove(dir_ / "live" / "ledger.db-wal");
  fs::remove(dir_ / "live" / "ledger.db-shm");
  open(dir_ / "live");
  close();
  open(dir_ / "live");
  EXPECT_EQ(ledger_->stats().redo_replayed, 0u);
  EXPECT_EQ(ledger_->with_db([&](sqlite3*) {
              auto q = ledger_->query("SELECT count(*) FROM entries");
              q.step();
              return q.i64(0);
            }),
            0);
}

TEST_F(RedoReplayTest, ALedgerOpenedWithoutRedoModeStillReRunsWhatItLacks) {
  open(dir_ / "live");
  day(0, 10);
  snapshot(dir_ / "cut");
  day(10, 20);
  close();
  give_redo_log(dir_ / "cut");
  ledger::LedgerOptions o;
  o.path = (dir_ / "cut" / "ledger.db").string();
  o.synchronous = 1;  // the admin switched to "normal" after the power cut
  o.hold_commit_ms = 0;  // and off held groups (which keep the log with "normal" too)
  auto l = ledger::SqliteLedger::open(o);
  EXPECT_FALSE(l->redo_mode());
  EXPECT_GE(l->stats().redo_replayed, 10u);
  EXPECT_TRUE(ledger::verify(*l).ok());
  l.reset();
  expect_same(dir_ / "live" / "ledger.db", dir_ / "cut" / "ledger.db");
}

// ---- request records (LedgerOptions::request_log: held groups, "full" and "normal") ----
// A request's record is the request itself, with its clock and random seed; after a power
// cut (or a kill -9, with "normal", whose records are not synced) the ledger runs it again
// through the service. The same comparisons as above, row by row: a re-run must write
// exactly what the first run wrote (rowids, hold ids, times).
class RequestRecordReplayTest : public RedoReplayTest, public ::testing::WithParamInterface<int> {
 protected:
  RequestRecordReplayTest() {
    synchronous_ = GetParam();
    request_log_ = true;
    tick_ms_ = 61'000;  // a minute a request: holds lapse, times differ
  }
  // The clock of the open after the power cut: days later.
  void later() { clock_->now += 5LL * 24 * 3600 * 1000; }
  // Requests [0, cut) committed as the snapshot in cut/ has them, [cut, end) only in the
  // live ledger's log, which cut/ then gets: the files a power cut after `end` leaves.
  void power_cut_after(int cut, int end) {
    open(dir_ / "live");
    day(0, cut);
    snapshot(dir_ / "cut");
    day(cut, end);
    close();
    give_redo_log(dir_ / "cut");
  }
  // Opens cut/ days later (which re-runs what it lacks): it must verify clean.
  void reopen_cut_later() {
    later();
    open(dir_ / "cut");
    EXPECT_TRUE(ledger::verify(*ledger_).ok());
  }
  static inline std::atomic<int> refused_commits_{0};  // COMMITs the hook below still refuses
  void refuse_commits() {
    ledger_->with_db([](sqlite3* db) {
      sqlite3_commit_hook(db, [](void*) -> int { return refused_commits_ > 0 ? (--refused_commits_, 1) : 0; },
                          nullptr);
    });
  }
};

INSTANTIATE_TEST_SUITE_P(Sync, RequestRecordReplayTest, ::testing::Values(2, 1),
                         [](const ::testing::TestParamInfo<int>& p) { return p.param == 2 ? "full" : "normal"; });

TEST_P(RequestRecordReplayTest, APowerCutLosesNoAcknowledgedRequest) {
  open(dir_ / "live");
  day(0, 25);
  snapshot(dir_ / "cut");
  day(25, 80);
  const auto stats = ledger_->stats();
  EXPECT_GE(stats.request_records, 88u);  // every request but the queries, the malformed ones too
  close();
  give_redo_log(dir_ / "cut");

  reopen_cut_later();
  EXPECT_GE(ledger_->stats().requests_replayed, 61u);  // requests 25..79 and the 6 malformed ones
  EXPECT_EQ(ledger_->stats().redo_replayed, ledger_->stats().requests_replayed);
  close();
  expect_same(dir_ / "live" / "ledger.db", dir_ / "cut" / "ledger.db");

  open(dir_ / "cut");
  EXPECT_EQ(ledger_->stats().redo_replayed, 0u);
  // Every acknowledged request is there: a retry gets its first answer back.
  for (int i : {25, 50, 79}) EXPECT_EQ(call(request(i)), answers_[i]) << "request " << i;
}

TEST_P(RequestRecordReplayTest, ConcurrentWritersAreRunAgainInTheirOrder) {
  open(dir_ / "live");
  day(0, 5);
  snapshot(dir_ / "cut");
  four_terminals();
  EXPECT_GE(ledger_->stats().request_records, 320u);
  later();
  EXPECT_GE(recover_and_compare(), 320u);
}

TEST_P(RequestRecordReplayTest, ALogThatStartedOverIsFollowedFromItsBeginning) {
  hold_idle_us_ = 10'000'000;  // the group stays open between requests
  constexpr int64_t kTiny = 2048;  // a request record is a few hundred bytes
  const uint64_t rotations = day_on_a_tiny_log(kTiny);
  const int cut_at = until_the_log_starts_over(rotations);
  ASSERT_GE(cut_at, 0) << "no rotation within 30 requests";
  snapshot(dir_ / "cut");
  for (int i = cut_at + 1; i < cut_at + 3; ++i) answers_[i] = call(request(i));
  later();
  const uint64_t replayed = recover_and_compare(kTiny);
  EXPECT_GE(replayed, 2u);
  EXPECT_LE(replayed, 3u);
}

TEST_P(RequestRecordReplayTest, ATornLastRecordIsNotRun) {
  open(dir_ / "live");
  day(0, 20);
  snapshot(dir_ / "cut");
  day(20, 30);
  ledger_->flush();
  snapshot(dir_ / "before-last");  // the state after request 29
  const std::string next = ledger_->with_db([&](sqlite3*) {
    auto q = ledger_->query("SELECT value FROM meta WHERE key = 'redo_next'");
    q.step();
    return q.text(0);
  });
  day(30, 31);
  close();
  give_redo_log(dir_ / "cut");
  // The power went while request 30's record was being written: only part of it is on disk.
  const auto offset = std::stoll(next.substr(next.find(' ') + 1));
  fs::resize_file(dir_ / "cut" / "ledger.db-redo", static_cast<uintmax_t>(offset + 40));
  reopen_cut_later();
  EXPECT_GE(ledger_->stats().requests_replayed, 9u);
  close();
  expect_same(dir_ / "before-last" / "ledger.db", dir_ / "cut" / "ledger.db");
}

TEST_P(RequestRecordReplayTest, ARecordThatCannotRunAgainIsSkipped) {
  // A record whose request fails as it runs (here: bytes that are no request) failed when
  // it first ran too, and was never acknowledged: the re-run skips it, and goes on.
  open(dir_ / "live");
  day(0, 10);
  snapshot(dir_ / "cut");
  {
    auto tx = ledger_->begin_write();
    ASSERT_TRUE(tx->log_request("\x01 not a record"));
    tx->commit();
  }
  day(10, 20);
  close();
  give_redo_log(dir_ / "cut");
  reopen_cut_later();
  EXPECT_EQ(ledger_->stats().requests_skipped, 1u);
  const auto skipped = ledger_->take_skipped_requests();
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("truncated"), std::string::npos) << skipped[0];
  EXPECT_GE(ledger_->stats().requests_replayed, 10u);
  close();
  expect_same(dir_ / "live" / "ledger.db", dir_ / "cut" / "ledger.db");
}

// The held group's COMMIT is refused (a commit hook stands in for a full disk): the group is
// rebuilt by re-running its members' requests, and since every member's rows were in its
// request, the COMMIT's caller has nothing lost to report.
TEST_P(RequestRecordReplayTest, AGroupWhoseCommitFailsIsRebuiltFromItsRequests) {
  hold_commit_ms_ = 60'000;
  hold_idle_us_ = 600'000'000;  // nothing COMMITs the group but the flush below
  open(dir_ / "live");
  refuse_commits();
  day(0, 6);
  EXPECT_EQ(ledger_->stats().commits, 0u);
  refused_commits_ = 1;
  EXPECT_NO_THROW(ledger_->flush()) << "the requests kept every member: nothing is lost to report";
  EXPECT_EQ(refused_commits_, 0) << "the hook refused no COMMIT";
  EXPECT_EQ(ledger_->stats().held_recoveries, 1u);
  EXPECT_GE(ledger_->stats().requests_replayed, 6u);
  EXPECT_TRUE(ledger::verify(*ledger_).ok());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(call(request(i)), answers_[i]) << "request " << i;
  day(6, 10);
  ledger_->flush();
  EXPECT_TRUE(ledger::verify(*ledger_).ok());
}

TEST_P(RequestRecordReplayTest, UntilTheExecutorRunsThemTheLedgerTakesNoWrites) {
  power_cut_after(10, 20);
  // A host that does not re-run requests (no executor): reads of the last COMMIT, no writes.
  ledger::LedgerOptions o;
  o.path = (dir_ / "cut" / "ledger.db").string();
  o.request_log = true;
  {
    auto l = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    EXPECT_NO_THROW(l->begin_read()->commit());
    try {
      l->begin_write();
      ADD_FAILURE() << "a write was taken before the log's requests ran again";
    } catch (const app::StoreFailure& f) {
      EXPECT_EQ(f.code(), domain::ErrorCode::kUnavailable);
      EXPECT_NE(std::string(f.what()).find("holds requests acknowledged before a crash"), std::string::npos) << f.what();
    }
  }
  // A reader (loyaltyctl report) is told why it sees less.
  {
    ledger::LedgerOptions r = o;
    r.read_only = true;
    auto l = ledger::SqliteLedger::open(r);
    EXPECT_NE(l->unapplied_log().find("they are requests"), std::string::npos) << l->unapplied_log();
  }
  later();
  EXPECT_GE(recover_and_compare(), 10u);
}

}  // namespace
}  // namespace loyalty
