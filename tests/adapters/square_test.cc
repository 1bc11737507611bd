// The Square webhook adapter on Square's own API examples (data/square/, Apache-2.0, see
// data/SOURCES.md) and on hand-made edge cases.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "adapters/adapter.h"
#include "adapters/square/square_adapter.h"
#include "adapter_test_support.h"

namespace loyalty::adapters::square {
namespace {

using domain::ErrorCode;
using domain::RefundCompleted;
using domain::SaleCompleted;

std::string read_data(const std::string& name) {
  return test::read_data("square", "square-api-spec_" + name);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// The combined body the daemon posts: the webhook envelope with the order it fetched
// (the "order" member of a RetrieveOrder/PayOrder response) added as data.object.order.
std::string attach_order(const std::string& envelope, const std::string& order_response) {
  const size_t start = order_response.find('{', order_response.find("\"order\""));
  const size_t end = order_response.rfind('}');  // closes the response object
  const std::string order = order_response.substr(start, end - start);
  const std::string anchor = "\"object\": {";
  std::string out = envelope;
  out.insert(out.find(anchor) + anchor.size(), "\"order\": " + order + ",");
  return out;
}

// A payment.updated envelope around a hand-written payment (and optional extra members of
// data.object, such as an order).
std::string payment_event(const std::string& payment, const std::string& extra = "") {
  return R"({"type":"payment.updated","event_id":"ev-1","data":{"type":"payment","id":"P1",)"
         R"("object":{"payment":)" +
         payment + extra + "}}}";
}

std::string refund_event(const std::string& refund) {
  return R"({"type":"refund.updated","event_id":"ev-2","data":{"type":"refund","id":"R1",)"
         R"("object":{"refund":)" +
         refund + "}}}";
}

const std::string kCompleted =
    R"("id":"P1","status":"COMPLETED","created_at":"2026-11-22T16:15:00Z",)"
    R"("location_id":"L1",)";

using test::default_mapping;

Translation translate_ok(const std::string& body, const Mapping& mapping = default_mapping()) {
  return test::translate_ok(adapter(), body, mapping);
}

domain::Error translate_error(const std::string& body) { return test::translate_error(adapter(), body); }

// By value: callers often pass a temporary Translation.
SaleCompleted only_sale(const Translation& t) {
  const SaleCompleted kNone;
  EXPECT_EQ(t.events.size(), 1u);
  EXPECT_TRUE(t.skipped.empty());
  if (t.events.size() != 1 || !std::holds_alternative<SaleCompleted>(t.events[0].request)) {
    ADD_FAILURE() << "expected one sale.completed";
    return kNone;
  }
  return std::get<SaleCompleted>(t.events[0].request);
}

RefundCompleted only_refund(const Translation& t) {
  const RefundCompleted kNone;
  EXPECT_EQ(t.events.size(), 1u);
  if (t.events.size() != 1 || !std::holds_alternative<RefundCompleted>(t.events[0].request)) {
    ADD_FAILURE() << "expected one refund.completed";
    return kNone;
  }
  return std::get<RefundCompleted>(t.events[0].request);
}

int64_t unix_ms(const char* rfc3339) { return domain::parse_rfc3339(rfc3339)->unix_ms; }

// ---- Square's own examples ------------------------------------------------------------

TEST(SquareRealFiles, RegisteredUnderItsName) {
  EXPECT_EQ(find_adapter("square"), &adapter());
  EXPECT_EQ(adapter().name(), "square");
}

TEST(SquareRealFiles, ApprovedPaymentIsSkippedWithReason) {
  const Translation t = translate_ok(read_data("webhook_payment.created.json"));
  EXPECT_TRUE(t.events.empty());
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].provenance.adapter, "square");
  EXPECT_EQ(t.skipped[0].provenance.locator, "data.object.payment");
  EXPECT_EQ(t.skipped[0].provenance.source_id, "hYy9pRFVxpDsO1FB05SunFWUe9JZY");
  EXPECT_EQ(t.skipped[0].reason,
            "payment is APPROVED (not captured yet): it earns when a payment.updated says "
            "COMPLETED");
}

TEST(SquareRealFiles, CompletedBarePaymentIsOneLineOfItsAmount) {
  const Translation t = translate_ok(read_data("webhook_payment.updated.json"));
  const SaleCompleted& s = only_sale(t);
  EXPECT_EQ(s.h.type, "sale.completed");
  EXPECT_EQ(s.h.id, "square-payment-hYy9pRFVxpDsO1FB05SunFWUe9JZY");
  EXPECT_EQ(s.ticket, "hYy9pRFVxpDsO1FB05SunFWUe9JZY");
  EXPECT_EQ(s.h.at.unix_ms, unix_ms("2020-11-22T21:16:51.086Z"));  // created_at
  EXPECT_EQ(s.h.at.offset_minutes, 0);
  EXPECT_EQ(s.h.branch, "B01");  // location S8GWD5R9QB376 is not in `stores`
  EXPECT_EQ(s.currency, "USD");
  EXPECT_EQ(s.customer, "");
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].n, 1);
  EXPECT_EQ(s.lines[0].sku, "");
  EXPECT_EQ(s.lines[0].category, "");
  EXPECT_EQ(s.lines[0].qty.micros(), 1'000'000);
  EXPECT_EQ(s.lines[0].amount.micros(), 1'000'000);  // 100 cents
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "card");
  EXPECT_EQ(s.tenders[0].amount.str(2), "1.00");
  EXPECT_TRUE(s.tenders[0].change.is_zero());
  EXPECT_EQ(t.events[0].provenance.locator, "data.object.payment");
  EXPECT_EQ(t.events[0].provenance.source_id, "hYy9pRFVxpDsO1FB05SunFWUe9JZY");
}

