// The branch sync client end to end: a real loyalty-hub process on 127.0.0.1 and three
// branch runtimes (the plugin's own bootstrap, each with its sync thread and real sockets),
// one of them behind the FaultProxy. Sales, an earn in B1 redeemed in B2, a refund in B3 of
// B1's sale; duplicated frames, cut connections and a hub SIGKILL + restart in the middle;
// then every node has the same entries and balances and verifies clean. A bad token is
// refused (401) and backs off. The seed of the random cut points is printed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "branch_net.h"
#include "fault_proxy.h"

namespace loyalty {
namespace {

using nlohmann::json;
using testing::BranchNet;
using testing::FaultProxy;
using testing::HubProcess;

using testing::kProgram;

std::string ws_url(uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/sync"; }

TEST(SyncClientTest, ThreeBranchesConvergeThroughFaultsAndAHubCrash) {
  BranchNet net("client");
  net.hub().write_config(HubProcess::loopback_config(HubProcess::free_port()));
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (const char* b : {"B1", "B2", "B3"}) net.add_token(b);
  ASSERT_NE(net.hub().start(), 0);
  FaultProxy proxy(net.hub().port());
  ASSERT_TRUE(net.open("B1", ws_url(proxy.port()), kProgram));
  ASSERT_TRUE(net.open("B2", ws_url(net.hub().port()), kProgram));
  ASSERT_TRUE(net.open("B3", ws_url(net.hub().port()), kProgram));

  // Duplicated frames in both directions on B1's link while it sells.
  proxy.duplicate_frames(FaultProxy::kToServer, 1);
  proxy.duplicate_frames(FaultProxy::kToClient, 1);
  net.sale("B1", "card:1", "S1", "45.00");  // 45 points
  for (int i = 0; i < 20; ++i) net.sale("B1", "card:" + std::to_string(10 + i % 5), "T" + std::to_string(i), "10.00");
  net.sale("B2", "card:2", "S2", "20.00");
  ASSERT_TRUE(net.converged(std::chrono::seconds(20)));
  proxy.duplicate_frames(FaultProxy::kToServer, 0);
  proxy.duplicate_frames(FaultProxy::kToClient, 0);
  EXPECT_EQ(net.balance("B2", "card:1"), 45);

  // Earn in B1, redeem in B2; refund in B3 of B1's sale (line 1: half of 45 -> 22).
  auto hold = net.call("B2", {{"type", "points.authorize"}, {"customer", "card:1"}, {"ticket", "P1"}, {"amount", "1.00"}});
  net.call("B2", {{"type", "sale.completed"}, {"ticket", "P1"}, {"customer", "card:1"},
              {"lines", {{{"n", 1}, {"amount", "1.00"}}}},
              {"tenders", {{{"method", "points"}, {"amount", "1.00"}, {"hold", hold["hold"]}}}}});
  auto refund = net.call("B3", {{"type", "refund.completed"}, {"ticket", "R1"}, {"original_ticket", "S1"},
                            {"original_branch", "B1"}, {"customer", "card:1"},
                            {"lines", {{{"n", 1}, {"amount", "45.00"}}}}});
  EXPECT_EQ(refund["clawed_back"], 22);

  // Cuts at random byte offsets of B1's link while it pushes, then the hub dies mid-stream.
  proxy.cut_at(FaultProxy::kToServer, 200 + rng() % 4000);
  for (int i = 0; i < 150; ++i) net.sale("B1", "card:" + std::to_string(100 + i % 7), "U" + std::to_string(i), "5.00");
  net.hub().kill_hard();
  for (int i = 0; i < 50; ++i) net.sale("B3", "card:1", "V" + std::to_string(i), "2.00");
  proxy.cut_all();
  ASSERT_NE(net.hub().start(), 0);
  ASSERT_TRUE(net.converged(std::chrono::seconds(40))) << "entries B1/B2/B3: " << net.entries("B1").size() << "/"
                                                  << net.entries("B2").size() << "/" << net.entries("B3").size();
  EXPECT_GT(proxy.faults(), 0);  // a run that injected nothing proves nothing

  const int64_t bal = net.balance("B1", "card:1");
  EXPECT_EQ(bal, 45 - 10 - 22 + 50 * 2);  // earned, redeemed in B2, refunded in B3, 50 B3 sales
  for (const char* b : {"B2", "B3"}) EXPECT_EQ(net.balance(b, "card:1"), bal) << b;
  for (int c = 100; c < 107; ++c) {
    const std::string ref = "card:" + std::to_string(c);
    EXPECT_EQ(net.balance("B2", ref), net.balance("B1", ref));
    EXPECT_EQ(net.balance("B3", ref), net.balance("B1", ref));
  }
  net.expect_verify_clean();
  for (const auto& b : net.names()) {
    auto st = net.stats(b);
    std::printf("%s: connects %lld failures %lld pushed %lld applied %lld duplicates %lld\n", b.c_str(),
                static_cast<long long>(st.connects), static_cast<long long>(st.failures),
                static_cast<long long>(st.pushed), static_cast<long long>(st.applied),
                static_cast<long long>(st.duplicates));
  }
  EXPECT_GE(net.stats("B1").failures, 1);
  std::printf("faults injected %d, entries %zu\n", proxy.faults(), net.entries("B1").size());
}

TEST(SyncClientTest, BadTokenIsRefusedAndBacksOffAtLeastFiveMinutes) {
  BranchNet net("client_token");
  net.hub().write_config(HubProcess::loopback_config(HubProcess::free_port()));
  net.add_token("B1");
  ASSERT_NE(net.hub().start(), 0);
  ASSERT_TRUE(net.open("B1", ws_url(net.hub().port()), kProgram, {}, nullptr, std::string(64, 'a')));
  net.sale("B1", "card:1", "S1", "45.00");  // the POS is not held up
  auto* client = net.runtime("B1").sync_client();
  // The sync thread counts the refusal, then schedules the retry: wait for both.
  for (int i = 0; i < 500 && (client->stats().auth_failures == 0 ||
                              client->stats().last_backoff_ms == 0);
       ++i) {
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
