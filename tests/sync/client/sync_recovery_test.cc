// Restore from backup (R16, docs/sync.md "Branch recovery") with a real loyalty-hub process
// and branch runtimes (the plugin's bootstrap with its sync thread) on 127.0.0.1:
//  - a branch ledger replaced by an older copy (SQLite backup API, swapped while closed) gets
//    a new node epoch and its lost entries back from the hub;
//  - the hub database replaced by an older copy: branches re-push from the hub's acked seq,
//    and a branch that was offline meanwhile notices that the offsets it had applied now name
//    other entries and refetches (the cht-core#8093 scenario);
//  - the owner-side expiry sweep reaches a branch the customer never revisits.
// Every test ends with identical entry sets and balances on every node and verify clean.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "branch_net.h"
#include "eventually.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BranchNet;
using testing::HubProcess;

// SQLite's online backup of the open connection `src` into the file `to`.
void backup_to(sqlite3* src, const fs::path& to) {
  sqlite3* dst = nullptr;
  ASSERT_EQ(sqlite3_open(to.c_str(), &dst), SQLITE_OK);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  ASSERT_NE(b, nullptr) << sqlite3_errmsg(dst);
  EXPECT_EQ(sqlite3_backup_step(b, -1), SQLITE_DONE);
  EXPECT_EQ(sqlite3_backup_finish(b), SQLITE_OK);
  sqlite3_close(dst);
}

