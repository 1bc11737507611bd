#include "config/load.h"

#include "domain/promotions.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace loyalty::config {

using domain::ErrorCode;
using domain::Percent;
using domain::Result;

namespace fs = std::filesystem;

namespace {

domain::Error config_error(const std::string& key, const std::string& message) {
  return domain::make_error(ErrorCode::kInvalidConfig, key, message);
}

std::string where(const toml::node& n) {
  const auto& src = n.source();
  if (!src.begin) return "";
  return " (line " + std::to_string(src.begin.line) + ")";
}

std::string join(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// Walks one TOML table, remembering the keys read so that any other key is an error.
class Table {
 public:
  Table(const toml::table* t, std::string prefix) : t_(t), prefix_(std::move(prefix)) {}

  const toml::node* get(std::string_view key) {
    known_.emplace_back(key);
    return t_ ? t_->get(key) : nullptr;
  }

  std::string key(std::string_view k) const { return join(prefix_, k); }

  domain::Status string(std::string_view k, std::string& out) {
    const toml::node* n = get(k);
    if (!n) return domain::ok_status();
    if (!n->is_string()) return config_error(key(k), "must be a string" + where(*n));
    out = n->as_string()->get();
    return domain::ok_status();
  }

  domain::Status integer(std::string_view k, int64_t& out, int64_t min, int64_t max) {
    const toml::node* n = get(k);
    if (!n) return domain::ok_status();
    if (!n->is_integer()) return config_error(key(k), "must be an integer" + where(*n));
    const int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      return config_error(key(k), "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                                      ", not " + std::to_string(v) + where(*n));
    }
    out = v;
    return domain::ok_status();
  }

  domain::Status boolean(std::string_view k, bool& out) {
    const toml::node* n = get(k);
    if (!n) return domain::ok_status();
    if (!n->is_boolean()) return config_error(key(k), "must be true or false" + where(*n));
    out = n->as_boolean()->get();
    return domain::ok_status();
  }

  // A decimal given as a string ("0.10"); floats are refused: no binary floating point
  // ever touches an amount.
  template <class T>
  domain::Status decimal(std::string_view k, T& out) {
    const toml::node* n = get(k);
    if (!n) return domain::ok_status();
    return decimal_node(key(k), *n, out);
  }

  template <class T>
  static domain::Status decimal_node(const std::string& key, const toml::node& n, T& out) {
    if (n.is_floating_point() || n.is_integer()) {
      std::ostringstream v;
      if (n.is_integer()) v << n.as_integer()->get();
      else v << *n.as_floating_point();
      return config_error(key, "must be a decimal string such as \"" + v.str() + "\" (quote it)" + where(n));
    }
    if (!n.is_string()) return config_error(key, "must be a decimal string" + where(n));
    auto parsed = T::parse(n.as_string()->get());
    if (!parsed) return config_error(key, "\"" + n.as_string()->get() + "\" is not a decimal" + where(n));
    out = *parsed;
    return domain::ok_status();
  }

  domain::Status strings(std::string_view k, std::vector<std::string>& out, bool allow_empty_items = false) {
    const toml::node* n = get(k);
    if (!n) return domain::ok_status();
    if (!n->is_array()) return config_error(key(k), "must be an array of strings" + where(*n));
    out.clear();
    const auto& arr = *n->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      const toml::node& item = arr[i];
      const std::string ik = key(k) + "[" + std::to_string(i) + "]";
      if (!item.is_string()) return config_error(ik, "must be a string" + where(item));
      const std::string s = item.as_string()->get();
      if (s.empty() && !allow_empty_items) return config_error(ik, "must not be empty" + where(item));
      out.push_back(s);
    }
    return domain::ok_status();
  }

  domain::Status method_set(std::string_view k, std::set<std::string>& out) {
    std::vector<std::string> v;
    if (!get(k)) return domain::ok_status();
    known_.pop_back();
    if (auto s = strings(k, v); !s) return s;
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      if (!out.insert(v[i]).second) {
        return config_error(key(k) + "[" + std::to_string(i) + "]", "\"" + v[i] + "\" is listed twice");
      }
    }
    return domain::ok_status();
  }

