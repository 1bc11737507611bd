#include "daemon/admin_api.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "admin/assets.h"
#include "config/program_document.h"
#include "protocol/codec.h"

namespace loyalty::daemon {

namespace {

using domain::ErrorCode;
using nlohmann::json;

constexpr std::string_view kCookieName = "loyalty_admin";
constexpr auto kIdleTimeout = std::chrono::minutes(30);
constexpr auto kFailureWindow = std::chrono::minutes(1);
constexpr size_t kMaxFailures = 5;
constexpr size_t kMaxSessions = 64;

void secure_headers(ApiResponse& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

ApiResponse error(unsigned status, ErrorCode code, std::string field, std::string message) {
  ApiResponse r;
  r.status = status;
  r.body = protocol::encode_error(domain::make_error(code, std::move(field), std::move(message)));
  r.type = "admin";
  secure_headers(r);
  return r;
}

ApiResponse json_response(const json& doc, std::string type) {
  ApiResponse r;
  r.body = doc.dump();
  r.type = std::move(type);
  secure_headers(r);
  return r;
}

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The value of cookie `name` in a Cookie header ("a=1; loyalty_admin=abc").
std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view part = header.substr(0, end);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return "";
}

json percents(const std::map<std::string, domain::Percent>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v.str_trimmed();
  return out;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// Reads {"name": "percent", ...} from the request into `out`.
domain::Status read_percents(const json& body, const char* key, const std::string& field,
                             std::map<std::string, domain::Percent>& out) {
  auto it = body.find(key);
  if (it == body.end()) return domain::ok_status();
  if (!it->is_object()) {
    return domain::make_error(ErrorCode::kInvalidArgument, key,
                              "must be an object of name -> percent");
  }
  std::map<std::string, domain::Percent> m;
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      return domain::make_error(ErrorCode::kInvalidArgument, field + "." + name,
                                "must be a percent as a string (\"5\")");
    }
    auto p = domain::Percent::parse(value.get<std::string>());
    if (!p) {
      return domain::make_error(
          ErrorCode::kInvalidConfig, field + "." + name,
          "must be a percent such as \"5\" or \"2.5\", not \"" + value.get<std::string>() + "\"");
    }
    m[name] = *p;
  }
  out = std::move(m);
  return domain::ok_status();
}

std::string describe(const std::map<std::string, domain::Percent>& m) { return percents(m).dump(); }

}  // namespace

AdminApi::AdminApi(bootstrap::ProgramManager& program, std::vector<PasswordRecord> users)
    : program_(program), users_(std::move(users)) {}

ApiResponse AdminApi::handle(const ApiRequest& request, std::string_view path) const {
  const std::string& method = request.method;
  if (path == "/admin" || path == "/admin/" || path == "/admin/index.html" ||
      path == "/admin/app.js" || path == "/admin/app.css") {
    if (method != "GET" && method != "HEAD")
      return error(405, ErrorCode::kInvalidArgument, "method", "GET only");
    const std::string_view name =
        path == "/admin" || path == "/admin/" ? std::string_view("index.html") : path.substr(7);
    for (const auto& a : ui::admin_assets()) {
      if (a.name == name) {
        ApiResponse r;
        r.body = std::string(a.body);
        r.content_type = std::string(a.content_type);
        r.type = "admin:page";
        secure_headers(r);
        return r;
      }
    }
  }
  if (path.rfind("/admin/api/", 0) != 0) {
    return error(404, ErrorCode::kNotFound, "path", "no such admin file");
  }
  if (path == "/admin/api/login") {
    if (method != "POST") return error(405, ErrorCode::kInvalidArgument, "method", "POST only");
    return login(request);
  }
  Session s;
  if (!find_session(request, s)) {
    return error(401, ErrorCode::kForbidden, "session", "log in first");
  }
  if (method != "GET" && !same(request.csrf_token, s.csrf)) {
    return error(403, ErrorCode::kForbidden, "X-CSRF-Token",
                 "missing or wrong CSRF token; reload the page");
  }
  if (path == "/admin/api/logout") {
    if (method != "POST") return error(405, ErrorCode::kInvalidArgument, "method", "POST only");
    return logout(request);
  }
  if (path == "/admin/api/program") {
    if (method == "GET") return get_program(s);
    if (method == "PUT") return put_program(request, s);
    return error(405, ErrorCode::kInvalidArgument, "method", "GET or PUT");
  }
  return error(404, ErrorCode::kNotFound, "path", "no such admin path");
}

