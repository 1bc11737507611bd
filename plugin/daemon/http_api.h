// The HTTP API of loyaltyd, apart from the network: one request in, one response out.
//
// Routes (docs/daemon.md):
//   POST /v1/events                    contract JSON (one request) or JSON Lines
//   POST /v1/adapters/{poslog,square,odoo}  a foreign POS document -> ingest report
//   GET  /v1/customers/{ref}/balance   a balance.query for the URL-decoded ref
//   GET  /healthz                      liveness; needs no token
//   /admin...                          the admin page (admin_api.h); its own login
// Every request goes through app::Service::handle (one code path with libloyalty.so).
// Errors are JSON bodies in the contract's error shape.
//
// Thread-safety: handle() is const and may run on many threads at once (the service is
// thread-safe). It never throws: an unexpected exception becomes a 500 `internal`.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/service.h"
#include "config/settings.h"
#include "domain/format_mapping.h"

namespace loyalty::daemon {

struct ApiRequest {
  std::string method;         // "GET", "POST", ... as received
  std::string target;         // "/v1/customers/card%3A1/balance?x=1"
  std::string content_type;   // the Content-Type header, may be empty
  std::string authorization;  // the Authorization header, may be empty
  std::string cookie;         // the Cookie header (admin page session)
  std::string csrf_token;     // the X-CSRF-Token header (admin page changes)
  std::string body;
  std::string request_id;  // for ids the daemon makes up (balance queries) and logs
};

struct ApiResponse {
  unsigned status = 200;
  std::string body;            // JSON
  std::string allow;           // the Allow header of a 405
  bool ask_for_token = false;  // a 401: send "WWW-Authenticate: Bearer"
  std::string content_type;    // empty: application/json
  std::vector<std::pair<std::string, std::string>> headers;  // extra (Set-Cookie, CSP, ...)
  // For the request log line; never a customer reference in clear.
  std::string type;        // contract type ("sale.completed"), or what the route does
  std::string event_id;    // the contract request id when known
  std::string log_target;  // the target with customer references masked
};

// The HTTP status for a service code (Outcome::code, the C ABI code): 0 -> 200;
// invalid_json, invalid_event, unknown_type, invalid_argument -> 400; conflict -> 409;
// insufficient_points -> 422; not_found -> 404; forbidden -> 403; unavailable -> 503;
// internal, invalid_config and anything unknown -> 500.
unsigned http_status(int service_code);

// "card:4000123" -> "card:*****23": the scheme stays, all but the last two characters of
// the rest are starred (all of them when the rest is 4 characters or fewer).
std::string mask_ref(std::string_view ref);

// The mapping for `adapter`: its [adapters.<name>] section, or the defaults with
// branch = plugin.branch.
domain::FormatMapping mapping_for(const config::Settings& settings, std::string_view adapter);

class Api {
 public:
  // `token` empty: no authentication. The service and settings outlive the Api.
  Api(app::Service& service, const config::Settings& settings, std::string token);

  ApiResponse handle(const ApiRequest& request) const;

  // True for requests answered without the ledger (/healthz): the server answers them on its
  // network thread, so that a supervisor's probe never queues behind calls that wait on it.
  static bool answers_without_ledger(const ApiRequest& request);

  // Serves /admin with `admin` (admin_api.h); without it /admin is a 404 that says how to
  // turn the page on. `admin` outlives the Api.
  void set_admin(const class AdminApi* admin) { admin_ = admin; }

 private:
  ApiResponse route(const ApiRequest& request, std::string_view path) const;
  ApiResponse events(const ApiRequest& request) const;
  ApiResponse adapter(const ApiRequest& request, std::string_view name) const;
  ApiResponse balance(const ApiRequest& request, std::string_view encoded_ref) const;
  ApiResponse healthz() const;
  bool authorized(std::string_view authorization) const;

  app::Service& service_;
  const config::Settings& settings_;
  const std::string token_;
  const AdminApi* admin_ = nullptr;
};

}  // namespace loyalty::daemon
