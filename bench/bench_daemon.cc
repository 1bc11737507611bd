// Load bench of loyaltyd: POST /v1/events sales over keep-alive connections, paced (open
// loop) to a fixed rate, with latency measured from each request's scheduled send time so
// that a stall is not hidden by the client waiting (coordinated omission).
//
// Target: 500 requests/s for ~10 s, p99 < 5 ms, no error.
//
//   bench_daemon                              # in-process daemon on a fresh ledger
//   bench_daemon --rate 500 --seconds 10 --connections 8 --sync full
//   bench_daemon --port 8380                  # a running daemon on 127.0.0.1:8380
//
// Prints one JSON line: rate, requests, errors, p50/p90/p99/max in microseconds.
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.h"
#include "ledger/sqlite_ledger.h"
#include "command_line/command_line.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string sale(uint64_t n, int customers) {
  const std::string id = "BENCH-" + std::to_string(n);
  return R"({"type":"sale.completed","id":")" + id +
         R"(","at":"2026-11-22T10:15:00-06:00","ticket":")" + id + R"(","customer":"card:)" +
         std::to_string(1'000'000 + n % customers) +
         R"(","lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"}],)"
         R"("tenders":[{"method":"cash","amount":"90.00"}]})";
}

struct Result {
  std::vector<int64_t> latencies_us;
  std::vector<uint64_t> request_no;  // parallel to latencies_us: which request (its due time)
  uint64_t errors = 0;
  std::string first_error;
};

