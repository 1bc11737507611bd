// Business time: RFC 3339 with offsets, formatting in the time's own offset, day arithmetic.
#include "domain/time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "domain_test_support.h"

namespace loyalty::domain {
namespace {

using testing::at;

constexpr int64_t kContractInstantMs = 1'795'364'100'000;  // 2026-11-22T16:15:00Z

// ---- parsing ------------------------------------------------------------------------------

TEST(TimeParse, OffsetsAndZNameTheSameInstant) {
  struct Case {
    const char* text;
    int32_t offset_minutes;
  };
  for (const Case& c :
       {Case{"2026-11-22T10:15:00-06:00", -360}, Case{"2026-11-22T16:15:00Z", 0},
        Case{"2026-11-22T16:15:00+00:00", 0}, Case{"2026-11-22T21:45:00+05:30", 330},
        Case{"2026-11-22T12:45:00-03:30", -210}, Case{"2026-11-23T05:15:00+13:00", 780}}) {
    auto t = parse_rfc3339(c.text);
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.error().message;
    EXPECT_EQ(t->unix_ms, kContractInstantMs) << c.text;
    EXPECT_EQ(t->offset_minutes, c.offset_minutes) << c.text;
  }
}

TEST(TimeParse, KnownInstants) {
  EXPECT_EQ(at("1970-01-01T00:00:00Z").unix_ms, 0);
  EXPECT_EQ(at("1969-12-31T23:59:59Z").unix_ms, -1000);
  EXPECT_EQ(at("1969-12-31T18:00:00-06:00").unix_ms, 0);
  EXPECT_EQ(at("2024-02-29T12:00:00Z").unix_ms, 1'709'208'000'000);
  EXPECT_EQ(at("2000-03-01T00:00:00Z").unix_ms, 951'868'800'000);
}

TEST(TimeParse, AcceptsLowercaseAndSpaceSeparators) {
  EXPECT_EQ(at("2026-11-22t16:15:00z").unix_ms, kContractInstantMs);
  EXPECT_EQ(at("2026-11-22 10:15:00-06:00").unix_ms, kContractInstantMs);
}

TEST(TimeParse, FractionsOfASecondKeepMilliseconds) {
  EXPECT_EQ(at("2026-11-22T16:15:00.250Z").unix_ms, kContractInstantMs + 250);
  EXPECT_EQ(at("2026-11-22T16:15:00.5Z").unix_ms, kContractInstantMs + 500);
  EXPECT_EQ(at("2026-11-22T16:15:00.05Z").unix_ms, kContractInstantMs + 50);
  EXPECT_EQ(at("2026-11-22T10:15:00.999-06:00").unix_ms, kContractInstantMs + 999);
  // Beyond milliseconds the digits are accepted and truncated (never rounded up).
  EXPECT_EQ(at("2026-11-22T16:15:00.123456789Z").unix_ms, kContractInstantMs + 123);
  EXPECT_EQ(at("2026-11-22T16:15:00.9999Z").unix_ms, kContractInstantMs + 999);
}

TEST(TimeParse, LeapDaysFollowTheGregorianRules) {
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z").ok());
  EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z").ok());
  EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z").ok());
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z").ok());
  EXPECT_FALSE(parse_rfc3339("2100-02-29T00:00:00Z").ok());
}

TEST(TimeParse, ALeapSecondFoldsIntoTheSecondBefore) {
  EXPECT_EQ(at("2016-12-31T23:59:60Z").unix_ms, at("2016-12-31T23:59:59Z").unix_ms);
}

TEST(TimeParse, RefusesInvalidDatesTimesAndOffsets) {
  const char* bad[] = {
      "2026-02-30T10:00:00Z",       // Feb 30
      "2026-04-31T10:00:00Z",       // Apr 31
      "2026-13-01T10:00:00Z",       // month 13
      "2026-00-10T10:00:00Z",       // month 0
      "2026-11-00T10:00:00Z",       // day 0
      "2026-11-22T24:00:00Z",       // hour 24
      "2026-11-22T10:60:00Z",       // minute 60
      "2026-11-22T10:15:61Z",       // second 61
      "2026-11-22T10:15:00",        // missing offset
      "2026-11-22T10:15:00-0600",   // offset without ':'
      "2026-11-22T10:15:00-06",     // offset without minutes
      "2026-11-22T10:15:00+24:00",  // offset hour 24
      "2026-11-22T10:15:00+06:60",  // offset minute 60
      "2026-11-22T10:15:00Z ",      // trailing space
      "2026-11-22T10:15:00ZZ",      // trailing garbage
      "2026-11-22T10:15:00.Z",      // empty fraction
      "2026-11-22T10:15Z",          // no seconds
      "2026-11-22",                 // a date only
      "2026-1-22T10:15:00Z",        // one-digit month
      "2026/11/22T10:15:00Z",       // wrong separators
      "2026-11-22X10:15:00Z",       // wrong T
      "22/11/2026",
      "",
      "T",
  };
  for (const char* text : bad) {
    auto t = parse_rfc3339(text);
    ASSERT_FALSE(t.ok()) << "'" << text << "' parsed as " << t->unix_ms;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidEvent) << text;
    EXPECT_NE(t.error().message.find(text), std::string::npos) << t.error().message;
  }
}

// ---- formatting ---------------------------------------------------------------------------

TEST(TimeFormat, CanonicalTextsRoundTrip) {
  for (const char* text :
       {"2026-11-22T10:15:00-06:00", "2026-11-22T16:15:00Z", "2026-11-22T21:45:00.250+05:30",
        "2026-11-22T12:45:00.001-03:30", "1969-12-31T23:59:59.999Z", "2000-02-29T00:00:00+14:00",
        "2099-12-31T23:59:59-12:00"}) {
    auto t = parse_rfc3339(text);
    ASSERT_TRUE(t.ok()) << text;
    EXPECT_EQ(format_rfc3339(*t), text);
  }
}

// format_rfc3339 writes digits by hand; this is the printf formatting it replaced, on
// std::chrono's calendar, over random instants (years -99..11999) and offsets.
std::string printf_rfc3339(const BusinessTime& t) {
  using namespace std::chrono;
  const sys_time<milliseconds> local{milliseconds(t.unix_ms + int64_t{t.offset_minutes} * 60'000)};
  const auto day = floor<days>(local);
  const year_month_day ymd{day};
  const auto secs = duration_cast<seconds>(floor<seconds>(local) - day).count();
  const auto ms = (local - floor<seconds>(local)).count();
  char buf[96];
  int n =
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld", int{ymd.year()},
                    unsigned{ymd.month()}, unsigned{ymd.day()}, static_cast<long long>(secs / 3600),
                    static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (ms != 0) {
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(ms));
    out += buf;
  }
  if (t.offset_minutes == 0) return out + "Z";
  const int a = std::abs(t.offset_minutes);
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", t.offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
  return out + buf;
}

TEST(TimeFormat, MatchesPrintfFormatting) {
  std::mt19937_64 rng(1201);
  constexpr int64_t kYearMs = 31'556'952'000;
  for (int i = 0; i < 20'000; ++i) {
    const int64_t unix_ms =
        static_cast<int64_t>(rng() % static_cast<uint64_t>(12'100 * kYearMs)) - 2'070 * kYearMs;
    int32_t offset = static_cast<int32_t>(rng() % 1'681) - 840;                // -14:00..+14:00
    if (i % 100 == 0) offset = static_cast<int32_t>(rng() % 20'000) - 10'000;  // > 99 hours too
    if (i % 7 == 0) offset = 0;
    const BusinessTime t{i % 3 == 0 ? unix_ms / 1000 * 1000 : unix_ms, offset};
    ASSERT_EQ(format_rfc3339(t), printf_rfc3339(t)) << t.unix_ms << " " << t.offset_minutes;
  }
}

TEST(TimeFormat, NormalisesEquivalentSpellings) {
  EXPECT_EQ(format_rfc3339(at("2026-11-22T16:15:00+00:00")), "2026-11-22T16:15:00Z");
  EXPECT_EQ(format_rfc3339(at("2026-11-22t16:15:00z")), "2026-11-22T16:15:00Z");
  EXPECT_EQ(format_rfc3339(at("2026-11-22T16:15:00.5Z")), "2026-11-22T16:15:00.500Z");
  EXPECT_EQ(format_rfc3339(at("2026-11-22T16:15:00.000Z")), "2026-11-22T16:15:00Z");
}

TEST(TimeFormat, FormatsInTheTimesOwnOffset) {
  const BusinessTime utc = at("2026-11-22T16:15:00Z");
  EXPECT_EQ(format_rfc3339(BusinessTime{utc.unix_ms, -360}), "2026-11-22T10:15:00-06:00");
  EXPECT_EQ(format_rfc3339(BusinessTime{utc.unix_ms, 330}), "2026-11-22T21:45:00+05:30");
  EXPECT_EQ(format_rfc3339(BusinessTime{utc.unix_ms, -600}), "2026-11-22T06:15:00-10:00");
}

// Independent reference for the civil date: std::chrono's calendar (C++20).
std::string reference_date(int64_t local_ms) {
  using namespace std::chrono;
  const auto local_day = floor<std::chrono::days>(sys_time<milliseconds>(milliseconds(local_ms)));
  const year_month_day ymd{local_day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

TEST(TimeFormat, RandomInstantsAndOffsetsRoundTrip) {
  const uint32_t seed = 0x71e5eed;
  std::mt19937_64 rng(seed);
  // 1900-01-01 .. 2100-01-01, offsets -23:59 .. +23:59, milliseconds included.
  std::uniform_int_distribution<int64_t> instant(-2'208'988'800'000, 4'102'444'800'000);
  std::uniform_int_distribution<int32_t> offset(-1439, 1439);
  for (int i = 0; i < 20'000; ++i) {
    BusinessTime t{instant(rng), offset(rng)};
    if (i % 3 == 0) t.unix_ms -= t.unix_ms % 1000;  // also whole seconds (no fraction printed)
    const std::string text = format_rfc3339(t);
    auto back = parse_rfc3339(text);
    ASSERT_TRUE(back.ok()) << "seed " << seed << " i " << i << " text " << text;
    ASSERT_EQ(back->unix_ms, t.unix_ms) << "seed " << seed << " i " << i << " text " << text;
    ASSERT_EQ(back->offset_minutes, t.offset_minutes)
        << "seed " << seed << " i " << i << " " << text;
    ASSERT_EQ(format_date(t), reference_date(t.unix_ms + int64_t{t.offset_minutes} * 60'000))
        << "seed " << seed << " i " << i << " text " << text;
    // local_day is that date as a number (what add_expiring compares, without a string).
    const auto ref_day = std::chrono::floor<std::chrono::days>(std::chrono::sys_time<std::chrono::milliseconds>(
        std::chrono::milliseconds(t.unix_ms + int64_t{t.offset_minutes} * 60'000)));
    ASSERT_EQ(local_day(t), ref_day.time_since_epoch().count()) << "seed " << seed << " i " << i << " " << text;
  }
}

// ---- dates and day arithmetic -------------------------------------------------------------

TEST(TimeDate, IsTheLocalDateOfTheTimesOffset) {
  // 23:30 in Mexico City is already the next day in UTC; the date is still the 22nd.
  const BusinessTime late = at("2026-11-22T23:30:00-06:00");
  EXPECT_EQ(format_date(late), "2026-11-22");
  EXPECT_EQ(format_date(BusinessTime{late.unix_ms, 0}), "2026-11-23");
  EXPECT_EQ(format_date(at("2026-11-23T00:30:00+05:30")), "2026-11-23");
  EXPECT_EQ(format_date(at("2026-11-22T00:00:00-06:00")), "2026-11-22");
  EXPECT_EQ(format_date(at("2026-11-22T23:59:59.999-06:00")), "2026-11-22");
  EXPECT_EQ(format_date(at("1969-12-31T23:59:59Z")), "1969-12-31");
}

TEST(TimeDate, ComparesInstantsNotSpellings) {
  EXPECT_EQ(at("2026-11-22T10:15:00-06:00"), at("2026-11-22T16:15:00Z"));
  EXPECT_LT(at("2026-11-22T10:15:00-06:00"), at("2026-11-22T10:15:00-05:00").plus_minutes(61));
  EXPECT_GT(at("2026-11-22T10:15:00-06:00"), at("2026-11-22T10:15:00-05:00"));
}

TEST(TimeDays, PlusDaysAddsWholeDaysInAFixedOffset) {
  // A fixed offset has no DST: one day later is 24 h later, same wall clock, same offset,
  // even across the US DST switch (2026-03-08) or Mexico's former one.
  const BusinessTime t = at("2026-03-07T10:00:00-06:00");
  EXPECT_EQ(format_rfc3339(t.plus_days(1)), "2026-03-08T10:00:00-06:00");
  EXPECT_EQ(t.plus_days(1).unix_ms - t.unix_ms, 86'400'000);
  EXPECT_EQ(format_rfc3339(t.plus_days(-7)), "2026-02-28T10:00:00-06:00");
  EXPECT_EQ(format_rfc3339(at("2026-10-31T23:30:00+05:30").plus_days(1)),
            "2026-11-01T23:30:00+05:30");
}

TEST(TimeDays, ExpiryDaysCountCalendarDaysIncludingLeapDays) {
  const BusinessTime sale = at("2026-11-22T10:15:00-06:00");
  EXPECT_EQ(format_rfc3339(sale.plus_days(365)), "2027-11-22T10:15:00-06:00");
  EXPECT_EQ(format_date(sale.plus_days(365)), "2027-11-22");
  // 2028 is a leap year: 365 days after 2027-11-22 is 2028-11-21.
  EXPECT_EQ(format_date(sale.plus_days(730)), "2028-11-21");
  // The late-evening sale keeps its local date 365 days later.
  EXPECT_EQ(format_date(at("2026-11-22T23:30:00-06:00").plus_days(365)), "2027-11-22");
  EXPECT_EQ(sale.plus_days(0), sale);
}

TEST(TimeDays, PlusMinutesKeepsTheOffset) {
  const BusinessTime t = at("2026-11-22T23:50:00-06:00");
  const BusinessTime later = t.plus_minutes(15);
  EXPECT_EQ(later.offset_minutes, -360);
  EXPECT_EQ(format_rfc3339(later), "2026-11-23T00:05:00-06:00");
  EXPECT_EQ(format_rfc3339(t.plus_minutes(-15 * 60)), "2026-11-22T08:50:00-06:00");
}

}  // namespace
}  // namespace loyalty::domain
