// parse_request: bytes -> validated domain::Request (contract section 2).
//
// Steps: screen the bytes (NUL, UTF-8), parse with nlohmann's SAX parser into a DOM while
// refusing deep nesting and duplicate keys, read every field with its JSON path for
// errors, refuse members nobody read, then hash the canonical text for idempotency.
// The success path throws nothing and builds no error strings.
#include "protocol/codec.h"

#include <algorithm>
#include <array>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/canonical.h"
#include "protocol/json_text.h"
#include "protocol/request_json.h"

namespace loyalty::protocol {

using domain::BusinessTime;
using domain::Error;
using domain::ErrorCode;
using domain::Money;
using domain::Quantity;
using domain::Result;
using json = RequestJson;  // nlohmann::json with its nodes in a per-request arena

namespace {

constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxIdChars = 128;     // id, customer references, tickets, holds, branches
constexpr size_t kMaxNameChars = 128;   // terminal, sku, category, operator
constexpr size_t kMaxMethodChars = 64;  // tender method
constexpr size_t kMaxCurrencyChars = 8;
constexpr size_t kMaxTextChars = 512;    // name, email, phone, reason, customer category
constexpr size_t kMaxDecimalBytes = 32;  // "-" + 12 digits + "." + 6 digits fits easily
constexpr size_t kMaxTimeBytes = 64;
constexpr int64_t kMaxPoints = 1'000'000'000'000;  // 10^12, like whole money units
constexpr int64_t kMaxLineNumber = 1'000'000'000;
constexpr int64_t kMaxHistoryLimit = 10'000;
constexpr int64_t kDefaultHistoryLimit = 1'000;
constexpr size_t kMaxFieldsPerObject = 16;  // the most any request type reads is 12

Error json_error(std::string message) {
  return domain::make_error(ErrorCode::kInvalidJson, "", std::move(message));
}

Error event_error(std::string field, std::string message) {
  return domain::make_error(ErrorCode::kInvalidEvent, std::move(field), std::move(message));
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_float:
      return "a fractional number";
    default:
      return "a number";
  }
}

// "lines[3]"
std::string element_path(std::string_view array, size_t index) {
  std::string p(array);
  p += '[';
  p += std::to_string(index);
  p += ']';
  return p;
}

// ---- JSON text -> DOM ------------------------------------------------------------------

// A SAX handler that builds the same DOM as json::parse (so the canonical text equals
// json::dump()), with three refusals the stock parser lacks: nesting deeper than kMaxDepth
// (stops at once, so a 100k-deep document never becomes a 100k-deep tree), a key repeated
// in one object (json::parse silently keeps the last), and "\u0000" inside a string.
// Strings are moved into the tree, not copied.
class DomBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  enum class Failure { kNone = 0, kSyntax, kTooDeep, kDuplicateKey, kEscapedNul };

  explicit DomBuilder(json& root) : root_(root) { stack_.reserve(8); }

  bool null() { return place(json(nullptr)) != nullptr; }
  bool boolean(bool v) { return place(json(v)) != nullptr; }
  bool number_integer(number_integer_t v) { return place(json(v)) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return place(json(v)) != nullptr; }
  bool number_float(number_float_t v, const string_t& /*text*/) {
    return place(json(v)) != nullptr;
  }
  bool string(string_t& v) {
    if (v.find('\0') != string_t::npos) return fail(Failure::kEscapedNul, next_path());
    return place(json(std::move(v))) != nullptr;
  }
  bool binary(binary_t& /*v*/) { return fail(Failure::kSyntax, "binary values are not JSON"); }

