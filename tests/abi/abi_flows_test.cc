// Business flows through the C ABI (contract sections 2 and 3): holds and points tenders,
// voids, refunds and their clawbacks, transfers, queries, expiry, and the earning rules,
// each checked on the JSON the POS gets back and on the balances that follow.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "abi_support.h"

namespace abi_test {
namespace {

// Holds are asked for at 11:00 and last hold_minutes = 15 of business time, so the sales
// and queries that follow them happen inside the window, at 11:05.
constexpr const char* kHoldAt = "2026-11-22T11:00:00-06:00";
constexpr const char* kInHold = "2026-11-22T11:05:00-06:00";

class AbiFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api().loaded()) << api().load_error;
    ASSERT_TRUE(plugin_.opened()) << plugin_.open_code() << " " << plugin_.open_error();
  }

  json authorize(const std::string& id, const std::string& customer, const std::string& ticket,
                 const std::string& amount) {
    return {{"type", "points.authorize"}, {"id", id},         {"at", kHoldAt},
            {"customer", customer},       {"ticket", ticket}, {"amount", amount}};
  }

  json refund(const std::string& id, const std::string& ticket, const std::string& original_ticket,
              const std::string& customer, const json& lines, const std::string& method,
              const std::string& amount) {
    return {{"type", "refund.completed"},
            {"id", id},
            {"at", "2026-11-22T13:00:00-06:00"},
            {"ticket", ticket},
            {"original_ticket", original_ticket},
            {"original_branch", "B01"},
            {"customer", customer},
            {"lines", lines},
            {"tenders", {{{"method", method}, {"amount", amount}}}}};
  }

  int64_t available(const std::string& customer) {
    const json b = plugin_.balance_body(customer, kInHold);
    return b.value("available", int64_t{-999999});
  }

  std::string hold_status(const std::string& hold) {
    return LedgerReader(plugin_.db_path())
        .bytes("SELECT status FROM holds WHERE hold_id = '" + hold + "'");
  }

  static bool has_warning(const json& body) {
    return body.contains("warnings") && body["warnings"].is_array() && !body["warnings"].empty();
  }

  Plugin plugin_;
};

TEST_F(AbiFlow, AuthorizeHoldsPointsAndAPointsTenderCapturesThem) {
  const std::string c = "card:h";
  ASSERT_EQ(plugin_.ok(cash_sale("h-s1", "H0", c, {"900.00"}))["earned"], 450);

  const Reply granted = plugin_.call(authorize("h-a1", c, "H1", "20.00"));
  ASSERT_EQ(granted.code, 0) << granted.text;
  const json& hold = granted.body;
  ASSERT_TRUE(hold["hold"].is_string()) << hold.dump();
  const std::string h1 = hold["hold"];
  EXPECT_EQ(h1.rfind("H-", 0), 0u) << h1;
  EXPECT_EQ(hold["points"], 200);  // rule 5: ceil(20.00 / 0.10)
  EXPECT_EQ(hold["expires_at"], "2026-11-22T11:15:00-06:00") << "hold_minutes = 15 after `at`";
  EXPECT_EQ(plugin_.balance(c), 450);
  EXPECT_EQ(available(c), 250) << "available = balance - active holds";

  // More than is available: insufficient_points, nothing held.
  const Reply refused = plugin_.call(authorize("h-a2", c, "H2", "30.00"));
  EXPECT_EQ(refused.code, LOYALTY_ERR_INSUFFICIENT_POINTS) << refused.text;
  EXPECT_EQ(refused.body["ok"], false);
  EXPECT_EQ(refused.body["error"]["code"], "insufficient_points");
  EXPECT_EQ(available(c), 250);

  // The sale pays 20.00 with the hold and 80.00 cash: the hold is captured, 200 points are
  // redeemed, and with on_points_tender = "block" nothing is earned (rule 4).
  json sale = cash_sale("h-s2", "H1", c, {"100.00"}, kInHold);
  sale["tenders"] = {{{"method", "points"}, {"amount", "20.00"}, {"hold", h1}},
                     {{"method", "cash"}, {"amount", "80.00"}}};
  const json paid = plugin_.ok(sale);
  EXPECT_EQ(paid["redeemed"], 200) << paid.dump();
  EXPECT_EQ(paid["earned"], 0) << paid.dump();
  EXPECT_EQ(paid["balance"], 250);
  EXPECT_FALSE(has_warning(paid)) << paid.dump();
  EXPECT_EQ(hold_status(h1), "captured");
  EXPECT_EQ(plugin_.balance(c), 250);
  EXPECT_EQ(available(c), 250);

  // Replays: the authorization answers with the same hold and holds nothing new; the sale
  // redeems nothing twice.
  const LedgerCounts before = ledger_counts(plugin_.db_path());
  EXPECT_EQ(plugin_.call(authorize("h-a1", c, "H1", "20.00")).text, granted.text);
  EXPECT_EQ(plugin_.call(sale).body, paid);
  EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
  EXPECT_EQ(available(c), 250);
}

