// The branch sync client end to end: a real loyalty-hub process on 127.0.0.1 and three
// branch runtimes (the plugin's own bootstrap, each with its sync thread and real sockets),
// one of them behind the FaultProxy. Sales, an earn in B1 redeemed in B2, a refund in B3 of
// B1's sale; duplicated frames, cut connections and a hub SIGKILL + restart in the middle;
// then every node has the same entries and balances and verifies clean. A bad token is
// refused (401) and backs off. The seed of the random cut points is printed.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "bootstrap/runtime.h"
#include "fault_proxy.h"
#include "hub_process.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "sync/client/sync_client.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FaultProxy;
using testing::HubProcess;

class SyncClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sync_client_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    hub_ = std::make_unique<HubProcess>(dir_);
    hub_->write_config(HubProcess::loopback_config(HubProcess::free_port()));
  }
  void TearDown() override {
    branches_.clear();
    hub_.reset();
    if (!HasFailure()) fs::remove_all(dir_);  // kept with the branch logs when a test failed
  }

  void open_branch(const std::string& b, uint16_t port, const std::string& token) {
    std::ofstream(dir_ / (b + ".token")) << token << "\n";
    std::ofstream(dir_ / (b + ".toml"))
        << "[plugin]\nbranch = \"" << b << "\"\ndb = \"" << b << ".db\"\nsynchronous = \"normal\"\nlog = \"" << b << ".log\"\n"
        << "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n"
        << "[sync]\nurl = \"ws://127.0.0.1:" << port << "/v1/sync\"\ntoken_file = \"" << b << ".token\"\n";
    auto rt = bootstrap::Runtime::open((dir_ / (b + ".toml")).string());
    ASSERT_TRUE(rt.ok()) << rt.error().field << ": " << rt.error().message;
    branches_[b] = std::move(*rt);
  }

  json call(const std::string& b, json req, int expected = 0) {
    req["id"] = b + "-" + std::to_string(++seq_);
    if (!req.contains("at")) req["at"] = "2026-11-22T10:15:00-06:00";
    auto out = branches_.at(b)->service().handle(req.dump());
    EXPECT_EQ(out.code, expected) << out.json;
    return json::parse(out.json);
  }
  void sale(const std::string& b, const std::string& customer, const std::string& ticket,
            const std::string& amount) {
    call(b, {{"type", "sale.completed"}, {"ticket", ticket}, {"customer", customer},
             {"lines", {{{"n", 1}, {"amount", amount}}, {{"n", 2}, {"amount", amount}}}}});
  }
  ledger::SqliteLedger& ledger(const std::string& b) {
    return static_cast<ledger::SqliteLedger&>(*branches_.at(b)->store());
  }
  std::set<std::string> entries(const std::string& b) {
    auto& l = ledger(b);
    return l.with_db([&](sqlite3*) {
      std::set<std::string> out;
      auto q = l.query("SELECT entry_id || '|' || origin_branch || '|' || origin_seq || '|' || points FROM entries");
      while (q.step()) out.insert(q.text(0));
      return out;
    });
  }
  int64_t balance(const std::string& b, const std::string& customer) {
    auto r = call(b, {{"type", "balance.query"}, {"customer", customer}});
    return r.value("balance", int64_t{-999999});
  }
  // Polls (real processes and threads) until every branch holds the same entries, bounded.
  bool converged(std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const auto first = entries(branches_.begin()->first);
      bool same = true;
      for (auto& [b, rt] : branches_) same = same && entries(b) == first;
      if (same) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  fs::path dir_;
  std::unique_ptr<HubProcess> hub_;
  std::map<std::string, std::unique_ptr<bootstrap::Runtime>> branches_;
  int seq_ = 0;
};