  bool start_object(std::size_t /*elements*/) { return open(json::value_t::object); }
  bool start_array(std::size_t /*elements*/) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    if (k.find('\0') != string_t::npos) return fail(Failure::kEscapedNul, here_path(k));
    auto& object = *stack_.back().value->get_ptr<json::object_t*>();
    auto [it, inserted] = object.try_emplace(std::move(k));  // k is untouched if not inserted
    if (!inserted) return fail(Failure::kDuplicateKey, here_path(k));
    slot_ = &it->second;
    slot_key_ = &it->first;
    return true;
  }

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const Exception& ex) {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..." without the
    // bracketed prefix; the message can quote a whole (huge) token, so keep the head.
    std::string_view what = ex.what();
    if (const size_t close = what.find("] ");
        !what.empty() && what[0] == '[' && close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
    return fail(Failure::kSyntax, excerpt(what, 240));
  }

  Failure failure() const { return failure_; }
  // kSyntax: the parser's message. kDuplicateKey, kEscapedNul: the JSON path.
  const std::string& detail() const { return detail_; }

 private:
  struct Frame {
    json* value = nullptr;
    const std::string* key = nullptr;  // member name in the parent object, or
    size_t index = 0;                  // position in the parent array
  };

  // Puts a value where the parser is: the root, the end of the open array, or the member
  // whose key was just read. Never returns nullptr (the return feeds the SAX booleans).
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back().value;
    if (top.is_array()) {
      auto& array = *top.get_ptr<json::array_t*>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }

  bool open(json::value_t type) {
    if (stack_.size() >= kMaxDepth) return fail(Failure::kTooDeep, {});
    Frame frame;
    if (!stack_.empty()) {
      const json& parent = *stack_.back().value;
      if (parent.is_array()) {
        frame.index = parent.size();
      } else {
        frame.key = slot_key_;
      }
    }
    frame.value = place(json(type));
    stack_.push_back(frame);
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  bool fail(Failure f, std::string detail) {
    failure_ = f;
    detail_ = std::move(detail);
    return false;
  }

  static void append_segment(std::string& path, const std::string* key, size_t index) {
    if (key != nullptr) {
      if (!path.empty()) path += '.';
      path += excerpt(*key, 64);
    } else {
      path += '[';
      path += std::to_string(index);
      path += ']';
    }
  }

  // Path of the innermost open container, plus `member` when given.
  std::string here_path(const std::string& member = {}) const {
    std::string path;
    for (size_t i = 1; i < stack_.size(); ++i) append_segment(path, stack_[i].key, stack_[i].index);
    if (!member.empty()) append_segment(path, &member, 0);
    return path;
  }

  // Path of the value the parser is about to place.
  std::string next_path() const {
    if (stack_.empty()) return {};
    std::string path = here_path();
    const json& top = *stack_.back().value;
    append_segment(path, top.is_array() ? nullptr : slot_key_, top.size());
    return path;
  }

  json& root_;
  std::vector<Frame> stack_;
  json* slot_ = nullptr;
  const std::string* slot_key_ = nullptr;
  Failure failure_ = Failure::kNone;
  std::string detail_;
};

// ---- DOM -> fields ---------------------------------------------------------------------

enum class Need { kOptional = 1, kRequired = 2 };
enum class Sign { kZeroOrPositive = 1, kPositive = 2 };

// Why `s` is not an acceptable identifier (request id, customer reference, ticket, hold,
// branch), or nullptr.
const char* identifier_problem(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxIdChars && (s.size() > 4 * kMaxIdChars || count_chars(s) > kMaxIdChars)) {
    return "is longer than 128 characters";
  }
  if (has_control_chars(s)) return "must not contain control characters";
  return nullptr;
}

bool valid_date(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8}, lengths[3] = {4, 2, 2};
  for (int k = 0; k < 3; ++k) {
    for (size_t i = starts[k]; i < starts[k] + lengths[k]; ++i) {
      if (d[i] < '0' || d[i] > '9') return false;
      parts[k] = parts[k] * 10 + (d[i] - '0');
    }
  }
  const int y = parts[0], m = parts[1], day = parts[2];
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || day < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return day <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

// Reads the members of one JSON object. Each reader records the key it asked for, so that
// members nobody asked for can be reported as unknown. A reader returns false after
// putting the error (with the member's JSON path) into the shared `error`. Absent members
// and members set to null are the same thing. Each key is read at most once.
class Fields {
 public:
  Fields(const json::object_t& object, Error& error, std::string_view array = {}, size_t index = 0)
      : object_(object), error_(error), array_(array), index_(index) {}

  std::string path(std::string_view key) const {
    std::string p = array_.empty() ? std::string() : element_path(array_, index_) + ".";
    p += key;
    return p;
  }