// One keep-alive connection; sends requests k, k+N, k+2N, ... each at its scheduled time.
void client(uint16_t port, int index, int connections, uint64_t total, double rate,
            Clock::time_point t0, int customers, const std::string& run, Result& out) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    out.errors += total / static_cast<uint64_t>(connections);
    out.first_error = "connect: " + ec.message();
    return;
  }
  beast::flat_buffer buffer;
  for (uint64_t n = static_cast<uint64_t>(index); n < total;
       n += static_cast<uint64_t>(connections)) {
    const auto due = t0 + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * n / rate));
    std::this_thread::sleep_until(due);
    http::request<http::string_body> req{http::verb::post, "/v1/events", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = sale(n, customers);
    req.body().replace(req.body().find("BENCH-"), 6, "BENCH-" + run + "-");
    req.prepare_payload();
    http::write(stream, req, ec);
    http::response<http::string_body> res;
    if (!ec) {
      http::read(stream, buffer, res, ec);
    }
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due).count();
    out.latencies_us.push_back(us);
    out.request_no.push_back(n);
    if (ec || res.result() != http::status::ok) {
      ++out.errors;
      if (out.first_error.empty()) {
        out.first_error = ec ? ec.message() : std::to_string(res.result_int()) + " " + res.body();
      }
      if (ec) {
        return;
      }
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_daemon: paced POST /v1/events load against loyaltyd"};
  double rate = 500;
  double seconds = 10;
  int connections = 8;
  int customers = 1000;
  int port = 0;
  std::string sync = "full";
  int commit_hold_ms = -1;
  app.add_option("--rate", rate, "requests per second (default 500)");
  app.add_option("--seconds", seconds, "duration (default 10)");
  app.add_option("--connections", connections, "keep-alive connections (default 8)");
  app.add_option("--customers", customers, "distinct customers (default 1000)");
  app.add_option("--port", port, "a running daemon on 127.0.0.1; default: start one in-process");
  app.add_option("--sync", sync, "plugin.synchronous of the in-process daemon (default full)");
  app.add_option("--commit-hold-ms", commit_hold_ms,
                 "plugin.commit_hold_ms of the in-process daemon (default: the plugin's own)");
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;

  std::unique_ptr<loyalty::daemon::Daemon> daemon;
  std::string dir;
  if (port == 0) {
    char tmpl[] = "/tmp/bench-daemon-XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir + "/loyalty.toml")
        << "[plugin]\nbranch = \"B01\"\nsynchronous = \"" << sync << "\"\nlog = \"loyalty.log\"\n"
        << (commit_hold_ms >= 0 ? "commit_hold_ms = " + std::to_string(commit_hold_ms) + "\n" : "")
        << "[daemon]\nport = 0\n";
    auto d = loyalty::daemon::Daemon::open(dir + "/loyalty.toml");
    if (!d) {
      std::fprintf(stderr, "bench_daemon: %s\n", d.error().message.c_str());
      return 1;
    }
    daemon = std::move(*d);
    if (auto st = daemon->start(); !st) {
      std::fprintf(stderr, "bench_daemon: %s\n", st.error().message.c_str());
      return 1;
    }
    port = daemon->port();
  }

  const uint64_t total = static_cast<uint64_t>(rate * seconds);
  const std::string run = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  std::vector<Result> results(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now() + std::chrono::milliseconds(100);
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back(client, static_cast<uint16_t>(port), i, connections, total, rate, t0,
                         customers, run, std::ref(results[static_cast<size_t>(i)]));
  }
  for (auto& t : threads) {
    t.join();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<int64_t> all;
  uint64_t errors = 0;
  std::string first_error;
  for (const Result& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    errors += r.errors;
    if (first_error.empty()) {
      first_error = r.first_error;
    }
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "{\"rate\":%.0f,\"achieved_rate\":%.1f,\"requests\":%zu,\"errors\":%llu,\"connections\":%d,"
      "\"sync\":\"%s\",\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,\"max_us\":%lld}\n",
      rate, static_cast<double>(all.size()) / elapsed, all.size(),
      static_cast<unsigned long long>(errors), connections, sync.c_str(),
      static_cast<long long>(percentile(all, 0.50)), static_cast<long long>(percentile(all, 0.90)),
      static_cast<long long>(percentile(all, 0.99)),
      static_cast<long long>(all.empty() ? 0 : all.back()));
  if (!first_error.empty()) {
    std::fprintf(stderr, "first error: %s\n", first_error.c_str());
  }
  // Where the slowest requests were due (ms after the start): a stall shows as a run of
  // neighbours; and what the ledger's commits and checkpoints cost meanwhile.
  std::vector<std::pair<int64_t, uint64_t>> slowest;
  for (const Result& r : results) {
    for (size_t i = 0; i < r.latencies_us.size(); ++i) {
      slowest.emplace_back(r.latencies_us[i], r.request_no[i]);
    }
  }
  const size_t show = std::min<size_t>(5, slowest.size());
  std::partial_sort(slowest.begin(), slowest.begin() + static_cast<std::ptrdiff_t>(show),
                    slowest.end(), std::greater<>());
  std::fprintf(stderr, "slowest (due at ms: latency us):");
  for (size_t i = 0; i < show; ++i) {
    std::fprintf(stderr, " %.0f: %lld", 1e3 * static_cast<double>(slowest[i].second) / rate,
                 static_cast<long long>(slowest[i].first));
  }
  std::fprintf(stderr, "\n");
  // p99 of each second of the run (by due time): whether the tail is spread over the run or
  // sits in a few seconds (a fresh ledger's WAL grows during the first ~3 s).
  std::vector<std::vector<int64_t>> by_second;
  for (const auto& [latency, no] : slowest) {
    const auto sec = static_cast<size_t>(static_cast<double>(no) / rate);
    if (sec >= by_second.size()) by_second.resize(sec + 1);
    by_second[sec].push_back(latency);
  }
  std::fprintf(stderr, "p99 by second (us):");
  for (auto& v : by_second) {
    std::sort(v.begin(), v.end());
    std::fprintf(stderr, " %lld", static_cast<long long>(percentile(v, 0.99)));
  }
  std::fprintf(stderr, "\n");
  if (daemon) {
    if (auto ledger =
            std::dynamic_pointer_cast<loyalty::ledger::SqliteLedger>(daemon->runtime().store())) {
      const auto st = ledger->stats();
      std::fprintf(stderr,
                   "ledger: %llu commits (slowest %lld us), %llu background checkpoints (slowest "
                   "%lld us), %llu foreground checkpoints (slowest %lld us), WAL up to %lld pages\n",
                   static_cast<unsigned long long>(st.commits),
                   static_cast<long long>(st.max_commit_us),
                   static_cast<unsigned long long>(st.background_checkpoints),
                   static_cast<long long>(st.max_background_checkpoint_us),
                   static_cast<unsigned long long>(st.foreground_checkpoints),
                   static_cast<long long>(st.max_foreground_checkpoint_us),
                   static_cast<long long>(st.max_wal_pages));
    }
  }
  daemon.reset();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  const bool pass = errors == 0 && percentile(all, 0.99) < 5000;
  return pass ? 0 : 3;
}
