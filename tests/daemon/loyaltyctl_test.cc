// The loyaltyctl binary as an admin runs it (child processes on real ledger files): the
// examples of its --help, a retry of `adjust --id`, history's days as report counts them,
// date ranges, a ledger that is missing or damaged.
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "app/service.h"
#include "bootstrap/runtime.h"
#include "config/load.h"
#include "ledger/sqlite_ledger.h"
#include "daemon_test_support.h"

namespace loyalty::daemon::test {
namespace {

class LoyaltyctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyaltyctl-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::ofstream(dir_ + "/loyalty.toml") << "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\n";
    ctl_ = std::string(LOYALTYCTL_BINARY) + " --config " + dir_ + "/loyalty.toml ";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Requests through the plugin's own runtime (business times loyaltyctl cannot choose).
  void send(const std::vector<json>& requests) {
    auto rt = bootstrap::Runtime::open(dir_ + "/loyalty.toml", {});
    ASSERT_TRUE(rt.ok()) << rt.error().message;
    for (const auto& r : requests) {
      const auto out = (*rt)->service().handle(r.dump());
      ASSERT_EQ(out.code, 0) << out.json;
    }
  }
  static json sale(const std::string& id, const std::string& at) {
    return {{"type", "sale.completed"}, {"id", id},       {"at", at},
            {"ticket", id},             {"customer", "card:9"}, {"lines", {{{"amount", "10.00"}}}}};
  }

  // What kill -9 leaves of a POS whose held group (never COMMITted) holds `ids`: its files,
  // copied into dir_ (the ledger loyaltyctl opens). With request records, as the plugin
  // writes them (either setting), or records of the statements (loyaltyd).
  void crash_with_held_sales(int synchronous, const std::vector<std::string>& ids, bool request_records = true) {
    const std::string live = dir_ + "/live";
    fs::create_directories(live);
    auto settings = config::load_settings(dir_ + "/loyalty.toml");
    ASSERT_TRUE(settings.ok()) << settings.error().message;
    ledger::LedgerOptions o;
    o.path = live + "/ledger.db";
    o.branch = "B01";
    o.synchronous = synchronous;
    o.request_log = request_records;
    o.hold_commit_ms = 60'000;  // nothing COMMITs the group before the "crash"
    o.hold_idle_us = 600'000'000;
    o.hold_max_members = 1000;
    std::shared_ptr<ledger::SqliteLedger> store(ledger::SqliteLedger::open(o).release());
    app::Service service(store, std::make_shared<const config::Settings>(std::move(*settings)),
                         std::make_shared<app::SystemClock>());
    for (const auto& id : ids) ASSERT_EQ(service.handle(sale(id, "2026-11-22T10:00:00-06:00").dump()).code, 0);
    ASSERT_EQ(store->stats().commits, 0u);
    ASSERT_EQ(store->stats().request_records, request_records ? ids.size() : 0u);
    for (const char* f : {"ledger.db", "ledger.db-wal", "ledger.db-redo"}) {
      if (fs::exists(live + "/" + f)) fs::copy_file(live + "/" + f, dir_ + "/" + f);
    }
  }

