// The POSLog adapter on real files (NCR ACS copied under data/poslog/; roqqio and Visma read
// from the shared fixtures at run time because they carry no licence) and on hand-made edge
// cases. Every test asserts values: ids, tickets, amounts, methods, error paths.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "adapters/adapter.h"
#include "adapters/poslog/poslog_adapter.h"
#include "adapter_test_support.h"
#include "domain/time.h"

namespace loyalty::adapters::poslog {
namespace {

using domain::ErrorCode;
using domain::Money;
using domain::Quantity;

using test::read_file;

std::filesystem::path data_file(const char* name) {
  return std::filesystem::path(LOYALTY_TEST_DATA_DIR) / "poslog" / name;
}

std::filesystem::path shared_file(const char* name) {
  return std::filesystem::path(LOYALTY_SHARED_FIXTURES) / "poslog" / name;
}

Money money(const char* s) { return *Money::parse(s); }
Quantity qty(const char* s) { return *Quantity::parse(s); }

Mapping ncr_mapping() {
  Mapping m;
  m.branch = "B00";
  m.stores = {{"9", "B09"}};
  m.categories = {{"6", "produce"}};
  m.utc_offset_minutes = -6 * 60;
  return m;
}

domain::Result<Translation> translate(std::string_view xml, const Mapping& m = Mapping{}) {
  return adapter().translate(xml, m);
}

// Translates and expects success; the failure message shows the error otherwise.
Translation ok(std::string_view xml, const Mapping& m = Mapping{}) {
  auto r = translate(xml, m);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().field + ": " + r.error().message);
  return r.ok() ? *r : Translation{};
}

template <class T>
const T& as(const Event& e) {
  return std::get<T>(e.request);
}

Money line_sum(const domain::SaleCompleted& s) {
  Money total;
  for (const auto& l : s.lines) {
    total += l.amount;
  }
  return total;
}

Money net_tenders(const domain::SaleCompleted& s) {
  Money total;
  for (const auto& t : s.tenders) {
    total += t.amount - t.change;
  }
  return total;
}

// A one-transaction POSLog around `body` (the RetailTransaction's content), un-namespaced.
std::string retail(const std::string& body, const std::string& tx_attrs = "",
                   const std::string& rt_attrs = "") {
  return "<POSLog><Transaction" + tx_attrs +
         "><RetailStoreID>S1</RetailStoreID><WorkstationID>7</WorkstationID>"
         "<SequenceNumber>42</SequenceNumber><BusinessDayDate>2026-11-22</BusinessDayDate>"
         "<EndDateTime>2026-11-22T10:15:00-06:00</EndDateTime><CurrencyCode>MXN</CurrencyCode>"
         "<RetailTransaction" +
         rt_attrs + ">" + body + "</RetailTransaction></Transaction></POSLog>";
}

std::string sale_line(int n, const std::string& sku, const std::string& amount,
                      const std::string& quantity = "1", const std::string& extra = "") {
  return "<LineItem><SequenceNumber>" + std::to_string(n) + "</SequenceNumber><Sale><ItemID>" +
         sku + "</ItemID><ExtendedAmount>" + amount + "</ExtendedAmount><Quantity>" + quantity +
         "</Quantity>" + extra + "</Sale></LineItem>";
}

std::string cash(const std::string& amount, int n = 99) {
  return "<LineItem><SequenceNumber>" + std::to_string(n) +
         "</SequenceNumber><Tender TenderType=\"Cash\"><Amount>" + amount +
         "</Amount></Tender></LineItem>";
}

// ---- real files --------------------------------------------------------------------------

TEST(PoslogNcrSmall, SignOnSkippedAndTheSaleTranslatedExactly) {
  const std::string xml = read_file(data_file("ncr-acs_kjbreil-poslog_sample-SMALL.xml"));
  ASSERT_FALSE(xml.empty());
  Translation t = ok(xml, ncr_mapping());
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].provenance.locator, "Transaction[1]");
  EXPECT_EQ(t.skipped[0].provenance.source_id, "9-34-20170930-160");
  EXPECT_EQ(t.skipped[0].reason, "ControlTransaction (OperatorSignOn): not a sale or a return");

  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(t.events[0].provenance.adapter, "poslog");
  EXPECT_EQ(t.events[0].provenance.locator, "Transaction[2]");
  const auto& s = as<domain::SaleCompleted>(t.events[0]);
  EXPECT_EQ(s.h.type, "sale.completed");
  EXPECT_EQ(s.h.id, "9-34-20170930-161-S");
  EXPECT_EQ(s.h.branch, "B09");
  EXPECT_EQ(s.h.terminal, "34");
  EXPECT_EQ(domain::format_rfc3339(s.h.at), "2017-10-01T02:02:54-06:00");
  EXPECT_EQ(s.ticket, "34-161");
  EXPECT_EQ(s.currency, "USD");
  EXPECT_EQ(s.customer, "card:0000000000000040000066677");
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].n, 1);
  EXPECT_EQ(s.lines[0].sku, "00000000067591");
  EXPECT_EQ(s.lines[0].category, "produce");
  EXPECT_EQ(s.lines[0].qty, qty("0.42"));
  // 1.26 less the 15 % member discount (LoyaltyReward -0.19, counted once, not twice).
  EXPECT_EQ(s.lines[0].amount, money("1.07"));
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "debit_card");
  EXPECT_EQ(s.tenders[0].amount, money("1.07"));
  EXPECT_EQ(s.tenders[0].change, Money());
}

