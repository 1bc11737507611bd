#include "daemon/http_api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <new>
#include <nlohmann/json.hpp>

#include "adapters/adapter.h"
#include "daemon/admin_api.h"
#include "app/ingest.h"
#include "protocol/codec.h"

namespace loyalty::daemon {

namespace {

using domain::ErrorCode;

constexpr std::string_view kEventsPath = "/v1/events";
constexpr std::string_view kAdaptersPrefix = "/v1/adapters/";
constexpr std::string_view kCustomersPrefix = "/v1/customers/";
constexpr std::string_view kBalanceSuffix = "/balance";
constexpr std::string_view kHealthPath = "/healthz";

ApiResponse error_response(unsigned status, ErrorCode code, std::string field,
                           std::string message) {
  ApiResponse r;
  r.status = status;
  r.body = protocol::encode_error(domain::make_error(code, std::move(field), std::move(message)));
  return r;
}

ApiResponse method_not_allowed(std::string_view allow) {
  ApiResponse r = error_response(405, ErrorCode::kInvalidArgument, "method",
                                 "this path takes " + std::string(allow));
  r.allow = std::string(allow);
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The media type of a Content-Type header, lowercased, without parameters.
std::string media_type(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
    t.remove_prefix(1);
  }
  return lower(t);
}

bool is_json_lines(std::string_view content_type) {
  const std::string t = media_type(content_type);
  return t == "application/x-ndjson" || t == "application/jsonl" || t == "application/json-lines" ||
         t == "application/x-jsonlines";
}

// Percent-decoding of one path segment ('+' is a plus sign in a path). Returns false on a
// malformed escape.
bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    const int hi = hex(in[i + 1]);
    const int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// Compares without an early exit, so the time taken does not reveal how much of a guess
// matched (the length may show; tokens are long random strings).
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// "type" and "id" of a service response, for the log line. An error response has no
// "type": then the request's, when it names one that looks like a type (an error storm must
// say which requests fail; a hostile body must not write its own text into the log).
void note_response(ApiResponse& r, std::string_view response_json, std::string_view request_json) {
  const auto doc = nlohmann::json::parse(response_json, nullptr, false);
  if (doc.is_object()) {
    if (auto it = doc.find("type"); it != doc.end() && it->is_string()) r.type = it->get<std::string>();
    if (auto it = doc.find("id"); it != doc.end() && it->is_string()) r.event_id = it->get<std::string>();
  }
  if (!r.type.empty() || r.status == 200) return;
  const auto req = nlohmann::json::parse(request_json, nullptr, false);
  if (!req.is_object()) return;
  const auto it = req.find("type");
  if (it == req.end() || !it->is_string()) return;
  const auto& type = it->get_ref<const std::string&>();
  const bool plain = !type.empty() && type.size() <= 64 && std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
  r.type = plain ? type : "?";
}

}  // namespace

unsigned http_status(int service_code) {
  switch (static_cast<ErrorCode>(service_code)) {
    case ErrorCode::kInvalidJson:
    case ErrorCode::kInvalidEvent:
    case ErrorCode::kUnknownType:
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kInsufficientPoints:
      return 422;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
    case ErrorCode::kInvalidConfig:
      return 500;
  }
  return service_code == 0 ? 200 : 500;
}

std::string mask_ref(std::string_view ref) {
  const size_t colon = ref.find(':');
  const size_t start = colon == std::string_view::npos || colon > 16 ? 0 : colon + 1;
  std::string out(ref);
  const size_t rest = ref.size() - start;
  const size_t keep = rest <= 4 ? 0 : 2;
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(start),
            out.end() - static_cast<std::ptrdiff_t>(keep), '*');
  return out;
}

domain::FormatMapping mapping_for(const config::Settings& settings, std::string_view adapter) {
  if (auto it = settings.adapters.find(std::string(adapter)); it != settings.adapters.end()) {
    return it->second;
  }
  domain::FormatMapping m;
  m.branch = settings.branch;
  return m;
}

Api::Api(app::Service& service, const config::Settings& settings, std::string token)
    : service_(service), settings_(settings), token_(std::move(token)) {}

ApiResponse Api::handle(const ApiRequest& request) const {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  try {
    ApiResponse r = route(request, path);
    if (r.log_target.empty()) {
      r.log_target = std::string(path);
    }
    return r;
  } catch (const std::bad_alloc&) {
    ApiResponse r = error_response(503, ErrorCode::kUnavailable, "", "out of memory");
    r.log_target = "(unavailable)";
    return r;
  } catch (const std::exception& e) {
    ApiResponse r = error_response(500, ErrorCode::kInternal, "",
                                   std::string("unexpected failure: ") + e.what());
    r.log_target = "(internal)";
    return r;
  }
}

bool Api::answers_without_ledger(const ApiRequest& request) {
  const std::string_view target = request.target;
  return target.substr(0, target.find('?')) == kHealthPath;
}

bool Api::authorized(std::string_view authorization) const {
  if (token_.empty()) {
    return true;
  }
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      lower(authorization.substr(0, kScheme.size())) != kScheme) {
    return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') {
    given.remove_prefix(1);
  }
  return same_secret(given, token_);
}