TEST(SquareRealFiles, MappingNamesBranchMethodAndOffset) {
  Mapping m = default_mapping();
  m.stores["S8GWD5R9QB376"] = "B07";
  m.tenders["card"] = "credit_card";  // case-insensitive lookup of "CARD"
  m.utc_offset_minutes = -360;
  const SaleCompleted& s = only_sale(translate_ok(read_data("webhook_payment.updated.json"), m));
  EXPECT_EQ(s.h.branch, "B07");
  EXPECT_EQ(s.tenders[0].method, "credit_card");
  EXPECT_EQ(s.h.at.unix_ms, unix_ms("2020-11-22T21:16:51.086Z"));  // same instant
  EXPECT_EQ(s.h.at.offset_minutes, -360);
  EXPECT_EQ(domain::format_rfc3339(s.h.at), "2020-11-22T15:16:51.086-06:00");
}

TEST(SquareRealFiles, PendingRefundIsSkipped) {
  const Translation t = translate_ok(read_data("webhook_refund.created.json"));
  EXPECT_TRUE(t.events.empty());
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].provenance.locator, "data.object.refund");
  EXPECT_EQ(t.skipped[0].reason,
            "refund is PENDING: it counts when a refund.updated says COMPLETED");
}

TEST(SquareRealFiles, CompletedRefundNamesThePaymentAsOriginalTicket) {
  const Translation t = translate_ok(read_data("webhook_refund.updated.json"));
  const RefundCompleted& r = only_refund(t);
  const std::string refund_id =
      "KkAkhdMsgzn59SM8A89WgKwekxLZY_ptNBVqHYxt5gAdfcobBe4u1AZsXhoz06KTtuq9Ls24P";
  EXPECT_EQ(r.h.type, "refund.completed");
  EXPECT_EQ(r.h.id, "square-refund-" + refund_id);
  EXPECT_EQ(r.ticket, refund_id);
  EXPECT_EQ(r.original_ticket, "KkAkhdMsgzn59SM8A89WgKwekxLZY");
  EXPECT_EQ(r.h.at.unix_ms, unix_ms("2020-02-06T21:27:41.836Z"));
  EXPECT_EQ(r.h.branch, "B01");
  EXPECT_EQ(r.currency, "USD");
  EXPECT_EQ(r.customer, "");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_FALSE(r.lines[0].n.has_value());
  EXPECT_FALSE(r.lines[0].qty.has_value());
  ASSERT_TRUE(r.lines[0].amount.has_value());
  EXPECT_EQ(r.lines[0].amount->str(2), "10.00");
  EXPECT_TRUE(r.tenders.empty());
}