  const toml::table* subtable(std::string_view k, domain::Error& err) {
    const toml::node* n = get(k);
    if (!n) return nullptr;
    if (!n->is_table()) {
      err = config_error(key(k), "must be a table" + where(*n));
      return nullptr;
    }
    return n->as_table();
  }

  // Any key not read is a typo or an unsupported option.
  domain::Status no_unknown() const {
    if (!t_) return domain::ok_status();
    for (const auto& [k, v] : *t_) {
      bool ok = false;
      for (const auto& known : known_) ok = ok || known == k.str();
      if (!ok) return config_error(key(k.str()), "unknown key" + where(v));
    }
    return domain::ok_status();
  }

 private:
  const toml::table* t_;
  std::string prefix_;
  std::vector<std::string> known_;
};

#define TRY(expr)                   \
  do {                              \
    auto _s = (expr);               \
    if (!_s) return _s.error();     \
  } while (0)

domain::Status percent_map(const toml::table* t, const std::string& prefix, std::map<std::string, Percent>& out) {
  if (!t) return domain::ok_status();
  for (const auto& [k, v] : *t) {
    const std::string key = prefix + "." + std::string(k.str());
    Percent p;
    TRY(Table::decimal_node(key, v, p));
    if (p.is_negative() || p > Percent::from_units(1000)) {
      return config_error(key, "must be between \"0\" and \"1000\"" + where(v));
    }
    out[std::string(k.str())] = p;
  }
  return domain::ok_status();
}

std::string absolute(const std::string& path, const fs::path& base) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

bool loopback_host(const std::string& url) {
  const size_t start = url.find("://");
  if (start == std::string::npos) return false;
  std::string host = url.substr(start + 3);
  host = host.substr(0, host.find('/'));
  if (host.rfind("[::1]", 0) == 0) return true;
  host = host.substr(0, host.find(':'));
  return host == "127.0.0.1" || host == "localhost";
}

}  // namespace

std::string program_version(const domain::ProgramConfig& p) {
  std::ostringstream s;
  s << "currency=" << p.currency << "\npoint_value=" << p.point_value.micros()
    << "\nearn_percent=" << p.earn_percent.micros() << "\nexpiry_days=" << p.expiry_days
    << "\nwelcome_bonus=" << p.welcome_bonus.value() << "\nauto_enroll=" << p.auto_enroll
    << "\non_points_tender=" << static_cast<int>(p.on_points_tender)
    << "\nunmatched_refund=" << static_cast<int>(p.unmatched_refund) << "\nhold_minutes=" << p.hold_minutes
    << "\nallow_transfers=" << p.allow_transfers << "\n";
  for (const auto& m : p.points_methods) s << "points_method=" << m << "\n";
  for (const auto& m : p.excluded_payment_methods) s << "excluded_method=" << m << "\n";
  for (const auto& [k, v] : p.customer_categories) s << "category:" << k << "=" << v.micros() << "\n";
  for (const auto& [k, v] : p.sku_overrides) s << "sku:" << k << "=" << v.micros() << "\n";
  for (const auto& [k, v] : p.category_overrides) s << "product_category:" << k << "=" << v.micros() << "\n";
  for (const auto& promo : p.promotions) s << "promotion=" << promo->name() << "\n";
  return sha256_hex(s.str()).substr(0, 16);
}

