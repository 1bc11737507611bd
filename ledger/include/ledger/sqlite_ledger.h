// The branch ledger on SQLite (WAL, STRICT tables, BEGIN IMMEDIATE for every write).
//
// One connection per process, guarded by a mutex: a transaction object holds the lock for
// its lifetime, so POS threads are serialised; other processes (loyaltyctl) wait on
// busy_timeout. Statements are prepared once and reused.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <unordered_map>

#include "app/ledger_port.h"

namespace loyalty::ledger {

inline constexpr int64_t kSchemaVersion = 1;

struct LedgerOptions {
  std::string path;
  std::string branch;
  int synchronous = 2;  // 0 off, 1 normal, 2 full, 3 extra
  int64_t busy_timeout_ms = 5000;
  int64_t quarantine_max_rows = 100000;
  bool read_only = false;
  // The WAL is checkpointed by a background thread (on its own connection) once it holds
  // this many pages, so that no POS call pays for a checkpoint. 0 = SQLite's own
  // auto-checkpoint on the committing thread.
  int64_t checkpoint_pages = 1000;
};

// Throws app::StoreFailure with the right code for an SQLite result code.
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what);

// A prepared statement borrowed from the cache; reset and unbound when it goes out of scope.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), s_(stmt) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Query& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Query& bind_blob(int i, const std::string& v) {
    return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Query& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }

  // True while there is a row; throws on error.
  bool step();
  void run() {
    while (step()) {
    }
  }

  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
};

class SqliteLedger final : public app::LedgerStore {
 public:
  // Opens (creating and migrating if needed) the ledger. Throws app::StoreFailure.
  static std::unique_ptr<SqliteLedger> open(const LedgerOptions& options);
  ~SqliteLedger() override;

  std::unique_ptr<app::LedgerTx> begin_write() override;
  std::unique_ptr<app::LedgerTx> begin_read() override;
  void quarantine(const app::QuarantineRow& row) override;
  int64_t schema_version() override { return schema_version_; }

  const LedgerOptions& options() const { return options_; }
  const std::string& node_epoch() const { return node_epoch_; }

  // For admin tools (verify, report): runs `f(db)` holding the connection's lock.
  template <class F>
  auto with_db(F&& f) {
    std::lock_guard lock(mu_);
    return f(db_);
  }

  // A cached statement for `sql` (compiled on first use). Caller holds the lock.
  Query query(const std::string& sql);
  void exec(const char* sql);

 private:
  explicit SqliteLedger(LedgerOptions options) : options_(std::move(options)) {}
  void migrate();
  void start_checkpointer();
  void checkpointer_loop();
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int pages);

  friend class SqliteTx;
  LedgerOptions options_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;  // by SQL text
  int64_t schema_version_ = 0;
  std::string node_epoch_;

  // Background WAL checkpoints.
  sqlite3* ckpt_db_ = nullptr;
  std::thread ckpt_thread_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  bool ckpt_stop_ = false;
};

}  // namespace loyalty::ledger