TEST(SquareRealFiles, RefundLinksToTheSaleOfItsPayment) {
  const SaleCompleted& s = only_sale(translate_ok(read_data("webhook_payment.updated.json")));
  const std::string refund = replace_all(read_data("webhook_refund.updated.json"),
                                         R"("payment_id": "KkAkhdMsgzn59SM8A89WgKwekxLZY")",
                                         R"("payment_id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY")");
  const RefundCompleted& r = only_refund(translate_ok(refund));
  EXPECT_EQ(r.original_ticket, s.ticket);
}

TEST(SquareRealFiles, OrderEventsAreSkippedWithReason) {
  for (const char* file : {"webhook_order.created.json", "webhook_order.updated.json"}) {
    const Translation t = translate_ok(read_data(file));
    EXPECT_TRUE(t.events.empty()) << file;
    ASSERT_EQ(t.skipped.size(), 1u) << file;
    EXPECT_EQ(t.skipped[0].provenance.source_id, "eA3vssLHKJrv9H0IdJCM3gNqfdcZY");
    EXPECT_NE(t.skipped[0].reason.find("carries no payment"), std::string::npos)
        << t.skipped[0].reason;
  }
  EXPECT_EQ(translate_ok(read_data("webhook_order.created.json")).skipped[0].reason,
            "event type order.created carries no payment: a sale is taken from the "
            "payment.created/payment.updated webhook whose payment is COMPLETED");
}

TEST(SquareRealFiles, LoyaltyEventsAreSkippedWithReason) {
  const Translation e = translate_ok(read_data("webhook_loyalty.event.created.json"));
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_TRUE(e.events.empty());
  EXPECT_EQ(e.skipped[0].provenance.source_id, "iirpaae81f66e-a7ea-4fcf-a04f-f0d29fdc60e6");
  EXPECT_EQ(e.skipped[0].reason,
            "event type loyalty.event.created belongs to Square's own loyalty program: this "
            "plugin keeps its own ledger and earns from payments");
  const Translation a = translate_ok(read_data("webhook_loyalty.account.updated.json"));
  ASSERT_EQ(a.skipped.size(), 1u);
  EXPECT_EQ(a.skipped[0].provenance.source_id, "ba2f8ab6-e131-46d9-9882-17714404eb49");
  EXPECT_NE(a.skipped[0].reason.find("loyalty.account.updated"), std::string::npos);
}

// PayOrderResponse: two line items paid by two CARD tenders (a split payment). The payment
// of the first tender carries the whole order; the second payment is skipped so that the
// order earns once.
std::string pay_order_body(const std::string& payment_id) {
  std::string payment = read_data("webhook_payment.updated.json");
  payment = replace_all(payment, "hYy9pRFVxpDsO1FB05SunFWUe9JZY", payment_id);
  payment = replace_all(payment, "03O3USaPaAaFnI6kkwB1JxGgBsUZY", "lgwOlEityYPJtcuvKTVKT1pA986YY");
  return attach_order(payment, read_data("PayOrderResponse.json"));
}

TEST(SquareRealFiles, PayOrderWithTwoCardTenders) {
  const Translation t = translate_ok(pay_order_body("EnZdNAlWCmfh6Mt5FMNST1o7taB"));
  const SaleCompleted& s = only_sale(t);
  EXPECT_EQ(s.h.id, "square-payment-EnZdNAlWCmfh6Mt5FMNST1o7taB");
  EXPECT_EQ(s.ticket, "EnZdNAlWCmfh6Mt5FMNST1o7taB");
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].n, 1);
  EXPECT_EQ(s.lines[0].qty.str_trimmed(), "1");
  EXPECT_EQ(s.lines[0].amount.str(2), "5.00");
  EXPECT_EQ(s.lines[1].n, 2);
  EXPECT_EQ(s.lines[1].qty.str_trimmed(), "2");
  EXPECT_EQ(s.lines[1].amount.str(2), "15.00");
  EXPECT_EQ(s.lines[1].sku, "");
  ASSERT_EQ(s.tenders.size(), 2u);
  for (const domain::Tender& tender : s.tenders) {
    EXPECT_EQ(tender.method, "card");
    EXPECT_EQ(tender.amount.str(2), "10.00");
    EXPECT_TRUE(tender.change.is_zero());
  }
}

