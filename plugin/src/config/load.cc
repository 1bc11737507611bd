#include "config/load.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <new>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "config/program_document.h"
#include "domain/ascii.h"
#include "domain/promotions.h"
#include "receipt/receipt.h"

namespace loyalty::config {

using domain::ErrorCode;
using domain::Percent;
using domain::Result;
using domain::Status;

namespace fs = std::filesystem;

namespace {

// Returns the error of a failed Status/Result from the enclosing function.
#define LOYALTY_CONFIG_TRY(expr)      \
  do {                                \
    auto loyalty_status_ = (expr);    \
    if (!loyalty_status_) {           \
      return loyalty_status_.error(); \
    }                                 \
  } while (0)

constexpr int64_t kMaxPercentUnits = 1000;

domain::Error config_error(std::string field, std::string message) {
  return domain::make_error(ErrorCode::kInvalidConfig, std::move(field), std::move(message));
}

// " (line 12)" when the position is known.
std::string at_line(const toml::source_region& where) {
  if (where.begin.line == 0) return "";
  return " (line " + std::to_string(where.begin.line) + ")";
}
std::string at_line(const toml::node& n) { return at_line(n.source()); }
std::string at_line(const toml::node* n) { return n ? at_line(n->source()) : ""; }

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// "must be a string, not an integer (line 4)".
domain::Error wrong_type(const std::string& field, std::string_view wanted, const toml::node& n) {
  return config_error(
      field, "must be " + std::string(wanted) + ", not " + std::string(type_name(n)) + at_line(n));
}

// Levenshtein distance, for "did you mean" hints on typos.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b <= 0x20 || b == 0x7F;
  });
}

bool trimmed(std::string_view s) {
  return !s.empty() && s.front() != ' ' && s.back() != ' ' && s.front() != '\t' && s.back() != '\t';
}

enum class Empty { kAllowed = 1, kRefused = 2 };

// One TOML table and its dotted prefix. Readers leave `out` untouched when the key is
// absent, so the caller's default stands.
class Section {
 public:
  Section(const toml::table* table, std::string prefix)
      : table_(table), prefix_(std::move(prefix)) {}

  std::string field(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  const toml::node* find(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }

  // Refuses any key not in `allowed`: a typo must never fall back to a default.
  Status only(std::initializer_list<std::string_view> allowed) const {
    if (!table_) return domain::ok_status();
    for (const auto& [key, value] : *table_) {
      const std::string_view k = key.str();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string hint;
      for (std::string_view a : allowed) {
        const size_t d = edit_distance(k, a);
        if (d <= 2 && 2 * d < a.size()) {  // close, and not just because both are short
          hint = "; did you mean " + in_quotes(a) + "?";
          break;
        }
      }
      if (hint.empty()) {
        hint = "; " + (prefix_.empty() ? std::string("the file") : "[" + prefix_ + "]") + " takes:";
        for (std::string_view a : allowed) hint += " " + std::string(a);
      }
      const toml::source_region& where = key.source().begin ? key.source() : value.source();
      return config_error(field(k), "unknown key" + at_line(where) + hint);
    }
    return domain::ok_status();
  }

  Status string(std::string_view key, std::string& out, Empty empty) const {
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    if (!n->is_string()) return wrong_type(field(key), "a string", *n);
    const std::string& v = n->as_string()->get();
    if (empty == Empty::kRefused && v.empty()) {
      return config_error(field(key), "must not be empty" + at_line(*n));
    }
    out = v;
    return domain::ok_status();
  }

  Status integer(std::string_view key, int64_t& out, int64_t min, int64_t max) const {
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    if (!n->is_integer()) return wrong_type(field(key), "an integer", *n);
    const int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      return config_error(field(key), "must be between " + std::to_string(min) + " and " +
                                          std::to_string(max) + ", not " + std::to_string(v) +
                                          at_line(*n));
    }
    out = v;
    return domain::ok_status();
  }

  Status boolean(std::string_view key, bool& out) const {
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    if (!n->is_boolean()) return wrong_type(field(key), "true or false", *n);
    out = n->as_boolean()->get();
    return domain::ok_status();
  }

  // One of a few words ("block" or "earn_on_remainder").
  template <class E>
  Status word(std::string_view key, std::initializer_list<std::pair<std::string_view, E>> words,
              E& out) const {
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    std::string list;
    for (size_t i = 0; i < words.size(); ++i) {
      list += (i == 0                  ? ""
               : i + 1 == words.size() ? " or "
                                       : ", ") +
              in_quotes(words.begin()[i].first);
    }
    if (!n->is_string()) return wrong_type(field(key), list, *n);
    const std::string& v = n->as_string()->get();
    for (const auto& [w, e] : words) {
      if (w == v) {
        out = e;
        return domain::ok_status();
      }
    }
    return config_error(field(key), "must be " + list + ", not " + in_quotes(v) + at_line(*n));
  }

