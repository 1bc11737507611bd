// pos-sim: the reference POS host of the demo.
//
// It does what a POS integration does and nothing more: loads libloyalty.so with dlopen
// (it does not link it), resolves the five contract functions with dlsym, checks
// loyalty_abi_version(), opens the plugin with a TOML file, and sends contract requests
// through loyalty_handle(). The requests come from a JSON Lines "day" file (one request a
// line, see examples/README.md); for each answer pos-sim prints what the POS would print: a
// receipt for sales and refunds, with the plugin's `receipt` lines framed verbatim, the hold
// of a points authorization, the errors. At the end it summarises the day.
//
// "$HOLD": a day file cannot know the hold id the plugin will grant, so a request may say
// "hold": "$HOLD" (a points tender, points.release); pos-sim replaces it with the hold that
// the last points.authorize of the same ticket returned, as a POS keeps it in its ticket.
//
// Output: receipts and the summary go to stdout; with --quiet only the summary (errors then
// go to stderr). The progress line goes to stderr. Nothing here is needed by the plugin.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "loyalty/loyalty.h"
#include "command_line/command_line.h"

#ifndef LOYALTY_SO_DEFAULT
#define LOYALTY_SO_DEFAULT "libloyalty.so"
#endif

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kHoldPlaceholder = "$HOLD";
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // internal error, a defect found, or --expect-no-errors
constexpr int kExitSetup = 2;   // bad options, unreadable file, plugin not loadable
constexpr size_t kMaxQuietErrors = 20;

// ---- small JSON helpers: a day file is input, never trust its shape -------------------------

std::string str_of(const json& j, const char* key, std::string fallback = {}) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t int_of(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

bool bool_of(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// A string as itself, anything else as JSON text.
std::string text_of(const json& j) {
  return j.is_string() ? j.get<std::string>()
                       : j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const json& array_of(const json& j, const char* key) {
  static const json kEmpty = json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// ---- money: decimal strings to cents, never binary floating point ----------------------------

// "90.00" -> 9000, "0.5" -> 50. Nullopt for anything else (more than 2 decimals included).
std::optional<int64_t> parse_cents(std::string_view s) {
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  int64_t units = 0, cents = 0;
  size_t i = 0, digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    if (units > 100000000000LL) return std::nullopt;
    units = units * 10 + (s[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size()) {
    if (s[i] != '.') return std::nullopt;
    size_t places = 0;
    for (++i; i < s.size(); ++i, ++places) {
      if (s[i] < '0' || s[i] > '9' || places == 2) return std::nullopt;
      cents = cents * 10 + (s[i] - '0');
    }
    if (places == 0) return std::nullopt;
    if (places == 1) cents *= 10;
  }
  const int64_t v = units * 100 + cents;
  return negative ? -v : v;
}

std::string format_cents(int64_t c) {
  const bool negative = c < 0;
  const uint64_t a = negative ? 0 - static_cast<uint64_t>(c) : static_cast<uint64_t>(c);
  std::string frac = std::to_string(a % 100);
  if (frac.size() < 2) frac.insert(0, "0");
  return (negative ? "-" : "") + std::to_string(a / 100) + "." + frac;
}

// ---- text columns (UTF-8: one column per code point is enough for receipts) ------------------

size_t columns(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string truncate_columns(std::string_view s, size_t max_cols) {
  size_t cols = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (cols == max_cols) break;
      ++cols;
    }
  }
  return std::string(s.substr(0, i));
}

// "2026-11-22T10:15:00-06:00" -> "22/11/2026 10:15"
std::string short_time(const std::string& at) {
  if (at.size() < 16) return at;
  return at.substr(8, 2) + "/" + at.substr(5, 2) + "/" + at.substr(0, 4) + " " + at.substr(11, 5);
}

std::string method_label(const std::string& method) {
  static const std::map<std::string, std::string> kLabels = {
      {"cash", "Efectivo"},
      {"debit_card", "Tarjeta de débito"},
      {"credit_card", "Tarjeta de crédito"},
      {"points", "Puntos"},
  };
  auto it = kLabels.find(method);
  return it != kLabels.end() ? it->second : method;
}

// ---- the plugin, loaded like any POS loads it -----------------------------------------------

class Plugin {
 public:
  Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  ~Plugin() {
    if (close_ != nullptr) close_(handle_);  // NULL is a no-op (loyalty.h)
    // Like most hosts, keep the library mapped until the process ends unless asked to
    // unload it (--dlclose), which checks that the plugin leaves nothing behind.
    if (so_ != nullptr && unload_) dlclose(so_);
  }

  void unload_at_exit(bool yes) { unload_ = yes; }

  // dlopen + dlsym of the five functions + ABI check. False with `error` set on failure.
  bool load(const std::string& path, std::string& error) {
    so_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (so_ == nullptr) {
      const char* why = dlerror();
      error = std::string("dlopen failed: ") + (why != nullptr ? why : "?");
      return false;
    }
    if (!resolve("loyalty_abi_version", abi_version_, error) ||
        !resolve("loyalty_open", open_, error) || !resolve("loyalty_handle", handle_fn_, error) ||
        !resolve("loyalty_free", free_, error) || !resolve("loyalty_close", close_, error)) {
      return false;
    }
    abi_ = abi_version_();
    if (abi_ != LOYALTY_ABI_VERSION) {
      error = "the library speaks ABI " + std::to_string(abi_) + ", pos-sim speaks " +
              std::to_string(LOYALTY_ABI_VERSION);
      return false;
    }
    return true;
  }

  bool open(const std::string& config_path, std::string& error) {
    char* error_json = nullptr;
    const int rc = open_(config_path.c_str(), &handle_, &error_json);
    if (rc != LOYALTY_OK) {
      error = "loyalty_open returned " + std::to_string(rc) + ": " +
              (error_json != nullptr ? error_json : "(no message)");
      free_(error_json);
      handle_ = nullptr;
      return false;
    }
    free_(error_json);
    return true;
  }

  // One request; `response` gets the plugin's JSON (empty if it returned NULL: out of memory).
  // Thread-safe, as loyalty_handle is.
  int handle(std::string_view request, std::string& response) const {
    char* out = nullptr;
    const int rc = handle_fn_(handle_, request.data(), request.size(), &out);
    if (out != nullptr) {
      response.assign(out);
      free_(out);
    } else {
      response.clear();
    }
    return rc;
  }

  uint32_t abi() const { return abi_; }

 private:
  template <class Fn>
  bool resolve(const char* name, Fn& fn, std::string& error) {
    dlerror();
    void* sym = dlsym(so_, name);
    if (sym == nullptr) {
      error = std::string("the library does not export ") + name;
      return false;
    }
    fn = reinterpret_cast<Fn>(sym);
    return true;
  }

  void* so_ = nullptr;
  bool unload_ = false;
  loyalty_plugin* handle_ = nullptr;
  uint32_t abi_ = 0;
  uint32_t (*abi_version_)(void) = nullptr;
  int (*open_)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle_fn_)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free_)(char*) = nullptr;
  void (*close_)(loyalty_plugin*) = nullptr;
};

// ---- the day file ---------------------------------------------------------------------------

struct DayLine {
  size_t line_no = 0;  // 1-based line in the file
  std::string text;
  // For a line with "$HOLD": index (in DayFile::lines) of the points.authorize whose hold it
  // uses; kNoSource when the file has none for that ticket.
  size_t hold_source = kNoSource;
  bool needs_hold = false;
  bool is_authorize = false;  // a points.authorize: its hold is published as soon as answered
  static constexpr size_t kNoSource = static_cast<size_t>(-1);
};

// "B01\x1f000123": a ticket is named by branch and number; a request without "branch" is the
// configured branch's (plugin.info tells which).
std::string ticket_key(const std::string& branch, const std::string& ticket) {
  return branch + "\x1f" + ticket;
}
std::string ticket_key(const json& req, const std::string& default_branch) {
  return ticket_key(str_of(req, "branch", default_branch), str_of(req, "ticket"));
}

// Reads the non-empty lines and links each "$HOLD" to the last points.authorize of its ticket
// before it. False when the file cannot be read.
bool read_day(const std::string& path, const std::string& default_branch,
              std::vector<DayLine>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::unordered_map<std::string, size_t> last_authorize;
  size_t line_no = 0;
  for (std::string text; std::getline(in, text);) {
    ++line_no;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    DayLine d;
    d.line_no = line_no;
    const bool maybe_authorize = text.find("points.authorize") != std::string::npos;
    d.needs_hold = text.find(std::string("\"") + kHoldPlaceholder + "\"") != std::string::npos;
    if (maybe_authorize || d.needs_hold) {
      const json req = json::parse(text, nullptr, false);
      if (!req.is_discarded() && req.is_object()) {
        d.is_authorize = str_of(req, "type") == "points.authorize";
        if (d.is_authorize && req.contains("ticket")) {
          last_authorize[ticket_key(req, default_branch)] = out.size();
        } else if (d.needs_hold) {
          auto it = last_authorize.find(ticket_key(req, default_branch));
          if (it != last_authorize.end()) d.hold_source = it->second;
        }
      }
    }
    d.text = std::move(text);
    out.push_back(std::move(d));
  }
  return !in.bad();
}

// Holds granted so far, by the day-file index of their points.authorize. A thread that needs
// a hold waits for the authorize's line; the wait always ends, because every thread replays
// its lines in file order and a "$HOLD" only ever points to an earlier line.
class HoldBoard {
 public:
  void publish(size_t index, std::optional<std::string> hold) {
    {
      std::lock_guard lock(mu_);
      holds_.emplace(index, std::move(hold));  // the first word stands
    }
    cv_.notify_all();
  }

  std::optional<std::string> wait(size_t index) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return holds_.count(index) != 0; });
    return holds_[index];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<size_t, std::optional<std::string>> holds_;
};