TEST(SquareRealFiles, SecondPaymentOfASplitOrderIsSkipped) {
  const Translation t = translate_ok(pay_order_body("0LRiVlbXVwe8ozu4KbZxd12mvaB"));
  EXPECT_TRUE(t.events.empty());
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].provenance.source_id, "0LRiVlbXVwe8ozu4KbZxd12mvaB");
  EXPECT_EQ(t.skipped[0].reason,
            "order lgwOlEityYPJtcuvKTVKT1pA986YY was paid by several payments: it earns once, "
            "through the payment of its first tender");
}

TEST(SquareRealFiles, PaymentThatIsNotAmongTheOrdersTendersIsRefused) {
  const domain::Error e = translate_error(pay_order_body("SomeOtherPayment"));
  EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(e.field, "data.object.order.tenders");
}

// RetrieveOrderResponse: an ORDER-scope 50 % discount (5.50 off 11.00) apportioned by
// Square to the lines (applied_discounts 2.50 and 3.00): line amounts are after it.
TEST(SquareRealFiles, OrderScopeDiscountIsInTheLineAmounts) {
  std::string payment = read_data("webhook_payment.updated.json");
  payment = replace_all(payment, "03O3USaPaAaFnI6kkwB1JxGgBsUZY", "CAISENgvlJ6jLWAzERDzjyHVybY");
  Mapping m = default_mapping();
  m.categories["Item 2"] = "bebidas";
  const SaleCompleted& s =
      only_sale(translate_ok(attach_order(payment, read_data("RetrieveOrderResponse.json")), m));
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].amount.str(2), "2.50");
  EXPECT_EQ(s.lines[0].qty.str_trimmed(), "1");
  EXPECT_EQ(s.lines[0].category, "");
  EXPECT_EQ(s.lines[1].amount.str(2), "3.00");
  EXPECT_EQ(s.lines[1].qty.str_trimmed(), "2");
  EXPECT_EQ(s.lines[1].category, "bebidas");
  EXPECT_EQ((s.lines[0].amount + s.lines[1].amount).str(2), "5.50");
  // The order lists no tenders: the payment is the tender.
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "card");
  EXPECT_EQ(s.tenders[0].amount.str(2), "1.00");
}

TEST(SquareRealFiles, OrderOfAnotherPaymentIsRefused) {
  const std::string body = attach_order(read_data("webhook_payment.updated.json"),
                                        read_data("RetrieveOrderResponse.json"));
  const domain::Error e = translate_error(body);
  EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(e.field, "data.object.order.id");
  EXPECT_EQ(e.message,
            "is CAISENgvlJ6jLWAzERDzjyHVybY but the payment belongs to order "
            "03O3USaPaAaFnI6kkwB1JxGgBsUZY");
}

TEST(SquareRealFiles, SameInputGivesTheSameRequests) {
  const std::string body = pay_order_body("EnZdNAlWCmfh6Mt5FMNST1o7taB");
  const SaleCompleted a = only_sale(translate_ok(body));
  const SaleCompleted b = only_sale(translate_ok(body));
  EXPECT_EQ(a.h.id, b.h.id);
  EXPECT_EQ(a.h.at, b.h.at);
  ASSERT_EQ(a.lines.size(), b.lines.size());
  for (size_t i = 0; i < a.lines.size(); ++i) EXPECT_EQ(a.lines[i].amount, b.lines[i].amount);
}

// ---- hand-made edge cases ---------------------------------------------------------------

TEST(SquareEdgeCases, YenHasNoDecimals) {
  const SaleCompleted& s = only_sale(translate_ok(
      payment_event("{" + kCompleted +
                    R"("amount_money":{"amount":1500,"currency":"JPY"},"source_type":"CARD"})")));
  EXPECT_EQ(s.currency, "JPY");
  EXPECT_EQ(s.lines[0].amount.micros(), 1500 * domain::kMicrosPerUnit);
  EXPECT_EQ(s.lines[0].amount.str(0), "1500");
  EXPECT_EQ(s.tenders[0].amount.micros(), 1500 * domain::kMicrosPerUnit);
}