  // A list of strings; item errors name the item ("receipt.sale_template[2]").
  Status strings(std::string_view key, std::vector<std::string>& out, Empty empty_items,
                 Empty empty_list) const {
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    if (!n->is_array()) return wrong_type(field(key), "an array of strings", *n);
    const toml::array& items = *n->as_array();
    if (empty_list == Empty::kRefused && items.empty()) {
      return config_error(
          field(key), "must not be an empty array; remove the key for the default" + at_line(*n));
    }
    std::vector<std::string> v;
    for (size_t i = 0; i < items.size(); ++i) {
      const toml::node& item = *items.get(i);
      const std::string item_field = field(key) + "[" + std::to_string(i) + "]";
      if (!item.is_string()) return wrong_type(item_field, "a string", item);
      const std::string& s = item.as_string()->get();
      if (empty_items == Empty::kRefused && s.empty()) {
        return config_error(item_field, "must not be empty" + at_line(item));
      }
      v.push_back(s);
    }
    out = std::move(v);
    return domain::ok_status();
  }

  // A set of names (tender methods): no empty names, no stray spaces, no duplicates.
  Status names(std::string_view key, std::set<std::string>& out) const {
    std::vector<std::string> list;
    const toml::node* n = find(key);
    if (!n) return domain::ok_status();
    LOYALTY_CONFIG_TRY(strings(key, list, Empty::kRefused, Empty::kAllowed));
    std::set<std::string> v;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item_field = field(key) + "[" + std::to_string(i) + "]";
      const toml::node& item = *n->as_array()->get(i);
      if (!trimmed(list[i])) {
        return config_error(item_field,
                            in_quotes(list[i]) + " has leading or trailing spaces" + at_line(item));
      }
      if (!v.insert(list[i]).second) {
        return config_error(item_field, in_quotes(list[i]) + " is listed twice" + at_line(item));
      }
    }
    out = std::move(v);
    return domain::ok_status();
  }

  // A sub-table, or nullptr when absent.
  Result<const toml::table*> table(std::string_view key) const {
    const toml::node* n = find(key);
    if (!n) return static_cast<const toml::table*>(nullptr);
    if (!n->is_table()) return wrong_type(field(key), "a table", *n);
    return n->as_table();
  }

  const toml::table* raw() const { return table_; }
  const std::string& prefix() const { return prefix_; }

 private:
  const toml::table* table_;
  std::string prefix_;
};

// A decimal written as a string ("0.10"). TOML floats are refused with a hint to quote
// them: no binary floating point ever touches an amount. Integers are refused the same
// way, so every amount and percent in the file looks alike.
template <class T>
Status decimal_value(const std::string& field, const toml::node& n, T& out) {
  if (const auto* f = n.as_floating_point()) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, f->get());
    const std::string shown = r.ec == std::errc() ? std::string(buf, r.ptr) : "0.10";
    return config_error(field, "must be a decimal string: write " + in_quotes(shown) +
                                   " with quotes (TOML floats are binary and never used for "
                                   "amounts)" +
                                   at_line(n));
  }
  if (const auto* i = n.as_integer()) {
    return config_error(field, "must be a decimal string: write " +
                                   in_quotes(std::to_string(i->get())) + " with quotes" +
                                   at_line(n));
  }
  if (!n.is_string()) return wrong_type(field, "a decimal string such as \"0.10\"", n);
  auto parsed = T::parse(n.as_string()->get());
  if (!parsed) {
    return config_error(
        field, "must be a decimal string such as \"0.10\": " + parsed.error().message + at_line(n));
  }
  out = *parsed;
  return domain::ok_status();
}

Status percent_value(const std::string& field, const toml::node& n, Percent& out) {
  LOYALTY_CONFIG_TRY(decimal_value(field, n, out));
  if (out.is_negative() || out > Percent::from_units(kMaxPercentUnits)) {
    return config_error(field, "must be a percent between \"0\" and \"" +
                                   std::to_string(kMaxPercentUnits) + "\", not " +
                                   in_quotes(out.str_trimmed()) + at_line(n));
  }
  return domain::ok_status();
}

// [program.categories], [program.overrides.sku], [program.overrides.category]: any name
// maps to a percent.
Status percent_map(const Section& s, std::map<std::string, Percent>& out) {
  if (!s.raw()) return domain::ok_status();
  std::map<std::string, Percent> v;
  for (const auto& [key, value] : *s.raw()) {
    const std::string name(key.str());
    const std::string field = s.field(name);
    if (!trimmed(name)) {
      return config_error(
          field, "a name must not be empty or have leading or trailing spaces" + at_line(value));
    }
    Percent p;
    LOYALTY_CONFIG_TRY(percent_value(field, value, p));
    v[name] = p;
  }
  out = std::move(v);
  return domain::ok_status();
}

