// bench_hub: loyalty-hub under load, speaking sync protocol v1 over real sockets.
//
//   bench_hub --branches 1000 --rate 50 --seconds 20     # trickle: p50/p99 branch->branch
//   bench_hub --backlog 100000                          # one branch's backlog to a second
//
// It starts the loyalty-hub binary (a fresh database in a temp directory; tokens as
// [branches.<id>] token_sha256 in the hub's TOML), opens N simulated branches on one
// io_context (Beast websocket clients), and:
//   trickle: pushes `rate` single-entry batches per second from random branches for
//     `seconds`; every other branch records push->receipt latency (the entry's ticket holds
//     the steady-clock send time; same machine, same clock). Prints p50/p99/max over all
//     receipts and over "fan-out complete" (the last of the N-1 receipts of an entry), plus
//     the hub's RSS (/proc/<pid>/statm) after connect and at the end.
//   backlog: branch B0 pushes `backlog` entries in batches of 500 (4 in flight) while B1 is
//     connected; prints time until everything is acked (ingest) and until B1 received all
//     of it (fan-out), and the rates.
// Figures are noisy on a shared 2-core machine: the bench client runs on the same cores.
#include <openssl/sha.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sync/protocol/frames.h"
#include "proc_cpu.h"
#include "command_line/command_line.h"

namespace {

using loyalty::bench::cpu_of;
using loyalty::bench::own_cpu;

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;
using loyalty::sync::Entry;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

int64_t rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  int64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

struct EntryStat {
  int64_t sent_ns = 0;
  int received = 0;
  int64_t last_ns = 0;
};

struct Bench;

class Branch : public std::enable_shared_from_this<Branch> {
 public:
  Branch(Bench& bench, net::io_context& ioc, int index);
  void start(uint16_t port);
  void push(std::vector<Entry> entries);
  int index() const { return index_; }
  bool ready = false;
  int64_t next_seq = 1;
  int64_t acked = 0;
  int64_t received = 0;

 private:
  void on_connect(beast::error_code ec);
  void on_handshake(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t);
  void send(std::string text);
  void write_next();

  Bench& bench_;
  int index_;
  std::string id_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  uint16_t port_ = 0;
};

struct Bench {
  net::io_context ioc{1};
  std::vector<std::shared_ptr<Branch>> branches;
  std::vector<EntryStat> stats;  // by ticket index
  std::vector<int64_t> receipt_ns;
  int ready = 0;
  int failed = 0;
  int n = 0;
  std::string data_json;

  Entry make_entry(Branch& b, int64_t ticket_index) {
    Entry e;
    e.origin_branch = "B" + std::to_string(b.index());
    e.origin_seq = b.next_seq++;
    e.entry_id = e.origin_branch + "/bench-" + std::to_string(e.origin_seq) + "/earn";
    e.node_epoch = "0123456789abcdef";
    e.account_id = e.origin_branch + "-01HBENCHACCOUNT" + std::to_string(e.origin_seq % 50);
    e.kind = "earn";
    e.points = 45;
    e.request_id = "bench-" + std::to_string(e.origin_seq);
    e.branch = e.origin_branch;
    e.ticket = std::to_string(ticket_index) + ":" + std::to_string(now_ns());
    e.business_at = "2026-11-22T10:15:00-06:00";
    e.recorded_at_ms = 1790000000000;
    e.expires_at = "2027-11-22T10:15:00-06:00";
    e.program_version = "a1b2c3d4e5f60718";
    e.body_hash = sha256_hex(e.entry_id);
    e.data = data_json;
    return e;
  }

