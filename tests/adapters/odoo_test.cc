// The Odoo POS order adapter on payloads transcribed from Odoo's own tests (data/odoo/,
// LGPL-3.0, see data/SOURCES.md) and on hand-made edge cases.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "adapters/adapter.h"
#include "adapters/odoo/odoo_adapter.h"
#include "adapter_test_support.h"

#include <nlohmann/json.hpp>

namespace loyalty::adapters::odoo {
namespace {

using domain::ErrorCode;
using domain::RefundCompleted;
using domain::SaleCompleted;

constexpr const char* kCreateFromUi =
    "odoo15_point_of_sale-tests-test_point_of_sale_flow_create_from_ui_3-orders.json";
constexpr const char* kSyncFromUi =
    "odoo-master_pos_stock-tests-test_pos_stock_flow_sync_from_ui_sale-and-refund.json";

std::string read_data(const std::string& name) { return test::read_data("odoo", name); }

// The JSON array under `key` of the sync_from_ui fixture, which holds the sale and the
// refund payloads under two keys.
std::string array_at(const std::string& text, const std::string& key) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains(key) || !doc[key].is_array()) {
    ADD_FAILURE() << "no array under " << key;
    return "[]";
  }
  return doc[key].dump(1);  // indented: tests edit it as text ("key": value)
}

// `members` added at the start of the first object in `text`.
std::string with_members(std::string text, const std::string& members) {
  text.insert(text.find('{') + 1, members + ",");
  return text;
}

using test::default_mapping;

Translation translate_ok(const std::string& body, const Mapping& mapping = default_mapping()) {
  return test::translate_ok(adapter(), body, mapping);
}

domain::Error translate_error(const std::string& body, const Mapping& m = default_mapping()) {
  return test::translate_error(adapter(), body, m);
}

// By value: callers often pass a temporary Translation.
SaleCompleted sale_at(const Translation& t, size_t i) {
  if (i >= t.events.size() || !std::holds_alternative<SaleCompleted>(t.events[i].request)) {
    ADD_FAILURE() << "event " << i << " is not a sale.completed";
    return {};
  }
  return std::get<SaleCompleted>(t.events[i].request);
}

RefundCompleted refund_at(const Translation& t, size_t i) {
  if (i >= t.events.size() || !std::holds_alternative<RefundCompleted>(t.events[i].request)) {
    ADD_FAILURE() << "event " << i << " is not a refund.completed";
    return {};
  }
  return std::get<RefundCompleted>(t.events[i].request);
}

int64_t unix_ms(const char* rfc3339) { return domain::parse_rfc3339(rfc3339)->unix_ms; }

// One hand-made order (Odoo 17+ sync_from_ui shape) with the given lines and payments.
std::string order(const std::string& lines, const std::string& payments,
                  const std::string& extra = "") {
  return R"({"uuid":"u-1","date_order":"2026-11-22 16:15:00","partner_id":7,"lines":[)" + lines +
         R"(],"payment_ids":[)" + payments + "]" + extra + "}";
}

std::string line(const std::string& product, const std::string& qty, const std::string& amount,
                 const std::string& extra = "") {
  return "[0,0,{\"product_id\":" + product + ",\"qty\":" + qty +
         ",\"price_subtotal_incl\":" + amount + extra + "}]";
}

std::string pay(const std::string& method, const std::string& amount,
                const std::string& extra = "") {
  return "[0,0,{\"payment_method_id\":" + method + ",\"amount\":" + amount + extra + "}]";
}

// ---- payloads from Odoo's tests ---------------------------------------------------------

TEST(OdooRealFiles, RegisteredUnderItsName) {
  EXPECT_EQ(find_adapter("odoo"), &adapter());
  EXPECT_EQ(adapter().name(), "odoo");
}

