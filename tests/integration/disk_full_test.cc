// Disk full under a stream of sales, through the real libloyalty.so (dlopen).
//
// The ledger lives on a tmpfs of its own (16 MiB, in a private mount namespace of this test
// process, so nothing else on the machine sees it or runs out of space). After 100 sales a
// filler file takes every byte left, and sales go on until 20 in a row have failed. Then
// the filler is deleted, as an admin freeing space would, and without reopening the plugin:
//  - every sale that failed while the disk was full was answered `unavailable` (code 7,
//    "may succeed later"), saying the disk is full, and nothing else (no crash, no
//    `internal`);
//  - resending each failed sale (same id, same body, as a POS does) now succeeds, and so do
//    new sales: the plugin recovers by itself once there is space (within a second);
//  - every acknowledged sale, before and during the full disk, is in the ledger exactly once
//    with what it earned (resending it returns the stored answer);
//  - a malformed request, which cannot be kept in quarantine while the disk is full, is
//    refused `unavailable` (send it again), and quarantined once when sent again;
//  - a balance.query is answered meanwhile (with held groups, unless their COMMIT failed);
//  - after close, verify is clean, integrity_check says ok, and the balances add up.
// And a POS killed (SIGKILL) while its disk is full: once space is back, the reopened plugin
// holds every acknowledged sale once (re-run from the redo log if its COMMIT was refused) and
// none of the refused ones, and takes the refused ones when they are resent.
// Both with `synchronous = "full"` (a COMMIT per sale) and `"normal"` (held groups: a sale
// is durable in the redo log and COMMITted with the next ones, so a full disk can also
// refuse the COMMIT of sales already acknowledged).
// Needs a private mount namespace (root: CAP_SYS_ADMIN, as CI runs): skipped, saying so, without.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crash_requests.h"
#include "abi_support.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "loyalty/loyalty.h"
#include "private_tmpfs.h"

