// Receipt lines (contract section 5): tokens, locales, omitted lines, reasons, width,
// validation.
#include "receipt/receipt.h"

#include <gtest/gtest.h>

#include <locale.h>
#include <wchar.h>

#include <algorithm>
#include <cwchar>
#include <random>
#include <string>
#include <vector>

#include "domain/time.h"

namespace loyalty::receipt {
namespace {

using domain::Points;
using domain::ZeroEarnReason;
using Lines = std::vector<std::string>;

// Code points of a string; -1 when it is not well-formed UTF-8 (a split sequence).
int code_points(const std::string& s) {
  int n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80           ? 1
                       : (b >> 5) == 0x6  ? 2
                       : (b >> 4) == 0xE  ? 3
                       : (b >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return -1;
    }
    i += len;
    ++n;
  }
  return n;
}

// Printer columns by glibc's wcwidth in C.UTF-8, an oracle independent of receipt.cc's
// table: combining marks 0, CJK and emoji 2. -1 when not UTF-8.
int display_columns(const std::string& s) {
  locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (utf8 == static_cast<locale_t>(nullptr)) return -1;
  const locale_t old = uselocale(utf8);
  int cols = 0;
  std::mbstate_t state{};
  for (size_t i = 0; i < s.size();) {
    wchar_t wc = 0;
    const size_t n = std::mbrtowc(&wc, s.data() + i, s.size() - i, &state);
    if (n == 0 || n > s.size()) {
      cols = -1;
      break;
    }
    cols += std::max(0, ::wcwidth(wc));
    i += n;
  }
  uselocale(old);
  freelocale(utf8);
  return cols;
}

// Everything printed, spaces left out: wrapping must not lose or reorder a character.
std::string without_spaces(const Lines& lines) {
  std::string all;
  for (const auto& l : lines) {
    for (char ch : l) {
      if (ch != ' ') all += ch;
    }
  }
  return all;
}

ReceiptFacts sale_facts() {
  ReceiptFacts f;
  f.customer = "card:4000123";
  f.currency = "MXN";
  f.earned = Points(45);
  f.balance = Points(145);
  f.available = Points(105);
  f.balance_value = domain::Money::from_micros(14'500'000);
  f.expiring =
      domain::ExpiringPoints{Points(45), *domain::parse_rfc3339("2027-11-22T10:15:00-06:00")};
  return f;
}

ReceiptFacts refund_facts() {
  ReceiptFacts f = sale_facts();
  f.kind = ReceiptFacts::Kind::kRefund;
  f.earned = Points(0);
  f.clawed_back = Points(22);
  f.restored = Points(400);
  f.balance = Points(523);
  f.balance_value = domain::Money::from_micros(52'300'000);
  return f;
}

ReceiptConfig english() {
  ReceiptConfig c;
  c.locale = "en";
  return c;
}

ReceiptConfig with_sale_template(Lines lines) {
  ReceiptConfig c;
  c.sale_template = std::move(lines);
  return c;
}

// ---- tokens -------------------------------------------------------------------------------

TEST(ReceiptTokens, EachTokenPrintsItsValue) {
  auto f = sale_facts();
  f.redeemed = Points(400);
  f.clawed_back = Points(7);
  f.restored = Points(9);
  const struct {
    const char* line;
    const char* expected;
  } cases[] = {
      {"{customer}", "card:4000123"},
      {"{earned}", "45"},
      {"{redeemed}", "400"},
      {"{clawed_back}", "7"},
      {"{restored}", "9"},
      {"{balance}", "145"},
      {"{available}", "105"},
      {"{balance_value}", "14.50 MXN"},
      {"{currency}", "MXN"},
      {"{expiring}", "45"},
      {"{expiring_date}", "2027-11-22"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(render(with_sale_template({c.line}), f), Lines{c.expected}) << c.line;
  }
}

TEST(ReceiptTokens, ExpiringDateIsTheDateInTheSaleOffset) {
  auto f = sale_facts();
  // 23:30 in Mexico City is already the next day in UTC: the receipt shows the local date.
  f.expiring->expires_at = *domain::parse_rfc3339("2027-11-22T23:30:00-06:00");
  EXPECT_EQ(render(with_sale_template({"{expiring_date}"}), f), Lines{"2027-11-22"});
}

TEST(ReceiptTokens, BalanceValueHasTwoDecimalsAndTheCurrencyCode) {
  auto f = sale_facts();
  f.balance_value = domain::Money::from_micros(4'500'000);
  EXPECT_EQ(render(with_sale_template({"{balance_value}"}), f), Lines{"4.50 MXN"});
  f.balance_value = domain::Money::from_micros(-1'250'000);  // clawbacks may go negative
  f.balance = Points(-12);
  EXPECT_EQ(render(with_sale_template({"{balance} {balance_value}"}), f), Lines{"-12 -1.25 MXN"});
  f.currency.clear();
  EXPECT_EQ(render(with_sale_template({"{balance_value}"}), f), Lines{"-1.25"});
}

TEST(ReceiptTokens, BracesAreEscapedByDoubling) {
  EXPECT_EQ(render(with_sale_template({"{{club}} {earned} }}{{"}), sale_facts()),
            Lines{"{club} 45 }{"});
  EXPECT_EQ(render(with_sale_template({"{{{earned}}}"}), sale_facts()), Lines{"{45}"});
}

TEST(ReceiptTokens, ControlCharactersInValuesPrintAsQuestionMarks) {
  auto f = sale_facts();
  f.customer = "card:40\n00\t123\x7f";
  EXPECT_EQ(render(with_sale_template({"{customer}"}), f), Lines{"card:40?00?123?"});
  f.customer = "card:\xff\xfe";  // not UTF-8
  EXPECT_EQ(render(with_sale_template({"{customer}"}), f), Lines{"card:??"});
  f.customer = "Ñandú José";
  EXPECT_EQ(render(with_sale_template({"{customer}"}), f), Lines{"Ñandú José"});
}

// ---- default templates ------------------------------------------------------------------

TEST(ReceiptDefaults, SpanishSale) {
  EXPECT_EQ(render(ReceiptConfig{}, sale_facts()),
            (Lines{"Cliente: card:4000123", "Puntos ganados: 45", "Saldo: 145 pts (14.50 MXN)",
                   "Vencen 45 pts el 2027-11-22"}));
}

TEST(ReceiptDefaults, EnglishSale) {
  auto f = sale_facts();
  f.redeemed = Points(400);
  EXPECT_EQ(render(english(), f),
            (Lines{"Customer: card:4000123", "Points earned: 45", "Points redeemed: 400",
                   "Balance: 145 pts (14.50 MXN)", "45 pts expire on 2027-11-22"}));
}

TEST(ReceiptDefaults, SpanishRefund) {
  EXPECT_EQ(render(ReceiptConfig{}, refund_facts()),
            (Lines{"Cliente: card:4000123", "Puntos descontados: 22", "Puntos devueltos: 400",
                   "Saldo: 523 pts (52.30 MXN)"}));
}

TEST(ReceiptDefaults, EnglishRefund) {
  auto f = refund_facts();
  f.restored = Points(0);
  EXPECT_EQ(render(english(), f), (Lines{"Customer: card:4000123", "Points taken back: 22",
                                         "Balance: 523 pts (52.30 MXN)"}));
}

TEST(ReceiptDefaults, DefaultTemplatesAreExposedAndValid) {
  for (const char* locale : {"es", "en"}) {
    ReceiptConfig c;
    c.locale = locale;
    c.sale_template = default_sale_template(locale);
    c.refund_template = default_refund_template(locale);
    EXPECT_TRUE(validate(c).ok()) << locale;
    ReceiptConfig defaults;
    defaults.locale = locale;
    EXPECT_EQ(render(c, sale_facts()), render(defaults, sale_facts()));
  }
  EXPECT_EQ(default_sale_template("es")[0], "Cliente: {customer}");
  EXPECT_EQ(default_sale_template("en")[0], "Customer: {customer}");
}

TEST(ReceiptDefaults, CustomRefundTemplateLeavesTheSaleDefault) {
  ReceiptConfig c;
  c.refund_template = {"Devolución: -{clawed_back} pts"};
  EXPECT_EQ(render(c, refund_facts()), Lines{"Devolución: -22 pts"});
  EXPECT_EQ(render(c, sale_facts()).front(), "Cliente: card:4000123");
}

// ---- omitted lines ----------------------------------------------------------------------

TEST(ReceiptOmits, AnonymousPrintsNothingAtAll) {
  auto f = sale_facts();
  f.customer.clear();
  f.notes = {{ZeroEarnReason::kNoCustomer, ""}, {ZeroEarnReason::kExcludedMethod, "cash"}};
  EXPECT_TRUE(render(ReceiptConfig{}, f).empty());
  EXPECT_TRUE(render(english(), f).empty());
  auto r = refund_facts();
  r.customer.clear();
  EXPECT_TRUE(render(ReceiptConfig{}, r).empty());
}

TEST(ReceiptOmits, ZeroRedeemedClawedBackOrRestoredLeavesTheLineOut) {
  const ReceiptConfig c = with_sale_template(
      {"A {earned}", "B {redeemed}", "C {clawed_back}", "D {restored}", "E {balance}"});
  auto f = sale_facts();
  f.earned = Points(0);
  f.balance = Points(0);
  EXPECT_EQ(render(c, f), (Lines{"A 0", "E 0"}));
  f.redeemed = Points(1);
  f.restored = Points(-3);
  EXPECT_EQ(render(c, f), (Lines{"A 0", "B 1", "D -3", "E 0"}));
  // One zero token drops the whole line, even next to non-zero ones.
  EXPECT_EQ(render(with_sale_template({"{redeemed}/{clawed_back}"}), f), Lines{});
}

TEST(ReceiptOmits, ExpiringLinesWhenNothingExpires) {
  const ReceiptConfig c = with_sale_template({"x {expiring}", "y {expiring_date}", "z {earned}"});
  auto f = sale_facts();
  EXPECT_EQ(render(c, f), (Lines{"x 45", "y 2027-11-22", "z 45"}));
  f.expiring.reset();
  EXPECT_EQ(render(c, f), Lines{"z 45"});
  f.expiring = domain::ExpiringPoints{Points(0), *domain::parse_rfc3339("2027-11-22T10:15:00Z")};
  EXPECT_EQ(render(c, f), Lines{"z 45"});
  EXPECT_EQ(render(ReceiptConfig{}, f).size(), 3u);  // Cliente, ganados, Saldo
}

TEST(ReceiptOmits, BlankTemplateLinesPrintNothing) {
  EXPECT_EQ(render(with_sale_template({"", "   ", "{earned}"}), sale_facts()), Lines{"45"});
  EXPECT_TRUE(render(with_sale_template({""}), sale_facts()).empty());
}

// ---- reasons ------------------------------------------------------------------------------

const std::vector<domain::ZeroEarnNote> kAllNotes = {
    {ZeroEarnReason::kNoCustomer, ""},
    {ZeroEarnReason::kExcludedMethod, "credit_card"},
    {ZeroEarnReason::kExcludedProduct, "GIFT-100"},
    {ZeroEarnReason::kPaidWithPoints, ""},
    {ZeroEarnReason::kRoundedToZero, ""},
};

TEST(ReceiptReasons, SpanishOneLinePerNote) {
  auto f = sale_facts();
  f.earned = Points(0);
  f.notes = kAllNotes;
  ReceiptConfig c = with_sale_template({"{earned}"});
  c.width = 60;
  EXPECT_EQ(render(c, f), (Lines{"0", "Sin puntos: forma de pago excluida (credit_card)",
                                 "Sin puntos: producto excluido (GIFT-100)",
                                 "Sin puntos: venta pagada con puntos",
                                 "Sin puntos: el monto no alcanza un punto"}));
}

TEST(ReceiptReasons, EnglishOneLinePerNote) {
  auto f = sale_facts();
  f.earned = Points(0);
  f.notes = kAllNotes;
  ReceiptConfig c = english();
  c.sale_template = {"{earned}"};
  c.width = 60;
  EXPECT_EQ(render(c, f),
            (Lines{"0", "No points: excluded payment method (credit_card)",
                   "No points: excluded product (GIFT-100)", "No points: sale paid with points",
                   "No points: amount below one point"}));
}

// The rest of the sale earned: a payment note speaks of its part ("No points: excluded
// payment method" under "Points earned: 22" contradicted it).
TEST(ReceiptReasons, APaymentNoteOfASaleThatEarnedSpeaksOfItsPart) {
  auto f = sale_facts();  // earned 45
  f.notes = {{ZeroEarnReason::kExcludedMethod, "credit_card"}, {ZeroEarnReason::kExcludedProduct, "GIFT-100"},
             {ZeroEarnReason::kPaidWithPoints, ""}};
  ReceiptConfig c = english();
  c.sale_template = {"{earned}"};
  c.width = 60;
  EXPECT_EQ(render(c, f), (Lines{"45", "No points on the excluded payment (credit_card)",
                                 "No points: excluded product (GIFT-100)",
                                 "No points on the part paid with points"}));
  c = with_sale_template({"{earned}"});
  c.width = 60;
  EXPECT_EQ(render(c, f), (Lines{"45", "Sin puntos por el pago excluido (credit_card)",
                                 "Sin puntos: producto excluido (GIFT-100)",
                                 "Sin puntos por lo pagado con puntos"}));
}

TEST(ReceiptReasons, NoCustomerNeverPrintsAndShowReasonsOffPrintsNone) {
  auto f = sale_facts();
  f.notes = {{ZeroEarnReason::kNoCustomer, ""}};
  EXPECT_EQ(render(ReceiptConfig{}, f), render(ReceiptConfig{}, sale_facts()));
  f.notes = kAllNotes;
  ReceiptConfig c;
  c.show_reasons = false;
  EXPECT_EQ(render(c, f), render(ReceiptConfig{}, sale_facts()));
}

TEST(ReceiptReasons, ReasonsWrapAtTheDefaultWidth) {
  auto f = sale_facts();
  f.earned = Points(0);
  f.notes = {{ZeroEarnReason::kExcludedMethod, "credit_card"}};
  auto lines = render(ReceiptConfig{}, f);  // width 42; the reason is 48 code points
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[lines.size() - 2], "Sin puntos: forma de pago excluida");
  EXPECT_EQ(lines.back(), "(credit_card)");
}

// ---- width ----------------------------------------------------------------------------------

TEST(ReceiptWidth, WrapsAtSpacesCountingCodePointsNotBytes) {
  ReceiptConfig c = with_sale_template({"Muchísimas gracias, acumuló {earned} puntos"});
  c.width = 16;
  EXPECT_EQ(render(c, sale_facts()), (Lines{"Muchísimas", "gracias, acumuló", "45 puntos"}));
  c.width = 20;
  EXPECT_EQ(render(c, sale_facts()), (Lines{"Muchísimas gracias,", "acumuló 45 puntos"}));
  c.width = 42;
  EXPECT_EQ(render(c, sale_facts()), Lines{"Muchísimas gracias, acumuló 45 puntos"});
}

TEST(ReceiptWidth, AnExactFitIsNotWrapped) {
  ReceiptConfig c = with_sale_template({"ñññññññññññññññ!"});  // 16 code points, 31 bytes
  c.width = 16;
  EXPECT_EQ(render(c, sale_facts()), Lines{"ñññññññññññññññ!"});
}

TEST(ReceiptWidth, LongWordsAreSplitBetweenCodePoints) {
  ReceiptConfig c = with_sale_template({"Hola SUPERCALIFRAGILÍSTICOESPIALIDOSO fin"});
  c.width = 16;
  EXPECT_EQ(render(c, sale_facts()),
            (Lines{"Hola", "SUPERCALIFRAGILÍ", "STICOESPIALIDOSO", "fin"}));
  auto f = sale_facts();
  f.customer = "phone:+52-55-1234-5678-ext-9999";
  c.sale_template = {"{customer}"};
  EXPECT_EQ(render(c, f), (Lines{"phone:+52-55-123", "4-5678-ext-9999"}));
}

// "é" typed as e + U+0301 (macOS, some keyboards) stays one character: a line never starts
// with the accent alone. Chinese names take two columns a character, as the printer prints
// them: 20 code points of them were 35 columns on a 20-column receipt.
TEST(ReceiptWidth, CombiningAccentsStayWithTheirLetterAndWideCharactersCountTwo) {
  ReceiptConfig c = with_sale_template({"{customer}"});
  auto f = sale_facts();
  std::string decomposed = "card:";
  for (int i = 0; i < 50; ++i) decomposed += "e\u0301";
  std::string chinese = "card:";
  for (int i = 0; i < 30; ++i) chinese += "\u6F22\u5B57";
  for (const std::string& customer : {decomposed, chinese}) {
    f.customer = customer;
    for (int width : {16, 20, 42}) {
      c.width = width;
      const Lines lines = render(c, f);
      ASSERT_GE(lines.size(), 2u);
      std::string joined;
      for (const auto& l : lines) {
        EXPECT_LE(display_columns(l), width) << "\"" << l << "\"";
        EXPECT_NE(l.rfind("\u0301", 0), 0u) << "a line starts with a lone accent: \"" << l << "\"";
        joined += l;
      }
      EXPECT_EQ(joined, customer);
      EXPECT_GE(display_columns(lines.front()), width - 1);  // lines are filled, not halved
    }
  }
}

TEST(ReceiptWidth, NoLineIsWiderThanTheWidthAndNoSequenceIsSplit) {
  ReceiptConfig c;
  c.sale_template = {"Cliente distinguidísimo de la cafetería: {customer}",
                     "Muchísimas gracias por su preferencia, acumuló {earned} puntos",
                     "ÁÉÍÓÚÑÜáéíóúñüÁÉÍÓÚÑÜáéíóúñüÁÉÍÓÚÑÜáéíóúñüÁÉÍÓÚÑÜáéíóúñü {balance}",
                     "   sangría   con   espacios   {balance_value}   ",
                     "€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€ 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"};
  auto f = sale_facts();
  f.notes = {{ZeroEarnReason::kExcludedMethod, "tarjeta_de_crédito_corporativa_internacional"}};
  for (int width : {16, 20, 42}) {
    c.width = width;
    const Lines lines = render(c, f);
    ASSERT_FALSE(lines.empty());
    for (const auto& l : lines) {
      ASSERT_GE(code_points(l), 1) << "width " << width << ": \"" << l << "\"";  // not split
      const int cols = display_columns(l);  // the emoji take two columns each
      EXPECT_GE(cols, 1) << "width " << width << ": \"" << l << "\"";
      EXPECT_LE(cols, width) << "width " << width << ": \"" << l << "\"";
      EXPECT_NE(l.back(), ' ') << l;
    }
    ReceiptConfig one = c;
    one.sale_template = {c.sale_template.back()};
    EXPECT_EQ(without_spaces(render(one, f)),
              without_spaces({c.sale_template.back()}) +
                  "Sinpuntosporelpagoexcluido(tarjeta_de_crédito_corporativa_internacional)");
  }
}

TEST(ReceiptWidth, RandomTextStaysWithinTheWidthAndLosesNothing) {
  const std::vector<std::string> pieces = {"a", "Z", "7", "ñ", "é", "€", "😀", " ", " ", "  ", "-"};
  std::mt19937 rng(20261122);  // fixed: the test is deterministic
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int n = static_cast<int>(rng() % 120);
    for (int k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    ReceiptConfig c = with_sale_template({text});
    c.width = 16 + static_cast<int>(rng() % 30);
    const Lines lines = render(c, sale_facts());
    for (const auto& l : lines) {
      const int cols = code_points(l);
      ASSERT_GE(cols, 1) << text;
      ASSERT_LE(cols, c.width) << text;
      ASSERT_NE(l.back(), ' ') << text;
    }
    ASSERT_EQ(without_spaces(lines), without_spaces({text})) << text;
  }
}

TEST(ReceiptWidth, SpacesInsideALineAreKeptAndDroppedAtBreaks) {
  ReceiptConfig c =
      with_sale_template({"  Saldo:   {balance}", "Puntos      ganados:      {earned}"});
  c.width = 20;
  EXPECT_EQ(render(c, sale_facts()), (Lines{"  Saldo:   145", "Puntos      ganados:", "45"}));
}

TEST(ReceiptWidth, OutOfRangeWidthIsClampedWhenRendering) {
  ReceiptConfig c = with_sale_template({"abcdefghijklmnopqrstuvwxyz"});
  c.width = 3;
  EXPECT_EQ(render(c, sale_facts()), (Lines{"abcdefghijklmnop", "qrstuvwxyz"}));
}

// ---- validation ---------------------------------------------------------------------------

TEST(ReceiptValidate, DefaultsAreValid) {
  EXPECT_TRUE(validate(ReceiptConfig{}).ok());
  EXPECT_TRUE(validate(english()).ok());
}

TEST(ReceiptValidate, UnknownTokenNamesTheLine) {
  ReceiptConfig c;
  c.sale_template = {"ok {earned}", "also ok {{points}}", "bad {points}"};
  auto s = validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, domain::ErrorCode::kInvalidConfig);
  EXPECT_EQ(s.error().field, "receipt.sale_template[2]");
  EXPECT_NE(s.error().message.find("{points}"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("{earned}"), std::string::npos) << "lists the known tokens";
  c.sale_template.clear();
  c.refund_template = {"{clawed_back}", "{Balance}"};
  EXPECT_EQ(validate(c).error().field, "receipt.refund_template[1]");
}

TEST(ReceiptValidate, BracesMustBeBalancedOrEscaped) {
  for (const char* bad : {"open {earned", "close }", "{}", "{ earned }", "{a{earned}"}) {
    ReceiptConfig c = with_sale_template({bad});
    auto s = validate(c);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().field, "receipt.sale_template[0]") << bad;
  }
  EXPECT_TRUE(validate(with_sale_template({"{{", "}}", "{{}}", "{{{earned}}}"})).ok());
}