TEST_F(AbiFlow, ReleaseAndVoidGiveHeldPointsBack) {
  const std::string c = "card:r";
  ASSERT_EQ(plugin_.ok(cash_sale("r-s1", "R0", c, {"500.00"}))["earned"], 250);

  const json h3 = plugin_.ok(authorize("r-a3", c, "R3", "10.00"));
  EXPECT_EQ(h3["points"], 100);
  EXPECT_EQ(available(c), 150);
  const json released = plugin_.ok(
      {{"type", "points.release"}, {"id", "r-r3"}, {"at", kInHold}, {"hold", h3["hold"]}});
  EXPECT_EQ(available(c), 250) << released.dump();
  EXPECT_EQ(hold_status(h3["hold"]), "released");
  if (released.contains("released")) {
    EXPECT_EQ(released["released"], json::array({h3["hold"]}));
  }

  const Reply unknown = plugin_.call(
      json{{"type", "points.release"}, {"id", "r-r9"}, {"at", kInHold}, {"hold", "H-NOSUCH"}});
  EXPECT_EQ(unknown.code, LOYALTY_ERR_NOT_FOUND) << unknown.text;
  EXPECT_EQ(unknown.body["error"]["code"], "not_found");

  // sale.voided releases the ticket's holds; nothing is earned.
  const json h4 = plugin_.ok(authorize("r-a4", c, "R4", "5.00"));
  EXPECT_EQ(available(c), 200);
  const json voided =
      plugin_.ok({{"type", "sale.voided"}, {"id", "r-v4"}, {"at", kInHold}, {"ticket", "R4"}});
  EXPECT_EQ(hold_status(h4["hold"]), "released") << voided.dump();
  EXPECT_EQ(available(c), 250);
  EXPECT_EQ(plugin_.balance(c), 250);
}

TEST_F(AbiFlow, PointsTendersBeyondTheHoldOrBalanceAreRecordedWithAWarning) {
  const std::string c = "card:w";
  ASSERT_EQ(plugin_.ok(cash_sale("w-s1", "W0", c, {"300.00"}))["earned"], 150);
  const json h = plugin_.ok(authorize("w-a1", c, "W1", "10.00"));
  plugin_.ok({{"type", "points.release"}, {"id", "w-r1"}, {"at", kInHold}, {"hold", h["hold"]}});

  // A released hold cannot be captured, but a completed sale is a fact: it is recorded.
  json late = cash_sale("w-s2", "W1", c, {"10.00"}, kInHold);
  late["tenders"] = {{{"method", "points"}, {"amount", "10.00"}, {"hold", h["hold"]}}};
  const json r1 = plugin_.ok(late);
  EXPECT_EQ(r1["redeemed"], 100);
  EXPECT_EQ(r1["balance"], 50);
  EXPECT_TRUE(has_warning(r1)) << r1.dump();

  // More points than the balance: recorded, the balance goes negative, with a warning.
  json over = cash_sale("w-s3", "W3", c, {"20.00"}, kInHold);
  over["tenders"] = {{{"method", "points"}, {"amount", "20.00"}}};
  const json r2 = plugin_.ok(over);
  EXPECT_EQ(r2["redeemed"], 200);
  EXPECT_EQ(r2["balance"], -150);
  EXPECT_TRUE(has_warning(r2)) << r2.dump();
  EXPECT_EQ(plugin_.balance(c), -150);

  // Rule 10: a negative balance cannot be redeemed.
  const Reply refused = plugin_.call(authorize("w-a4", c, "W4", "0.10"));
  EXPECT_EQ(refused.code, LOYALTY_ERR_INSUFFICIENT_POINTS) << refused.text;
}

