// Shared helpers of the ABI tests (and of tests/integration, which drive the same .so): the
// real libloyalty.so loaded with dlopen (never linked), a fresh temporary directory and TOML
// configuration per test, a plugin handle with JSON helpers, and a read-only look at the
// SQLite ledger underneath.
//
// Thread-safety: Api is immutable once loaded; Plugin::call may be used from many threads
// (it only calls loyalty_handle/loyalty_free). Nothing here writes to the ledger directly.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loyalty/loyalty.h"

namespace abi_test {

using nlohmann::json;

// The five contract functions, looked up with dlsym in LOYALTY_SO (RTLD_NOW | RTLD_LOCAL).
struct Api {
  void* so = nullptr;
  std::string load_error;  // dlopen/dlsym failure, empty when loaded
  uint32_t (*abi_version)(void) = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
  bool loaded() const { return load_error.empty(); }
};

template <class Fn>
bool bind_symbol(Api& a, Fn& fn, const char* name) {
  void* sym = dlsym(a.so, name);
  if (sym == nullptr) {
    a.load_error = std::string("dlsym ") + name + ": " + dlerror();
    return false;
  }
  fn = reinterpret_cast<Fn>(sym);
  return true;
}

// Loaded once per process; the library stays loaded until exit.
inline const Api& api() {
  static const Api a = [] {
    Api x;
    x.so = dlopen(LOYALTY_SO, RTLD_NOW | RTLD_LOCAL);
    if (x.so == nullptr) {
      x.load_error = std::string("dlopen ") + LOYALTY_SO + ": " + dlerror();
      return x;
    }
    bind_symbol(x, x.abi_version, "loyalty_abi_version") &&
        bind_symbol(x, x.open, "loyalty_open") && bind_symbol(x, x.handle, "loyalty_handle") &&
        bind_symbol(x, x.free, "loyalty_free") && bind_symbol(x, x.close, "loyalty_close");
    return x;
  }();
  return a;
}

// A mkdtemp directory removed (with everything in it) when the object dies.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/loyalty-abi-XXXXXX";
    const char* d = mkdtemp(tmpl);
    path_ = d != nullptr ? d : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }

 private:
  std::string path_;
};

struct ConfigOptions {
  std::string synchronous = "normal";  // "full" where durability matters
  std::string locale = "es";
  int width = 42;
  bool allow_transfers = false;
  std::string extra;  // appended as it is (more sections)
};

// Every key of contract section 6 (except [sync]), with the contract's example values.
inline std::string config_text(const ConfigOptions& o = {}) {
  std::string text = R"([plugin]
branch = "B01"
db = "ledger.db"
locale = "@LOCALE@"
synchronous = "@SYNCHRONOUS@"

[program]
currency = "MXN"
point_value = "0.10"
earn_percent = "5"
expiry_days = 365
welcome_bonus = 0
auto_enroll = true
points_methods = ["points"]
on_points_tender = "block"
excluded_payment_methods = ["credit_card"]
unmatched_refund = "clawback_at_rate"
hold_minutes = 15
allow_transfers = @TRANSFERS@

[program.categories]
gold = "8"

[program.overrides.sku]
"GIFT-100" = "0"

[program.overrides.category]
"tabaco" = "0"

[receipt]
width = @WIDTH@
)";
  const std::pair<std::string, std::string> values[] = {
      {"@LOCALE@", o.locale},
      {"@SYNCHRONOUS@", o.synchronous},
      {"@TRANSFERS@", o.allow_transfers ? "true" : "false"},
      {"@WIDTH@", std::to_string(o.width)}};
  for (const auto& [token, value] : values) text.replace(text.find(token), token.size(), value);
  return text + o.extra;
}

// One loyalty_handle answer: the code, the bytes and the parsed body (null when the
// response was missing or not JSON; the call then records a test failure).
struct Reply {
  int code = -1;
  std::string text;
  json body;
};

