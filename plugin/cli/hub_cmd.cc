#include "hub_cmd.h"

#include <openssl/ssl.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace loyalty::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
};

// "https://host:port" or "http://127.0.0.1:port" (no path).
bool parse_url(const std::string& text, Url& url, std::string& error) {
  std::string rest;
  if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else {
    error = "--hub must start with https:// or http://";
    return false;
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find('/') != std::string::npos) {
    error = "--hub must be scheme://host:port, e.g. https://hub.example:8443";
    return false;
  }
  url.host = rest.substr(0, colon);
  url.port = rest.substr(colon + 1);
  if (!url.tls) {
    boost::system::error_code ec;
    const auto a = net::ip::make_address(url.host, ec);
    if (url.host != "localhost" && (ec || !a.is_loopback())) {
      error = "--hub: plain http only to a loopback address; use https://";
      return false;
    }
  }
  return true;
}

// One request; returns the status and body, or throws boost::system::system_error.
std::pair<int, std::string> request(const Url& url, const std::string& ca_file, http::verb verb,
                                    const std::string& target, const std::string& token,
                                    const std::string& body) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(url.host, url.port);
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, url.host);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::user_agent, "loyaltyctl");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/toml");
    req.body() = body;
  }
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (url.tls) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    if (ca_file.empty()) {
      ctx.set_default_verify_paths();
    } else {
      ctx.load_verify_file(ca_file);
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
      throw boost::system::system_error(
          beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
    }
    stream.set_verify_callback(ssl::host_name_verification(url.host));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(15));
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(ssl::stream_base::client);
    http::write(stream, req);
    http::read(stream, buffer, res);
    beast::error_code ec;
    stream.shutdown(ec);  // the hub closes after answering; a short read is normal here
  } else {
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(15));
    stream.connect(endpoints);
    http::write(stream, req);
    http::read(stream, buffer, res);
  }
  return {res.result_int(), res.body()};
}

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::function<std::optional<int>()> register_hub_command(CLI::App& app) {
  struct Options {
    std::string hub = "http://127.0.0.1:8443";
    std::string token_file;
    std::string ca_file;
    std::string document;
    bool as_json = false;
  };
  auto o = std::make_shared<Options>();
  auto* hub = app.add_subcommand("hub", "the central program configuration on the sync hub");
  hub->require_subcommand(1);
  hub->footer(
      "Examples:\n"
      "  loyaltyctl hub config set program.toml --hub https://hub.example:8443 --token-file "
      "admin.tok\n"
      "  loyaltyctl hub config show --hub https://hub.example:8443 --token-file admin.tok\n"
      "  loyaltyctl hub overdraws --hub https://hub.example:8443 --token-file admin.tok\n"
      "The admin token comes from `loyalty-hub token add admin` on the hub.");
  auto common = [o](CLI::App* sub) {
    sub->add_option("--hub", o->hub, "hub URL, https://host:port (http only to loopback)");
    sub->add_option("--token-file", o->token_file, "file holding the hub's admin token")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--ca-file", o->ca_file, "CA certificates for https (default: system store)");
  };
  auto* config = hub->add_subcommand("config", "show or set the central program document");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the current version and document");
  common(show);
  show->footer(
      "Example: loyaltyctl hub config show --hub https://hub.example:8443 --token-file admin.tok");
  auto* set = config->add_subcommand(
      "set",
      "send a TOML program document ([program], [receipt]); the hub validates it and "
      "pushes it to every branch");
  set->add_option("FILE", o->document, "the TOML document")->required()->check(CLI::ExistingFile);
  common(set);
  set->footer(
      "Example: loyaltyctl hub config set program.toml --hub https://hub.example:8443 --token-file "
      "admin.tok");
  auto* overdraws = hub->add_subcommand("overdraws", "list the hub's overdraw reports");
  common(overdraws);
  overdraws->add_flag("--json", o->as_json, "print the hub's JSON");
  overdraws->footer(
      "Example: loyaltyctl hub overdraws --hub https://hub.example:8443 --token-file admin.tok");

  return [o, hub, show, set, overdraws]() -> std::optional<int> {
    if (!hub->parsed()) return std::nullopt;
    Url url;
    std::string error;
    if (!parse_url(o->hub, url, error)) {
      std::cerr << "loyaltyctl: " << error << "\n";
      return 2;
    }
    bool ok = false;
    std::string token = read_file(o->token_file, ok);
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (!ok || token.empty()) {
      std::cerr << "loyaltyctl: --token-file " << o->token_file << " is empty or unreadable\n";
      return 2;
    }
    try {
      if (set->parsed()) {
        const std::string doc = read_file(o->document, ok);
        if (!ok) {
          std::cerr << "loyaltyctl: cannot read " << o->document << "\n";
          return 2;
        }
        auto [status, body] = request(url, o->ca_file, http::verb::put, "/v1/config", token, doc);
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (status == 200 && j.is_object()) {
          std::cout << "stored version " << j.value("version", "") << "\n";
          return 0;
        }
        std::cerr << "loyaltyctl: hub answered " << status << ": "
                  << (j.is_object() ? j.value("field", "") + ": " + j.value("message", "") : body)
                  << "\n";
        return 1;
      }
      if (show->parsed()) {
        auto [status, body] = request(url, o->ca_file, http::verb::get, "/v1/config", token, "");
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (status != 200 || !j.is_object()) {
          std::cerr << "loyaltyctl: hub answered " << status << ": " << body << "\n";
          return 1;
        }
        std::cout << "# version " << j.value("version", "") << "\n" << j.value("document", "");
        return 0;
      }
      if (overdraws->parsed()) {
        auto [status, body] = request(url, o->ca_file, http::verb::get, "/v1/overdraws", token, "");
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (status != 200 || !j.is_object()) {
          std::cerr << "loyaltyctl: hub answered " << status << ": " << body << "\n";
          return 1;
        }
        if (o->as_json) {
          std::cout << j.dump(2) << "\n";
          return 0;
        }
        std::cout << "offset  account_id  balance  branches\n";
        for (const auto& r : j["overdraws"]) {
          std::string branches;
          if (r.contains("details") && r["details"].is_object() &&
              r["details"].contains("branches")) {
            for (const auto& b : r["details"]["branches"]) {
              branches += (branches.empty() ? "" : ",") + b.get<std::string>();
            }
          }
          std::cout << r.value("offset", 0) << "  " << r.value("account_id", "") << "  "
                    << r.value("balance", 0) << "  " << branches << "\n";
        }
        return 0;
      }
    } catch (const std::exception& e) {
      std::cerr << "loyaltyctl: hub " << o->hub << ": " << e.what() << "\n";
      return 1;
    }
    return 2;
  };
}

}  // namespace loyalty::cli
