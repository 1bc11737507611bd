// The admin page of loyaltyd (docs/admin.md): static files at /admin, a login, and a JSON
// API for the program's exclusions and rates that goes through the same program-version
// API as `loyaltyctl program` (bootstrap::ProgramManager), with the admin user as actor.
//
// Routes (all under /admin, never behind the POS bearer token; the login guards them):
//   GET  /admin, /admin/app.js, /admin/app.css   the page (embedded, no external assets)
//   POST /admin/api/login    {"user","password"} -> session cookie + {"csrf"}
//   POST /admin/api/logout   (CSRF)
//   GET  /admin/api/program  exclusions and rates, the version seq and the CSRF token
//   PUT  /admin/api/program  (CSRF) {"expected_seq", "excluded_payment_methods", "earn_percent",
//                            "categories", "sku_overrides", "category_overrides", "note"}
// Security: passwords are checked against salted PBKDF2 hashes (admin_password.h); the
// session cookie is HttpOnly, SameSite=Strict, Path=/admin, random 256-bit, idle timeout
// 30 min; every change needs the session's X-CSRF-Token; after 5 failed logins within a
// minute every login is refused (429) until the minute has passed.
//
// Thread-safety: handle() may run on many threads (sessions under a mutex).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bootstrap/program_manager.h"
#include "daemon/admin_password.h"
#include "daemon/http_api.h"

namespace loyalty::daemon {

inline constexpr std::string_view kAdminPrefix = "/admin";

class AdminApi {
 public:
  using Clock = std::chrono::steady_clock;
  // `program` outlives the AdminApi.
  AdminApi(bootstrap::ProgramManager& program, std::vector<PasswordRecord> users);

  ApiResponse handle(const ApiRequest& request, std::string_view path) const;

 private:
  struct Session {
    std::string user;
    std::string csrf;
    Clock::time_point last_used;
  };
  ApiResponse login(const ApiRequest& request) const;
  ApiResponse logout(const ApiRequest& request) const;
  ApiResponse get_program(const Session& s) const;
  ApiResponse put_program(const ApiRequest& request, const Session& s) const;
  // The live session named by the request's cookie (refreshing its idle timer), if any.
  bool find_session(const ApiRequest& request, Session& out) const;

  bootstrap::ProgramManager& program_;
  const std::vector<PasswordRecord> users_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Session> sessions_;  // by session id
  mutable std::deque<Clock::time_point> failures_;   // failed logins in the last minute
};

}  // namespace loyalty::daemon
