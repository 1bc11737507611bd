// Random days through the real network: three branch runtimes (the plugin's bootstrap with
// its sync thread) reach one loyalty-hub process over websockets on 127.0.0.1, each through a
// FaultProxy. The business is the random mix of tests/support/random_day.h, the same as
// SyncApplyRandomTest (tests/app/sync_apply_test.cc, an in-test hub), while the network does
// what networks do: a branch loses the hub for a while (refused and cut), frames to a branch
// arrive twice, a POS closes and reopens the plugin, the hub process is killed and restarted
// on its port. Wall time and business time move together on a shared FakeClock, with
// month-long jumps past the lots' expiry.
//
// Once every link is back and each branch has swept its due lots: the same entries on every
// branch, the same balance for every card, a history that adds up to it, a points report that
// adds up to the balances, no `internal` answer, and every ledger verifies.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "branch_net.h"
#include "eventually.h"
#include "fault_proxy.h"
#include "ledger/admin.h"
#include "random_day.h"

namespace loyalty {
namespace {

using nlohmann::json;
using testing::BranchNet;
using testing::eventually;
using testing::FakeClock;
using testing::FaultProxy;
using testing::HubProcess;
using testing::RandomDay;

std::string url(uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/sync"; }

class SyncRandomTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SyncRandomTest, RandomDaysThroughTheHubConvergeEverywhere) {
  const uint32_t seed = GetParam();
  RandomDay day(seed);
  BranchNet net("random_" + std::to_string(seed));
  const uint16_t hub_port = HubProcess::free_port();  // the hub comes back on it after a kill
  net.hub().write_config(HubProcess::loopback_config(hub_port));
  for (const auto& b : day.branches()) net.add_token(b);
  ASSERT_EQ(net.hub().start(), hub_port);
  auto clock = std::make_shared<FakeClock>(testing::system_ms());
  const std::string program = std::string(testing::kProgram) + "expiry_days = 30\n" +
                              "excluded_payment_methods = [\"credit_card\"]\n" + day.program();
  std::map<std::string, std::unique_ptr<FaultProxy>> link;
  std::map<std::string, bool> offline;
  for (const auto& b : day.branches()) {
    link[b] = std::make_unique<FaultProxy>(hub_port);
    ASSERT_TRUE(net.open(b, url(link[b]->port()), program, {}, clock));
  }

  int internal = 0;
  int seq = 0;
  auto send = [&](const std::string& b, json req) {
    req["id"] = b + "-R" + std::to_string(++seq);
    req["at"] = RandomDay::at(clock->now_ms());
    const auto out = net.runtime(b).service().handle(req.dump());
    if (out.code == 8) {
      ++internal;
      ADD_FAILURE() << "seed " << seed << " at " << b << ": " << req.dump() << " -> " << out.json;
    }
    return json::parse(out.json);
  };

  int cuts = 0, reopens = 0, hub_restarts = 0;
  for (int i = 0; i < 250 && !::testing::Test::HasFailure(); ++i) {
    clock->advance(std::chrono::milliseconds(day.time_step_ms()));
    day.request(i, send);
    const std::string b = day.branches()[static_cast<size_t>(day.pick(3))];
    switch (day.pick(40)) {
      case 0:
      case 1:
      case 2:  // the branch loses the hub, or gets it back
        offline[b] = !offline[b];
        link[b]->refuse(offline[b]);
        if (offline[b]) {
          link[b]->cut_all();
          ++cuts;
        }
        break;
      case 3:  // frames to the branch arrive twice, or no longer
        link[b]->duplicate_frames(FaultProxy::kToClient, day.pick(2));
        break;
      case 4:  // the POS closes the plugin and opens it again
        net.close(b);
        ASSERT_TRUE(net.open(b, url(link[b]->port()), program, {}, clock));
        ++reopens;
        break;
      case 5:
        if (day.pick(4) == 0) {  // the hub process dies and is restarted on its port
          net.hub().kill_hard();
          ASSERT_EQ(net.hub().start(), hub_port);
          ++hub_restarts;
        }
        break;
      default:
        break;
    }
    if (day.pick(10) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let sync run
  }
  ASSERT_FALSE(::testing::Test::HasFailure());

  // Every link back; each branch's sweep expires its own due lots (docs/sync.md, "Expiry
  // authority"). Twice: a correction or cap written when the branches met may be due already.
  for (const auto& b : day.branches()) {
    link[b]->refuse(false);
    link[b]->duplicate_frames(FaultProxy::kToClient, 0);
  }
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(net.converged(std::chrono::seconds(30))) << "seed " << seed << ": " << net.sizes();
    std::map<std::string, int64_t> sweeps;
    for (const auto& b : day.branches()) {
      sweeps[b] = net.stats(b).sweeps;
      net.runtime(b).sync_client()->sweep_now();
    }
    for (const auto& b : day.branches()) {
      ASSERT_TRUE(eventually([&] { return net.stats(b).sweeps > sweeps[b]; }, std::chrono::seconds(10))) << b;
    }
  }
  // Stable: equal now and still equal a moment later (no correction in flight).
  ASSERT_TRUE(net.converged(std::chrono::seconds(30))) << "seed " << seed << ": " << net.sizes();
  const auto entries = net.entries("B1");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(net.converged(std::chrono::seconds(30))) << "seed " << seed << ": " << net.sizes();
  EXPECT_EQ(net.entries("B1"), entries) << "seed " << seed;

  for (int c = 1; c <= RandomDay::kCards; ++c) {
    const std::string card = day.card(c);
    std::optional<int64_t> first;
    for (const auto& b : day.branches()) {
      const json q = send(b, {{"type", "balance.query"}, {"customer", card}});
      if (!q.value("ok", false)) continue;  // never seen anywhere
      const int64_t bal = q["balance"].get<int64_t>();
      if (first) {
        EXPECT_EQ(bal, *first) << "seed " << seed << ": " << card << " at " << b;
      }
      first = bal;
      const json h = send(b, {{"type", "history.query"}, {"customer", card}, {"limit", 10'000}});
      int64_t sum = 0;
      for (const auto& e : h["entries"]) sum += e["points"].get<int64_t>();
      EXPECT_EQ(sum, bal) << "seed " << seed << ": history of " << card << " at " << b;
    }
  }
  for (const auto& b : day.branches()) {
    auto& l = net.ledger(b);
    int64_t net_points = 0;
    for (const auto& r : ledger::points_report(l, int64_t{0}, int64_t{4'000'000'000'000}, std::nullopt)) {
      net_points += r.earned - r.redeemed - r.clawed_back + r.restored - r.expired + r.adjusted;
    }
    EXPECT_EQ(net_points, net.sql_int(b, "SELECT coalesce(sum(balance), 0) FROM accounts"))
        << "seed " << seed << ": report at " << b;
    const auto s = net.stats(b);
    EXPECT_FALSE(s.diverged) << "seed " << seed << " at " << b;
    EXPECT_EQ(s.recovery_conflicts, 0) << "seed " << seed << " at " << b;
  }
  net.expect_verify_clean();
  EXPECT_EQ(internal, 0);
  std::printf("seed %u: %zu entries, %d cuts, %d reopens, %d hub restarts\n", seed, entries.size(), cuts,
              reopens, hub_restarts);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SyncRandomTest, ::testing::Range(1u, 5u));

}  // namespace
}  // namespace loyalty