  // Every receipt: the ticket tells which entry and when it was sent.
  void on_entries(const std::string& text) {
    const int64_t t = now_ns();
    size_t pos = 0;
    static const std::string key = "\"ticket\":\"";
    while ((pos = text.find(key, pos)) != std::string::npos) {
      pos += key.size();
      const size_t colon = text.find(':', pos);
      const size_t end = text.find('"', pos);
      if (colon == std::string::npos || end == std::string::npos || colon > end) continue;
      const int64_t idx = std::stoll(text.substr(pos, colon - pos));
      const int64_t sent = std::stoll(text.substr(colon + 1, end - colon - 1));
      receipt_ns.push_back(t - sent);
      if (idx >= 0 && idx < static_cast<int64_t>(stats.size())) {
        auto& s = stats[static_cast<size_t>(idx)];
        ++s.received;
        s.last_ns = std::max(s.last_ns, t);
      }
    }
  }
};

Branch::Branch(Bench& bench, net::io_context& ioc, int index)
    : bench_(bench), index_(index), id_("B" + std::to_string(index)), ws_(net::make_strand(ioc)) {}

void Branch::start(uint16_t port) {
  port_ = port;
  beast::get_lowest_layer(ws_).async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
      beast::bind_front_handler(&Branch::on_connect, shared_from_this()));
}

void Branch::on_connect(beast::error_code ec) {
  if (ec) {
    std::fprintf(stderr, "%s: connect: %s\n", id_.c_str(), ec.message().c_str());
    ++bench_.failed;
    return;
  }
  beast::get_lowest_layer(ws_).expires_never();
  // Without TCP_NODELAY a small frame (applied, a one-entry push) waits for the delayed ACK.
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  const std::string token = "token-" + id_;
  ws_.set_option(websocket::stream_base::decorator([this, token](websocket::request_type& req) {
    req.set(beast::http::field::authorization, "Bearer " + token);
    req.set("X-Branch", id_);
  }));
  ws_.async_handshake("127.0.0.1", std::string(loyalty::sync::kSyncPath),
                      beast::bind_front_handler(&Branch::on_handshake, shared_from_this()));
}

void Branch::on_handshake(beast::error_code ec) {
  if (ec) {
    std::fprintf(stderr, "%s: upgrade: %s\n", id_.c_str(), ec.message().c_str());
    ++bench_.failed;
    return;
  }
  send(loyalty::sync::encode(loyalty::sync::Hello{1, id_, "0123456789abcdef", 0, 0, "", "", 0}));
  do_read();
}

void Branch::do_read() {
  ws_.async_read(buf_, beast::bind_front_handler(&Branch::on_read, shared_from_this()));
}

void Branch::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec != websocket::error::closed && ec != net::error::operation_aborted) {
      std::fprintf(stderr, "%s: read: %s\n", id_.c_str(), ec.message().c_str());
    }
    return;
  }
  std::string text = beast::buffers_to_string(buf_.data());
  buf_.consume(buf_.size());
  if (text.rfind("{\"type\":\"entries\"", 0) == 0) {
    const size_t p = text.find("\"to_offset\":");
    const int64_t to = std::stoll(text.substr(p + 12));
    bench_.on_entries(text);
    size_t count = 0;
    for (size_t q = 0; (q = text.find("\"offset\":", q)) != std::string::npos; q += 9) ++count;
    received += static_cast<int64_t>(count);
    send("{\"type\":\"applied\",\"offset\":" + std::to_string(to) + "}");
  } else if (text.rfind("{\"type\":\"ack\"", 0) == 0) {
    acked = std::stoll(text.substr(text.find("\"acked_seq\":") + 12));
  } else if (text.rfind("{\"type\":\"welcome\"", 0) == 0) {
    ready = true;
    ++bench_.ready;
  } else if (text.rfind("{\"type\":\"error\"", 0) == 0) {
    std::fprintf(stderr, "%s: hub error: %s\n", id_.c_str(), text.c_str());
  }
  do_read();
}

void Branch::push(std::vector<Entry> entries) {
  loyalty::sync::Push p;
  p.first_seq = entries.front().origin_seq;
  p.last_seq = entries.back().origin_seq;
  p.entries = std::move(entries);
  send(loyalty::sync::encode(p));
}

void Branch::send(std::string text) {
  net::post(ws_.get_executor(), [self = shared_from_this(), t = std::move(text)]() mutable {
    self->queue_.push_back(std::move(t));
    self->write_next();
  });
}

