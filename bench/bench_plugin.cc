// Speed targets of the plugin core (issue 2), measured through the real libloyalty.so.
//
// With 100,000 customers and 1,000,000 ledger entries in the database:
//   - sale.completed through loyalty_handle: p50 <= 1.5x a bare one-row SQLite commit with
//     the same synchronous setting (measured in this run), p99 < 2 ms;
//   - balance.query: p99 < 50 us;
//   - plugin open (dlopen + loyalty_open on that database): < 100 ms.
//
// The populated ledger is built once through the plugin itself (synchronous=off) and cached
// under --data-dir; every run copies it, so runs do not grow it.
//
//   bench_plugin                          # full size (first run seeds ~1M entries, ~1 min)
//   bench_plugin --customers 1000 --sales-per-customer 10   # quick
//   bench_plugin --benchmark_filter=Balance
#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "loyalty/loyalty.h"

namespace fs = std::filesystem;

namespace {

struct Api {
  void* so = nullptr;
  uint32_t (*abi_version)() = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

struct Options {
  int64_t customers = 100'000;
  int64_t sales_per_customer = 10;  // one earn entry each: 1,000,000 entries
  std::string data_dir = "bench-data";
  std::string so_path = LOYALTY_SO;
  int commit_hold_ms = -1;  // [plugin] commit_hold_ms; -1 leaves the plugin's default
};

Options g_opt;
std::map<std::string, std::pair<double, double>> g_results;  // name -> p50, p99 (us)

Api load_api() {
  Api a;
  a.so = dlopen(g_opt.so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (a.so == nullptr) {
    std::fprintf(stderr, "dlopen %s: %s\n", g_opt.so_path.c_str(), dlerror());
    std::exit(2);
  }
  a.abi_version = reinterpret_cast<uint32_t (*)()>(dlsym(a.so, "loyalty_abi_version"));
  a.open = reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(a.so, "loyalty_open"));
  a.handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(
      dlsym(a.so, "loyalty_handle"));
  a.free = reinterpret_cast<void (*)(char*)>(dlsym(a.so, "loyalty_free"));
  a.close = reinterpret_cast<void (*)(loyalty_plugin*)>(dlsym(a.so, "loyalty_close"));
  return a;
}

void write_config(const fs::path& path, const std::string& db, const std::string& sync,
                  int commit_hold_ms = -1) {
  std::ofstream f(path);
  f << "[plugin]\nbranch = \"B01\"\ndb = \"" << db << "\"\nsynchronous = \"" << sync << "\"\n";
  if (commit_hold_ms >= 0) f << "commit_hold_ms = " << commit_hold_ms << "\n";
  f << "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
    << "excluded_payment_methods = [\"credit_card\"]\n";
}

loyalty_plugin* open_plugin(const Api& api, const fs::path& config) {
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  if (api.open(config.c_str(), &p, &err) != 0) {
    std::fprintf(stderr, "loyalty_open: %s\n", err ? err : "?");
    std::exit(2);
  }
  return p;
}

std::string sale_json(const std::string& id, int64_t customer, int64_t ticket, const char* at) {
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\"type\":\"sale.completed\",\"id\":\"%s\",\"at\":\"%s\",\"ticket\":\"%lld\","
                "\"customer\":\"card:%07lld\",\"lines\":[{\"n\":1,\"sku\":\"CAFE-AMER\","
                "\"category\":\"bebidas\",\"qty\":\"2\",\"amount\":\"90.00\"},{\"n\":2,"
                "\"sku\":\"PAN-CONCHA\",\"category\":\"panaderia\",\"qty\":\"1\",\"amount\":\"18.50\"}],"
                "\"tenders\":[{\"method\":\"cash\",\"amount\":\"120.00\",\"change\":\"11.50\"}]}",
                id.c_str(), at, static_cast<long long>(ticket), static_cast<long long>(customer));
  return buf;
}

int handle(const Api& api, loyalty_plugin* p, const std::string& req) {
  char* resp = nullptr;
  int rc = api.handle(p, req.data(), req.size(), &resp);
  if (rc != 0) std::fprintf(stderr, "request failed (%d): %s\n", rc, resp ? resp : "");
  api.free(resp);
  return rc;
}

fs::path seeded_db() {
  const fs::path dir = fs::absolute(g_opt.data_dir);
  fs::create_directories(dir);
  const std::string name = "seed-" + std::to_string(g_opt.customers) + "x" +
                           std::to_string(g_opt.sales_per_customer) + ".db";
  const fs::path db = dir / name;
  if (fs::exists(db)) return db;
  std::fprintf(stderr, "seeding %s: %lld customers x %lld sales (once; cached)\n", db.c_str(),
               static_cast<long long>(g_opt.customers), static_cast<long long>(g_opt.sales_per_customer));
  const fs::path tmp = dir / (name + ".tmp");
  fs::remove(tmp);
  const fs::path cfg = dir / "seed.toml";
  write_config(cfg, tmp.filename().string(), "off");
  Api api = load_api();
  loyalty_plugin* p = open_plugin(api, cfg);
  const bool tty = isatty(2) != 0;
  int64_t n = 0;
  const int64_t total = g_opt.customers * g_opt.sales_per_customer;
  for (int64_t round = 0; round < g_opt.sales_per_customer; ++round) {
    for (int64_t c = 0; c < g_opt.customers; ++c, ++n) {
      const std::string id = "seed-" + std::to_string(n);
      handle(api, p, sale_json(id, c, n, "2026-06-01T10:00:00-06:00"));
      if (tty && n % 10000 == 0) std::fprintf(stderr, "\r  %lld / %lld", static_cast<long long>(n),
                                              static_cast<long long>(total));
    }
  }
  if (tty) std::fprintf(stderr, "\r  %lld / %lld\n", static_cast<long long>(n), static_cast<long long>(total));
  api.close(p);
  for (const char* suffix : {"-wal", "-shm", "-redo"}) fs::remove(tmp.string() + suffix);
  fs::rename(tmp, db);
  return db;
}

// A fresh copy of the seeded ledger in a work dir, and a config with `sync`.
fs::path prepare_work(const std::string& sync) {
  const fs::path work = fs::absolute(g_opt.data_dir) / "work";
  fs::remove_all(work);
  fs::create_directories(work);
  fs::copy_file(seeded_db(), work / "ledger.db");
  // Flush the 1.4 GB copy now: otherwise the first fsync of the ledger (its first
  // checkpoint, or its close) writes it back inside a timed call (seen: a 2.2 s open).
  if (const int fd = ::open((work / "ledger.db").c_str(), O_RDONLY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  write_config(work / "loyalty.toml", "ledger.db", sync, g_opt.commit_hold_ms);
  return work / "loyalty.toml";
}

void record(benchmark::State& state, const std::string& name, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  const double p50 = us[us.size() / 2];
  const double p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  state.counters["p50_us"] = p50;
  state.counters["p99_us"] = p99;
  g_results[name] = {p50, p99};
}

template <class F>
double time_us(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

const char* sync_name(int64_t s) { return s == 2 ? "full" : "normal"; }

// A bare one-row commit with the same pragmas, in the same directory (same disk).
void BM_BareCommit(benchmark::State& state) {
  const fs::path work = fs::absolute(g_opt.data_dir) / "bare";
  fs::remove_all(work);
  fs::create_directories(work);
  sqlite3* db = nullptr;
  sqlite3_open((work / "bare.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  sqlite3_exec(db, (std::string("PRAGMA synchronous=") + sync_name(state.range(0))).c_str(), nullptr,
               nullptr, nullptr);
  sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", nullptr, nullptr, nullptr);
  sqlite3_stmt *begin, *ins, *commit;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES('B01-T1-000123 sale')", -1, &ins, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  std::vector<double> us;
  for (auto _ : state) {
    us.push_back(time_us([&] {
      for (sqlite3_stmt* s : {begin, ins, commit}) {
        sqlite3_step(s);
        sqlite3_reset(s);
      }
    }));
  }
  for (sqlite3_stmt* s : {begin, ins, commit}) sqlite3_finalize(s);
  sqlite3_close(db);
  record(state, std::string("bare_commit_") + sync_name(state.range(0)), us);
}

void BM_SaleCompleted(benchmark::State& state) {
  Api api = load_api();
  loyalty_plugin* p = open_plugin(api, prepare_work(sync_name(state.range(0))));
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> cust(0, g_opt.customers - 1);
  std::vector<double> us;
  int64_t n = 0;
  for (auto _ : state) {
    const std::string req = sale_json("bench-" + std::to_string(n), cust(rng), 9'000'000 + n,
                                      "2026-11-22T10:15:00-06:00");
    ++n;
    int rc = 0;
    us.push_back(time_us([&] { rc = handle(api, p, req); }));
    if (rc != 0) state.SkipWithError("sale failed");
  }
  api.close(p);
  record(state, std::string("sale_") + sync_name(state.range(0)), us);
}

// Arg: milliseconds between loyalty_open and the first query. 0: right after open, while
// the plugin's background thread is still loading the balance projection (~0.4 s here, the
// queries then ask SQLite); 2000: a POS that has been open a while.
void BM_BalanceQuery(benchmark::State& state) {
  Api api = load_api();
  loyalty_plugin* p = open_plugin(api, prepare_work("full"));
  std::this_thread::sleep_for(std::chrono::milliseconds(state.range(0)));
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> cust(0, g_opt.customers - 1);
  std::vector<double> us;
  char buf[256];
  for (auto _ : state) {
    const int len = std::snprintf(buf, sizeof buf,
                                  "{\"type\":\"balance.query\",\"id\":\"q\",\"at\":\"2026-11-22T10:15:00-06:00\","
                                  "\"customer\":\"card:%07lld\"}",
                                  static_cast<long long>(cust(rng)));
    int rc = 0;
    us.push_back(time_us([&] {
      char* resp = nullptr;
      rc = api.handle(p, buf, static_cast<size_t>(len), &resp);
      api.free(resp);
    }));
    if (rc != 0) state.SkipWithError("query failed");
  }
  api.close(p);
  record(state, state.range(0) == 0 ? "balance_query" : "balance_query_later", us);
}

void BM_Open(benchmark::State& state) {
  const fs::path config = prepare_work("full");
  {
    // Once, untimed: a seed made by an older build is migrated at its first open (seen:
    // 1.4 s for schema 1 -> 4 on 1M entries), which is an upgrade, not an open.
    Api api = load_api();
    api.close(open_plugin(api, config));
    dlclose(api.so);
  }
  std::vector<double> us;
  for (auto _ : state) {
    us.push_back(time_us([&] {
      Api api = load_api();
      loyalty_plugin* p = open_plugin(api, config);
      benchmark::DoNotOptimize(p);
      api.close(p);
      dlclose(api.so);
    }));
  }
  record(state, "open", us);
}

BENCHMARK(BM_BareCommit)->Arg(2)->Arg(1)->Iterations(3000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SaleCompleted)->Arg(2)->Arg(1)->Iterations(3000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BalanceQuery)->Arg(0)->Arg(2000)->Iterations(50000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Open)->Iterations(20)->Unit(benchmark::kMillisecond);

// The machine's floor for a p99 of microseconds: a loop of pure arithmetic (no memory, no
// system call) as long as balance.query's p50, timed as many times. Whatever its p99 adds
// to its p50 is the machine (timer ticks, the hypervisor), not the plugin. Measured on this
// project's VM: a 17 us loop has p99 53 us, a 4.3 us loop 4.4 us (docs/performance.md).
void BM_CpuFloor(benchmark::State& state) {
  const auto it = g_results.find("balance_query");
  const double target_us = it != g_results.end() ? it->second.first : 20.0;
  auto spin = [](int64_t n) {
    uint64_t x = 1;
    for (int64_t k = 0; k < n; ++k) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      benchmark::DoNotOptimize(x);
    }
  };
  int64_t n = 1000;  // calibrate: the loop count whose median time is the query's p50
  for (int round = 0; round < 20; ++round) {
    std::vector<double> t;
    for (int i = 0; i < 201; ++i) t.push_back(time_us([&] { spin(n); }));
    std::nth_element(t.begin(), t.begin() + 100, t.end());
    n = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n) * target_us / std::max(t[100], 0.01)));
  }
  std::vector<double> us;
  for (auto _ : state) us.push_back(time_us([&] { spin(n); }));
  record(state, "cpu_floor", us);
}
BENCHMARK(BM_CpuFloor)->Iterations(50000)->Unit(benchmark::kMicrosecond);

void print_targets() {
  auto get = [](const std::string& k) { return g_results.count(k) ? g_results[k] : std::make_pair(-1.0, -1.0); };
  std::printf("\n== targets (issue 2) with %lld customers, %lld entries ==\n",
              static_cast<long long>(g_opt.customers),
              static_cast<long long>(g_opt.customers * g_opt.sales_per_customer));
  for (const char* s : {"full", "normal"}) {
    const auto sale = get(std::string("sale_") + s), bare = get(std::string("bare_commit_") + s);
    if (sale.first < 0 || bare.first < 0) continue;
    const double ratio = sale.first / bare.first;
    std::printf("sale.completed (%s): p50 %.0f us vs bare commit p50 %.0f us = %.2fx (target <= 1.5x) %s;"
                " p99 %.0f us (target < 2000) %s\n",
                s, sale.first, bare.first, ratio, ratio <= 1.5 ? "PASS" : "FAIL", sale.second,
                sale.second < 2000 ? "PASS" : "FAIL");
  }
  if (auto b = get("balance_query"); b.first >= 0) {
    std::printf("balance.query right after open: p50 %.1f us, p99 %.1f us (target < 50) %s\n", b.first, b.second,
                b.second < 50 ? "PASS" : "FAIL");
    if (auto l = get("balance_query_later"); l.first >= 0) {
      std::printf("balance.query 2 s after open (projection loaded): p50 %.1f us, p99 %.1f us (target < 50) %s\n",
                  l.first, l.second, l.second < 50 ? "PASS" : "FAIL");
    }
    if (auto f = get("cpu_floor"); f.first >= 0) {
      std::printf("  this machine's floor: a pure CPU loop of p50 %.1f us has p99 %.1f us\n", f.first, f.second);
    }
  }
  if (auto o = get("open"); o.first >= 0) {
    std::printf("open (dlopen + loyalty_open): p50 %.1f ms, max-ish p99 %.1f ms (target < 100) %s\n",
                o.first / 1000, o.second / 1000, o.second < 100'000 ? "PASS" : "FAIL");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--customers") g_opt.customers = std::stoll(next());
    else if (a == "--sales-per-customer") g_opt.sales_per_customer = std::stoll(next());
    else if (a == "--data-dir") g_opt.data_dir = next();
    else if (a == "--commit-hold-ms") g_opt.commit_hold_ms = std::stoi(next());
    else if (a == "--plugin") g_opt.so_path = next();
    else if (a == "--help" || a == "-h") {
      std::printf("usage: bench_plugin [--customers N] [--sales-per-customer N] [--data-dir DIR]\n"
                  "                    [--commit-hold-ms MS] [--plugin libloyalty.so]\n"
                  "                    [google benchmark flags]\n"
                  "  --commit-hold-ms  the plugin's [plugin] commit_hold_ms (default: its own)\n"
                  "example: bench_plugin --customers 100000 --sales-per-customer 10\n"
                  "         bench_plugin --commit-hold-ms 100 --benchmark_filter='Bare|Sale'\n");
      benchmark::PrintDefaultHelp();
      return 0;
    } else rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_targets();
  return 0;
}