TEST_F(AbiFlow, FullRefundOfTheContractSaleClawsBackExactlyWhatItEarned) {
  ASSERT_EQ(plugin_.send(kContractSale).code, 0);
  const json lines = {{{"n", 1}, {"qty", "2"}, {"amount", "90.00"}},
                      {{"n", 2}, {"qty", "1"}, {"amount", "100.00"}}};
  const json r =
      plugin_.ok(refund("f-1", "R-77", "000123", "card:4000123", lines, "cash", "190.00"));
  EXPECT_EQ(r["clawed_back"], 45) << r.dump();
  EXPECT_EQ(r["restored"], 0);
  EXPECT_EQ(r["balance"], 0);
  EXPECT_EQ(plugin_.balance("card:4000123"), 0);
  EXPECT_EQ(
      plugin_.call(refund("f-1", "R-77", "000123", "card:4000123", lines, "cash", "190.00")).body,
      r)
      << "a replayed refund claws back nothing more";
  EXPECT_EQ(plugin_.balance("card:4000123"), 0);
  ASSERT_TRUE(r["receipt"].is_array()) << r.dump();
  for (const auto& line : r["receipt"])
    EXPECT_LE(code_points(line.get<std::string>()), 42u) << line;
  // Refunding it again claws back nothing more (rule 7: never more than earned in total).
  const json again =
      plugin_.ok(refund("f-2", "R-78", "000123", "card:4000123", lines, "cash", "190.00"));
  EXPECT_EQ(again["clawed_back"], 0) << again.dump();
  EXPECT_EQ(plugin_.balance("card:4000123"), 0);
}

TEST_F(AbiFlow, PartialRefundsInAnyOrderClawBackExactlyTheEarningInTotal) {
  const std::string c = "card:p";
  // 3 x 7.00 = 21.00 at 5% / 0.10: floor(10.5) = 10 points.
  ASSERT_EQ(plugin_.ok(cash_sale("p-s1", "P0", c, {"7.00", "7.00", "7.00"}))["earned"], 10);
  // Cumulative floor (docs/design-decisions.md): floor(10 * refunded / 21.00) so far,
  // minus what was already clawed back: 3, 3, 4.
  int64_t total = 0;
  const std::vector<std::pair<int, int64_t>> steps = {{3, 3}, {1, 3}, {2, 4}};
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto [n, expected] = steps[i];
    const json r =
        plugin_.ok(refund("p-r" + std::to_string(i), "PR" + std::to_string(i), "P0", c,
                          {{{"n", n}, {"qty", "1"}, {"amount", "7.00"}}}, "cash", "7.00"));
    const int64_t clawed = r["clawed_back"].get<int64_t>();
    EXPECT_EQ(clawed, expected) << "refund of line " << n << ": " << r.dump();
    total += clawed;
    EXPECT_LE(total, 10);
    EXPECT_EQ(r["balance"], 10 - total);
  }
  EXPECT_EQ(total, 10);

  // One line of 33.33 (floor(16.665) = 16 points) refunded in three pieces: 4, 5, 7.
  ASSERT_EQ(plugin_.ok(cash_sale("p-s2", "P1", c, {"33.33"}))["earned"], 16);
  int64_t total2 = 0;
  const std::vector<std::pair<std::string, int64_t>> pieces = {
      {"10.00", 4}, {"10.00", 5}, {"13.33", 7}};
  for (size_t i = 0; i < pieces.size(); ++i) {
    const auto& [amount, expected] = pieces[i];
    const json r = plugin_.ok(refund("p-q" + std::to_string(i), "PQ" + std::to_string(i), "P1", c,
                                     {{{"n", 1}, {"amount", amount}}}, "cash", amount));
    EXPECT_EQ(r["clawed_back"], expected) << r.dump();
    total2 += r["clawed_back"].get<int64_t>();
  }
  EXPECT_EQ(total2, 16);
  // Past the sale's amount there is nothing left to claw back.
  const json extra =
      plugin_.ok(refund("p-q9", "PQ9", "P1", c, {{{"n", 1}, {"amount", "1.00"}}}, "cash", "1.00"));
  EXPECT_EQ(extra["clawed_back"], 0) << extra.dump();
  EXPECT_EQ(plugin_.balance(c), 0);
}