TEST(ReceiptValidate, ControlCharactersAndBadUtf8AreRefused) {
  for (const char* bad : {"a\nb", "tab\there", "bell\x07", "\xc3", "\xc3\x28", "\xed\xa0\x80"}) {
    auto s = validate(with_sale_template({"fine", bad}));
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().field, "receipt.sale_template[1]");
  }
  EXPECT_TRUE(validate(with_sale_template({"Año ñandú 😀 €"})).ok());
}

TEST(ReceiptValidate, LocaleAndWidth) {
  ReceiptConfig c;
  c.locale = "fr";
  EXPECT_EQ(validate(c).error().field, "receipt.locale");
  c.locale = "";
  EXPECT_EQ(validate(c).error().field, "receipt.locale");
  c.locale = "en";
  for (int bad : {-1, 0, 15, 201, 1000}) {
    c.width = bad;
    EXPECT_EQ(validate(c).error().field, "receipt.width") << bad;
  }
  for (int good : {16, 42, 200}) {
    c.width = good;
    EXPECT_TRUE(validate(c).ok()) << good;
  }
}

TEST(ReceiptValidate, InvalidLinesAreSkippedWhenRenderingAnyway) {
  ReceiptConfig c = with_sale_template({"bad {points}", "{earned}"});
  c.locale = "xx";  // falls back to Spanish
  auto f = sale_facts();
  f.earned = Points(0);
  f.notes = {{ZeroEarnReason::kPaidWithPoints, ""}};
  EXPECT_EQ(render(c, f), (Lines{"0", "Sin puntos: venta pagada con puntos"}));
}

}  // namespace
}  // namespace loyalty::receipt