TEST(SquareEdgeCases, KuwaitiDinarHasThreeDecimals) {
  const SaleCompleted& s = only_sale(translate_ok(
      payment_event("{" + kCompleted + R"("amount_money":{"amount":12345,"currency":"KWD"}})")));
  EXPECT_EQ(s.lines[0].amount.str(3), "12.345");
  EXPECT_EQ(s.tenders[0].method, "other");  // no source_type
}

TEST(SquareEdgeCases, CashPaymentWithChange) {
  const SaleCompleted& s = only_sale(translate_ok(payment_event(
      "{" + kCompleted +
      R"("amount_money":{"amount":1550,"currency":"MXN"},)"
      R"("total_money":{"amount":1550,"currency":"MXN"},"source_type":"CASH",)"
      R"("cash_details":{"buyer_supplied_money":{"amount":2000,"currency":"MXN"},)"
      R"("change_back_money":{"amount":450,"currency":"MXN"}}})")));
  EXPECT_EQ(s.lines[0].amount.str(2), "15.50");
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount.str(2), "20.00");
  EXPECT_EQ(s.tenders[0].change.str(2), "4.50");
}

TEST(SquareEdgeCases, CashOrderTenderWithChangeAndCustomer) {
  const std::string order =
      R"(,"order":{"id":"O1","customer_id":"CUST9","line_items":[)"
      R"({"uid":"a","quantity":"0.350","catalog_object_id":"VAR-APPLE",)"
      R"("total_money":{"amount":1550,"currency":"USD"}}],)"
      R"("tenders":[{"id":"T1","payment_id":"P1","type":"CASH",)"
      R"("amount_money":{"amount":1550,"currency":"USD"},)"
      R"("cash_details":{"buyer_tendered_money":{"amount":2000,"currency":"USD"},)"
      R"("change_back_money":{"amount":450,"currency":"USD"}}}]})";
  Mapping m = default_mapping();
  m.customer_prefix = "sq:";
  m.categories["VAR-APPLE"] = "fruta";
  const SaleCompleted& s = only_sale(translate_ok(
      payment_event(
          "{" + kCompleted + R"("order_id":"O1","amount_money":{"amount":1550,"currency":"USD"}})",
          order),
      m));
  EXPECT_EQ(s.customer, "sq:CUST9");  // from the order: the payment names none
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].sku, "VAR-APPLE");
  EXPECT_EQ(s.lines[0].category, "fruta");
  EXPECT_EQ(s.lines[0].qty.micros(), 350'000);
  EXPECT_EQ(s.lines[0].amount.str(2), "15.50");
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount.str(2), "20.00");
  EXPECT_EQ(s.tenders[0].change.str(2), "4.50");
}

TEST(SquareEdgeCases, CustomerTipAndGiftCard) {
  const SaleCompleted& s = only_sale(translate_ok(payment_event(
      "{" + kCompleted +
      R"("customer_id":"QPTXM8PQNX3Q726ZYHPMNP46XC",)"
      R"("amount_money":{"amount":1000,"currency":"USD"},)"
      R"("tip_money":{"amount":200,"currency":"USD"},)"
      R"("total_money":{"amount":1200,"currency":"USD"},)"
      R"("source_type":"CARD","card_details":{"card":{"card_brand":"SQUARE_GIFT_CARD"}}})")));
  EXPECT_EQ(s.customer, "card:QPTXM8PQNX3Q726ZYHPMNP46XC");
  EXPECT_EQ(s.lines[0].amount.str(2), "10.00");    // goods, without the tip
  EXPECT_EQ(s.tenders[0].amount.str(2), "12.00");  // what was paid
  EXPECT_EQ(s.tenders[0].method, "gift_card");
}

TEST(SquareEdgeCases, FailedAndCanceledPaymentsAreSkipped) {
  for (const char* status : {"FAILED", "CANCELED", "PENDING"}) {
    const Translation t =
        translate_ok(payment_event(std::string(R"({"id":"P1","status":")") + status +
                                   R"(","amount_money":{"amount":100,"currency":"USD"}})"));
    EXPECT_TRUE(t.events.empty()) << status;
    ASSERT_EQ(t.skipped.size(), 1u) << status;
    EXPECT_NE(t.skipped[0].reason.find(status), std::string::npos) << t.skipped[0].reason;
  }
  EXPECT_EQ(translate_ok(payment_event(R"({"id":"P1","status":"CANCELED"})")).skipped[0].reason,
            "payment is CANCELED: no money was taken, so there is no sale");
}