TEST_F(SyncClientTest, ThreeBranchesConvergeThroughFaultsAndAHubCrash) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> tokens;
  for (const char* b : {"B1", "B2", "B3"}) tokens[b] = hub_->cli(std::string("token add ") + b);
  ASSERT_NE(hub_->start(), 0);
  FaultProxy proxy(hub_->port());
  open_branch("B1", proxy.port(), tokens["B1"]);
  open_branch("B2", hub_->port(), tokens["B2"]);
  open_branch("B3", hub_->port(), tokens["B3"]);

  // Duplicated frames in both directions on B1's link while it sells.
  proxy.duplicate_frames(FaultProxy::kToServer, 1);
  proxy.duplicate_frames(FaultProxy::kToClient, 1);
  sale("B1", "card:1", "S1", "45.00");  // 45 points
  for (int i = 0; i < 20; ++i) sale("B1", "card:" + std::to_string(10 + i % 5), "T" + std::to_string(i), "10.00");
  sale("B2", "card:2", "S2", "20.00");
  ASSERT_TRUE(converged(std::chrono::seconds(20)));
  proxy.duplicate_frames(FaultProxy::kToServer, 0);
  proxy.duplicate_frames(FaultProxy::kToClient, 0);
  EXPECT_EQ(balance("B2", "card:1"), 45);

  // Earn in B1, redeem in B2; refund in B3 of B1's sale (line 1: half of 45 -> 22).
  auto hold = call("B2", {{"type", "points.authorize"}, {"customer", "card:1"}, {"ticket", "P1"}, {"amount", "1.00"}});
  call("B2", {{"type", "sale.completed"}, {"ticket", "P1"}, {"customer", "card:1"},
              {"lines", {{{"n", 1}, {"amount", "1.00"}}}},
              {"tenders", {{{"method", "points"}, {"amount", "1.00"}, {"hold", hold["hold"]}}}}});
  auto refund = call("B3", {{"type", "refund.completed"}, {"ticket", "R1"}, {"original_ticket", "S1"},
                            {"original_branch", "B1"}, {"customer", "card:1"},
                            {"lines", {{{"n", 1}, {"amount", "45.00"}}}}});
  EXPECT_EQ(refund["clawed_back"], 22);

  // Cuts at random byte offsets of B1's link while it pushes, then the hub dies mid-stream.
  proxy.cut_at(FaultProxy::kToServer, 200 + rng() % 4000);
  for (int i = 0; i < 150; ++i) sale("B1", "card:" + std::to_string(100 + i % 7), "U" + std::to_string(i), "5.00");
  hub_->kill_hard();
  for (int i = 0; i < 50; ++i) sale("B3", "card:1", "V" + std::to_string(i), "2.00");
  proxy.cut_all();
  ASSERT_NE(hub_->start(), 0);
  ASSERT_TRUE(converged(std::chrono::seconds(40))) << "entries B1/B2/B3: " << entries("B1").size() << "/"
                                                  << entries("B2").size() << "/" << entries("B3").size();
  EXPECT_GT(proxy.faults(), 0);  // a run that injected nothing proves nothing

  const int64_t bal = balance("B1", "card:1");
  EXPECT_EQ(bal, 45 - 10 - 22 + 50 * 2);  // earned, redeemed in B2, refunded in B3, 50 B3 sales
  for (const char* b : {"B2", "B3"}) EXPECT_EQ(balance(b, "card:1"), bal) << b;
  for (int c = 100; c < 107; ++c) {
    const std::string ref = "card:" + std::to_string(c);
    EXPECT_EQ(balance("B2", ref), balance("B1", ref));
    EXPECT_EQ(balance("B3", ref), balance("B1", ref));
  }
  for (auto& [b, rt] : branches_) {
    auto report = ledger::verify(ledger(b));
    EXPECT_TRUE(report.ok()) << b << ": " << (report.problems.empty() ? "" : report.problems.front());
    auto st = rt->sync_client()->stats();
    std::printf("%s: connects %lld failures %lld pushed %lld applied %lld duplicates %lld\n", b.c_str(),
                static_cast<long long>(st.connects), static_cast<long long>(st.failures),
                static_cast<long long>(st.pushed), static_cast<long long>(st.applied),
                static_cast<long long>(st.duplicates));
  }
  EXPECT_GE(branches_.at("B1")->sync_client()->stats().failures, 1);
  std::printf("faults injected %d, entries %zu\n", proxy.faults(), entries("B1").size());
}

TEST_F(SyncClientTest, BadTokenIsRefusedAndBacksOffAtLeastFiveMinutes) {
  hub_->cli("token add B1");
  ASSERT_NE(hub_->start(), 0);
  open_branch("B1", hub_->port(), std::string(64, 'a'));
  sale("B1", "card:1", "S1", "45.00");  // the POS is not held up
  auto* client = branches_.at("B1")->sync_client();
  for (int i = 0; i < 500 && client->stats().auth_failures == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto st = client->stats();
  EXPECT_EQ(st.auth_failures, 1);
  EXPECT_GE(st.last_backoff_ms, 300000);
  EXPECT_EQ(st.connects, 0);
  EXPECT_EQ(st.pushed, 0);
}

}  // namespace
}  // namespace loyalty