TEST(PoslogNcrSmall, UnmappedStoreAndCategoryFallBack) {
  const std::string xml = read_file(data_file("ncr-acs_kjbreil-poslog_sample-SMALL.xml"));
  Translation t = ok(xml);
  ASSERT_EQ(t.events.size(), 1u);
  const auto& s = as<domain::SaleCompleted>(t.events[0]);
  EXPECT_EQ(s.h.branch, "");            // the plugin's configured branch
  EXPECT_EQ(s.lines[0].category, "6");  // the raw department
  EXPECT_EQ(domain::format_rfc3339(s.h.at), "2017-10-01T02:02:54Z");
}

// Expected per sale: the POS's own TransactionGrandAmount minus TransactionTaxAmount (what the
// lines must add up to) and TransactionGrandAmount (what the net tenders must add up to).
struct NcrTotals {
  const char* ticket;
  const char* lines;
  const char* grand;
};
constexpr NcrTotals kNcrTotals[] = {
    {"31-114", "19.51", "20.45"},  {"3-86", "9.00", "9.00"},      {"2-297", "7.48", "7.48"},
    {"1-376", "348.89", "354.21"}, {"2-298", "8.99", "9.90"},     {"32-113", "14.75", "14.75"},
    {"2-299", "5.27", "5.27"},     {"3-87", "88.21", "91.84"},    {"34-99", "29.85", "30.22"},
    {"32-114", "9.26", "10.20"},   {"31-115", "42.13", "43.90"},  {"34-100", "17.38", "17.38"},
    {"1-377", "200.38", "202.84"}, {"3-88", "18.90", "19.30"},    {"3-89", "1.07", "1.07"},
    {"32-115", "7.53", "7.92"},    {"31-116", "28.85", "29.66"},  {"3-90", "63.77", "69.34"},
    {"34-101", "11.88", "11.88"},  {"1-378", "73.34", "73.34"},   {"2-300", "284.22", "292.01"},
    {"3-91", "23.77", "24.78"},    {"32-116", "20.97", "21.51"},  {"2-301", "43.51", "45.51"},
    {"1-379", "152.11", "159.00"}, {"1-380", "12.96", "12.96"},   {"1-381", "2.00", "2.00"},
    {"32-117", "5.58", "5.58"},    {"31-117", "13.68", "13.68"},  {"34-102", "14.69", "14.69"},
    {"3-92", "179.24", "181.77"},  {"32-118", "44.79", "47.54"},  {"3-93", "54.37", "55.73"},
    {"31-118", "12.98", "12.98"},  {"3-94", "118.78", "124.53"},  {"1-382", "47.69", "48.90"},
    {"31-119", "9.49", "9.49"},    {"2-302", "438.32", "440.13"}, {"1-383", "20.13", "20.13"},
    {"34-105", "12.00", "12.00"},  {"3-95", "17.09", "17.09"},    {"2-303", "51.76", "51.76"},
};

class PoslogNcrFull : public ::testing::Test {
 protected:
  void SetUp() override {
    xml_ = read_file(data_file("ncr-acs_kjbreil-poslog_sample-POSLog.xml"));
    ASSERT_EQ(xml_.size(), 915865u);
    t_ = ok(xml_, ncr_mapping());
    for (const Event& e : t_.events) {
      const auto& s = as<domain::SaleCompleted>(e);
      by_ticket_[s.ticket] = &s;
    }
  }
  const domain::SaleCompleted& sale(const std::string& ticket) { return *by_ticket_.at(ticket); }

  std::string xml_;
  Translation t_;
  std::map<std::string, const domain::SaleCompleted*> by_ticket_;
};

TEST_F(PoslogNcrFull, FortyTwoSalesAndNineSkippedControlTransactions) {
  ASSERT_EQ(t_.events.size(), 42u);
  ASSERT_EQ(t_.skipped.size(), 9u);
  EXPECT_EQ(by_ticket_.size(), 42u);  // tickets are unique although sequence numbers repeat
  std::map<std::string, int> reasons;
  for (const Skipped& s : t_.skipped) {
    ++reasons[s.reason];
  }
  EXPECT_EQ(reasons["ControlTransaction (OperatorSignOn): not a sale or a return"], 4);
  EXPECT_EQ(reasons["ControlTransaction (OperatorSignOff): not a sale or a return"], 3);
  EXPECT_EQ(reasons["ControlTransaction (NoSale): not a sale or a return"], 2);
  for (const Event& e : t_.events) {
    EXPECT_EQ(e.request.index(), domain::Request(domain::SaleCompleted{}).index());
    EXPECT_EQ(as<domain::SaleCompleted>(e).currency, "USD");
    EXPECT_EQ(as<domain::SaleCompleted>(e).h.branch, "B09");
  }
}

TEST_F(PoslogNcrFull, EverySaleAddsUpToThePosOwnTotals) {
  Money all_lines;
  Money all_tenders;
  for (const NcrTotals& want : kNcrTotals) {
    SCOPED_TRACE(want.ticket);
    ASSERT_EQ(by_ticket_.count(want.ticket), 1u);
    const auto& s = sale(want.ticket);
    EXPECT_EQ(line_sum(s), money(want.lines));
    EXPECT_EQ(net_tenders(s), money(want.grand));
    for (const auto& l : s.lines) {
      EXPECT_FALSE(l.amount.is_negative());
      EXPECT_FALSE(l.qty.is_negative());
    }
    all_lines += line_sum(s);
    all_tenders += net_tenders(s);
  }
  EXPECT_EQ(all_lines, money("2586.57"));
  EXPECT_EQ(all_tenders, money("2643.72"));
}