ApiResponse Api::route(const ApiRequest& request, std::string_view path) const {
  const std::string& method = request.method;
  if (path == kHealthPath) {
    if (method != "GET") {
      return method_not_allowed("GET");
    }
    return healthz();
  }
  if (path == kAdminPrefix || path.rfind("/admin/", 0) == 0) {
    if (admin_ == nullptr) {
      return error_response(404, ErrorCode::kNotFound, "path",
                            "the admin page is off: set [daemon] admin_password_file and create "
                            "it with `loyaltyctl admin set-password`");
    }
    return admin_->handle(request, path);
  }
  if (!authorized(request.authorization)) {
    ApiResponse r =
        error_response(401, ErrorCode::kForbidden, "authorization",
                       "send \"Authorization: Bearer <token>\" with the daemon's token");
    r.ask_for_token = true;
    r.type = "unauthorized";
    // The path may carry a customer reference: never log it unmasked.
    r.log_target = path.rfind(kCustomersPrefix, 0) == 0 ? std::string(kCustomersPrefix) + "..."
                                                        : std::string(path);
    return r;
  }
  if (path == kEventsPath) {
    if (method != "POST") {
      return method_not_allowed("POST");
    }
    return events(request);
  }
  if (path.rfind(kAdaptersPrefix, 0) == 0) {
    const std::string_view name = path.substr(kAdaptersPrefix.size());
    if (adapters::find_adapter(name) == nullptr) {
      return error_response(404, ErrorCode::kNotFound, "path",
                            "no adapter '" + std::string(name) + "'; known: poslog, square, odoo");
    }
    if (method != "POST") {
      return method_not_allowed("POST");
    }
    return adapter(request, name);
  }
  if (path.rfind(kCustomersPrefix, 0) == 0 &&
      path.size() > kCustomersPrefix.size() + kBalanceSuffix.size() &&
      path.substr(path.size() - kBalanceSuffix.size()) == kBalanceSuffix) {
    const std::string_view ref = path.substr(
        kCustomersPrefix.size(), path.size() - kCustomersPrefix.size() - kBalanceSuffix.size());
    if (method != "GET") {
      ApiResponse r = method_not_allowed("GET");
      r.log_target = std::string(kCustomersPrefix) + mask_ref(ref) + std::string(kBalanceSuffix);
      return r;
    }
    return balance(request, ref);
  }
  return error_response(404, ErrorCode::kNotFound, "path",
                        "no such path; see docs/daemon.md for the routes");
}

ApiResponse Api::events(const ApiRequest& request) const {
  ApiResponse r;
  if (is_json_lines(request.content_type)) {
    const app::IngestReport report =
        app::ingest_jsonl(service_, request.body, "http", app::JsonFraming::kLines);
    // Each line has its own answer in the array; the status says the batch was read.
    r.status = 200;
    r.body = app::encode_responses(report);
    r.type = "jsonl";
    r.event_id = std::to_string(report.events.size()) + " lines, " +
                 std::to_string(report.failed()) + " failed";
    return r;
  }
  app::Outcome out = service_.handle(request.body, "http");
  r.status = http_status(out.code);
  r.body = std::move(out.json);
  note_response(r, r.body, request.body);
  return r;
}

ApiResponse Api::adapter(const ApiRequest& request, std::string_view name) const {
  const adapters::Adapter& a = *adapters::find_adapter(name);
  auto report = app::ingest(service_, a, request.body, mapping_for(settings_, name),
                            "http:" + std::string(name));
  ApiResponse r;
  r.type = "adapter:" + std::string(name);
  if (!report) {
    r.status = http_status(static_cast<int>(report.error().code));
    r.body = protocol::encode_error(report.error());
    return r;
  }
  r.status = 200;
  r.body = app::encode_report(*report);
  r.event_id = std::to_string(report->events.size()) + " events, " +
               std::to_string(report->failed()) + " failed";
  return r;
}

ApiResponse Api::balance(const ApiRequest& request, std::string_view encoded_ref) const {
  std::string ref;
  if (!url_decode(encoded_ref, ref)) {
    ApiResponse r = error_response(400, ErrorCode::kInvalidArgument, "path",
                                   "the customer reference has a malformed %-escape");
    r.log_target = std::string(kCustomersPrefix) + mask_ref(encoded_ref) + "/balance";
    return r;
  }
  domain::BalanceQuery q;
  q.h.id = "http-" + request.request_id;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  q.h.at.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  q.customer = ref;
  app::Outcome out = service_.handle(protocol::encode_request(q), "http");
  ApiResponse r;
  r.status = http_status(out.code);
  r.body = std::move(out.json);
  r.type = "balance.query";
  r.event_id = q.h.id;
  r.log_target = std::string(kCustomersPrefix) + mask_ref(ref) + "/balance";
  return r;
}

ApiResponse Api::healthz() const {
  ApiResponse r;
  r.type = "healthz";
  r.body = R"({"ok":true,"branch":)";
  nlohmann::json branch = settings_.branch;
  r.body += branch.dump();
  r.body += R"(,"program":")" + settings_.program.version + "\"}";
  return r;
}

}  // namespace loyalty::daemon
