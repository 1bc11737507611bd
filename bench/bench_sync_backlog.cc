// bench_sync_backlog: a branch's backlog of ledger entries to the hub and to a second branch,
// end to end through real branch ledgers (issue 5: 100,000 entries in under 10 s).
//
//   bench_sync_backlog                      # 100,000 entries (setup cached in bench-data/)
//   bench_sync_backlog --entries 2000 --data-dir /tmp/bsb   # the ctest smoke size
//
// Setup (not timed): branch B01's ledger is filled by real sales through the plugin's
// service (the plugin runtime without its sync client, synchronous = "normal"), until B01
// has written `--entries` entries; the file is cached in --data-dir and copied for each run.
// Both branches then run with the plugin's default synchronous = "full" (--synchronous
// normal to compare).
// Timed: the loyalty-hub binary runs on 127.0.0.1 (fresh database, synchronous = FULL, as
// deployed); the empty branch B02 is open with its sync client and connected; then B01's
// runtime opens with its sync client. The clock runs from B01's open until the hub has acked
// every entry (B01's acked seq) and B02 has applied every one (its applied offset; B02
// applies the ENTRIES frames queued behind a commit in one transaction). Then B02's
// sync_state, entry count and point total are checked against B01 and both ledgers are
// verified (ledger::verify). The CPU seconds of the hub and of this process (both branches)
// are printed with the load average, and B02's frames per transaction, its apply thread's
// wall and CPU time and how far B02 was behind when the hub had acked everything.
// --hub-window N sets the hub's limits.max_unapplied_frames.
// Progress on a TTY only; the figures are printed always. Exit 1 when anything is missing or
// a ledger does not verify (never because of the time: figures on a shared machine are
// noisy).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "bootstrap/runtime.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "sync/client/sync_client.h"
#include "proc_cpu.h"
#include "command_line/command_line.h"