TEST_F(PoslogNcrFull, VoidedLinesAndTheLinesTheyReverseAreExcluded) {
  size_t lines = 0;
  for (const auto& [ticket, s] : by_ticket_) {
    lines += s->lines.size();
  }
  // 552 Sale elements - 4 void records - the 4 lines they reverse - 1 negative item.
  EXPECT_EQ(lines, 543u);
  // 1-376: "CASC FROZ VEGIES" rung three times (lines 14-16), one voided by line 18.
  const auto& s = sale("1-376");
  int vegies = 0;
  for (const auto& l : s.lines) {
    EXPECT_NE(l.n, 18);
    if (l.sku == "00021908501406") {
      ++vegies;
    }
  }
  EXPECT_EQ(vegies, 2);
  // 3-92: 7.21 lb of almond butter (line 8, 93.66) voided by line 9; lines 10-12 stay.
  std::vector<int64_t> almond;
  for (const auto& l : sale("3-92").lines) {
    if (l.sku == "00000000090537") {
      almond.push_back(l.n);
    }
  }
  EXPECT_EQ(almond, (std::vector<int64_t>{10, 11, 12}));
}

TEST_F(PoslogNcrFull, ChangeAndCashBackFoldIntoTheirTender) {
  const auto& cash_sale = sale("34-100");
  ASSERT_EQ(cash_sale.tenders.size(), 1u);
  EXPECT_EQ(cash_sale.tenders[0].method, "cash");
  EXPECT_EQ(cash_sale.tenders[0].amount, money("20.00"));
  EXPECT_EQ(cash_sale.tenders[0].change, money("2.62"));

  const auto& cash_back = sale("3-90");
  ASSERT_EQ(cash_back.tenders.size(), 1u);
  EXPECT_EQ(cash_back.tenders[0].method, "debit_card");
  EXPECT_EQ(cash_back.tenders[0].amount, money("89.34"));
  EXPECT_EQ(cash_back.tenders[0].change, money("20.00"));

  std::map<std::string, int> methods;
  for (const auto& [ticket, s] : by_ticket_) {
    for (const auto& t : s->tenders) {
      ++methods[t.method];
    }
  }
  EXPECT_EQ(methods["cash"], 7);  // 16 Cash tender lines, 9 of them change
  EXPECT_EQ(methods["credit_card"], 18);
  EXPECT_EQ(methods["debit_card"], 17);
  EXPECT_EQ(methods.size(), 3u);
}

TEST_F(PoslogNcrFull, NegativeItemIsSpreadOverTheSaleAndCustomersComeFromLoyaltyIds) {
  const auto& bottles = sale("34-101");  // BOTTLE REFUND -2.00 inside a 13.88 sale
  EXPECT_EQ(line_sum(bottles), money("11.88"));
  for (const auto& l : bottles.lines) {
    EXPECT_NE(l.sku, "00000000054409");
  }

  std::map<std::string, std::string> customers;
  for (const auto& [ticket, s] : by_ticket_) {
    if (!s->customer.empty()) {
      customers[ticket] = s->customer;
    }
  }
  EXPECT_EQ(customers,
            (std::map<std::string, std::string>{{"1-377", "card:0000000000000002067842957"},
                                                {"2-300", "card:0000000000000002063720416"},
                                                {"2-302", "card:0000000000000002062264897"},
                                                {"3-92", "card:0000000000000040001807503"}}));
}

TEST_F(PoslogNcrFull, TranslationIsDeterministic) {
  Translation again = ok(xml_, ncr_mapping());
  ASSERT_EQ(again.events.size(), t_.events.size());
  for (size_t i = 0; i < t_.events.size(); ++i) {
    EXPECT_EQ(domain::header_of(again.events[i].request).id,
              domain::header_of(t_.events[i].request).id);
  }
  EXPECT_EQ(domain::header_of(t_.events[0].request).id, "9-31-20171001-114-S");
}

// ---- real files without a licence: read from the shared fixtures, skipped when absent ----

std::string shared_or_skip(const char* name) {
  const auto path = shared_file(name);
  if (!std::filesystem::exists(path)) {
    return {};
  }
  return read_file(path);
}

TEST(PoslogRoqqio, ReturnLinkedToItsOriginalLine) {
  const std::string xml =
      shared_or_skip("roqqio-futura4retail_schmied-it-go-poslog_retoure_with_link.xml");
  if (xml.empty()) {
    GTEST_SKIP() << "shared fixture absent";
  }
  Mapping m;
  m.stores = {{"100", "KOELN"}};
  Translation t = ok(xml, m);
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_TRUE(t.skipped.empty());
  const auto& r = as<domain::RefundCompleted>(t.events[0]);
  EXPECT_EQ(r.h.type, "refund.completed");
  EXPECT_EQ(r.h.id, "100-10001-20241015-3570-R");
  EXPECT_EQ(r.h.branch, "KOELN");
  EXPECT_EQ(domain::format_rfc3339(r.h.at), "2024-10-15T09:27:02.649Z");
  EXPECT_EQ(r.ticket, "10001-3570");
  EXPECT_EQ(r.original_ticket, "10001-3569");
  EXPECT_EQ(r.original_branch, "KOELN");
  EXPECT_EQ(r.customer, "card:T220001293");  // the loyalty card before the customer number
  EXPECT_EQ(r.currency, "EUR");              // from Currency="EUR" attributes, not "XXX"
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].n, 4);
  EXPECT_EQ(r.lines[0].sku, "4022847522022");
  EXPECT_EQ(r.lines[0].qty, qty("1"));
  EXPECT_EQ(r.lines[0].amount, money("1.29"));
  ASSERT_EQ(r.tenders.size(), 1u);
  EXPECT_EQ(r.tenders[0].method, "cash");
  EXPECT_EQ(r.tenders[0].amount, money("1.29"));
}

