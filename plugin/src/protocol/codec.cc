#include "protocol/codec.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace loyalty::protocol {

using domain::Error;
using domain::ErrorCode;
using domain::Money;
using domain::Result;
using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxIdChars = 128;

Error event_error(const std::string& field, const std::string& message) {
  return domain::make_error(ErrorCode::kInvalidEvent, field, message);
}

// Checks UTF-8 and rejects NUL bytes; returns the offset of the first bad byte or npos.
size_t bad_utf8_offset(std::string_view s, bool& is_nul) {
  is_nul = false;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c == 0) {
      is_nul = true;
      return i;
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// Nesting depth outside strings, so that a hostile document never reaches the parser.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a fractional number";
    default: return "a number";
  }
}

// Reads the fields of one JSON object, remembering which were used so that anything left
// over is reported as an unknown field.
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  const json* find(const char* key) {
    used_.insert(key);
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  Result<std::string> str(const char* key, bool required, size_t max_len = 4096) {
    const json* v = find(key);
    if (v == nullptr) {
      if (required) return event_error(path(key), "required field is missing");
      return std::string();
    }
    if (!v->is_string()) return event_error(path(key), std::string("must be a string, not ") + type_name(*v));
    const auto& s = v->get_ref<const std::string&>();
    if (required && s.empty()) return event_error(path(key), "must not be empty");
    if (s.size() > max_len) {
      return event_error(path(key), "is longer than " + std::to_string(max_len) + " characters");
    }
    return s;
  }

  Result<std::optional<std::string>> opt_str(const char* key) {
    const json* v = find(key);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) return event_error(path(key), std::string("must be a string, not ") + type_name(*v));
    return std::optional<std::string>(v->get<std::string>());
  }

  // A customer reference such as "card:4000123".
  Result<std::string> ref(const char* key, bool required) {
    auto s = str(key, required, kMaxIdChars);
    if (!s) return s;
    for (unsigned char c : *s) {
      if (c < 0x20 || c == 0x7F) return event_error(path(key), "must not contain control characters");
    }
    return s;
  }

  // A decimal string; `positive` also refuses zero.
  template <class T>
  Result<std::optional<T>> decimal(const char* key, bool required, bool positive = false) {
    const json* v = find(key);
    if (v == nullptr) {
      if (required) return event_error(path(key), "required field is missing");
      return std::optional<T>();
    }
    if (v->is_number()) {
      return event_error(path(key), "amounts and quantities are decimal strings such as \"90.00\", not JSON numbers");
    }
    if (!v->is_string()) return event_error(path(key), std::string("must be a decimal string, not ") + type_name(*v));
    auto parsed = T::parse(v->get_ref<const std::string&>());
    if (!parsed) {
      return event_error(path(key), "\"" + v->get<std::string>() + "\" is not a decimal: " + parsed.error().message);
    }
    if (parsed->is_negative()) {
      return event_error(path(key), "must be zero or positive (goods coming back are a refund.completed)");
    }
    if (positive && parsed->is_zero()) return event_error(path(key), "must be greater than zero");
    return std::optional<T>(*parsed);
  }

  Result<std::optional<int64_t>> integer(const char* key, bool required) {
    const json* v = find(key);
    if (v == nullptr) {
      if (required) return event_error(path(key), "required field is missing");
      return std::optional<int64_t>();
    }
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX / 4)) {
        return event_error(path(key), "is too large");
      }
      const int64_t x = v->get<int64_t>();
      if (x > INT64_MAX / 4 || x < -(INT64_MAX / 4)) return event_error(path(key), "is too large");
      return std::optional<int64_t>(x);
    }
    return event_error(path(key), std::string("must be an integer, not ") + type_name(*v));
  }

  Result<std::optional<domain::BusinessTime>> time(const char* key, bool required) {
    auto s = str(key, required, 64);
    if (!s) return s.error();
    if (s->empty()) return std::optional<domain::BusinessTime>();
    auto t = domain::parse_rfc3339(*s);
    if (!t) return event_error(path(key), "\"" + *s + "\" is not an RFC 3339 time with offset: " + t.error().message);
    return std::optional<domain::BusinessTime>(*t);
  }

  const json* array(const char* key, bool required, Error& err) {
    const json* v = find(key);
    if (v == nullptr) {
      if (required) err = event_error(path(key), "required field is missing");
      return nullptr;
    }
    if (!v->is_array()) {
      err = event_error(path(key), std::string("must be an array, not ") + type_name(*v));
      return nullptr;
    }
    return v;
  }

  // The first key that no reader asked for.
  std::optional<Error> unknown() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!used_.count(it.key())) return event_error(path(it.key().c_str()), "unknown field");
    }
    return std::nullopt;
  }

 private:
  const json& obj_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