TEST(OdooRealFiles, CreateFromUiThreeOrders) {
  Mapping m = default_mapping();
  m.currency = "USD";
  m.tenders["1"] = "cash";
  m.tenders["2"] = "credit_card";
  const Translation t = translate_ok(read_data(kCreateFromUi), m);
  ASSERT_EQ(t.events.size(), 3u);
  EXPECT_TRUE(t.skipped.empty());
  const char* uids[] = {"00042-003-0014", "00043-003-0014", "00044-003-0014"};
  const char* skus[] = {"11", "12", "13"};
  const char* amounts[] = {"1.04", "1.38", "1.47"};
  const char* methods[] = {"cash", "credit_card", "method-3"};
  const char* customers[] = {"", "card:7", ""};
  for (size_t i = 0; i < 3; ++i) {
    const SaleCompleted s = sale_at(t, i);
    EXPECT_EQ(s.h.type, "sale.completed");
    EXPECT_EQ(s.h.id, std::string("odoo-") + uids[i]);
    EXPECT_EQ(s.ticket, uids[i]);
    EXPECT_EQ(s.h.branch, "B01");
    EXPECT_EQ(s.h.at.unix_ms, unix_ms("2021-09-01T10:00:00Z"));  // creation_date, UTC
    EXPECT_EQ(s.currency, "USD");
    EXPECT_EQ(s.customer, customers[i]);
    ASSERT_EQ(s.lines.size(), 1u);
    EXPECT_EQ(s.lines[0].n, 1);
    EXPECT_EQ(s.lines[0].sku, skus[i]);
    EXPECT_EQ(s.lines[0].qty.micros(), 1'000'000);
    EXPECT_EQ(s.lines[0].amount.str(2), amounts[i]);
    ASSERT_EQ(s.tenders.size(), 1u);
    EXPECT_EQ(s.tenders[0].method, methods[i]);
    EXPECT_EQ(s.tenders[0].amount.str(2), amounts[i]);
    EXPECT_TRUE(s.tenders[0].change.is_zero());
    EXPECT_EQ(t.events[i].provenance.adapter, "odoo");
    EXPECT_EQ(t.events[i].provenance.locator, "[" + std::to_string(i) + "].data");
    EXPECT_EQ(t.events[i].provenance.source_id, uids[i]);
  }
  // 1.04 is not exact in binary; the amount is exactly 1.04 nonetheless.
  EXPECT_EQ(sale_at(t, 0).lines[0].amount.micros(), 1'040'000);
}

TEST(OdooRealFiles, NaiveUtcTimesCarryTheStoreOffset) {
  Mapping m = default_mapping();
  m.utc_offset_minutes = -360;
  const SaleCompleted s = sale_at(translate_ok(read_data(kCreateFromUi), m), 0);
  EXPECT_EQ(s.h.at.unix_ms, unix_ms("2021-09-01T10:00:00Z"));
  EXPECT_EQ(domain::format_rfc3339(s.h.at), "2021-09-01T04:00:00-06:00");
}

TEST(OdooRealFiles, JsonRpcCallOfCreateFromUi) {
  const std::string body =
      R"({"jsonrpc":"2.0","method":"call","params":{"model":"pos.order","method":"create_from_ui",)"
      R"("args":[)" +
      read_data(kCreateFromUi) + ",false]}}";
  const Translation t = translate_ok(body);
  ASSERT_EQ(t.events.size(), 3u);
  EXPECT_EQ(sale_at(t, 2).h.id, "odoo-00044-003-0014");
  EXPECT_EQ(t.events[2].provenance.locator, "params.args[0][2].data");
}

// The pos_stock refund: qty -2 lines whose subtotals Odoo's test wrote positive (+20), with
// amount_total +40 and a -40 payment. The direction comes from the quantities, amounts are
// magnitudes, totals are not read: the refund is 2 x 20.00 paid back 40.00.
TEST(OdooRealFiles, InconsistentRefundIsNormalisedByQuantitySign) {
  const Translation t = translate_ok(array_at(read_data(kSyncFromUi), "sync_from_ui_refund"));
  ASSERT_EQ(t.events.size(), 1u);
  const RefundCompleted r = refund_at(t, 0);
  EXPECT_EQ(r.h.type, "refund.completed");
  EXPECT_EQ(r.h.id, "odoo-12345-123-1234");
  EXPECT_EQ(r.ticket, "12345-123-1234");
  EXPECT_EQ(r.original_ticket, "");  // not derivable from the payload (README)
  EXPECT_EQ(r.customer, "card:7");
  EXPECT_EQ(r.h.at.unix_ms, unix_ms("2025-06-01T10:05:00Z"));
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].n, 101);
  EXPECT_EQ(r.lines[0].sku, "21");
  EXPECT_EQ(r.lines[0].qty->str_trimmed(), "2");
  EXPECT_EQ(r.lines[0].amount->str(2), "20.00");
  EXPECT_EQ(r.lines[1].n, 102);
  EXPECT_EQ(r.lines[1].sku, "22");
  EXPECT_EQ(r.lines[1].amount->str(2), "20.00");
  ASSERT_EQ(r.tenders.size(), 1u);
  EXPECT_EQ(r.tenders[0].method, "method-1");
  EXPECT_EQ(r.tenders[0].amount.str(2), "40.00");
}