// Replaces every "hold": "$HOLD" of the request. With no hold to give (no authorize for the
// ticket, or it was refused) the member is dropped: the sale is then recorded without a
// capture and the plugin says so in a warning.
std::string substitute_hold(const std::string& text, const std::optional<std::string>& hold) {
  const std::string placeholder = std::string("\"") + kHoldPlaceholder + "\"";
  if (hold) {
    // Textual, so that the rest of the request goes to the plugin byte for byte.
    const std::string quoted = json(*hold).dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out = text;
    for (size_t at = out.find(placeholder); at != std::string::npos;
         at = out.find(placeholder, at + quoted.size())) {
      out.replace(at, placeholder.size(), quoted);
    }
    return out;
  }
  json req = json::parse(text, nullptr, false);
  if (req.is_discarded() || !req.is_object()) return text;
  auto drop = [](json& obj) {
    auto it = obj.find("hold");
    if (it != obj.end() && it->is_string() && *it == kHoldPlaceholder) obj.erase(it);
  };
  drop(req);
  if (auto it = req.find("tenders"); it != req.end() && it->is_array()) {
    for (auto& t : *it) {
      if (t.is_object()) drop(t);
    }
  }
  return req.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- what the day adds up to ----------------------------------------------------------------

struct Stats {
  std::map<std::string, int64_t> by_type;
  std::map<std::string, int64_t> errors;  // by error code
  int64_t sales = 0, sales_with_customer = 0;
  int64_t earned = 0, redeemed = 0, adjusted = 0;
  int64_t clawed_back_refunds = 0, restored_refunds = 0;
  int64_t clawed_back_voids = 0, restored_voids = 0;
  int64_t holds_granted = 0, held_points = 0, holds_released = 0, holds_missing = 0;
  int64_t replays = 0, replay_mismatches = 0;
  int64_t receipt_lines_too_wide = 0, over_clawbacks = 0;
  std::vector<int64_t> latency_ns;

  void merge(const Stats& o) {
    for (const auto& [k, v] : o.by_type) by_type[k] += v;
    for (const auto& [k, v] : o.errors) errors[k] += v;
    sales += o.sales;
    sales_with_customer += o.sales_with_customer;
    earned += o.earned;
    redeemed += o.redeemed;
    adjusted += o.adjusted;
    clawed_back_refunds += o.clawed_back_refunds;
    restored_refunds += o.restored_refunds;
    clawed_back_voids += o.clawed_back_voids;
    restored_voids += o.restored_voids;
    holds_granted += o.holds_granted;
    held_points += o.held_points;
    holds_released += o.holds_released;
    holds_missing += o.holds_missing;
    replays += o.replays;
    replay_mismatches += o.replay_mismatches;
    receipt_lines_too_wide += o.receipt_lines_too_wide;
    over_clawbacks += o.over_clawbacks;
    latency_ns.insert(latency_ns.end(), o.latency_ns.begin(), o.latency_ns.end());
  }
  int64_t error_count() const {
    int64_t n = 0;
    for (const auto& [k, v] : errors) n += v;
    return n;
  }
};

// Ids already answered, to recognise a POS retry and check that it got the first answer back
// (contract rule 11). Only writes are recorded: queries are not idempotent by id.
class ReplayBook {
 public:
  enum class Seen { kFirst = 1, kSameAnswer = 2, kDifferentAnswer = 3 };

  Seen record(const std::string& key, const std::string& response) {
    const size_t h = std::hash<std::string>{}(response);
    std::lock_guard lock(mu_);
    auto [it, inserted] = answers_.emplace(key, h);
    if (inserted) return Seen::kFirst;
    return it->second == h ? Seen::kSameAnswer : Seen::kDifferentAnswer;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, size_t> answers_;
};

// What the single-terminal replay remembers of each sale: its lines (to name refunded items)
// and its points (to check that refunds never claw back more than the sale earned, rule 7).
struct TicketInfo {
  std::map<int64_t, std::pair<std::string, std::string>> lines;  // n -> (sku, qty)
  int64_t earned = 0;
  int64_t clawed_back = 0;
};

// ---- printing -----------------------------------------------------------------------------

// A receipt of `width` printable columns in a frame: "| " + width + " |".
class ReceiptBox {
 public:
  ReceiptBox(std::ostream& out, size_t width) : out_(out), width_(width) {}

  void edge() { out_ << '+' << std::string(width_ + 2, '-') << "+\n"; }
  void rule(const char* fill = "-") {
    std::string s;
    for (size_t i = 0; i < width_; ++i) s += fill;
    out_ << "| " << s << " |\n";
  }
  // Printed as given; a line wider than the box sticks out (and is counted by the caller).
  void text(std::string_view s) {
    const size_t cols = columns(s);
    out_ << "| " << s << std::string(cols < width_ ? width_ - cols : 0, ' ') << " |\n";
  }
  void center(std::string_view s) {
    const size_t cols = std::min(columns(s), width_);
    text(std::string((width_ - cols) / 2, ' ') + truncate_columns(s, width_));
  }
  // Left text, right-aligned amount; the left side is cut to make room.
  void item(std::string_view left, std::string_view right) {
    const size_t right_cols = columns(right);
    const size_t room = width_ > right_cols + 1 ? width_ - right_cols - 1 : 0;
    std::string l = truncate_columns(left, room);
    const size_t used = columns(l) + right_cols;
    const size_t gap = used < width_ ? width_ - used : 1;
    text(l + std::string(gap, ' ') + std::string(right));
  }
  size_t width() const { return width_; }

 private:
  std::ostream& out_;
  size_t width_;
};

struct Options {
  std::string plugin = LOYALTY_SO_DEFAULT;
  std::string config;
  std::string day;
  std::string json_summary;
  std::string progress = "auto";
  std::string store = "CAFE DEMO";
  int threads = 1;
  size_t receipt_width = 42;
  bool quiet = false;
  bool expect_no_errors = false;
  bool dlclose = false;
  bool progress_shown = false;  // derived: the progress line is on stderr
};

// One POS terminal replaying its share of the day.
class Terminal {
 public:
  Terminal(const Options& opt, const std::string& default_branch, const Plugin& plugin,
           const std::vector<DayLine>& day, HoldBoard& holds, ReplayBook& replays,
           std::mutex& err_mu, size_t& err_printed, std::map<std::string, TicketInfo>* tickets)
      : opt_(opt),
        default_branch_(default_branch),
        plugin_(plugin),
        day_(day),
        holds_(holds),
        replays_(replays),
        err_mu_(err_mu),
        err_printed_(err_printed),
        tickets_(tickets) {}

  // What one request of the day got from the plugin, before pos-sim looks at it.
  struct Sent {
    size_t index = 0;
    int rc = 0;
    bool hold_missing = false;
    std::string body;      // as sent ("$HOLD" replaced)
    std::string response;  // as answered
  };

  // The POS's side of a request: send it, and publish the hold of an authorization at once
  // (a later line may be waiting for it). Everything else is account()'s.
  Sent send(size_t index, Stats& st) {
    const DayLine& line = day_[index];
    Sent out;
    out.index = index;
    out.body = line.text;
    if (line.needs_hold) {
      std::optional<std::string> hold;
      if (line.hold_source != DayLine::kNoSource) hold = holds_.wait(line.hold_source);
      out.hold_missing = !hold;
      out.body = substitute_hold(line.text, hold);
    }
    const auto t0 = SteadyClock::now();
    out.rc = plugin_.handle(out.body, out.response);
    const auto t1 = SteadyClock::now();
    st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    if (line.is_authorize) {
      // Published whatever happened, so that a waiting terminal never waits forever.
      std::optional<std::string> hold;
      if (out.rc == LOYALTY_OK) {
        const json resp = json::parse(out.response, nullptr, false);
        if (!str_of(resp, "hold").empty()) hold = str_of(resp, "hold");
      }
      holds_.publish(index, std::move(hold));
    }
    return out;
  }

  void replay(size_t index, Stats& st) { account(send(index, st), st); }

  // The bookkeeping of one answered request: counts, checks, receipts.
  void account(const Sent& sent, Stats& st) {
    const DayLine& line = day_[sent.index];
    const int rc = sent.rc;
    const std::string& response_text = sent.response;
    const json req = json::parse(sent.body, nullptr, false);
    const json resp = json::parse(response_text, nullptr, false);
    const std::string type = req.is_object() ? str_of(req, "type", "(no type)") : "(not JSON)";
    st.by_type[type] += 1;
    if (sent.hold_missing) st.holds_missing += 1;

    if (rc != LOYALTY_OK || !resp.is_object() || !bool_of(resp, "ok")) {
      report_error(line, req, resp, rc, st);
      return;
    }

    // A write answered before under the same id is a POS retry: count it once.
    ReplayBook::Seen seen = ReplayBook::Seen::kFirst;
    if (type != "balance.query" && type != "history.query" && type != "plugin.info") {
      seen = replays_.record(str_of(req, "branch") + "/" + str_of(req, "id"), response_text);
    }
    if (seen != ReplayBook::Seen::kFirst) {
      st.replays += 1;
      const bool same = seen == ReplayBook::Seen::kSameAnswer;
      if (!same) st.replay_mismatches += 1;
      if (!opt_.quiet || !same) {
        (opt_.quiet ? std::cerr : std::cout)
            << "> reintento de " << str_of(req, "id") << " (línea " << line.line_no
            << "): mismo id, "
            << (same ? "el plugin devolvió la primera respuesta, nada cambia\n\n"
                     : "pero una respuesta DISTINTA de la primera (defecto, regla 11)\n\n");
      }
      return;
    }
    count(type, req, resp, st);
    // Checked whether or not receipts are printed (--quiet checked nothing: exit 0 with lines
    // wider than --receipt-width).
    for (const auto& l : array_of(resp, "receipt")) {
      if (columns(text_of(l)) > opt_.receipt_width) st.receipt_lines_too_wide += 1;
    }
    if (opt_.quiet) return;
    print(type, req, resp);
  }

 private:
  void count(const std::string& type, const json& req, const json& resp, Stats& st) {
    if (type == "sale.completed") {
      st.sales += 1;
      if (!str_of(req, "customer").empty()) st.sales_with_customer += 1;
      st.earned += int_of(resp, "earned");
      st.redeemed += int_of(resp, "redeemed");
      if (tickets_ != nullptr) {
        TicketInfo& t = (*tickets_)[ticket_key(req, default_branch_)];
        t.earned = int_of(resp, "earned");
        for (const auto& l : array_of(req, "lines")) {
          t.lines[int_of(l, "n")] = {str_of(l, "sku"), str_of(l, "qty")};
        }
      }
    } else if (type == "refund.completed") {
      st.clawed_back_refunds += int_of(resp, "clawed_back");
      st.restored_refunds += int_of(resp, "restored");
      if (tickets_ != nullptr) {
        const std::string branch =
            str_of(req, "original_branch", str_of(req, "branch", default_branch_));
        check_clawback(ticket_key(branch, str_of(req, "original_ticket")),
                       int_of(resp, "clawed_back"), st);
      }
    } else if (type == "sale.voided") {
      st.clawed_back_voids += int_of(resp, "clawed_back");
      st.restored_voids += int_of(resp, "restored");
      st.holds_released += static_cast<int64_t>(array_of(resp, "released").size());
      if (tickets_ != nullptr) {
        check_clawback(ticket_key(req, default_branch_), int_of(resp, "clawed_back"), st);
      }
    } else if (type == "points.authorize") {
      st.holds_granted += 1;
      st.held_points += int_of(resp, "points");
    } else if (type == "points.release") {
      st.holds_released += static_cast<int64_t>(array_of(resp, "released").size());
    } else if (type == "points.adjust") {
      st.adjusted += int_of(resp, "points");
    }
  }

  void check_clawback(const std::string& key, int64_t clawed, Stats& st) {
    auto it = tickets_->find(key);
    if (it == tickets_->end()) return;  // an unknown original: clawback_at_rate, not rule 7
    it->second.clawed_back += clawed;
    if (it->second.clawed_back > it->second.earned) {
      st.over_clawbacks += 1;
      (opt_.quiet ? std::cerr : std::cout)
          << "!! DEFECTO: el ticket " << key.substr(key.find('\x1f') + 1) << " ganó "
          << it->second.earned << " pts y sus devoluciones ya descontaron "
          << it->second.clawed_back << " (regla 7)\n";
    }
  }

  void report_error(const DayLine& line, const json& req, const json& resp, int rc, Stats& st) {
    const json& e = resp.is_object() && resp.contains("error") ? resp["error"] : json::object();
    // The code word of the body; a return code 8 or an unreadable body counts as internal.
    std::string code = str_of(e, "code");
    if (rc == LOYALTY_ERR_INTERNAL || resp.is_discarded()) {
      code = "internal";
    } else if (code.empty()) {
      code = "rc=" + std::to_string(rc);
    }
    st.errors[code] += 1;
    std::string msg = "line " + std::to_string(line.line_no) + ": ";
    msg += (req.is_object() ? str_of(req, "type", "?") + " " + str_of(req, "id") : "(not JSON)");
    msg += ": " + code;
    if (!str_of(e, "field").empty()) msg += " [" + str_of(e, "field") + "]";
    msg += ": " + str_of(e, "message", resp.is_discarded() ? "no valid JSON response" : "");
    if (!opt_.quiet) {
      std::cout << "!! ERROR " << msg << "\n\n";
      return;
    }
    std::lock_guard lock(err_mu_);
    const char* clear = opt_.progress_shown ? "\r\033[K" : "";  // over the progress line
    if (err_printed_ < kMaxQuietErrors) {
      std::cerr << clear << "pos-sim: " << msg << "\n";
    } else if (err_printed_ == kMaxQuietErrors) {
      std::cerr << clear << "pos-sim: more errors: see the summary\n";
    }
    ++err_printed_;
  }

  void plugin_lines(ReceiptBox& box, const json& resp) {
    const json& lines = array_of(resp, "receipt");
    if (lines.empty()) return;
    box.rule("·");
    for (const auto& l : lines) {
      box.text(text_of(l));  // verbatim; its width is checked in handle()
    }
  }

  void tenders(ReceiptBox& box, const json& req) {
    for (const auto& t : array_of(req, "tenders")) {
      std::string label = method_label(str_of(t, "method"));
      if (!str_of(t, "hold").empty()) label += " (" + str_of(t, "hold") + ")";
      box.item(label, str_of(t, "amount"));
      if (!str_of(t, "change").empty() && parse_cents(str_of(t, "change")).value_or(0) != 0) {
        box.item("Cambio", str_of(t, "change"));
      }
    }
  }

  void warnings(const json& resp) {
    for (const auto& w : array_of(resp, "warnings")) {
      std::cout << "  aviso del plugin: " << text_of(w) << "\n";
    }
  }

  void print_sale(const json& req, const json& resp) {
    ReceiptBox box(std::cout, opt_.receipt_width);
    box.edge();
    box.center(opt_.store + " · Sucursal " + str_of(req, "branch", default_branch_));
    box.item("Ticket " + str_of(req, "ticket"), short_time(str_of(req, "at")));
    box.text("Caja " + str_of(req, "terminal", "-"));
    box.rule();
    int64_t total = 0;
    for (const auto& l : array_of(req, "lines")) {
      const std::string amount = str_of(l, "amount");
      total += parse_cents(amount).value_or(0);
      box.item(str_of(l, "qty", "1") + " x " + str_of(l, "sku"), amount);
    }
    box.rule();
    box.item("TOTAL " + str_of(req, "currency", "MXN"), format_cents(total));
    tenders(box, req);
    plugin_lines(box, resp);
    box.edge();
    warnings(resp);
    std::cout << "\n";
  }

  void print_refund(const json& req, const json& resp) {
    ReceiptBox box(std::cout, opt_.receipt_width);
    const std::string branch =
        str_of(req, "original_branch", str_of(req, "branch", default_branch_));
    const TicketInfo* original = nullptr;
    if (tickets_ != nullptr) {
      auto it = tickets_->find(ticket_key(branch, str_of(req, "original_ticket")));
      if (it != tickets_->end()) original = &it->second;
    }
    box.edge();
    box.center(opt_.store + " · Sucursal " + str_of(req, "branch", default_branch_));
    box.item("DEVOLUCIÓN " + str_of(req, "ticket"), short_time(str_of(req, "at")));
    std::string from = "Caja " + str_of(req, "terminal", "-");
    if (!str_of(req, "original_ticket").empty()) {
      from += " · ticket original " + str_of(req, "original_ticket") +
              (branch.empty() ? "" : " (" + branch + ")");
    }
    box.text(truncate_columns(from, box.width()));
    box.rule();
    int64_t total = 0;
    for (const auto& l : array_of(req, "lines")) {
      const std::string amount = str_of(l, "amount");
      total += parse_cents(amount).value_or(0);
      std::string name = str_of(l, "sku");
      const int64_t n = int_of(l, "n");
      if (name.empty() && original != nullptr) {
        auto it = original->lines.find(n);
        if (it != original->lines.end()) name = it->second.first;
      }
      if (name.empty()) name = "artículo";
      std::string left = str_of(l, "qty").empty() ? name : str_of(l, "qty") + " x " + name;
      if (n != 0) left += " (línea " + std::to_string(n) + ")";
      box.item(left, amount.empty() ? "" : "-" + amount);
    }
    box.rule();
    box.item("TOTAL DEVUELTO " + str_of(req, "currency", "MXN"), format_cents(total));
    tenders(box, req);
    plugin_lines(box, resp);
    box.edge();
    warnings(resp);
    std::cout << "\n";
  }

  void print(const std::string& type, const json& req, const json& resp) {
    auto& out = std::cout;
    if (type == "sale.completed") {
      print_sale(req, resp);
      return;
    }
    if (type == "refund.completed") {
      print_refund(req, resp);
      return;
    }
    out << "> ";
    if (type == "points.authorize") {
      out << "ticket " << str_of(req, "ticket") << ": pago con puntos autorizado, "
          << int_of(resp, "points") << " pts (" << str_of(resp, "amount") << ") de "
          << str_of(req, "customer") << "\n  retención " << str_of(resp, "hold") << " hasta "
          << short_time(str_of(resp, "expires_at")) << ", quedan disponibles "
          << int_of(resp, "available") << " pts\n";
    } else if (type == "points.release") {
      out << "ticket " << str_of(req, "ticket") << ": retención liberada";
      for (const auto& h : array_of(resp, "released")) out << " " << text_of(h);
      out << " (" << int_of(resp, "points") << " pts vuelven a estar disponibles)\n";
    } else if (type == "sale.voided") {
      out << "ticket " << str_of(req, "ticket") << " anulado";
      const json& released = array_of(resp, "released");
      if (!released.empty()) {
        out << ": retención liberada";
        for (const auto& h : released) out << " " << text_of(h);
      }
      if (bool_of(resp, "reversed_sale")) {
        out << ": venta revertida, descontados " << int_of(resp, "clawed_back")
            << " pts, devueltos " << int_of(resp, "restored") << " pts";
      }
      if (resp.contains("balance")) out << "; saldo " << int_of(resp, "balance") << " pts";
      out << "\n";
    } else if (type == "customer.upsert") {
      out << "cliente " << str_of(req, "customer")
          << (bool_of(resp, "created") ? " dado de alta" : " actualizado");
      if (!str_of(req, "name").empty()) out << ": " << str_of(req, "name");
      if (!str_of(resp, "category").empty()) out << ", categoría " << str_of(resp, "category");
      const json& aliases = array_of(resp, "aliases");
      if (aliases.size() > 1) {
        out << "\n  referencias:";
        for (const auto& a : aliases) out << " " << text_of(a);
      }
      out << "\n";
    } else if (type == "balance.query") {
      out << "saldo de " << str_of(req, "customer") << ": " << int_of(resp, "balance") << " pts ("
          << str_of(resp, "balance_value") << "), disponibles " << int_of(resp, "available");
      if (!str_of(resp, "category").empty()) out << ", categoría " << str_of(resp, "category");
      for (const auto& x : array_of(resp, "expiring")) {
        out << "\n  vencen " << int_of(x, "points") << " pts el " << str_of(x, "date");
      }
      out << "\n";
    } else if (type == "history.query") {
      const json& entries = array_of(resp, "entries");
      out << "movimientos de " << str_of(req, "customer") << ": " << entries.size() << "\n";
      for (const auto& e : entries) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  %-16s %-10s %+7lld  %s %s\n",
                      short_time(str_of(e, "at")).c_str(), str_of(e, "kind").c_str(),
                      static_cast<long long>(int_of(e, "points")), str_of(e, "branch").c_str(),
                      str_of(e, "ticket").c_str());
        out << buf;
      }
    } else if (type == "points.adjust") {
      out << "ajuste de " << str_of(req, "customer") << ": " << std::showpos
          << int_of(resp, "points") << std::noshowpos << " pts por " << str_of(req, "operator")
          << " (" << str_of(req, "reason") << "); saldo " << int_of(resp, "balance") << " pts\n";
    } else {
      out << type << " " << str_of(req, "id") << ": ok\n";
    }
    out << "\n";
  }

  const Options& opt_;
  const std::string& default_branch_;
  const Plugin& plugin_;
  const std::vector<DayLine>& day_;
  HoldBoard& holds_;
  ReplayBook& replays_;
  std::mutex& err_mu_;
  size_t& err_printed_;
  std::map<std::string, TicketInfo>* tickets_;  // single terminal only; else null
};

