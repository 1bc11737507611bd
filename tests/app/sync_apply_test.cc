// Three branches on real SQLite ledgers exchanging entries through an in-test hub (the
// hub's ordering and dedupe rules, no network): convergence of balances and entry sets,
// cross-branch refunds (also while offline), expiry authority, duplicate delivery and the
// offline redemption cap. The network client is tested in tests/sync/client.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "app/service.h"
#include "app/sync_apply.h"
#include "config/load.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "manual_clock.h"
#include "random_day.h"

namespace loyalty {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using testing::ManualClock;

std::string config_for(const std::string& branch, const std::string& sync) {
  return "[plugin]\nbranch = \"" + branch + "\"\ndb = \"" + branch + ".db\"\nsynchronous = \"normal\"\n" +
         "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\nexpiry_days = 30\n" +
         "excluded_payment_methods = [\"credit_card\"]\n" + sync;
}

struct Node {
  std::string branch;
  std::shared_ptr<ledger::SqliteLedger> ledger;
  std::shared_ptr<const config::Settings> settings;
  std::unique_ptr<app::Service> service;
  // balance.query from SQLite itself (a read-only connection without the balance
  // projection), to compare with the service's, which answers from memory.
  std::shared_ptr<ledger::SqliteLedger> reference_ledger;
  std::unique_ptr<app::Service> reference;
  std::shared_ptr<app::SyncStatus> status = std::make_shared<app::SyncStatus>();
  int64_t acked = 0;
  int64_t applied = 0;
};

// The hub's rules (sync protocol v1): dedupe by (origin, seq) and entry_id, global offsets,
// never send a branch its own entries.
struct Hub {
  std::vector<app::EntryRow> log;  // offset = index + 1
  std::set<std::pair<std::string, int64_t>> seen;
  std::set<std::string> ids;
  int64_t duplicates = 0;
  void store(const app::EntryRow& e) {
    if (!seen.insert({e.origin_branch, e.origin_seq}).second || !ids.insert(e.entry_id).second) {
      ++duplicates;
      return;
    }
    log.push_back(e);
  }
};

class SyncApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-syncapply-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const char* b : {"B1", "B2", "B3"}) add(b, "");
  }
  void TearDown() override {
    for (auto& [b, n] : nodes_) {
      auto r = ledger::verify(*n.ledger);
      EXPECT_TRUE(r.ok()) << b << ": " << (r.problems.empty() ? "" : r.problems.front());
    }
    nodes_.clear();
    fs::remove_all(dir_);
  }

  void add(const std::string& b, const std::string& sync) {
    auto s = config::parse_settings(config_for(b, sync), dir_ + "/" + b + ".toml");
    ASSERT_TRUE(s.ok()) << s.error().field << ": " << s.error().message;
    Node n;
    n.branch = b;
    ledger::LedgerOptions o;
    o.path = s->db_path;
    o.branch = b;
    o.synchronous = 1;
    o.checkpoint_pages = 0;
    n.ledger = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    n.settings = std::make_shared<const config::Settings>(std::move(*s));
    n.service = std::make_unique<app::Service>(n.ledger, n.settings, clock_);
    n.service->set_sync_status(n.status);
    o.read_only = true;
    o.balance_projection = false;
    o.read_reuse_us = 0;
    n.reference_ledger = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    n.reference = std::make_unique<app::Service>(n.reference_ledger, n.settings, clock_);
    n.reference->set_sync_status(n.status);
    nodes_.erase(b);
    nodes_.emplace(b, std::move(n));
  }

  json call(const std::string& b, json req, int expected = 0) {
    req["id"] = b + "-" + std::to_string(++seq_);
    auto out = nodes_.at(b).service->handle(req.dump());
    EXPECT_EQ(out.code, expected) << out.json;
    return json::parse(out.json);
  }
  json sale(const std::string& b, const std::string& customer, const std::string& ticket,
            const std::string& amount, const std::string& method = "cash") {
    return call(b, {{"type", "sale.completed"}, {"at", kAt}, {"ticket", ticket}, {"customer", customer},
                    {"lines", {{{"n", 1}, {"qty", "2"}, {"amount", amount}}, {{"n", 2}, {"qty", "1"}, {"amount", amount}}}},
                    {"tenders", {{{"method", method}, {"amount", amount}}}}});
  }
  json refund(const std::string& b, const std::string& sale_branch, const std::string& ticket,
              const std::string& customer, json lines) {
    return call(b, {{"type", "refund.completed"}, {"at", kAt}, {"ticket", "R-" + ticket + b},
                    {"original_ticket", ticket}, {"original_branch", sale_branch}, {"customer", customer},
                    {"lines", lines}, {"tenders", {{{"method", "cash"}, {"amount", "1.00"}}}}});
  }
  int64_t balance(const std::string& b, const std::string& customer) {
    return call(b, {{"type", "balance.query"}, {"at", kAt}, {"customer", customer}})["balance"].get<int64_t>();
  }

  // One round: every node pushes its outbox, then pulls and applies what it lacks.
  void sync(const std::set<std::string>& online = {"B1", "B2", "B3"}) {
    for (const auto& b : online) {
      Node& n = nodes_.at(b);
      for (const auto& e : app::outbox(*n.ledger, b, n.acked, 500)) {
        hub_.store(e);
        n.acked = e.origin_seq;
      }
    }
    for (const auto& b : online) {
      Node& n = nodes_.at(b);
      std::vector<app::EntryRow> batch;
      for (size_t i = static_cast<size_t>(n.applied); i < hub_.log.size(); ++i) {
        if (hub_.log[i].origin_branch != b) batch.push_back(hub_.log[i]);
      }
      const int64_t to = static_cast<int64_t>(hub_.log.size());
      last_ = app::apply_remote_batch(*n.ledger, *n.settings, *clock_, batch, to);
      n.applied = to;
    }
  }
  void converge() {
    for (int i = 0; i < 3; ++i) sync();
  }

  std::set<std::string> entry_set(const std::string& b) {
    auto& l = *nodes_.at(b).ledger;
    return l.with_db([&](sqlite3*) {
      std::set<std::string> out;
      auto q = l.query("SELECT entry_id || ' ' || origin_branch || ' ' || origin_seq || ' ' || points "
                       "|| ' ' || account_id FROM entries");
      while (q.step()) out.insert(q.text(0));
      return out;
    });
  }
  std::string sale_row(const std::string& b, const std::string& branch, const std::string& ticket) {
    auto& l = *nodes_.at(b).ledger;
    return l.with_db([&](sqlite3*) {
      auto q = l.query("SELECT earned || '/' || clawed_back || '/' || lines FROM sales WHERE branch = ?1 AND ticket = ?2");
      q.bind(1, branch).bind(2, ticket);
      return q.step() ? q.text(0) : std::string("<none>");
    });
  }
  void expect_converged(const std::string& customer) {
    const auto e1 = entry_set("B1");
    const int64_t bal = balance("B1", customer);
    for (const char* b : {"B2", "B3"}) {
      EXPECT_EQ(entry_set(b), e1) << b;
      EXPECT_EQ(balance(b, customer), bal) << b;
    }
  }

  static constexpr const char* kAt = "2026-11-22T10:15:00-06:00";
  std::string dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::map<std::string, Node> nodes_;
  Hub hub_;
  app::ApplyCounts last_;
  int seq_ = 0;
};

