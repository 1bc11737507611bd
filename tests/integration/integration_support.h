// What the integration tests share: the plugin's C ABI loaded with dlopen from the real
// built library (LOYALTY_SO), and a plain read-only SQLite connection to look at a ledger
// independently of the plugin and of the ledger module.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "loyalty/loyalty.h"

namespace integration {

struct Api {
  void* so = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

inline Api load_api() {
  Api a;
  a.so = dlopen(LOYALTY_SO, RTLD_NOW | RTLD_LOCAL);
  if (a.so == nullptr) return a;
  a.open =
      reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(a.so, "loyalty_open"));
  a.handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(
      dlsym(a.so, "loyalty_handle"));
  a.free = reinterpret_cast<void (*)(char*)>(dlsym(a.so, "loyalty_free"));
  a.close = reinterpret_cast<void (*)(loyalty_plugin*)>(dlsym(a.so, "loyalty_close"));
  return a;
}

inline std::string call(const Api& api, loyalty_plugin* p, const std::string& body, int* rc) {
  char* out = nullptr;
  *rc = api.handle(p, body.data(), body.size(), &out);
  std::string s = out != nullptr ? out : "";
  api.free(out);
  return s;
}

// A plain read-only SQLite connection, independent of the plugin and of the ledger module.
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Every row of `sql` as text columns joined by ' '.
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
      out.push_back(row);
    }
    if (rc != SQLITE_DONE) ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    sqlite3_finalize(s);
    return out;
  }
  int64_t scalar(const std::string& sql) const {
    const auto r = rows(sql);
    return r.empty() || r.front() == "NULL" ? 0 : std::strtoll(r.front().c_str(), nullptr, 10);
  }

 private:
  sqlite3* db_ = nullptr;
};

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }  // ids here never hold quotes

}  // namespace integration