TEST(PoslogRoqqio, SaleWithCustomerAndSaleWithCancelledLines) {
  const std::string with_customer =
      shared_or_skip("roqqio-futura4retail_schmied-it-go-poslog_sale_with_customer.xml");
  const std::string storno =
      shared_or_skip("roqqio-futura4retail_schmied-it-go-poslog_sale_with_posStorno.xml");
  if (with_customer.empty() || storno.empty()) {
    GTEST_SKIP() << "shared fixture absent";
  }
  Translation a = ok(with_customer);
  ASSERT_EQ(a.events.size(), 1u);
  const auto& s = as<domain::SaleCompleted>(a.events[0]);
  EXPECT_EQ(s.customer, "card:T220001293");
  EXPECT_EQ(s.ticket, "10001-2");
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].amount, money("26.99"));
  EXPECT_EQ(s.lines[0].category, "");
  EXPECT_EQ(s.tenders.at(0).amount, money("26.99"));

  Translation b = ok(storno);
  ASSERT_EQ(b.events.size(), 1u);
  const auto& st = as<domain::SaleCompleted>(b.events[0]);
  ASSERT_EQ(st.lines.size(), 2u);
  EXPECT_EQ(st.lines[0].n, 11);
  EXPECT_EQ(st.lines[1].n, 12);
  EXPECT_EQ(line_sum(st), money("2.78"));
  EXPECT_EQ(net_tenders(st), money("2.78"));
  EXPECT_EQ(st.customer, "");
}

TEST(PoslogVisma, PharmacySaleWithRoundingAndDrawerOpen) {
  const std::string xml = shared_or_skip("visma-retail_ktoloc-xml_project_arts1.xml");
  if (xml.empty()) {
    GTEST_SKIP() << "shared fixture absent";
  }
  Mapping m;
  m.utc_offset_minutes = 120;
  Translation t = ok(xml, m);
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_TRUE(t.skipped.empty());
  const auto& s = as<domain::SaleCompleted>(t.events[0]);
  EXPECT_EQ(s.h.id, "3004-1-3619-S");
  EXPECT_EQ(s.ticket, "1-3619");
  EXPECT_EQ(s.currency, "SEK");
  EXPECT_EQ(domain::format_rfc3339(s.h.at), "2019-07-22T15:53:21+02:00");
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].sku, "100000");  // POSIdentity/POSItemID: no ItemID in this file
  EXPECT_EQ(s.lines[0].category, "610");
  EXPECT_EQ(s.lines[0].amount, money("22041.88"));
  ASSERT_EQ(s.tenders.size(), 1u);  // the rounding-only Tender is not a payment
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount, money("22042.00"));
}

// ---- hand-made edge cases ------------------------------------------------------------------

TEST(PoslogEdge, ReturnWithLineLevelTransactionLink) {
  Mapping m;
  m.stores = {{"S1", "B01"}, {"S2", "B02"}};
  Translation t =
      ok(retail("<LineItem><SequenceNumber>1</SequenceNumber><Return>"
                "<ItemID>CAFE</ItemID><ExtendedAmount>45.00</ExtendedAmount>"
                "<Quantity>1</Quantity><TransactionLink>"
                "<RetailStoreID>S2</RetailStoreID><WorkstationID>3</WorkstationID>"
                "<SequenceNumber>123</SequenceNumber>"
                "<BusinessDayDate>2026-11-20</BusinessDayDate>"
                "<LineItemSequenceNumber>2</LineItemSequenceNumber>"
                "</TransactionLink></Return></LineItem>"
                "<LineItem><SequenceNumber>2</SequenceNumber>"
                "<Tender TenderType=\"Cash\" TypeCode=\"Refund\"><Amount>-45.00</Amount>"
                "</Tender></LineItem>"),
         m);
  ASSERT_EQ(t.events.size(), 1u);
  const auto& r = as<domain::RefundCompleted>(t.events[0]);
  EXPECT_EQ(r.h.id, "S1-7-20261122-42-R");
  EXPECT_EQ(r.h.branch, "B01");
  EXPECT_EQ(r.ticket, "7-42");
  EXPECT_EQ(r.original_ticket, "3-123");
  EXPECT_EQ(r.original_branch, "B02");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].n, 2);
  EXPECT_EQ(r.lines[0].amount, money("45.00"));
  ASSERT_EQ(r.tenders.size(), 1u);
  EXPECT_EQ(r.tenders[0].amount, money("45.00"));  // paid back: a magnitude
}

TEST(PoslogEdge, TransactionLevelLinkNamesTheSaleButAResumeLinkDoesNot) {
  const std::string ret =
      "<LineItem><SequenceNumber>1</SequenceNumber><Return><ItemID>A</ItemID>"
      "<ExtendedAmount>5.00</ExtendedAmount></Return></LineItem>";
  Translation linked = ok(retail(ret + "<TransactionLink ReasonCode=\"Return\"><WorkstationID>9"
                                       "</WorkstationID><SequenceNumber>77</SequenceNumber>"
                                       "</TransactionLink>"));
  const auto& a = as<domain::RefundCompleted>(linked.events.at(0));
  EXPECT_EQ(a.original_ticket, "9-77");
  EXPECT_FALSE(a.lines.at(0).n.has_value());

  Translation resumed = ok(retail(ret + "<TransactionLink ReasonCode=\"Resume\"><WorkstationID>9"
                                        "</WorkstationID><SequenceNumber>77</SequenceNumber>"
                                        "</TransactionLink>"));
  EXPECT_EQ(as<domain::RefundCompleted>(resumed.events.at(0)).original_ticket, "");
}