TEST_F(SyncApplyTest, EarnInOneBranchRedeemInAnotherConverges) {
  EXPECT_EQ(sale("B1", "card:7", "S1", "45.00")["earned"], 45);  // 90.00 -> 45 points
  sale("B3", "card:9", "S9", "10.00");
  converge();
  EXPECT_EQ(balance("B2", "card:7"), 45);
  auto hold = call("B2", {{"type", "points.authorize"}, {"at", kAt}, {"customer", "card:7"},
                          {"ticket", "P1"}, {"amount", "2.00"}});
  EXPECT_EQ(hold["points"], 20);
  call("B2", {{"type", "sale.completed"}, {"at", kAt}, {"ticket", "P1"}, {"customer", "card:7"},
              {"lines", {{{"n", 1}, {"amount", "2.00"}}}},
              {"tenders", {{{"method", "points"}, {"amount", "2.00"}, {"hold", hold["hold"]}}}}});
  converge();
  EXPECT_EQ(balance("B1", "card:7"), 25);
  expect_converged("card:7");
  EXPECT_EQ(entry_set("B1").size(), 6u);  // 2 x (enroll + earn), sale (0 points), redeem
  // Each branch counts both sales on the account: its own, and the other's as it arrives.
  for (const char* b : {"B1", "B2", "B3"}) {
    auto& l = *nodes_.at(b).ledger;
    const int64_t sales = l.with_db([&](sqlite3*) {
      auto q = l.query("SELECT a.sales_count FROM accounts a JOIN aliases s ON s.account_id = a.account_id "
                       "WHERE s.ref = 'card:7'");
      return q.step() ? q.i64(0) : -1;
    });
    EXPECT_EQ(sales, 2) << b;
  }
}

TEST_F(SyncApplyTest, RefundInAnotherBranchClawsBackExactlyWhatTheSaleEarned) {
  sale("B1", "card:7", "S1", "45.00");  // lines 45 + 45 -> 45 points
  converge();
  auto r = refund("B2", "B1", "S1", "card:7", {{{"n", 1}, {"amount", "45.00"}}});
  EXPECT_EQ(r["clawed_back"], 22);  // floor(45 x 1/2)
  converge();
  r = refund("B3", "B1", "S1", "card:7", {{{"n", 2}, {"amount", "45.00"}}});
  EXPECT_EQ(r["clawed_back"], 23);  // the rest: exactly 45 in total
  converge();
  EXPECT_EQ(balance("B1", "card:7"), 0);
  expect_converged("card:7");
  EXPECT_EQ(sale_row("B1", "B1", "S1"), sale_row("B3", "B1", "S1"));
  EXPECT_EQ(sale_row("B2", "B1", "S1"), sale_row("B3", "B1", "S1"));
}

TEST_F(SyncApplyTest, OfflineRefundIsCorrectedWhenTheSaleArrives) {
  sale("B3", "card:7", "X", "100.00");   // B3 knows the customer: 100 points
  converge();
  // Half paid by credit card (excluded): 90.00 x 1/2 x 5 % / 0.10 = 22 points, in B1 while
  // B3 is offline.
  auto s = call("B1", {{"type", "sale.completed"}, {"at", kAt}, {"ticket", "S1"}, {"customer", "card:7"},
                       {"lines", {{{"n", 1}, {"amount", "45.00"}}, {{"n", 2}, {"amount", "45.00"}}}},
                       {"tenders", {{{"method", "cash"}, {"amount", "45.00"}},
                                    {{"method", "credit_card"}, {"amount", "45.00"}}}}});
  EXPECT_EQ(s["earned"], 22);
  sync({"B1", "B2"});
  // B3 refunds line 1 before it has seen the sale: clawed back at the current rate (45.00
  // priced like a cash sale: 22), where the refunded half earned only 11.
  auto r = refund("B3", "B1", "S1", "card:7", {{{"n", 1}, {"amount", "45.00"}}});
  EXPECT_EQ(r["clawed_back"], 22);
  converge();
  // B3 appended the correction (+11): in total exactly what the refunded half earned.
  EXPECT_EQ(balance("B1", "card:7"), 100 + 22 - 11);
  expect_converged("card:7");
  size_t corrections = 0;
  for (const auto& e : entry_set("B2")) corrections += e.rfind("correction:", 0) == 0;
  EXPECT_EQ(corrections, 1u);
  EXPECT_EQ(sale_row("B1", "B1", "S1"), sale_row("B3", "B1", "S1"));
  EXPECT_EQ(sale_row("B2", "B1", "S1"), sale_row("B3", "B1", "S1"));
  // The other half refunded anywhere completes the clawback to 22.
  refund("B2", "B1", "S1", "card:7", {{{"n", 2}, {"amount", "45.00"}}});
  converge();
  EXPECT_EQ(balance("B3", "card:7"), 100);
  expect_converged("card:7");
}