  std::string dir_;
  std::string ctl_;
};

// A whole program document must be a program: a file holding only [receipt] put every
// program key back to its default (earn_percent 8 -> 5) with no question asked off a terminal.
TEST_F(LoyaltyctlTest, ProgramSetFileRefusesADocumentWithoutAProgram) {
  std::ofstream(dir_ + "/receipt-only.toml") << "[receipt]\nwidth = 30\n";
  EXPECT_EQ(exit_code(ctl_ + "program set --file " + dir_ + "/receipt-only.toml --yes"), 2);
  std::ofstream(dir_ + "/whole.toml") << "[program]\nearn_percent = \"8\"\n[receipt]\nwidth = 30\n";
  EXPECT_EQ(exit_code(ctl_ + "program set --file " + dir_ + "/whole.toml --yes"), 0);
  const std::string shown = output_of(ctl_ + "program show");
  EXPECT_NE(shown.find("earn_percent = '8'"), std::string::npos) << shown;
}

// The example of `adjust --help` and docs/operations.md works as written: a negative amount
// right after the customer (it said "card -- -50 --reason ...", and after "--" the options
// were taken for arguments: "--reason is required"). -c also works after the subcommand.
TEST_F(LoyaltyctlTest, AdjustWorksAsItsHelpShows) {
  const std::string help = output_of(ctl_ + "adjust --help");
  const std::string example = "loyaltyctl adjust card:4000123 -50 --reason \"damaged card\" --operator ana";
  ASSERT_NE(help.find("Example: " + example), std::string::npos) << help;
  EXPECT_EQ(exit_code(ctl_ + "customers enroll card:4000123"), 0);
  EXPECT_EQ(exit_code(ctl_ + "adjust card:4000123 100 --reason goodwill --operator ana"), 0);
  EXPECT_EQ(exit_code(ctl_ + example.substr(std::string("loyaltyctl ").size())), 0);
  const std::string balance =
      output_of(std::string(LOYALTYCTL_BINARY) + " balance card:4000123 --json -c " + dir_ + "/loyalty.toml");
  EXPECT_NE(balance.find("\"balance\": 50"), std::string::npos) << balance;
}

// "--id makes a retry safe": the second run is the same request (the first one's business
// time), answered again; it was a conflict, because each run stamped a new `at`.
TEST_F(LoyaltyctlTest, AdjustWithTheSameIdAgainIsARetry) {
  EXPECT_EQ(exit_code(ctl_ + "customers enroll card:1"), 0);
  const std::string adjust = ctl_ + "adjust card:1 100 --reason goodwill --operator ana --id RETRY-1";
  const std::string first = output_of(adjust);
  EXPECT_NE(first.find("RETRY-1"), std::string::npos) << first;  // the id is shown
  EXPECT_EQ(exit_code(adjust), 0);
  EXPECT_NE(output_of(ctl_ + "balance card:1 --json").find("\"balance\": 100"), std::string::npos);
  // Another adjustment under the same id is still refused (rule 11).
  EXPECT_EQ(exit_code(ctl_ + "adjust card:1 5 --reason goodwill --operator ana --id RETRY-1"), 1);
}

// A day is a business day in the entry's own offset, in history as in report: 23:30 on the
// 21st in Mexico City is the 21st (05:30Z on the 22nd), and 19:00 on the 22nd is the 22nd
// (01:00Z on the 23rd).
TEST_F(LoyaltyctlTest, HistoryDaysAreBusinessDaysAsTheReportCountsThem) {
  send({sale("late-21", "2026-11-21T23:30:00-06:00"), sale("evening-22", "2026-11-22T19:00:00-06:00")});
  const std::string day = output_of(ctl_ + "history card:9 --from 2026-11-22 --to 2026-11-22 --csv");
  EXPECT_NE(day.find("2026-11-22T19:00:00-06:00"), std::string::npos) << day;
  EXPECT_EQ(day.find("2026-11-21T23:30:00-06:00"), std::string::npos) << day;
  const std::string report = output_of(ctl_ + "report --from 2026-11-22 --to 2026-11-22 --csv");
  EXPECT_NE(report.find("2026-11-22,B01,5,"), std::string::npos) << report;  // the 19:00 sale alone
  const std::string times = output_of(ctl_ + "history card:9 --from 2026-11-22T00:00:00Z --csv");
  EXPECT_NE(times.find("2026-11-21T23:30:00-06:00"), std::string::npos) << times;  // a time is a time
  // An empty report for a branch this ledger never saw says so (exit 0: sync may bring it).
  const std::string typo = output_of(ctl_ + "report --from 2026-11-22 --to 2026-11-22 --branch b01");
  EXPECT_NE(typo.find("this ledger has no entries of branch 'b01' (it has: B01)"), std::string::npos) << typo;
  EXPECT_EQ(exit_code(ctl_ + "report --from 2026-11-22 --to 2026-11-22 --branch b01"), 0);
}

// --to before --from is a bad command line in both commands (history said invalid_event and
// exit 1, report printed an empty table and exit 0).
TEST_F(LoyaltyctlTest, ARangeThatEndsBeforeItStartsIsABadCommandLine) {
  EXPECT_EQ(exit_code(ctl_ + "customers enroll card:1"), 0);
  for (const char* cmd : {"history card:1", "report"}) {
    const std::string out = output_of(ctl_ + cmd + " --from 2026-11-30 --to 2026-11-01");
    EXPECT_NE(out.find("--to: 2026-11-01 is before --from 2026-11-30"), std::string::npos) << cmd << ": " << out;
    EXPECT_EQ(exit_code(ctl_ + cmd + " --from 2026-11-30 --to 2026-11-01"), 2) << cmd;
  }
}

// Reading a ledger never creates one: a typo in plugin.db used to leave an empty ledger
// behind that `verify` then called clean.
TEST_F(LoyaltyctlTest, ReadingAMissingLedgerSaysSoAndCreatesNothing) {
  for (const char* cmd : {"balance card:1", "history card:1", "verify", "report --from 2026-11-01 --to 2026-11-30"}) {
    const std::string out = output_of(ctl_ + cmd);
    EXPECT_NE(out.find(dir_ + "/ledger.db does not exist"), std::string::npos) << cmd << ": " << out;
    EXPECT_EQ(exit_code(ctl_ + cmd), 2) << cmd;
    EXPECT_FALSE(fs::exists(dir_ + "/ledger.db")) << cmd;
  }
}

// verify reads without writing, so it cannot migrate an older ledger: it says so (it said
// "the ledger cannot be read to the end ... restore it from a backup" over a missing
// table). Once a command that writes has opened it, verify checks it.
TEST_F(LoyaltyctlTest, VerifyOfALedgerOfAnOlderSchemaSaysHowToMigrateIt) {
  std::ifstream in(std::string(LOYALTY_SOURCE_DIR) + "/tests/installer/data/ledger-v1.sql");
  const std::string sql((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(sql.empty());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  const std::string out = output_of(ctl_ + "verify");
  EXPECT_NE(out.find("is at ledger schema version 1"), std::string::npos) << out;
  EXPECT_EQ(exit_code(ctl_ + "verify"), 2);
  EXPECT_EQ(exit_code(ctl_ + "adjust card:1003 5 --reason goodwill --operator ana"), 0);  // migrates
  EXPECT_EQ(exit_code(ctl_ + "verify"), 0) << output_of(ctl_ + "verify");
}

// The POS died (kill -9) with sales only in its redo log (held groups, synchronous =
// "normal"), and loyaltyctl cannot re-run them: it says so on stderr and shows the ledger as
// of the last COMMIT. (A trigger that refuses the re-run stands in for files it may not write.)
TEST_F(LoyaltyctlTest, AReaderWarnsOfAcknowledgedSalesLeftInTheRedoLog) {
  crash_with_held_sales(1, {"S1"}, /*request_records=*/false);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'refused'); END",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const std::string out = output_of(ctl_ + "verify");
  EXPECT_NE(out.find("loyaltyctl: warning: the redo log " + dir_ + "/ledger.db-redo holds acknowledged writes"),
            std::string::npos) << out;
  EXPECT_EQ(exit_code(ctl_ + "verify"), 0) << "what it shows is consistent";
}

// The POS's sales are durable as request records (with "full" and "normal"), which a
// read-only open cannot run again itself: a reading command after a crash opens the ledger
// for writing once (its user may), which re-runs them through the service, and then shows
// every acknowledged sale.
TEST_F(LoyaltyctlTest, AReaderAfterACrashShowsSalesLeftAsRequestRecords) {
  for (const int synchronous : {2, 1}) {
    SCOPED_TRACE(synchronous);
    for (const char* f : {"ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db-redo"}) fs::remove(dir_ + "/" + f);
    fs::remove_all(dir_ + "/live");
    crash_with_held_sales(synchronous, {"S1", "S2", "S3"});
    const std::string out = output_of(ctl_ + "verify 2>&1");
    EXPECT_EQ(out.find("warning"), std::string::npos) << out;
    EXPECT_EQ(exit_code(ctl_ + "verify"), 0) << out;
    const std::string history = output_of(ctl_ + "history card:9 --json");
    for (const char* id : {"S1", "S2", "S3"}) EXPECT_NE(history.find(id), std::string::npos) << history;
  }
}

// A damaged page is a finding of verify (exit 1), not std::terminate (exit 134).
TEST_F(LoyaltyctlTest, VerifyOfADamagedLedgerReportsItAndExitsOne) {
  std::vector<json> sales;
  for (int i = 0; i < 200; ++i) sales.push_back(sale("S" + std::to_string(i), "2026-11-22T10:00:00-06:00"));
  send(sales);
  ASSERT_EQ(exit_code(ctl_ + "verify"), 0);
  int64_t page = 0, page_size = 0;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT max(pageno) FROM dbstat WHERE name = 'entries' AND pagetype = 'leaf'", -1, &st,
                       nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) page = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) page_size = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  ASSERT_GT(page, 1);
  {
    std::fstream f(dir_ + "/ledger.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp((page - 1) * page_size + 8);  // past the page header's type byte
    const std::string junk(static_cast<size_t>(page_size) - 8, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const std::string out = output_of(ctl_ + "verify");
  EXPECT_NE(out.find("PROBLEMS FOUND"), std::string::npos) << out;
  EXPECT_EQ(out.find("terminate"), std::string::npos) << out;
  EXPECT_EQ(exit_code(ctl_ + "verify"), 1) << out;
  EXPECT_EQ(exit_code(ctl_ + "verify --json"), 1);
}

}  // namespace
}  // namespace loyalty::daemon::test