TEST_F(AbiFlow, RefundToPointsRestoresAndUnmatchedRefundClawsBackAtRate) {
  const std::string c = "card:q";
  ASSERT_EQ(plugin_.ok(cash_sale("q-s1", "Q0", c, {"50.00"}))["earned"], 25);
  // Rule 8: paid back in points restores floor(50.00 / 0.10) = 500; rule 7 claws back 25.
  const json r = plugin_.ok(
      refund("q-r1", "QR1", "Q0", c, {{{"n", 1}, {"amount", "50.00"}}}, "points", "50.00"));
  EXPECT_EQ(r["clawed_back"], 25) << r.dump();
  EXPECT_EQ(r["restored"], 500) << r.dump();
  EXPECT_EQ(r["balance"], 500);
  // Rule 9: the original is unknown: claw back at the customer's rate, 20.00 * 5% / 0.10.
  const json u = plugin_.ok(
      refund("q-r2", "QR2", "NO-SUCH-TICKET", c, {{{"amount", "20.00"}}}, "cash", "20.00"));
  EXPECT_EQ(u["clawed_back"], 10) << u.dump();
  EXPECT_EQ(u["balance"], 490);
  EXPECT_EQ(plugin_.balance(c), 490);
}

TEST_F(AbiFlow, VoidingACompletedSaleLeavesNothingEarned) {
  const std::string c = "card:v";
  ASSERT_EQ(plugin_.ok(cash_sale("v-s1", "V1", c, {"90.00"}))["earned"], 45);
  const json v = {{"type", "sale.voided"},
                  {"id", "v-v1"},
                  {"at", "2026-11-22T10:20:00-06:00"},
                  {"ticket", "V1"}};
  const Reply first = plugin_.call(v);
  ASSERT_EQ(first.code, 0) << first.text;
  EXPECT_EQ(plugin_.balance(c), 0) << first.text;
  EXPECT_EQ(plugin_.call(v).text, first.text);
  // A second void (another id) reverses nothing more.
  plugin_.ok({{"type", "sale.voided"},
              {"id", "v-v2"},
              {"at", "2026-11-22T10:21:00-06:00"},
              {"ticket", "V1"}});
  EXPECT_EQ(plugin_.balance(c), 0);
}

TEST_F(AbiFlow, TransfersAreRefusedByDefault) {
  ASSERT_EQ(plugin_.ok(cash_sale("t-s1", "T1", "card:t1", {"90.00"}))["earned"], 45);
  plugin_.ok({{"type", "customer.upsert"}, {"id", "t-u2"}, {"at", kAt}, {"customer", "card:t2"}});
  const json t = {{"type", "points.transfer"}, {"id", "t-x1"},    {"at", kAt},
                  {"from", "card:t1"},         {"to", "card:t2"}, {"points", 10}};
  const Reply r = plugin_.call(t);
  EXPECT_EQ(r.code, LOYALTY_ERR_INVALID_EVENT) << r.text;  // one of the contract's codes
  EXPECT_EQ(r.body["ok"], false);
  EXPECT_EQ(r.body["error"]["code"], "invalid_event") << r.text;
  EXPECT_EQ(plugin_.balance("card:t1"), 45);
  EXPECT_EQ(plugin_.balance("card:t2"), 0);
  EXPECT_EQ(plugin_.call(t).text, r.text) << "the same request, the same refusal";
}

