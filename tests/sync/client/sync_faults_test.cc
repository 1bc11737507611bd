// Sync faults of issue 5 with real processes on 127.0.0.1: the loyalty-hub binary, branch
// runtimes with their sync threads, and the FaultProxy in between.
//  - R8: PUSH batches reordered and dropped (NACK, rewind, re-ACK of an old batch, a lost
//    last batch resent after a flush period), ENTRIES frames reordered and duplicated
//    (applied once);
//  - R10: two branches offline for a simulated week (injected clock) with sales, expiries
//    and offline redemptions within the allowance, then reconnecting;
//  - one welcome bonus for a card enrolled offline in two branches.
// After each: identical entry sets and balances on every branch, verify clean.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "branch_net.h"
#include "eventually.h"
#include "fault_proxy.h"

namespace loyalty {
namespace {

using nlohmann::json;
using testing::BranchNet;
using testing::eventually;
using testing::FakeClock;
using testing::FaultProxy;
using testing::HubProcess;

using testing::kProgram;

std::string url(uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/sync"; }

json metrics(BranchNet& net) {
  const std::string body = net.hub().http_get("/metrics");
  return body.empty() ? json::object() : json::parse(body, nullptr, false);
}


TEST(SyncFaults, ReorderedReplayedAndDroppedPushesAndReorderedEntriesConverge) {
  BranchNet net("faults_r8");
  net.hub().write_config(HubProcess::loopback_config(0));
  for (const char* b : {"B1", "B2", "B3"}) net.add_token(b);
  ASSERT_NE(net.hub().start(), 0);
  FaultProxy up(net.hub().port());    // B1: its PUSHes reordered, replayed and dropped
  // B2: ENTRIES to it duplicated, and old ones again after newer ones. (Not held back: the
  // hub sends a branch its next partial ENTRIES frame only after the APPLIED of the last,
  // so a held frame would only stall the stream, never be overtaken.)
  FaultProxy down(net.hub().port());
  ASSERT_TRUE(net.open("B1", url(up.port()), kProgram));
  ASSERT_TRUE(net.open("B2", url(down.port()), kProgram));
  ASSERT_TRUE(net.open("B3", url(net.hub().port()), kProgram));
  ASSERT_TRUE(eventually([&] { return net.stats("B1").connects == 1; }));
  down.replay_messages(FaultProxy::kToClient, "entries", 2);
  down.duplicate_frames(FaultProxy::kToClient, 1);
  int ticket = 0;
  auto sales = [&](int n) {
    for (int i = 0; i < n; ++i, ++ticket) {
      net.sale("B1", "card:" + std::to_string(ticket % 6), "T" + std::to_string(ticket), "10.00");
      if (ticket % 4 == 0) {
        net.sale("B3", "card:" + std::to_string(ticket % 6), "U" + std::to_string(ticket), "3.00");
      }
    }
  };
  const auto start = std::chrono::steady_clock::now();

  // A PUSH overtaken by the next one: the hub NACKs the gap with `expected`, B1 rewinds.
  up.reorder_messages(FaultProxy::kToServer, "push", 1);
  sales(3);
  ASSERT_TRUE(eventually([&] { return up.held_now() == 1 || up.reordered_messages() == 1; }));
  sales(3);
  ASSERT_TRUE(eventually([&] { return up.reordered_messages() == 1; }));
  ASSERT_TRUE(eventually([&] { return net.stats("B1").nacks >= 1; }));
  // An old PUSH again after newer ones were acked: re-acked (a duplicate), not an error.
  up.replay_messages(FaultProxy::kToServer, "push", 1);
  sales(3);
  ASSERT_TRUE(eventually([&] { return up.held_now() == 1 || up.replayed_messages() == 1; }));
  sales(3);
  ASSERT_TRUE(eventually([&] { return up.replayed_messages() == 1; }));
  // A PUSH lost with more after it (the first one carrying ticket DROP): NACK and rewind.
  const int64_t nacks = net.stats("B1").nacks;
  up.drop_messages(FaultProxy::kToServer, "push", 1, R"("ticket":"DROP")");
  net.sale("B1", "card:2", "DROP", "7.00");
  ASSERT_TRUE(eventually([&] { return up.dropped_messages() == 1; }));
  sales(20);
  ASSERT_TRUE(net.converged(std::chrono::seconds(10))) << net.sizes();
  std::printf("converged %lld ms after the first fault\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count()));
  EXPECT_GT(net.stats("B1").nacks, nacks);
  EXPECT_GE(down.replayed_messages(), 1);
  EXPECT_GT(down.duplicated_frames(), 0);
  const json m = metrics(net);
  EXPECT_GT(m.value("duplicates", 0), 0) << m.dump();  // the replayed batch, stored once
  // B2 applied every remote entry exactly once although frames came twice and out of order.
  const auto s2 = net.stats("B2");
  EXPECT_EQ(s2.applied,
            net.count("B2", "SELECT count(*) FROM entries WHERE origin_branch != 'B2'"));
  EXPECT_GT(s2.duplicates, 0);
  EXPECT_EQ(s2.failures, 0);

  // A lost last PUSH (nothing after it draws a NACK) is sent again after a flush period.
  up.drop_messages(FaultProxy::kToServer, "push", 1, R"("ticket":"LAST")");
  net.sale("B1", "card:1", "LAST", "20.00");
  ASSERT_TRUE(net.converged(std::chrono::seconds(10))) << net.sizes();
  EXPECT_EQ(up.dropped_messages(), 2);
  const auto s1 = net.stats("B1");
  EXPECT_GE(s1.resends, 1);
  EXPECT_EQ(s1.failures, 0) << s1.last_error;  // all on one connection: no error, no reconnect
  EXPECT_EQ(s1.connects, 1);
  EXPECT_EQ(up.connections(), 1);

  for (int c = 0; c < 6; ++c) {
    const std::string ref = "card:" + std::to_string(c);
    const int64_t want = net.balance("B1", ref);
    EXPECT_GT(want, 0);
    EXPECT_EQ(net.balance("B2", ref), want) << ref;
    EXPECT_EQ(net.balance("B3", ref), want) << ref;
  }
  EXPECT_EQ(metrics(net).value("head_offset", -1), static_cast<int64_t>(net.entries("B1").size()));
  net.expect_verify_clean();
}

// "2026-11-<day>T10:00:00-06:00" for day 1..30.
std::string day_at(int day, int hour = 10) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "2026-11-%02dT%02d:00:00-06:00", day, hour);
  return buf;
}

TEST(SyncFaults, TwoBranchesOfflineForAWeekReconnectWithNothingLostOrDoubled) {
  BranchNet net("faults_week");
  net.hub().write_config(HubProcess::loopback_config(0));
  for (const char* b : {"B1", "B2", "B3"}) net.add_token(b);
  ASSERT_NE(net.hub().start(), 0);
  FaultProxy p1(net.hub().port());
  FaultProxy p2(net.hub().port());
  auto clock = std::make_shared<FakeClock>(testing::system_ms());
  const std::string program = std::string(kProgram) + "expiry_days = 3\n";
  const std::string offline = "stale_after_seconds = 60\noffline_redeem_allowance = 50\n";
  ASSERT_TRUE(net.open("B1", url(p1.port()), program, offline, clock));
  ASSERT_TRUE(net.open("B2", url(p2.port()), program, offline, clock));
  ASSERT_TRUE(net.open("B3", url(net.hub().port()), program, offline, clock));

  // Day 1, online: card:W earns 100 in B1; everyone knows it.
  net.sale("B1", "card:W", "W1", "100.00", day_at(1));
  ASSERT_TRUE(net.converged(std::chrono::seconds(10), 2)) << net.sizes();
  ASSERT_EQ(net.balance("B2", "card:W", day_at(1)), 100);

  // B1 and B2 lose the hub for a week (B3 stays connected).
  for (FaultProxy* p : {&p1, &p2}) {
    p->refuse(true);
    p->cut_all();
  }
  const int64_t t0 = clock->now_ms();
  for (int d = 2; d <= 8; ++d) {
    clock->set(t0 + (d - 1) * 86'400'000LL);  // wall clock and business day move together
    for (int c = 0; c < 5; ++c) {
      net.sale("B1", "card:1" + std::to_string(c),
               "D" + std::to_string(d) + "-" + std::to_string(c), "10.00", day_at(d));
      net.sale("B2", "card:2" + std::to_string(c),
               "E" + std::to_string(d) + "-" + std::to_string(c), "10.00", day_at(d));
    }
    if (d == 2) {
      // Offline: at most 50 points per customer and day; both branches spend card:W.
      EXPECT_EQ(net.redeem("B1", "card:W", "R1", "6.00", day_at(d, 11)), 5);  // 60 > allowance
      EXPECT_EQ(net.redeem("B1", "card:W", "R2", "5.00", day_at(d, 11)), 0);
      EXPECT_EQ(net.redeem("B2", "card:W", "R3", "5.00", day_at(d, 11)), 0);
    }
    if (d == 3) {
      EXPECT_EQ(net.redeem("B1", "card:W", "R4", "4.00", day_at(d, 11)), 0);
    }
  }
  // Lots of days 2..5 expired where they were written when their customers came back.
  const std::string expires = "SELECT count(*) FROM entries WHERE kind = 'expire'";
  const int64_t expired_b1 = net.count("B1", expires + " AND origin_branch = 'B1'");
  const int64_t expired_b2 = net.count("B2", expires + " AND origin_branch = 'B2'");
  EXPECT_GE(expired_b1, 15);
  EXPECT_GE(expired_b2, 15);
  const int64_t b1_seq =
      net.count("B1", "SELECT max(origin_seq) FROM entries WHERE origin_branch = 'B1'");
  const int64_t b2_seq =
      net.count("B2", "SELECT max(origin_seq) FROM entries WHERE origin_branch = 'B2'");

  // Back online.
  p1.refuse(false);
  p2.refuse(false);
  ASSERT_TRUE(net.converged(std::chrono::seconds(20))) << net.sizes();
  for (const std::string& b : net.names()) {
    // Nothing dropped: every entry of each origin, numbered 1..n.
    EXPECT_EQ(net.count(b, "SELECT count(*) FROM entries WHERE origin_branch = 'B1'"), b1_seq) << b;
    EXPECT_EQ(net.count(b, "SELECT count(*) FROM entries WHERE origin_branch = 'B2'"), b2_seq) << b;
    // Expiries: one per lot, written only by the lot's branch, never twice.
    EXPECT_EQ(net.count(b, expires), expired_b1 + expired_b2) << b;
    EXPECT_EQ(net.count(b,
                        "SELECT count(*) FROM (SELECT ref_entry_id FROM entries WHERE kind = "
                        "'expire' GROUP BY ref_entry_id HAVING count(*) > 1)"),
              0)
        << b;
    EXPECT_EQ(
        net.count(b,
                  "SELECT count(*) FROM entries x JOIN entries l ON l.entry_id = "
                  "x.ref_entry_id WHERE x.kind = 'expire' AND x.origin_branch != l.origin_branch"),
        0)
        << b;
    // The hub reported the overdraw made by the two offline redemptions (100 - 50 - 40 - 50).
    EXPECT_GE(net.count(b, "SELECT count(*) FROM entries WHERE kind = 'overdraw_report'"), 1) << b;
  }
  const std::string reports = net.hub().cli("overdraws");
  EXPECT_NE(reports.find("\"balance\":-40"), std::string::npos) << reports;
  for (const char* ref : {"card:W", "card:10", "card:24"}) {
    const int64_t want = net.balance("B3", ref, day_at(8));
    EXPECT_EQ(net.balance("B1", ref, day_at(8)), want) << ref;
    EXPECT_EQ(net.balance("B2", ref, day_at(8)), want) << ref;
  }
  EXPECT_EQ(net.balance("B3", "card:W", day_at(8)), -40);
  EXPECT_EQ(net.balance("B3", "card:10", day_at(8)), 30);  // days 6, 7, 8 not yet expired
  EXPECT_EQ(metrics(net).value("head_offset", -1), static_cast<int64_t>(net.entries("B3").size()));
  net.expect_verify_clean();
}

TEST(SyncFaults, ACardEnrolledOfflineInTwoBranchesKeepsOneWelcomeBonus) {
  BranchNet net("faults_welcome");
  net.hub().write_config(HubProcess::loopback_config(0));
  for (const char* b : {"B1", "B2", "B3"}) net.add_token(b);
  ASSERT_NE(net.hub().start(), 0);
  FaultProxy p1(net.hub().port());
  FaultProxy p2(net.hub().port());
  p1.refuse(true);
  p2.refuse(true);
  const std::string program = std::string(kProgram) + "welcome_bonus = 20\n";
  ASSERT_TRUE(net.open("B1", url(p1.port()), program));
  ASSERT_TRUE(net.open("B2", url(p2.port()), program));
  ASSERT_TRUE(net.open("B3", url(net.hub().port()), program));

  // The same new card in both offline branches: one account id, two welcome grants.
  net.sale("B2", "card:77", "S2", "10.00", day_at(5, 11));  // 20 + 10
  net.sale("B1", "card:77", "S1", "5.00", day_at(5, 9));    // 20 + 5, earlier business time
  EXPECT_EQ(net.balance("B1", "card:77"), 25);
  EXPECT_EQ(net.balance("B2", "card:77"), 30);
  p1.refuse(false);
  p2.refuse(false);
  ASSERT_TRUE(net.converged(std::chrono::seconds(15))) << net.sizes();

  for (const std::string& b : net.names()) {
    EXPECT_EQ(net.balance(b, "card:77"), 20 + 10 + 5) << b;
    // Both grants travel; the later one (B2's) is reversed once, by B2.
    EXPECT_EQ(
        net.rows(b,
                 "SELECT kind || '|' || origin_branch || '|' || points FROM entries "
                 "WHERE kind LIKE 'welcome%' ORDER BY kind, origin_branch"),
        (std::multiset<std::string>{"welcome|B1|20", "welcome|B2|20", "welcome_reversal|B2|-20"}))
        << b;
    EXPECT_EQ(net.count(b, "SELECT count(DISTINCT account_id) FROM entries"), 1) << b;
  }
  // A third enrollment elsewhere later is no new grant: the card is known everywhere now.
  net.sale("B3", "card:77", "S3", "1.00", day_at(6));
  ASSERT_TRUE(net.converged(std::chrono::seconds(10))) << net.sizes();
  EXPECT_EQ(net.count("B1", "SELECT count(*) FROM entries WHERE kind = 'welcome'"), 2);
  EXPECT_EQ(net.balance("B1", "card:77"), 36);
  net.expect_verify_clean();
}

}  // namespace
}  // namespace loyalty
