// Fixed-point decimals (money, percents, quantities) and whole points.
#include "domain/fixed.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <type_traits>

#include "domain_test_support.h"

namespace loyalty::domain {
namespace {

using testing::money;

// ---- parse_micros -------------------------------------------------------------------------

struct ParseCase {
  const char* text;
  int64_t micros;
};

TEST(FixedParse, AcceptsPlainDecimals) {
  const ParseCase cases[] = {
      {"0", 0},
      {"-0", 0},
      {"7", 7'000'000},
      {"90.00", 90'000'000},
      {"0.350", 350'000},
      {"-1.5", -1'500'000},
      {"0.000001", 1},
      {"-0.000001", -1},
      {"1.234567", 1'234'567},
      {"12.0", 12'000'000},
      {"999999999999", 999'999'999'999'000'000},
      {"999999999999.999999", 999'999'999'999'999'999},
      {"-999999999999.999999", -999'999'999'999'999'999},
  };
  for (const auto& c : cases) {
    auto r = parse_micros(c.text);
    ASSERT_TRUE(r.ok()) << "'" << c.text << "': " << r.error().message;
    EXPECT_EQ(*r, c.micros) << "'" << c.text << "'";
  }
}

TEST(FixedParse, RefusesWhatIsNotAPlainDecimal) {
  const char* bad[] = {
      "",          "1e3",  "1E3",   "+1",    " 1",  "1 ",  "1,000", "1,5",
      "1.2345678",  // seven decimals
      "0.0000001", "abc",  "1.",    ".5",    "-.5", "-",   "--1",   "1-",
      "1.2.3",     "0x10", "1_000", "1.5\n", "\t1", "inf", "nan",   "١",
  };
  for (const char* text : bad) {
    auto r = parse_micros(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' parsed as " << *r;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidEvent) << "'" << text << "'";
    EXPECT_FALSE(r.error().message.empty()) << "'" << text << "'";
  }
}

TEST(FixedParse, RefusesMagnitudesOfTenToTheTwelveOrMore) {
  for (const char* text : {"1000000000000", "-1000000000000", "1000000000000.0",
                           "999999999999999999999999999999", "12345678901234567890.5"}) {
    auto r = parse_micros(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' parsed as " << *r;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidEvent);
  }
  EXPECT_TRUE(parse_micros("999999999999.999999").ok());
}

TEST(FixedParse, TypedParseKeepsTheMicros) {
  auto m = Money::parse("90.00");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->micros(), 90'000'000);
  auto q = Quantity::parse("0.350");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->micros(), 350'000);
  auto bad = Percent::parse("5%");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidEvent);
}

// Every representable value survives format (6 places) -> parse, and the trimmed form too.
TEST(FixedParse, RoundTripsThroughFormatting) {
  const uint32_t seed = 0x5eed0001;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> any(-999'999'999'999'999'999, 999'999'999'999'999'999);
  std::uniform_int_distribution<int64_t> small(-100'000'000, 100'000'000);
  for (int i = 0; i < 20'000; ++i) {
    const int64_t x = i % 2 == 0 ? any(rng) : small(rng);
    const std::string full = format_micros(x, 6);
    auto back = parse_micros(full);
    ASSERT_TRUE(back.ok()) << "seed " << seed << " i " << i << " text " << full;
    ASSERT_EQ(*back, x) << "seed " << seed << " i " << i << " text " << full;
    const std::string trimmed = format_micros_trimmed(x, 0);
    auto back2 = parse_micros(trimmed);
    ASSERT_TRUE(back2.ok()) << "seed " << seed << " i " << i << " text " << trimmed;
    ASSERT_EQ(*back2, x) << "seed " << seed << " i " << i << " text " << trimmed;
  }
}

// ---- formatting ---------------------------------------------------------------------------

TEST(FixedFormat, StrGivesExactlyTheDecimalsAsked) {
  EXPECT_EQ(money("4.5").str(2), "4.50");
  EXPECT_EQ(money("90").str(2), "90.00");
  EXPECT_EQ(money("0").str(2), "0.00");
  EXPECT_EQ(money("-1.7").str(2), "-1.70");
  EXPECT_EQ(money("0.05").str(2), "0.05");
  EXPECT_EQ(money("12.9").str(0), "12");
  EXPECT_EQ(money("0.000001").str(6), "0.000001");
  EXPECT_EQ(money("999999999999.999999").str(6), "999999999999.999999");
  EXPECT_EQ(money("-999999999999.999999").str(2), "-999999999999.99");
}

TEST(FixedFormat, StrTruncatesTowardZeroAndNeverPrintsMinusZero) {
  EXPECT_EQ(money("1.999").str(2), "1.99");
  EXPECT_EQ(money("-1.999").str(2), "-1.99");
  EXPECT_EQ(money("-0.001").str(2), "0.00");
  EXPECT_EQ(money("-0.4").str(0), "0");
}

TEST(FixedFormat, StrClampsTheNumberOfDecimals) {
  EXPECT_EQ(money("1.5").str(9), "1.500000");
  EXPECT_EQ(money("1.5").str(-1), "1");
}

TEST(FixedFormat, FormatMicrosHandlesTheExtremes) {
  EXPECT_EQ(format_micros(INT64_MAX, 6), "9223372036854.775807");
  EXPECT_EQ(format_micros(INT64_MIN, 6), "-9223372036854.775808");
}

TEST(FixedFormat, StrTrimmedUsesAsManyPlacesAsNeeded) {
  EXPECT_EQ(money("2.5").str_trimmed(), "2.5");
  EXPECT_EQ(money("2.5").str_trimmed(0), "2.5");
  EXPECT_EQ(money("90").str_trimmed(2), "90.00");
  EXPECT_EQ(money("90").str_trimmed(0), "90");
  EXPECT_EQ(money("0.350").str_trimmed(0), "0.35");
  EXPECT_EQ(money("0.000001").str_trimmed(0), "0.000001");
  EXPECT_EQ(money("-1.50").str_trimmed(0), "-1.5");
  EXPECT_EQ(money("0").str_trimmed(0), "0");
  EXPECT_EQ(money("0").str_trimmed(2), "0.00");
  EXPECT_EQ(money("1.230").str_trimmed(1), "1.23");
  EXPECT_EQ(money("1.2").str_trimmed(3), "1.200");
  EXPECT_EQ(money("10").str_trimmed(0), "10");  // trailing zeros of the integer part stay
  EXPECT_EQ(money("100.10").str_trimmed(0), "100.1");
}

// ---- Fixed<Tag> arithmetic ----------------------------------------------------------------

TEST(FixedArithmetic, AddsSubtractsAndCompares) {
  Money a = money("10.25");
  const Money b = money("0.75");
  EXPECT_EQ(a + b, money("11"));
  EXPECT_EQ(a - b, money("9.5"));
  EXPECT_EQ(b - a, money("-9.5"));
  a += b;
  EXPECT_EQ(a, money("11"));
  a -= money("11.000001");
  EXPECT_EQ(a.micros(), -1);
  EXPECT_TRUE(a.is_negative());
  EXPECT_FALSE(a.is_zero());
  EXPECT_TRUE(Money{}.is_zero());
  EXPECT_FALSE(Money{}.is_negative());
  EXPECT_LT(money("0.01"), money("0.1"));
  EXPECT_GT(money("-0.01"), money("-0.1"));
  EXPECT_EQ(Money::from_units(90), money("90.00"));
  EXPECT_EQ(Quantity::from_micros(350'000), testing::qty("0.350"));
}

// Money, Percent and Quantity are distinct types; raw integers need a named factory.
static_assert(!std::is_convertible_v<Money, Percent>);
static_assert(!std::is_convertible_v<Percent, Money>);
static_assert(!std::is_convertible_v<Quantity, Money>);
static_assert(!std::is_constructible_v<Money, int64_t>);
static_assert(!std::is_convertible_v<int64_t, Points>);
static_assert(Money::from_units(3).micros() == 3'000'000);
static_assert((Money::from_micros(5) + Money::from_micros(7)).micros() == 12);

// ---- Points -------------------------------------------------------------------------------

TEST(FixedPoints, ArithmeticIsSignedAndExact) {
  Points p{45};
  EXPECT_EQ(p + Points(5), Points(50));
  EXPECT_EQ(p - Points(50), Points(-5));
  EXPECT_EQ(-p, Points(-45));
  EXPECT_EQ(Points{}.value(), 0);
  p += Points(10);
  EXPECT_EQ(p.value(), 55);
  p -= Points(60);
  EXPECT_EQ(p.value(), -5);
  EXPECT_LT(Points(-1), Points(0));
  EXPECT_GT(Points(401), Points(400));
  EXPECT_EQ(min(Points(3), Points(-2)), Points(-2));
  EXPECT_EQ(max(Points(3), Points(-2)), Points(3));
  EXPECT_EQ(min(Points(7), Points(7)), Points(7));
}

static_assert((Points(2) - Points(5)).value() == -3);
static_assert(max(Points(0), min(Points(10), Points(-4))).value() == 0);

}  // namespace
}  // namespace loyalty::domain