TEST_F(AbiFlow, TransfersMoveExactlyThePointsWhenAllowed) {
  ConfigOptions o;
  o.allow_transfers = true;
  Plugin p(o);
  ASSERT_TRUE(p.opened()) << p.open_error();
  ASSERT_EQ(p.ok(cash_sale("t-s1", "T1", "card:t1", {"90.00"}))["earned"], 45);
  p.ok({{"type", "customer.upsert"}, {"id", "t-u2"}, {"at", kAt}, {"customer", "card:t2"}});
  const json moved = p.ok({{"type", "points.transfer"},
                           {"id", "t-x1"},
                           {"at", kAt},
                           {"from", "card:t1"},
                           {"to", "card:t2"},
                           {"points", 10}});
  EXPECT_EQ(p.balance("card:t1"), 35) << moved.dump();
  EXPECT_EQ(p.balance("card:t2"), 10);
  const Reply too_much = p.call(json{{"type", "points.transfer"},
                                     {"id", "t-x2"},
                                     {"at", kAt},
                                     {"from", "card:t1"},
                                     {"to", "card:t2"},
                                     {"points", 100}});
  EXPECT_EQ(too_much.code, LOYALTY_ERR_INSUFFICIENT_POINTS) << too_much.text;
  EXPECT_EQ(p.balance("card:t1"), 35);
}

TEST_F(AbiFlow, BusinessRefusalsReplayUnchangedForTheSameId) {
  const std::string c = "card:b";
  ASSERT_EQ(plugin_.ok(cash_sale("b-s1", "B0", c, {"20.00"}))["earned"], 10);
  const json a1 = authorize("b-a1", c, "B1", "5.00");  // 50 points > 10
  const Reply first = plugin_.call(a1);
  ASSERT_EQ(first.code, LOYALTY_ERR_INSUFFICIENT_POINTS) << first.text;
  const json adj = plugin_.ok({{"type", "points.adjust"},
                               {"id", "b-adj"},
                               {"at", kAt},
                               {"customer", c},
                               {"points", 100},
                               {"reason", "goodwill"},
                               {"operator", "ana"}});
  EXPECT_EQ(plugin_.balance(c), 110) << adj.dump();
  const Reply replay = plugin_.call(a1);
  EXPECT_EQ(replay.code, LOYALTY_ERR_INSUFFICIENT_POINTS);
  EXPECT_EQ(replay.text, first.text) << "rule 11: the same id returns the first response";
  EXPECT_EQ(available(c), 110);
  const json granted = plugin_.ok(authorize("b-a2", c, "B1", "5.00"));
  EXPECT_EQ(granted["points"], 50);
}

TEST_F(AbiFlow, BalanceAndHistoryQueriesHaveTheContractShape) {
  const std::string c = "card:s";
  ASSERT_EQ(plugin_.ok(cash_sale("s-s1", "S1", c, {"90.00"}))["earned"], 45);
  const json b = plugin_.balance_body(c);
  EXPECT_EQ(b["ok"], true);
  EXPECT_EQ(b["customer"], c);
  EXPECT_EQ(b["balance"], 45);
  EXPECT_EQ(b["available"], 45);
  EXPECT_EQ(b["balance_value"], "4.50");
  EXPECT_TRUE(b["category"].is_string()) << b.dump();
  ASSERT_TRUE(b["expiring"].is_array()) << b.dump();
  ASSERT_FALSE(b["expiring"].empty()) << b.dump();
  const json& next = b["expiring"][0];
  EXPECT_EQ(next["points"], 45) << b.dump();
  const bool dated = (next.contains("date") && next["date"].is_string()) ||
                     (next.contains("expires_at") && next["expires_at"].is_string());
  EXPECT_TRUE(dated) << "expiring lots carry their date: " << b.dump();
  if (next.contains("date")) {
    EXPECT_EQ(next["date"], "2027-11-22");
  }

  const json h =
      plugin_.ok({{"type", "history.query"}, {"id", "s-h"}, {"at", kAt}, {"customer", c}});
  ASSERT_TRUE(h["entries"].is_array()) << h.dump();
  ASSERT_EQ(h["entries"].size(), 1u) << h.dump();
  const json& e = h["entries"][0];
  EXPECT_EQ(e["kind"], "earn");
  EXPECT_EQ(e["points"], 45);
  EXPECT_EQ(e["branch"], "B01");
  EXPECT_EQ(e["ticket"], "S1");
  EXPECT_TRUE(e["at"].is_string());
  ASSERT_TRUE(e["expires_at"].is_string()) << e.dump();
  EXPECT_EQ(e["expires_at"].get<std::string>().substr(0, 10), "2027-11-22");

  const json later = plugin_.ok({{"type", "history.query"},
                                 {"id", "s-h2"},
                                 {"at", kAt},
                                 {"customer", c},
                                 {"from", "2026-11-23T00:00:00-06:00"},
                                 {"to", "2026-11-30T00:00:00-06:00"}});
  EXPECT_TRUE(later["entries"].empty()) << later.dump();

  const Reply unknown = plugin_.call(
      json{{"type", "balance.query"}, {"id", "s-q"}, {"at", kAt}, {"customer", "card:nobody"}});
  EXPECT_EQ(unknown.code, LOYALTY_ERR_NOT_FOUND) << unknown.text;
  EXPECT_EQ(unknown.body["error"]["code"], "not_found");
}

