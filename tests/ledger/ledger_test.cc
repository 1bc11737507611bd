// The SQLite ledger on real files in a temporary directory: schema and migrations, the
// LedgerTx port, append-only entries, lots, holds, quarantine, verify and the report.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "ledger/admin.h"
#include "ledger/migrations.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {
namespace {

namespace fs = std::filesystem;
using app::StoreFailure;
using domain::BusinessTime;
using domain::ErrorCode;
using domain::Points;

const std::string kHash(64, 'a');

BusinessTime at(const char* rfc3339) { return *domain::parse_rfc3339(rfc3339); }

// Expects `f` to throw StoreFailure with `code` and a message containing `text`.
template <class F>
void expect_failure(F f, ErrorCode code, const std::string& text = "") {
  try {
    f();
    ADD_FAILURE() << "no StoreFailure";
  } catch (const StoreFailure& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

// The message of SqliteLedger::open(o) as an unprivileged user sees it: in a child process
// that drops to `nobody` when the tests run as root (for whom every directory is writable).
std::string open_failure_as_unprivileged_user(const LedgerOptions& o) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
      out = "could not drop to nobody";
    } else {
      try {
        SqliteLedger::open(o);
        out = "opened";
      } catch (const StoreFailure& e) {
        out = std::to_string(static_cast<int>(e.code())) + " " + e.what();
      }
    }
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-ledger-test-XXXXXX";
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

  app::EntryRow entry(const std::string& id, const std::string& account, const std::string& kind,
                      int64_t points, BusinessTime when) {
    app::EntryRow e;
    e.entry_id = id;
    e.origin_branch = "B01";
    e.account_id = account;
    e.kind = kind;
    e.points = Points(points);
    e.request_id = id;
    e.branch = "B01";
    e.ticket = "T-" + id;
    e.business_at = when;
    e.recorded_at_ms = 1234;
    e.program_version = "prog-1";
    e.body_hash = kHash;
    return e;
  }

  // Appends a credit entry with the lot it creates.
  static void credit(app::LedgerTx& tx, app::EntryRow& e) {
    e.expires_at = e.business_at.plus_days(365);
    tx.append_entry(e, {}, domain::Lot{e.entry_id, e.account_id, e.business_at, *e.expires_at, e.points, e.points});
  }

  // An earning of `points` (lot included) for a new or existing account, committed with its
  // request. Returns the account id.
  std::string earn(const std::string& ref, int64_t points, const std::string& id,
                   BusinessTime when = at("2026-11-22T10:15:00-06:00")) {
    auto tx = l_->begin_write();
    auto a = tx->find_account_by_ref(ref);
    if (!a) a = tx->create_account("B01", ref, "", when);
    app::EntryRow e = entry(id, a->account_id, "earn", points, when);
    e.expires_at = when.plus_days(365);
    domain::Lot lot{e.entry_id, a->account_id, when, *e.expires_at, Points(points), Points(points)};
    tx->append_entry(e, {}, lot);
    tx->put_request("B01", id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
    return a->account_id;
  }

  using Takes = std::vector<std::pair<std::string, int64_t>>;  // lot id, points

  // `takes` as allocations, each with the place `tx` has for that open lot of `account` (an
  // empty place for a lot it has not: the store then finds no such lot).
  static std::vector<domain::Allocation> allocations(app::LedgerTx& tx, const std::string& account,
                                                     const Takes& takes) {
    const std::vector<domain::Lot> lots = tx.open_lots(account);
    std::vector<domain::Allocation> out;
    for (const auto& take : takes) {  // not a structured binding: clang 14 cannot capture one
      const auto it = std::find_if(lots.begin(), lots.end(), [&](const domain::Lot& l) { return l.lot_id == take.first; });
      out.push_back(it != lots.end() ? domain::take_from(*it, Points(take.second))
                                     : domain::Allocation{take.first, Points(take.second), {}});
    }
    return out;
  }

  // A debit taking `takes` from the account's lots, committed with its request.
  void debit(const std::string& account, const std::string& kind, int64_t points, const std::string& id,
             const Takes& takes, BusinessTime when = at("2026-11-22T10:15:00-06:00")) {
    auto tx = l_->begin_write();
    app::EntryRow e = entry(id, account, kind, -points, when);
    tx->append_entry(e, allocations(*tx, account, takes), std::nullopt);
    tx->put_request("B01", id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
  }

  // An active hold of `points` (worth points / 10 in money) on ticket T of B01, for 15
  // minutes from `when`, request a1.
  static app::Hold active_hold(const std::string& account, const std::string& id, int64_t points,
                               BusinessTime when) {
    app::Hold h;
    h.hold_id = id;
    h.account_id = account;
    h.branch = "B01";
    h.request_id = "a1";
    h.ticket = "T";
    h.points = Points(points);
    h.amount = domain::Money::from_units(points / 10);
    h.status = "active";
    h.created_at = when;
    h.business_deadline = when.plus_minutes(15);
    h.wall_deadline_ms = 99;
    return h;
  }

  // Runs SQL on a separate connection; returns the error message ("" when it worked).
  std::string raw_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(opts_.path.c_str(), &db);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string out = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    return out;
  }

  int64_t scalar(const std::string& sql) {
    return l_->with_db([&](sqlite3*) {
      auto q = l_->query(sql);
      q.step();
      return q.i64(0);
    });
  }
  std::string text(const std::string& sql) {
    return l_->with_db([&](sqlite3*) {
      auto q = l_->query(sql);
      return q.step() ? q.text(0) : std::string("<none>");
    });
  }

  std::string dir_;
  // Reopens the ledger with `busy_timeout_ms` and returns another connection (another
  // process, as far as the ledger can tell) holding the write lock; nullptr on failure.
  sqlite3* reopen_locked_elsewhere(int64_t busy_timeout_ms) {
    l_.reset();
    opts_.busy_timeout_ms = busy_timeout_ms;
    l_ = SqliteLedger::open(opts_);
    sqlite3* other = nullptr;
    if (sqlite3_open(opts_.path.c_str(), &other) != SQLITE_OK ||
        sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_close(other);
      return nullptr;
    }
    return other;
  }
  static void release(sqlite3* other) {
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
  }

  LedgerOptions opts_;
  std::unique_ptr<SqliteLedger> l_;
};

// ---- open, migrations -----------------------------------------------------------------

TEST_F(LedgerTest, CreateOpenReopenKeepsData) {
  const std::string account = earn("card:1", 45, "r1");
  // Deterministic from the first reference (docs/sync.md, "Branch").
  EXPECT_EQ(account, ledger::account_id_for_ref("card:1"));
  ASSERT_EQ(account.size(), 2u + 24u);
  EXPECT_EQ(account.substr(2).find_first_not_of("0123456789abcdef"), std::string::npos);
  const std::string epoch = l_->node_epoch();
  EXPECT_EQ(epoch.size(), 32u);
  EXPECT_EQ(l_->branch_id(), "B01");
  l_.reset();
  l_ = SqliteLedger::open(opts_);
  EXPECT_EQ(l_->node_epoch(), epoch);
  auto tx = l_->begin_read();
  auto a = tx->find_account_by_ref("card:1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->account_id, account);
  EXPECT_EQ(a->balance, Points(45));
  EXPECT_EQ(a->created_at.unix_ms, at("2026-11-22T10:15:00-06:00").unix_ms);
  EXPECT_EQ(a->created_at.offset_minutes, -360);
  tx->commit();
  EXPECT_EQ(text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(scalar("PRAGMA synchronous"), 1);
}

TEST_F(LedgerTest, AccountIdsAreUnique) {
  auto tx = l_->begin_write();
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    ids.insert(tx->create_account("B01", "card:" + std::to_string(i), "", BusinessTime{}).account_id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(LedgerTest, MigrationsRunOnceAndVersionIsRecorded) {
  const auto& steps = migrations();
  ASSERT_FALSE(steps.empty());
  // Step numbers are assigned per work area (2: admin, 3-4: sync); they only have to increase.
  for (size_t i = 1; i < steps.size(); ++i) EXPECT_LT(steps[i - 1].version, steps[i].version);
  EXPECT_EQ(steps.front().version, 1);
  EXPECT_EQ(steps.back().version, kSchemaVersion);
  EXPECT_EQ(l_->schema_version(), kSchemaVersion);
  EXPECT_EQ(text("SELECT value FROM meta WHERE key = 'schema_version'"), std::to_string(kSchemaVersion));
  const std::string created = text("SELECT value FROM meta WHERE key = 'created_at_ms'");
  const int64_t tables = scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
  EXPECT_EQ(tables, 18);  // 12 + program_versions, admin_audit (2) + unmatched_refunds,
                          // alias_conflicts, offline_redemptions (3) + recovered_entries (4)
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE '%STRICT%'"), 0);
  l_.reset();
  EXPECT_EQ(raw_sql("INSERT INTO sync_state(peer) VALUES ('hub')"), "");
  opts_.branch = "B99";  // the branch is recorded once, at creation
  l_ = SqliteLedger::open(opts_);
  EXPECT_EQ(l_->branch_id(), "B01");
  EXPECT_EQ(text("SELECT value FROM meta WHERE key = 'created_at_ms'"), created);
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), tables);
  EXPECT_EQ(scalar("SELECT count(*) FROM sync_state"), 1);
}

TEST_F(LedgerTest, Step5PutsAliasConflictsKeyFirstKeepsItsRowsAndVerifyIsClean) {
  // A version-4 ledger: alias_conflicts as step 3 made it (key last), with one conflict.
  l_.reset();
  EXPECT_EQ(raw_sql("DROP TABLE alias_conflicts;"
                    "CREATE TABLE alias_conflicts (ref TEXT NOT NULL, account_id TEXT NOT NULL, "
                    "kept_account_id TEXT NOT NULL, entry_id TEXT NOT NULL PRIMARY KEY) STRICT, WITHOUT ROWID;"
                    "INSERT INTO alias_conflicts VALUES ('phone:1', 'A-remote', 'A-kept', 'B02/r9/alias/0');"
                    "UPDATE meta SET value = '4' WHERE key = 'schema_version'"),
            "");
  l_ = SqliteLedger::open(opts_);
  EXPECT_EQ(l_->schema_version(), 5);
  EXPECT_EQ(text("SELECT name FROM pragma_table_info('alias_conflicts') WHERE cid = 0"), "entry_id");
  EXPECT_EQ(text("SELECT ref || ' ' || account_id || ' ' || kept_account_id FROM alias_conflicts "
                 "WHERE entry_id = 'B02/r9/alias/0'"),
            "phone:1 A-remote A-kept");
  const auto report = verify(*l_);
  EXPECT_TRUE(report.ok()) << report.problems.front();  // was: "NULL value in alias_conflicts.ref"
  const auto listed = alias_conflicts(*l_);  // what `loyaltyctl customers conflicts` prints
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ref, "phone:1");
  EXPECT_EQ(listed[0].account_id, "A-remote");
  EXPECT_EQ(listed[0].kept_account_id, "A-kept");
  EXPECT_EQ(listed[0].entry_id, "B02/r9/alias/0");
}

TEST_F(LedgerTest, NewerSchemaIsRefused) {
  l_.reset();
  EXPECT_EQ(raw_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'"), "");
  expect_failure([&] { SqliteLedger::open(opts_); }, ErrorCode::kInternal, "99");
  expect_failure([&] { SqliteLedger::open(opts_); }, ErrorCode::kInternal, std::to_string(kSchemaVersion));
  opts_.read_only = true;
  expect_failure([&] { SqliteLedger::open(opts_); }, ErrorCode::kInternal, "newer");
  EXPECT_EQ(raw_sql("UPDATE meta SET value = 'x' WHERE key = 'schema_version'"), "");
  expect_failure([&] { SqliteLedger::open(opts_); }, ErrorCode::kInternal, "corrupt");
}

TEST_F(LedgerTest, UnopenableForThisUserSaysWhy) {
  const std::string kUnavailable = std::to_string(static_cast<int>(ErrorCode::kUnavailable)) + " ";
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // mkdtemp's 0700 would hide everything below
  const std::string read_only_dir = dir_ + "/read-only";
  const std::string closed_dir = dir_ + "/closed";
  ASSERT_TRUE(fs::create_directory(read_only_dir));
  ASSERT_TRUE(fs::create_directories(closed_dir + "/inner"));
  ASSERT_EQ(chmod(read_only_dir.c_str(), 0555), 0);
  ASSERT_EQ(chmod(closed_dir.c_str(), 0), 0);
  LedgerOptions o = opts_;
  o.path = read_only_dir + "/ledger.db";
  const std::string first = open_failure_as_unprivileged_user(o);
  if (first == "could not drop to nobody") GTEST_SKIP() << "this root may not change its user (no CAP_SETUID)";
  EXPECT_EQ(first,
            kUnavailable + "cannot open the ledger: unable to open database file (" + read_only_dir +
                " is not writable by this user)");
  o.path = closed_dir + "/inner/ledger.db";
  EXPECT_EQ(open_failure_as_unprivileged_user(o),
            kUnavailable + "cannot open the ledger: this user may not look into " + closed_dir +
                "/inner (permission denied on a directory of the path)");
  for (const auto& d : {read_only_dir, closed_dir}) ASSERT_EQ(chmod(d.c_str(), 0755), 0);  // for TearDown
}

TEST_F(LedgerTest, UnopenableAndCorruptFiles) {
  LedgerOptions o = opts_;
  o.path = dir_ + "/missing/dir/ledger.db";
  expect_failure([&] { SqliteLedger::open(o); }, ErrorCode::kUnavailable,
                 "cannot open the ledger: its directory " + dir_ + "/missing/dir does not exist");
  o.path = dir_;  // a directory, not the file in it
  expect_failure([&] { SqliteLedger::open(o); }, ErrorCode::kUnavailable, "it is a directory");
  o.path = dir_ + "/garbage.db";
  std::ofstream(o.path) << std::string(8192, 'x');
  LedgerOptions under_a_file = o;  // its "directory" is a file
  under_a_file.path = o.path + "/ledger.db";
  expect_failure([&] { SqliteLedger::open(under_a_file); }, ErrorCode::kUnavailable,
                 o.path + " is not a directory");
  // The operator pointed plugin.db at some other file: the setup is wrong, not our code.
  expect_failure([&] { SqliteLedger::open(o); }, ErrorCode::kInvalidConfig, "not a ledger: the file is not an SQLite database");
  o.path = dir_ + "/other.db";
  sqlite3* db = nullptr;
  sqlite3_open(o.path.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  o.read_only = true;
  expect_failure([&] { SqliteLedger::open(o); }, ErrorCode::kInternal, "not a loyalty ledger");
}

TEST_F(LedgerTest, LockedLedgerIsBusyNotBroken) {
  sqlite3* other = reopen_locked_elsewhere(50);
  ASSERT_NE(other, nullptr);
  expect_failure([&] { l_->begin_write(); }, ErrorCode::kUnavailable, "ledger busy");
  expect_failure([&] { l_->quarantine(app::QuarantineRow{1, "abi", "x", "invalid_json", "", ""}); },
                 ErrorCode::kUnavailable, "busy");
  auto r = l_->begin_read();  // readers are not blocked by a writer in WAL mode
  EXPECT_FALSE(r->find_account_by_ref("card:1"));
  r.reset();
  release(other);
  earn("card:1", 5, "r1");
  EXPECT_TRUE(verify(*l_).ok());
}

// busy_timeout_ms bounds a call from its start: five writers queued behind a lock another
// process holds all give up after about one timeout (they gave up one after another, the
// fifth after five timeouts), and a read queued behind them waits no longer either.
TEST_F(LedgerTest, CallsQueuedBehindALockedLedgerEachWaitOneTimeoutNotTheirSum) {
  sqlite3* other = reopen_locked_elsewhere(400);
  ASSERT_NE(other, nullptr);
  std::vector<std::thread> calls;
  std::vector<int64_t> waited_ms(6, -1);
  std::vector<bool> busy(6, false);
  for (int i = 0; i < 6; ++i) {
    calls.emplace_back([&, i] {
      const auto start = std::chrono::steady_clock::now();
      try {
        if (i < 5) {
          l_->begin_write();
        } else {
          l_->begin_read()->find_account_by_ref("card:1");
        }
      } catch (const app::StoreFailure& f) {
        busy[static_cast<size_t>(i)] = f.code() == ErrorCode::kUnavailable;
      }
      waited_ms[static_cast<size_t>(i)] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - start)
                                              .count();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : calls) t.join();
  release(other);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(busy[static_cast<size_t>(i)]) << "writer " << i;
    EXPECT_LT(waited_ms[static_cast<size_t>(i)], 1200) << "writer " << i;  // queued: up to 2000
  }
  EXPECT_LT(waited_ms[5], 1200) << "the read";
  earn("card:1", 5, "r1");  // free again
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, ReadOnlyLedgerReadsAndRefusesWrites) {
  const std::string account = earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.read_only = true;
  auto ro = SqliteLedger::open(o);
  {
    auto tx = ro->begin_read();
    EXPECT_EQ(tx->find_account(account)->balance, Points(45));
  }
  expect_failure([&] { ro->begin_write(); }, ErrorCode::kUnavailable, "read-only");
  ro->quarantine(app::QuarantineRow{1, "abi", "x", "invalid_json", "", ""});  // dropped
  EXPECT_TRUE(verify(*ro).ok());
  EXPECT_EQ(points_report(*ro, "2026-11-22", "2026-11-22", std::nullopt).size(), 1u);
  EXPECT_EQ(scalar("SELECT count(*) FROM quarantine"), 0);
}

// ---- entries, lots --------------------------------------------------------------------

// The store's own expired_lots() (a seek to `at` in the lots' key) answers what the port's
// default does (open_lots() filtered by domain::expired_lots): due at `at` is expired, a
// spent lot is not, and the order is the consumption order.
// SQLite's process-wide settings (configure_sqlite_process) apply only before its first use
// in the process. Each test runs its body in a process of its own (the "threadsafe" death-test
// style starts a fresh one), where exit code 0 means every expectation held.

// PRAGMA temp_store of the ledger's connection: 1 = FILE, 2 = MEMORY.
int64_t temp_store_of(SqliteLedger& l) {
  int64_t v = -1;
  l.with_db([&](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA temp_store", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  });
  return v;
}

// Opens a ledger in a new directory, writes to it, and exits 0 when SQLite kept `counted`
// allocation statistics (or none) and the connection has `temp_store`; a reader of the same
// file always keeps its temporary data in memory (it writes no journal).
[[noreturn]] void open_and_exit(bool counted, int64_t temp_store) {
  char tmpl[] = "/tmp/loyalty-process-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  LedgerOptions o;
  o.path = dir + "/ledger.db";
  o.branch = "B01";
  bool ok = false;
  {
    auto l = SqliteLedger::open(o);  // creates the schema: SQLite allocates plenty
    ok = (sqlite3_memory_used() > 0) == counted && temp_store_of(*l) == temp_store;
    LedgerOptions r = o;
    r.read_only = true;
    auto reader = SqliteLedger::open(r);
    ok = ok && temp_store_of(*reader) == 2;
  }
  fs::remove_all(dir);
  std::exit(ok ? 0 : 1);
}

// Where the ledger is SQLite's first user: no allocation statistics (a global mutex on every
// allocation; the replay ran 6 % faster without them), and statement journals of 1 MiB in
// memory, which the connection uses by keeping temporary data in files (temp_store = FILE).
TEST(LedgerProcessTest, AsSqlitesFirstUserTheLedgerSetsUpTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(open_and_exit(/*counted=*/false, /*temp_store=*/1), ::testing::ExitedWithCode(0), "");
}

// A host that started SQLite first keeps its settings: statistics on, and the connection's
// statement journals in memory (64 KiB journals would spill to files under most held groups).
TEST(LedgerProcessTest, AHostThatStartedSqliteFirstKeepsItsSettings) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        sqlite3_initialize();
        open_and_exit(/*counted=*/true, /*temp_store=*/2);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(LedgerTest, ExpiredLotsAreTheOpenLotsDueByThen) {
  const BusinessTime t1 = at("2026-01-10T09:00:00-06:00");
  const BusinessTime t2 = at("2026-01-10T09:00:00-08:00");  // two hours later
  const BusinessTime t3 = at("2026-03-10T09:00:00-06:00");
  const std::string account = earn("card:1", 50, "r1", t3);
  earn("card:1", 30, "r2", t2);
  earn("card:1", 20, "r3", t1);
  earn("card:1", 10, "r4", t1);
  debit(account, "redeem", 20, "r5", {{"r3", 20}}, t3);
  auto tx = l_->begin_read();
  app::LedgerTx& port = *tx;
  const auto ids = [](const std::vector<domain::Lot>& lots) {
    std::vector<std::string> out;
    for (const auto& lot : lots) out.push_back(lot.lot_id);
    return out;
  };
  for (const BusinessTime& when :
       {t1.plus_days(365).plus_minutes(-1), t1.plus_days(365), t2.plus_days(365), t3.plus_days(365), t3.plus_days(900)}) {
    const auto own = port.expired_lots(account, when);
    EXPECT_EQ(ids(own), ids(domain::expired_lots(port.open_lots(account), when))) << when.unix_ms;
  }
  EXPECT_TRUE(port.expired_lots(account, t1.plus_days(365).plus_minutes(-1)).empty());
  EXPECT_EQ(ids(port.expired_lots(account, t1.plus_days(365))), std::vector<std::string>{"r4"});  // r3 is spent
  EXPECT_EQ(ids(port.expired_lots(account, t2.plus_days(365))), (std::vector<std::string>{"r4", "r2"}));
  EXPECT_EQ(ids(port.expired_lots(account, t3.plus_days(365))), (std::vector<std::string>{"r4", "r2", "r1"}));
  EXPECT_EQ(port.expired_lots(account, t3.plus_days(365))[2].remaining, Points(50));
  EXPECT_TRUE(port.expired_lots("A-unknown", t3.plus_days(900)).empty());
}

// A debit takes from the lots its allocations name, found by their whole key (id and
// place); a place that is not the lot's is refused like a lot without the points, and
// nothing is taken.
TEST_F(LedgerTest, AnAllocationTakesFromTheLotItsPlaceNames) {
  const BusinessTime t1 = at("2026-01-10T09:00:00-06:00");
  const BusinessTime t2 = at("2026-02-10T09:00:00-06:00");
  const std::string account = earn("card:1", 50, "r1", t1);
  earn("card:1", 30, "r2", t2);
  std::vector<domain::Lot> lots;
  {
    auto tx = l_->begin_read();
    lots = tx->open_lots(account);
    tx->commit();
  }
  ASSERT_EQ(lots.size(), 2u);
  debit(account, "redeem", 35, "r3", {{"r2", 25}, {"r1", 10}}, t2);
  {
    auto tx = l_->begin_read();
    auto after = tx->open_lots(account);
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0].remaining, Points(40));
    EXPECT_EQ(after[1].remaining, Points(5));
    tx->commit();
  }
  domain::Allocation misplaced = domain::take_from(lots[0], Points(1));
  misplaced.place.earned_at = t2;  // r1's id with another lot's place
  auto tx = l_->begin_write();
  app::EntryRow e = entry("r4", account, "redeem", -1, t2);
  expect_failure([&] { tx->append_entry(e, {misplaced}, std::nullopt); }, ErrorCode::kInternal, "lot r1 has 40 points");
  tx.reset();  // rolled back
  EXPECT_EQ(scalar("SELECT remaining FROM lots WHERE lot_id = 'r1'"), 40);
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, AppendEntryUpdatesBalanceSequenceLotsAndAllocations) {
  const BusinessTime t1 = at("2026-01-10T09:00:00-06:00");
  const BusinessTime t2 = at("2026-02-10T09:00:00-06:00");
  const std::string account = earn("card:1", 50, "r1", t1);
  earn("card:1", 30, "r2", t2);
  {
    auto tx = l_->begin_read();
    auto lots = tx->open_lots(account);
    ASSERT_EQ(lots.size(), 2u);  // oldest expiry first
    EXPECT_EQ(lots[0].lot_id, "r1");
    EXPECT_EQ(lots[0].expires_at.unix_ms, t1.plus_days(365).unix_ms);
    EXPECT_EQ(lots[0].expires_at.offset_minutes, -360);
    EXPECT_EQ(lots[1].lot_id, "r2");
  }
  debit(account, "redeem", 60, "r3", {{"r1", 50}, {"r2", 10}}, t2);
  auto tx = l_->begin_read();
  EXPECT_EQ(tx->find_account(account)->balance, Points(20));
  auto lots = tx->open_lots(account);
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0].lot_id, "r2");
  EXPECT_EQ(lots[0].remaining, Points(20));
  EXPECT_EQ(lots[0].original, Points(30));
  EXPECT_TRUE(tx->entry_exists("r3"));
  EXPECT_FALSE(tx->entry_exists("r4"));
  auto entries = tx->entries_of_account(account, std::nullopt, std::nullopt, 100);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].origin_seq, 1);
  EXPECT_EQ(entries[1].origin_seq, 2);
  EXPECT_EQ(entries[2].origin_seq, 3);
  const app::EntryRow& e = entries[0];
  EXPECT_EQ(e.entry_id, "r1");
  EXPECT_EQ(e.origin_branch, "B01");
  EXPECT_EQ(e.account_id, account);
  EXPECT_EQ(e.kind, "earn");
  EXPECT_EQ(e.points, Points(50));
  EXPECT_EQ(e.request_id, "r1");
  EXPECT_EQ(e.branch, "B01");
  EXPECT_EQ(e.ticket, "T-r1");
  EXPECT_EQ(e.business_at.unix_ms, t1.unix_ms);
  EXPECT_EQ(e.business_at.offset_minutes, -360);
  EXPECT_EQ(e.recorded_at_ms, 1234);
  ASSERT_TRUE(e.expires_at);
  EXPECT_EQ(e.expires_at->unix_ms, t1.plus_days(365).unix_ms);
  EXPECT_EQ(e.program_version, "prog-1");
  EXPECT_EQ(e.body_hash, kHash);
  EXPECT_FALSE(entries[2].expires_at);
  EXPECT_EQ(entries[2].points, Points(-60));
  tx->commit();
  EXPECT_EQ(scalar("SELECT count(*) FROM lot_allocations WHERE entry_id = 'r3'"), 2);
  EXPECT_EQ(scalar("SELECT points FROM lot_allocations WHERE entry_id = 'r3' AND lot_id = 'r2'"), 10);
  EXPECT_EQ(scalar("SELECT updated_seq FROM accounts"), 3);
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, EntriesOfAccountFiltersAndLimits) {
  const std::string account = earn("card:1", 1, "r1", at("2026-01-01T10:00:00Z"));
  earn("card:1", 2, "r2", at("2026-01-03T10:00:00Z"));
  earn("card:1", 3, "r3", at("2026-01-02T10:00:00Z"));  // recorded later, earlier business time
  earn("card:2", 4, "r4", at("2026-01-02T10:00:00Z"));
  auto tx = l_->begin_read();
  auto ids = [&](std::optional<int64_t> from, std::optional<int64_t> to, int64_t limit) {
    std::vector<std::string> out;
    for (const auto& e : tx->entries_of_account(account, from, to, limit)) out.push_back(e.entry_id);
    return out;
  };
  EXPECT_EQ(ids(std::nullopt, std::nullopt, 10), (std::vector<std::string>{"r1", "r3", "r2"}));
  EXPECT_EQ(ids(std::nullopt, std::nullopt, 2), (std::vector<std::string>{"r1", "r3"}));
  const int64_t jan2 = at("2026-01-02T10:00:00Z").unix_ms;
  EXPECT_EQ(ids(jan2, std::nullopt, 10), (std::vector<std::string>{"r3", "r2"}));
  EXPECT_EQ(ids(std::nullopt, jan2, 10), (std::vector<std::string>{"r1", "r3"}));
  EXPECT_EQ(ids(jan2, jan2, 10), (std::vector<std::string>{"r3"}));
  EXPECT_TRUE(tx->entries_of_account("nobody", std::nullopt, std::nullopt, 10).empty());
}

TEST_F(LedgerTest, BadAllocationsAndUnknownAccountsAreInternalErrors) {
  const std::string a1 = earn("card:1", 50, "r1");
  const std::string a2 = earn("card:2", 50, "r2");
  auto tx = l_->begin_write();
  app::EntryRow e = entry("x1", a1, "redeem", -51, at("2026-11-22T10:15:00-06:00"));
  expect_failure([&] { tx->append_entry(e, allocations(*tx, a1, {{"r1", 51}}), std::nullopt); }, ErrorCode::kInternal,
                 "has 50 points, cannot give 51");
  e.entry_id = "x2";
  expect_failure([&] { tx->append_entry(e, allocations(*tx, a1, {{"nope", 1}}), std::nullopt); }, ErrorCode::kInternal,
                 "has no lot nope");
  e.entry_id = "x3";
  expect_failure([&] { tx->append_entry(e, allocations(*tx, a1, {{"r2", 1}}), std::nullopt); }, ErrorCode::kInternal,
                 "has no lot r2");  // r2 is card:2's lot
  e.entry_id = "x6";
  e.points = Points(5);
  expect_failure([&] { tx->append_entry(e, {}, domain::Lot{"other", a1, {}, {}, Points(5), Points(5)}); },
                 ErrorCode::kInternal, "cannot create lot other");
  e.points = Points(-51);
  e.entry_id = "x4";
  e.account_id = "B01-NOBODY";
  expect_failure([&] { tx->append_entry(e, {}, std::nullopt); }, ErrorCode::kInternal, "");
  e.entry_id = "r1";  // duplicate entry id
  e.account_id = a1;
  expect_failure([&] { tx->append_entry(e, {}, std::nullopt); }, ErrorCode::kInternal, "UNIQUE");
  e.entry_id = "x5";
  e.body_hash = "not hex";
  expect_failure([&] { tx->append_entry(e, {}, std::nullopt); }, ErrorCode::kInternal, "hex");
}

TEST_F(LedgerTest, RollbackLeavesNothingAndDoesNotAdvanceTheSequence) {
  const std::string account = earn("card:1", 10, "r1");
  {
    auto tx = l_->begin_write();
    tx->create_account("B01", "card:2", "", BusinessTime{});
    app::EntryRow e = entry("r2", account, "adjust", 5, at("2026-11-22T10:15:00-06:00"));
    credit(*tx, e);
    EXPECT_EQ(e.origin_seq, 2);
    tx->put_request("B01", "r2", app::StoredRequest{kHash, 0, "{}"}, 0);
  }  // no commit: rolled back
  {
    auto tx = l_->begin_read();
    EXPECT_FALSE(tx->find_account_by_ref("card:2"));
    EXPECT_FALSE(tx->entry_exists("r2"));
    EXPECT_FALSE(tx->find_request("B01", "r2"));
    EXPECT_EQ(tx->find_account(account)->balance, Points(10));
    tx->commit();
  }
  {
    auto tx = l_->begin_write();
    app::EntryRow e = entry("r3", account, "adjust", 5, at("2026-11-22T10:15:00-06:00"));
    credit(*tx, e);
    EXPECT_EQ(e.origin_seq, 2);  // not 3
    tx->put_request("B01", "r3", app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
    // The transaction is over: it released the ledger, and refuses further work.
    expect_failure([&] { tx->find_account(account); }, ErrorCode::kInternal, "already committed");
    expect_failure([&] { tx->commit(); }, ErrorCode::kInternal, "already committed");
    l_->begin_read()->commit();  // would deadlock if the committed tx still held the lock
  }
  EXPECT_EQ(scalar("SELECT max(origin_seq) FROM entries"), 2);
}

TEST_F(LedgerTest, EntriesAreAppendOnly) {
  earn("card:1", 10, "r1");
  earn("card:2", 20, "r2");
  EXPECT_NE(raw_sql("UPDATE entries SET points = 1000").find("append-only"), std::string::npos);
  EXPECT_NE(raw_sql("UPDATE entries SET entry_id = 'x' WHERE origin_seq = 1").find("append-only"),
            std::string::npos);
  EXPECT_NE(raw_sql("DELETE FROM entries").find("append-only"), std::string::npos);
  EXPECT_NE(raw_sql("PRAGMA recursive_triggers=ON; INSERT OR REPLACE INTO entries SELECT * FROM entries "
                    "WHERE origin_seq = 1")
                .find("append-only"),
            std::string::npos);
  EXPECT_EQ(raw_sql("UPDATE entries SET hub_offset = 7 WHERE origin_seq = 1"), "");
  EXPECT_NE(raw_sql("UPDATE entries SET hub_offset = 8 WHERE origin_seq = 1").find("once"), std::string::npos);
  EXPECT_NE(raw_sql("UPDATE entries SET hub_offset = NULL WHERE origin_seq = 1").find("once"),
            std::string::npos);
  EXPECT_EQ(scalar("SELECT sum(points) FROM entries"), 30);
  EXPECT_EQ(scalar("SELECT hub_offset FROM entries WHERE origin_seq = 1"), 7);
  EXPECT_TRUE(verify(*l_).ok());
}

// ---- accounts, sales, holds, requests -------------------------------------------------

TEST_F(LedgerTest, AccountsAliasesCategoriesAndPii) {
  auto tx = l_->begin_write();
  const BusinessTime t = at("2026-11-22T10:15:00-06:00");
  auto a = tx->create_account("B01", "card:1", "gold", t);
  auto b = tx->create_account("B01", "card:2", "", t);
  tx->add_alias(a.account_id, "phone:+5215555");
  tx->add_alias(a.account_id, "card:1");  // its own: no-op
  expect_failure([&] { tx->add_alias(b.account_id, "card:1"); }, ErrorCode::kConflict, "card:1");
  expect_failure([&] { tx->create_account("B01", "card:1", "", t); }, ErrorCode::kConflict, "card:1");
  EXPECT_EQ(tx->aliases(a.account_id), (std::vector<std::string>{"card:1", "phone:+5215555"}));
  EXPECT_EQ(tx->find_account_by_ref("phone:+5215555")->account_id, a.account_id);
  EXPECT_EQ(tx->find_account(a.account_id)->category, "gold");
  tx->set_category(a.account_id, "silver");
  tx->upsert_pii(a.account_id, app::Pii{"Ana", std::nullopt, std::nullopt, "1990-05-17"});
  tx->upsert_pii(a.account_id, app::Pii{std::nullopt, "ana@example.com", std::nullopt, std::nullopt});
  // A sale's entry counts the sale on its account (EntryRow::counts_sale); other entries do not.
  for (const char* id : {"s1", "s2", "adj"}) {
    app::EntryRow e = entry(id, a.account_id, id[0] == 's' ? "sale" : "adjust", 0, t);
    e.counts_sale = id[0] == 's';
    tx->append_entry(e, {}, std::nullopt);
  }
  auto got = tx->find_account_by_ref("card:1");
  EXPECT_EQ(got->category, "silver");
  EXPECT_EQ(got->birthday, "1990-05-17");
  EXPECT_EQ(got->sales_count, 2);
  EXPECT_EQ(tx->find_account(b.account_id)->sales_count, 0);
  EXPECT_EQ(tx->find_account(b.account_id)->birthday, "");
  tx->commit();
  EXPECT_EQ(text("SELECT name || '/' || email || '/' || coalesce(phone, '-') FROM customer_pii"),
            "Ana/ana@example.com/-");
}

TEST_F(LedgerTest, SalesAndTheirLinesRoundTrip) {
  const std::string account = earn("card:1", 50, "r1");
  auto tx = l_->begin_write();
  EXPECT_FALSE(tx->find_sale("B01", "000123"));
  domain::SaleRecord s;
  s.branch = "B01";
  s.ticket = "000123";
  s.request_id = "r1";
  s.account_id = account;
  s.earn_entry_id = "r1";
  s.earned = Points(50);
  s.redeemed = Points(7);
  s.at = at("2026-11-22T10:15:00.250-06:00");
  s.lines = {{1, domain::Money::from_units(90), domain::Quantity::from_units(2), domain::Percent::from_units(5), {}},
             {2, domain::Money::from_micros(-1'500'000), domain::Quantity::from_micros(350'000),
              domain::Percent::from_micros(2'500'000), domain::Money::from_units(3)},
             {7, domain::Money::from_micros(999'999'999'999'999'999), domain::Quantity::from_units(1),
              domain::Percent::from_units(0), {}}};
  tx->put_sale(s);
  auto back = tx->find_sale("B01", "000123");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->request_id, "r1");
  EXPECT_EQ(back->account_id, account);
  EXPECT_EQ(back->earn_entry_id, "r1");
  EXPECT_EQ(back->earned, Points(50));
  EXPECT_EQ(back->redeemed, Points(7));
  EXPECT_EQ(back->at.unix_ms, s.at.unix_ms);
  EXPECT_EQ(back->at.offset_minutes, -360);
  EXPECT_FALSE(back->voided);
  ASSERT_EQ(back->lines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->lines[i].n, s.lines[i].n);
    EXPECT_EQ(back->lines[i].amount, s.lines[i].amount);
    EXPECT_EQ(back->lines[i].qty, s.lines[i].qty);
    EXPECT_EQ(back->lines[i].percent, s.lines[i].percent);
    EXPECT_EQ(back->lines[i].refunded, s.lines[i].refunded);
  }
  // A refund and a void replace the record.
  s.clawed_back = Points(20);
  s.restored = Points(7);
  s.voided = true;
  s.lines[0].refunded = domain::Money::from_units(40);
  s.lines.pop_back();
  tx->put_sale(s);
  back = tx->find_sale("B01", "000123");
  EXPECT_EQ(back->clawed_back, Points(20));
  EXPECT_EQ(back->restored, Points(7));
  EXPECT_TRUE(back->voided);
  ASSERT_EQ(back->lines.size(), 2u);
  EXPECT_EQ(back->lines[0].refunded, domain::Money::from_units(40));
  // An anonymous sale without lines; the same ticket at another branch is another sale.
  domain::SaleRecord anon;
  anon.branch = "B02";
  anon.ticket = "000123";
  anon.request_id = "r9";
  tx->put_sale(anon);
  EXPECT_TRUE(tx->find_sale("B02", "000123")->lines.empty());
  EXPECT_EQ(tx->find_sale("B02", "000123")->account_id, "");
  EXPECT_TRUE(tx->find_sale("B01", "000123")->voided);
  tx->commit();
  EXPECT_EQ(scalar("SELECT count(*) FROM sales"), 2);
}

// Active holds come oldest first, then by id, whatever order they were written in.
TEST_F(LedgerTest, ActiveHoldsComeOldestFirst) {
  const std::string account = earn("card:1", 50, "r1");
  auto tx = l_->begin_write();
  const std::pair<const char*, const char*> written[] = {{"H-C", "2026-11-22T10:20:00-06:00"},
                                                         {"H-B", "2026-11-22T10:15:00-06:00"},
                                                         {"H-A", "2026-11-22T10:20:00-06:00"},
                                                         {"H-D", "2026-11-22T10:05:00-06:00"}};
  for (const auto& [id, when] : written) tx->insert_hold(active_hold(account, id, 5, at(when)));
  auto ids = [](const std::vector<app::Hold>& holds) {
    std::vector<std::string> out;
    for (const auto& x : holds) out.push_back(x.hold_id);
    return out;
  };
  const std::vector<std::string> oldest_first = {"H-D", "H-B", "H-A", "H-C"};
  EXPECT_EQ(ids(tx->active_holds_of_account(account)), oldest_first);
  EXPECT_EQ(ids(tx->active_holds_of_ticket("B01", "T")), oldest_first);
  tx->commit();
}

TEST_F(LedgerTest, HoldsLifecycleAndResolveOnce) {
  const std::string account = earn("card:1", 50, "r1");
  auto tx = l_->begin_write();
  app::Hold h = active_hold(account, "H-1", 20, at("2026-11-22T10:15:00-06:00"));
  tx->insert_hold(h);
  h.hold_id = "H-2";
  h.ticket = "U";
  tx->insert_hold(h);
  auto got = tx->find_hold("H-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->account_id, account);
  EXPECT_EQ(got->request_id, "a1");
  EXPECT_EQ(got->ticket, "T");
  EXPECT_EQ(got->points, Points(20));
  EXPECT_EQ(got->amount, domain::Money::from_units(2));
  EXPECT_EQ(got->status, "active");
  EXPECT_EQ(got->created_at.offset_minutes, -360);
  EXPECT_EQ(got->business_deadline.unix_ms, h.business_deadline.unix_ms);
  EXPECT_EQ(got->business_deadline.offset_minutes, -360);
  EXPECT_EQ(got->wall_deadline_ms, 99);
  EXPECT_FALSE(tx->find_hold("H-3"));
  EXPECT_EQ(tx->active_holds_of_account(account).size(), 2u);
  ASSERT_EQ(tx->active_holds_of_ticket("B01", "T").size(), 1u);
  EXPECT_TRUE(tx->active_holds_of_ticket("B02", "T").empty());
  tx->resolve_hold("H-1", "captured", 1);
  expect_failure([&] { tx->resolve_hold("H-1", "released", 2); }, ErrorCode::kInternal, "not active");
  expect_failure([&] { tx->resolve_hold("H-2", "active", 2); }, ErrorCode::kInternal, "not a resolution");
  expect_failure([&] { tx->resolve_hold("H-9", "released", 2); }, ErrorCode::kInternal, "not active");
  EXPECT_EQ(tx->find_hold("H-1")->status, "captured");
  EXPECT_TRUE(tx->active_holds_of_ticket("B01", "T").empty());
  EXPECT_EQ(tx->active_holds_of_account(account).size(), 1u);
  tx->resolve_hold("H-2", "expired", 3);
  EXPECT_TRUE(tx->active_holds_of_account(account).empty());
  tx->commit();
  EXPECT_EQ(scalar("SELECT resolved_at_ms FROM holds WHERE hold_id = 'H-2'"), 3);
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, RequestsRoundTrip) {
  auto tx = l_->begin_write();
  EXPECT_FALSE(tx->find_request("B01", "r1"));
  const std::string hash = "00ff10aa" + std::string(56, '9');
  const std::string json = R"({"ok":true,"receipt":["ñandú"]})";
  tx->put_request("B01", "r1", app::StoredRequest{hash, 5, json}, 77);
  auto got = tx->find_request("B01", "r1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body_hash, hash);
  EXPECT_EQ(got->code, 5);
  EXPECT_EQ(got->response_json, json);
  EXPECT_FALSE(tx->find_request("B02", "r1"));
  expect_failure([&] { tx->put_request("B01", "r1", app::StoredRequest{hash, 0, "{}"}, 78); },
                 ErrorCode::kInternal, "UNIQUE");
  tx->commit();
  EXPECT_EQ(scalar("SELECT length(body_hash) FROM requests"), 32);  // stored as bytes
}

TEST_F(LedgerTest, QuarantineKeepsRawBytesAndIsCapped) {
  l_.reset();
  opts_.quarantine_max_rows = 3;
  l_ = SqliteLedger::open(opts_);
  for (int i = 0; i < 5; ++i) {
    l_->quarantine(app::QuarantineRow{i, "abi", std::string("a\0b\xff", 4) + std::to_string(i), "invalid_json",
                                      "lines[0]", "bad"});
  }
  auto rows = l_->with_db([&](sqlite3*) {
    std::vector<std::pair<int64_t, std::string>> out;
    auto q = l_->query("SELECT received_at_ms, raw FROM quarantine ORDER BY id");
    while (q.step()) out.emplace_back(q.i64(0), q.text(1));
    return out;
  });
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.front().first, 2);  // the oldest went first
  EXPECT_EQ(rows.back().second, std::string("a\0b\xff" "4", 5));
  EXPECT_EQ(text("SELECT field || ':' || error_code || ':' || message FROM quarantine LIMIT 1"),
            "lines[0]:invalid_json:bad");
  l_->quarantine(app::QuarantineRow{9, "http", "", "invalid_json", "", ""});
  EXPECT_EQ(scalar("SELECT count(*) FROM quarantine"), 3);
}

// ---- verify, concurrency, report ------------------------------------------------------

TEST_F(LedgerTest, VerifyIsCleanThenFindsTampering) {
  const std::string a1 = earn("card:1", 45, "r1");
  earn("card:2", 10, "r2");
  debit(a1, "redeem", 5, "r3", {{"r1", 5}});
  auto clean = verify(*l_);
  EXPECT_TRUE(clean.ok()) << clean.problems.front();
  EXPECT_EQ(clean.accounts_checked, 2);
  EXPECT_EQ(clean.entries_checked, 3);

  EXPECT_EQ(raw_sql("UPDATE accounts SET balance = balance + 1 WHERE account_id = '" + a1 + "'"), "");
  auto report = verify(*l_);
  ASSERT_FALSE(report.ok());
  const std::string all = [&] {
    std::string s;
    for (const auto& p : report.problems) s += p + "\n";
    return s;
  }();
  EXPECT_NE(all.find("account " + a1 + ": stored balance 41, recomputed from its entries 40"), std::string::npos)
      << all;
  EXPECT_NE(all.find("lots hold 40 points (expected 41)"), std::string::npos) << all;
  EXPECT_EQ(report.problems.size(), 2u) << all;

  EXPECT_EQ(raw_sql("UPDATE accounts SET balance = balance - 1 WHERE account_id = '" + a1 + "';"
                    "UPDATE lots SET remaining = remaining - 1 WHERE lot_id = 'r2';"
                    "INSERT INTO entries SELECT 'forged', origin_branch, 9, node_epoch, account_id, kind, 0, "
                    "'nobody', branch, ticket, ref_entry_id, business_at_ms, business_offset, recorded_at_ms, "
                    "expires_at_ms, expires_offset, program_version, reason, body_hash, NULL, NULL FROM entries "
                    "WHERE origin_seq = 1"),
            "");
  report = verify(*l_);
  std::string s;
  for (const auto& p : report.problems) s += p + "\n";
  EXPECT_NE(s.find("lot r2: remaining 9 but it started with 10 and gave 0"), std::string::npos) << s;
  EXPECT_NE(s.find("origin branch B01: 4 entries numbered 1..9 (gaps)"), std::string::npos) << s;
  EXPECT_NE(s.find("entry forged: no recorded request B01/nobody"), std::string::npos) << s;
  EXPECT_EQ(report.entries_checked, 4);
}

TEST_F(LedgerTest, VerifyHoldsThisBranchsSalesToRule7AndWaitsForOtherBranchesCaps) {
  auto sale_row = [&](const std::string& branch, const std::string& ticket, int earned, int clawed) {
    return raw_sql("INSERT INTO sales VALUES ('" + branch + "', '" + ticket + "', 'r', '', '', " +
                   std::to_string(earned) + ", " + std::to_string(clawed) + ", 0, 0, 0, 0, 0, '')");
  };
  EXPECT_EQ(sale_row("B01", "own-ok", 50, 50), "");
  EXPECT_EQ(sale_row("B02", "theirs", 50, 70), "");  // refunds at two branches, before B02's cap
  EXPECT_TRUE(verify(*l_).ok()) << verify(*l_).problems.front();
  EXPECT_EQ(sale_row("B01", "own-over", 50, 51), "");
  EXPECT_EQ(sale_row("B02", "negative", 50, -1), "");
  auto report = verify(*l_);
  std::string all;
  for (const auto& p : report.problems) all += p + "\n";
  EXPECT_NE(all.find("sale B01/own-over: clawed back 51 of 50 earned"), std::string::npos) << all;
  EXPECT_NE(all.find("sale B02/negative: clawed back -1 of 50 earned"), std::string::npos) << all;
  EXPECT_EQ(report.problems.size(), 2u) << all;
}

// `earned` caps every later refund: a sale row that disagrees with its earn entry is found.
TEST_F(LedgerTest, VerifyFindsASaleWhoseEarnedDisagreesWithItsEntry) {
  earn("card:1", 45, "e1");
  EXPECT_EQ(raw_sql("INSERT INTO sales VALUES ('B01', 'T1', 'r', '', 'e1', 45, 0, 0, 0, 0, 0, 0, '')"), "");
  EXPECT_TRUE(verify(*l_).ok()) << verify(*l_).problems.front();
  EXPECT_EQ(raw_sql("UPDATE sales SET earned = 500 WHERE ticket = 'T1'"), "");
  auto report = verify(*l_);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems.front(), "sale B01/T1: earned 500 but its entry says 45");
}

TEST_F(LedgerTest, WritersFromFourThreadsAreSerialised) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        earn("card:" + std::to_string(t), 1, "t" + std::to_string(t) + "-" + std::to_string(i));
      }
    });
  }
  for (auto& t : ts) t.join();
  auto report = verify(*l_);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries_checked, 200);
  EXPECT_EQ(report.accounts_checked, 4);
  EXPECT_EQ(scalar("SELECT count(DISTINCT origin_seq) FROM entries WHERE origin_seq BETWEEN 1 AND 200"), 200);
  EXPECT_EQ(scalar("SELECT min(balance) FROM accounts"), 50);
}