TEST(OdooRealFiles, RefundWithOdoosOwnNegativeSignsGivesTheSameRequest) {
  std::string refund = array_at(read_data(kSyncFromUi), "sync_from_ui_refund");
  for (const char* from : {"\"price_subtotal\": 20", "\"price_subtotal_incl\": 20"}) {
    std::string f(from), to = f.substr(0, f.size() - 2) + "-20";
    for (size_t p = refund.find(f); p != std::string::npos; p = refund.find(f, p + to.size())) {
      refund.replace(p, f.size(), to);
    }
  }
  ASSERT_NE(refund.find("\"price_subtotal_incl\": -20"), std::string::npos);
  const RefundCompleted r = refund_at(translate_ok(refund), 0);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].amount->str(2), "20.00");
  EXPECT_EQ(r.lines[1].amount->str(2), "20.00");
}

// The pos_stock sale lacks uuid and date_order (Odoo's test harness fills them on the
// server): without an identity there is no deterministic id, so it is refused.
TEST(OdooRealFiles, SaleWithoutIdentityIsRefused) {
  const domain::Error e = translate_error(array_at(read_data(kSyncFromUi), "sync_from_ui_sale"));
  EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(e.field, "[0].uid");
  EXPECT_EQ(e.message, "missing: an order needs a uid, uuid or name to give it a stable id");
}

TEST(OdooRealFiles, SyncFromUiSaleAsThePosSendsIt) {
  const std::string sale = with_members(array_at(read_data(kSyncFromUi), "sync_from_ui_sale"),
                                        R"("uuid":"sale-0001","date_order":"2025-06-01 10:00:00")");
  const Translation t = translate_ok(sale);
  ASSERT_EQ(t.events.size(), 1u);
  const SaleCompleted s = sale_at(t, 0);
  EXPECT_EQ(s.h.id, "odoo-sale-0001");
  EXPECT_EQ(s.customer, "card:7");
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].sku, "21");
  EXPECT_EQ(s.lines[0].qty.str_trimmed(), "2");
  EXPECT_EQ(s.lines[0].amount.str(2), "20.00");
  EXPECT_EQ(s.lines[1].n, 2);
  EXPECT_EQ(s.lines[1].sku, "22");
  EXPECT_EQ(s.lines[1].amount.str(2), "20.00");
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "method-1");
  EXPECT_EQ(s.tenders[0].amount.str(2), "40.00");
}

// ---- hand-made edge cases ---------------------------------------------------------------

