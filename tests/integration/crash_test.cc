// R1 (shared/design/ledger-and-sync.md): kill -9 during writes.
//
// crash_child hammers sales through libloyalty.so and acknowledges each one on stdout
// after loyalty_handle returned. The test kills it with SIGKILL after a random 50-300 ms,
// again and again on the same ledger. After every kill it reopens the ledger through the
// ABI and checks:
//  - every acknowledged sale is in the ledger exactly once: one request row, one sale row,
//    its earn entry; resending it (same id, same body) returns the stored answer with the
//    same `earned` and changes nothing;
//  - at most one more sale of the round (the one in flight: committed, but killed before
//    its acknowledgement was written) is in the ledger; resending it applies it once;
//  - the balances of all customers add up to what the applied sales earned, per customer
//    (balance.query) and in total (accounts);
//  - loyalty::ledger::verify is clean and PRAGMA integrity_check says ok.
// The reopen time after each kill is printed (R1 asks for < 100 ms; measured, not asserted).
// The seed is printed; LOYALTY_CRASH_SEED=<seed> replays the same kill delays (where the
// kill lands inside the child still depends on scheduling). A failing round leaves its
// ledger directory in place for inspection.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crash_requests.h"
#include "abi_support.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "loyalty/loyalty.h"

namespace {

namespace fs = std::filesystem;
using abi_test::api;
using abi_test::LedgerReader;
using abi_test::send;

std::string quoted(const std::string& s) { return "'" + s + "'"; }  // ids here never hold quotes

struct Child {
  pid_t pid = -1;
  int out_fd = -1;
};

// fork + exec crash_child with stdout on a pipe and stderr into `err_path`.
Child spawn_child(const std::string& config, int run, const std::string& err_path) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  // Everything exec needs is prepared before fork (only async-signal-safe calls after it).
  const std::string run_arg = std::to_string(run);
  const char* argv[] = {CRASH_CHILD, LOYALTY_SO, config.c_str(), run_arg.c_str(), nullptr};
  const int err_fd = ::open(err_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    ::close(fds[0]);
    ::close(fds[1]);
    execv(CRASH_CHILD, const_cast<char* const*>(argv));
    _exit(127);
  }
  ::close(fds[1]);
  if (err_fd >= 0) ::close(err_fd);
  if (pid < 0) {
    ::close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Applied {
  std::string customer;
  int64_t earned = 0;
};

struct Totals {
  int kills = 0, kills_mid_stream = 0, inflight_committed = 0;
  int64_t acknowledged = 0;
  double reopen_ms_max = 0, reopen_ms_sum = 0;
};

void run_rounds(const std::string& synchronous, int rounds, Totals& totals) {
  unsigned seed = static_cast<unsigned>(std::random_device{}());
  if (const char* s = std::getenv("LOYALTY_CRASH_SEED"))
    seed = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  std::printf("crash test (synchronous=%s): seed %u (replay: LOYALTY_CRASH_SEED=%u)\n",
              synchronous.c_str(), seed, seed);
  ::testing::Test::RecordProperty("seed_" + synchronous, std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kill_after_ms(0, 250);

  ASSERT_TRUE(api().loaded()) << api().load_error;

  char tmpl[] = "/tmp/loyalty-crash-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string config = dir + "/loyalty.toml";
  const std::string db_path = dir + "/ledger.db";
  std::ofstream(config) << "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\nsynchronous = \""
                        << synchronous
                        << "\"\n\n[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
                           "excluded_payment_methods = [\"credit_card\"]\n\n"
                           "[program.overrides.sku]\n\"GIFT-100\" = \"0\"\n";

  std::printf("  ledger directory %s\n", dir.c_str());
  std::map<std::string, Applied> applied;  // every sale in the ledger: id -> customer, earned
  for (int run = 0; run < rounds; ++run) {
    SCOPED_TRACE("round " + std::to_string(run) + ", seed " + std::to_string(seed));
    const std::string err_path = dir + "/child.err";
    const Child child = spawn_child(config, run, err_path);
    ASSERT_GT(child.pid, 0) << "cannot start " << CRASH_CHILD;
    std::string acks;
    std::atomic<bool> first_ack{false};
    std::thread reader([&] {
      char buf[4096];
      for (ssize_t n; (n = read(child.out_fd, buf, sizeof buf)) > 0;) {
        acks.append(buf, static_cast<size_t>(n));
        if (acks.find('\n') != std::string::npos) first_ack = true;
      }
    });
    // Most kills land while sales stream: the delay counts from the first acknowledged
    // sale, so a loaded machine (a slow exec and open) does not turn them into kills
    // before any sale. Every fourth kill counts from the start, and may hit the open.
    if (run % 4 != 3) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!first_ack && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    const int wait_ms = kill_after_ms(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    kill(child.pid, SIGKILL);
    int status = 0;
    waitpid(child.pid, &status, 0);
    reader.join();
    ::close(child.out_fd);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "crash_child ended on its own (status " << status << "): " << read_file(err_path);
    ++totals.kills;

    // Acknowledged sales: complete lines "<run>-<k> <earned>", k = 0, 1, 2, ...
    std::vector<int64_t> acked_earned;
    {
      const size_t complete = acks.rfind('\n') == std::string::npos ? 0 : acks.rfind('\n') + 1;
      std::istringstream lines(acks.substr(0, complete));
      std::string id;
      long long e = 0;
      while (lines >> id >> e) {
        ASSERT_EQ(id, crash::sale_id(run, static_cast<int>(acked_earned.size())))
            << "acknowledgements out of order";
        ASSERT_GE(e, 0) << id;
        acked_earned.push_back(e);
      }
    }
    const int acked = static_cast<int>(acked_earned.size());
    totals.acknowledged += acked;
    if (acked > 0) ++totals.kills_mid_stream;
    const std::string inflight_id = crash::sale_id(run, acked);

    // Reopen through the ABI (WAL recovery happens here), timed.
    const auto t0 = std::chrono::steady_clock::now();
    loyalty_plugin* p = nullptr;
    char* err = nullptr;
    const int open_rc = api().open(config.c_str(), &p, &err);
    const double reopen_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const std::string open_error = err != nullptr ? err : "";
    api().free(err);
    ASSERT_EQ(open_rc, 0) << "reopen after SIGKILL failed: " << open_error;
    totals.reopen_ms_max = std::max(totals.reopen_ms_max, reopen_ms);
    totals.reopen_ms_sum += reopen_ms;

    // What the ledger holds of this round, before anything is resent.
    bool inflight_committed = false;
    {
      LedgerReader db(db_path);
      const std::string like = quoted(std::to_string(run) + "-%");
      std::map<std::string, std::string> sales;  // request id -> "count earned"
      for (const auto& row :
           db.rows("SELECT request_id, count(*), sum(earned) FROM sales WHERE request_id LIKE " +
                   like + " GROUP BY request_id")) {
        const size_t sp = row.find(' ');
        sales[row.substr(0, sp)] = row.substr(sp + 1);
      }
      std::map<std::string, std::string> earn_entries;  // request id -> "count points"
      for (const auto& row :
           db.rows("SELECT request_id, count(*), sum(points) FROM entries WHERE kind = 'earn' "
                   "AND request_id LIKE " +
                   like + " GROUP BY request_id")) {
        const size_t sp = row.find(' ');
        earn_entries[row.substr(0, sp)] = row.substr(sp + 1);
      }
      const int64_t requests =
          db.scalar("SELECT count(*) FROM requests WHERE request_id LIKE " + like);
      inflight_committed =
          db.scalar("SELECT count(*) FROM requests WHERE request_id = " + quoted(inflight_id)) == 1;
      for (int k = 0; k < acked; ++k) {
        const std::string id = crash::sale_id(run, k);
        EXPECT_EQ(sales[id], "1 " + std::to_string(acked_earned[static_cast<size_t>(k)]))
            << "acknowledged sale " << id << " must be recorded exactly once with what it earned";
        if (acked_earned[static_cast<size_t>(k)] > 0) {
          EXPECT_EQ(earn_entries[id], "1 " + std::to_string(acked_earned[static_cast<size_t>(k)]))
              << id;
        } else {
          EXPECT_EQ(earn_entries.count(id), 0u) << id;
        }
      }
      EXPECT_EQ(requests, acked + (inflight_committed ? 1 : 0))
          << "only the acknowledged sales and at most the one in flight may be in the ledger";
      EXPECT_EQ(static_cast<int64_t>(sales.size()), requests);
    }

    // Resending every acknowledged sale returns its stored answer and changes nothing.
    const auto counts = [&] {
      LedgerReader db(db_path);
      return std::to_string(db.scalar("SELECT count(*) FROM entries")) + "/" +
             std::to_string(db.scalar("SELECT count(*) FROM requests")) + "/" +
             std::to_string(db.scalar("SELECT coalesce(sum(balance), 0) FROM accounts"));
    };
    const std::string before_replay = counts();
    for (int k = 0; k < acked; ++k) {
      const abi_test::Reply r = send(p, crash::sale_body(run, k));
      const std::string& resp = r.text;
      ASSERT_EQ(r.code, 0) << resp;
      ASSERT_EQ(crash::earned_of(resp.c_str()), acked_earned[static_cast<size_t>(k)])
          << "replay of acknowledged sale " << crash::sale_id(run, k)
          << " answered differently: " << resp;
      applied[crash::sale_id(run, k)] = {crash::customer_of(run, k),
                                         acked_earned[static_cast<size_t>(k)]};
    }
    ASSERT_EQ(counts(), before_replay) << "resending acknowledged sales changed the ledger";

    // The sale in flight: committed or not, resending it leaves it applied exactly once.
    {
      const abi_test::Reply r = send(p, crash::sale_body(run, acked));
      const std::string& resp = r.text;
      ASSERT_EQ(r.code, 0) << resp;
      if (inflight_committed) {
        EXPECT_EQ(counts(), before_replay) << "the committed in-flight sale was applied twice";
        ++totals.inflight_committed;
      }
      applied[inflight_id] = {crash::customer_of(run, acked), crash::earned_of(resp.c_str())};
      EXPECT_EQ(send(p, crash::sale_body(run, acked)).text, resp);
    }

    // Balances: per customer through the ABI, and in total.
    std::map<std::string, int64_t> expected;
    int64_t expected_total = 0;
    for (const auto& [id, a] : applied) {
      if (!a.customer.empty()) expected[a.customer] += a.earned;
      expected_total += a.earned;
    }
    for (const auto& [customer, points] : expected) {
      const abi_test::Reply b = send(
          p, R"({"type":"balance.query","id":"q","at":"2026-11-22T12:00:00-06:00","customer":")" + customer + "\"}");
      ASSERT_EQ(b.code, 0) << b.text;
      EXPECT_EQ(crash::balance_of(b.text.c_str()), points) << customer;
    }
    api().close(p);
    {
      LedgerReader db(db_path);
      EXPECT_EQ(db.scalar("SELECT coalesce(sum(balance), 0) FROM accounts"), expected_total);
      EXPECT_EQ(db.scalar("SELECT count(*) FROM sales"), static_cast<int64_t>(applied.size()));
      const auto integrity = db.rows("PRAGMA integrity_check");
      EXPECT_EQ(integrity, std::vector<std::string>{"ok"});
    }
    int64_t entries_checked = 0;
    try {
      loyalty::ledger::LedgerOptions o;
      o.path = db_path;
      o.read_only = true;
      auto ledger = loyalty::ledger::SqliteLedger::open(o);
      const auto report = loyalty::ledger::verify(*ledger);
      entries_checked = report.entries_checked;
      EXPECT_TRUE(report.ok()) << report.problems.size() << " problems, first: "
                               << (report.problems.empty() ? "" : report.problems.front());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "verify threw: " << e.what();
    }
    std::printf(
        "  round %2d: killed after %3d ms, %4d acknowledged, in-flight sale %-13s, reopen %6.2f "
        "ms, "
        "verify clean over %lld entries\n",
        run, wait_ms, acked, inflight_committed ? "was committed" : "was not", reopen_ms,
        static_cast<long long>(entries_checked));
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

void report(const Totals& t, const std::string& name) {
  std::printf(
      "%s: %d kills (%d mid-stream), %lld sales acknowledged, %d in-flight sales had committed, "
      "reopen mean %.2f ms, max %.2f ms (R1 target < 100 ms)\n",
      name.c_str(), t.kills, t.kills_mid_stream, static_cast<long long>(t.acknowledged),
      t.inflight_committed, t.kills > 0 ? t.reopen_ms_sum / t.kills : 0.0, t.reopen_ms_max);
  ::testing::Test::RecordProperty("reopen_ms_max", std::to_string(t.reopen_ms_max));
  ::testing::Test::RecordProperty("acknowledged", std::to_string(t.acknowledged));
}

TEST(CrashTest, KillNineTwentyTimes) {
  Totals t;
  run_rounds("full", 20, t);
  report(t, "synchronous=full");
  // A test that injected no fault proves nothing: most kills must land mid-stream.
  EXPECT_EQ(t.kills, 20);
  EXPECT_GE(t.kills_mid_stream, 15);
}

// SIGKILL is a process crash, not a power loss: with synchronous=NORMAL in WAL mode no
// committed transaction may be lost either.
TEST(CrashTest, KillNineNormalSync) {
  Totals t;
  run_rounds("normal", 10, t);
  report(t, "synchronous=normal");
  EXPECT_EQ(t.kills, 10);
  EXPECT_GE(t.kills_mid_stream, 7);
}

}  // namespace