void backup_file(const fs::path& from, const fs::path& to) {
  sqlite3* src = nullptr;
  ASSERT_EQ(sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  backup_to(src, to);
  sqlite3_close(src);
}

// Puts the older copy in place of a closed database (its WAL, shared memory and redo log go
// too: the redo log would bring the newer transactions back, ledger/src/redo_log.h).
void restore(const fs::path& copy, const fs::path& db) {
  for (const char* suffix : {"", "-wal", "-shm", "-redo"}) fs::remove(db.string() + suffix);
  fs::copy_file(copy, db);
}

using testing::kProgram;

using testing::eventually;

// A BranchNet whose hub keeps one port across restarts (its configuration is written once),
// so that it comes back where the branches look for it, also with an older database.
class SyncRecoveryTest : public ::testing::Test {
 protected:
  SyncRecoveryTest() : net_("recovery") {
    net_.hub().write_config(HubProcess::loopback_config(HubProcess::free_port()));
  }

  void add_tokens(std::initializer_list<const char*> names) {
    for (const char* b : names) net_.add_token(b);
  }
  bool start_hub() { return net_.hub().start() != 0; }
  fs::path hub_db() const { return net_.dir() / "hub.db"; }
  void open_branch(const std::string& b, const std::string& program = "") {
    ASSERT_TRUE(net_.open(b, "ws://127.0.0.1:" + std::to_string(net_.hub().port()) + "/v1/sync",
                          kProgram + program));
  }
  fs::path db(const std::string& b) const { return net_.dir() / (b + ".db"); }
  sync::ClientStats stats(const std::string& b) { return net_.stats(b); }
  int64_t sql_int(const std::string& b, const std::string& sql) { return net_.sql_int(b, sql); }
  bool converged(std::chrono::seconds limit = std::chrono::seconds(30)) {
    return net_.converged(limit);
  }
  // The hub committed every own entry of `b` (acked == the ledger's own maximum).
  bool all_acked(const std::string& b) {
    return eventually(
        [&] {
          return stats(b).acked_seq ==
                 sql_int(b, "SELECT coalesce(max(origin_seq), 0) FROM entries WHERE "
                            "origin_branch = '" + b + "'");
        },
        std::chrono::seconds(30));
  }
  void expect_same_everywhere(const std::vector<std::string>& customers) {
    net_.expect_verify_clean();
    const auto names = net_.names();
    for (const auto& b : names) {
      for (const auto& c : customers) {
        EXPECT_EQ(net_.balance(b, c), net_.balance(names.front(), c)) << b << " " << c;
      }
    }
  }

  BranchNet net_;
};

TEST_F(SyncRecoveryTest, BranchRestoredFromAnOlderCopyGetsANewEpochAndItsEntriesBack) {
  add_tokens({"B1", "B2"});
  ASSERT_TRUE(start_hub());
  open_branch("B1");
  open_branch("B2");
  net_.sale("B1", "card:1", "S1", "45.00");  // 45 points
  net_.sale("B2", "card:1", "S2", "10.00");  // 10
  ASSERT_TRUE(converged());
  net_.ledger("B1").with_db([&](sqlite3* raw) { backup_to(raw, net_.dir() / "B1-old.db"); });
  const int64_t backup_max =
      sql_int("B1", "SELECT max(origin_seq) FROM entries WHERE origin_branch = 'B1'");

  // A day of business after the backup, all of it synced, then the disk is replaced.
  for (int i = 0; i < 30; ++i)
    net_.sale("B1", "card:" + std::to_string(2 + i % 4), "T" + std::to_string(i), "10.00");
  net_.sale("B1", "card:1", "S3", "20.00");  // 20
  const json lost_request = {{"type", "sale.completed"},
                             {"id", "lost-1"},
                             {"ticket", "L1"},
                             {"customer", "card:1"},
                             {"at", "2026-11-22T10:15:00-06:00"},
                             {"lines", {{{"n", 1}, {"amount", "2.00"}}}}};
  EXPECT_EQ(net_.runtime("B1").service().handle(lost_request.dump()).code, 0);  // 1 point
  ASSERT_TRUE(all_acked("B1"));
  ASSERT_TRUE(converged());
  const std::multiset<std::string> before = net_.entries("B2");
  const int64_t lost_max =
      sql_int("B1", "SELECT max(origin_seq) FROM entries WHERE origin_branch = 'B1'");
  const std::string old_epoch = net_.ledger("B1").node_epoch();
  std::map<std::string, int64_t> balances;
  for (int c = 1; c <= 5; ++c)
    balances["card:" + std::to_string(c)] = net_.balance("B2", "card:" + std::to_string(c));
  EXPECT_EQ(balances["card:1"], 76);
  net_.close("B1");
  restore(net_.dir() / "B1-old.db", db("B1"));
  open_branch("B1");

  ASSERT_TRUE(
      eventually([&] { return stats("B1").restores_detected == 1 && !stats("B1").recovering; },
                 std::chrono::seconds(30)));
  const std::string new_epoch = net_.ledger("B1").node_epoch();
  EXPECT_NE(new_epoch, old_epoch);
  EXPECT_EQ(stats("B1").node_epoch, new_epoch);
  EXPECT_EQ(stats("B1").recovered, lost_max - backup_max);
  EXPECT_EQ(stats("B1").recovery_conflicts, 0);
  for (const auto& [c, bal] : balances) EXPECT_EQ(net_.balance("B1", c), bal) << c;
  // The POS retries a request whose response was lost with the newer copy: it is not applied
  // a second time.
  const size_t n_before_retry = net_.entries("B1").size();
  auto retry = net_.runtime("B1").service().handle(lost_request.dump());
  EXPECT_NE(retry.code, 0) << retry.json;  // refused (docs/sync.md: not answered as before)
  EXPECT_EQ(net_.entries("B1").size(), n_before_retry);
  EXPECT_EQ(net_.balance("B1", "card:1"), 76);

  // New writes: the new epoch, seqs after the hub's; both branches converge.
  net_.sale("B1", "card:1", "S4", "10.00");  // 10
  net_.sale("B2", "card:1", "S5", "10.00");  // 10
  ASSERT_TRUE(all_acked("B1"));
  ASSERT_TRUE(converged());
  const auto after = net_.entries("B1");
  for (const auto& e : before) EXPECT_EQ(after.count(e), 1u) << "lost: " << e;
  EXPECT_EQ(after.size(), before.size() + 2);  // an earn entry per sale
  for (const char* b : {"B1", "B2"}) {
    EXPECT_EQ(
        sql_int(b, "SELECT count(*) FROM entries WHERE origin_branch = 'B1' AND origin_seq > " +
                       std::to_string(lost_max) + " AND node_epoch != '" + new_epoch + "'"),
        0)
        << b;
    EXPECT_EQ(
        sql_int(b, "SELECT count(*) FROM entries WHERE origin_branch = 'B1' AND origin_seq > " +
                       std::to_string(lost_max)),
        1)
        << b;
  }
  EXPECT_EQ(net_.balance("B1", "card:1"), 96);
  expect_same_everywhere({"card:1", "card:2", "card:3", "card:4", "card:5"});
  // Reopening the recovered ledger is quiet: nothing more to fetch, no new epoch.
  net_.close("B1");
  open_branch("B1");
  ASSERT_TRUE(eventually([&] { return stats("B1").connects >= 1; }, std::chrono::seconds(30)));
  EXPECT_EQ(stats("B1").restores_detected, 0);
  EXPECT_EQ(net_.ledger("B1").node_epoch(), new_epoch);
}

TEST_F(SyncRecoveryTest, HubRestoredFromAnOlderCopyLosesNothing) {
  add_tokens({"B1", "B2", "B3"});
  ASSERT_TRUE(start_hub());
  open_branch("B1");
  open_branch("B2");
  open_branch("B3");
  net_.sale("B1", "card:1", "P1", "10.00");
  net_.sale("B2", "card:2", "P2", "10.00");
  net_.sale("B3", "card:3", "P3", "10.00");
  ASSERT_TRUE(converged());
  net_.hub().kill_hard();
  backup_file(hub_db(), net_.dir() / "hub-old.db");
  ASSERT_TRUE(start_hub());

  // After the backup: both B1 and B2 sell; B3 applies all of it.
  for (int i = 0; i < 10; ++i) {
    net_.sale("B1", "card:1", "Q1-" + std::to_string(i), "10.00");
    net_.sale("B2", "card:2", "Q2-" + std::to_string(i), "10.00");
  }
  ASSERT_TRUE(converged());
  // B2 and B3 go offline; the hub's disk is replaced by the older copy.
  net_.close("B2");
  net_.close("B3");
  net_.hub().kill_hard();
  restore(net_.dir() / "hub-old.db", hub_db());
  ASSERT_TRUE(start_hub());
  // B1 re-pushes what the copy lacks and sells more: the hub hands out again the offsets B3
  // had applied, now to other entries.
  for (int i = 0; i < 15; ++i) net_.sale("B1", "card:3", "R1-" + std::to_string(i), "10.00");
  ASSERT_TRUE(all_acked("B1"));
  open_branch("B3");
  open_branch("B2");
  ASSERT_TRUE(converged(std::chrono::seconds(40)))
      << "entries B1/B2/B3: " << net_.entries("B1").size() << "/" << net_.entries("B2").size() << "/"
      << net_.entries("B3").size();
  ASSERT_TRUE(all_acked("B2"));
  EXPECT_EQ(net_.balance("B3", "card:3"), 10 + 15 * 10);
  EXPECT_EQ(net_.balance("B3", "card:1"), 11 * 10);
  expect_same_everywhere({"card:1", "card:2", "card:3"});
}

TEST_F(SyncRecoveryTest, OwnerSweepExpiresALotWhoseCustomerOnlyVisitsAnotherBranch) {
  add_tokens({"B1", "B2"});
  ASSERT_TRUE(start_hub());
  open_branch("B1", "expiry_days = 30\n");
  open_branch("B2", "expiry_days = 30\n");
  // Earned in B1 long ago (business time): the lot is past its expiry by the real clock.
  net_.sale("B1", "card:1", "S1", "45.00", "2025-01-10T10:00:00-06:00");
  net_.sale("B1", "card:2", "S2", "10.00");  // not due
  ASSERT_TRUE(converged());
  ASSERT_TRUE(eventually([&] { return stats("B1").sweeps >= 1 && stats("B2").sweeps >= 1; },
                         std::chrono::seconds(10)));
  const int64_t sweeps = stats("B1").sweeps;
  net_.runtime("B1").sync_client()->sweep_now();
  net_.runtime("B2").sync_client()->sweep_now();
  ASSERT_TRUE(eventually([&] { return stats("B1").sweeps > sweeps; }, std::chrono::seconds(10)));
  ASSERT_TRUE(converged());
  EXPECT_EQ(stats("B1").expired, 1);
  EXPECT_EQ(stats("B2").expired, 0);  // never the expiry of another branch's lot
  for (const char* b : {"B1", "B2"}) {
    EXPECT_EQ(sql_int(b,
                      "SELECT count(*) FROM entries WHERE entry_id = 'expire:B1/B1-1/earn' "
                      "AND origin_branch = 'B1' AND points = -45"),
              1)
        << b;
    EXPECT_EQ(sql_int(b,
                      "SELECT sum(points) FROM entries e JOIN aliases a ON a.account_id = "
                      "e.account_id WHERE a.ref LIKE '%1'"),
              0)
        << b;
  }
  // Again: nothing more to expire, nothing written twice.
  const auto before = net_.entries("B2");
  const int64_t sweeps2 = stats("B1").sweeps;
  net_.runtime("B1").sync_client()->sweep_now();
  ASSERT_TRUE(eventually([&] { return stats("B1").sweeps > sweeps2; }, std::chrono::seconds(10)));
  EXPECT_EQ(stats("B1").expired, 1);
  ASSERT_TRUE(converged());
  EXPECT_EQ(net_.entries("B2"), before);
  expect_same_everywhere({"card:1", "card:2"});
}

}  // namespace
}  // namespace loyalty
