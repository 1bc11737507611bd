// pos-sim: a reference POS host. It loads libloyalty.so with dlopen, exactly as a POS would,
// replays a JSON Lines day of a store through loyalty_handle, prints each receipt, and
// summarises the day.
//
// A points tender may say "hold": "$HOLD": pos-sim replaces it with the hold that the last
// points.authorize of the same ticket returned (a real POS keeps it in its ticket).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "loyalty/loyalty.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Api {
  void* so = nullptr;
  uint32_t (*abi_version)() = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

template <class F>
void resolve(void* so, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(so, name));
  if (out == nullptr) throw std::runtime_error(std::string("symbol ") + name + " missing");
}

Api load(const std::string& path) {
  Api a;
  a.so = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (a.so == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  resolve(a.so, "loyalty_abi_version", a.abi_version);
  resolve(a.so, "loyalty_open", a.open);
  resolve(a.so, "loyalty_handle", a.handle);
  resolve(a.so, "loyalty_free", a.free);
  resolve(a.so, "loyalty_close", a.close);
  return a;
}

struct Totals {
  std::map<std::string, int64_t> by_type, errors;
  int64_t earned = 0, redeemed = 0, clawed_back = 0, restored = 0, sales = 0, replayed = 0;
  std::vector<double> latency_us;
  void merge(const Totals& o) {
    for (auto& [k, v] : o.by_type) by_type[k] += v;
    for (auto& [k, v] : o.errors) errors[k] += v;
    earned += o.earned;
    redeemed += o.redeemed;
    clawed_back += o.clawed_back;
    restored += o.restored;
    sales += o.sales;
    replayed += o.replayed;
    latency_us.insert(latency_us.end(), o.latency_us.begin(), o.latency_us.end());
  }
};

std::string pad(const std::string& s, size_t w) {
  size_t cols = 0;
  for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
  return s + std::string(w > cols ? w - cols : 0, ' ');
}

// A 42-column receipt: the POS's own part, then the lines the plugin asked to print.
void print_receipt(const json& req, const json& resp) {
  const std::string bar(42, '-');
  std::string title = req["type"] == "refund.completed" ? "DEVOLUCION " : "TICKET ";
  std::cout << bar << "\n" << title << req.value("ticket", "") << "   " << req.value("at", "").substr(0, 16) << "\n";
  for (const auto& l : req.value("lines", json::array())) {
    std::string name = l.value("sku", "linea " + std::to_string(l.value("n", 0)));
    std::string qty = l.value("qty", "");
    std::string amount = l.value("amount", "");
    std::string left = (qty.empty() ? "" : qty + " x ") + name;
    std::cout << pad(left, 32) << std::string(10 - std::min<size_t>(10, amount.size()), ' ') << amount << "\n";
  }
  for (const auto& t : req.value("tenders", json::array())) {
    std::string a = t.value("amount", "");
    std::cout << pad("  " + t.value("method", ""), 32) << std::string(10 - std::min<size_t>(10, a.size()), ' ') << a
              << "\n";
    if (t.contains("change")) {
      std::string c = t.value("change", "");
      std::cout << pad("  cambio", 32) << std::string(10 - std::min<size_t>(10, c.size()), ' ') << c << "\n";
    }
  }
  if (resp.value("ok", false)) {
    const auto& lines = resp.value("receipt", json::array());
    if (!lines.empty()) std::cout << "· · · · · · · · · · · · · · · · · · · · ·\n";
    for (const auto& l : lines) std::cout << l.get<std::string>() << "\n";
    for (const auto& w : resp.value("warnings", json::array())) std::cout << "  [aviso] " << w.get<std::string>() << "\n";
  }
  std::cout << bar << "\n\n";
}

struct Replayer {
  const Api& api;
  loyalty_plugin* plugin;
  bool quiet;
  std::map<std::string, std::string> holds;  // ticket -> last hold (per thread)

  void run(const std::string& line, Totals& t) {
    json req = json::parse(line, nullptr, false);
    std::string body = line;
    if (!req.is_discarded() && req.is_object() && req.contains("tenders") && req["tenders"].is_array()) {
      bool changed = false;
      for (auto& tender : req["tenders"]) {
        if (tender.is_object() && tender.value("hold", "") == "$HOLD") {
          auto it = holds.find(req.value("ticket", ""));
          if (it != holds.end()) tender["hold"] = it->second;
          else tender.erase("hold");
          changed = true;
        }
      }
      if (changed) body = req.dump();
    }
    char* out = nullptr;
    const auto t0 = Clock::now();
    const int rc = api.handle(plugin, body.data(), body.size(), &out);
    t.latency_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    json resp = json::parse(out ? out : "{}", nullptr, false);
    api.free(out);
    const std::string type = req.is_object() ? req.value("type", "?") : "?";
    t.by_type[type] += 1;
    if (rc != 0) {
      const auto& e = resp.value("error", json::object());
      t.errors[e.value("code", std::to_string(rc))] += 1;
      if (!quiet) {
        std::cout << "!! " << type << " " << (req.is_object() ? req.value("id", "") : "") << ": "
                  << e.value("code", "") << " " << e.value("field", "") << " " << e.value("message", "") << "\n\n";
      }
      return;
    }
    if (type == "sale.completed") {
      t.sales += 1;
      t.earned += resp.value("earned", 0);
      t.redeemed += resp.value("redeemed", 0);
    } else if (type == "refund.completed") {
      t.clawed_back += resp.value("clawed_back", 0);
      t.restored += resp.value("restored", 0);
    } else if (type == "points.authorize") {
      holds[req.value("ticket", "")] = resp.value("hold", "");
    } else if (type == "sale.voided") {
      t.clawed_back += resp.value("clawed_back", 0);
    }
    if (quiet) return;
    if (type == "sale.completed" || type == "refund.completed") {
      print_receipt(req, resp);
    } else if (type == "points.authorize") {
      std::cout << ">> autorizado " << resp.value("points", 0) << " pts para ticket " << req.value("ticket", "")
                << " (" << resp.value("hold", "") << ")\n\n";
    } else if (type == "balance.query") {
      std::cout << ">> saldo " << req.value("customer", "") << ": " << resp.value("balance", 0) << " pts ("
                << resp.value("balance_value", "") << ")\n\n";
    } else {
      std::cout << ">> " << type << " " << req.value("id", "") << ": ok\n\n";
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pos-sim — a reference POS host: loads libloyalty.so and replays a store day"};
  app.footer(
      "Example:\n"
      "  pos-sim --config examples/pos-sim/cafe.toml --day examples/pos-sim/cafe-day.jsonl\n"
      "  pos-sim --config big.toml --day 100k.jsonl --quiet --json-summary out.json\n"
      "The day is JSON Lines, one contract request per line. A points tender with\n"
      "\"hold\": \"$HOLD\" gets the hold of the ticket's last points.authorize.");
  std::string plugin_path = LOYALTY_SO_DEFAULT, config, day, summary_path;
  bool quiet = false, expect_no_errors = false;
  std::string progress = "auto";
  int threads = 1;
  app.add_option("--plugin", plugin_path, "libloyalty.so to load")->capture_default_str();
  app.add_option("--config", config, "the plugin's TOML file")->required();
  app.add_option("--day", day, "JSON Lines file to replay")->required();
  app.add_flag("--quiet", quiet, "no receipts, only the summary");
  app.add_option("--progress", progress, "auto (on a terminal), always or never")->capture_default_str();
  app.add_option("--threads", threads, "replay with N POS threads (implies --quiet)")->check(CLI::Range(1, 64));
  app.add_option("--json-summary", summary_path, "also write the summary as JSON");
  app.add_flag("--expect-no-errors", expect_no_errors, "exit 1 if any request fails");
  CLI11_PARSE(app, argc, argv);
  if (threads > 1) quiet = true;

  std::vector<std::string> lines;
  {
    std::ifstream in(day);
    if (!in) {
      std::cerr << "pos-sim: cannot read " << day << "\n";
      return 2;
    }
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) lines.push_back(std::move(l));
    }
  }

  Api api;
  try {
    api = load(plugin_path);
  } catch (const std::exception& e) {
    std::cerr << "pos-sim: " << plugin_path << ": " << e.what() << "\n";
    return 2;
  }
  if (api.abi_version() != LOYALTY_ABI_VERSION) {
    std::cerr << "pos-sim: plugin ABI " << api.abi_version() << ", expected " << LOYALTY_ABI_VERSION << "\n";
    return 2;
  }
  loyalty_plugin* plugin = nullptr;
  char* err = nullptr;
  if (api.open(config.c_str(), &plugin, &err) != 0) {
    std::cerr << "pos-sim: loyalty_open: " << (err ? err : "?") << "\n";
    api.free(err);
    return 2;
  }

  const bool show_progress = progress == "always" || (progress == "auto" && quiet && isatty(2));
  std::atomic<size_t> done{0};
  Totals total;
  std::mutex mu;
  const auto t0 = Clock::now();
  auto worker = [&](int index) {
    Replayer r{api, plugin, quiet, {}};
    Totals t;
    for (size_t i = static_cast<size_t>(index); i < lines.size(); i += static_cast<size_t>(threads)) {
      r.run(lines[i], t);
      const size_t n = ++done;
      if (show_progress && index == 0 && n % 2000 < static_cast<size_t>(threads)) {
        std::fprintf(stderr, "\r%zu / %zu requests", n, lines.size());
      }
    }
    std::lock_guard lock(mu);
    total.merge(t);
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker, i);
  worker(0);
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (show_progress) std::fprintf(stderr, "\r%zu / %zu requests\n", lines.size(), lines.size());
  api.close(plugin);

  std::sort(total.latency_us.begin(), total.latency_us.end());
  auto pct = [&](double p) {
    return total.latency_us.empty() ? 0.0
                                    : total.latency_us[std::min(total.latency_us.size() - 1,
                                                                static_cast<size_t>(p * total.latency_us.size()))];
  };
  int64_t error_count = 0;
  for (auto& [k, v] : total.errors) error_count += v;
  std::cout << "==== resumen del día / day summary ====\n";
  for (auto& [k, v] : total.by_type) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(v));
  std::printf("  errors             %8lld", static_cast<long long>(error_count));
  for (auto& [k, v] : total.errors) std::printf("  %s=%lld", k.c_str(), static_cast<long long>(v));
  std::printf("\n  points earned      %8lld\n  points redeemed    %8lld\n  points clawed back %8lld\n"
              "  points restored    %8lld\n",
              static_cast<long long>(total.earned), static_cast<long long>(total.redeemed),
              static_cast<long long>(total.clawed_back), static_cast<long long>(total.restored));
  std::printf("  %zu requests in %.2f s: %.0f requests/s, %.0f sales/s; loyalty_handle p50 %.0f us, p99 %.0f us\n",
              lines.size(), secs, lines.size() / secs, total.sales / secs, pct(0.5), pct(0.99));
  if (!summary_path.empty()) {
    json s = {{"requests", lines.size()}, {"seconds", secs}, {"requests_per_second", lines.size() / secs},
              {"sales", total.sales}, {"sales_per_second", total.sales / secs}, {"errors", total.errors},
              {"by_type", total.by_type}, {"earned", total.earned}, {"redeemed", total.redeemed},
              {"clawed_back", total.clawed_back}, {"restored", total.restored}, {"p50_us", pct(0.5)},
              {"p99_us", pct(0.99)}};
    std::ofstream(summary_path) << s.dump(2) << "\n";
  }
  if (total.errors.count("internal")) return 1;
  if (expect_no_errors && error_count > 0) return 1;
  return 0;
}
