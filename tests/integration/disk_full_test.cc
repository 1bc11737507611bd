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
// Both with `synchronous = "full"` (a COMMIT per sale) and `"normal"` (held groups: a sale
// is durable in the redo log and COMMITted with the next ones, so a full disk can also
// refuse the COMMIT of sales already acknowledged).
// Needs a private mount namespace (root, or user namespaces): skipped, saying so, without.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crash_requests.h"
#include "integration_support.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "loyalty/loyalty.h"

namespace {

namespace fs = std::filesystem;
using integration::Api;
using integration::call;
using integration::Db;
using integration::load_api;

// A tmpfs of `size` mounted on `dir`, seen by this process only. Empty on success, else why not.
std::string mount_private_tmpfs(const std::string& dir, const std::string& size) {
  if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  const std::string options = "size=" + size + ",mode=0700";
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return std::string("mount tmpfs: ") + std::strerror(errno);
  }
  return {};
}

// Writes `path` until the filesystem refuses (ENOSPC): every byte left, down to 512.
int64_t fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  int64_t total = 0;
  const std::string chunk(64 << 10, 'x');
  for (size_t n = chunk.size(); n >= 512; n /= 2) {
    for (ssize_t w; (w = ::write(fd, chunk.data(), n)) > 0;) total += w;
  }
  ::close(fd);
  return total;
}

struct Outcome {
  int acknowledged_while_full = 0;
  std::vector<int> failed;      // sale numbers answered with an error while the disk was full
  std::string first_failure;    // its response
};