TEST(OdooEdgeCases, FloatsRoundHalfAwayFromZeroOnTheirDecimalText) {
  const Translation t =
      translate_ok(order(line("1", "1", "0.30000000000000004") + "," + line("2", "1", "2.675") +
                             "," + line("3", "0.35", "1.005") + "," + line("4", "1", "\"90.00\""),
                         pay("1", "94.00")));
  const SaleCompleted s = sale_at(t, 0);
  ASSERT_EQ(s.lines.size(), 4u);
  EXPECT_EQ(s.lines[0].amount.micros(), 300'000);
  EXPECT_EQ(s.lines[1].amount.micros(), 2'680'000);  // the double is 2.67499999...
  EXPECT_EQ(s.lines[2].amount.micros(), 1'010'000);
  EXPECT_EQ(s.lines[2].qty.micros(), 350'000);
  EXPECT_EQ(s.lines[3].amount.str(2), "90.00");  // a decimal string is exact
}

TEST(OdooEdgeCases, YenRoundsToWholeUnits) {
  Mapping m = default_mapping();
  m.currency = "JPY";
  const SaleCompleted s = sale_at(
      translate_ok(
          order(line("1", "1", "1500.4") + "," + line("2", "1", "1500.5"), pay("1", "3001")), m),
      0);
  EXPECT_EQ(s.currency, "JPY");
  EXPECT_EQ(s.lines[0].amount.str(0), "1500");
  EXPECT_EQ(s.lines[1].amount.str(0), "1501");
  EXPECT_EQ(s.lines[1].amount.micros(), 1501 * domain::kMicrosPerUnit);
}

TEST(OdooEdgeCases, AbsurdAndNonFiniteNumbersAreRefused) {
  const domain::Error big = translate_error(order(line("1", "1", "1e15"), pay("1", "1")));
  EXPECT_EQ(big.code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(big.field, "lines[0][2].price_subtotal_incl");
  EXPECT_EQ(big.message, "too large (10^12 or more)");
  const domain::Error inf = translate_error(order(line("1", "1", "1e400"), pay("1", "1")));
  EXPECT_EQ(inf.code, ErrorCode::kInvalidJson);  // beyond double: nlohmann refuses it
  EXPECT_EQ(inf.message, "not accepted: number overflow parsing '1e400'");
  EXPECT_EQ(translate_error(order(line("1", "1", "true"), pay("1", "1"))).message,
            "must be a number, not a boolean");
  EXPECT_EQ(translate_error(order(line("1", "\"abc\"", "1"), pay("1", "1"))).field,
            "lines[0][2].qty");
}

TEST(OdooEdgeCases, CashWithChangeByAmountReturn) {
  Mapping m = default_mapping();
  m.tenders["1"] = "credit_card";
  m.tenders["2"] = "cash";
  const SaleCompleted s =
      sale_at(translate_ok(order(line("1", "1", "40.0"), pay("2", "50.0") + "," + pay("1", "10.0"),
                                 R"(,"amount_return":20.0)"),
                           m),
              0);
  ASSERT_EQ(s.tenders.size(), 2u);
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount.str(2), "50.00");
  EXPECT_EQ(s.tenders[0].change.str(2), "20.00");
  EXPECT_EQ(s.tenders[1].method, "credit_card");
  EXPECT_TRUE(s.tenders[1].change.is_zero());
}

TEST(OdooEdgeCases, ChangeAsANegativePaymentLine) {
  const SaleCompleted s =
      sale_at(translate_ok(order(line("1", "1", "40"),
                                 pay("3", "50") + "," + pay("3", "-10", R"(,"is_change":true)"))),
              0);
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "method-3");
  EXPECT_EQ(s.tenders[0].amount.str(2), "50.00");
  EXPECT_EQ(s.tenders[0].change.str(2), "10.00");
  const domain::Error e = translate_error(
      order(line("1", "1", "40"), pay("3", "5") + "," + pay("4", "35"), R"(,"amount_return":36)"));
  EXPECT_EQ(e.field, "amount_return");
  EXPECT_EQ(e.message, "the change (36.00) exceeds every payment");
}

TEST(OdooEdgeCases, DiscountLinesAreSpreadOverTheGoods) {
  const SaleCompleted even =
      sale_at(translate_ok(order(
                  line("1", "1", "60") + "," + line("2", "1", "40") + "," + line("99", "1", "-10"),
                  pay("1", "90"))),
              0);
  ASSERT_EQ(even.lines.size(), 2u);
  EXPECT_EQ(even.lines[0].amount.str(2), "54.00");
  EXPECT_EQ(even.lines[1].amount.str(2), "36.00");
  const SaleCompleted thirds =
      sale_at(translate_ok(order(line("1", "1", "10") + "," + line("2", "1", "10") + "," +
                                     line("3", "1", "10") + "," + line("99", "1", "-0.1"),
                                 pay("1", "29.9"))),
              0);
  ASSERT_EQ(thirds.lines.size(), 3u);
  EXPECT_EQ(thirds.lines[0].amount.str(2), "9.96");
  EXPECT_EQ(thirds.lines[1].amount.str(2), "9.97");
  EXPECT_EQ(thirds.lines[2].amount.str(2), "9.97");
  EXPECT_EQ(thirds.lines[2].n, 3);
  const domain::Error e =
      translate_error(order(line("1", "1", "10") + "," + line("99", "1", "-10.01"), pay("1", "0")));
  EXPECT_EQ(e.field, "lines");
  EXPECT_EQ(e.message, "the negative lines (10.01) exceed the goods sold (10.00)");
}

TEST(OdooEdgeCases, ExchangeIsASaleAndAReturn) {
  const Translation t =
      translate_ok(order(line("[5,\"Mug\"]", "1", "30") + "," +
                             line("6", "-1", "-20", R"(,"refunded_orderline_id":55)"),
                         pay("1", "10")));
  ASSERT_EQ(t.events.size(), 2u);
  const SaleCompleted s = sale_at(t, 0);
  EXPECT_EQ(s.h.id, "odoo-u-1");
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].sku, "5");
  EXPECT_EQ(s.lines[0].amount.str(2), "30.00");
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].amount.str(2), "10.00");
  const RefundCompleted r = refund_at(t, 1);
  EXPECT_EQ(r.h.id, "odoo-u-1-return");
  EXPECT_EQ(r.ticket, "u-1-return");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].n, 55);
  EXPECT_EQ(r.lines[0].qty->str_trimmed(), "1");
  EXPECT_EQ(r.lines[0].amount->str(2), "20.00");
  EXPECT_TRUE(r.tenders.empty());
}

