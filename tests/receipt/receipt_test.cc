// Receipt lines: templates, locales, omitted lines, reasons, width.
#include <gtest/gtest.h>

#include "domain/time.h"
#include "receipt/receipt.h"

namespace loyalty::receipt {
namespace {

using domain::Points;

size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

ReceiptFacts sale_facts() {
  ReceiptFacts f;
  f.customer = "card:4000123";
  f.currency = "MXN";
  f.earned = Points(45);
  f.balance = Points(145);
  f.available = Points(145);
  f.balance_value = domain::Money::from_micros(14'500'000);
  f.expiring = domain::ExpiringPoints{Points(45), *domain::parse_rfc3339("2027-11-22T10:15:00-06:00")};
  return f;
}

TEST(Receipt, SpanishDefault) {
  auto lines = render(ReceiptConfig{}, sale_facts());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "Cliente: card:4000123");
  EXPECT_EQ(lines[1], "Puntos ganados: 45");
  EXPECT_EQ(lines[2], "Saldo: 145 pts (14.50 MXN)");
  EXPECT_EQ(lines[3], "Vencen 45 pts el 2027-11-22");
}

TEST(Receipt, EnglishAndRedeemed) {
  ReceiptConfig c;
  c.locale = "en";
  auto f = sale_facts();
  f.redeemed = Points(400);
  auto lines = render(c, f);
  EXPECT_EQ(lines[1], "Points earned: 45");
  EXPECT_EQ(lines[2], "Points redeemed: 400");
}

TEST(Receipt, ZeroLinesAreLeftOutAndAnonymousPrintsNothing) {
  auto f = sale_facts();
  f.expiring.reset();
  for (const auto& l : render(ReceiptConfig{}, f)) {
    EXPECT_EQ(l.find("canjeados"), std::string::npos);
    EXPECT_EQ(l.find("Vencen"), std::string::npos);
  }
  f.customer.clear();
  EXPECT_TRUE(render(ReceiptConfig{}, f).empty());
}

TEST(Receipt, ReasonsForEarningNothing) {
  auto f = sale_facts();
  f.earned = Points(0);
  f.notes = {{domain::ZeroEarnReason::kExcludedMethod, "credit_card"},
             {domain::ZeroEarnReason::kExcludedProduct, "GIFT-100"},
             {domain::ZeroEarnReason::kNoCustomer, ""}};
  auto lines = render(ReceiptConfig{}, f);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_NE(all.find("forma de pago excluida"), std::string::npos) << all;
  EXPECT_NE(all.find("credit_card"), std::string::npos);
  EXPECT_NE(all.find("producto excluido (GIFT-100)"), std::string::npos);
  ReceiptConfig en;
  en.locale = "en";
  f.notes = {{domain::ZeroEarnReason::kPaidWithPoints, ""}};
  EXPECT_EQ(render(en, f).back(), "No points: sale paid with points");
  en.show_reasons = false;
  EXPECT_NE(render(en, f).back(), "No points: sale paid with points");
}

TEST(Receipt, NeverWiderThanTheWidthEvenWithAccents) {
  for (int width : {16, 20, 42}) {
    ReceiptConfig c;
    c.width = width;
    c.sale_template = {"Cliente distinguidísimo de la cafetería: {customer}",
                       "Muchísimas gracias por su preferencia, acumuló {earned} puntos",
                       "SUPERCALIFRAGILÍSTICOESPIALIDOSOSUPERCALIFRAGILÍSTICO {balance}"};
    auto f = sale_facts();
    f.notes = {{domain::ZeroEarnReason::kExcludedMethod, "tarjeta_de_credito_corporativa"}};
    for (const auto& l : render(c, f)) {
      EXPECT_LE(columns(l), static_cast<size_t>(width)) << l;
      EXPECT_FALSE(l.empty());
    }
  }
}

TEST(Receipt, CustomTemplatesAndEscapes) {
  ReceiptConfig c;
  c.sale_template = {"{{club}} {earned}/{balance} {currency} {available} {balance_value}"};
  EXPECT_EQ(render(c, sale_facts())[0], "{club} 45/145 MXN 145 14.50");
  ReceiptFacts refund = sale_facts();
  refund.kind = ReceiptFacts::Kind::kRefund;
  refund.clawed_back = Points(22);
  auto lines = render(ReceiptConfig{}, refund);
  EXPECT_EQ(lines[1], "Puntos descontados: 22");
}

TEST(Receipt, ValidationNamesTheKey) {
  ReceiptConfig c;
  c.refund_template = {"ok {earned}", "bad {points}"};
  auto s = validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().field, "receipt.refund_template[1]");
  c.refund_template = {"open {earned"};
  EXPECT_FALSE(validate(c).ok());
  c.refund_template = {};
  c.locale = "fr";
  EXPECT_EQ(validate(c).error().field, "receipt.locale");
  c.locale = "en";
  c.width = 300;
  EXPECT_EQ(validate(c).error().field, "receipt.width");
}

}  // namespace
}  // namespace loyalty::receipt