// The customer bought at B1 while B2 was cut off, and returns the goods at B2, which knows
// neither the sale nor the card: the refund clawed back nothing and left nothing to correct,
// so the customer kept the points of goods given back.
TEST_F(SyncApplyTest, ARefundWhereTheCustomerIsNotKnownYetClawsBackWhenTheSaleArrives) {
  sale("B1", "card:K", "TK", "45.00");  // 45 points; B2 has not heard of card:K
  const json all = {{{"n", 1}, {"amount", "45.00"}}, {{"n", 2}, {"amount", "45.00"}}};
  const json r = refund("B2", "B1", "TK", "card:K", all);
  EXPECT_EQ(r["clawed_back"], 0);
  EXPECT_EQ(r["matched"], false);
  EXPECT_NE(r["account"], "") << r.dump();
  EXPECT_EQ(balance("B2", "card:K"), 0);  // no welcome bonus for an account a refund found missing
  converge();
  expect_converged("card:K");
  EXPECT_EQ(balance("B1", "card:K"), 0);  // 45 earned, 45 clawed back (rule 7)
  for (const char* b : {"B1", "B2", "B3"}) EXPECT_EQ(sale_row(b, "B1", "TK").substr(0, 6), "45/45/") << b;
}

// A refund recorded before its sale that named another customer than the sale's (the POS
// took another card at the return): once the sale is known, its customer gives back what
// the refunded part earned, as a matched refund takes it from the sale's customer, and the
// named customer is made whole. The correction took it all from the named customer.
TEST_F(SyncApplyTest, AnEarlyRefundNamingAnotherCustomerIsSettledOnTheSalesCustomer) {
  sale("B2", "card:X", "SX", "10.00");  // card:X known at B2: 10 points
  converge();
  sale("B1", "card:Y", "SY", "45.00");  // 45 points; B2 has not seen it
  const json all = {{{"n", 1}, {"amount", "45.00"}}, {{"n", 2}, {"amount", "45.00"}}};
  EXPECT_EQ(refund("B2", "B1", "SY", "card:X", all)["clawed_back"], 45);  // at card:X's rate
  converge();
  expect_converged("card:X");
  expect_converged("card:Y");
  EXPECT_EQ(balance("B1", "card:X"), 10);
  EXPECT_EQ(balance("B1", "card:Y"), 0);
  for (const char* b : {"B1", "B2", "B3"}) EXPECT_EQ(sale_row(b, "B1", "SY").substr(0, 6), "45/45/") << b;
}

TEST_F(SyncApplyTest, TwoOfflineEnrollmentsOfOneCardAreOneAccount) {
  sale("B1", "card:5", "A", "20.00");
  sale("B2", "card:5", "B", "20.00");
  converge();
  EXPECT_EQ(balance("B3", "card:5"), 40);
  expect_converged("card:5");
  call("B1", {{"type", "customer.upsert"}, {"at", kAt}, {"customer", "card:5"}, {"aliases", {"phone:1"}}});
  call("B2", {{"type", "customer.upsert"}, {"at", kAt}, {"customer", "card:6"}});
  call("B2", {{"type", "customer.upsert"}, {"at", kAt}, {"customer", "card:6"}, {"aliases", {"phone:2"}}});
  converge();
  EXPECT_EQ(balance("B3", "phone:1"), 40);
  EXPECT_EQ(balance("B1", "phone:2"), 0);
}

TEST_F(SyncApplyTest, DuplicateDeliveryChangesNothing) {
  sale("B1", "card:7", "S1", "45.00");
  converge();
  const auto before = entry_set("B2");
  auto batch = app::outbox(*nodes_.at("B1").ledger, "B1", 0, 500);
  ASSERT_FALSE(batch.empty());
  auto again = app::apply_remote_batch(*nodes_.at("B2").ledger, *nodes_.at("B2").settings, *clock_,
                                       batch, 1);
  EXPECT_EQ(again.applied, 0);
  EXPECT_EQ(again.duplicates, static_cast<int64_t>(batch.size()));
  app::EntryRow forged = batch.back();
  forged.body_hash = std::string(64, 'f');
  again = app::apply_remote_batch(*nodes_.at("B2").ledger, *nodes_.at("B2").settings, *clock_, {forged}, 1);
  EXPECT_EQ(again.conflicts, 1);
  EXPECT_EQ(entry_set("B2"), before);
  EXPECT_EQ(balance("B2", "card:7"), 45);
}