// A path from the file, made absolute against the file's directory.
std::string resolve(const std::string& path, const fs::path& base) {
  fs::path p(path);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

// Checks a hub address: wss://host[:port]/path, or ws:// to a loopback host only (a test
// hub on this machine). Credentials never go in the URL: they live in token_file.
Status check_sync_url(const std::string& url, const toml::node& n) {
  const std::string field = "sync.url";
  std::string_view rest = url;
  bool tls = false;
  if (rest.rfind("wss://", 0) == 0) {
    tls = true;
    rest.remove_prefix(6);
  } else if (rest.rfind("ws://", 0) == 0) {
    rest.remove_prefix(5);
  } else {
    return config_error(field, "must start with wss:// (or ws:// for a hub on this machine), not " +
                                   in_quotes(url) + at_line(n));
  }
  // A URL has no spaces (one pasted with a comment after it connected to nowhere, forever),
  // and a #fragment never reaches the hub.
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= ' ' || c == 0x7F; })) {
    return config_error(field, "must not contain spaces or control characters: " + in_quotes(url) + at_line(n));
  }
  if (url.find('#') != std::string::npos) {
    return config_error(field, "must not have a #fragment (it is never sent to the hub): " + in_quotes(url) +
                                   at_line(n));
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return config_error(
        field, "must not carry credentials; put the token in sync.token_file" + at_line(n));
  }
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) {
      return config_error(field, "has an unclosed '[' in its host" + at_line(n));
    }
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') {
      return config_error(field, "has text after the IPv6 host" + at_line(n));
    }
  } else if (const size_t colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty()) return config_error(field, "has no host" + at_line(n));
  if (!port.empty()) {
    port.remove_prefix(1);
    int value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return config_error(field, "has an invalid port " + in_quotes(port) + at_line(n));
    }
  }
  const bool loopback = host == "127.0.0.1" || domain::ascii_iequals(host, "localhost") || host == "[::1]";
  if (!tls && !loopback) {
    return config_error(field,
                        "ws:// (no TLS) is only allowed to 127.0.0.1, localhost or [::1]; "
                        "use wss:// for " +
                            in_quotes(host) + at_line(n));
  }
  return domain::ok_status();
}

// ---- the sections ---------------------------------------------------------------------------