TEST_F(AbiFlow, PointsExpireAfterExpiryDays) {
  const std::string c = "card:e";
  ASSERT_EQ(plugin_.ok(cash_sale("e-s1", "E1", c, {"90.00"}))["earned"], 45);
  EXPECT_EQ(plugin_.balance_body(c, "2027-11-22T10:00:00-06:00")["balance"], 45);
  EXPECT_EQ(plugin_.balance_body(c, "2027-11-23T10:00:00-06:00")["balance"], 0);
  const json next_year =
      plugin_.ok(cash_sale("e-s2", "E2", c, {"10.00"}, "2027-11-23T10:00:00-06:00"));
  EXPECT_EQ(next_year["earned"], 5);
  EXPECT_EQ(next_year["balance"], 5) << next_year.dump();
  const json h = plugin_.ok({{"type", "history.query"},
                             {"id", "e-h"},
                             {"at", "2027-11-23T10:00:00-06:00"},
                             {"customer", c}});
  bool expired = false;
  for (const auto& e : h["entries"]) expired |= e["kind"] == "expire" && e["points"] == -45;
  EXPECT_TRUE(expired) << "rule 6: expired points appear in history as an expiry entry: "
                       << h.dump();
}

TEST_F(AbiFlow, AliasesReachTheSameAccount) {
  const json up = plugin_.ok({{"type", "customer.upsert"},
                              {"id", "al-u"},
                              {"at", kAt},
                              {"customer", "card:al"},
                              {"name", "Ana L\xC3\xB3pez"},
                              {"aliases", {"phone:+525512345678", "pos:77"}}});
  EXPECT_EQ(plugin_.ok(cash_sale("al-s1", "AL1", "phone:+525512345678", {"90.00"}))["earned"], 45)
      << up.dump();
  EXPECT_EQ(plugin_.ok(cash_sale("al-s2", "AL2", "pos:77", {"10.00"}))["earned"], 5);
  EXPECT_EQ(plugin_.balance("card:al"), 50);
  EXPECT_EQ(plugin_.balance("pos:77"), 50);
  EXPECT_EQ(LedgerReader(plugin_.db_path()).scalar("SELECT count(*) FROM accounts"), 1);
}

TEST_F(AbiFlow, EarningRulesThroughTheAbi) {
  // Rule 1: the customer category's percent (gold = 8): 90.00 * 8% / 0.10 = 72.
  plugin_.ok({{"type", "customer.upsert"},
              {"id", "g-u"},
              {"at", kAt},
              {"customer", "card:g"},
              {"category", "gold"}});
  EXPECT_EQ(plugin_.ok(cash_sale("g-s1", "G1", "card:g", {"90.00"}))["earned"], 72);
  // Rule 1: a product category override of 0 excludes the line.
  json tobacco = cash_sale("g-s2", "G2", "card:x", {"50.00", "50.00"});
  tobacco["lines"][0]["category"] = "tabaco";
  EXPECT_EQ(plugin_.ok(tobacco)["earned"], 25);
  // Rule 2: half paid by an excluded method: s = 0.5.
  json card = cash_sale("g-s3", "G3", "card:x", {"100.00"});
  card["tenders"] = {{{"method", "credit_card"}, {"amount", "50.00"}},
                     {{"method", "cash"}, {"amount", "50.00"}}};
  EXPECT_EQ(plugin_.ok(card)["earned"], 25);
  EXPECT_EQ(plugin_.balance("card:x"), 50);
}

}  // namespace
}  // namespace abi_test
