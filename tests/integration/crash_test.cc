// R1: a child process hammers sales through libloyalty.so (synchronous=FULL) and is killed
// with SIGKILL at random moments, 20 times, on the same ledger. After each kill: every
// acknowledged sale is present exactly once (resending it returns the stored response and
// changes nothing), the in-flight sale is applied at most once, balances equal the sum of
// what was earned, and verify + integrity_check are clean.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "crash_requests.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "loyalty/loyalty.h"

namespace {

namespace fs = std::filesystem;
using namespace loyalty;

struct Api {
  void* so = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

Api load() {
  Api a;
  a.so = dlopen(LOYALTY_SO, RTLD_NOW | RTLD_LOCAL);
  a.open = reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(a.so, "loyalty_open"));
  a.handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(dlsym(a.so, "loyalty_handle"));
  a.free = reinterpret_cast<void (*)(char*)>(dlsym(a.so, "loyalty_free"));
  a.close = reinterpret_cast<void (*)(loyalty_plugin*)>(dlsym(a.so, "loyalty_close"));
  return a;
}

std::string call(const Api& api, loyalty_plugin* p, const std::string& body, int* rc) {
  char* out = nullptr;
  *rc = api.handle(p, body.data(), body.size(), &out);
  std::string s = out ? out : "";
  api.free(out);
  return s;
}

int64_t count_entries(const std::string& db) {
  ledger::LedgerOptions o;
  o.path = db;
  o.read_only = true;
  auto l = ledger::SqliteLedger::open(o);
  return l->with_db([&](sqlite3*) {
    auto q = l->query("SELECT count(*) FROM entries");
    q.step();
    return q.i64(0);
  });
}

TEST(CrashTest, KillNineTwentyTimes) {
  const unsigned seed = std::random_device{}();
  std::printf("crash test seed %u\n", seed);
  std::mt19937 rng(seed);
  char tmpl[] = "/tmp/loyalty-crash-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string config = dir + "/loyalty.toml";
  std::ofstream(config) << "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\nsynchronous = \"full\"\n"
                           "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n";
  const Api api = load();
  ASSERT_NE(api.so, nullptr) << dlerror();

  std::map<std::string, int64_t> earned;  // every sale known to be applied: id -> earned
  int64_t acked_total = 0, inflight_applied = 0;
  for (int run = 0; run < 20; ++run) {
    int out_pipe[2];
    ASSERT_EQ(pipe(out_pipe), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(out_pipe[1], 1);
      close(out_pipe[0]);
      close(out_pipe[1]);
      execl(CRASH_CHILD, CRASH_CHILD, LOYALTY_SO, config.c_str(), std::to_string(run).c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out_pipe[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 300)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended on its own, status " << status;
    std::string acks;
    char buf[4096];
    for (ssize_t n; (n = read(out_pipe[0], buf, sizeof buf)) > 0;) acks.append(buf, static_cast<size_t>(n));
    close(out_pipe[0]);

    // Reopen and check.
    const auto t0 = std::chrono::steady_clock::now();
    loyalty_plugin* p = nullptr;
    char* err = nullptr;
    ASSERT_EQ(api.open(config.c_str(), &p, &err), 0) << (err ? err : "");
    const double reopen_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int64_t entries_before = count_entries(dir + "/ledger.db");

    std::istringstream lines(acks);
    std::string id;
    int64_t e = 0;
    int last_k = -1, acked = 0;
    while (lines >> id >> e) {  // a torn last line simply does not parse
      const int k = std::stoi(id.substr(id.rfind('-') + 1));
      ASSERT_EQ(k, last_k + 1) << "acknowledgements out of order";
      last_k = k;
      int rc = 0;
      const std::string resp = call(api, p, crash::sale_body(run, k), &rc);
      ASSERT_EQ(rc, 0) << resp;
      ASSERT_EQ(crash::earned_of(resp.c_str()), e) << "acknowledged sale " << id << " answered differently";
      earned[id] = e;
      acked_total += e;
      ++acked;
    }
    ASSERT_EQ(count_entries(dir + "/ledger.db"), entries_before) << "resending acknowledged sales changed the ledger";
    // The sale in flight when the kill came was committed or not; resending it applies it once.
    int rc = 0;
    const std::string resp = call(api, p, crash::sale_body(run, last_k + 1), &rc);
    ASSERT_EQ(rc, 0) << resp;
    const bool was_committed = count_entries(dir + "/ledger.db") == entries_before;
    earned[crash::sale_id(run, last_k + 1)] = crash::earned_of(resp.c_str());
    inflight_applied += was_committed ? 1 : 0;
    // Every balance equals the sum of what its sales earned.
    std::map<std::string, int64_t> expected;
    for (const auto& [sid, pts] : earned) {
      const int r = std::stoi(sid.substr(6, sid.rfind('-') - 6));
      const int k = std::stoi(sid.substr(sid.rfind('-') + 1));
      expected[crash::customer_of(r, k)] += pts;
    }
    for (const auto& [customer, pts] : expected) {
      const std::string q = R"({"type":"balance.query","id":"q","at":"2026-11-22T12:00:00-06:00","customer":")" +
                            customer + "\"}";
      const std::string b = call(api, p, q, &rc);
      ASSERT_EQ(rc, 0) << b;
      const char* pos = std::strstr(b.c_str(), "\"balance\":");
      ASSERT_NE(pos, nullptr);
      ASSERT_EQ(std::strtoll(pos + 10, nullptr, 10), pts) << customer << " after run " << run;
    }
    api.close(p);
    ledger::LedgerOptions o;
    o.path = dir + "/ledger.db";
    o.read_only = true;
    auto l = ledger::SqliteLedger::open(o);
    auto report = ledger::verify(*l);
    ASSERT_TRUE(report.ok()) << report.problems.front();
    std::printf("run %2d: %4d acknowledged, in-flight %s, reopen %.1f ms, verify clean (%lld entries)\n", run, acked,
                was_committed ? "was committed" : "was not committed", reopen_ms,
                static_cast<long long>(report.entries_checked));
  }
  std::printf("seed %u: 20 kills, %zu sales, %lld points acknowledged, %lld in-flight sales had committed\n", seed,
              earned.size(), static_cast<long long>(acked_total), static_cast<long long>(inflight_applied));
  EXPECT_GT(earned.size(), 20u) << "the child must have made progress, or the test proves nothing";
  fs::remove_all(dir);
}

}  // namespace
