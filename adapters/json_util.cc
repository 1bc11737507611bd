#include "adapters/json_util.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace loyalty::adapters::json_util {
namespace {

using domain::ErrorCode;
using domain::make_error;

constexpr int64_t kPow10[] = {1, 10, 100, 1'000, 10'000, 100'000, 1'000'000};

domain::Error bad_number(std::string message) {
  return make_error(ErrorCode::kInvalidEvent, "", std::move(message));
}

std::string excerpt(std::string_view s, size_t max_chars) {
  if (s.size() <= max_chars) return std::string(s);
  return std::string(s.substr(0, max_chars)) + "...";
}

// Thrown by the parser callback of parse() when arrays and objects nest deeper than
// kMaxDepth: nlohmann would accept any depth, and a fuzzer's "[[[[..." must not cost
// unbounded memory.
struct TooDeep {};

// Plain decimal text ("-12.345", any number of places) rounded half away from zero at
// `decimals` places, as micro-units.
domain::Result<int64_t> round_decimal_text(std::string_view text, int decimals) {
  const std::string shown = "'" + excerpt(text, 32) + "'";
  size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) i = 1;
  int64_t whole = 0;
  size_t whole_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return bad_number(shown + " is not a plain decimal (digits and '.')");
    whole = whole * 10 + (c - '0');
    ++whole_digits;
    if (whole >= domain::kMaxWholeUnits) {
      return bad_number(shown + " is too large (at most 12 integer digits)");
    }
  }
  if (whole_digits == 0) return bad_number(shown + " is not a decimal (no digits before '.')");
  int64_t frac = 0;
  int frac_digits = 0;
  bool round_up = false;
  if (i < text.size()) {
    ++i;  // '.'
    if (i == text.size()) return bad_number(shown + " ends with '.'");
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') {
        return bad_number(shown + " is not a plain decimal (digits and '.')");
      }
      if (frac_digits < decimals) {
        frac = frac * 10 + (c - '0');
      } else if (frac_digits == decimals) {
        round_up = c >= '5';
      }
      ++frac_digits;
    }
  }
  for (int k = std::min(frac_digits, decimals); k < decimals; ++k) frac *= 10;
  if (round_up && ++frac == kPow10[decimals]) {
    frac = 0;
    if (++whole >= domain::kMaxWholeUnits) {
      return bad_number(shown + " is too large (at most 12 integer digits)");
    }
  }
  const int64_t micros =
      whole * domain::kMicrosPerUnit + frac * kPow10[domain::kMaxDecimals - decimals];
  return negative ? -micros : micros;
}

}  // namespace

int currency_decimals(std::string_view currency) {
  static constexpr std::array<std::string_view, 17> kZero = {
      "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
      "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::array<std::string_view, 7> kThree = {"BHD", "IQD", "JOD", "KWD",
                                                             "LYD", "OMR", "TND"};
  if (currency.size() != 3) return 2;
  std::string upper(currency);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  for (std::string_view z : kZero) {
    if (upper == z) return 0;
  }
  for (std::string_view t : kThree) {
    if (upper == t) return 3;
  }
  return 2;
}

domain::Result<json> parse(std::string_view bytes) {
  const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        static_cast<size_t>(depth) >= kMaxDepth) {
      throw TooDeep{};
    }
    return true;
  };
  try {
    return json::parse(bytes.begin(), bytes.end(), limit_depth);
  } catch (const TooDeep&) {
    return make_error(
        ErrorCode::kInvalidJson, "",
        "not accepted: arrays and objects nest deeper than " + std::to_string(kMaxDepth));
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string_view what = e.what();
    if (const size_t colon = what.find(": "); colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
    return make_error(
        ErrorCode::kInvalidJson, "",
        "not well-formed JSON at byte " + std::to_string(e.byte) + ": " + std::string(what));
  } catch (const json::exception& e) {
    // out_of_range 406: a number beyond double ("1e400").
    std::string_view what = e.what();
    if (const size_t bracket = what.find("] "); bracket != std::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
    return make_error(ErrorCode::kInvalidJson, "", "not accepted: " + std::string(what));
  }
}

domain::Result<int64_t> minor_units_to_micros(int64_t minor, int decimals) {
  if (decimals < 0 || decimals > domain::kMaxDecimals) {
    return bad_number("a currency with " + std::to_string(decimals) + " decimals");
  }
  const int64_t limit = domain::kMaxWholeUnits * kPow10[decimals];  // fits: 10^18 at most
  if (minor >= limit || minor <= -limit) {
    return bad_number(std::to_string(minor) + " minor units is too large (10^12 or more)");
  }
  return minor * kPow10[domain::kMaxDecimals - decimals];
}

domain::Result<int64_t> number_to_micros(const json& v, int decimals) {
  if (decimals < 0 || decimals > domain::kMaxDecimals) {
    return bad_number("cannot round to " + std::to_string(decimals) + " decimals");
  }
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u >= static_cast<uint64_t>(domain::kMaxWholeUnits)) {
      return bad_number(std::to_string(u) + " is too large (10^12 or more)");
    }
    return static_cast<int64_t>(u) * domain::kMicrosPerUnit;
  }
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x >= domain::kMaxWholeUnits || x <= -domain::kMaxWholeUnits) {
      return bad_number(std::to_string(x) + " is too large (10^12 or more)");
    }
    return x * domain::kMicrosPerUnit;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return bad_number("not a finite number");
    if (std::fabs(d) >= static_cast<double>(domain::kMaxWholeUnits)) {
      return bad_number("too large (10^12 or more)");
    }
    // Shortest round-trip text in fixed notation: at most 13 integer digits, and at most
    // ~330 fraction digits for the smallest subnormal.
    std::array<char, 400> buf;
    const auto [end, ec] =
        std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::fixed);
    if (ec != std::errc()) return bad_number("a number that cannot be written as a decimal");
    return round_decimal_text(std::string_view(buf.data(), static_cast<size_t>(end - buf.data())),
                              decimals);
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > 64) return bad_number("'" + excerpt(s, 32) + "' is not a decimal (too long)");
    return round_decimal_text(s, decimals);
  }
  return bad_number("must be a number, not " + type_word(v));
}