namespace {

using loyalty::bench::cpu_of;
using loyalty::bench::own_cpu;

namespace fs = std::filesystem;
using loyalty::bootstrap::OpenOptions;
using loyalty::bootstrap::Runtime;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

bool g_tty = false;
pid_t g_hub_pid = -1;  // killed on every exit path, also std::exit()

void kill_hub() {
  if (g_hub_pid > 0) {
    ::kill(g_hub_pid, SIGTERM);
    ::waitpid(g_hub_pid, nullptr, 0);
    g_hub_pid = -1;
  }
}

double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void write_branch_toml(const fs::path& dir, const std::string& b, int port,
                       const std::string& synchronous) {
  std::ofstream(dir / (b + ".toml"))
      << "[plugin]\nbranch = \"" << b << "\"\ndb = \"" << b << ".db\"\nsynchronous = \""
      << synchronous << "\"\nlog = \"" << b << ".log\"\n"
      << "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
      << "[sync]\nurl = \"ws://127.0.0.1:" << port << "/v1/sync\"\ntoken_file = \"" << b
      << ".token\"\n";
  std::ofstream(dir / (b + ".token")) << "unused-in-setup\n";
}

std::unique_ptr<Runtime> open_runtime(const fs::path& toml, bool start_sync) {
  OpenOptions o;
  o.start_sync = start_sync;
  o.program_watch_ms = 0;
  auto rt = Runtime::open(toml.string(), o);
  if (!rt.ok()) {
    std::fprintf(stderr, "bench_sync_backlog: opening %s: %s: %s\n", toml.c_str(),
                 rt.error().field.c_str(), rt.error().message.c_str());
    std::exit(1);
  }
  return std::move(*rt);
}

loyalty::ledger::SqliteLedger& ledger_of(Runtime& rt) {
  return static_cast<loyalty::ledger::SqliteLedger&>(*rt.store());
}

int64_t scalar(Runtime& rt, const std::string& sql) {
  auto& l = ledger_of(rt);
  return l.with_db([&](sqlite3*) {
    auto q = l.query(sql);
    return q.step() ? q.i64(0) : int64_t{-1};
  });
}

// Fills B01's ledger with real sales until it holds `entries` entries of its own.
int64_t build_source(const fs::path& dir, int64_t entries) {
  write_branch_toml(dir, "B01", 1, "normal");
  auto rt = open_runtime(dir / "B01.toml", false);
  const auto t0 = Clock::now();
  int64_t have = 0;
  int64_t n = 0;
  const std::string count_sql = "SELECT count(*) FROM entries WHERE origin_branch = 'B01'";
  while ((have = scalar(*rt, count_sql)) < entries) {
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(1000, entries - have));
    for (int64_t i = 0; i < chunk; ++i, ++n) {
      json req{{"type", "sale.completed"},
               {"id", "setup-" + std::to_string(n)},
               {"at", "2026-11-22T10:15:00-06:00"},
               {"ticket", "T" + std::to_string(n)},
               {"customer", "card:" + std::to_string(n % 5000)},
               {"lines",
                {{{"n", 1}, {"amount", std::to_string(10 + n % 40) + ".00"}},
                 {{"n", 2}, {"amount", "3.20"}, {"qty", "2"}}}}};
      auto out = rt->service().handle(req.dump());
      if (out.code != 0) {
        std::fprintf(stderr, "bench_sync_backlog: setup sale %lld refused: %s\n",
                     static_cast<long long>(n), out.json.c_str());
        std::exit(1);
      }
    }
    if (g_tty) {
      std::fprintf(stderr, "\rsetup: %lld sales, %lld entries", static_cast<long long>(n),
                   static_cast<long long>(have));
    }
  }
  if (g_tty) std::fprintf(stderr, "\n");
  std::printf("setup: %lld sales made %lld B01 entries in %.1f s (not timed)\n",
              static_cast<long long>(n), static_cast<long long>(have), secs(t0, Clock::now()));
  return have;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

class Hub {
 public:
  // `window` > 0: limits.max_unapplied_frames (entries frames in flight to a branch).
  Hub(std::string bin, fs::path dir, int window) : bin_(std::move(bin)), dir_(std::move(dir)) {
    std::ofstream(dir_ / "hub.toml")
        << "[listen]\naddress = \"127.0.0.1\"\nport = 0\n[storage]\ndb = \"hub.db\"\n"
           "[log]\nlevel = \"warn\"\nfile = \"hub.log\"\n"
        << (window > 0 ? "[limits]\nmax_unapplied_frames = " + std::to_string(window) + "\n"
                       : std::string());
  }
  ~Hub() { kill_hub(); }
  std::string token_add(const std::string& branch) {
    const std::string cmd =
        bin_ + " token add " + branch + " --config " + (dir_ / "hub.toml").string() + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[256];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = p ? ::pclose(p) : -1;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0 || out.empty()) {
      std::fprintf(stderr, "bench_sync_backlog: %s failed: %s\n", cmd.c_str(), out.c_str());
      std::exit(1);
    }
    return out;
  }
  int start() {
    const fs::path pf = dir_ / "port";
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string c = (dir_ / "hub.toml").string(), p = pf.string();
      ::execl(bin_.c_str(), bin_.c_str(), "run", "--config", c.c_str(), "--port-file", p.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    g_hub_pid = pid_;
    std::atexit(kill_hub);
    int port = 0;
    for (int i = 0; i < 1000 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::ifstream(pf) >> port;
    }
    if (port == 0) {
      std::fprintf(stderr, "bench_sync_backlog: %s did not start (see %s)\n", bin_.c_str(),
                   (dir_ / "hub.log").c_str());
      std::exit(1);
    }
    return port;
  }
  pid_t pid() const { return pid_; }
  int64_t rss() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/statm");
    int64_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
  }