// UTF-8 code points of a string (continuation bytes do not count).
inline size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// Sends raw bytes (any length, NULs included) on handle `p`, whoever opened it. Thread-safe.
inline Reply send(loyalty_plugin* p, std::string_view bytes) {
  Reply r;
  char* out = nullptr;
  r.code = api().handle(p, bytes.data(), bytes.size(), &out);
  EXPECT_NE(out, nullptr) << "loyalty_handle must always set *response_json";
  if (out != nullptr) {
    r.text = out;
    api().free(out);
    r.body = json::parse(r.text, nullptr, false);
    EXPECT_FALSE(r.body.is_discarded()) << "response is not JSON: " << r.text.substr(0, 200);
    if (r.body.is_discarded()) r.body = nullptr;
  }
  return r;
}

// A plugin opened on a fresh directory with `config` written as loyalty.toml.
class Plugin {
 public:
  explicit Plugin(const ConfigOptions& o = {}) {
    dir_.write("loyalty.toml", config_text(o));
    open();
  }
  ~Plugin() { api().close(p_); }

  // Closes the handle and opens the same configuration (and ledger) again.
  void reopen() {
    api().close(p_);
    p_ = nullptr;
    open();
  }

  // A second, independent handle on the same configuration and ledger (like a second POS
  // process on one branch database). The caller closes it.
  loyalty_plugin* open_another() const {
    loyalty_plugin* p = nullptr;
    char* err = nullptr;
    const int rc = api().open(dir_.file("loyalty.toml").c_str(), &p, &err);
    EXPECT_EQ(rc, 0) << (err != nullptr ? err : "");
    api().free(err);
    return p;
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  bool opened() const { return open_code_ == 0 && p_ != nullptr; }
  int open_code() const { return open_code_; }
  const std::string& open_error() const { return open_error_; }
  loyalty_plugin* handle() const { return p_; }
  const TempDir& dir() const { return dir_; }
  std::string db_path() const { return dir_.file("ledger.db"); }

  // Sends raw bytes (any length, NULs included). Thread-safe.
  Reply send(std::string_view bytes) const { return abi_test::send(p_, bytes); }
  Reply call(const json& request) const { return send(request.dump()); }

  // A request that must succeed; returns the body.
  json ok(const json& request) const {
    Reply r = call(request);
    EXPECT_EQ(r.code, LOYALTY_OK) << request.dump() << "\n -> " << r.text;
    if (r.body.is_object()) {
      EXPECT_EQ(r.body.value("ok", false), true) << r.text;
    }
    return r.body;
  }

  // balance.query at `at`; the whole body.
  json balance_body(const std::string& customer,
                    const std::string& at = "2026-11-22T12:00:00-06:00") const {
    return ok(
        {{"type", "balance.query"}, {"id", "q-" + customer}, {"at", at}, {"customer", customer}});
  }
  int64_t balance(const std::string& customer) const {
    const json b = balance_body(customer);
    return b.is_object() && b.contains("balance") && b["balance"].is_number_integer()
               ? b["balance"].get<int64_t>()
               : INT64_MIN;
  }
  int64_t available(const std::string& customer) const {
    const json b = balance_body(customer);
    return b.is_object() && b.contains("available") && b["available"].is_number_integer()
               ? b["available"].get<int64_t>()
               : INT64_MIN;
  }

 private:
  void open() {
    char* err = nullptr;
    open_error_.clear();
    open_code_ = api().open(dir_.file("loyalty.toml").c_str(), &p_, &err);
    if (err != nullptr) {
      open_error_ = err;
      api().free(err);
    }
  }

  TempDir dir_;
  loyalty_plugin* p_ = nullptr;
  int open_code_ = -1;
  std::string open_error_;
};

// A read-only SQLite connection to a ledger file, for counting what the plugin wrote.
// The plugin may have the file open at the same time (WAL: readers never block it). Its
// last writes may still be in a held group (LedgerOptions::hold_commit_ms), durable by their
// redo records but not yet COMMITted: taking the write lock once waits for that COMMIT (the
// group holds the lock; the test's writes have stopped, so the plugin lets it go within a
// millisecond), so the reader sees every answer given.
class LedgerReader {
 public:
  explicit LedgerReader(const std::string& path) {
    sqlite3* w = nullptr;
    if (sqlite3_open_v2(path.c_str(), &w, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(w, 5000);
      if (sqlite3_exec(w, "BEGIN IMMEDIATE; ROLLBACK", nullptr, nullptr, nullptr) != SQLITE_OK) {
        ADD_FAILURE() << "waiting for the plugin's COMMIT on " << path << ": " << sqlite3_errmsg(w);
      }
    }
    sqlite3_close(w);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~LedgerReader() { sqlite3_close(db_); }
  LedgerReader(const LedgerReader&) = delete;
  LedgerReader& operator=(const LedgerReader&) = delete;

  // The first column of the first row of `sql` as an integer (NULL as 0); -1 on error.
  int64_t scalar(const std::string& sql, const std::string& arg = {}) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return -1;
    }
    if (!arg.empty())
      sqlite3_bind_text(s, 1, arg.data(), static_cast<int>(arg.size()), SQLITE_TRANSIENT);
    int64_t v = -1;
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      v = sqlite3_column_int64(s, 0);
    } else if (rc != SQLITE_DONE) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_finalize(s);
    return v;
  }