TEST(OdooEdgeCases, StoresCustomersAndCategories) {
  Mapping m = default_mapping();
  m.stores["3"] = "B03";
  m.categories["1"] = "bebidas";
  m.customer_prefix = "odoo:";
  const SaleCompleted s =
      sale_at(translate_ok(order(line("1", "2", "90"), pay("1", "90"),
                                 R"(,"config_id":3,"partner_id":[7,"Deco Addict"])"),
                           m),
              0);
  EXPECT_EQ(s.h.branch, "B03");
  EXPECT_EQ(s.customer, "odoo:7");
  EXPECT_EQ(s.lines[0].category, "bebidas");
  EXPECT_EQ(s.lines[0].amount.str(2), "90.00");
}

TEST(OdooEdgeCases, UnpaidAndEmptyOrdersAreSkipped) {
  const Translation draft =
      translate_ok(order(line("1", "1", "1"), pay("1", "1"), R"(,"state":"draft")"));
  EXPECT_TRUE(draft.events.empty());
  ASSERT_EQ(draft.skipped.size(), 1u);
  EXPECT_EQ(draft.skipped[0].reason, "order state is draft: only paid orders earn");
  EXPECT_EQ(draft.skipped[0].provenance.source_id, "u-1");
  const Translation empty = translate_ok(order("", ""));
  ASSERT_EQ(empty.skipped.size(), 1u);
  EXPECT_EQ(empty.skipped[0].reason, "order has no lines");
}

TEST(OdooEdgeCases, MalformedTruncatedAndWrongShapes) {
  EXPECT_EQ(translate_error("{\"uid\":").code, ErrorCode::kInvalidJson);
  const std::string full = read_data(kCreateFromUi);
  EXPECT_EQ(translate_error(full.substr(0, full.size() - 5)).code, ErrorCode::kInvalidJson);
  EXPECT_EQ(translate_error("3").code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(translate_error("[3]").field, "[0]");
  EXPECT_EQ(translate_error(order("[0,0,5]", "")).field, "lines[0]");
  EXPECT_EQ(translate_error(R"({"uid":"x","date_order":"2026-01-01 00:00:00"})").field, "lines");
  EXPECT_EQ(translate_error(order("[0,0,{\"product_id\":1,\"price_subtotal_incl\":1}]", "")).field,
            "lines[0][2].qty");
  EXPECT_EQ(translate_error(R"({"uid":"x","lines":[]})").field, "date_order");
  EXPECT_EQ(translate_error(R"({"uid":"x","date_order":"yesterday","lines":[]})").field,
            "date_order");
  EXPECT_EQ(translate_error(order(line("1", "1", "1"), "[0,0,{\"amount\":1}]")).field,
            "payment_ids[0][2].payment_method_id");
  EXPECT_EQ(translate_error(order(line("\"x\"", "1", "1"), "")).field, "lines[0][2].product_id");
}

// ---- the fuzz seeds (tests/fuzz/corpus/odoo/) translate as their names say ---------------

std::string seed(const char* name) { return test::read_seed("odoo", name); }

TEST(OdooSeeds, EverySeedGivesItsOutcome) {
  const SaleCompleted one = sale_at(translate_ok(seed("create_from_ui_one.json")), 0);
  EXPECT_EQ(one.h.id, "odoo-00042-003-0014");
  EXPECT_EQ(one.tenders[0].amount.str(2), "1.50");
  EXPECT_EQ(one.tenders[0].change.str(2), "0.46");
  const Translation exchange = translate_ok(seed("sync_from_ui_exchange.json"));
  ASSERT_EQ(exchange.events.size(), 2u);
  const SaleCompleted sold = sale_at(exchange, 0);
  ASSERT_EQ(sold.lines.size(), 1u);
  EXPECT_EQ(sold.lines[0].amount.str(2), "27.00");  // 30.00 less the -3.00 discount line
  EXPECT_EQ(sold.tenders[0].amount.str(2), "20.00");
  EXPECT_EQ(sold.tenders[0].change.str(2), "13.00");
  EXPECT_EQ(refund_at(exchange, 1).lines[0].n, 101);
  const RefundCompleted r = refund_at(translate_ok(seed("refund.json")), 0);
  EXPECT_EQ(r.tenders[0].amount.str(2), "40.00");
  EXPECT_EQ(translate_ok(seed("jsonrpc.json")).events.size(), 1u);
  EXPECT_EQ(translate_ok(seed("draft.json")).skipped.size(), 1u);
  EXPECT_EQ(translate_error(seed("truncated.json")).code, ErrorCode::kInvalidJson);
}

}  // namespace
}  // namespace loyalty::adapters::odoo