  bool fail(std::string_view key, std::string message) {
    error_ = event_error(path(key), std::move(message));
    return false;
  }

  // The member's value, or nullptr when it is absent or null.
  const json* get(std::string_view key) {
    if (asked_count_ < asked_.size()) asked_[asked_count_++] = key;
    const auto it = object_.find(key);
    if (it == object_.end()) return nullptr;
    ++present_;
    return it->second.is_null() ? nullptr : &it->second;
  }

  bool missing(std::string_view key, Need need) {
    return need == Need::kRequired ? fail(key, "is required") : true;
  }

  bool wrong_type(std::string_view key, const json& v, const char* expected) {
    return fail(key, std::string("must be ") + expected + ", not " + type_name(v));
  }

  // A string of at most `max_chars` characters; a required one must not be empty.
  const std::string* str(std::string_view key, Need need, size_t max_chars, bool& ok) {
    ok = true;
    const json* v = get(key);
    if (v == nullptr) {
      ok = missing(key, need);
      return nullptr;
    }
    if (!v->is_string()) {
      ok = wrong_type(key, *v, "a string");
      return nullptr;
    }
    const std::string& s = v->get_ref<const std::string&>();
    if (need == Need::kRequired && s.empty()) {
      ok = fail(key, "must not be empty");
      return nullptr;
    }
    if (s.size() > max_chars && (s.size() > 4 * max_chars || count_chars(s) > max_chars)) {
      ok = fail(key, "is longer than " + std::to_string(max_chars) + " characters");
      return nullptr;
    }
    return &s;
  }

  bool text(std::string_view key, Need need, size_t max_chars, std::string& out) {
    bool ok;
    if (const std::string* s = str(key, need, max_chars, ok)) out = *s;
    return ok;
  }

  bool text(std::string_view key, size_t max_chars, std::optional<std::string>& out) {
    bool ok;
    if (const std::string* s = str(key, Need::kOptional, max_chars, ok)) out = *s;
    return ok;
  }

  // An id, customer reference, ticket, hold or branch: when present, non-empty, at most
  // 128 characters, no control characters.
  bool identifier(std::string_view key, Need need, std::string& out) {
    const json* v = get(key);
    if (v == nullptr) return missing(key, need);
    if (!v->is_string()) return wrong_type(key, *v, "a string");
    const std::string& s = v->get_ref<const std::string&>();
    if (const char* problem = identifier_problem(s)) return fail(key, problem);
    out = s;
    return true;
  }

