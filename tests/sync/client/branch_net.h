// BranchNet: branch runtimes (the plugin's own bootstrap, each with its sync thread) around
// one loyalty-hub process, for the sync fault and TLS tests. Header-only test helper.
//
//   BranchNet net("faults");                       // a fresh temp dir; the hub in it
//   net.hub().write_config(HubProcess::loopback_config(HubProcess::free_port()));
//   net.add_token("B1"); ASSERT_NE(net.hub().start(), 0);
//   net.open("B1", "ws://127.0.0.1:" + port + "/v1/sync", program_toml, sync_extra_toml);
//   net.call("B1", {{"type","sale.completed"}, ...});
//   ASSERT_TRUE(net.converged(std::chrono::seconds(20)));
//
// A FakeClock (shared by all branches opened with it) moves wall time for the offline
// policy and hold deadlines; business time is each request's `at`. Thread-safety: the test
// thread only (the runtimes run their own sync threads).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "app/clock.h"
#include "bootstrap/runtime.h"
#include "hub_process.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "sync/client/sync_client.h"

namespace loyalty::testing {

// The [program] body of most sync tests: 5 % of the amount earned, a point worth 0.10.
inline constexpr char kProgram[] = "point_value = \"0.10\"\nearn_percent = \"5\"\n";

class FakeClock final : public app::Clock {
 public:
  explicit FakeClock(int64_t start_ms) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void set(int64_t ms) { now_ = ms; }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }

 private:
  std::atomic<int64_t> now_;
};