Result<Settings> parse_settings(std::string_view text, const std::string& source_path) {
  toml::table root;
  try {
    root = toml::parse(text, source_path);
  } catch (const toml::parse_error& e) {
    return config_error("", source_path + ": line " + std::to_string(e.source().begin.line) + ", column " +
                                std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  Settings s;
  const fs::path base = fs::absolute(fs::path(source_path)).parent_path();
  s.source_path = fs::absolute(fs::path(source_path)).lexically_normal().string();

  Table top(&root, "");
  domain::Error err;

  // [plugin]
  const toml::table* plugin_t = top.subtable("plugin", err);
  if (!err.message.empty()) return err;
  Table plugin(plugin_t, "plugin");
  TRY(plugin.string("branch", s.branch));
  std::string db = "ledger.db";
  TRY(plugin.string("db", db));
  if (db.empty()) return config_error("plugin.db", "must not be empty");
  s.db_path = absolute(db, base);
  std::string plugin_locale;
  TRY(plugin.string("locale", plugin_locale));
  std::string sync = "full";
  TRY(plugin.string("synchronous", sync));
  if (sync == "off") s.synchronous = Synchronous::kOff;
  else if (sync == "normal") s.synchronous = Synchronous::kNormal;
  else if (sync == "full") s.synchronous = Synchronous::kFull;
  else if (sync == "extra") s.synchronous = Synchronous::kExtra;
  else return config_error("plugin.synchronous", "must be \"full\", \"normal\", \"extra\" or \"off\", not \"" + sync + "\"");
  TRY(plugin.integer("busy_timeout_ms", s.busy_timeout_ms, 0, 600'000));
  TRY(plugin.string("log", s.log_path));
  s.log_path = absolute(s.log_path, base);
  TRY(plugin.string("log_level", s.log_level));
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
  if (!kLevels.count(s.log_level)) return config_error("plugin.log_level", "unknown level \"" + s.log_level + "\"");
  TRY(plugin.integer("max_request_bytes", s.max_request_bytes, 1024, int64_t{1} << 30));
  TRY(plugin.integer("quarantine_max_rows", s.quarantine_max_rows, 1, 100'000'000));
  TRY(plugin.no_unknown());
  if (s.branch.empty()) return config_error("plugin.branch", "is required (this branch's id, e.g. \"B01\")");

  // [program]
  const toml::table* program_t = top.subtable("program", err);
  if (!err.message.empty()) return err;
  Table program(program_t, "program");
  domain::ProgramConfig& p = s.program;
  TRY(program.string("currency", p.currency));
  if (p.currency.empty()) return config_error("program.currency", "must not be empty");
  TRY(program.decimal("point_value", p.point_value));
  if (p.point_value <= domain::Money{}) return config_error("program.point_value", "must be greater than zero");
  TRY(program.decimal("earn_percent", p.earn_percent));
  if (p.earn_percent.is_negative() || p.earn_percent > Percent::from_units(1000)) {
    return config_error("program.earn_percent", "must be between \"0\" and \"1000\"");
  }
  TRY(program.integer("expiry_days", p.expiry_days, 1, 36500));
  int64_t welcome = 0;
  TRY(program.integer("welcome_bonus", welcome, 0, 1'000'000'000));
  p.welcome_bonus = domain::Points(welcome);
  TRY(program.boolean("auto_enroll", p.auto_enroll));
  TRY(program.method_set("points_methods", p.points_methods));
  std::string on_points = "block";
  TRY(program.string("on_points_tender", on_points));
  if (on_points == "block") p.on_points_tender = domain::PointsTenderPolicy::kBlock;
  else if (on_points == "earn_on_remainder") p.on_points_tender = domain::PointsTenderPolicy::kEarnOnRemainder;
  else return config_error("program.on_points_tender", "must be \"block\" or \"earn_on_remainder\", not \"" + on_points + "\"");
  TRY(program.method_set("excluded_payment_methods", p.excluded_payment_methods));
  std::string unmatched = "clawback_at_rate";
  TRY(program.string("unmatched_refund", unmatched));
  if (unmatched == "clawback_at_rate") p.unmatched_refund = domain::UnmatchedRefundPolicy::kClawbackAtRate;
  else if (unmatched == "ignore") p.unmatched_refund = domain::UnmatchedRefundPolicy::kIgnore;
  else return config_error("program.unmatched_refund", "must be \"clawback_at_rate\" or \"ignore\", not \"" + unmatched + "\"");
  TRY(program.integer("hold_minutes", p.hold_minutes, 1, 7 * 24 * 60));
  TRY(program.boolean("allow_transfers", p.allow_transfers));
  for (const auto& m : p.points_methods) {
    if (p.excluded_payment_methods.count(m)) {
      return config_error("program.excluded_payment_methods", "\"" + m + "\" is also a points method");
    }
  }
  const toml::table* categories = program.subtable("categories", err);
  if (!err.message.empty()) return err;
  TRY(percent_map(categories, "program.categories", p.customer_categories));
  const toml::table* overrides_t = program.subtable("overrides", err);
  if (!err.message.empty()) return err;
  Table overrides(overrides_t, "program.overrides");
  const toml::table* sku = overrides.subtable("sku", err);
  if (!err.message.empty()) return err;
  TRY(percent_map(sku, "program.overrides.sku", p.sku_overrides));
  const toml::table* cat = overrides.subtable("category", err);
  if (!err.message.empty()) return err;
  TRY(percent_map(cat, "program.overrides.category", p.category_overrides));
  TRY(overrides.no_unknown());
  TRY(program.no_unknown());
  p.version = program_version(p);

  // [receipt]
  const toml::table* receipt_t = top.subtable("receipt", err);
  if (!err.message.empty()) return err;
  Table receipt(receipt_t, "receipt");
  int64_t width = 42;
  TRY(receipt.integer("width", width, 16, 200));
  s.receipt.width = static_cast<int>(width);
  std::string receipt_locale;
  TRY(receipt.string("locale", receipt_locale));
  if (!plugin_locale.empty() && !receipt_locale.empty() && plugin_locale != receipt_locale) {
    return config_error("receipt.locale", "differs from plugin.locale; set one of them");
  }
  s.receipt.locale = !receipt_locale.empty() ? receipt_locale : !plugin_locale.empty() ? plugin_locale : "es";
  TRY(receipt.strings("sale_template", s.receipt.sale_template, true));
  TRY(receipt.strings("refund_template", s.receipt.refund_template, true));
  TRY(receipt.boolean("show_reasons", s.receipt.show_reasons));
  TRY(receipt.no_unknown());
  if (auto v = receipt::validate(s.receipt); !v) {
    domain::Error e = v.error();
    if (e.field == "receipt.locale" && receipt_locale.empty()) e.field = "plugin.locale";
    return e;
  }

  // [sync]
  const toml::table* sync_t = top.subtable("sync", err);
  if (!err.message.empty()) return err;
  if (sync_t) {
    Table st(sync_t, "sync");
    s.sync.enabled = true;
    TRY(st.string("url", s.sync.url));
    TRY(st.string("token_file", s.sync.token_file));
    TRY(st.string("ca_file", s.sync.ca_file));
    TRY(st.integer("stale_after_seconds", s.sync.stale_after_seconds, 1, 86400 * 365));
    TRY(st.integer("offline_redeem_allowance", s.sync.offline_redeem_allowance, 0, 1'000'000'000));
    TRY(st.no_unknown());
    if (s.sync.url.rfind("wss://", 0) != 0 && s.sync.url.rfind("ws://", 0) != 0) {
      return config_error("sync.url", "must start with wss:// (or ws:// for a loopback test hub)");
    }
    if (s.sync.url.rfind("ws://", 0) == 0 && !loopback_host(s.sync.url)) {
      return config_error("sync.url", "ws:// is only allowed to 127.0.0.1/localhost; use wss://");
    }
    if (s.sync.token_file.empty()) return config_error("sync.token_file", "is required with sync.url");
    s.sync.token_file = absolute(s.sync.token_file, base);
    s.sync.ca_file = absolute(s.sync.ca_file, base);
  }
  TRY(top.no_unknown());
  return s;
}

Result<Settings> load_settings(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error("", "cannot read the configuration file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_settings(text.str(), path);
}

}  // namespace loyalty::config