  // A decimal string ("90.00"); JSON numbers are refused so that no binary float ever
  // carries money. `negative_hint` finishes the sentence for a negative value.
  template <class T>
  bool decimal(std::string_view key, Need need, Sign sign, std::optional<T>& out,
               std::string_view negative_hint = {}) {
    const json* v = get(key);
    if (v == nullptr) return missing(key, need);
    if (v->is_number()) {
      return fail(key,
                  "amounts and quantities are decimal strings such as \"90.00\", not JSON numbers");
    }
    if (!v->is_string()) return wrong_type(key, *v, "a decimal string such as \"90.00\"");
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxDecimalBytes) {
      return fail(key, "'" + excerpt(s, 24) + "' is not a decimal (too long)");
    }
    auto parsed = T::parse(s);
    if (!parsed) return fail(key, parsed.error().message);
    // The sign, not the value: "-0.00" is a POS saying "negative" too, refused like "-5"
    // so that a refund sent as a negative sale never slips through as zero.
    if (s.front() == '-') {
      std::string message = sign == Sign::kPositive ? "must be greater than zero" : "must be zero or positive";
      if (!negative_hint.empty()) message.append(" (").append(negative_hint).append(")");
      return fail(key, std::move(message));
    }
    if (sign == Sign::kPositive && parsed->is_zero()) return fail(key, "must be greater than zero");
    out = *parsed;
    return true;
  }

  // A JSON integer in [lo, hi] (not a fractional number, not a string).
  bool integer(std::string_view key, Need need, int64_t lo, int64_t hi,
               std::optional<int64_t>& out) {
    const json* v = get(key);
    if (v == nullptr) return missing(key, need);
    if (v->is_number_float()) return fail(key, "must be a JSON integer, not a fractional number");
    if (!v->is_number()) return wrong_type(key, *v, "a JSON integer");
    int64_t x;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      x = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
    } else {
      x = v->get<int64_t>();
    }
    if (x < lo || x > hi) {
      if (lo == 0 && x < 0) return fail(key, "must be zero or positive");
      if (lo == 1 && x < 1) return fail(key, "must be greater than zero");
      return fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    out = x;
    return true;
  }

  // An RFC 3339 time with a UTC offset.
  bool time(std::string_view key, Need need, std::optional<BusinessTime>& out) {
    const json* v = get(key);
    if (v == nullptr) return missing(key, need);
    if (!v->is_string()) return wrong_type(key, *v, "an RFC 3339 time string");
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxTimeBytes) {
      return fail(key, "'" + excerpt(s, 32) + "' is not an RFC 3339 time with offset (too long)");
    }
    auto t = domain::parse_rfc3339(s);
    if (!t) return fail(key, t.error().message);
    out = *t;
    return true;
  }

  // An array; `out` stays nullptr when the member is absent.
  bool array(std::string_view key, Need need, const json::array_t*& out) {
    out = nullptr;
    const json* v = get(key);
    if (v == nullptr) return missing(key, need);
    if (!v->is_array()) return wrong_type(key, *v, "an array");
    out = v->get_ptr<const json::array_t*>();
    return true;
  }

  // The element at `index` of an array member read with array(), which must be an object.
  const json::object_t* element_object(std::string_view array_key, const json::array_t& a,
                                       size_t index) {
    const json& e = a[index];
    if (e.is_object()) return e.get_ptr<const json::object_t*>();
    error_ = event_error(path(element_path(array_key, index)),
                         std::string("must be an object, not ") + type_name(e));
    return nullptr;
  }

  // Fails on the first member (in key order) that no reader asked for.
  bool no_unknown_fields() {
    if (present_ == object_.size()) return true;
    for (const auto& member : object_) {
      const std::string& k = member.first;
      const auto end = asked_.begin() + static_cast<std::ptrdiff_t>(asked_count_);
      if (std::find(asked_.begin(), end, std::string_view(k)) == end) {
        return fail(excerpt(k, 64), "unknown field");
      }
    }
    return true;
  }

 private:
  const json::object_t& object_;
  Error& error_;
  std::string_view array_;  // "lines" for the members of lines[index]; empty at the top
  size_t index_;
  std::array<std::string_view, kMaxFieldsPerObject> asked_{};
  size_t asked_count_ = 0;
  size_t present_ = 0;  // asked-for keys that the object has
};

// A request's lines, and its tenders, each add up to less than 10^12 currency units, like a
// single amount: the rules add amounts in int64 micro-units (domain/fixed.h).
class AmountTotal {
 public:
  explicit AmountTotal(const char* what) : what_(what) {}
  // False (with `fields` failing `key`) once the total reaches the limit.
  bool add(Fields& fields, std::string_view key, Money m) {
    total_ += m.micros();
    if (total_ < kLimit) return true;
    return fields.fail(key, std::string("the ") + what_ + " add up to more than " +
                                domain::format_micros(kLimit - 1, domain::kMaxDecimals));
  }

 private:
  static constexpr int64_t kLimit = domain::kMaxWholeUnits * domain::kMicrosPerUnit;
  const char* what_;
  int64_t total_ = 0;  // each amount < kLimit, so the sum stays < 2 × kLimit < INT64_MAX
};

constexpr std::string_view kSaleNegativeHint = "goods coming back are a refund.completed";
constexpr std::string_view kTenderNegativeHint = "money given back is the \"change\"";

