#include "domain/time.h"

#include <cstdio>
#include <cstdlib>

namespace loyalty::domain {
namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

Error bad_time(std::string_view text, std::string why) {
  return make_error(ErrorCode::kInvalidEvent, "",
                    "'" + std::string(text) + "' is not an RFC 3339 time with offset: " + why);
}

}  // namespace

Result<BusinessTime> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, se)) {
    return bad_time(s, "expected YYYY-MM-DDThh:mm:ss");
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0) ||
      h > 23 || mi > 59 || se > 60) {
    return bad_time(s, "date or time out of range");
  }
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 3) ms = ms * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return bad_time(s, "empty fraction of a second");
    for (int k = n; k < 3; ++k) ms *= 10;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad_time(s, "bad UTC offset");
    }
    offset = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return bad_time(s, "missing UTC offset (Z or +hh:mm)");
  }
  if (pos != s.size()) return bad_time(s, "unexpected characters at the end");
  if (se == 60) se = 59;  // a leap second is folded into the previous second
  const int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const int64_t local_s = days * 86400 + h * 3600 + mi * 60 + se;
  return BusinessTime{(local_s - offset * 60) * 1000 + ms, offset};
}

namespace {

// Appends `v` (0 <= v < 10^width) as exactly `width` digits.
void put_digits(char*& p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  p += width;
}

}  // namespace

// Digits written by hand: snprintf was a tenth of a sale's response and entry encoding
// (docs/performance.md). Years outside 0..9999 and offsets of 100 hours or more (which no
// parsed time has) take the printf path, whose output the fast path reproduces.
std::string format_rfc3339(const BusinessTime& t) {
  const int64_t local_ms = t.unix_ms + static_cast<int64_t>(t.offset_minutes) * 60'000;
  int64_t secs = local_ms >= 0 ? local_ms / 1000 : (local_ms - 999) / 1000;
  const int64_t ms = local_ms - secs * 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  const int oh = std::abs(t.offset_minutes) / 60, om = std::abs(t.offset_minutes) % 60;
  if (y >= 0 && y <= 9999 && oh < 100) {
    char* p = buf;
    put_digits(p, y, 4);
    *p++ = '-';
    put_digits(p, m, 2);
    *p++ = '-';
    put_digits(p, d, 2);
    *p++ = 'T';
    put_digits(p, rem / 3600, 2);
    *p++ = ':';
    put_digits(p, rem / 60 % 60, 2);
    *p++ = ':';
    put_digits(p, rem % 60, 2);
    if (ms != 0) {
      *p++ = '.';
      put_digits(p, ms, 3);
    }
    if (t.offset_minutes == 0) {
      *p++ = 'Z';
    } else {
      *p++ = t.offset_minutes < 0 ? '-' : '+';
      put_digits(p, oh, 2);
      *p++ = ':';
      put_digits(p, om, 2);
    }
    return std::string(buf, p);
  }
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (ms != 0) {
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(ms));
    out += buf;
  }
  if (t.offset_minutes == 0) {
    out += 'Z';
  } else {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", t.offset_minutes < 0 ? '-' : '+', oh, om);
    out += buf;
  }
  return out;
}

std::string format_date(const BusinessTime& t) { return format_rfc3339(t).substr(0, 10); }

int64_t local_day(const BusinessTime& t) {
  constexpr int64_t kDayMs = 86'400'000;
  const int64_t local_ms = t.unix_ms + static_cast<int64_t>(t.offset_minutes) * 60'000;
  return local_ms >= 0 ? local_ms / kDayMs : -((-local_ms + kDayMs - 1) / kDayMs);  // floor
}

bool within_rfc3339_years(const BusinessTime& t) {
  constexpr int64_t kDayMs = 86'400'000;
  const int64_t local_ms = t.unix_ms + static_cast<int64_t>(t.offset_minutes) * 60'000;
  return local_ms >= days_from_civil(0, 1, 1) * kDayMs && local_ms < days_from_civil(10000, 1, 1) * kDayMs;
}

}  // namespace loyalty::domain