TEST(PoslogEdge, CancelledTransactionBecomesSaleVoided) {
  for (const auto& [tx_attrs, rt_attrs] :
       std::vector<std::pair<std::string, std::string>>{{" CancelFlag=\"true\"", ""},
                                                        {"", " TransactionStatus=\"Cancelled\""},
                                                        {"", " TransactionStatus=\"PostVoided\""},
                                                        {" VoidFlag=\"true\"", ""}}) {
    SCOPED_TRACE(tx_attrs + rt_attrs);
    Translation t = ok(retail(sale_line(1, "A", "10.00") + cash("10.00"), tx_attrs, rt_attrs));
    ASSERT_EQ(t.events.size(), 1u);
    const auto& v = as<domain::SaleVoided>(t.events[0]);
    EXPECT_EQ(v.h.type, "sale.voided");
    EXPECT_EQ(v.h.id, "S1-7-20261122-42-V");
    EXPECT_EQ(v.ticket, "7-42");
  }
}

TEST(PoslogEdge, SuspendedAndTrainingTransactionsAreSkippedWithAReason) {
  Translation s = ok(retail(sale_line(1, "A", "1.00"), "", " TransactionStatus=\"Suspended\""));
  EXPECT_TRUE(s.events.empty());
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_EQ(s.skipped[0].reason,
            "suspended transaction: it may still be resumed, nothing was paid");
  Translation t = ok(retail(sale_line(1, "A", "1.00"), " TrainingModeFlag=\"true\""));
  EXPECT_TRUE(t.events.empty());
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].reason, "training-mode transaction: not a real sale");
  // A control transaction needs no identity to be skipped.
  Translation c =
      ok("<POSLog><Transaction><ControlTransaction><ReasonCode>x</ReasonCode>"
         "<OperatorSignOff/></ControlTransaction></Transaction></POSLog>");
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_EQ(c.skipped[0].reason, "ControlTransaction (OperatorSignOff): not a sale or a return");
  EXPECT_EQ(c.skipped[0].provenance.source_id, "");
}

TEST(PoslogEdge, TenderWithChangeInsideTheTender) {
  Translation t = ok(retail(sale_line(1, "A", "42.50") +
                            "<LineItem><SequenceNumber>2</SequenceNumber><Tender "
                            "TenderType=\"Cash\"><Amount>50.00</Amount><TenderChange><Amount>"
                            "7.50</Amount></TenderChange></Tender></LineItem>"));
  const auto& s = as<domain::SaleCompleted>(t.events.at(0));
  ASSERT_EQ(s.tenders.size(), 1u);
  EXPECT_EQ(s.tenders[0].method, "cash");
  EXPECT_EQ(s.tenders[0].amount, money("50.00"));
  EXPECT_EQ(s.tenders[0].change, money("7.50"));
}

TEST(PoslogEdge, WeighedQuantityAndLineDiscounts) {
  Translation t = ok(retail(
      sale_line(1, "APPLE", "1.05", "0.350") +
      sale_line(2, "B", "10.00", "2", "<ExtendedDiscountAmount>1.50</ExtendedDiscountAmount>") +
      sale_line(3, "C", "8.00", "1", "<DiscountAmount>-0.80</DiscountAmount>") +
      sale_line(4, "D", "20.00", "1",
                "<RetailPriceModifier><Amount Action=\"Subtract\">2.00</Amount>"
                "</RetailPriceModifier><RetailPriceModifier><Amount>1.00</Amount>"
                "</RetailPriceModifier>")));
  const auto& s = as<domain::SaleCompleted>(t.events.at(0));
  ASSERT_EQ(s.lines.size(), 4u);
  EXPECT_EQ(s.lines[0].qty, qty("0.350"));
  EXPECT_EQ(s.lines[0].amount, money("1.05"));
  EXPECT_EQ(s.lines[1].qty, qty("2"));
  EXPECT_EQ(s.lines[1].amount, money("8.50"));
  EXPECT_EQ(s.lines[2].amount, money("7.20"));
  EXPECT_EQ(s.lines[3].amount, money("17.00"));
  EXPECT_TRUE(s.tenders.empty());
}

TEST(PoslogEdge, TransactionDiscountIsSpreadInWholeCents) {
  Translation t = ok(retail(sale_line(1, "A", "10.00") + sale_line(2, "B", "5.00") +
                            "<LineItem><SequenceNumber>3</SequenceNumber><Discount><Amount>1.00"
                            "</Amount></Discount></LineItem>"));
  const auto& s = as<domain::SaleCompleted>(t.events.at(0));
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_EQ(s.lines[0].amount, money("9.33"));
  EXPECT_EQ(s.lines[1].amount, money("4.67"));
}

TEST(PoslogEdge, TenderMethodsDefaultsMappingAndUnknownCodes) {
  const std::string body =
      sale_line(1, "A", "100.00") +
      "<LineItem><SequenceNumber>2</SequenceNumber><Tender TenderType=\"CreditDebit\">"
      "<TenderID>12</TenderID><Amount>10.00</Amount><CreditDebit CardType=\"Credit\"/></Tender>"
      "</LineItem><LineItem><SequenceNumber>3</SequenceNumber><Tender TenderType=\"MobileWallet\">"
      "<Amount>20.00</Amount></Tender></LineItem><LineItem><SequenceNumber>4</SequenceNumber>"
      "<Tender TenderType=\"GiftCard\"><Amount>30.00</Amount></Tender></LineItem>"
      "<LineItem><SequenceNumber>5</SequenceNumber><Tender><TenderID>LOY-PTS</TenderID>"
      "<Amount>40.00</Amount></Tender></LineItem>";
  Translation d = ok(retail(body));
  const auto& a = as<domain::SaleCompleted>(d.events.at(0));
  ASSERT_EQ(a.tenders.size(), 4u);
  EXPECT_EQ(a.tenders[0].method, "credit_card");
  EXPECT_EQ(a.tenders[1].method, "mobilewallet");
  EXPECT_EQ(a.tenders[2].method, "gift_card");
  EXPECT_EQ(a.tenders[3].method, "loy-pts");

  Mapping m;
  m.tenders = {{"12", "amex"}, {"mobilewallet", "wallet"}, {"LOY-PTS", "points"}};
  Translation mapped = ok(retail(body), m);
  const auto& b = as<domain::SaleCompleted>(mapped.events.at(0));
  EXPECT_EQ(b.tenders[0].method, "amex");    // TenderID before TenderType
  EXPECT_EQ(b.tenders[1].method, "wallet");  // case-insensitive lookup
  EXPECT_EQ(b.tenders[2].method, "gift_card");
  EXPECT_EQ(b.tenders[3].method, "points");
}