TEST_F(LedgerTest, ConcurrentWritersShareCommitsAndAFailedOneLosesOnlyItsOwnWork) {
  // Durable commits make writers queue behind each fsync, so they form groups.
  l_.reset();
  opts_.synchronous = 2;
  l_ = SqliteLedger::open(opts_);
  const uint64_t groups_before = l_->groups_ended();
  constexpr int kThreads = 8, kEach = 40;
  std::atomic<int> failed_on_purpose{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (i % 10 == 3) {
          // Writes, then fails before commit(): only this writer's savepoint rolls back.
          auto tx = l_->begin_write();
          auto a = tx->find_account_by_ref("card:" + std::to_string(t));
          if (!a) a = tx->create_account("B01", "card:" + std::to_string(t), "", at("2026-11-22T10:15:00-06:00"));
          app::EntryRow e = entry(id + "-lost", a->account_id, "adjust", 1000, at("2026-11-22T10:15:00-06:00"));
          credit(*tx, e);
          ++failed_on_purpose;
          continue;  // tx destroyed without commit
        }
        earn("card:" + std::to_string(t), 1, id);
      }
    });
  }
  for (auto& t : ts) t.join();
  const int committed = kThreads * kEach - failed_on_purpose.load();
  auto report = verify(*l_);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
  EXPECT_EQ(report.entries_checked, committed);
  EXPECT_EQ(scalar("SELECT count(*) FROM entries WHERE entry_id LIKE '%-lost'"), 0);
  EXPECT_EQ(scalar("SELECT max(origin_seq) FROM entries"), committed);  // no gap
  EXPECT_EQ(scalar("SELECT count(*) FROM requests"), committed);
  EXPECT_EQ(scalar("SELECT sum(balance) FROM accounts"), committed);
  // Fewer COMMITs than transactions: writers shared them (at least one group of two).
  const uint64_t groups = l_->groups_ended() - groups_before;
  EXPECT_LT(groups, static_cast<uint64_t>(kThreads * kEach));
  // The stats count one COMMIT per group that committed, never more than the groups.
  const auto stats = l_->stats();
  EXPECT_GT(stats.commits, 0u);
  EXPECT_LE(stats.commits, l_->groups_ended());
  EXPECT_GT(stats.max_commit_us, 0);
  EXPECT_GT(stats.max_wal_pages, 0);
  // Everything is durable: another connection sees it all.
  l_.reset();
  l_ = SqliteLedger::open(opts_);
  EXPECT_EQ(scalar("SELECT count(*) FROM entries"), committed);
}