void run(const std::string& synchronous) {
  char tmpl[] = "/tmp/loyalty-diskfull-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string disk = dir + "/disk";
  fs::create_directory(disk);
  if (const std::string why = mount_private_tmpfs(disk, "16m"); !why.empty()) {
    fs::remove_all(dir);
    GTEST_SKIP() << "cannot give the ledger a small filesystem of its own: " << why;
  }
  const std::string config = dir + "/loyalty.toml";
  const std::string db_path = disk + "/ledger.db";
  std::ofstream(config) << "[plugin]\nbranch = \"B01\"\ndb = \"disk/ledger.db\"\nsynchronous = \"" << synchronous
                        << "\"\n\n[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
                           "excluded_payment_methods = [\"credit_card\"]\n\n"
                           "[program.overrides.sku]\n\"GIFT-100\" = \"0\"\n";

  const Api api = load_api();
  ASSERT_TRUE(api.so && api.open && api.handle && api.free && api.close) << dlerror();
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  ASSERT_EQ(api.open(config.c_str(), &p, &err), 0) << (err != nullptr ? err : "");

  constexpr int kRun = 0;
  std::map<int, int64_t> earned;  // sale number -> what its acknowledgement said
  auto sale = [&](int k, int* rc) { return call(api, p, crash::sale_body(kRun, k), rc); };
  int k = 0;
  for (; k < 100; ++k) {
    int rc = 0;
    const std::string r = sale(k, &rc);
    ASSERT_EQ(rc, 0) << r;
    earned[k] = crash::earned_of(r.c_str());
  }

  const std::string filler = disk + "/filler";
  const int64_t filled = fill(filler);
  ASSERT_GT(filled, 0);
  Outcome full;
  for (int in_a_row = 0; in_a_row < 20 && k < 5000; ++k) {
    int rc = 0;
    const std::string r = sale(k, &rc);
    if (rc == 0) {
      earned[k] = crash::earned_of(r.c_str());
      ++full.acknowledged_while_full;
      in_a_row = 0;
      continue;
    }
    ++in_a_row;
    if (full.failed.empty()) full.first_failure = r;
    full.failed.push_back(k);
    EXPECT_EQ(rc, LOYALTY_ERR_UNAVAILABLE) << "sale " << k << " while the disk is full: " << r;
    EXPECT_NE(r.find("\"code\":\"unavailable\""), std::string::npos) << r;
  }
  std::printf("synchronous=%s: filled %lld bytes; %d sales acknowledged, then %zu failed while full; first: %s\n",
              synchronous.c_str(), static_cast<long long>(filled), full.acknowledged_while_full, full.failed.size(),
              full.first_failure.c_str());
  ASSERT_GE(full.failed.size(), 20u) << "the disk never refused a sale: the test injected no fault";
  // A malformed request cannot be kept in quarantine now: it is refused as `unavailable`
  // (send it again), naming what is wrong with it too, rather than answered and forgotten.
  const std::string malformed = "{\"type\":\"sale.completed\",";
  {
    int rc = 0;
    const std::string r = call(api, p, malformed, &rc);
    EXPECT_EQ(rc, LOYALTY_ERR_UNAVAILABLE) << r;
    EXPECT_NE(r.find("not valid JSON"), std::string::npos) << r;
    EXPECT_NE(r.find("cannot keep the request in quarantine now"), std::string::npos) << r;
  }
  // Reads need no space: answered, unless acknowledged writes are only in the redo log
  // (held groups whose COMMIT the disk refused), which the answer would miss.
  {
    int rc = 0;
    const std::string r =
        call(api, p, R"({"type":"balance.query","id":"q","at":"2026-11-22T12:00:00-06:00","customer":"card:4000001"})",
             &rc);
    if (synchronous == "full") {
      EXPECT_EQ(rc, 0) << r;
    } else if (rc != 0) {
      EXPECT_EQ(rc, LOYALTY_ERR_UNAVAILABLE) << r;
      EXPECT_NE(r.find("could not COMMIT writes it had acknowledged"), std::string::npos) << r;
    }
  }
  EXPECT_NE(full.first_failure.find("disk full"), std::string::npos)
      << "the failure should say the disk is full: " << full.first_failure;

  // Space comes back. The same plugin, without a reopen, takes the failed sales again: the
  // first resend may still be refused for up to SqliteLedger::kBrokenRetry (1 s), while a
  // ledger that could not re-run its acknowledged writes waits to try again; a POS resends.
  ASSERT_TRUE(fs::remove(filler));
  const auto began = std::chrono::steady_clock::now();
  int refused_after = 0;
  std::string last;
  for (int rc = -1; rc != 0; ++refused_after) {
    ASSERT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5))
        << "still refused 5 s after the disk has space again: " << last;
    if (rc > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    last = sale(full.failed.front(), &rc);
    ASSERT_TRUE(rc == 0 || rc == LOYALTY_ERR_UNAVAILABLE) << last;
  }
  earned[full.failed.front()] = crash::earned_of(last.c_str());
  std::printf("  with space again: the first resend succeeded after %d refusals, %.0f ms\n", refused_after - 1,
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
  for (size_t i = 1; i < full.failed.size(); ++i) {
    const int f = full.failed[i];
    int rc = 0;
    const std::string r = sale(f, &rc);
    ASSERT_EQ(rc, 0) << "resending sale " << f << " once the disk has space again: " << r;
    earned[f] = crash::earned_of(r.c_str());
  }
  {
    int rc = 0;
    const std::string r = call(api, p, malformed, &rc);
    EXPECT_EQ(rc, LOYALTY_ERR_INVALID_JSON) << "sent again, it is kept in quarantine now: " << r;
  }
  for (const int end = k + 50; k < end; ++k) {
    int rc = 0;
    const std::string r = sale(k, &rc);
    ASSERT_EQ(rc, 0) << r;
    earned[k] = crash::earned_of(r.c_str());
  }
  // Every acknowledged sale answers what it answered the first time.
  for (const auto& [n, e] : earned) {
    int rc = 0;
    const std::string r = sale(n, &rc);
    ASSERT_EQ(rc, 0) << r;
    EXPECT_EQ(crash::earned_of(r.c_str()), e) << "sale " << n;
  }
  api.close(p);

  int64_t total = 0;
  for (const auto& [n, e] : earned) total += e;
  {
    Db db(db_path);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sales"), static_cast<int64_t>(earned.size()));
    EXPECT_EQ(db.scalar("SELECT count(*) FROM requests"), static_cast<int64_t>(earned.size()));
    EXPECT_EQ(db.scalar("SELECT coalesce(sum(earned), 0) FROM sales"), total);
    EXPECT_EQ(db.scalar("SELECT coalesce(sum(balance), 0) FROM accounts"), total);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM quarantine"), 1) << "the malformed request, once";
    EXPECT_EQ(db.rows("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  }
  loyalty::ledger::LedgerOptions o;
  o.path = db_path;
  o.read_only = true;
  auto ledger = loyalty::ledger::SqliteLedger::open(o);
  const auto report = loyalty::ledger::verify(*ledger);
  EXPECT_TRUE(report.ok()) << report.problems.size() << " problems, first: "
                           << (report.problems.empty() ? "" : report.problems.front());
  ledger.reset();
  umount2(disk.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(DiskFullTest, FullSyncFailsCleanlyAndRecovers) { run("full"); }
TEST(DiskFullTest, NormalSyncHeldGroupsFailCleanlyAndRecover) { run("normal"); }

}  // namespace