#define TRY_ASSIGN(lhs, expr)         \
  do {                                \
    auto _r = (expr);                 \
    if (!_r) return _r.error();       \
    lhs = std::move(*_r);             \
  } while (0)

Result<std::vector<domain::Tender>> tenders_of(Fields& f) {
  std::vector<domain::Tender> out;
  Error err;
  const json* arr = f.array("tenders", false, err);
  if (!arr && !err.message.empty()) return err;
  if (!arr) return out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string p = "tenders[" + std::to_string(i) + "]";
    const json& t = (*arr)[i];
    if (!t.is_object()) return event_error(p, "must be an object");
    Fields tf(t, p);
    domain::Tender tender;
    TRY_ASSIGN(tender.method, tf.str("method", true, 64));
    std::optional<Money> amount, change;
    TRY_ASSIGN(amount, tf.decimal<Money>("amount", true));
    TRY_ASSIGN(change, tf.decimal<Money>("change", false));
    tender.amount = *amount;
    tender.change = change.value_or(Money{});
    if (tender.change > tender.amount) return event_error(p + ".change", "change is larger than the amount");
    TRY_ASSIGN(tender.hold, tf.str("hold", false, kMaxIdChars));
    if (auto u = tf.unknown()) return *u;
    out.push_back(std::move(tender));
  }
  return out;
}

Result<domain::Request> sale_of(Fields& f, domain::RequestHeader h) {
  domain::SaleCompleted s;
  s.h = std::move(h);
  TRY_ASSIGN(s.ticket, f.str("ticket", true, kMaxIdChars));
  TRY_ASSIGN(s.currency, f.str("currency", false, 8));
  TRY_ASSIGN(s.customer, f.ref("customer", false));
  Error err;
  const json* lines = f.array("lines", true, err);
  if (!lines) return err;
  for (size_t i = 0; i < lines->size(); ++i) {
    const std::string p = "lines[" + std::to_string(i) + "]";
    const json& l = (*lines)[i];
    if (!l.is_object()) return event_error(p, "must be an object");
    Fields lf(l, p);
    domain::SaleLine line;
    std::optional<int64_t> n;
    TRY_ASSIGN(n, lf.integer("n", false));
    if (n && *n < 0) return event_error(p + ".n", "must be zero or positive");
    line.n = n.value_or(static_cast<int64_t>(i + 1));
    for (const auto& other : s.lines) {
      if (other.n == line.n) return event_error(p + ".n", "line number " + std::to_string(line.n) + " appears twice");
    }
    TRY_ASSIGN(line.sku, lf.str("sku", false, 128));
    TRY_ASSIGN(line.category, lf.str("category", false, 128));
    std::optional<domain::Quantity> qty;
    std::optional<Money> amount;
    TRY_ASSIGN(qty, lf.decimal<domain::Quantity>("qty", false));
    TRY_ASSIGN(amount, lf.decimal<Money>("amount", true));
    line.qty = qty.value_or(domain::Quantity::from_units(1));
    line.amount = *amount;
    if (auto u = lf.unknown()) return *u;
    s.lines.push_back(std::move(line));
  }
  TRY_ASSIGN(s.tenders, tenders_of(f));
  return domain::Request{std::move(s)};
}

Result<domain::Request> refund_of(Fields& f, domain::RequestHeader h) {
  domain::RefundCompleted r;
  r.h = std::move(h);
  TRY_ASSIGN(r.ticket, f.str("ticket", true, kMaxIdChars));
  TRY_ASSIGN(r.original_ticket, f.str("original_ticket", false, kMaxIdChars));
  TRY_ASSIGN(r.original_branch, f.str("original_branch", false, kMaxIdChars));
  TRY_ASSIGN(r.customer, f.ref("customer", false));
  TRY_ASSIGN(r.currency, f.str("currency", false, 8));
  Error err;
  const json* lines = f.array("lines", true, err);
  if (!lines) return err;
  for (size_t i = 0; i < lines->size(); ++i) {
    const std::string p = "lines[" + std::to_string(i) + "]";
    const json& l = (*lines)[i];
    if (!l.is_object()) return event_error(p, "must be an object");
    Fields lf(l, p);
    domain::RefundLine line;
    TRY_ASSIGN(line.n, lf.integer("n", false));
    if (line.n && *line.n < 0) return event_error(p + ".n", "must be zero or positive");
    TRY_ASSIGN(line.sku, lf.str("sku", false, 128));
    TRY_ASSIGN(line.category, lf.str("category", false, 128));
    TRY_ASSIGN(line.qty, lf.decimal<domain::Quantity>("qty", false));
    TRY_ASSIGN(line.amount, lf.decimal<Money>("amount", false));
    if (!line.qty && !line.amount) return event_error(p + ".amount", "a refund line needs an amount or a qty");
    if (auto u = lf.unknown()) return *u;
    r.lines.push_back(std::move(line));
  }
  TRY_ASSIGN(r.tenders, tenders_of(f));
  return domain::Request{std::move(r)};
}