TEST_F(LedgerTest, BackgroundCheckpointsKeepTheWalBoundedAndAreCounted) {
  // A small checkpoint_pages: a steady writer wakes the checkpoint thread many times, and
  // the WAL stays near the limit at which a COMMIT finishes the checkpoint itself
  // (4 x checkpoint_pages): past it by the transactions committed while a background
  // checkpoint held the checkpoint lock (the foreground one then retries at the next
  // COMMIT; under load that was seen to take 20 transactions). Without the foreground
  // checkpoint the WAL reaches about 3,000 pages.
  l_.reset();
  opts_.synchronous = 2;
  opts_.checkpoint_pages = 8;
  opts_.hold_commit_ms = 0;  // a COMMIT per write (held groups: HeldGroupTest)
  l_ = SqliteLedger::open(opts_);
  for (int i = 0; i < 300; ++i) earn("card:" + std::to_string(i % 40), 1, "c" + std::to_string(i));
  for (int i = 0; i < 200 && l_->stats().background_checkpoints == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto st = l_->stats();
  EXPECT_GE(st.background_checkpoints, 1u);
  EXPECT_GT(st.max_background_checkpoint_us, 0);
  EXPECT_EQ(st.commits, 300u) << "one COMMIT per transaction here (one writer)";
  EXPECT_LE(st.max_wal_pages, 8 * 4 * 8);
  if (st.foreground_checkpoints > 0) {
    EXPECT_GT(st.max_foreground_checkpoint_us, 0);
  }
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, AReadAfterGroupedWritesSeesThemCommitted) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  std::atomic<int> written{0};
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        earn("card:" + std::to_string(t), 1, "w" + std::to_string(t) + "-" + std::to_string(i));
        ++written;
      }
    });
  }
  // A reader never sees work of a group that has not committed: what it counts is on
  // disk for another connection too.
  for (int i = 0; i < 50; ++i) {
    const int64_t seen = scalar("SELECT count(*) FROM entries");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(opts_.path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM entries", -1, &s, nullptr);
    sqlite3_step(s);
    EXPECT_GE(sqlite3_column_int64(s, 0), seen);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(scalar("SELECT count(*) FROM entries"), written.load());
  EXPECT_TRUE(verify(*l_).ok());
}

TEST_F(LedgerTest, AnotherConnectionWritingKeepsTheSequenceContiguous) {
  // loyaltyctl (another process) appends to the same branch between POS writes.
  LedgerOptions o = opts_;
  o.checkpoint_pages = 0;
  auto other = SqliteLedger::open(o);
  const std::string account = earn("card:1", 1, "r1");
  for (int i = 0; i < 10; ++i) {
    SqliteLedger& l = (i % 3 == 0) ? *other : *l_;
    auto tx = l.begin_write();
    app::EntryRow e = entry("x" + std::to_string(i), account, "adjust", 1, at("2026-11-22T10:15:00-06:00"));
    credit(*tx, e);
    EXPECT_EQ(e.origin_seq, i + 2);
    tx->put_request("B01", e.request_id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
  }
  other.reset();
  auto report = verify(*l_);
  EXPECT_TRUE(report.ok()) << report.problems.front();
  EXPECT_EQ(scalar("SELECT balance FROM accounts"), 11);
}

// ---- held reads (LedgerOptions::read_reuse_us) ------------------------------------------

int64_t balance_of(SqliteLedger& l, const std::string& ref) {
  auto tx = l.begin_read();
  auto a = tx->find_account_by_ref(ref);
  tx->commit();
  return a ? a->balance.value() : -1;
}

TEST_F(LedgerTest, ReadsShareAHeldSnapshotUntilThisLedgerWrites) {
  l_.reset();
  opts_.read_reuse_us = 60'000'000;  // a minute: only a write of this ledger ends the read
  opts_.hold_commit_ms = 0;  // reads inside a held group: HeldGroupTest
  l_ = SqliteLedger::open(opts_);
  const std::string account = earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.checkpoint_pages = 0;
  auto other = SqliteLedger::open(o);  // loyaltyctl, say

  EXPECT_EQ(balance_of(*l_, "card:1"), 45);
  const auto before = l_->stats();
  {
    auto tx = other->begin_write();
    app::EntryRow e = entry("adj", account, "adjust", 10, at("2026-11-22T10:16:00-06:00"));
    credit(*tx, e);
    tx->put_request("B01", e.request_id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
  }
  // The second read runs in the first one's snapshot: the other connection's commit is
  // not seen yet (what the window allows).
  EXPECT_EQ(balance_of(*l_, "card:1"), 45);
  EXPECT_EQ(l_->stats().reads, before.reads + 1);
  EXPECT_EQ(l_->stats().reads_reused, before.reads_reused + 1);
  // A write of this ledger ends the held read: it and every read after it see everything.
  earn("card:2", 1, "r2");
  EXPECT_EQ(balance_of(*l_, "card:1"), 55);
  EXPECT_EQ(l_->stats().reads_reused, before.reads_reused + 1);
  // So does with_db (admin tools, verify).
  EXPECT_EQ(balance_of(*l_, "card:2"), 1);
  EXPECT_EQ(scalar("SELECT balance FROM accounts WHERE account_id = '" + account + "'"), 55);
  auto report = verify(*l_);
  EXPECT_TRUE(report.ok()) << report.problems.front();
}

TEST_F(LedgerTest, AHeldReadIsNotReusedPastItsWindowOrWhenReuseIsOff) {
  l_.reset();
  opts_.read_reuse_us = 2000;
  l_ = SqliteLedger::open(opts_);
  const std::string account = earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.checkpoint_pages = 0;
  o.read_reuse_us = 0;
  auto other = SqliteLedger::open(o);
  EXPECT_EQ(balance_of(*l_, "card:1"), 45);
  for (int i = 1; i <= 3; ++i) {
    {
      auto tx = other->begin_write();
      app::EntryRow e = entry("adj" + std::to_string(i), account, "adjust", 10, at("2026-11-22T10:16:00-06:00"));
      credit(*tx, e);
      tx->commit();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // past the 2 ms window
    EXPECT_EQ(balance_of(*l_, "card:1"), 45 + 10 * i);
    // With reuse off, every read is its own transaction and sees the latest commit.
    EXPECT_EQ(balance_of(*other, "card:1"), 45 + 10 * i);
    EXPECT_EQ(balance_of(*other, "card:1"), 45 + 10 * i);
  }
  EXPECT_EQ(other->stats().reads, 6u);
  EXPECT_EQ(other->stats().reads_reused, 0u);
}

// Runs a TRUNCATE checkpoint on a connection of its own, without waiting for readers;
// true when it completed (no reader kept the WAL from starting over).
bool wal_truncates(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, nullptr);
  const bool done = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return done;
}

TEST_F(LedgerTest, AnIdleHeldReadIsEndedSoTheWalCanStartOver) {
  l_.reset();
  opts_.read_reuse_us = 100'000;
  opts_.idle_wake_ms = 10;
  l_ = SqliteLedger::open(opts_);
  earn("card:1", 45, "r1");  // the WAL holds frames: a reader of them pins it
  const auto read_at = std::chrono::steady_clock::now();
  EXPECT_EQ(balance_of(*l_, "card:1"), 45);
  const bool pinned = !wal_truncates(opts_.path);
  // The held read, at most 100 ms old, pins the WAL (unless this thread was descheduled past
  // the window: it failed once so under the sanitizer run's full load).
  if (std::chrono::steady_clock::now() - read_at < std::chrono::milliseconds(50)) {
    EXPECT_TRUE(pinned);
  }
  // No other call comes; the background thread ends the read once the window has passed.
  bool done = false;
  for (int i = 0; i < 100 && !done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    done = wal_truncates(opts_.path);
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(balance_of(*l_, "card:1"), 45);
}

TEST_F(LedgerTest, PointsReportSumsByBusinessDayAndBranch) {
  // 23:30 in Mexico City on the 22nd is already the 23rd in UTC: it counts for the 22nd.
  const BusinessTime late = at("2026-11-22T23:30:00-06:00");
  const BusinessTime next = at("2026-11-23T08:00:00-06:00");
  const std::string a1 = earn("card:1", 45, "r1", late);
  earn("card:2", 10, "r2", late);
  debit(a1, "redeem", 20, "r3", {{"r1", 20}}, late);
  debit(a1, "clawback", 5, "r4", {{"r1", 5}}, next);
  debit(a1, "expire", 3, "r5", {{"r1", 3}}, next);
  {
    auto tx = l_->begin_write();
    app::EntryRow e = entry("r6", a1, "adjust", -2, next);
    tx->append_entry(e, allocations(*tx, a1, {{"r1", 2}}), std::nullopt);
    e = entry("r7", a1, "restore", 4, next);
    e.expires_at = next.plus_days(365);
    tx->append_entry(e, {}, domain::Lot{"r7", a1, next, *e.expires_at, Points(4), Points(4)});
    e = entry("r8", a1, "earn", 6, next);
    e.branch = "B02";  // a sale of branch B02 handled here
    credit(*tx, e);
    e = entry("r9", a1, "refund_correction", 2, next);  // gives back 2 of the 5 clawed back
    credit(*tx, e);
    for (const char* id : {"r6", "r7", "r9"}) tx->put_request("B01", id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->put_request("B02", "r8", app::StoredRequest{kHash, 0, "{}"}, 0);
    for (int i = 0; i < 3; ++i) {
      domain::SaleRecord s;
      s.branch = "B01";
      s.ticket = "T" + std::to_string(i);
      s.at = i < 2 ? late : next;
      tx->put_sale(s);
    }
    tx->commit();
  }
  auto rows = points_report(*l_, "2026-11-22", "2026-11-23", std::nullopt);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].day, "2026-11-22");
  EXPECT_EQ(rows[0].branch, "B01");
  EXPECT_EQ(rows[0].earned, 55);
  EXPECT_EQ(rows[0].redeemed, 20);
  EXPECT_EQ(rows[0].customers, 2);
  EXPECT_EQ(rows[0].sales, 2);
  EXPECT_EQ(rows[1].day, "2026-11-23");
  EXPECT_EQ(rows[1].branch, "B01");
  EXPECT_EQ(rows[1].earned, 0);
  EXPECT_EQ(rows[1].clawed_back, 3);
  EXPECT_EQ(rows[1].expired, 3);
  EXPECT_EQ(rows[1].adjusted, -2);
  EXPECT_EQ(rows[1].restored, 4);
  EXPECT_EQ(rows[1].customers, 1);
  EXPECT_EQ(rows[1].sales, 1);
  EXPECT_EQ(rows[2].day, "2026-11-23");
  EXPECT_EQ(rows[2].branch, "B02");
  EXPECT_EQ(rows[2].earned, 6);
  EXPECT_EQ(rows[2].sales, 0);

  auto b02 = points_report(*l_, "2026-11-01", "2026-11-30", std::string("B02"));
  ASSERT_EQ(b02.size(), 1u);
  EXPECT_EQ(b02[0].earned, 6);
  EXPECT_TRUE(points_report(*l_, "2026-11-24", "2026-11-30", std::nullopt).empty());

  // By instants: only the first day's entries and sales.
  auto by_ms = points_report(*l_, late.unix_ms, late.unix_ms + 1000, std::nullopt);
  ASSERT_EQ(by_ms.size(), 1u);
  EXPECT_EQ(by_ms[0].day, "2026-11-22");
  EXPECT_EQ(by_ms[0].earned, 55);
  EXPECT_EQ(by_ms[0].sales, 2);
  EXPECT_EQ(points_report(*l_, int64_t{0}, next.unix_ms, std::string("B01")).size(), 2u);
  EXPECT_TRUE(verify(*l_).ok());
}

// ---- held groups (LedgerOptions::hold_commit_ms) ------------------------------------------

class HeldGroupTest : public LedgerTest {
 protected:
  // synchronous = full unless given; nothing COMMITs a held group by itself unless a test
  // says so.
  void reopen(int64_t hold_ms = 60'000, int64_t idle_us = 600'000'000, int64_t max_members = 256,
              int synchronous = 2) {
    l_.reset();
    opts_.synchronous = synchronous;
    opts_.hold_commit_ms = hold_ms;
    opts_.hold_idle_us = idle_us;
    opts_.hold_max_members = max_members;
    l_ = SqliteLedger::open(opts_);
  }
  // What another process sees now: a connection of its own that waits for nothing.
  int64_t seen_elsewhere(const std::string& sql) {
    sqlite3* db = nullptr;
    int64_t v = -1;
    if (sqlite3_open_v2(opts_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
  }
  int64_t entries_elsewhere() { return seen_elsewhere("SELECT count(*) FROM entries"); }
  // The files as a SIGKILL of this process leaves them (the OS keeps what was written).
  std::string crash_copy() {
    const std::string to = dir_ + "/crash";
    fs::remove_all(to);
    fs::create_directories(to);
    for (const char* f : {"ledger.db", "ledger.db-wal", "ledger.db-redo"}) {
      if (fs::exists(dir_ + "/" + f)) fs::copy_file(dir_ + "/" + f, to + "/" + f);
    }
    return to + "/ledger.db";
  }
  // Opens what a SIGKILL now leaves: it re-runs `replayed` records and verifies clean with
  // `entries` entries.
  void expect_crash_copy_recovers(uint64_t replayed, int64_t entries) {
    LedgerOptions o = opts_;
    o.path = crash_copy();
    auto after = SqliteLedger::open(o);
    EXPECT_EQ(after->stats().redo_replayed, replayed);
    auto report = verify(*after);
    EXPECT_TRUE(report.ok()) << report.problems.front();
    EXPECT_EQ(report.entries_checked, entries);
  }
  // The group COMMITted, this ledger verifies clean with `entries` entries.
  void expect_flushed_and_verified(int64_t entries) {
    l_->flush();
    auto report = verify(*l_);
    EXPECT_TRUE(report.ok()) << report.problems.front();
    EXPECT_EQ(report.entries_checked, entries);
  }
  int64_t balance(const std::string& ref) {
    auto tx = l_->begin_read();
    auto a = tx->find_account_by_ref(ref);
    tx->commit();
    return a ? a->balance.value() : -1;
  }
  // A held group of two acknowledged writes (card:1 45, card:2 10), then the next `n`
  // COMMITs refused by a commit hook, standing in for a full disk.
  void held_group_of_two_then_refuse_commits(int n) {
    reopen();
    l_->with_db([](sqlite3* db) {
      sqlite3_commit_hook(db, [](void*) -> int { return refused_commits_ > 0 ? (--refused_commits_, 1) : 0; }, nullptr);
    });
    earn("card:1", 45, "r1");
    earn("card:2", 10, "r2");
    refused_commits_ = n;
  }
  static inline std::atomic<int> refused_commits_{0};  // COMMITs still to refuse
};

TEST_F(HeldGroupTest, AWriteIsDurableByItsRecordBeforeAnyCommit) {
  reopen();
  earn("card:1", 45, "r1");
  earn("card:1", 5, "r2");
  earn("card:2", 7, "r3");
  // Acknowledged: each has its record; this ledger's reads see them (inside the group).
  EXPECT_EQ(l_->stats().redo_records, 3u);
  EXPECT_EQ(l_->stats().commits, 0u);
  EXPECT_EQ(balance("card:1"), 50);
  EXPECT_EQ(entries_elsewhere(), 0) << "not COMMITted yet: another process sees the ledger before them";
  // A SIGKILL now: the next open re-runs the three records.
  expect_crash_copy_recovers(3, 3);
  // flush() (verify and reports call it) COMMITs: now everyone sees them.
  l_->flush();
  EXPECT_EQ(l_->stats().held_commits, 1u);
  EXPECT_EQ(entries_elsewhere(), 3);
}

// A held group of normal's size (up to 2,048 writes by default) stays in SQLite's page cache
// until its COMMIT. With 8 MiB (2,048 pages) SQLite spilled a group of 1,024 sales to the
// WAL in mid-group and read the pages back with a system call each (23,299 spills in a
// 100,000-sale replay); the cache is now 16 KiB a member.
TEST_F(HeldGroupTest, ALargeGroupIsNotSpilledBeforeItsCommit) {
  opts_.redo_rotate_bytes = 128 << 20;  // the rows' records (~20 KiB each) would start the log over
  reopen(/*hold_ms=*/60'000, /*idle_us=*/600'000'000, /*max_members=*/-1, /*synchronous=*/1);
  app::QuarantineRow row;
  row.source = "test";
  row.raw = std::string(10'000, 'x');  // three pages a row: ~5,700 in the group, 22 MiB
  row.error_code = "invalid_event";
  const uint64_t commits_before = l_->stats().commits;
  for (int i = 0; i < 1900; ++i) {
    row.received_at_ms = i;
    auto tx = l_->begin_write();
    tx->put_quarantine(row);
    tx->commit();
  }
  EXPECT_EQ(l_->stats().commits, commits_before) << "the 1,900 writes were to be one held group";
  int spilled = -1, highwater = 0;  // with_db COMMITs the group first; the count stays
  l_->with_db([&](sqlite3* db) { sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &spilled, &highwater, 0); });
  EXPECT_EQ(spilled, 0);
  EXPECT_EQ(seen_elsewhere("SELECT count(*) FROM quarantine"), 1900);
}

// The default: synchronous = normal holds groups too, and its records are written to the OS
// without an fdatasync. A crash of the process (the OS keeps what was written) loses none.
TEST_F(HeldGroupTest, WithNormalARecordNotSyncedStillSurvivesACrashOfTheProcess) {
  reopen(/*hold_ms=*/60'000, /*idle_us=*/600'000'000, /*max_members=*/256, /*synchronous=*/1);
  ASSERT_TRUE(l_->redo_mode()) << "normal keeps the redo log for its held groups";
  earn("card:1", 45, "r1");
  earn("card:2", 10, "r2");
  EXPECT_EQ(l_->stats().commits, 0u);
  EXPECT_EQ(l_->stats().redo_records, 2u);
  EXPECT_EQ(entries_elsewhere(), 0);
  expect_crash_copy_recovers(2, 2);
}

TEST_F(HeldGroupTest, AReaderOpenedAfterACrashSeesEveryAcknowledgedWrite) {
  reopen();
  earn("card:1", 45, "r1");
  earn("card:2", 10, "r2");
  LedgerOptions o = opts_;
  o.path = crash_copy();
  o.read_only = true;  // loyaltyctl balance / verify / report
  auto reader = SqliteLedger::open(o);
  EXPECT_EQ(reader->unapplied_log(), "");
  auto report = verify(*reader);
  EXPECT_TRUE(report.ok()) << report.problems.front();
  EXPECT_EQ(report.entries_checked, 2) << "the reader's open re-ran the records on a connection of its own";
}

TEST_F(HeldGroupTest, AReaderThatCannotReRunTheRecordsSaysSo) {
  reopen();
  earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.path = crash_copy();
  o.read_only = true;
  {
    // Stands in for a reader that may not write, or a log that no longer fits the ledger.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'refused'); END",
                           nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto reader = SqliteLedger::open(o);
  EXPECT_NE(reader->unapplied_log().find(o.path + "-redo"), std::string::npos) << reader->unapplied_log();
  EXPECT_NE(reader->unapplied_log().find("refused"), std::string::npos) << reader->unapplied_log();
  EXPECT_EQ(verify(*reader).entries_checked, 0) << "as of the last COMMIT";
  // With nothing left to re-run, a reader has nothing to say.
  LedgerOptions clean = opts_;
  clean.read_only = true;
  l_->flush();
  EXPECT_EQ(SqliteLedger::open(clean)->unapplied_log(), "");
}

TEST_F(HeldGroupTest, AReaderOpenedWhileThePosRunsWaitsOnlyForItsCommit) {
  // The POS is alive with a group open (its records lie past the last COMMIT); it COMMITs it
  // 300 ms after its last write. The reader does not re-run the records (the POS does), and
  // does not wait busy_timeout_ms (5 s) for the write lock either: it waits for that COMMIT,
  // and then sees the write like every acknowledged one. (It waited the whole 5 s before.)
  opts_.busy_timeout_ms = 5000;
  reopen(/*hold_ms=*/60'000, /*idle_us=*/300'000);
  earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.read_only = true;
  const auto began = std::chrono::steady_clock::now();
  auto reader = SqliteLedger::open(o);
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(2));
  EXPECT_EQ(reader->stats().redo_replayed, 0u);
  EXPECT_EQ(reader->unapplied_log(), "");
  // The POS counts its COMMIT just after making it (and after its WAL sync), so the reader,
  // which returns as soon as it sees it, may be a moment ahead of the count (seen once under
  // ASan: 0 at the time of the check).
  const auto counted_by = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (l_->stats().held_commits == 0 && std::chrono::steady_clock::now() < counted_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(l_->stats().held_commits, 1u) << "the POS COMMITted its group itself";
  auto tx = reader->begin_read();
  auto acc = tx->find_account_by_ref("card:1");
  ASSERT_TRUE(acc.has_value());
  EXPECT_EQ(acc->balance.value(), 45);
  tx->commit();
}

TEST_F(HeldGroupTest, AReaderBesideAWriterThatNeverCommitsGivesUpAfterBusyTimeoutAndSaysSo) {
  opts_.busy_timeout_ms = 300;
  reopen();  // holds for a minute
  earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.read_only = true;
  auto reader = SqliteLedger::open(o);
  EXPECT_NE(reader->unapplied_log().find("has not COMMITted its latest acknowledged writes"), std::string::npos)
      << reader->unapplied_log();
  EXPECT_EQ(verify(*reader).entries_checked, 0) << "as of the last COMMIT";
}

TEST_F(HeldGroupTest, TheGroupIsCommittedWhenTheWritesPauseOrItIsFull) {
  reopen(/*hold_ms=*/60'000, /*idle_us=*/2'000, /*max_members=*/5);
  for (int i = 0; i < 12; ++i) earn("card:" + std::to_string(i % 3), 1, "r" + std::to_string(i));
  // Full at 5 and at 10 members: COMMITted by the writes that filled them.
  EXPECT_EQ(l_->stats().held_commits, 2u);
  // The last two: by the background thread, once no write came for 2 ms.
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    seen = entries_elsewhere() == 12;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << entries_elsewhere();
  EXPECT_EQ(l_->stats().held_commits, 3u);
  EXPECT_EQ(l_->stats().redo_records, 12u);
}

TEST_F(HeldGroupTest, AFailedWriteUndoesOnlyItselfAndTheGroupGoesOn) {
  reopen();
  const std::string a = earn("card:1", 45, "r1");
  {
    auto tx = l_->begin_write();
    app::EntryRow e = entry("bad", a, "earn", 99, at("2026-11-22T10:15:00-06:00"));
    credit(*tx, e);
    // no commit: the call failed after its first statements
  }
  EXPECT_EQ(balance("card:1"), 45);
  earn("card:1", 5, "r2");
  EXPECT_EQ(l_->stats().redo_records, 2u) << "the failed write left no record";
  expect_crash_copy_recovers(2, 2);
  l_->flush();
  EXPECT_EQ(seen_elsewhere("SELECT balance FROM accounts"), 50);
  EXPECT_EQ(seen_elsewhere("SELECT count(*) FROM entries WHERE entry_id = 'bad'"), 0);
}

TEST_F(HeldGroupTest, AnotherProcessWaitsForTheGroupThenSeesIt) {
  reopen(/*hold_ms=*/60'000, /*idle_us=*/5'000);
  const std::string a = earn("card:1", 45, "r1");
  LedgerOptions o = opts_;
  o.checkpoint_pages = 0;  // loyaltyctl, say (no background thread: no held groups)
  o.balance_projection = false;
  auto other = SqliteLedger::open(o);
  {
    auto tx = other->begin_write();  // waits for the write lock, which the group holds
    auto acc = tx->find_account_by_ref("card:1");
    ASSERT_TRUE(acc.has_value());
    EXPECT_EQ(acc->balance.value(), 45);
    app::EntryRow e = entry("adj", a, "adjust", 10, at("2026-11-22T10:16:00-06:00"));
    credit(*tx, e);
    tx->put_request("B01", e.request_id, app::StoredRequest{kHash, 0, "{}"}, 0);
    tx->commit();
  }
  // This ledger sees the other's commit (data_version) in its next group.
  earn("card:1", 1, "r2");
  EXPECT_EQ(balance("card:1"), 56);
  expect_flushed_and_verified(3);
}

// A COMMIT that fails after members were acknowledged: the group is rolled back and its
// records re-run, as at open.
TEST_F(HeldGroupTest, ACommitThatFailsIsRebuiltFromTheRecords) {
  held_group_of_two_then_refuse_commits(1);
  EXPECT_NO_THROW(l_->flush()) << "the records kept both writes: nothing is lost to report";
  EXPECT_EQ(l_->stats().held_recoveries, 1u);
  EXPECT_EQ(entries_elsewhere(), 2);
  EXPECT_EQ(balance("card:1"), 45);
  earn("card:1", 5, "r3");
  EXPECT_EQ(balance("card:1"), 50);
  expect_flushed_and_verified(3);
}

// The COMMIT fails and so does the re-run of the records (the disk is still full): calls
// are refused, naming the log, until a re-run succeeds. A call tries it again at most every
// kBrokenRetry, so the ledger heals by itself once the disk has room (no reopen needed).
TEST_F(HeldGroupTest, ALedgerThatCouldNotReRunItsRecordsTriesAgainLater) {
  held_group_of_two_then_refuse_commits(2);  // the group's COMMIT, then the re-run's
  EXPECT_THROW(l_->flush(), StoreFailure) << "the COMMIT's own failure";
  EXPECT_EQ(refused_commits_, 0);
  EXPECT_EQ(l_->stats().held_recoveries, 1u);
  expect_failure([&] { earn("card:1", 5, "r3"); }, ErrorCode::kUnavailable,
                 "ledger.db-redo; the ledger tries again every 1000 ms");
  // Reads too: the balance would lack acknowledged writes.
  expect_failure([&] { balance("card:1"); }, ErrorCode::kUnavailable, "could not COMMIT writes it had acknowledged");
  EXPECT_EQ(l_->stats().held_repairs, 0u) << "no second re-run before kBrokenRetry";
  std::this_thread::sleep_for(SqliteLedger::kBrokenRetry + std::chrono::milliseconds(20));
  EXPECT_EQ(balance("card:1"), 45) << "the next call re-ran the records";
  EXPECT_EQ(l_->stats().held_repairs, 1u);
  EXPECT_EQ(entries_elsewhere(), 2);
  earn("card:1", 5, "r3");
  EXPECT_EQ(balance("card:1"), 50);
  expect_flushed_and_verified(3);
}

}  // namespace
}  // namespace loyalty::ledger