bool read_tenders(Fields& f, Error& err, std::vector<domain::Tender>& out) {
  const json::array_t* a;
  if (!f.array("tenders", Need::kOptional, a)) return false;
  if (a == nullptr) return true;
  out.reserve(a->size());
  AmountTotal total("tenders");
  for (size_t i = 0; i < a->size(); ++i) {
    const json::object_t* o = f.element_object("tenders", *a, i);
    if (o == nullptr) return false;
    Fields t(*o, err, "tenders", i);
    domain::Tender& tender = out.emplace_back();
    std::optional<Money> amount, change;
    if (!t.text("method", Need::kRequired, kMaxMethodChars, tender.method) ||
        !t.decimal("amount", Need::kRequired, Sign::kZeroOrPositive, amount, kTenderNegativeHint) ||
        !t.decimal("change", Need::kOptional, Sign::kZeroOrPositive, change, kTenderNegativeHint) ||
        !t.identifier("hold", Need::kOptional, tender.hold)) {
      return false;
    }
    tender.amount = *amount;
    tender.change = change.value_or(Money{});
    if (tender.change > tender.amount)
      return t.fail("change", "must not exceed the tender's amount");
    if (!t.no_unknown_fields() || !total.add(t, "amount", tender.amount)) return false;
  }
  return true;
}

// The first line whose number repeats an earlier line's, or npos.
size_t repeated_line_number(const std::vector<domain::SaleLine>& lines) {
  constexpr size_t kNone = std::string::npos;
  if (lines.size() <= 32) {
    for (size_t j = 1; j < lines.size(); ++j) {
      for (size_t i = 0; i < j; ++i) {
        if (lines[i].n == lines[j].n) return j;
      }
    }
    return kNone;
  }
  std::vector<std::pair<int64_t, size_t>> order;
  order.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) order.emplace_back(lines[i].n, i);
  std::sort(order.begin(), order.end());
  size_t first = kNone;
  for (size_t k = 1; k < order.size(); ++k) {
    if (order[k].first == order[k - 1].first) first = std::min(first, order[k].second);
  }
  return first;
}

bool read_sale(Fields& f, Error& err, domain::SaleCompleted& s) {
  const json::array_t* lines;
  if (!f.identifier("ticket", Need::kRequired, s.ticket) ||
      !f.text("currency", Need::kOptional, kMaxCurrencyChars, s.currency) ||
      !f.identifier("customer", Need::kOptional, s.customer) ||
      !f.array("lines", Need::kRequired, lines)) {
    return false;
  }
  s.lines.reserve(lines->size());
  AmountTotal total("lines");
  for (size_t i = 0; i < lines->size(); ++i) {
    const json::object_t* o = f.element_object("lines", *lines, i);
    if (o == nullptr) return false;
    Fields l(*o, err, "lines", i);
    domain::SaleLine& line = s.lines.emplace_back();
    std::optional<int64_t> n;
    std::optional<Quantity> qty;
    std::optional<Money> amount;
    if (!l.integer("n", Need::kOptional, 0, kMaxLineNumber, n) ||
        !l.text("sku", Need::kOptional, kMaxNameChars, line.sku) ||
        !l.text("category", Need::kOptional, kMaxNameChars, line.category) ||
        !l.decimal("qty", Need::kOptional, Sign::kZeroOrPositive, qty, kSaleNegativeHint) ||
        !l.decimal("amount", Need::kRequired, Sign::kZeroOrPositive, amount, kSaleNegativeHint) ||
        !l.no_unknown_fields() || !total.add(l, "amount", *amount)) {
      return false;
    }
    line.n = n.value_or(static_cast<int64_t>(i) + 1);
    line.qty = qty.value_or(Quantity::from_units(1));
    line.amount = *amount;
  }
  if (const size_t j = repeated_line_number(s.lines); j != std::string::npos) {
    err = event_error(element_path("lines", j) + ".n",
                      "line number " + std::to_string(s.lines[j].n) +
                          " appears twice (a line without \"n\" is numbered by its position)");
    return false;
  }
  return read_tenders(f, err, s.tenders);
}