bool valid_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  return domain::parse_rfc3339(d + "T00:00:00Z").ok();
}

Result<domain::Request> body_of(const std::string& type, Fields& f, domain::RequestHeader h) {
  if (type == "sale.completed") return sale_of(f, std::move(h));
  if (type == "refund.completed") return refund_of(f, std::move(h));
  if (type == "points.authorize") {
    domain::PointsAuthorize r;
    r.h = std::move(h);
    TRY_ASSIGN(r.customer, f.ref("customer", true));
    TRY_ASSIGN(r.ticket, f.str("ticket", false, kMaxIdChars));
    std::optional<Money> amount;
    TRY_ASSIGN(amount, f.decimal<Money>("amount", true, true));
    r.amount = *amount;
    return domain::Request{std::move(r)};
  }
  if (type == "points.release") {
    domain::PointsRelease r;
    r.h = std::move(h);
    TRY_ASSIGN(r.hold, f.str("hold", false, kMaxIdChars));
    TRY_ASSIGN(r.ticket, f.str("ticket", false, kMaxIdChars));
    if (r.hold.empty() && r.ticket.empty()) return event_error("hold", "name the hold or the ticket to release");
    return domain::Request{std::move(r)};
  }
  if (type == "sale.voided") {
    domain::SaleVoided r;
    r.h = std::move(h);
    TRY_ASSIGN(r.ticket, f.str("ticket", true, kMaxIdChars));
    return domain::Request{std::move(r)};
  }
  if (type == "customer.upsert") {
    domain::CustomerUpsert r;
    r.h = std::move(h);
    TRY_ASSIGN(r.customer, f.ref("customer", true));
    TRY_ASSIGN(r.name, f.opt_str("name"));
    TRY_ASSIGN(r.email, f.opt_str("email"));
    TRY_ASSIGN(r.phone, f.opt_str("phone"));
    TRY_ASSIGN(r.birthday, f.opt_str("birthday"));
    if (r.birthday && !valid_date(*r.birthday)) {
      return event_error(f.path("birthday"), "must be a date like 1990-05-17");
    }
    TRY_ASSIGN(r.category, f.opt_str("category"));
    Error err;
    if (const json* a = f.array("aliases", false, err)) {
      for (size_t i = 0; i < a->size(); ++i) {
        const std::string p = "aliases[" + std::to_string(i) + "]";
        const json& v = (*a)[i];
        if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
            v.get_ref<const std::string&>().size() > kMaxIdChars) {
          return event_error(p, "must be a non-empty customer reference string");
        }
        r.aliases.push_back(v.get<std::string>());
      }
    } else if (!err.message.empty()) {
      return err;
    }
    return domain::Request{std::move(r)};
  }
  if (type == "balance.query") {
    domain::BalanceQuery r;
    r.h = std::move(h);
    TRY_ASSIGN(r.customer, f.ref("customer", true));
    return domain::Request{std::move(r)};
  }
  if (type == "history.query") {
    domain::HistoryQuery r;
    r.h = std::move(h);
    TRY_ASSIGN(r.customer, f.ref("customer", true));
    TRY_ASSIGN(r.from, f.time("from", false));
    TRY_ASSIGN(r.to, f.time("to", false));
    std::optional<int64_t> limit;
    TRY_ASSIGN(limit, f.integer("limit", false));
    if (limit && (*limit < 1 || *limit > 10000)) return event_error("limit", "must be between 1 and 10000");
    r.limit = limit.value_or(1000);
    return domain::Request{std::move(r)};
  }
  if (type == "points.adjust") {
    domain::PointsAdjust r;
    r.h = std::move(h);
    TRY_ASSIGN(r.customer, f.ref("customer", true));
    std::optional<int64_t> points;
    TRY_ASSIGN(points, f.integer("points", true));
    if (*points == 0) return event_error("points", "must not be zero");
    r.points = domain::Points(*points);
    TRY_ASSIGN(r.reason, f.str("reason", true, 512));
    TRY_ASSIGN(r.operator_name, f.str("operator", false, 128));
    return domain::Request{std::move(r)};
  }
  if (type == "points.transfer") {
    domain::PointsTransfer r;
    r.h = std::move(h);
    TRY_ASSIGN(r.from, f.ref("from", true));
    TRY_ASSIGN(r.to, f.ref("to", true));
    std::optional<int64_t> points;
    TRY_ASSIGN(points, f.integer("points", true));
    if (*points <= 0) return event_error("points", "must be greater than zero");
    r.points = domain::Points(*points);
    TRY_ASSIGN(r.reason, f.str("reason", false, 512));
    return domain::Request{std::move(r)};
  }
  if (type == "plugin.info") {
    domain::PluginInfo r;
    r.h = std::move(h);
    return domain::Request{std::move(r)};
  }
  return domain::make_error(ErrorCode::kUnknownType, "type",
                            "unknown request type \"" + type +
                                "\"; known: sale.completed, points.authorize, points.release, sale.voided, "
                                "refund.completed, customer.upsert, balance.query, history.query, "
                                "points.adjust, points.transfer, plugin.info");
}