TEST(SquareEdgeCases, RejectedRefundIsSkippedAndUnlinkedRefundHasNoOriginal) {
  const Translation rejected = translate_ok(refund_event(R"({"id":"RF1","status":"REJECTED"})"));
  ASSERT_EQ(rejected.skipped.size(), 1u);
  EXPECT_EQ(rejected.skipped[0].reason,
            "refund status REJECTED is not COMPLETED: no money went back");
  const RefundCompleted& r = only_refund(translate_ok(refund_event(
      R"({"id":"RF1","status":"COMPLETED","created_at":"2026-11-23T09:00:00Z",)"
      R"("destination_type":"CASH","amount_money":{"amount":450,"currency":"USD"}})")));
  EXPECT_EQ(r.original_ticket, "");
  ASSERT_EQ(r.tenders.size(), 1u);
  EXPECT_EQ(r.tenders[0].method, "cash");
  EXPECT_EQ(r.tenders[0].amount.str(2), "4.50");
}

TEST(SquareEdgeCases, MalformedAndTruncatedJson) {
  EXPECT_EQ(translate_error("{").code, ErrorCode::kInvalidJson);
  EXPECT_EQ(translate_error("").code, ErrorCode::kInvalidJson);
  const std::string full = read_data("webhook_payment.updated.json");
  const domain::Error e = translate_error(full.substr(0, full.size() / 2));
  EXPECT_EQ(e.code, ErrorCode::kInvalidJson);
  EXPECT_NE(e.message.find("at byte"), std::string::npos) << e.message;
  auto nested = [](size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  const domain::Error too_deep = translate_error(nested(65));
  EXPECT_EQ(too_deep.code, ErrorCode::kInvalidJson);
  EXPECT_NE(too_deep.message.find("nest deeper than 64"), std::string::npos) << too_deep.message;
  EXPECT_EQ(translate_error(nested(100000)).code, ErrorCode::kInvalidJson);
  // 64 levels parse; the document is then refused for its shape, not its depth.
  EXPECT_EQ(translate_error(nested(64)).code, ErrorCode::kInvalidEvent);
  // Brackets inside strings are not nesting: an event of an unknown type, skipped.
  EXPECT_EQ(translate_ok("{\"type\":\"" + nested(200) + "\"}").skipped.size(), 1u);
  EXPECT_EQ(translate_error("{\"type\":\"\xff\"}").code, ErrorCode::kInvalidJson);
}

TEST(SquareEdgeCases, WrongShapesNameTheField) {
  EXPECT_EQ(translate_error("[]").code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(translate_error("{}").field, "type");
  EXPECT_EQ(translate_error(R"({"type":7})").message, "must be a string, not a number");
  EXPECT_EQ(translate_error(R"({"type":"payment.updated"})").field, "data");
  EXPECT_EQ(translate_error(R"({"type":"payment.updated","data":{}})").field, "data.object");
  EXPECT_EQ(translate_error(R"({"type":"payment.updated","data":{"object":{}}})").field,
            "data.object.payment");
  EXPECT_EQ(translate_error(payment_event(R"({"status":"COMPLETED"})")).field,
            "data.object.payment.id");
}

TEST(SquareEdgeCases, WrongTypeOfAmountNamesItsPath) {
  const domain::Error e = translate_error(
      payment_event("{" + kCompleted + R"("amount_money":{"amount":"100","currency":"USD"}})"));
  EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
  EXPECT_EQ(e.field, "data.object.payment.amount_money.amount");
  EXPECT_EQ(e.message, "must be a JSON integer, not a string");
  const domain::Error f = translate_error(
      payment_event("{" + kCompleted + R"("amount_money":{"amount":1.5,"currency":"USD"}})"));
  EXPECT_EQ(f.field, "data.object.payment.amount_money.amount");
  EXPECT_EQ(f.message, "must be a JSON integer, not a fractional number");
}

TEST(SquareEdgeCases, NegativeAmountsAreRefused) {
  const domain::Error e = translate_error(
      payment_event("{" + kCompleted + R"("amount_money":{"amount":-100,"currency":"USD"}})"));
  EXPECT_EQ(e.field, "data.object.payment.amount_money.amount");
  EXPECT_EQ(e.message, "must be zero or positive");
  const domain::Error r = translate_error(
      refund_event(R"({"id":"RF1","status":"COMPLETED","created_at":"2026-11-23T09:00:00Z",)"
                   R"("amount_money":{"amount":-1,"currency":"USD"}})"));
  EXPECT_EQ(r.field, "data.object.refund.amount_money.amount");
}

TEST(SquareEdgeCases, MissingFieldsAreNamed) {
  EXPECT_EQ(translate_error(payment_event("{" + kCompleted + R"("x":1})")).field,
            "data.object.payment.amount_money");
  EXPECT_EQ(
      translate_error(
          payment_event(
              R"({"id":"P1","status":"COMPLETED","amount_money":{"amount":1,"currency":"USD"}})"))
          .field,
      "data.object.payment.created_at");
  EXPECT_EQ(
      translate_error(payment_event("{" + kCompleted + R"("amount_money":{"amount":1}})")).message,
      "missing, and [adapters.square] names no currency");
  Mapping m = default_mapping();
  m.currency = "EUR";
  const SaleCompleted& s = only_sale(
      translate_ok(payment_event("{" + kCompleted + R"("amount_money":{"amount":1}})"), m));
  EXPECT_EQ(s.currency, "EUR");
}

TEST(SquareEdgeCases, BadOrderLinesNameTheirPath) {
  const std::string payment =
      "{" + kCompleted + R"("order_id":"O1","amount_money":{"amount":100,"currency":"USD"}})";
  EXPECT_EQ(translate_error(payment_event(payment,
                                          R"(,"order":{"id":"O1","line_items":[{"quantity":"abc",)"
                                          R"("total_money":{"amount":100,"currency":"USD"}}]})"))
                .field,
            "data.object.order.line_items[0].quantity");
  const domain::Error currency = translate_error(
      payment_event(payment, R"(,"order":{"id":"O1","line_items":[{"quantity":"1",)"
                             R"("total_money":{"amount":100,"currency":"EUR"}}]})"));
  EXPECT_EQ(currency.field, "data.object.order.line_items[0].total_money.currency");
  EXPECT_EQ(currency.message, "is EUR but the event is in USD");
  EXPECT_EQ(
      translate_error(payment_event(payment, R"(,"order":{"id":"O1","line_items":[3]})")).field,
      "data.object.order.line_items[0]");
}

TEST(SquareEdgeCases, OverlongIdsAreRefused) {
  const std::string id(200, 'x');
  const domain::Error e =
      translate_error(payment_event(R"({"id":")" + id +
                                    R"(","status":"COMPLETED","created_at":"2026-11-22T16:15:00Z",)"
                                    R"("amount_money":{"amount":1,"currency":"USD"}})"));
  EXPECT_EQ(e.field, "data.object.payment.id");
}

// ---- the fuzz seeds (tests/fuzz/corpus/square/) translate as their names say -------------

std::string seed(const char* name) { return test::read_seed("square", name); }

TEST(SquareSeeds, EverySeedGivesItsOutcome) {
  const SaleCompleted s = only_sale(translate_ok(seed("payment_completed_with_order.json")));
  EXPECT_EQ(s.customer, "card:C1");
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[1].amount.str(2), "6.50");
  EXPECT_EQ(s.tenders[0].change.str(2), "4.50");
  EXPECT_EQ(s.h.at.unix_ms, unix_ms("2026-11-22T16:15:00.250Z"));
  EXPECT_EQ(only_sale(translate_ok(seed("payment_bare_jpy.json"))).lines[0].amount.str(0), "1500");
  EXPECT_EQ(only_refund(translate_ok(seed("refund_completed.json"))).original_ticket, "P1");
  EXPECT_EQ(translate_ok(seed("payment_approved.json")).skipped.size(), 1u);
  EXPECT_EQ(translate_ok(seed("loyalty_event.json")).skipped.size(), 1u);
  EXPECT_EQ(translate_error(seed("truncated.json")).code, ErrorCode::kInvalidJson);
}

}  // namespace
}  // namespace loyalty::adapters::square