Status read_plugin(const Section& s, const fs::path& base, Settings& out, std::string& locale) {
  LOYALTY_CONFIG_TRY(s.only({"branch", "db", "locale", "synchronous", "busy_timeout_ms", "log",
                             "log_level", "max_request_bytes", "quarantine_max_rows", "commit_hold_ms"}));
  const toml::node* branch = s.find("branch");
  if (!branch) {
    return config_error("plugin.branch",
                        "is required: this branch's id, e.g. [plugin] branch = \"B01\"");
  }
  LOYALTY_CONFIG_TRY(s.string("branch", out.branch, Empty::kRefused));
  if (has_space_or_control(out.branch)) {
    return config_error("plugin.branch",
                        "must not contain spaces or control characters" + at_line(*branch));
  }
  std::string db = "ledger.db";
  LOYALTY_CONFIG_TRY(s.string("db", db, Empty::kRefused));
  out.db_path = resolve(db, base);
  LOYALTY_CONFIG_TRY(s.word<std::string>("locale", {{"es", "es"}, {"en", "en"}}, locale));
  LOYALTY_CONFIG_TRY(s.word<Synchronous>("synchronous",
                                         {{"off", Synchronous::kOff},
                                          {"normal", Synchronous::kNormal},
                                          {"full", Synchronous::kFull},
                                          {"extra", Synchronous::kExtra}},
                                         out.synchronous));
  LOYALTY_CONFIG_TRY(s.integer("busy_timeout_ms", out.busy_timeout_ms, 0, 600'000));
  LOYALTY_CONFIG_TRY(s.integer("commit_hold_ms", out.commit_hold_ms, 0, 1000));
  std::string log;
  LOYALTY_CONFIG_TRY(s.string("log", log, Empty::kRefused));
  if (!log.empty()) out.log_path = resolve(log, base);
  LOYALTY_CONFIG_TRY(s.word<std::string>("log_level",
                                         {{"trace", "trace"},
                                          {"debug", "debug"},
                                          {"info", "info"},
                                          {"warn", "warn"},
                                          {"error", "error"},
                                          {"critical", "critical"},
                                          {"off", "off"}},
                                         out.log_level));
  LOYALTY_CONFIG_TRY(s.integer("max_request_bytes", out.max_request_bytes, 1024, int64_t{1} << 30));
  LOYALTY_CONFIG_TRY(s.integer("quarantine_max_rows", out.quarantine_max_rows, 1, 100'000'000));
  return domain::ok_status();
}

Status read_program(const Section& s, domain::ProgramConfig& p) {
  LOYALTY_CONFIG_TRY(
      s.only({"currency", "point_value", "earn_percent", "expiry_days", "welcome_bonus",
              "auto_enroll", "points_methods", "on_points_tender", "excluded_payment_methods",
              "unmatched_refund", "hold_minutes", "allow_transfers", "categories", "overrides"}));
  if (const toml::node* n = s.find("currency")) {
    LOYALTY_CONFIG_TRY(s.string("currency", p.currency, Empty::kRefused));
    const bool iso =
        p.currency.size() == 3 && std::all_of(p.currency.begin(), p.currency.end(),
                                              [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!iso) {
      return config_error("program.currency",
                          "must be a three-letter ISO 4217 code such as "
                          "\"MXN\", not " +
                              in_quotes(p.currency) + at_line(*n));
    }
  }
  if (const toml::node* n = s.find("point_value")) {
    LOYALTY_CONFIG_TRY(decimal_value("program.point_value", *n, p.point_value));
    if (p.point_value <= domain::Money{}) {
      return config_error("program.point_value",
                          "must be greater than zero (the money value of one point), not " +
                              in_quotes(p.point_value.str_trimmed()) + at_line(*n));
    }
  }
  if (const toml::node* n = s.find("earn_percent")) {
    LOYALTY_CONFIG_TRY(percent_value("program.earn_percent", *n, p.earn_percent));
  }
  LOYALTY_CONFIG_TRY(s.integer("expiry_days", p.expiry_days, 1, 36'500));
  int64_t welcome = p.welcome_bonus.value();
  LOYALTY_CONFIG_TRY(s.integer("welcome_bonus", welcome, 0, 1'000'000'000));
  p.welcome_bonus = domain::Points(welcome);
  LOYALTY_CONFIG_TRY(s.boolean("auto_enroll", p.auto_enroll));
  LOYALTY_CONFIG_TRY(s.names("points_methods", p.points_methods));
  LOYALTY_CONFIG_TRY(s.word<domain::PointsTenderPolicy>(
      "on_points_tender",
      {{"block", domain::PointsTenderPolicy::kBlock},
       {"earn_on_remainder", domain::PointsTenderPolicy::kEarnOnRemainder}},
      p.on_points_tender));
  LOYALTY_CONFIG_TRY(s.names("excluded_payment_methods", p.excluded_payment_methods));
  LOYALTY_CONFIG_TRY(s.word<domain::UnmatchedRefundPolicy>(
      "unmatched_refund",
      {{"clawback_at_rate", domain::UnmatchedRefundPolicy::kClawbackAtRate},
       {"ignore", domain::UnmatchedRefundPolicy::kIgnore}},
      p.unmatched_refund));
  LOYALTY_CONFIG_TRY(s.integer("hold_minutes", p.hold_minutes, 1, 7 * 24 * 60));
  LOYALTY_CONFIG_TRY(s.boolean("allow_transfers", p.allow_transfers));
  // A method both paying with points and excluded says two different things about one
  // tender; make the admin pick one.
  for (const std::string& m : p.points_methods) {
    if (p.excluded_payment_methods.count(m) != 0) {
      return config_error("program.excluded_payment_methods",
                          in_quotes(m) +
                              " is also in program.points_methods; list it in one of them" +
                              at_line(s.find("excluded_payment_methods")));
    }
  }

  auto categories = s.table("categories");
  if (!categories) return categories.error();
  LOYALTY_CONFIG_TRY(
      percent_map(Section(*categories, s.field("categories")), p.customer_categories));

  auto overrides_table = s.table("overrides");
  if (!overrides_table) return overrides_table.error();
  const Section overrides(*overrides_table, s.field("overrides"));
  LOYALTY_CONFIG_TRY(overrides.only({"sku", "category"}));
  auto sku = overrides.table("sku");
  if (!sku) return sku.error();
  LOYALTY_CONFIG_TRY(percent_map(Section(*sku, overrides.field("sku")), p.sku_overrides));
  auto category = overrides.table("category");
  if (!category) return category.error();
  LOYALTY_CONFIG_TRY(
      percent_map(Section(*category, overrides.field("category")), p.category_overrides));
  return domain::ok_status();
}

Status read_receipt(const Section& s, const std::string& plugin_locale, const toml::table& root,
                    receipt::ReceiptConfig& r) {
  LOYALTY_CONFIG_TRY(
      s.only({"width", "locale", "sale_template", "refund_template", "show_reasons"}));
  int64_t width = r.width;
  LOYALTY_CONFIG_TRY(s.integer("width", width, 16, 200));
  r.width = static_cast<int>(width);
  std::string locale;
  LOYALTY_CONFIG_TRY(s.word<std::string>("locale", {{"es", "es"}, {"en", "en"}}, locale));
  if (!locale.empty() && !plugin_locale.empty() && locale != plugin_locale) {
    return config_error("receipt.locale", "is " + in_quotes(locale) + " but plugin.locale is " +
                                              in_quotes(plugin_locale) + "; set only one of them" +
                                              at_line(s.find("locale")));
  }
  if (!locale.empty()) {
    r.locale = locale;
  } else if (!plugin_locale.empty()) {
    r.locale = plugin_locale;
  }
  LOYALTY_CONFIG_TRY(s.strings("sale_template", r.sale_template, Empty::kAllowed, Empty::kRefused));
  LOYALTY_CONFIG_TRY(
      s.strings("refund_template", r.refund_template, Empty::kAllowed, Empty::kRefused));
  LOYALTY_CONFIG_TRY(s.boolean("show_reasons", r.show_reasons));
  if (auto v = receipt::validate(r); !v) {
    domain::Error e = v.error();
    // The receipt module names the key; we know where it is in the file.
    if (const toml::node* n = toml::at_path(root, e.field).node()) e.message += at_line(*n);
    return e;
  }
  return domain::ok_status();
}

Status read_sync(const Section& s, const fs::path& base, SyncSettings& out) {
  LOYALTY_CONFIG_TRY(
      s.only({"url", "token_file", "ca_file", "stale_after_seconds", "offline_redeem_allowance"}));
  out.enabled = true;
  const toml::node* url = s.find("url");
  if (!url) {
    return config_error("sync.url",
                        "is required in [sync] (remove [sync] to run this branch alone)");
  }
  LOYALTY_CONFIG_TRY(s.string("url", out.url, Empty::kRefused));
  LOYALTY_CONFIG_TRY(check_sync_url(out.url, *url));
  if (!s.find("token_file")) {
    return config_error("sync.token_file",
                        "is required with sync.url: the file holding this branch's hub token");
  }
  LOYALTY_CONFIG_TRY(s.string("token_file", out.token_file, Empty::kRefused));
  out.token_file = resolve(out.token_file, base);
  std::string ca;
  LOYALTY_CONFIG_TRY(s.string("ca_file", ca, Empty::kRefused));
  if (!ca.empty()) out.ca_file = resolve(ca, base);
  LOYALTY_CONFIG_TRY(s.integer("stale_after_seconds", out.stale_after_seconds, 1, 365 * 86'400));
  if (s.find("offline_redeem_allowance") != nullptr) {
    int64_t allowance = 0;
    LOYALTY_CONFIG_TRY(s.integer("offline_redeem_allowance", allowance, 0, 1'000'000'000));
    out.offline_redeem_allowance = allowance;
  }
  return domain::ok_status();
}

// The address loyaltyd listens on: an IPv4 or IPv6 literal (no host names, so that what
// "loopback" means never depends on a resolver). Sets `loopback`.
Status check_listen_address(const std::string& address, const toml::node* n, bool& loopback) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1) {
    loopback = bytes[0] == 127;
    return domain::ok_status();
  }
  if (inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
    static constexpr unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                     0, 0, 0, 0, 0, 0, 0, 1};
    loopback = std::equal(std::begin(bytes), std::end(bytes), std::begin(kLoopback6));
    return domain::ok_status();
  }
  return config_error("daemon.address",
                      "must be an IPv4 or IPv6 address such as \"127.0.0.1\" or \"0.0.0.0\", not " +
                          in_quotes(address) + at_line(n));
}

Status read_daemon(const Section& s, const fs::path& base, DaemonSettings& out) {
  LOYALTY_CONFIG_TRY(s.only({"address", "port", "token_file", "max_body_bytes",
                             "request_timeout_ms", "io_threads", "worker_threads", "drop_dir",
                             "drop_poll_ms", "log", "log_max_bytes", "log_files",
                             "admin_password_file"}));
  LOYALTY_CONFIG_TRY(s.string("address", out.address, Empty::kRefused));
  LOYALTY_CONFIG_TRY(check_listen_address(out.address, s.find("address"), out.address_is_loopback));
  LOYALTY_CONFIG_TRY(s.integer("port", out.port, 0, 65535));
  std::string token;
  LOYALTY_CONFIG_TRY(s.string("token_file", token, Empty::kRefused));
  // A non-loopback address without a token is refused by loyaltyd (Daemon::open), not here:
  // the plugin ignores [daemon], and a POS must not fail to open over a daemon's setting.
  if (!token.empty()) out.token_file = resolve(token, base);
  LOYALTY_CONFIG_TRY(s.integer("max_body_bytes", out.max_body_bytes, 1024, int64_t{1} << 30));
  LOYALTY_CONFIG_TRY(s.integer("request_timeout_ms", out.request_timeout_ms, 50, 3'600'000));
  LOYALTY_CONFIG_TRY(s.integer("io_threads", out.io_threads, 1, 64));
  LOYALTY_CONFIG_TRY(s.integer("worker_threads", out.worker_threads, 1, 256));
  std::string drop;
  LOYALTY_CONFIG_TRY(s.string("drop_dir", drop, Empty::kRefused));
  if (!drop.empty()) out.drop_dir = resolve(drop, base);
  LOYALTY_CONFIG_TRY(s.integer("drop_poll_ms", out.drop_poll_ms, 10, 3'600'000));
  std::string log;
  LOYALTY_CONFIG_TRY(s.string("log", log, Empty::kRefused));
  if (!log.empty()) out.log_path = resolve(log, base);
  LOYALTY_CONFIG_TRY(s.integer("log_max_bytes", out.log_max_bytes, 64 * 1024, int64_t{1} << 40));
  LOYALTY_CONFIG_TRY(s.integer("log_files", out.log_files, 1, 1000));
  std::string admin;
  LOYALTY_CONFIG_TRY(s.string("admin_password_file", admin, Empty::kRefused));
  if (!admin.empty()) out.admin_password_file = resolve(admin, base);
  return domain::ok_status();
}

// [adapters.<name>.stores] and the like: a format's code -> a contract word. Codes and
// words must be non-empty and free of leading or trailing spaces.
Status code_map(const Section& s, std::map<std::string, std::string>& out) {
  if (!s.raw()) return domain::ok_status();
  std::map<std::string, std::string> v;
  for (const auto& [key, value] : *s.raw()) {
    const std::string code(key.str());
    const std::string field = s.field(code);
    if (!trimmed(code)) {
      return config_error(
          field, "a code must not be empty or have leading or trailing spaces" + at_line(value));
    }
    if (!value.is_string()) return wrong_type(field, "a string", value);
    const std::string& word = value.as_string()->get();
    if (!trimmed(word)) {
      return config_error(field, "must not be empty or have leading or trailing spaces" +
                                     at_line(value));
    }
    v[code] = word;
  }
  out = std::move(v);
  return domain::ok_status();
}

// "-06:00", "+05:30" or "Z" -> minutes east of UTC.
Status utc_offset(const Section& s, int32_t& out) {
  const toml::node* n = s.find("utc_offset");
  if (!n) return domain::ok_status();
  std::string text;
  LOYALTY_CONFIG_TRY(s.string("utc_offset", text, Empty::kRefused));
  if (text == "Z") {
    out = 0;
    return domain::ok_status();
  }
  const auto digit = [&text](size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  const bool shape = text.size() == 6 && (text[0] == '+' || text[0] == '-') && digit(1) &&
                     digit(2) && text[3] == ':' && digit(4) && digit(5);
  const int hours = shape ? (text[1] - '0') * 10 + (text[2] - '0') : 0;
  const int minutes = shape ? (text[4] - '0') * 10 + (text[5] - '0') : 0;
  if (!shape || hours > 18 || minutes > 59) {
    return config_error(s.field("utc_offset"),
                        "must be an offset such as \"-06:00\", \"+05:30\" or \"Z\", not " +
                            in_quotes(text) + at_line(*n));
  }
  out = (text[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
  return domain::ok_status();
}

Status read_adapter(const Section& s, const std::string& plugin_branch,
                    domain::FormatMapping& m) {
  LOYALTY_CONFIG_TRY(s.only({"branch", "stores", "tenders", "categories", "customer_prefix",
                             "utc_offset", "currency"}));
  m.branch = plugin_branch;
  LOYALTY_CONFIG_TRY(s.string("branch", m.branch, Empty::kRefused));
  if (has_space_or_control(m.branch)) {
    return config_error(s.field("branch"), "must not contain spaces or control characters" +
                                               at_line(s.find("branch")));
  }
  const auto codes = [&s](std::string_view key, std::map<std::string, std::string>& out) {
    auto sub = s.table(key);
    if (!sub) return Status(sub.error());
    return code_map(Section(*sub, s.field(key)), out);
  };
  LOYALTY_CONFIG_TRY(codes("stores", m.stores));
  LOYALTY_CONFIG_TRY(codes("tenders", m.tenders));
  LOYALTY_CONFIG_TRY(codes("categories", m.categories));
  LOYALTY_CONFIG_TRY(s.string("customer_prefix", m.customer_prefix, Empty::kAllowed));
  LOYALTY_CONFIG_TRY(utc_offset(s, m.utc_offset_minutes));
  if (const toml::node* n = s.find("currency")) {
    LOYALTY_CONFIG_TRY(s.string("currency", m.currency, Empty::kRefused));
    const bool iso =
        m.currency.size() == 3 && std::all_of(m.currency.begin(), m.currency.end(),
                                              [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!iso) {
      return config_error(s.field("currency"),
                          "must be a three-letter ISO 4217 code such as \"MXN\", not " +
                              in_quotes(m.currency) + at_line(*n));
    }
  }
  return domain::ok_status();
}

// [adapters.<name>] for each name in kAdapterNames.
Status read_adapters(const Section& s, const std::string& plugin_branch,
                     std::map<std::string, domain::FormatMapping>& out) {
  if (!s.raw()) return domain::ok_status();
  for (const auto& [key, value] : *s.raw()) {
    const std::string name(key.str());
    if (std::find(kAdapterNames.begin(), kAdapterNames.end(), name) == kAdapterNames.end()) {
      std::string known;
      for (std::string_view a : kAdapterNames) known += " " + std::string(a);
      return config_error(s.field(name), "is not an adapter" + at_line(value) + "; known:" + known);
    }
    auto table = s.table(name);
    if (!table) return table.error();
    LOYALTY_CONFIG_TRY(read_adapter(Section(*table, s.field(name)), plugin_branch, out[name]));
  }
  return domain::ok_status();
}

Result<Settings> parse_or_throw(std::string_view text, const std::string& source_path) {
  toml::table root;
  try {
    root = toml::parse(text, source_path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return config_error("", source_path + ": TOML syntax error at line " + std::to_string(at.line) +
                                ", column " + std::to_string(at.column) + ": " +
                                std::string(e.description()));
  }

  Settings out;
  std::error_code ec;
  fs::path source = fs::absolute(fs::path(source_path), ec);
  if (ec) source = fs::path(source_path);
  source = source.lexically_normal();
  out.source_path = source.string();
  const fs::path base = source.parent_path();

  const Section top(&root, "");
  LOYALTY_CONFIG_TRY(top.only({"plugin", "program", "receipt", "sync", "daemon", "adapters"}));

  auto plugin = top.table("plugin");
  if (!plugin) return plugin.error();
  std::string plugin_locale;
  LOYALTY_CONFIG_TRY(read_plugin(Section(*plugin, "plugin"), base, out, plugin_locale));

  auto program = top.table("program");
  if (!program) return program.error();
  LOYALTY_CONFIG_TRY(read_program(Section(*program, "program"), out.program));
  out.program.version = program_version(out.program);
  if (out.program.version.empty()) {
    return domain::make_error(ErrorCode::kInternal, "", "SHA-256 of the program failed");
  }

  auto receipt_table = top.table("receipt");
  if (!receipt_table) return receipt_table.error();
  LOYALTY_CONFIG_TRY(
      read_receipt(Section(*receipt_table, "receipt"), plugin_locale, root, out.receipt));

  auto sync = top.table("sync");
  if (!sync) return sync.error();
  if (*sync) {
    LOYALTY_CONFIG_TRY(read_sync(Section(*sync, "sync"), base, out.sync));
  }

  auto daemon = top.table("daemon");
  if (!daemon) return daemon.error();
  LOYALTY_CONFIG_TRY(read_daemon(Section(*daemon, "daemon"), base, out.daemon));

  auto adapters = top.table("adapters");
  if (!adapters) return adapters.error();
  LOYALTY_CONFIG_TRY(read_adapters(Section(*adapters, "adapters"), out.branch, out.adapters));
  return out;
}

// A string as it appears in the canonical dump: quoted, with '\\', '"' and control bytes
// escaped, so no name can forge another line.
std::string canonical(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20 || b == 0x7F) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string canonical(const std::set<std::string>& names) {
  std::string out = "[";
  for (const auto& n : names) out += (out.size() > 1 ? "," : "") + canonical(n);
  return out + "]";
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

}  // namespace

std::string program_version(const domain::ProgramConfig& p) {
  std::vector<std::string> lines;
  auto add = [&lines](std::string key, std::string value) {
    lines.push_back(std::move(key) + "=" + std::move(value));
  };
  auto micros = [](auto fixed) { return std::to_string(fixed.micros()); };
  add("allow_transfers", p.allow_transfers ? "true" : "false");
  add("auto_enroll", p.auto_enroll ? "true" : "false");
  add("currency", canonical(p.currency));
  add("earn_percent", micros(p.earn_percent));
  add("excluded_payment_methods", canonical(p.excluded_payment_methods));
  add("expiry_days", std::to_string(p.expiry_days));
  add("hold_minutes", std::to_string(p.hold_minutes));
  add("on_points_tender",
      p.on_points_tender == domain::PointsTenderPolicy::kBlock ? "block" : "earn_on_remainder");
  add("point_value", micros(p.point_value));
  add("points_methods", canonical(p.points_methods));
  add("unmatched_refund",
      p.unmatched_refund == domain::UnmatchedRefundPolicy::kIgnore ? "ignore" : "clawback_at_rate");
  add("welcome_bonus", std::to_string(p.welcome_bonus.value()));
  for (const auto& [k, v] : p.customer_categories) add("categories." + canonical(k), micros(v));
  for (const auto& [k, v] : p.sku_overrides) add("overrides.sku." + canonical(k), micros(v));
  for (const auto& [k, v] : p.category_overrides) {
    add("overrides.category." + canonical(k), micros(v));
  }
  // Promotions apply in order: the index is part of the rule.
  for (size_t i = 0; i < p.promotions.size(); ++i) {
    add("promotions[" + std::to_string(i) + "]",
        p.promotions[i] ? canonical(p.promotions[i]->name()) : "null");
  }
  std::sort(lines.begin(), lines.end());
  std::string text = "loyalty-program/1\n";
  for (const auto& l : lines) text += l + "\n";
  return sha256_hex(text).substr(0, 16);
}

Result<Settings> parse_settings(std::string_view toml_text, const std::string& source_path) {
  try {
    return parse_or_throw(toml_text, source_path);
  } catch (const std::bad_alloc&) {
    return domain::make_error(ErrorCode::kInternal, "", "out of memory reading the configuration");
  } catch (const std::exception& e) {
    return domain::make_error(
        ErrorCode::kInternal, "",
        std::string("unexpected failure reading the configuration: ") + e.what());
  }
}

namespace {

Result<ProgramDocument> parse_document_or_throw(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view("program document"));
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return config_error("", "program document: TOML syntax error at line " +
                                std::to_string(at.line) + ", column " + std::to_string(at.column) +
                                ": " + std::string(e.description()));
  }
  const Section top(&root, "");
  for (const auto& [key, value] : root) {
    const std::string_view k = key.str();
    if (k == "plugin" || k == "sync" || k == "daemon" || k == "adapters") {
      return config_error(std::string(k), "is not part of a program document (only [program] and "
                                          "[receipt] are)" +
                                              at_line(value));
    }
  }
  LOYALTY_CONFIG_TRY(top.only({"program", "receipt"}));
  ProgramDocument out;
  out.has_program_table = root.contains("program");
  auto program = top.table("program");
  if (!program) return program.error();
  LOYALTY_CONFIG_TRY(read_program(Section(*program, "program"), out.program));
  out.program.version = program_version(out.program);
  if (out.program.version.empty()) {
    return domain::make_error(ErrorCode::kInternal, "", "SHA-256 of the program failed");
  }
  auto receipt_table = top.table("receipt");
  if (!receipt_table) return receipt_table.error();
  LOYALTY_CONFIG_TRY(read_receipt(Section(*receipt_table, "receipt"), "", root, out.receipt));
  out.text = std::string(text);
  return out;
}

}  // namespace

Result<ProgramDocument> parse_program_document(std::string_view toml_text) {
  try {
    return parse_document_or_throw(toml_text);
  } catch (const std::bad_alloc&) {
    return domain::make_error(ErrorCode::kInternal, "", "out of memory reading a program document");
  } catch (const std::exception& e) {
    return domain::make_error(
        ErrorCode::kInternal, "",
        std::string("unexpected failure reading a program document: ") + e.what());
  }
}

Result<ProgramDocument> parse_whole_program_document(std::string_view toml_text) {
  auto doc = parse_program_document(toml_text);
  if (doc && !doc->has_program_table) {
    return config_error("program",
                        "the document needs a [program] table (a whole program: keys left out take their "
                        "defaults, not the running values)");
  }
  return doc;
}

Result<Settings> load_settings(const std::string& path) {
  try {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      return config_error("", "cannot read the configuration file " + path + ": " +
                                  (ec ? ec.message() : std::string("no such file")));
    }
    if (fs::is_directory(st)) {
      return config_error("", "the configuration path " + path + " is a directory, not a file");
    }
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int err = errno;
      return config_error("", "cannot read the configuration file " + path + ": " +
                                  (err ? std::generic_category().message(err) : "open failed"));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return config_error("", "cannot read the configuration file " + path);
    return parse_settings(text.str(), path);
  } catch (const std::bad_alloc&) {
    return domain::make_error(ErrorCode::kInternal, "", "out of memory reading the configuration");
  } catch (const std::exception& e) {
    return domain::make_error(ErrorCode::kInternal, "",
                              "cannot read the configuration file " + path + ": " + e.what());
  }
}

#undef LOYALTY_CONFIG_TRY

}  // namespace loyalty::config