namespace {

namespace fs = std::filesystem;
using abi_test::api;
using abi_test::LedgerReader;
using abi_test::send;
using test_support::fill;
using test_support::mount_private_tmpfs;

constexpr int kRun = 0;
const char kMalformed[] = "{\"type\":\"sale.completed\",";

// Sales 0, 1, ... are crash::sale_body(kRun, k); `earned` maps each acknowledged one to
// what its answer said.
using Earned = std::map<int, int64_t>;

class DiskFullTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-diskfull-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ + "/disk";
    fs::create_directory(disk_);
    if (const std::string why = mount_private_tmpfs(disk_, "16m"); !why.empty()) {
      fs::remove_all(dir_);
      GTEST_SKIP() << "cannot give the ledger a small filesystem of its own: " << why;
    }
    mounted_ = true;
    config_ = dir_ + "/loyalty.toml";
    db_path_ = disk_ + "/ledger.db";
    std::ofstream(config_) << "[plugin]\nbranch = \"B01\"\ndb = \"disk/ledger.db\"\nsynchronous = \"" << GetParam()
                           << "\"\n\n[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
                              "excluded_payment_methods = [\"credit_card\"]\n\n"
                              "[program.overrides.sku]\n\"GIFT-100\" = \"0\"\n";
  }
  void TearDown() override {
    if (!mounted_) return;
    umount2(disk_.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string sale(loyalty_plugin* p, int k, int* rc) {
    const abi_test::Reply r = send(p, crash::sale_body(kRun, k));
    *rc = r.code;
    return r.text;
  }

  // Sales from `k` on until the disk has refused 20 in a row: the acknowledged ones go to
  // `earned`, the numbers of the refused ones are returned. Fills the disk first.
  std::vector<int> sell_on_a_full_disk(loyalty_plugin* p, int& k, Earned& earned) {
    const int64_t filled = fill(filler());
    EXPECT_GT(filled, 0);
    std::vector<int> failed;
    std::string first_failure;
    int acknowledged = 0;
    for (int in_a_row = 0; in_a_row < 20 && k < 5000; ++k) {
      int rc = 0;
      const std::string r = sale(p, k, &rc);
      if (rc == 0) {
        earned[k] = crash::earned_of(r.c_str());
        ++acknowledged;
        in_a_row = 0;
        continue;
      }
      ++in_a_row;
      if (failed.empty()) first_failure = r;
      failed.push_back(k);
      EXPECT_EQ(rc, LOYALTY_ERR_UNAVAILABLE) << "sale " << k << " while the disk is full: " << r;
      EXPECT_NE(r.find("\"code\":\"unavailable\""), std::string::npos) << r;
    }
    std::printf("synchronous=%s: filled %lld bytes; %d sales acknowledged, then %zu failed while full; first: %s\n",
                GetParam().c_str(), static_cast<long long>(filled), acknowledged, failed.size(), first_failure.c_str());
    EXPECT_GE(failed.size(), 20u) << "the disk never refused a sale: the test injected no fault";
    EXPECT_NE(first_failure.find("disk full"), std::string::npos)
        << "the failure should say the disk is full: " << first_failure;
    return failed;
  }

  // With space again: resends the refused sales (each now succeeds), sells 50 more, and
  // resends every acknowledged one (each answers what it answered the first time).
  void resend_and_sell_on(loyalty_plugin* p, const std::vector<int>& failed, int& k, Earned& earned) {
    for (int f : failed) {
      int rc = 0;
      const std::string r = sale(p, f, &rc);
      ASSERT_EQ(rc, 0) << "resending sale " << f << " once the disk has space again: " << r;
      earned[f] = crash::earned_of(r.c_str());
    }
    for (const int end = k + 50; k < end; ++k) {
      int rc = 0;
      const std::string r = sale(p, k, &rc);
      ASSERT_EQ(rc, 0) << r;
      earned[k] = crash::earned_of(r.c_str());
    }
    for (const auto& [n, e] : earned) {
      int rc = 0;
      const std::string r = sale(p, n, &rc);
      ASSERT_EQ(rc, 0) << r;
      EXPECT_EQ(crash::earned_of(r.c_str()), e) << "sale " << n;
    }
  }

  // After close: the ledger holds exactly the `earned` sales and `quarantined` requests,
  // its balances add up, and it verifies clean.
  void expect_ledger_of(const Earned& earned, int64_t quarantined) {
    int64_t total = 0;
    for (const auto& [n, e] : earned) total += e;
    {
      LedgerReader db(db_path_);
      EXPECT_EQ(db.scalar("SELECT count(*) FROM sales"), static_cast<int64_t>(earned.size()));
      EXPECT_EQ(db.scalar("SELECT count(*) FROM requests"), static_cast<int64_t>(earned.size()));
      EXPECT_EQ(db.scalar("SELECT coalesce(sum(earned), 0) FROM sales"), total);
      EXPECT_EQ(db.scalar("SELECT coalesce(sum(balance), 0) FROM accounts"), total);
      EXPECT_EQ(db.scalar("SELECT count(*) FROM quarantine"), quarantined);
      EXPECT_EQ(db.rows("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
    }
    loyalty::ledger::LedgerOptions o;
    o.path = db_path_;
    o.read_only = true;
    auto ledger = loyalty::ledger::SqliteLedger::open(o);
    const auto report = loyalty::ledger::verify(*ledger);
    EXPECT_TRUE(report.ok()) << report.problems.size() << " problems, first: "
                             << (report.problems.empty() ? "" : report.problems.front());
  }

  std::string filler() const { return disk_ + "/filler"; }

  std::string dir_, disk_, config_, db_path_;
  bool mounted_ = false;
};

TEST_P(DiskFullTest, SalesAreRefusedCleanlyAndResumeWithoutAReopen) {
  ASSERT_TRUE(api().loaded()) << api().load_error;
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  ASSERT_EQ(api().open(config_.c_str(), &p, &err), 0) << (err != nullptr ? err : "");
  Earned earned;
  int k = 0;
  for (; k < 100; ++k) {
    int rc = 0;
    const std::string r = sale(p, k, &rc);
    ASSERT_EQ(rc, 0) << r;
    earned[k] = crash::earned_of(r.c_str());
  }
  const std::vector<int> failed = sell_on_a_full_disk(p, k, earned);
  ASSERT_FALSE(failed.empty());
  // A malformed request is never answered and forgotten. Either it cannot be kept now: it is
  // refused as `unavailable` (send it again), naming what is wrong with it too. Or its request
  // record found room in the redo log (with `normal` a record is written into the space the
  // log already has, not reserved ahead as with `full`): it is answered, and its quarantine
  // row comes with the re-run of the held group once the disk has space.
  int64_t quarantined = 1;
  {
    const abi_test::Reply r = send(p, kMalformed);
    EXPECT_NE(r.text.find("not valid JSON"), std::string::npos) << r.text;
    if (r.code == LOYALTY_ERR_INVALID_JSON && GetParam() == "normal") {
      ++quarantined;
    } else {
      EXPECT_EQ(r.code, LOYALTY_ERR_UNAVAILABLE) << r.text;
      EXPECT_NE(r.text.find("cannot keep the request in quarantine now"), std::string::npos) << r.text;
    }
  }
  // Reads need no space: answered, unless acknowledged writes are only in the redo log
  // (held groups whose COMMIT the disk refused), which the answer would miss. Which of the
  // two the ledger is in depends on when its background thread tried the COMMIT (both
  // settings hold groups: `full` with request records).
  {
    const abi_test::Reply r =
        send(p, R"({"type":"balance.query","id":"q","at":"2026-11-22T12:00:00-06:00","customer":"card:4000001"})");
    if (r.code != 0) {
      EXPECT_EQ(r.code, LOYALTY_ERR_UNAVAILABLE) << r.text;
      EXPECT_NE(r.text.find("could not COMMIT writes it had acknowledged"), std::string::npos) << r.text;
    }
  }

  // Space comes back. The same plugin, without a reopen, takes the refused sales again:
  // the first resend may still be refused for up to SqliteLedger::kBrokenRetry (1 s), while
  // a ledger that could not re-run its acknowledged writes waits to try again; a POS resends.
  ASSERT_TRUE(fs::remove(filler()));
  const auto began = std::chrono::steady_clock::now();
  int refusals = 0;
  for (;; ++refusals) {
    int rc = 0;
    const std::string r = sale(p, failed.front(), &rc);
    if (rc == 0) break;
    ASSERT_EQ(rc, LOYALTY_ERR_UNAVAILABLE) << r;
    ASSERT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5))
        << "still refused 5 s after the disk has space again: " << r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("  with space again: the first resend succeeded after %d refusals, %.0f ms\n", refusals,
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
  resend_and_sell_on(p, failed, k, earned);
  EXPECT_EQ(send(p, kMalformed).code, LOYALTY_ERR_INVALID_JSON) << "sent again, it is kept in quarantine now";
  api().close(p);
  expect_ledger_of(earned, quarantined);
}

// The POS is killed (SIGKILL) while the disk is full, perhaps with acknowledged sales whose
// COMMIT the disk refused; space comes back and the POS starts again: the open re-runs
// them, and every acknowledged sale is there once.
TEST_P(DiskFullTest, APosKilledWhileTheDiskIsFullLosesNothingAcknowledged) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();  // the child shares the private mount of this process
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    FILE* out = fdopen(fds[1], "w");
    loyalty_plugin* p = nullptr;
    char* err = nullptr;
    if (!api().loaded() || api().open(config_.c_str(), &p, &err) != 0) _exit(3);
    Earned earned;
    int k = 0;
    for (; k < 100; ++k) {
      int rc = 0;
      const std::string r = sale(p, k, &rc);
      if (rc != 0) _exit(4);
      std::fprintf(out, "ack %d %lld\n", k, static_cast<long long>(crash::earned_of(r.c_str())));
    }
    const int64_t filled = fill(filler());
    if (filled <= 0) _exit(5);
    for (int in_a_row = 0; in_a_row < 20 && k < 5000; ++k) {
      int rc = 0;
      const std::string r = sale(p, k, &rc);
      if (rc == 0) {
        std::fprintf(out, "ack %d %lld\n", k, static_cast<long long>(crash::earned_of(r.c_str())));
        in_a_row = 0;
      } else {
        std::fprintf(out, "fail %d %d\n", k, rc);
        ++in_a_row;
      }
    }
    std::fflush(out);
    raise(SIGKILL);
  }
  ::close(fds[1]);
  std::string lines;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) lines.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child ended with status " << status;

  Earned earned;
  std::vector<int> failed;
  std::istringstream in(lines);
  std::string what;
  int k = 0;
  long long v = 0;
  while (in >> what >> k >> v) {
    if (what == "ack") {
      earned[k] = v;
    } else {
      EXPECT_EQ(v, LOYALTY_ERR_UNAVAILABLE) << "sale " << k;
      failed.push_back(k);
    }
  }
  ASSERT_GE(failed.size(), 20u) << "the disk never refused a sale: the test injected no fault";
  ++k;
  std::printf("synchronous=%s: killed with %zu sales acknowledged, %zu refused\n", GetParam().c_str(), earned.size(),
              failed.size());

  ASSERT_TRUE(fs::remove(filler()));
  ASSERT_TRUE(api().loaded()) << api().load_error;
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  ASSERT_EQ(api().open(config_.c_str(), &p, &err), 0) << (err != nullptr ? err : "");
  {
    LedgerReader db(db_path_);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM requests"), static_cast<int64_t>(earned.size()))
        << "after the reopen: every acknowledged sale, and none of the refused ones";
  }
  resend_and_sell_on(p, failed, k, earned);
  api().close(p);
  expect_ledger_of(earned, 0);
}

INSTANTIATE_TEST_SUITE_P(Sync, DiskFullTest, ::testing::Values("full", "normal"),
                         [](const auto& info) { return info.param; });

}  // namespace