TEST(PoslogEdge, CustomerPrecedenceAndPrefix) {
  Mapping m;
  m.customer_prefix = "pos:";
  Translation t = ok(retail(sale_line(1, "A", "1.00") +
                            "<Customer><CustomerID>C-1</CustomerID></Customer>"
                            "<LoyaltyAccount><CustomerID>C-1</CustomerID><LoyaltyCard>"
                            "<PrimaryAccountNumber>CARD-9</PrimaryAccountNumber></LoyaltyCard>"
                            "</LoyaltyAccount>"),
                     m);
  EXPECT_EQ(as<domain::SaleCompleted>(t.events.at(0)).customer, "pos:CARD-9");
  Translation only_customer =
      ok(retail(sale_line(1, "A", "1.00") + "<Customer><CustomerID>C-1</CustomerID></Customer>"));
  EXPECT_EQ(as<domain::SaleCompleted>(only_customer.events.at(0)).customer, "card:C-1");
  Translation zeros = ok(retail(sale_line(1, "A", "1.00") +
                                "<LineItem><SequenceNumber>2</SequenceNumber><LoyaltyMembership>"
                                "<LoyaltyID>0000000</LoyaltyID></LoyaltyMembership></LineItem>"));
  EXPECT_EQ(as<domain::SaleCompleted>(zeros.events.at(0)).customer, "");
}

TEST(PoslogEdge, ExchangeGivesASaleAndARefund) {
  Translation t = ok(retail(
      sale_line(1, "NEW", "30.00") +
      "<LineItem><SequenceNumber>2</SequenceNumber><Return><ItemID>OLD</ItemID><ExtendedAmount>"
      "20.00</ExtendedAmount></Return></LineItem>"
      "<LineItem><SequenceNumber>3</SequenceNumber><Tender TenderType=\"Cash\" TypeCode=\"Sale\">"
      "<Amount>10.00</Amount></Tender></LineItem>"));
  ASSERT_EQ(t.events.size(), 2u);
  const auto& s = as<domain::SaleCompleted>(t.events[0]);
  const auto& r = as<domain::RefundCompleted>(t.events[1]);
  EXPECT_EQ(s.h.id, "S1-7-20261122-42-S");
  EXPECT_EQ(r.h.id, "S1-7-20261122-42-R");
  EXPECT_EQ(s.tenders.size(), 1u);
  EXPECT_TRUE(r.tenders.empty());
  EXPECT_EQ(r.lines.at(0).sku, "OLD");
}

TEST(PoslogEdge, SeveralTransactionsNamespacedOrNotGiveTheSameEvents) {
  const std::string plain =
      "<POSLog>"
      "<Transaction><WorkstationID>1</WorkstationID><SequenceNumber>1</SequenceNumber>"
      "<EndDateTime>2026-01-01T09:00:00</EndDateTime><ControlTransaction><OperatorSignOn/>"
      "</ControlTransaction></Transaction>"
      "<Transaction><WorkstationID>1</WorkstationID><SequenceNumber>2</SequenceNumber>"
      "<EndDateTime>2026-01-01T09:05:00</EndDateTime><RetailTransaction>" +
      sale_line(1, "A", "3.00") + cash("3.00", 2) +
      "</RetailTransaction></Transaction>"
      "<Transaction><WorkstationID>1</WorkstationID><SequenceNumber>3</SequenceNumber>"
      "<EndDateTime>2026-01-01T09:06:00</EndDateTime><RetailTransaction>" +
      sale_line(1, "B", "4.00") + "</RetailTransaction></Transaction></POSLog>";
  const std::string prefixed =
      "<p:POSLog xmlns:p=\"http://www.nrf-arts.org/IXRetail/namespace/\" "
      "xmlns:x=\"urn:vendor\">"
      "<p:Transaction><p:WorkstationID>1</p:WorkstationID><p:SequenceNumber>1</p:SequenceNumber>"
      "<p:EndDateTime>2026-01-01T09:00:00</p:EndDateTime><p:ControlTransaction><x:OperatorSignOn/>"
      "</p:ControlTransaction></p:Transaction>"
      "<p:Transaction><p:WorkstationID>1</p:WorkstationID><p:SequenceNumber>2</p:SequenceNumber>"
      "<p:EndDateTime>2026-01-01T09:05:00</p:EndDateTime><p:RetailTransaction>"
      "<p:LineItem><p:SequenceNumber>1</p:SequenceNumber><p:Sale><p:ItemID>A</p:ItemID>"
      "<p:ExtendedAmount>3.00</p:ExtendedAmount></p:Sale></p:LineItem>"
      "<p:LineItem><p:SequenceNumber>2</p:SequenceNumber><p:Tender p:TenderType=\"Cash\">"
      "<p:Amount>3.00</p:Amount></p:Tender></p:LineItem>"
      "</p:RetailTransaction></p:Transaction>"
      "<p:Transaction><p:WorkstationID>1</p:WorkstationID><p:SequenceNumber>3</p:SequenceNumber>"
      "<p:EndDateTime>2026-01-01T09:06:00</p:EndDateTime><p:RetailTransaction>"
      "<p:LineItem><p:SequenceNumber>1</p:SequenceNumber><p:Sale><p:ItemID>B</p:ItemID>"
      "<p:ExtendedAmount>4.00</p:ExtendedAmount></p:Sale></p:LineItem>"
      "</p:RetailTransaction></p:Transaction></p:POSLog>";
  Mapping m;
  m.currency = "MXN";
  m.utc_offset_minutes = -360;
  for (const std::string* xml : {&plain, &prefixed}) {
    Translation t = ok(*xml, m);
    ASSERT_EQ(t.events.size(), 2u);
    ASSERT_EQ(t.skipped.size(), 1u);
    EXPECT_EQ(t.skipped[0].reason, "ControlTransaction (OperatorSignOn): not a sale or a return");
    const auto& a = as<domain::SaleCompleted>(t.events[0]);
    const auto& b = as<domain::SaleCompleted>(t.events[1]);
    EXPECT_EQ(a.h.id, "1-2-S");
    EXPECT_EQ(a.currency, "MXN");
    EXPECT_EQ(domain::format_rfc3339(a.h.at), "2026-01-01T09:05:00-06:00");
    EXPECT_EQ(a.tenders.at(0).method, "cash");
    EXPECT_EQ(a.lines.at(0).sku, "A");
    EXPECT_EQ(b.h.id, "1-3-S");
    EXPECT_EQ(b.lines.at(0).amount, money("4.00"));
    EXPECT_TRUE(b.tenders.empty());
    EXPECT_EQ(t.events[1].provenance.locator, "Transaction[3]");
  }
}