// ---- responses ----------------------------------------------------------------------

ojson points_list(const std::vector<domain::ExpiringPoints>& xs) {
  ojson a = ojson::array();
  for (const auto& x : xs) {
    a.push_back({{"points", x.points.value()},
                 {"expires_at", domain::format_rfc3339(x.expires_at)},
                 {"date", domain::format_date(x.expires_at)}});
  }
  return a;
}

std::string money(const Money& m) { return m.str_trimmed(2); }

const char* reason_word(domain::ZeroEarnReason r) {
  switch (r) {
    case domain::ZeroEarnReason::kNoCustomer: return "no_customer";
    case domain::ZeroEarnReason::kExcludedMethod: return "excluded_method";
    case domain::ZeroEarnReason::kExcludedProduct: return "excluded_product";
    case domain::ZeroEarnReason::kPaidWithPoints: return "paid_with_points";
    case domain::ZeroEarnReason::kRoundedToZero: return "rounded_to_zero";
  }
  return "unknown";
}

struct Encoder {
  ojson& j;
  void operator()(const domain::SaleResponse& r) {
    j["customer"] = r.customer;
    j["account"] = r.account;
    j["earned"] = r.earned.value();
    j["redeemed"] = r.redeemed.value();
    j["balance"] = r.balance.value();
    j["balance_value"] = money(r.balance_value);
    j["available"] = r.available.value();
    j["expiring"] = points_list(r.expiring);
    ojson notes = ojson::array();
    for (const auto& n : r.notes) notes.push_back({{"reason", reason_word(n.reason)}, {"detail", n.detail}});
    j["notes"] = std::move(notes);
    j["warnings"] = r.warnings;
    j["receipt"] = r.receipt;
    j["program_version"] = r.program_version;
  }
  void operator()(const domain::AuthorizeResponse& r) {
    j["hold"] = r.hold;
    j["points"] = r.points.value();
    j["amount"] = money(r.amount);
    j["expires_at"] = domain::format_rfc3339(r.expires_at);
    j["available"] = r.available.value();
  }
  void operator()(const domain::ReleaseResponse& r) {
    j["released"] = r.released;
    j["points"] = r.points.value();
  }
  void operator()(const domain::VoidResponse& r) {
    j["ticket"] = r.ticket;
    j["released"] = r.released;
    j["reversed_sale"] = r.reversed_sale;
    j["clawed_back"] = r.clawed_back.value();
    j["restored"] = r.restored.value();
    if (r.balance) j["balance"] = r.balance->value();
  }
  void operator()(const domain::RefundResponse& r) {
    j["customer"] = r.customer;
    j["account"] = r.account;
    j["matched"] = r.matched;
    j["clawed_back"] = r.clawed_back.value();
    j["restored"] = r.restored.value();
    j["balance"] = r.balance.value();
    j["balance_value"] = money(r.balance_value);
    j["available"] = r.available.value();
    j["expiring"] = points_list(r.expiring);
    j["warnings"] = r.warnings;
    j["receipt"] = r.receipt;
  }
  void operator()(const domain::CustomerResponse& r) {
    j["customer"] = r.customer;
    j["account"] = r.account;
    j["created"] = r.created;
    j["aliases"] = r.aliases;
    j["category"] = r.category;
    j["balance"] = r.balance.value();
  }
  void operator()(const domain::BalanceResponse& r) {
    j["customer"] = r.customer;
    j["account"] = r.account;
    j["balance"] = r.balance.value();
    j["available"] = r.available.value();
    j["balance_value"] = money(r.balance_value);
    j["category"] = r.category;
    j["expiring"] = points_list(r.expiring);
  }
  void operator()(const domain::HistoryResponse& r) {
    j["customer"] = r.customer;
    j["account"] = r.account;
    ojson entries = ojson::array();
    for (const auto& e : r.entries) {
      entries.push_back({{"id", e.entry_id},
                         {"kind", e.kind},
                         {"points", e.points.value()},
                         {"branch", e.branch},
                         {"ticket", e.ticket},
                         {"at", domain::format_rfc3339(e.at)},
                         {"expires_at", e.expires_at ? ojson(domain::format_rfc3339(*e.expires_at)) : ojson()},
                         {"reason", e.reason}});
    }
    j["entries"] = std::move(entries);
    j["truncated"] = r.truncated;
  }
  void operator()(const domain::AdjustResponse& r) {
    j["customer"] = r.customer;
    j["points"] = r.points.value();
    j["balance"] = r.balance.value();
  }
  void operator()(const domain::TransferResponse& r) {
    j["from"] = r.from;
    j["to"] = r.to;
    j["points"] = r.points.value();
    j["from_balance"] = r.from_balance.value();
    j["to_balance"] = r.to_balance.value();
  }
  void operator()(const domain::InfoResponse& r) {
    j["abi_version"] = r.abi_version;
    j["version"] = r.version;
    j["branch"] = r.branch;
    j["program_version"] = r.program_version;
    j["schema_version"] = r.schema_version;
    j["currency"] = r.currency;
  }
};

