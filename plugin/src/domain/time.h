// Business time: an instant plus the UTC offset the POS wrote it with (RFC 3339).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "domain/result.h"

namespace loyalty::domain {

struct BusinessTime {
  int64_t unix_ms = 0;        // the instant
  int32_t offset_minutes = 0; // how the POS wrote it, kept for display

  auto operator<=>(const BusinessTime& o) const { return unix_ms <=> o.unix_ms; }
  bool operator==(const BusinessTime& o) const { return unix_ms == o.unix_ms; }

  BusinessTime plus_minutes(int64_t minutes) const {
    return BusinessTime{unix_ms + minutes * 60'000, offset_minutes};
  }
  BusinessTime plus_days(int64_t days) const { return plus_minutes(days * 24 * 60); }
};

// Parses "2026-11-22T10:15:00-06:00", "2026-11-22T16:15:00Z", with optional fraction.
Result<BusinessTime> parse_rfc3339(std::string_view text);
// Formats in the time's own offset: "2026-11-22T10:15:00-06:00" (milliseconds if non-zero).
std::string format_rfc3339(const BusinessTime& t);
// "2026-11-22" in the time's own offset.
std::string format_date(const BusinessTime& t);
// The same date as a day number (days since 1970-01-01): equal for equal format_date, with
// no string made.
int64_t local_day(const BusinessTime& t);
// Whether the time's date in its own offset lies in the years 0000-9999, the only ones an
// RFC 3339 time (and format_rfc3339) can write.
bool within_rfc3339_years(const BusinessTime& t);

}  // namespace loyalty::domain