TEST(PoslogEdge, BareTransactionRoot) {
  Translation t =
      ok("<Transaction xmlns=\"http://www.nrf-arts.org/IXRetail/namespace/\"><SequenceNumber>5"
         "</SequenceNumber><EndDateTime>2026-01-01T09:00:00Z</EndDateTime><RetailTransaction>" +
         sale_line(1, "A", "2.00") + "</RetailTransaction></Transaction>");
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(t.events[0].provenance.locator, "Transaction[1]");
  EXPECT_EQ(as<domain::SaleCompleted>(t.events[0]).h.id, "5-S");
  EXPECT_EQ(as<domain::SaleCompleted>(t.events[0]).ticket, "5");
}

// ---- errors ---------------------------------------------------------------------------------

void expect_error(std::string_view xml, ErrorCode code, const std::string& field,
                  const std::string& message_part) {
  auto r = translate(xml);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code);
  EXPECT_EQ(r.error().field, field);
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
}

TEST(PoslogErrors, MalformedXmlNamesTheByteOffset) {
  expect_error("<POSLog><Transaction></POSLog>", ErrorCode::kInvalidJson, "",
               "not well-formed XML at byte ");
  expect_error("", ErrorCode::kInvalidJson, "", "not well-formed XML at byte 0");
  expect_error("not xml at all", ErrorCode::kInvalidJson, "", "not well-formed");
}

// An invalid byte in a UTF-8 document (a card number "T2200\xFE01293") became U+FFFD in the
// request: every such card was the same account, and the POS was told it earned. A document
// in another encoding is decoded by pugixml and stays accepted.
TEST(PoslogErrors, InvalidUtf8IsRefusedNotReplaced) {
  std::string xml = read_file(data_file("ncr-acs_kjbreil-poslog_sample-SMALL.xml"));
  ASSERT_TRUE(translate(xml).ok());
  const size_t card = xml.find("40000066677");
  ASSERT_NE(card, std::string::npos);
  xml[card + 3] = '\xFE';
  expect_error(xml, ErrorCode::kInvalidJson, "", "not valid UTF-8 at byte " + std::to_string(card + 3));
  const std::string latin1 = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><POSLog>\xE9</POSLog>";
  auto r = translate(latin1);
  ASSERT_TRUE(r.ok()) << r.error().message;  // the same byte, declared Latin-1, is "é"
  EXPECT_TRUE(r->events.empty());
}

TEST(PoslogErrors, TruncatedFileIsAnErrorNeverAPartialTranslation) {
  const std::string xml = read_file(data_file("ncr-acs_kjbreil-poslog_sample-SMALL.xml"));
  ASSERT_TRUE(translate(xml).ok());
  // Every cut through the document, including right after a complete </Transaction>.
  const size_t after_first = xml.find("</Transaction>") + std::string("</Transaction>").size();
  std::vector<size_t> cuts = {after_first, xml.size() - 1, xml.size() / 2};
  for (size_t c = 1; c < xml.size(); c += 61) {
    cuts.push_back(c);
  }
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    auto r = translate(std::string_view(xml).substr(0, cut));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
  }
}

TEST(PoslogErrors, NegativeSaleAmountNamesTheElement) {
  const std::string three = "<POSLog>" +
                            std::string(
                                "<Transaction><SequenceNumber>1</SequenceNumber>"
                                "<EndDateTime>2026-01-01T09:00:00Z</EndDateTime>"
                                "<ControlTransaction/></Transaction>") +
                            "<Transaction><SequenceNumber>2</SequenceNumber>"
                            "<EndDateTime>2026-01-01T09:00:00Z</EndDateTime><RetailTransaction>" +
                            sale_line(1, "A", "1.00") +
                            "</RetailTransaction></Transaction>"
                            "<Transaction><SequenceNumber>3</SequenceNumber>"
                            "<EndDateTime>2026-01-01T09:00:00Z</EndDateTime><RetailTransaction>" +
                            sale_line(1, "A", "1.00") + sale_line(2, "B", "-2.00") +
                            "</RetailTransaction></Transaction></POSLog>";
  expect_error(three, ErrorCode::kInvalidEvent,
               "Transaction[3]/RetailTransaction/LineItem[2]/Sale/ExtendedAmount",
               "negative amount -2.00 on a sale line");
}