// apply_remote_frames (the sync client's batch of received frames): one transaction for all,
// all or nothing; sync_state from the last frame.
TEST_F(SyncApplyTest, SeveralFramesApplyInOneTransactionAllOrNothing) {
  sale("B1", "card:7", "S1", "45.00");
  sale("B1", "card:8", "S2", "10.00");
  auto out = app::outbox(*nodes_.at("B1").ledger, "B1", 0, 500);
  ASSERT_EQ(out.size(), 4u);  // enroll + earn, twice
  auto frame = [&](size_t from, size_t to) {  // out[from..to) at hub offsets 10 + index
    app::RemoteFrame f;
    for (size_t i = from; i < to; ++i) {
      f.entries.push_back(out[i]);
      f.offsets.push_back(10 + static_cast<int64_t>(i));
    }
    f.to_offset = 10 + static_cast<int64_t>(to) - 1;
    return f;
  };
  Node& b2 = nodes_.at("B2");
  const auto before = entry_set("B2");
  // The second frame's entry takes the first frame's (origin, seq) under another id: the
  // ledger refuses it, and the first frame is not kept either.
  auto bad = frame(2, 4);
  bad.entries[1].entry_id = "B1/forged";
  bad.entries[1].origin_seq = out[0].origin_seq;
  EXPECT_THROW(app::apply_remote_frames(*b2.ledger, *b2.settings, *clock_, {frame(0, 2), bad}),
               std::exception);
  EXPECT_EQ(entry_set("B2"), before);
  EXPECT_EQ(b2.ledger->begin_read()->sync_state(app::kHubPeer).applied_offset, 0);

  // An empty frame (a range of B2's own entries) between two: its to_offset counts, the
  // check pair is the last entry of the last frame with entries.
  app::RemoteFrame empty;
  empty.to_offset = 20;
  auto counts = app::apply_remote_frames(*b2.ledger, *b2.settings, *clock_,
                                         {frame(0, 2), frame(2, 4), empty});
  EXPECT_EQ(counts.applied, 4);
  auto st = b2.ledger->begin_read()->sync_state(app::kHubPeer);
  EXPECT_EQ(st.applied_offset, 20);
  EXPECT_EQ(st.check_offset, 13);
  EXPECT_EQ(st.check_entry_id, out[3].entry_id);
  EXPECT_EQ(balance("B2", "card:7"), 45);
  EXPECT_EQ(balance("B2", "card:8"), 10);
  // Again (a restart before APPLIED reached the hub): nothing twice.
  counts = app::apply_remote_frames(*b2.ledger, *b2.settings, *clock_, {frame(0, 2), frame(2, 4)});
  EXPECT_EQ(counts.applied, 0);
  EXPECT_EQ(counts.duplicates, 4);
  EXPECT_EQ(b2.ledger->begin_read()->sync_state(app::kHubPeer).applied_offset, 20);
  EXPECT_EQ(balance("B2", "card:7"), 45);
}

TEST_F(SyncApplyTest, TheSalesBranchGivesBackWhatRefundsAtTwoCutOffBranchesTookTooMuch) {
  sale("B1", "card:7", "S1", "45.00");  // lines 45 + 45 -> 45 points
  converge();
  // B2 and B3 cannot reach the hub; the same goods come back at both.
  const json all = {{{"n", 1}, {"amount", "45.00"}}, {{"n", 2}, {"amount", "45.00"}}};
  EXPECT_EQ(refund("B2", "B1", "S1", "card:7", all)["clawed_back"], 45);
  EXPECT_EQ(refund("B3", "B1", "S1", "card:7", all)["clawed_back"], 45);
  sync({"B2"});  // B1 is offline too: B2 and B3 merge first, and go over for a while
  sync({"B3"});
  EXPECT_EQ(balance("B3", "card:7"), -45);
  converge();
  expect_converged("card:7");
  EXPECT_EQ(balance("B2", "card:7"), 0);  // 45 earned, 45 clawed back in all (rule 7)
  const auto ids = entry_set("B3");
  const auto caps = std::count_if(ids.begin(), ids.end(), [](const std::string& e) { return e.rfind("cap:", 0) == 0; });
  EXPECT_EQ(caps, 1);  // written by B1 alone
  for (const char* b : {"B1", "B2", "B3"}) EXPECT_EQ(sale_row(b, "B1", "S1").substr(0, 6), "45/45/") << b;
  converge();
  EXPECT_EQ(entry_set("B1"), ids);  // settled: nothing more is written
}