// "2026-11-23T02:10:00+00:00" (for plugin.info, which needs an `at`).
std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string micros(int64_t ns) {
  char buf[32];
  if (ns >= 10'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%lld us", static_cast<long long>((ns + 500) / 1000));
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{
      "pos-sim: the reference POS host. Loads libloyalty.so with dlopen, replays a day of\n"
      "contract requests (JSON Lines) through loyalty_handle, prints each receipt with the\n"
      "plugin's lines, and summarises the day."};
  app.footer(
      "Day file: one contract request (JSON) per line; blank lines are skipped. A request may\n"
      "say \"hold\": \"$HOLD\" (a points tender, points.release): pos-sim replaces it with the\n"
      "hold returned by the last points.authorize of the same ticket (dropped if there was\n"
      "none or it was refused). --threads N: terminal i replays lines i, i+N, i+2N...\n"
      "\n"
      "Exit status: 0 ok; 1 a response was `internal`, a retried id got a different answer,\n"
      "a refund clawed back more than its sale earned, a receipt line was wider than\n"
      "--receipt-width, or (with --expect-no-errors) any request failed; 2 setup failure.\n"
      "\n"
      "Examples:\n"
      "  mkdir -p /tmp/cafe && cp examples/pos-sim/cafe.toml /tmp/cafe/\n"
      "  pos-sim --config /tmp/cafe/cafe.toml --day examples/pos-sim/cafe-day.jsonl\n"
      "  pos-sim --config /tmp/cafe/cafe.toml --day big.jsonl --quiet --threads 4 \\\n"
      "          --json-summary summary.json\n");
  app.add_option("--plugin", opt.plugin, "the libloyalty.so to load")->capture_default_str();
  app.add_option("--config", opt.config, "the plugin's TOML configuration (loyalty_open)")
      ->required();
  app.add_option("--day", opt.day, "JSON Lines file of contract requests to replay")->required();
  app.add_flag("--quiet,-q", opt.quiet, "no receipts on stdout: only the summary");
  app.add_option("--progress", opt.progress,
                 "progress line on stderr: auto (when stderr is a terminal that receipts do "
                 "not share), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_option("--threads", opt.threads, "replay with N terminals (threads); N > 1 needs --quiet")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--json-summary", opt.json_summary, "also write the summary to this JSON file");
  app.add_flag("--expect-no-errors", opt.expect_no_errors, "exit 1 if any request is refused");
  app.add_option("--receipt-width", opt.receipt_width, "receipt columns (as [receipt] width)")
      ->check(CLI::Range(16, 200))
      ->capture_default_str();
  app.add_option("--store", opt.store, "store name on the receipts")->capture_default_str();
  app.add_flag("--dlclose", opt.dlclose,
               "dlclose the library after loyalty_close (checks a clean unload, e.g. under "
               "LeakSanitizer)");
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;
  if (opt.threads > 1 && !opt.quiet) {
    std::cerr << "pos-sim: --threads " << opt.threads
              << " needs --quiet (receipts of concurrent terminals would interleave)\n";
    return kExitSetup;
  }

  Plugin plugin;
  plugin.unload_at_exit(opt.dlclose);
  std::string error;
  if (!plugin.load(opt.plugin, error)) {
    std::cerr << "pos-sim: " << opt.plugin << ": " << error << "\n";
    return kExitSetup;
  }
  if (!plugin.open(opt.config, error)) {
    std::cerr << "pos-sim: " << error << "\n";
    return kExitSetup;
  }

  // plugin.info: which library and program we are talking to (not counted in the day).
  json info = json::object();
  {
    const std::string req =
        json{{"type", "plugin.info"}, {"id", "pos-sim-info"}, {"at", now_rfc3339()}}.dump();
    std::string resp;
    if (plugin.handle(req, resp) == LOYALTY_OK) info = json::parse(resp, nullptr, false);
    if (!info.is_object()) info = json::object();
  }
  const std::string default_branch = str_of(info, "branch");
  std::vector<DayLine> day;
  if (!read_day(opt.day, default_branch, day)) {
    std::cerr << "pos-sim: cannot read " << opt.day << "\n";
    return kExitSetup;
  }
  const std::string plugin_desc = "libloyalty " + str_of(info, "version", "?") + " (ABI " +
                                  std::to_string(plugin.abi()) + "), branch " +
                                  str_of(info, "branch", "?") + ", program " +
                                  str_of(info, "program_version", "?").substr(0, 12);
  if (!opt.quiet) {
    std::cout << "pos-sim: " << opt.plugin << "\n         " << plugin_desc << "\n         "
              << opt.day << ": " << day.size() << " requests\n\n";
  }

  opt.progress_shown =
      opt.progress == "always" || (opt.progress == "auto" && isatty(STDERR_FILENO) != 0 &&
                                   (opt.quiet || isatty(STDOUT_FILENO) == 0));
  const bool show_progress = opt.progress_shown;

  HoldBoard holds;
  ReplayBook replays;
  std::map<std::string, TicketInfo> tickets;
  std::mutex err_mu, merge_mu;
  size_t err_printed = 0;
  std::atomic<size_t> done{0};
  Stats total;
  const size_t n_threads = static_cast<size_t>(opt.threads);

  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool finished = false;
  const auto t0 = SteadyClock::now();
  std::thread progress;
  if (show_progress) {
    progress = std::thread([&] {
      std::unique_lock lock(progress_mu);
      while (
          !progress_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return finished; })) {
        const size_t n = done.load();
        const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
        std::fprintf(
            stderr, "\r\033[Kpos-sim: %zu/%zu requests (%.0f%%), %.0f requests/s", n, day.size(),
            day.empty() ? 100.0 : 100.0 * static_cast<double>(n) / static_cast<double>(day.size()),
            secs > 0 ? static_cast<double>(n) / secs : 0.0);
        std::fflush(stderr);
      }
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    });
  }

  auto worker = [&](size_t first) {
    Stats st;
    st.latency_ns.reserve(day.size() / n_threads + 1);
    Terminal terminal(opt, default_branch, plugin, day, holds, replays, err_mu, err_printed,
                      nullptr);  // rule 7 is checked with one terminal (pipelined)
    for (size_t i = first; i < day.size(); i += n_threads) {
      try {
        terminal.replay(i, st);
      } catch (const std::exception& e) {  // pos-sim's own failure (memory), not the plugin's
        std::lock_guard lock(err_mu);
        std::cerr << "pos-sim: line " << day[i].line_no << ": " << e.what() << "\n";
        st.errors["pos-sim"] += 1;
        holds.publish(i, std::nullopt);  // in case it was an authorization someone waits for
      }
      done.fetch_add(1, std::memory_order_relaxed);
    }
    std::lock_guard lock(merge_mu);
    total.merge(st);
  };
  // One terminal: the plugin is called on this thread and pos-sim's own bookkeeping (reading
  // the answers, counting, printing receipts) runs on another, in order, as a till prints
  // one receipt while the next customer pays. The replay's pace is then the plugin's.
  auto pipelined = [&] {
    Stats sent_stats, book_stats;
    sent_stats.latency_ns.reserve(day.size());
    Terminal terminal(opt, default_branch, plugin, day, holds, replays, err_mu, err_printed,
                      &tickets);
    // The bookkeeper takes the answers in batches: waking it for each one cost the
    // plugin's thread a futex call per request (perf: 4.6 % of its time).
    constexpr size_t kBatch = 64;
    constexpr size_t kMaxQueued = 1024;
    std::mutex queue_mu;
    std::condition_variable queue_cv;
    std::deque<Terminal::Sent> queue;
    bool closed = false;
    std::thread bookkeeper([&] {
      for (;;) {
        std::deque<Terminal::Sent> batch;
        {
          std::unique_lock lock(queue_mu);
          queue_cv.wait(lock, [&] { return queue.size() >= kBatch || closed; });
          if (queue.empty()) return;
          batch.swap(queue);
        }
        queue_cv.notify_all();  // the sender may be waiting for room
        for (const Terminal::Sent& sent : batch) {
          try {
            terminal.account(sent, book_stats);
          } catch (const std::exception& e) {  // pos-sim's own failure (memory)
            std::lock_guard lock(err_mu);
            std::cerr << "pos-sim: line " << day[sent.index].line_no << ": " << e.what() << "\n";
            book_stats.errors["pos-sim"] += 1;
          }
          done.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
    for (size_t i = 0; i < day.size(); ++i) {
      Terminal::Sent sent;
      try {
        sent = terminal.send(i, sent_stats);
      } catch (const std::exception& e) {  // pos-sim's own failure (memory), not the plugin's
        std::lock_guard lock(err_mu);
        std::cerr << "pos-sim: line " << day[i].line_no << ": " << e.what() << "\n";
        sent_stats.errors["pos-sim"] += 1;
        holds.publish(i, std::nullopt);  // in case it was an authorization someone waits for
        done.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      std::unique_lock lock(queue_mu);
      queue_cv.wait(lock, [&] { return queue.size() < kMaxQueued; });
      queue.push_back(std::move(sent));
      const bool batch_ready = queue.size() == kBatch;
      lock.unlock();
      if (batch_ready) queue_cv.notify_all();
    }
    {
      std::lock_guard lock(queue_mu);
      closed = true;
    }
    queue_cv.notify_all();
    bookkeeper.join();
    total.merge(sent_stats);
    total.merge(book_stats);
  };

  if (n_threads == 1) {
    pipelined();
  } else {
    std::vector<std::thread> pool;
    for (size_t i = 1; i < n_threads; ++i) pool.emplace_back(worker, i);
    worker(0);
    for (auto& t : pool) t.join();
  }
  const double secs =
      std::max(1e-9, std::chrono::duration<double>(SteadyClock::now() - t0).count());
  if (show_progress) {
    {
      std::lock_guard lock(progress_mu);
      finished = true;
    }
    progress_cv.notify_all();
    progress.join();
  }

  // ---- the summary ------------------------------------------------------------------------
  std::sort(total.latency_ns.begin(), total.latency_ns.end());
  const int64_t p50 = percentile(total.latency_ns, 0.50);
  const int64_t p90 = percentile(total.latency_ns, 0.90);
  const int64_t p99 = percentile(total.latency_ns, 0.99);
  const int64_t max_ns = total.latency_ns.empty() ? 0 : total.latency_ns.back();
  const int64_t errors = total.error_count();
  const int64_t clawed_back = total.clawed_back_refunds + total.clawed_back_voids;
  const int64_t restored = total.restored_refunds + total.restored_voids;
  const double requests = static_cast<double>(day.size());
  const int64_t defects = (total.errors.count("internal") != 0 ? total.errors["internal"] : 0) +
                          total.replay_mismatches + total.over_clawbacks +
                          total.receipt_lines_too_wide;
  int exit_code = kExitOk;
  if (defects > 0 || (opt.expect_no_errors && errors > 0)) exit_code = kExitFailed;

  auto& out = std::cout;
  char buf[256];
  out << "==== day summary " << std::string(43, '=') << "\n";
  out << "plugin     " << plugin_desc << "\n";
  std::snprintf(buf, sizeof buf, "replayed   %zu requests of %s in %.2f s with %d thread%s\n",
                day.size(), opt.day.c_str(), secs, opt.threads, opt.threads == 1 ? "" : "s");
  out << buf;
  out << "requests\n";
  for (const auto& [type, n] : total.by_type) {
    std::snprintf(buf, sizeof buf, "  %-20s %8lld\n", type.c_str(), static_cast<long long>(n));
    out << buf;
  }
  if (errors == 0) {
    out << "errors     none\n";
  } else {
    out << "errors     " << errors << "\n";
    for (const auto& [code, n] : total.errors) {
      std::snprintf(buf, sizeof buf, "  %-20s %8lld\n", code.c_str(), static_cast<long long>(n));
      out << buf;
    }
  }
  std::snprintf(
      buf, sizeof buf, "sales      %lld (%lld with a customer, %lld anonymous), %.0f sales/s\n",
      static_cast<long long>(total.sales), static_cast<long long>(total.sales_with_customer),
      static_cast<long long>(total.sales - total.sales_with_customer),
      static_cast<double>(total.sales) / secs);
  out << buf;
  std::snprintf(buf, sizeof buf,
                "points     earned %lld, redeemed %lld, clawed back %lld, restored %lld, "
                "adjusted %+lld\n",
                static_cast<long long>(total.earned), static_cast<long long>(total.redeemed),
                static_cast<long long>(clawed_back), static_cast<long long>(restored),
                static_cast<long long>(total.adjusted));
  out << buf;
  std::snprintf(
      buf, sizeof buf,
      "           (refunds: -%lld +%lld; voids: -%lld +%lld; holds: %lld granted for "
      "%lld pts, %lld released)\n",
      static_cast<long long>(total.clawed_back_refunds),
      static_cast<long long>(total.restored_refunds),
      static_cast<long long>(total.clawed_back_voids), static_cast<long long>(total.restored_voids),
      static_cast<long long>(total.holds_granted), static_cast<long long>(total.held_points),
      static_cast<long long>(total.holds_released));
  out << buf;
  if (total.replays > 0) {
    out << "retries    " << total.replays << " (same id again: "
        << (total.replay_mismatches == 0
                ? "the first answer came back, nothing counted twice"
                : std::to_string(total.replay_mismatches) + " got a DIFFERENT answer")
        << ")\n";
  }
  if (total.holds_missing > 0) {
    out << "$HOLD      " << total.holds_missing
        << " \"$HOLD\" without a hold to put in (no points.authorize for the ticket, or it "
           "was refused)\n";
  }
  std::snprintf(buf, sizeof buf,
                "latency    loyalty_handle p50 %s, p90 %s, p99 %s, max %s; %.0f requests/s\n",
                micros(p50).c_str(), micros(p90).c_str(), micros(p99).c_str(),
                micros(max_ns).c_str(), requests / secs);
  out << buf;
  if (defects > 0) {
    out << "DEFECTS    " << defects << ": internal errors, retries answered differently, "
        << "over-clawbacks (" << total.over_clawbacks << ") or receipt lines wider than "
        << opt.receipt_width << " (" << total.receipt_lines_too_wide << ")\n";
  }
  out.flush();

  if (!opt.json_summary.empty()) {
    json s = {
        {"day", opt.day},
        {"plugin", {{"path", opt.plugin}, {"abi", plugin.abi()}, {"info", info}}},
        {"threads", opt.threads},
        {"requests", day.size()},
        {"seconds", secs},
        {"requests_per_second", requests / secs},
        {"by_type", total.by_type},
        {"errors", total.errors},
        {"error_count", errors},
        {"sales", total.sales},
        {"sales_with_customer", total.sales_with_customer},
        {"sales_per_second", static_cast<double>(total.sales) / secs},
        {"points",
         {{"earned", total.earned},
          {"redeemed", total.redeemed},
          {"clawed_back", clawed_back},
          {"restored", restored},
          {"adjusted", total.adjusted},
          {"clawed_back_by_refunds", total.clawed_back_refunds},
          {"restored_by_refunds", total.restored_refunds},
          {"clawed_back_by_voids", total.clawed_back_voids},
          {"restored_by_voids", total.restored_voids}}},
        {"holds",
         {{"granted", total.holds_granted},
          {"points", total.held_points},
          {"released", total.holds_released},
          {"placeholders_without_hold", total.holds_missing}}},
        {"retries", {{"count", total.replays}, {"different_answer", total.replay_mismatches}}},
        {"latency_us",
         {{"p50", static_cast<double>(p50) / 1e3},
          {"p90", static_cast<double>(p90) / 1e3},
          {"p99", static_cast<double>(p99) / 1e3},
          {"max", static_cast<double>(max_ns) / 1e3}}},
        {"defects",
         {{"over_clawbacks", total.over_clawbacks},
          {"receipt_lines_too_wide", total.receipt_lines_too_wide}}},
        {"exit_code", exit_code},
    };
    std::ofstream f(opt.json_summary);
    f << s.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    if (!f) {
      std::cerr << "pos-sim: cannot write " << opt.json_summary << "\n";
      return kExitSetup;
    }
  }
  return exit_code;
}