inline int64_t system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class BranchNet {
 public:
  using json = nlohmann::json;

  explicit BranchNet(const std::string& name)
      : dir_(fresh_dir(std::filesystem::temp_directory_path() /
                       ("sync_" + name + "_" + std::to_string(::getpid())))),
        hub_(dir_) {}
  ~BranchNet() {
    branches_.clear();  // stops every sync thread before the hub goes
    hub_.kill_hard();
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);  // kept for logs
  }

  const std::filesystem::path& dir() const { return dir_; }
  HubProcess& hub() { return hub_; }
  // `loyalty-hub token add b` (the hub's configuration must be written first).
  void add_token(const std::string& b) {
    tokens_[b] = hub_.cli("token add " + b);
    EXPECT_EQ(tokens_[b].size(), 64u) << "token add " << b << ": " << tokens_[b];
  }
  const std::string& token(const std::string& b) { return tokens_.at(b); }

  // Opens branch `b` syncing to `url`. `program` is the [program] table body; `sync_extra`
  // more [sync] keys. `token` overrides the hub-issued one. `db_dir`: a directory of dir()
  // for the branch's ledger (a filesystem of its own), else dir() itself.
  ::testing::AssertionResult open(const std::string& b, const std::string& url,
                                  const std::string& program, const std::string& sync_extra = {},
                                  std::shared_ptr<const app::Clock> clock = nullptr,
                                  const std::string& token = {}, const std::string& db_dir = {}) {
    std::ofstream(dir_ / (b + ".token")) << (token.empty() ? tokens_.at(b) : token) << "\n";
    std::ofstream(dir_ / (b + ".toml"))
        << "[plugin]\nbranch = \"" << b << "\"\ndb = \"" << (db_dir.empty() ? "" : db_dir + "/") << b
        << ".db\"\nsynchronous = \"normal\"\nlog = \"" << b << ".log\"\n"
        << "[program]\n"
        << program << "\n[sync]\nurl = \"" << url << "\"\ntoken_file = \"" << b << ".token\"\n"
        << sync_extra << "\n";
    bootstrap::OpenOptions o;
    o.clock = std::move(clock);
    auto rt = bootstrap::Runtime::open((dir_ / (b + ".toml")).string(), o);
    if (!rt.ok())
      return ::testing::AssertionFailure() << rt.error().field << ": " << rt.error().message;
    if ((*rt)->sync_client() == nullptr) {
      return ::testing::AssertionFailure() << b << ": sync not started (see " << b << ".log)";
    }
    branches_[b] = std::move(*rt);
    return ::testing::AssertionSuccess();
  }
  void close(const std::string& b) { branches_.erase(b); }
  bootstrap::Runtime& runtime(const std::string& b) { return *branches_.at(b); }
  sync::ClientStats stats(const std::string& b) { return branches_.at(b)->sync_client()->stats(); }

  json call(const std::string& b, json req, int expected = 0) {
    req["id"] = b + "-" + std::to_string(++seq_);
    if (!req.contains("at")) req["at"] = "2026-11-22T10:15:00-06:00";
    auto out = branches_.at(b)->service().handle(req.dump());
    EXPECT_EQ(out.code, expected) << b << " " << req.dump() << " -> " << out.json;
    return json::parse(out.json);
  }
  // A sale of two lines of `amount` each (5 % earn at 0.10 per point: amount x 1 points).
  json sale(const std::string& b, const std::string& customer, const std::string& ticket,
            const std::string& amount, const std::string& at = {}) {
    json req = {{"type", "sale.completed"},
                {"ticket", ticket},
                {"customer", customer},
                {"lines", {{{"n", 1}, {"amount", amount}}, {{"n", 2}, {"amount", amount}}}}};
    if (!at.empty()) req["at"] = at;
    return call(b, req);
  }
  // points.authorize + a sale paid with that hold; returns the authorize answer's code.
  int redeem(const std::string& b, const std::string& customer, const std::string& ticket,
             const std::string& amount, const std::string& at) {
    json auth = {{"type", "points.authorize"},
                 {"customer", customer},
                 {"ticket", ticket},
                 {"amount", amount},
                 {"at", at},
                 {"id", b + "-" + std::to_string(++seq_)}};
    auto out = branches_.at(b)->service().handle(auth.dump());
    if (out.code != 0) return out.code;
    const json hold = json::parse(out.json);
    call(b, {{"type", "sale.completed"},
             {"ticket", ticket},
             {"customer", customer},
             {"at", at},
             {"lines", {{{"n", 1}, {"amount", amount}}}},
             {"tenders", {{{"method", "points"}, {"amount", amount}, {"hold", hold["hold"]}}}}});
    return 0;
  }
  // The balance at business time `at` (default 2026-11-22T10:15); expired points hidden.
  int64_t balance(const std::string& b, const std::string& customer, const std::string& at = {}) {
    json req = {{"type", "balance.query"}, {"customer", customer}};
    if (!at.empty()) req["at"] = at;
    auto r = call(b, req);
    return r.value("balance", int64_t{-999999});
  }

  ledger::SqliteLedger& ledger(const std::string& b) {
    return static_cast<ledger::SqliteLedger&>(*branches_.at(b)->store());
  }
  // One row per SQL result row, columns joined with '|'.
  std::multiset<std::string> rows(const std::string& b, const std::string& sql) {
    auto& l = ledger(b);
    return l.with_db([&](sqlite3*) {
      std::multiset<std::string> out;
      auto q = l.query(sql);
      while (q.step()) out.insert(q.text(0));
      return out;
    });
  }
  int64_t count(const std::string& b, const std::string& sql) {
    auto r = rows(b, sql);
    return r.empty() ? -1 : std::stoll(*r.begin());
  }
  // The first column of the first row as an integer (0 for NULL or no row).
  int64_t sql_int(const std::string& b, const std::string& sql) {
    auto& l = ledger(b);
    return l.with_db([&](sqlite3*) {
      auto q = l.query(sql);
      return q.step() ? q.i64(0) : 0;
    });
  }
  std::multiset<std::string> entries(const std::string& b) {
    return rows(
        b,
        "SELECT entry_id || '|' || origin_branch || '|' || origin_seq || '|' || node_epoch || "
        "'|' || points || '|' || account_id FROM entries");
  }
  // Polls (real processes and threads) until every open branch holds the same entries.
  bool converged(std::chrono::seconds limit, size_t at_least = 0) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const auto first = entries(branches_.begin()->first);
      bool same = first.size() >= at_least;
      for (auto& [b, rt] : branches_) same = same && entries(b) == first;
      if (same) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string sizes() {
    std::string s;
    for (auto& [b, rt] : branches_) s += b + ":" + std::to_string(entries(b).size()) + " ";
    return s;
  }
  // verify() clean on every open branch.
  void expect_verify_clean() {
    for (auto& [b, rt] : branches_) {
      auto report = ledger::verify(ledger(b));
      EXPECT_TRUE(report.ok()) << b << ": "
                               << (report.problems.empty() ? "" : report.problems.front());
    }
  }
  std::string log_of(const std::string& b) {
    branches_.at(b)->logger()->flush();
    std::ifstream in(dir_ / (b + ".log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& [b, rt] : branches_) out.push_back(b);
    return out;
  }

 private:
  static std::filesystem::path fresh_dir(const std::filesystem::path& d) {
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
  }

  std::filesystem::path dir_;
  HubProcess hub_;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, std::unique_ptr<bootstrap::Runtime>> branches_;
  int seq_ = 0;
};

}  // namespace loyalty::testing