// A refund back to points at another branch counts on the sale where it was sold: a void
// there afterwards gives back only the rest of the redemption (it gave it all back again).
TEST_F(SyncApplyTest, ARefundToPointsElsewhereCountsBeforeTheSalesBranchVoidsIt) {
  sale("B1", "card:7", "S1", "500.00");  // 500 points
  call("B1", {{"type", "sale.completed"}, {"at", kAt}, {"ticket", "P1"}, {"customer", "card:7"},
              {"lines", {{{"n", 1}, {"amount", "20.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  converge();
  const json r = call("B2", {{"type", "refund.completed"}, {"at", kAt}, {"ticket", "R1"}, {"original_ticket", "P1"},
                             {"original_branch", "B1"}, {"lines", {{{"n", 1}, {"amount", "20.00"}}}},
                             {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  EXPECT_EQ(r["restored"], 200);
  converge();
  const json v = call("B1", {{"type", "sale.voided"}, {"at", kAt}, {"ticket", "P1"}});
  EXPECT_EQ(v["restored"], 0) << v.dump();
  converge();
  expect_converged("card:7");
  EXPECT_EQ(balance("B3", "card:7"), 500);
}

// Rule 6 across branches: a refund at a branch that had not yet seen the expiry of the sale's
// lot (only the sale's branch writes it) claws back points that had already left the balance.
// The sale's branch gives them back, as it would have clawed back none itself.
TEST_F(SyncApplyTest, TheSalesBranchGivesBackAClawbackOfPointsThatHadExpiredThere) {
  sale("B1", "card:7", "S1", "45.00");  // 45 points, expiring 30 days after kAt
  const char* mid = "2026-12-12T10:15:00-06:00";
  const char* later = "2026-12-28T10:15:00-06:00";  // S1's lot has expired, S2's has not
  call("B1", {{"type", "sale.completed"}, {"at", mid}, {"ticket", "S2"}, {"customer", "card:7"},
              {"lines", {{{"n", 1}, {"amount", "90.00"}}}}, {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  converge();
  call("B1", {{"type", "points.adjust"}, {"at", later}, {"customer", "card:7"}, {"points", 1},
              {"reason", "t"}, {"operator", "ana"}});  // B1 writes S1's expiry (45)
  const json r = call("B2", {{"type", "refund.completed"}, {"at", later}, {"ticket", "R1"}, {"original_ticket", "S1"},
                             {"original_branch", "B1"}, {"customer", "card:7"},
                             {"lines", {{{"n", 1}, {"amount", "45.00"}}, {{"n", 2}, {"amount", "45.00"}}}},
                             {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  EXPECT_EQ(r["clawed_back"], 45);  // B2 knows of no expiry yet
  converge();
  expect_converged("card:7");
  // As a refund at B1 itself would have: S1's points had expired, the refund takes none.
  EXPECT_EQ(balance("B1", "card:7"), 45 + 1);
  for (const char* b : {"B1", "B2", "B3"}) EXPECT_EQ(sale_row(b, "B1", "S1").substr(0, 5), "45/0/") << b;
  const auto ids = entry_set("B3");
  EXPECT_EQ(std::count_if(ids.begin(), ids.end(), [](const std::string& e) { return e.rfind("cap:", 0) == 0; }), 1);
  // The clawback took S2's points at B1; they come back expiring with S2's lot, not later.
  const json b = call("B1", {{"type", "balance.query"}, {"at", later}, {"customer", "card:7"}});
  ASSERT_FALSE(b["expiring"].empty()) << b.dump();
  EXPECT_EQ(b["expiring"][0]["points"], 45) << b.dump();
  EXPECT_EQ(b["expiring"][0]["date"], "2027-01-11") << b.dump();
  converge();
  EXPECT_EQ(entry_set("B1"), ids);  // settled: nothing more is written
}

// Rule 8 across branches, the other order: the sale's branch voids a points sale, and a
// branch that has not seen the void yet refunds it back to points. The redemption comes back
// once: the sale's branch takes back the second restoration.
TEST_F(SyncApplyTest, ARefundToPointsElsewhereOfASaleVoidedMeanwhileRestoresNothingMore) {
  sale("B1", "card:7", "S1", "500.00");  // 500 points
  call("B1", {{"type", "sale.completed"}, {"at", kAt}, {"ticket", "P1"}, {"customer", "card:7"},
              {"lines", {{{"n", 1}, {"amount", "20.00"}}}}, {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  converge();
  EXPECT_EQ(call("B1", {{"type", "sale.voided"}, {"at", kAt}, {"ticket", "P1"}})["restored"], 200);
  const json r = call("B2", {{"type", "refund.completed"}, {"at", kAt}, {"ticket", "R1"}, {"original_ticket", "P1"},
                             {"original_branch", "B1"}, {"lines", {{{"n", 1}, {"amount", "20.00"}}}},
                             {"tenders", {{{"method", "points"}, {"amount", "20.00"}}}}});
  EXPECT_EQ(r["restored"], 200);  // B2 has not seen the void
  converge();
  expect_converged("card:7");
  EXPECT_EQ(balance("B3", "card:7"), 500);
  const auto ids = entry_set("B2");
  EXPECT_EQ(std::count_if(ids.begin(), ids.end(),
                          [](const std::string& e) { return e.rfind("restore_cap:", 0) == 0 && e.find(" B1 ") != std::string::npos; }),
            1);
  converge();
  EXPECT_EQ(entry_set("B1"), ids);
}

TEST_F(SyncApplyTest, OnlyTheOwningBranchExpiresALot) {
  sale("B1", "card:7", "S1", "45.00");
  converge();
  const char* later = "2027-01-22T10:15:00-06:00";  // past expiry_days = 30
  call("B2", {{"type", "points.adjust"}, {"at", later}, {"customer", "card:7"}, {"points", 1},
              {"reason", "t"}, {"operator", "ana"}});
  converge();
  EXPECT_EQ(entry_set("B1").count("expire:B1/B1-1/earn"), 0u);  // only B1 may write it
  // B2 does not expire B1's lot, nor preview its expiry: B1 decides how many points of it
  // expire (its own lot's remaining), and B2's answers agree with what B2's writes do.
  auto expiry_in_history = [&](const std::string& b) {
    std::vector<json> out;
    const json h = call(b, {{"type", "history.query"}, {"at", later}, {"customer", "card:7"}});
    for (const auto& e : h["entries"]) {
      if (e["kind"] == "expire") out.push_back(e);
    }
    return out;
  };
  EXPECT_TRUE(expiry_in_history("B2").empty());
  EXPECT_EQ(call("B2", {{"type", "balance.query"}, {"at", later}, {"customer", "card:7"}})["balance"], 46);
  // ...but B2 will not let them be spent: 45 of its 46 points have expired (rule 6), only
  // B1 has yet to write it. A points sale was redeeming them for up to a sweep period.
  const json spend = call("B2", {{"type", "points.authorize"}, {"at", later}, {"customer", "card:7"},
                                 {"amount", "0.20"}}, 5);
  EXPECT_EQ(spend["error"]["message"],
            "paying 0.20 needs 2 points; 1 available (45 more have expired; the branch that granted them has yet "
            "to record it)");
  call("B2", {{"type", "points.authorize"}, {"at", later}, {"customer", "card:7"}, {"amount", "0.10"}});
  // A points sale without a hold is a fact (recorded), and its warning says why it overdraws.
  const json paid = call("B2", {{"type", "sale.completed"}, {"at", later}, {"ticket", "X"}, {"customer", "card:7"},
                                {"lines", {{{"amount", "0.10"}}}},
                                {"tenders", {{{"method", "points"}, {"amount", "0.10"}}}}});
  ASSERT_EQ(paid["warnings"].size(), 1u) << paid.dump();
  EXPECT_EQ(paid["warnings"][0],
            "points tender of 1 points exceeds the available 0 (45 more have expired at the branch that granted "
            "them); it spends points held for other tickets");  // the 1 point the hold above reserved
  EXPECT_EQ(expiry_in_history("B1").size(), 1u);  // B1 previews its own lot's expiry
  call("B1", {{"type", "points.adjust"}, {"at", later}, {"customer", "card:7"}, {"points", 1},
              {"reason", "t"}, {"operator", "ana"}});
  converge();
  expect_converged("card:7");
  size_t expiries = 0;
  for (const auto& e : entry_set("B2")) expiries += e.rfind("expire:", 0) == 0;
  EXPECT_EQ(expiries, 1u);
  auto written = expiry_in_history("B2");  // the entry B1 wrote, shown once, under B1's name
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0]["branch"], "B1");
  EXPECT_EQ(written[0]["id"], "expire:B1/B1-1/earn");
}

TEST_F(SyncApplyTest, OfflineRedemptionIsCappedPerCustomerPerDay) {
  std::ofstream(dir_ + "/t.token") << "secret";
  add("B2", "[sync]\nurl = \"ws://127.0.0.1:9/v1/sync\"\ntoken_file = \"t.token\"\n"
            "stale_after_seconds = 60\noffline_redeem_allowance = 30\n");
  sale("B1", "card:7", "S1", "45.00");
  converge();
  json auth = {{"type", "points.authorize"}, {"at", kAt}, {"customer", "card:7"}, {"ticket", "P"},
               {"amount", "2.00"}};
  call("B2", auth);  // 20 of the 30 allowed while the hub was never heard from
  auto refused = call("B2", auth, 5);
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("out of reach"), std::string::npos);
  nodes_.at("B2").status->last_contact_ms = clock_->now;  // the hub answers again
  call("B2", auth);
}

// Without offline_redeem_allowance a branch works fully offline (contract section 4): the
// hub out of reach caps nothing, and the hub reports an overdraw if two branches spend the
// same points.
TEST_F(SyncApplyTest, WithoutAnAllowanceOfflineRedemptionIsNotCapped) {
  std::ofstream(dir_ + "/t.token") << "secret";
  add("B2", "[sync]\nurl = \"ws://127.0.0.1:9/v1/sync\"\ntoken_file = \"t.token\"\nstale_after_seconds = 60\n");
  sale("B1", "card:7", "S1", "45.00");
  converge();
  json auth = {{"type", "points.authorize"}, {"at", kAt}, {"customer", "card:7"}, {"ticket", "P"},
               {"amount", "4.00"}};
  EXPECT_EQ(call("B2", auth)["points"], 40);  // the hub was never heard from
}

TEST_F(SyncApplyTest, ThreeOfflineEnrollmentsOfOneCardKeepOneWelcomeBonus) {
  for (const char* b : {"B1", "B2", "B3"}) add(b, "welcome_bonus = 20\n");
  // Same card, same business time in three branches that cannot see each other.
  for (const char* b : {"B3", "B2", "B1"}) sale(b, "card:5", std::string("W-") + b, "10.00");
  EXPECT_EQ(balance("B2", "card:5"), 30);
  sync({"B2", "B3"});  // B2 and B3 meet first: B3's grant has the larger id, B3 reverses it
  sync({"B2", "B3"});
  EXPECT_EQ(balance("B3", "card:5"), 20 + 10 + 10);
  converge();  // then B1, whose grant has the smallest id: B2 reverses too
  expect_converged("card:5");
  EXPECT_EQ(balance("B1", "card:5"), 20 + 3 * 10);
  auto kinds = [&](const std::string& b) {
    auto& l = *nodes_.at(b).ledger;
    return l.with_db([&](sqlite3*) {
      std::multiset<std::string> out;
      auto q = l.query("SELECT kind || ' ' || origin_branch || ' ' || ref_entry_id FROM entries "
                       "WHERE kind LIKE 'welcome%'");
      while (q.step()) out.insert(q.text(0));
      return out;
    });
  };
  const auto k = kinds("B1");
  EXPECT_EQ(k.size(), 5u);
  EXPECT_EQ(k.count("welcome_reversal B2 B2/B2-2/welcome"), 1u);
  EXPECT_EQ(k.count("welcome_reversal B3 B3/B3-1/welcome"), 1u);
  converge();  // settled: nothing more is written
  EXPECT_EQ(kinds("B3"), k);
}

// The owner-side sweep (docs/sync.md "Expiry authority"): with the clock injected, nothing
// is due a millisecond before expiry; at expiry each branch expires only its own lots, in
// bounded batches, and a rerun or the lazy path at a later request never writes one twice.
TEST_F(SyncApplyTest, ExpirySweepExpiresOnlyOwnDueLotsInBatchesAndNeverTwice) {
  sale("B1", "card:7", "S1", "45.00");  // lots expire at kAt + 30 days
  sale("B1", "card:8", "S2", "10.00");
  sale("B1", "card:9", "S3", "10.00");
  sale("B3", "card:7", "S4", "10.00");
  converge();
  auto sweep = [&](const std::string& b, int64_t limit) {
    Node& n = nodes_.at(b);
    return app::expire_due_lots(*n.ledger, *n.settings, *clock_, limit);
  };
  const int64_t expiry_ms = 1'797'956'100'000;  // 2026-12-22T10:15:00-06:00
  clock_->now = expiry_ms - 1;
  EXPECT_EQ(sweep("B1", 10), 0);
  clock_->now = expiry_ms;
  EXPECT_EQ(sweep("B2", 10), 0);  // B2 wrote no credit: never its expiry to write
  EXPECT_EQ(sweep("B1", 2), 2);   // bounded batch
  EXPECT_EQ(sweep("B1", 2), 1);
  EXPECT_EQ(sweep("B1", 2), 0);
  EXPECT_EQ(sweep("B3", 10), 1);
  converge();
  EXPECT_EQ(sweep("B1", 10), 0);  // a rerun finds nothing
  // The customer comes back to B1 later: the lazy expiry finds the lots already expired.
  call("B1", {{"type", "points.adjust"}, {"at", "2027-01-22T10:15:00-06:00"},
              {"customer", "card:7"}, {"points", 1}, {"reason", "t"}, {"operator", "ana"}});
  converge();
  expect_converged("card:7");
  for (const char* b : {"B1", "B2", "B3"}) {
    size_t expiries = 0;
    for (const auto& e : entry_set(b)) expiries += e.rfind("expire:", 0) == 0;
    EXPECT_EQ(expiries, 4u) << b;
    auto& l = *nodes_.at(b).ledger;
    const int64_t total = l.with_db([&](sqlite3*) {
      auto q = l.query("SELECT coalesce(sum(points), 0) FROM entries");
      q.step();
      return q.i64(0);
    });
    EXPECT_EQ(total, 1) << b;  // every earned point expired; only the later adjust is left
  }
  size_t from_b1 = 0;
  for (const auto& e : entry_set("B2")) from_b1 += e.rfind("expire:B1/B1-1/earn B1 ", 0) == 0;
  EXPECT_EQ(from_b1, 1u);  // written by the owner, applied here
}

// Branch recovery at the ledger level (the client's part is in tests/sync/client): a ledger
// restored from an older copy takes a new epoch and a seq floor, writes above it at once, and
// gets its lost entries back in their own seqs; a write made before the recovery collides and
// is counted as a conflict, never applied twice.
TEST_F(SyncApplyTest, RestoredLedgerGetsItsOwnEntriesBackUnderANewEpoch) {
  sale("B1", "card:7", "S1", "45.00");
  converge();
  const std::string copy = dir_ + "/B1-old.db";
  nodes_.at("B1").ledger->with_db([&](sqlite3* src) {
    sqlite3* dst = nullptr;
    ASSERT_EQ(sqlite3_open(copy.c_str(), &dst), SQLITE_OK);
    auto* b = sqlite3_backup_init(dst, "main", src, "main");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sqlite3_close(dst);
  });
  sale("B1", "card:7", "S2", "10.00");
  sale("B1", "card:8", "S3", "10.00");
  converge();
  const auto before = entry_set("B2");
  const std::string old_epoch = nodes_.at("B1").ledger->node_epoch();

  auto restore_b1 = [&] {
    nodes_.erase("B1");
    for (const char* suffix : {"", "-wal", "-shm", "-redo"}) fs::remove(dir_ + "/B1.db" + suffix);
    fs::copy_file(copy, dir_ + "/B1.db");
    add("B1", "");
    nodes_.at("B1").applied = static_cast<int64_t>(hub_.log.size());  // remote entries kept
  };
  int64_t hub_max = 0;
  std::vector<app::EntryRow> own;
  for (const auto& e : hub_.log) {
    if (e.origin_branch == "B1") {
      hub_max = std::max(hub_max, e.origin_seq);
      own.push_back(e);
    }
  }
  auto start_recovery = [&](const std::string& epoch) {
    Node& n = nodes_.at("B1");
    auto tx = n.ledger->begin_write();
    const int64_t local_max = tx->max_seq("B1");
    EXPECT_LT(local_max, hub_max);
    tx->set_node_epoch(epoch);
    app::SyncState st = tx->sync_state(app::kHubPeer);
    st.own_seq_floor = hub_max;
    st.recover_next = local_max + 1;
    st.recover_to = hub_max;
    tx->put_sync_state(app::kHubPeer, st);
    tx->commit();
    n.acked = hub_max;
    return local_max;
  };

  restore_b1();
  const int64_t local_max = start_recovery(std::string(32, 'e'));
  EXPECT_EQ(nodes_.at("B1").ledger->node_epoch(), std::string(32, 'e'));
  // A sale during the recovery: numbered after the hub's seqs, under the new epoch.
  sale("B1", "card:7", "S4", "10.00");
  std::vector<app::EntryRow> lost;
  for (const auto& e : own) {
    if (e.origin_seq > local_max) lost.push_back(e);
  }
  Node& b1 = nodes_.at("B1");
  auto counts = app::apply_own_recovered(*b1.ledger, *b1.settings, *clock_, lost, hub_max + 1);
  EXPECT_EQ(counts.applied, static_cast<int64_t>(lost.size()));
  EXPECT_EQ(counts.conflicts, 0);
  counts = app::apply_own_recovered(*b1.ledger, *b1.settings, *clock_, lost, hub_max + 1);
  EXPECT_EQ(counts.duplicates, static_cast<int64_t>(lost.size()));  // again: nothing twice
  auto st = [&] {
    auto tx = b1.ledger->begin_read();
    auto s = tx->sync_state(app::kHubPeer);
    tx->commit();
    return s;
  }();
  EXPECT_EQ(st.recover_next, 0);
  EXPECT_EQ(st.recover_to, 0);
  converge();
  const auto after = entry_set("B2");
  for (const auto& e : before) EXPECT_EQ(after.count(e), 1u) << e;
  EXPECT_EQ(after.size(), before.size() + 1);
  EXPECT_EQ(entry_set("B1"), after);
  EXPECT_EQ(balance("B1", "card:7"), 65);
  expect_converged("card:7");
  auto& l = *b1.ledger;
  EXPECT_EQ(l.with_db([&](sqlite3*) {
    auto q = l.query(
        "SELECT node_epoch FROM entries WHERE origin_branch = 'B1' ORDER BY origin_seq DESC");
    q.step();
    return q.text(0);
  }),
            std::string(32, 'e'));

  // Restored again, but a sale comes before the recovery: it takes the seq of a lost entry.
  restore_b1();
  sale("B1", "card:9", "S5", "10.00");
  start_recovery(std::string(32, 'f'));
  std::vector<app::EntryRow> all_own;
  for (const auto& e : hub_.log) {
    if (e.origin_branch == "B1" && e.origin_seq > local_max) all_own.push_back(e);
  }
  Node& again = nodes_.at("B1");
  counts = app::apply_own_recovered(*again.ledger, *again.settings, *clock_, all_own, hub_max + 2);
  EXPECT_GE(counts.conflicts, 1);  // the hub's entry at that seq and ours differ
  EXPECT_EQ(counts.applied + counts.conflicts, static_cast<int64_t>(all_own.size()));
  auto report = ledger::verify(*again.ledger);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
  nodes_.erase("B1");  // it forked from the others: not compared in TearDown
}

// Random days in three branches that sync at random moments, often with one or two of them
// cut off: sales with every tender, refunds of any branch's sales (also before the sale has
// reached the refunding branch), holds captured and released, voids, adjustments, category
// changes, month-long jumps (expiry authority), all on six shared cards with a welcome bonus
// (testing::RandomDay, tests/support/random_day.h; sync_random_test.cc runs the same mix
// through loyalty-hub over websockets).
// Whatever happened, once all three meet: the same entries everywhere, the same balance for
// every card, a history that adds up to it, no internal error, and every ledger verifies
// (TearDown). Found the over-clawback of refunds recorded at two branches cut off from each
// other (cap_clawbacks in sync_apply.cc).
class SyncApplyRandomTest : public SyncApplyTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(SyncApplyRandomTest, RandomDaysConvergeEverywhere) {
  testing::RandomDay day(GetParam());
  const std::string program = day.program();
  const std::vector<std::string>& branches = day.branches();
  for (const auto& b : branches) add(b, program);
  int64_t day_ms = 0;  // business time moves with the wall clock
  auto at = [&] { return testing::RandomDay::at(1'795'000'000'000 + day_ms); };  // 2026-11-18T...
  auto send = [&](const std::string& b, json req) {
    req["id"] = b + "-" + std::to_string(++seq_);
    req["at"] = at();
    const auto out = nodes_.at(b).service->handle(req.dump());
    EXPECT_NE(out.code, 8) << "seed " << GetParam() << " at " << b << ": " << req.dump() << " -> " << out.json;
    return json::parse(out.json);
  };
  for (int i = 0; i < 300 && !HasFailure(); ++i) {
    const int64_t step = day.time_step_ms();
    day_ms += step;
    clock_->now += step;
    day.request(i, send);
    if (day.pick(8) == 0) {  // a sync round among the branches that can reach the hub now
      std::set<std::string> online;
      for (const auto& n : branches) {
        if (day.pick(3) != 0) online.insert(n);
      }
      sync(online);
      // What each branch answers from memory is what its SQLite says, after the remote
      // entries, corrections and caps this round applied.
      for (const auto& b : branches) {
        const std::string body =
            json{{"type", "balance.query"}, {"id", "cmp"}, {"at", at()}, {"customer", day.card(1 + day.pick(testing::RandomDay::kCards))}}
                .dump();
        EXPECT_EQ(nodes_.at(b).service->handle(body).json, nodes_.at(b).reference->handle(body).json)
            << "seed " << GetParam() << " at " << b << ": the balance projection and SQLite disagree";
      }
    }
  }
  // Each branch's periodic sweep expires its own due lots (docs/sync.md, "Expiry authority");
  // until then another branch can only preview them with its own lots' remaining points.
  // Twice: a correction or cap that the first meeting wrote may be due already.
  for (int round = 0; round < 2; ++round) {
    for (const auto& b : branches) app::expire_due_lots(*nodes_.at(b).ledger, *nodes_.at(b).settings, *clock_, 100'000);
    converge();
  }
  const auto entries = entry_set("B1");
  for (int c = 1; c <= testing::RandomDay::kCards; ++c) {
    const std::string card = day.card(c);
    std::optional<int64_t> first;
    for (const auto& b : branches) {
      const json q = send(b, {{"type", "balance.query"}, {"customer", card}});  // at `late`
      if (!q["ok"].get<bool>()) continue;
      const int64_t bal = q["balance"].get<int64_t>();
      if (first) {
        EXPECT_EQ(bal, *first) << "seed " << GetParam() << ": " << card << " at " << b;
      }
      first = bal;
      const json h = send(b, {{"type", "history.query"}, {"customer", card}, {"limit", 10'000}});
      int64_t sum = 0;
      for (const auto& e : h["entries"]) sum += e["points"].get<int64_t>();
      EXPECT_EQ(sum, bal) << "seed " << GetParam() << ": history of " << card << " at " << b;
    }
  }
  for (const char* b : {"B2", "B3"}) EXPECT_EQ(entry_set(b), entries) << "seed " << GetParam() << ": " << b;
  // loyaltyctl report accounts for every point: its columns add up to the balances.
  for (const auto& b : branches) {
    auto& l = *nodes_.at(b).ledger;
    int64_t net = 0;
    for (const auto& r : ledger::points_report(l, int64_t{0}, int64_t{4'000'000'000'000}, std::nullopt)) {
      net += r.earned - r.redeemed - r.clawed_back + r.restored - r.expired + r.adjusted;
    }
    const int64_t balances = l.with_db([&](sqlite3*) {
      auto q = l.query("SELECT coalesce(sum(balance), 0) FROM accounts");
      q.step();
      return q.i64(0);
    });
    EXPECT_EQ(net, balances) << "seed " << GetParam() << ": report at " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SyncApplyRandomTest, ::testing::Range(1u, 21u));

}  // namespace
}  // namespace loyalty