bool read_refund(Fields& f, Error& err, domain::RefundCompleted& r) {
  const json::array_t* lines;
  if (!f.identifier("ticket", Need::kRequired, r.ticket) ||
      !f.identifier("original_ticket", Need::kOptional, r.original_ticket) ||
      !f.identifier("original_branch", Need::kOptional, r.original_branch) ||
      !f.identifier("customer", Need::kOptional, r.customer) ||
      !f.text("currency", Need::kOptional, kMaxCurrencyChars, r.currency) ||
      !f.array("lines", Need::kRequired, lines)) {
    return false;
  }
  r.lines.reserve(lines->size());
  AmountTotal total("lines");
  for (size_t i = 0; i < lines->size(); ++i) {
    const json::object_t* o = f.element_object("lines", *lines, i);
    if (o == nullptr) return false;
    Fields l(*o, err, "lines", i);
    domain::RefundLine& line = r.lines.emplace_back();
    if (!l.integer("n", Need::kOptional, 0, kMaxLineNumber, line.n) ||
        !l.text("sku", Need::kOptional, kMaxNameChars, line.sku) ||
        !l.text("category", Need::kOptional, kMaxNameChars, line.category) ||
        !l.decimal("qty", Need::kOptional, Sign::kZeroOrPositive, line.qty) ||
        !l.decimal("amount", Need::kOptional, Sign::kZeroOrPositive, line.amount)) {
      return false;
    }
    if (!line.qty && !line.amount)
      return l.fail("amount", "a refund line needs an amount or a qty");
    if (!l.no_unknown_fields()) return false;
    if (line.amount && !total.add(l, "amount", *line.amount)) return false;
  }
  return read_tenders(f, err, r.tenders);
}

bool read_authorize(Fields& f, domain::PointsAuthorize& r) {
  std::optional<Money> amount;
  if (!f.identifier("customer", Need::kRequired, r.customer) ||
      !f.identifier("ticket", Need::kOptional, r.ticket) ||
      !f.decimal("amount", Need::kRequired, Sign::kPositive, amount)) {
    return false;
  }
  r.amount = *amount;
  return true;
}

bool read_release(Fields& f, domain::PointsRelease& r) {
  if (!f.identifier("hold", Need::kOptional, r.hold) ||
      !f.identifier("ticket", Need::kOptional, r.ticket) ||
      !f.identifier("customer", Need::kOptional, r.customer)) {
    return false;
  }
  if (r.hold.empty() && r.ticket.empty())
    return f.fail("hold", "name the hold or the ticket to release");
  return true;
}

bool read_void(Fields& f, domain::SaleVoided& r) {
  return f.identifier("ticket", Need::kRequired, r.ticket) &&
         f.identifier("customer", Need::kOptional, r.customer);
}

bool read_upsert(Fields& f, Error& err, domain::CustomerUpsert& r) {
  const json::array_t* aliases;
  if (!f.identifier("customer", Need::kRequired, r.customer) ||
      !f.text("name", kMaxTextChars, r.name) || !f.text("email", kMaxTextChars, r.email) ||
      !f.text("phone", kMaxTextChars, r.phone) || !f.text("birthday", kMaxTextChars, r.birthday) ||
      !f.text("category", kMaxTextChars, r.category) ||
      !f.array("aliases", Need::kOptional, aliases)) {
    return false;
  }
  if (r.birthday && !valid_date(*r.birthday)) {
    return f.fail("birthday", "must be a date such as \"1990-05-17\"");
  }
  if (aliases == nullptr) return true;
  r.aliases.reserve(aliases->size());
  for (size_t i = 0; i < aliases->size(); ++i) {
    const json& a = (*aliases)[i];
    const char* problem = a.is_string() ? identifier_problem(a.get_ref<const std::string&>())
                                        : "must be a customer reference string";
    if (problem != nullptr) {
      err = event_error(element_path("aliases", i), problem);
      return false;
    }
    r.aliases.push_back(a.get_ref<const std::string&>());
  }
  return true;
}

bool read_balance(Fields& f, domain::BalanceQuery& r) {
  return f.identifier("customer", Need::kRequired, r.customer);
}

bool read_history(Fields& f, domain::HistoryQuery& r) {
  std::optional<int64_t> limit;
  if (!f.identifier("customer", Need::kRequired, r.customer) ||
      !f.time("from", Need::kOptional, r.from) || !f.time("to", Need::kOptional, r.to) ||
      !f.integer("limit", Need::kOptional, 1, kMaxHistoryLimit, limit)) {
    return false;
  }
  if (r.from && r.to && *r.to < *r.from) return f.fail("to", "must not be before \"from\"");
  r.limit = limit.value_or(kDefaultHistoryLimit);
  return true;
}

