#include "ledger_copy.h"

#include <sqlite3.h>

#include <cstdlib>
#include <string>

#include "sys.h"

namespace loyalty::installer {

namespace {

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

void open_db(Db& d, const fs::path& p, int flags) {
  const int rc = sqlite3_open_v2(p.c_str(), &d.db, flags, nullptr);
  if (rc != SQLITE_OK) {
    throw InstallError("cannot open " + p.string() + ": " +
                       (d.db ? sqlite3_errmsg(d.db) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(d.db, 10000);
}

// Copies every page of `from` into `to` in one step.
void copy_pages(Db& from, Db& to, const fs::path& what) {
  sqlite3_backup* b = sqlite3_backup_init(to.db, "main", from.db, "main");
  if (b == nullptr)
    throw InstallError("cannot copy " + what.string() + ": " + sqlite3_errmsg(to.db));
  int rc = SQLITE_OK;
  do {
    rc = sqlite3_backup_step(b, -1);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    throw InstallError("cannot copy " + what.string() + ": " + sqlite3_errstr(rc));
  }
}

}  // namespace

void backup_ledger(const fs::path& live, const fs::path& backup) {
  if (fs::exists(backup)) throw InstallError("backup " + backup.string() + " already exists");
  Db src, dst;
  open_db(src, live, SQLITE_OPEN_READONLY);
  open_db(dst, backup, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  copy_pages(src, dst, live);
  // The copy is a standalone file: no -wal beside it.
  char* err = nullptr;
  if (sqlite3_exec(dst.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string e = err ? err : "";
    sqlite3_free(err);
    throw InstallError("cannot finish backup " + backup.string() + ": " + e);
  }
}

void restore_ledger(const fs::path& backup, const fs::path& live) {
  Db src, dst;
  open_db(src, backup, SQLITE_OPEN_READONLY);
  open_db(dst, live, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  copy_pages(src, dst, live);
  // Fold the restored pages into the main file and keep the ledger in WAL mode.
  sqlite3_exec(dst.db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  sqlite3_wal_checkpoint_v2(dst.db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  // The redo log holds transactions made after the backup (ledger/src/redo_log.h): the
  // next open would re-run them on the restored copy.
  std::error_code ec;
  fs::remove(live.string() + "-redo", ec);
}

int64_t ledger_schema_version(const fs::path& path) {
  if (!fs::exists(path)) return -1;
  Db d;
  open_db(d, path, SQLITE_OPEN_READONLY);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(d.db,
                         "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='meta'",
                         -1, &s, nullptr) != SQLITE_OK) {
    throw InstallError(path.string() + " is not a readable SQLite ledger: " + sqlite3_errmsg(d.db));
  }
  const bool has_meta = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0;
  sqlite3_finalize(s);
  if (!has_meta) return 0;
  if (sqlite3_prepare_v2(d.db, "SELECT value FROM meta WHERE key='schema_version'", -1, &s,
                         nullptr) != SQLITE_OK) {
    throw InstallError(path.string() + ": " + sqlite3_errmsg(d.db));
  }
  int64_t v = 0;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s, 0);
    v = t ? std::strtoll(reinterpret_cast<const char*>(t), nullptr, 10) : 0;
  }
  sqlite3_finalize(s);
  return v;
}

}  // namespace loyalty::installer