template <class J>
std::string dump(const J& j) {
  return j.dump(-1, ' ', false, J::error_handler_t::replace);
}

}  // namespace

Result<ParsedRequest> parse_request(std::string_view text, const std::string& default_branch) {
  bool is_nul = false;
  if (size_t off = bad_utf8_offset(text, is_nul); off != std::string_view::npos) {
    return domain::make_error(ErrorCode::kInvalidJson, "",
                              is_nul ? "a NUL byte at offset " + std::to_string(off)
                                     : "invalid UTF-8 at byte offset " + std::to_string(off));
  }
  if (too_deep(text)) {
    return domain::make_error(ErrorCode::kInvalidJson, "",
                              "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    // Parse again with exceptions only to get the position for the message.
    std::string why = "not valid JSON";
    try {
      [[maybe_unused]] json again = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
      why = e.what();
    }
    return domain::make_error(ErrorCode::kInvalidJson, "", why);
  }
  if (!doc.is_object()) return event_error("", "a request is a JSON object");

  Fields f(doc, "");
  domain::RequestHeader h;
  TRY_ASSIGN(h.type, f.str("type", true, 64));
  TRY_ASSIGN(h.id, f.str("id", true, kMaxIdChars));
  std::optional<domain::BusinessTime> at;
  TRY_ASSIGN(at, f.time("at", true));
  h.at = *at;
  TRY_ASSIGN(h.branch, f.str("branch", false, 64));
  if (h.branch.empty()) h.branch = default_branch;
  TRY_ASSIGN(h.terminal, f.str("terminal", false, 64));

  const std::string type = h.type;
  auto req = body_of(type, f, std::move(h));
  if (!req) return req.error();
  if (auto u = f.unknown()) return *u;
  return ParsedRequest{std::move(*req), sha256_hex(dump(doc))};
}

std::string encode_response(const domain::RequestHeader& header, const domain::Response& r) {
  try {
    ojson j = ojson::object();
    j["ok"] = true;
    j["type"] = header.type;
    j["id"] = header.id;
    j["branch"] = header.branch;
    std::visit(Encoder{j}, r);
    return dump(j);
  } catch (...) {
    return R"({"ok":false,"error":{"code":"internal","field":"","message":"could not encode the response"}})";
  }
}

std::string encode_error(const domain::Error& error, std::string_view request_id) {
  try {
    ojson j = ojson::object();
    j["ok"] = false;
    if (!request_id.empty()) j["id"] = std::string(request_id);
    j["error"] = {{"code", std::string(domain::error_code_word(error.code))},
                  {"field", error.field},
                  {"message", error.message}};
    return dump(j);
  } catch (...) {
    return R"({"ok":false,"error":{"code":"internal","field":"","message":"could not encode the error"}})";
  }
}

}  // namespace loyalty::protocol