bool AdminApi::find_session(const ApiRequest& request, Session& out) const {
  const std::string id = cookie_value(request.cookie, kCookieName);
  if (id.empty()) return false;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  const auto now = Clock::now();
  if (now - it->second.last_used > kIdleTimeout) {
    sessions_.erase(it);
    return false;
  }
  it->second.last_used = now;
  out = it->second;
  return true;
}

ApiResponse AdminApi::login(const ApiRequest& request) const {
  const auto now = Clock::now();
  {
    std::lock_guard lock(mu_);
    while (!failures_.empty() && now - failures_.front() > kFailureWindow) failures_.pop_front();
    if (failures_.size() >= kMaxFailures) {
      ApiResponse r =
          error(429, ErrorCode::kForbidden, "password", "too many failed logins; wait a minute");
      r.headers.emplace_back("Retry-After", "60");
      return r;
    }
  }
  const json body = json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("user") || !body["user"].is_string() ||
      !body.contains("password") || !body["password"].is_string()) {
    return error(400, ErrorCode::kInvalidArgument, "", "send {\"user\": ..., \"password\": ...}");
  }
  const std::string user = body["user"].get<std::string>();
  const std::string password = body["password"].get<std::string>();
  const PasswordRecord* record = nullptr;
  for (const auto& r : users_) {
    if (r.user == user) record = &r;
  }
  // An unknown user costs the same PBKDF2 work as a wrong password.
  const bool ok = check_password(record ? *record : users_.front(), password) && record;
  if (!ok) {
    std::lock_guard lock(mu_);
    failures_.push_back(now);
    ApiResponse r = error(401, ErrorCode::kForbidden, "password", "wrong user or password");
    r.type = "admin:login-failed";
    return r;
  }
  Session s{user, random_hex(32), now};
  const std::string id = random_hex(32);
  if (s.csrf.empty() || id.empty()) {
    return error(500, ErrorCode::kInternal, "", "no random bytes from OpenSSL");
  }
  {
    std::lock_guard lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      it = now - it->second.last_used > kIdleTimeout ? sessions_.erase(it) : std::next(it);
    }
    if (sessions_.size() >= kMaxSessions) {
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second.last_used < oldest->second.last_used) oldest = it;
      }
      sessions_.erase(oldest);
    }
    sessions_[id] = s;
  }
  ApiResponse r = json_response({{"ok", true}, {"user", user}, {"csrf", s.csrf}}, "admin:login");
  r.headers.emplace_back("Set-Cookie", std::string(kCookieName) + "=" + id +
                                           "; Path=/admin; HttpOnly; SameSite=Strict");
  return r;
}

ApiResponse AdminApi::logout(const ApiRequest& request) const {
  const std::string id = cookie_value(request.cookie, kCookieName);
  {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
  }
  ApiResponse r = json_response({{"ok", true}}, "admin:logout");
  r.headers.emplace_back("Set-Cookie", std::string(kCookieName) +
                                           "=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0");
  return r;
}

ApiResponse AdminApi::get_program(const Session& s) const {
  const auto doc = program_.current();
  const auto& p = doc.program;
  json out = {{"ok", true},
              {"user", s.user},
              {"csrf", s.csrf},
              {"seq", program_.current_seq()},
              {"version", p.version},
              {"excluded_payment_methods", p.excluded_payment_methods},
              {"points_methods", p.points_methods},
              {"earn_percent", p.earn_percent.str_trimmed()},
              {"categories", percents(p.customer_categories)},
              {"sku_overrides", percents(p.sku_overrides)},
              {"category_overrides", percents(p.category_overrides)}};
  return json_response(out, "admin:program");
}