 private:
  std::string bin_;
  fs::path dir_;
  pid_t pid_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bench_sync_backlog: B01's backlog of real ledger entries through loyalty-hub to B02 "
      "(real runtimes, sync clients and SQLite files on 127.0.0.1)"};
  app.footer(
      "Examples:\n  bench_sync_backlog                       # 100,000 entries, target < 10 s\n"
      "  bench_sync_backlog --entries 2000 --data-dir /tmp/bsb");
  int64_t entries = 100'000;
  std::string data_dir = "bench-data";
  std::string hub_bin = LOYALTY_HUB_BIN;
  double timeout_s = 300;
  bool keep = false;
  int hub_window = 0;
  std::string synchronous = "full";
  app.add_option("--entries", entries, "B01 entries in the backlog (made by real sales)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  app.add_option("--data-dir", data_dir, "where B01's filled ledger is cached between runs");
  app.add_option("--hub", hub_bin, "the loyalty-hub binary");
  app.add_option("--timeout", timeout_s, "give up (exit 1) after this many seconds");
  app.add_option("--synchronous", synchronous,
                 "plugin.synchronous of both branches while timed (setup always uses normal)")
      ->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--hub-window", hub_window,
                 "the hub's limits.max_unapplied_frames (0 = its default, 4)")
      ->check(CLI::Range(0, 64));
  app.add_flag("--keep", keep, "keep the run directory (ledgers, hub database, logs)");
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;
  g_tty = ::isatty(2) != 0;

  // B01's filled ledger, cached (setup is not what is measured).
  const fs::path cache = fs::absolute(data_dir) / ("sync-backlog-B01-" + std::to_string(entries));
  if (!fs::exists(cache / "B01.db")) {
    fs::remove_all(cache);
    fs::create_directories(cache);
    build_source(cache, entries);
  }
  const fs::path dir =
      fs::temp_directory_path() / ("bench_sync_backlog_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"B01.db", "B01.db-wal"}) {
    if (fs::exists(cache / f)) fs::copy_file(cache / f, dir / f);
  }

  Hub hub(hub_bin, dir, hub_window);
  const std::string t1 = hub.token_add("B01");
  const std::string t2 = hub.token_add("B02");
  const int port = hub.start();
  write_branch_toml(dir, "B01", port, synchronous);
  write_branch_toml(dir, "B02", port, synchronous);
  std::ofstream(dir / "B01.token") << t1 << "\n";
  std::ofstream(dir / "B02.token") << t2 << "\n";
  const int64_t rss_idle = hub.rss();

  // B02 empty and connected before the clock starts.
  auto b2 = open_runtime(dir / "B02.toml", true);
  const auto connect_deadline = Clock::now() + std::chrono::seconds(30);
  while (b2->sync_client()->stats().connects == 0 && Clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (b2->sync_client()->stats().connects == 0) {
    std::fprintf(stderr, "bench_sync_backlog: B02 did not connect: %s\n",
                 b2->sync_client()->stats().last_error.c_str());
    return 1;
  }

  const double hub_cpu0 = cpu_of(hub.pid());
  const double own_cpu0 = own_cpu();
  const auto t0 = Clock::now();
  auto b1 = open_runtime(dir / "B01.toml", true);
  const int64_t n = scalar(*b1, "SELECT max(origin_seq) FROM entries WHERE origin_branch = 'B01'");
  Clock::time_point t_acked{}, t_applied{};
  int64_t applied_at_ack = 0;  // B02's applied offset when the hub had acked everything
  const auto deadline = t0 + std::chrono::duration<double>(timeout_s);
  auto last_progress = t0;
  while (Clock::now() < deadline) {
    const auto s1 = b1->sync_client()->stats();
    const auto s2 = b2->sync_client()->stats();
    const auto now = Clock::now();
    if (t_acked == Clock::time_point{} && s1.acked_seq >= n) {
      t_acked = now;
      applied_at_ack = s2.applied_offset;
    }
    if (t_applied == Clock::time_point{} && s2.applied_offset >= n) t_applied = now;
    if (t_acked != Clock::time_point{} && t_applied != Clock::time_point{}) break;
    if (g_tty && now - last_progress > std::chrono::milliseconds(250)) {
      last_progress = now;
      std::fprintf(stderr, "\r%.1f s: hub acked %lld, B02 applied offset %lld of %lld",
                   secs(t0, now), static_cast<long long>(s1.acked_seq),
                   static_cast<long long>(s2.applied_offset), static_cast<long long>(n));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (g_tty) std::fprintf(stderr, "\n");
  const double hub_cpu = cpu_of(hub.pid()) - hub_cpu0;
  const double branches_cpu = own_cpu() - own_cpu0;
  const int64_t rss_end = hub.rss();
  const auto s1 = b1->sync_client()->stats();
  const auto s2 = b2->sync_client()->stats();
  if (t_acked == Clock::time_point{} || t_applied == Clock::time_point{}) {
    std::fprintf(stderr,
                 "bench_sync_backlog: not done after %.0f s: hub acked %lld, B02 applied offset "
                 "%lld of %lld (B01: %s; B02: %s); run directory %s kept\n",
                 timeout_s, static_cast<long long>(s1.acked_seq),
                 static_cast<long long>(s2.applied_offset), static_cast<long long>(n),
                 s1.last_error.c_str(), s2.last_error.c_str(), dir.c_str());
    return 1;
  }
  const double acked_s = secs(t0, t_acked);
  const double total_s = secs(t0, t_applied > t_acked ? t_applied : t_acked);
  std::printf(
      "backlog: %lld B01 entries: hub acked all in %.2f s (%.0f entries/s); B02 applied all "
      "in %.2f s (%.0f entries/s): target < 10 s %s\n",
      static_cast<long long>(n), acked_s, static_cast<double>(n) / acked_s, total_s,
      static_cast<double>(n) / total_s, total_s < 10 ? "met" : "missed");
  std::printf(
      "  B01 pushed %lld (sessions %lld, failures %lld); B02 applied %lld, duplicates %lld, "
      "%lld entries frames in %lld transactions (%.1f s in them, apply thread CPU %.1f s), %lld "
      "entries behind at the hub's last ack; hub RSS %.1f MiB idle, %.1f MiB at the end\n",
      static_cast<long long>(s1.pushed), static_cast<long long>(s1.connects),
      static_cast<long long>(s1.failures), static_cast<long long>(s2.applied),
      static_cast<long long>(s2.duplicates), static_cast<long long>(s2.entries_frames),
      static_cast<long long>(s2.apply_transactions), static_cast<double>(s2.apply_ms) / 1000.0,
      static_cast<double>(s2.apply_cpu_ms) / 1000.0, static_cast<long long>(n - applied_at_ack),
      static_cast<double>(rss_idle) / 1048576.0, static_cast<double>(rss_end) / 1048576.0);
  std::printf(
      "  CPU while timed: hub %.1f s, both branches (this process) %.1f s; load average "
      "%s (other processes share the cores: compare CPU seconds, not only time)\n",
      hub_cpu, branches_cpu, load_average().c_str());

  // B02 holds exactly B01's entries, its sync_state says so, balances agree, both verify.
  b1->sync_client()->stop();
  b2->sync_client()->stop();
  bool ok = true;
  const int64_t in_b2 = scalar(*b2, "SELECT count(*) FROM entries WHERE origin_branch = 'B01'");
  const int64_t in_b1 = scalar(*b1, "SELECT count(*) FROM entries WHERE origin_branch = 'B01'");
  const int64_t applied_db =
      scalar(*b2, "SELECT applied_offset FROM sync_state WHERE peer = 'hub'");
  const std::string sum_sql = "SELECT total(points) FROM entries";
  if (in_b2 != in_b1 || applied_db < n || scalar(*b1, sum_sql) != scalar(*b2, sum_sql)) {
    std::fprintf(stderr,
                 "bench_sync_backlog: B02 holds %lld B01 entries (B01 %lld), sync_state "
                 "applied_offset %lld of %lld, or the point sums differ\n",
                 static_cast<long long>(in_b2), static_cast<long long>(in_b1),
                 static_cast<long long>(applied_db), static_cast<long long>(n));
    ok = false;
  }
  for (auto* rt : {b1.get(), b2.get()}) {
    const auto report = loyalty::ledger::verify(ledger_of(*rt));
    if (!report.ok()) {
      std::fprintf(stderr, "bench_sync_backlog: %s does not verify: %s\n",
                   rt->settings().branch.c_str(), report.problems.front().c_str());
      ok = false;
    }
  }
  std::printf(
      "  check: B02 holds %lld of B01's entries, sync_state.applied_offset %lld, both "
      "ledgers verify: %s\n",
      static_cast<long long>(in_b2), static_cast<long long>(applied_db), ok ? "clean" : "FAILED");
  b1.reset();
  b2.reset();
  if (ok && !keep) {
    fs::remove_all(dir);
  } else {
    std::printf("  run directory kept: %s\n", dir.c_str());
  }
  return ok ? 0 : 1;
}