domain::Result<domain::BusinessTime> parse_time(std::string_view text,
                                                int32_t display_offset_minutes) {
  if (text.size() <= 40) {
    const bool zulu = !text.empty() && (text.back() == 'Z' || text.back() == 'z');
    if (auto t = domain::parse_rfc3339(text)) {
      if (zulu) t->offset_minutes = display_offset_minutes;
      return *t;
    }
    if (!zulu) {
      if (auto t = domain::parse_rfc3339(std::string(text) + "Z")) {
        t->offset_minutes = display_offset_minutes;
        return *t;
      }
    }
  }
  return make_error(
      ErrorCode::kInvalidEvent, "",
      "'" + excerpt(text, 40) + "' is not a time (RFC 3339, or YYYY-MM-DD hh:mm:ss in UTC)");
}

const char* identifier_problem(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxIdChars) return "is longer than 128 characters";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "must not contain control characters";
  }
  return nullptr;
}

std::string type_word(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unexpected value";
  }
}

std::string join(std::string_view base, std::string_view key) {
  std::string out(base);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string index(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

const json* Reader::get(const Node& parent, std::string_view key) {
  if (parent.v == nullptr || !parent.v->is_object()) return nullptr;
  const auto it = parent.v->find(key);
  if (it == parent.v->end() || it->is_null()) return nullptr;
  return &*it;
}

bool Reader::fail(std::string path, std::string message) {
  error_ = make_error(ErrorCode::kInvalidEvent, std::move(path), std::move(message));
  return false;
}

bool Reader::fail_type(std::string path, const json& v, std::string_view expected) {
  return fail(std::move(path), "must be " + std::string(expected) + ", not " + type_word(v));
}

bool Reader::object(const Node& parent, std::string_view key, Need need, std::optional<Node>& out) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  if (!v->is_object()) return fail_type(join(parent.path, key), *v, "an object");
  out = Node{v, join(parent.path, key)};
  return true;
}

bool Reader::array(const Node& parent, std::string_view key, Need need, std::optional<Node>& out) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  if (!v->is_array()) return fail_type(join(parent.path, key), *v, "an array");
  out = Node{v, join(parent.path, key)};
  return true;
}

bool Reader::string(const Node& parent, std::string_view key, Need need, std::string& out) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  if (!v->is_string()) return fail_type(join(parent.path, key), *v, "a string");
  const std::string& s = v->get_ref<const std::string&>();
  if (need == Need::kRequired && s.empty()) {
    return fail(join(parent.path, key), "must not be empty");
  }
  out = s;
  return true;
}

bool Reader::integer(const Node& parent, std::string_view key, Need need,
                     std::optional<int64_t>& out) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(join(parent.path, key), "is too large");
    }
    out = static_cast<int64_t>(v->get<uint64_t>());
    return true;
  }
  if (v->is_number_integer()) {
    out = v->get<int64_t>();
    return true;
  }
  if (v->is_number_float()) {
    return fail(join(parent.path, key), "must be a JSON integer, not a fractional number");
  }
  return fail_type(join(parent.path, key), *v, "a JSON integer");
}

bool Reader::decimal(const Node& parent, std::string_view key, Need need, int decimals,
                     std::optional<int64_t>& micros) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  auto m = number_to_micros(*v, decimals);
  if (!m) return fail(join(parent.path, key), m.error().message);
  micros = *m;
  return true;
}

bool Reader::id_text(const Node& parent, std::string_view key, Need need, std::string& out) {
  const json* v = get(parent, key);
  if (v == nullptr) return need == Need::kOptional || fail(join(parent.path, key), "missing");
  if (v->is_number_integer()) {
    out = v->dump();
  } else if (v->is_string()) {
    out = v->get_ref<const std::string&>();
  } else {
    return fail_type(join(parent.path, key), *v, "a string or an integer");
  }
  if (const char* problem = identifier_problem(out)) return fail(join(parent.path, key), problem);
  return true;
}

Node Reader::element(const Node& array, size_t i) const {
  return Node{&(*array.v)[i], index(array.path, i)};
}

}  // namespace loyalty::adapters::json_util