bool read_adjust(Fields& f, domain::PointsAdjust& r) {
  std::optional<int64_t> points;
  if (!f.identifier("customer", Need::kRequired, r.customer) ||
      !f.integer("points", Need::kRequired, -kMaxPoints, kMaxPoints, points) ||
      !f.text("reason", Need::kRequired, kMaxTextChars, r.reason) ||
      !f.text("operator", Need::kRequired, kMaxNameChars, r.operator_name)) {
    return false;
  }
  if (*points == 0) return f.fail("points", "must not be zero");
  r.points = domain::Points(*points);
  return true;
}

bool read_transfer(Fields& f, domain::PointsTransfer& r) {
  std::optional<int64_t> points;
  if (!f.identifier("from", Need::kRequired, r.from) ||
      !f.identifier("to", Need::kRequired, r.to) ||
      !f.integer("points", Need::kRequired, 1, kMaxPoints, points) ||
      !f.text("reason", Need::kOptional, kMaxTextChars, r.reason)) {
    return false;
  }
  r.points = domain::Points(*points);
  return true;
}

enum class Type {
  kSaleCompleted = 1,
  kPointsAuthorize,
  kPointsRelease,
  kSaleVoided,
  kRefundCompleted,
  kCustomerUpsert,
  kBalanceQuery,
  kHistoryQuery,
  kPointsAdjust,
  kPointsTransfer,
  kPluginInfo,
};

constexpr std::array<std::pair<std::string_view, Type>, 11> kTypes = {{
    {"sale.completed", Type::kSaleCompleted},
    {"points.authorize", Type::kPointsAuthorize},
    {"points.release", Type::kPointsRelease},
    {"sale.voided", Type::kSaleVoided},
    {"refund.completed", Type::kRefundCompleted},
    {"customer.upsert", Type::kCustomerUpsert},
    {"balance.query", Type::kBalanceQuery},
    {"history.query", Type::kHistoryQuery},
    {"points.adjust", Type::kPointsAdjust},
    {"points.transfer", Type::kPointsTransfer},
    {"plugin.info", Type::kPluginInfo},
}};

Error unknown_type(std::string_view word) {
  std::string message = "unknown request type '" + excerpt(word, 64) + "'; known types:";
  for (size_t i = 0; i < kTypes.size(); ++i) {
    message += i == 0 ? " " : ", ";
    message += kTypes[i].first;
  }
  return domain::make_error(ErrorCode::kUnknownType, "type", std::move(message));
}

// Emplaces the request's alternative, moves the header in and reads its own fields.
template <class T, class Reader>
bool read_body(domain::Request& out, domain::RequestHeader& h, Reader&& reader) {
  T& r = out.emplace<T>();
  r.h = std::move(h);
  return reader(r);
}

bool read_request(Fields& f, Error& err, Type type, domain::RequestHeader& h,
                  domain::Request& out) {
  switch (type) {
    case Type::kSaleCompleted:
      return read_body<domain::SaleCompleted>(out, h,
                                              [&](auto& r) { return read_sale(f, err, r); });
    case Type::kPointsAuthorize:
      return read_body<domain::PointsAuthorize>(out, h,
                                                [&](auto& r) { return read_authorize(f, r); });
    case Type::kPointsRelease:
      return read_body<domain::PointsRelease>(out, h, [&](auto& r) { return read_release(f, r); });
    case Type::kSaleVoided:
      return read_body<domain::SaleVoided>(out, h, [&](auto& r) { return read_void(f, r); });
    case Type::kRefundCompleted:
      return read_body<domain::RefundCompleted>(out, h,
                                                [&](auto& r) { return read_refund(f, err, r); });
    case Type::kCustomerUpsert:
      return read_body<domain::CustomerUpsert>(out, h,
                                               [&](auto& r) { return read_upsert(f, err, r); });
    case Type::kBalanceQuery:
      return read_body<domain::BalanceQuery>(out, h, [&](auto& r) { return read_balance(f, r); });
    case Type::kHistoryQuery:
      return read_body<domain::HistoryQuery>(out, h, [&](auto& r) { return read_history(f, r); });
    case Type::kPointsAdjust:
      return read_body<domain::PointsAdjust>(out, h, [&](auto& r) { return read_adjust(f, r); });
    case Type::kPointsTransfer:
      return read_body<domain::PointsTransfer>(out, h,
                                               [&](auto& r) { return read_transfer(f, r); });
    case Type::kPluginInfo:
      return read_body<domain::PluginInfo>(out, h, [](auto&) { return true; });
  }
  return false;
}