void Branch::write_next() {
  if (writing_ || queue_.empty()) return;
  writing_ = true;
  ws_.async_write(net::buffer(queue_.front()),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    self->writing_ = false;
                    if (ec) return;
                    self->queue_.pop_front();
                    self->write_next();
                  });
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

double pct(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return static_cast<double>(v[i]) / 1e6;
}

// Runs the io_context until `done()` or `timeout_s`.
template <class F>
bool run_until(Bench& b, F done, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    b.ioc.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_hub: loyalty-hub with N simulated branches (sync protocol v1)"};
  app.footer(
      "Examples:\n  bench_hub --branches 1000 --rate 50 --seconds 20\n"
      "  bench_hub --branches 2 --backlog 100000");
  int branches = 1000;
  double rate = 50;
  double seconds = 20;
  int backlog = 0;
  int fanout_ms = -1;
  std::string hub_bin = LOYALTY_HUB_BIN;
  app.add_option("--branches", branches, "simulated branch connections")
      ->check(CLI::Range(2, 5000));
  app.add_option("--rate", rate, "trickle: single-entry pushes per second in total");
  app.add_option("--seconds", seconds, "trickle duration");
  app.add_option("--backlog", backlog, "instead of the trickle: B0 pushes this many entries to B1");
  app.add_option("--hub", hub_bin, "the loyalty-hub binary");
  app.add_option("--fanout-ms", fanout_ms,
                 "the hub's limits.fanout_interval_ms (default: the hub's default)")
      ->check(CLI::Range(0, 1000));
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;
  if (backlog > 0) branches = 2;

  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 65536);
  ::setrlimit(RLIMIT_NOFILE, &lim);  // for the bench and the hub it starts

  const fs::path dir = fs::temp_directory_path() / ("bench_hub_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream cfg(dir / "hub.toml");
    cfg << "[listen]\naddress = \"127.0.0.1\"\nport = 0\n[storage]\ndb = \"hub.db\"\n"
           "[limits]\npush_rate_per_s = 100000\n";
    if (fanout_ms >= 0) cfg << "fanout_interval_ms = " << fanout_ms << "\n";
    cfg << "[log]\nlevel = \"warn\"\n";
    for (int i = 0; i < branches; ++i) {
      cfg << "[branches.B" << i << "]\ntoken_sha256 = \""
          << sha256_hex("token-B" + std::to_string(i)) << "\"\n";
    }
  }
  const fs::path port_file = dir / "port";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cfg = (dir / "hub.toml").string();
    const std::string pf = port_file.string();
    ::execl(hub_bin.c_str(), hub_bin.c_str(), "run", "--config", cfg.c_str(), "--port-file",
            pf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 1000 && !fs::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int port = 0;
  std::ifstream(port_file) >> port;
  if (port == 0) {
    std::fprintf(stderr, "bench_hub: %s did not start\n", hub_bin.c_str());
    return 1;
  }
  const int64_t rss_start = rss_of(pid);

  Bench b;
  b.n = branches;
  b.data_json =
      R"({"earned":45,"lines":[{"amount":"12.50","n":1,"percent":"5","qty":"1"},{"amount":"3.20","n":2,"percent":"5","qty":"2"}],"sale":"000123"})";
  for (int i = 0; i < branches; ++i) b.branches.push_back(std::make_shared<Branch>(b, b.ioc, i));
  const int64_t t_connect = now_ns();
  for (auto& br : b.branches) br->start(static_cast<uint16_t>(port));
  if (!run_until(
          b, [&] { return b.ready + b.failed >= branches; }, 120) ||
      b.failed > 0) {
    std::fprintf(stderr, "bench_hub: %d of %d branches connected (%d failed)\n", b.ready, branches,
                 b.failed);
    ::kill(pid, SIGKILL);
    return 1;
  }
  const double connect_s = static_cast<double>(now_ns() - t_connect) / 1e9;
  const int64_t rss_connected = rss_of(pid);
  std::printf("hub: %d branches connected in %.2f s; hub RSS %.1f MiB idle, %.1f MiB connected\n",
              branches, connect_s, static_cast<double>(rss_start) / 1048576.0,
              static_cast<double>(rss_connected) / 1048576.0);

  if (backlog > 0) {
    Branch& src = *b.branches[0];
    Branch& dst = *b.branches[1];
    b.stats.resize(static_cast<size_t>(backlog));
    const int64_t t0 = now_ns();
    int64_t pushed = 0;
    int64_t t_acked = 0;
    run_until(
        b,
        [&] {
          while (pushed < backlog && pushed - src.acked < 4 * 500) {
            const int n = static_cast<int>(std::min<int64_t>(500, backlog - pushed));
            std::vector<Entry> batch;
            for (int i = 0; i < n; ++i) batch.push_back(b.make_entry(src, pushed + i));
            pushed += n;
            src.push(std::move(batch));
          }
          if (t_acked == 0 && src.acked >= backlog) t_acked = now_ns();
          return t_acked != 0 && dst.received >= backlog;
        },
        300);
    const int64_t t_done = now_ns();
    const double ingest_s = static_cast<double>(t_acked - t0) / 1e9;
    const double total_s = static_cast<double>(t_done - t0) / 1e9;
    std::printf(
        "backlog: %d entries from B0: all acked in %.2f s (%.0f entries/s); all received "
        "by B1 in %.2f s (%.0f entries/s); hub RSS %.1f MiB\n",
        backlog, ingest_s, backlog / ingest_s, total_s, backlog / total_s,
        static_cast<double>(rss_of(pid)) / 1048576.0);
  } else {
    const int64_t total = static_cast<int64_t>(rate * seconds);
    b.stats.resize(static_cast<size_t>(total));
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> pick(0, branches - 1);
    const int64_t t0 = now_ns();
    const double hub_cpu0 = cpu_of(pid);
    const double own_cpu0 = own_cpu();
    int64_t sent = 0;
    run_until(
        b,
        [&] {
          const int64_t due = std::min<int64_t>(
              total, static_cast<int64_t>(static_cast<double>(now_ns() - t0) / 1e9 * rate));
          while (sent < due) {
            Branch& br = *b.branches[static_cast<size_t>(pick(rng))];
            b.stats[static_cast<size_t>(sent)].sent_ns = now_ns();
            std::vector<Entry> one{b.make_entry(br, sent)};
            br.push(std::move(one));
            ++sent;
          }
          return sent >= total;
        },
        seconds + 60);
    // Let the last entries arrive (bounded).
    run_until(
        b,
        [&] {
          for (const auto& s : b.stats) {
            if (s.received < branches - 1) return false;
          }
          return true;
        },
        30);
    std::vector<int64_t> complete;
    int64_t incomplete = 0;
    for (const auto& s : b.stats) {
      if (s.received >= branches - 1) {
        complete.push_back(s.last_ns - s.sent_ns);
      } else {
        ++incomplete;
      }
    }
    std::printf("trickle: %lld entries at %.0f/s over %.0f s to %d branches: %zu receipts\n",
                static_cast<long long>(total), rate, seconds, branches, b.receipt_ns.size());
    std::printf("  push->receipt at another branch: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
                pct(b.receipt_ns, 0.50), pct(b.receipt_ns, 0.99), pct(b.receipt_ns, 1.0));
    std::printf(
        "  push->fan-out complete (all %d others): p50 %.1f ms, p99 %.1f ms; incomplete %lld\n",
        branches - 1, pct(complete, 0.50), pct(complete, 0.99), static_cast<long long>(incomplete));
    const double wall = static_cast<double>(now_ns() - t0) / 1e9;
    std::printf(
        "  hub RSS at end %.1f MiB; CPU while trickling (%.1f s): hub %.0f %%, bench %.0f %% "
        "of one core; load average %s\n",
        static_cast<double>(rss_of(pid)) / 1048576.0, wall, 100 * (cpu_of(pid) - hub_cpu0) / wall,
        100 * (own_cpu() - own_cpu0) / wall, load_average().c_str());
  }
  ::kill(pid, SIGTERM);
  for (auto& br : b.branches) br.reset();
  int status = 0;
  ::waitpid(pid, &status, 0);
  fs::remove_all(dir);
  return 0;
}
