// loyalty-probe: proves that a libloyalty.so works on a branch, the way a POS uses it.
//
// It dlopens the library given by path (never the one the dynamic linker would find),
// checks loyalty_abi_version, opens the plugin with a configuration (which opens the real
// ledger and runs its pending migrations), asks plugin.info and a balance.query, closes
// the plugin and prints one JSON object on stdout. loyalty-install runs it to prove a new
// version before switching to it and to prove the old one after a rollback.
//
// Exit codes: 0 the library answered, 1 it did not (the JSON says which step failed),
// 2 usage error.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "loyalty/loyalty.h"
#include "command_line/command_line.h"

namespace {

using nlohmann::json;

struct Api {
  uint32_t (*abi_version)() = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

template <typename F>
bool bind(void* so, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(so, name));
  return out != nullptr;
}

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Parses a body the plugin returned (or a placeholder when it returned none).
json take(const Api& api, char* s) {
  if (s == nullptr) return json{{"ok", false}, {"error", "the plugin returned no body"}};
  json j = json::parse(s, nullptr, false);
  api.free(s);
  if (j.is_discarded()) return json{{"ok", false}, {"error", "the plugin returned invalid JSON"}};
  return j;
}

int fail(json& out, const std::string& step, const std::string& message) {
  out["ok"] = false;
  out["failed_step"] = step;
  out["error"] = message;
  std::cout << out.dump() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-probe — load a libloyalty.so and prove it answers on a branch's ledger"};
  app.footer(
      "Example:\n"
      "  loyalty-probe --so /srv/loyalty/versions/0.2.0/lib/libloyalty.so \\\n"
      "                --config /srv/loyalty/etc/loyalty.toml --customer card:4000123\n"
      "Prints one JSON object: so (resolved path), abi_version, info (plugin.info), balance\n"
      "(balance.query; not_found counts as an answer). Exit 0 ok, 1 failed, 2 usage.\n"
      "Opening the plugin runs the ledger's pending migrations.");
  std::string so_path, config, customer = "pos:loyalty-probe", requests;
  app.add_option("--so", so_path, "the libloyalty.so to load (a path, never searched)")->required();
  app.add_option("-c,--config", config, "the plugin's TOML configuration")->required();
  app.add_option("--customer", customer, "customer reference for the balance query");
  app.add_option("--requests", requests,
                 "also send each line of this JSON-lines file (fails on any error response)");
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;

  json out = {{"ok", false}, {"so", so_path}};
  char resolved[PATH_MAX];
  if (realpath(so_path.c_str(), resolved) != nullptr) out["so"] = std::string(resolved);
  if (so_path.find('/') == std::string::npos) so_path = "./" + so_path;  // never a search

  void* so = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (so == nullptr) {
    const char* e = dlerror();
    return fail(out, "dlopen", e ? e : "dlopen failed");
  }
  Api api;
  if (!bind(so, "loyalty_abi_version", api.abi_version) || !bind(so, "loyalty_open", api.open) ||
      !bind(so, "loyalty_handle", api.handle) || !bind(so, "loyalty_free", api.free) ||
      !bind(so, "loyalty_close", api.close)) {
    return fail(out, "dlsym", "the library does not export the five loyalty_* functions");
  }
  const uint32_t abi = api.abi_version();
  out["abi_version"] = abi;
  if (abi != LOYALTY_ABI_VERSION) {
    return fail(out, "abi_version",
                "ABI version " + std::to_string(abi) + ", this probe speaks " +
                    std::to_string(LOYALTY_ABI_VERSION));
  }

  const auto t0 = std::chrono::steady_clock::now();
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  const int rc = api.open(config.c_str(), &p, &err);
  const auto open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  out["open_ms"] = static_cast<int64_t>(open_ms);
  if (rc != 0) {
    json e = take(api, err);
    out["open_error"] = e;
    const json& detail = e.contains("error") ? e["error"] : e;
    std::string why = detail.dump();
    if (detail.is_object()) {
      const std::string field = detail.value("field", "");
      why = (field.empty() ? "" : field + ": ") + detail.value("message", detail.dump());
    }
    return fail(out, "open", why);
  }

  auto call = [&](const json& req, int* code) {
    const std::string body = req.dump();
    char* resp = nullptr;
    *code = api.handle(p, body.data(), body.size(), &resp);
    return take(api, resp);
  };
  int code = 0;
  const std::string at = now_rfc3339();
  out["info"] = call({{"type", "plugin.info"}, {"id", "loyalty-probe-info"}, {"at", at}}, &code);
  if (code != 0) {
    api.close(p);
    return fail(out, "plugin.info", out["info"].dump());
  }
  out["balance"] =
      call({{"type", "balance.query"}, {"id", "loyalty-probe"}, {"at", at}, {"customer", customer}},
           &code);
  if (code != 0 && code != LOYALTY_ERR_NOT_FOUND) {
    api.close(p);
    return fail(out, "balance.query", out["balance"].dump());
  }

  if (!requests.empty()) {
    std::ifstream in(requests);
    if (!in) {
      api.close(p);
      return fail(out, "requests", "cannot read " + requests);
    }
    std::string line;
    int64_t sent = 0, n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      char* resp = nullptr;
      const int c = api.handle(p, line.data(), line.size(), &resp);
      json r = take(api, resp);
      if (c != 0) {
        api.close(p);
        return fail(out, "requests", requests + ":" + std::to_string(n) + ": " + r.dump());
      }
      ++sent;
    }
    out["requests_sent"] = sent;
  }
  api.close(p);
  out["ok"] = true;
  std::cout << out.dump() << "\n";
  return 0;
}