ApiResponse AdminApi::put_program(const ApiRequest& request, const Session& s) const {
  const json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    return error(400, ErrorCode::kInvalidJson, "", "the body must be a JSON object");
  }
  const auto before = program_.current();
  auto p = before.program;
  // What the page edits, and what GET answers beside it (a client may send a GET's answer
  // back changed): anything else is a typo that would silently do nothing, so it is refused.
  // `seq` (GET's name) is the stale-page guard as much as `expected_seq`.
  static const std::set<std::string> kEditable = {"excluded_payment_methods", "earn_percent", "categories",
                                                  "sku_overrides", "category_overrides", "note",
                                                  "expected_seq", "seq"};
  static const std::set<std::string> kAnswered = {"ok", "user", "csrf", "version", "changed"};
  for (const auto& [key, value] : body.items()) {
    if (kEditable.count(key) != 0 || kAnswered.count(key) != 0) continue;
    if (key == "points_methods" && value == json(p.points_methods)) continue;
    return error(400, ErrorCode::kInvalidArgument, key,
                 key == "points_methods"
                     ? "is not changed on this page (loyaltyctl program set points_methods ...)"
                     : "unknown field: the page changes excluded_payment_methods, earn_percent, categories, "
                       "sku_overrides and category_overrides (with expected_seq and note)");
  }
  std::optional<int64_t> expected_seq;
  for (const char* name : {"expected_seq", "seq"}) {
    auto it = body.find(name);
    if (it == body.end()) continue;
    if (!it->is_number_integer()) {
      return error(400, ErrorCode::kInvalidArgument, name, "must be the program's seq (an integer) as GET answered it");
    }
    if (expected_seq && *expected_seq != it->get<int64_t>()) {
      return error(400, ErrorCode::kInvalidArgument, name, "expected_seq and seq disagree");
    }
    expected_seq = it->get<int64_t>();
  }
  std::vector<ledger::AuditRow> audit;
  auto fail = [](const domain::Error& e) { return error(400, e.code, e.field, e.message); };
  if (auto it = body.find("excluded_payment_methods"); it != body.end()) {
    if (!it->is_array()) {
      return error(400, ErrorCode::kInvalidArgument, "excluded_payment_methods",
                   "must be an array of method names");
    }
    std::set<std::string> methods;
    for (const auto& m : *it) {
      if (!m.is_string() || m.get<std::string>().empty()) {
        return error(400, ErrorCode::kInvalidArgument, "excluded_payment_methods",
                     "every method must be a non-empty string");
      }
      methods.insert(m.get<std::string>());
    }
    if (methods != p.excluded_payment_methods) {
      audit.push_back({0, "", 0, "program.exclude-method.set", "excluded_payment_methods",
                       join(p.excluded_payment_methods), join(methods)});
      p.excluded_payment_methods = std::move(methods);
    }
  }
  if (auto it = body.find("earn_percent"); it != body.end()) {
    if (!it->is_string()) {
      return error(400, ErrorCode::kInvalidArgument, "program.earn_percent",
                   "must be a percent as a string (\"5\")");
    }
    auto v = domain::Percent::parse(it->get<std::string>());
    if (!v) {
      return error(400, ErrorCode::kInvalidConfig, "program.earn_percent",
                   "must be a percent such as \"5\", not \"" + it->get<std::string>() + "\"");
    }
    if (*v != p.earn_percent) {
      audit.push_back({0, "", 0, "program.set", "program.earn_percent",
                       p.earn_percent.str_trimmed(), v->str_trimmed()});
      p.earn_percent = *v;
    }
  }
  struct MapKey {
    const char* key;
    const char* field;
    std::map<std::string, domain::Percent>* map;
  };
  for (const MapKey& k :
       {MapKey{"categories", "program.categories", &p.customer_categories},
        MapKey{"sku_overrides", "program.overrides.sku", &p.sku_overrides},
        MapKey{"category_overrides", "program.overrides.category", &p.category_overrides}}) {
    auto m = *k.map;
    if (auto st = read_percents(body, k.key, k.field, m); !st) return fail(st.error());
    if (m != *k.map) {
      audit.push_back({0, "", 0, std::string("program.") + k.key + ".set", k.field,
                       describe(*k.map), describe(m)});
      *k.map = std::move(m);
    }
  }
  bootstrap::ProgramChange change;
  change.document = config::render_program_document(p, before.receipt);
  change.source = bootstrap::ProgramSource::kAdmin;
  change.actor = "admin-page:" + s.user;
  change.audit = std::move(audit);
  if (auto it = body.find("note"); it != body.end() && it->is_string()) {
    change.note = it->get<std::string>();
  }
  if (expected_seq) change.expected_seq = *expected_seq;
  bool changed = false;
  if (!change.audit.empty()) {
    auto applied = program_.store(change);
    if (!applied) {
      const auto& e = applied.error();
      const unsigned status =
          e.code == ErrorCode::kInvalidConfig ? 400 : http_status(static_cast<int>(e.code));
      return error(status, e.code, e.field, e.message);
    }
    changed = applied->changed;
  }
  ApiResponse r = get_program(s);
  json out = json::parse(r.body);
  out["changed"] = changed;
  r.body = out.dump();
  r.type = "admin:program-saved";
  return r;
}

}  // namespace loyalty::daemon