  // Every row of `sql`, its columns as text joined by ' ' (NULL as "NULL").
  std::vector<std::string> rows(const std::string& sql) const {
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        if (i > 0) row += ' ';
        row += t != nullptr ? t : "NULL";
      }
      out.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    sqlite3_finalize(s);
    return out;
  }

  // The first column of the first row as bytes (blob or text); empty when there is none.
  std::string bytes(const std::string& sql) const {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    if (sqlite3_step(s) == SQLITE_ROW) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(s, 0));
      if (p != nullptr) out.assign(p, static_cast<size_t>(sqlite3_column_bytes(s, 0)));
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// What a malformed request must not change (rule 12), read straight from the ledger.
struct LedgerCounts {
  int64_t entries = 0, requests = 0, sales = 0, accounts = 0, holds = 0, balance_sum = 0;
  bool operator==(const LedgerCounts&) const = default;
};

inline LedgerCounts ledger_counts(const std::string& db_path) {
  LedgerReader r(db_path);
  LedgerCounts c;
  c.entries = r.scalar("SELECT count(*) FROM entries");
  c.requests = r.scalar("SELECT count(*) FROM requests");
  c.sales = r.scalar("SELECT count(*) FROM sales");
  c.accounts = r.scalar("SELECT count(*) FROM accounts");
  c.holds = r.scalar("SELECT count(*) FROM holds");
  c.balance_sum = r.scalar("SELECT coalesce(sum(balance), 0) FROM accounts");
  return c;
}

inline std::ostream& operator<<(std::ostream& os, const LedgerCounts& c) {
  return os << "{entries " << c.entries << ", requests " << c.requests << ", sales " << c.sales
            << ", accounts " << c.accounts << ", holds " << c.holds << ", balance_sum "
            << c.balance_sum << "}";
}

// The contract's sale example (section 2), byte for byte.
inline constexpr const char* kContractSale =
    R"({"type":"sale.completed","id":"B01-T1-000123","at":"2026-11-22T10:15:00-06:00",
 "branch":"B01","terminal":"T1","ticket":"000123","currency":"MXN",
 "customer":"card:4000123",
 "lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"},
          {"n":2,"sku":"GIFT-100","category":"gift-cards","qty":"1","amount":"100.00"}],
 "tenders":[{"method":"cash","amount":"200.00","change":"10.00"}]})";

inline constexpr const char* kAt = "2026-11-22T10:15:00-06:00";

// A cash sale of one line per amount, each line numbered from 1.
inline json cash_sale(const std::string& id, const std::string& ticket, const std::string& customer,
                      const std::vector<std::string>& amounts, const std::string& at = kAt) {
  json lines = json::array();
  for (size_t i = 0; i < amounts.size(); ++i) {
    lines.push_back({{"n", static_cast<int>(i) + 1},
                     {"sku", "SKU-" + std::to_string(i + 1)},
                     {"qty", "1"},
                     {"amount", amounts[i]}});
  }
  json sale = {
      {"type", "sale.completed"}, {"id", id}, {"at", at}, {"ticket", ticket}, {"lines", lines}};
  if (!customer.empty()) sale["customer"] = customer;
  return sale;
}

}  // namespace abi_test