TEST(PoslogErrors, MissingAndUnparseableAmounts) {
  expect_error(retail("<LineItem><SequenceNumber>1</SequenceNumber><Sale><ItemID>A</ItemID>"
                      "</Sale></LineItem>"),
               ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[1]/Sale/"
               "ExtendedAmount",
               "missing ExtendedAmount");
  expect_error(retail(sale_line(1, "A", "12,50")), ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[1]/Sale/ExtendedAmount",
               "not a decimal amount");
  expect_error(retail(sale_line(1, "A", "1.00", "two")), ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[1]/Sale/Quantity",
               "not a decimal quantity");
  expect_error(retail(sale_line(1, "A", "1.00") +
                      "<LineItem><SequenceNumber>2</SequenceNumber><Tender TenderType=\"Cash\">"
                      "</Tender></LineItem>"),
               ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[2]/Tender/Amount", "missing Amount");
  expect_error(retail(sale_line(1, "A", "1.00") + cash("-1.00")), ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[2]/Tender/Amount",
               "a sale's tender is negative");
  expect_error(retail(sale_line(1, "A", "5.00", "1",
                                "<ExtendedDiscountAmount>6.00</ExtendedDiscountAmount>")),
               ErrorCode::kInvalidEvent,
               "Transaction[1]/RetailTransaction/LineItem[1]/Sale/ExtendedDiscountAmount",
               "exceeds the line amount");
}

TEST(PoslogErrors, IdentityTimeAndRoot) {
  expect_error(
      "<POSLog><Transaction><EndDateTime>2026-01-01T09:00:00Z</EndDateTime>"
      "<RetailTransaction/></Transaction></POSLog>",
      ErrorCode::kInvalidEvent, "Transaction[1]/SequenceNumber",
      "SequenceNumber or a TransactionID");
  expect_error(
      "<POSLog><Transaction><SequenceNumber>1</SequenceNumber><RetailTransaction/>"
      "</Transaction></POSLog>",
      ErrorCode::kInvalidEvent, "Transaction[1]/EndDateTime", "missing EndDateTime");
  expect_error(
      "<POSLog><Transaction><SequenceNumber>1</SequenceNumber><EndDateTime>yesterday"
      "</EndDateTime><RetailTransaction/></Transaction></POSLog>",
      ErrorCode::kInvalidEvent, "Transaction[1]/EndDateTime", "RFC 3339");
  expect_error("<Order><Id>1</Id></Order>", ErrorCode::kInvalidEvent, "Order",
               "not POSLog or Transaction");
  expect_error(retail(sale_line(1, "A", "2.00") +
                      "<LineItem VoidFlag=\"true\"><SequenceNumber>2</SequenceNumber><Sale>"
                      "<ItemID>B</ItemID><ExtendedAmount>-2.00</ExtendedAmount></Sale></LineItem>"),
               ErrorCode::kInvalidEvent, "Transaction[1]/RetailTransaction/LineItem[2]",
               "reverses no earlier line");
}

// ---- the fuzz seeds (tests/fuzz/corpus/poslog/) translate as their names say --------------

std::string seed(const char* name) { return test::read_seed("poslog", name); }

TEST(PoslogSeeds, VoidNegativeItemDiscountAndChangeTogether) {
  const std::string xml = seed("sale_change_discounts.xml");
  ASSERT_FALSE(xml.empty());
  Translation t = ok(xml);
  ASSERT_EQ(t.events.size(), 1u);
  const auto& s = as<domain::SaleCompleted>(t.events[0]);
  ASSERT_EQ(s.lines.size(), 2u);  // GUM rung and voided; BOTTLE is a credit, not a line
  EXPECT_EQ(s.lines[0].sku, "APPLE");
  EXPECT_EQ(s.lines[0].qty, qty("0.350"));
  // 0.95 and 3.00 share the 0.30 of credits (0.25 bottle + 0.05 discount): 0.07 and 0.23.
  EXPECT_EQ(s.lines[0].amount, money("0.88"));
  EXPECT_EQ(s.lines[1].amount, money("2.77"));
  EXPECT_EQ(net_tenders(s), line_sum(s));
}

TEST(PoslogSeeds, EverySeedGivesItsOutcome) {
  Translation small = ok(seed("ncr_small.xml"));
  EXPECT_EQ(small.events.size(), 1u);
  Translation ret = ok(seed("return_with_link.xml"));
  ASSERT_EQ(ret.events.size(), 1u);
  const auto& r = as<domain::RefundCompleted>(ret.events[0]);
  EXPECT_EQ(r.original_ticket, "7-42");
  EXPECT_EQ(r.lines.at(0).n, 1);
  EXPECT_EQ(r.lines.at(0).category, "bebidas");
  EXPECT_EQ(r.customer, "card:4000123");
  EXPECT_EQ(r.currency, "MXN");
  Translation mixed = ok(seed("cancelled_and_control.xml"));
  ASSERT_EQ(mixed.events.size(), 1u);
  EXPECT_EQ(as<domain::SaleVoided>(mixed.events[0]).ticket, "3-9");
  ASSERT_EQ(mixed.skipped.size(), 2u);
  EXPECT_EQ(mixed.skipped[0].reason, "ControlTransaction (NoSale): not a sale or a return");
  EXPECT_EQ(mixed.skipped[1].reason, "training-mode transaction: not a real sale");
  auto truncated = translate(seed("truncated.xml"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, ErrorCode::kInvalidJson);
}

TEST(PoslogRegistry, FoundByName) {
  EXPECT_EQ(find_adapter("poslog"), &adapter());
  EXPECT_EQ(adapter().name(), "poslog");
}

}  // namespace
}  // namespace loyalty::adapters::poslog