Result<ParsedRequest> parse(std::string_view text, const std::string& default_branch, std::string* request_id) {
  if (const auto bad = find_bad_byte(text)) {
    return json_error(bad->kind == BadByte::Kind::kNul
                          ? "a NUL byte at byte offset " + std::to_string(bad->offset)
                          : "invalid UTF-8 at byte offset " + std::to_string(bad->offset));
  }

  RequestArena arena;  // before the tree: it must outlive every node
  json doc;
  DomBuilder builder(doc);
  if (!json::sax_parse(text.data(), text.data() + text.size(), &builder)) {
    switch (builder.failure()) {
      case DomBuilder::Failure::kTooDeep:
        return json_error("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      case DomBuilder::Failure::kDuplicateKey:
        return event_error(builder.detail(), "appears twice in the same object");
      case DomBuilder::Failure::kEscapedNul:
        return event_error(builder.detail(), "must not contain NUL (\\u0000)");
      case DomBuilder::Failure::kSyntax:
      case DomBuilder::Failure::kNone:
        break;
    }
    return json_error("not valid JSON: " +
                      (builder.detail().empty() ? std::string("parse error") : builder.detail()));
  }
  if (!doc.is_object()) {
    return event_error("", std::string("a request is a JSON object, not ") + type_name(doc));
  }

  if (request_id != nullptr) {  // for the error response, whatever else is wrong
    Error ignored;
    Fields peek(doc.get_ref<const json::object_t&>(), ignored);
    if (std::string id; peek.identifier("id", Need::kOptional, id)) *request_id = std::move(id);
  }
  Error err;
  Fields f(doc.get_ref<const json::object_t&>(), err);
  domain::RequestHeader h;
  if (!f.text("type", Need::kRequired, 64, h.type)) return err;
  const auto known =
      std::find_if(kTypes.begin(), kTypes.end(), [&](const auto& t) { return t.first == h.type; });
  if (known == kTypes.end()) return unknown_type(h.type);

  std::optional<BusinessTime> at;
  if (!f.identifier("id", Need::kRequired, h.id) || !f.time("at", Need::kRequired, at) ||
      !f.identifier("branch", Need::kOptional, h.branch) ||
      !f.text("terminal", Need::kOptional, kMaxNameChars, h.terminal)) {
    return err;
  }
  h.at = *at;
  if (h.branch.empty()) h.branch = default_branch;

  ParsedRequest parsed;
  if (!read_request(f, err, known->second, h, parsed.request) || !f.no_unknown_fields()) {
    return err;
  }

  // Hash what the POS sent (before defaults), so a stored fingerprint does not depend on
  // the configuration of the day.
  std::string canonical;
  canonical.reserve(text.size());
  append_canonical(doc, canonical);
  parsed.body_hash = sha256_hex(canonical);
  if (parsed.body_hash.empty()) {
    return domain::make_error(ErrorCode::kInternal, "", "SHA-256 is not available");
  }
  return parsed;
}

}  // namespace

Result<ParsedRequest> parse_request(std::string_view json_text, const std::string& default_branch,
                                    std::string* request_id) {
  try {
    return parse(json_text, default_branch, request_id);
  } catch (const std::bad_alloc&) {
    return domain::make_error(ErrorCode::kUnavailable, "",
                              "out of memory while reading the request");
  } catch (const std::exception& e) {
    return domain::make_error(ErrorCode::kInternal, "",
                              std::string("reading the request: ") + e.what());
  } catch (...) {
    return domain::make_error(ErrorCode::kInternal, "", "reading the request failed");
  }
}

}  // namespace loyalty::protocol
