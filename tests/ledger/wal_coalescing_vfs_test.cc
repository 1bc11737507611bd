// The WAL-coalescing VFS (ledger/src/wal_coalescing_vfs.h) on real files: what one
// connection commits through it is what every other connection reads, at every commit,
// including transactions far larger than one buffered write, pages rewritten inside a
// transaction, a WAL that starts over after checkpoints, and a reopen.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "wal_coalescing_vfs.h"

namespace loyalty::ledger {
namespace {

namespace fs = std::filesystem;

// "WITH RECURSIVE s(value) AS (1..n) ": the library has no generate_series.
std::string series(int n) {
  return "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < " +
         std::to_string(n) + ") ";
}

class Db {
 public:
  Db(const std::string& path, const char* vfs) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA cache_size=50");  // small: large transactions spill pages mid-transaction
  }
  ~Db() { sqlite3_close_v2(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
  }
  int64_t scalar(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    const int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  }
  sqlite3* raw() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class WalCoalescingVfs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("loyalty-vfs-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string path_;
};

TEST_F(WalCoalescingVfs, IsRegistered) {
  const char* name = wal_coalescing_vfs_name();
  ASSERT_NE(name, nullptr);
  EXPECT_NE(sqlite3_vfs_find(name), nullptr);
  EXPECT_STREQ(wal_coalescing_vfs_name(), name);  // registered once
}

TEST_F(WalCoalescingVfs, EveryCommitIsVisibleToOtherConnectionsAtOnce) {
  Db writer(path_, wal_coalescing_vfs_name());
  Db plain_reader(path_, nullptr);                      // as another process would read
  Db shim_reader(path_, wal_coalescing_vfs_name());     // a second connection of this process
  writer.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)");
  int64_t rows = 0;
  for (int txn = 0; txn < 400; ++txn) {
    // Sizes from one row to ~2.4 MB, so that flushes span many 64 KiB writes and pass
    // the 4 MiB buffer limit; random blobs defeat any accidental compression of pages.
    const int n = txn % 50 == 0 ? 12000 : 1 + txn % 7;
    writer.exec("BEGIN IMMEDIATE");
    writer.exec(series(n) + "INSERT INTO t(k, v) SELECT 'k' || (" + std::to_string(rows) +
                " + value), randomblob(200) FROM s");
    // Rewrite rows inserted earlier in this transaction: pages already in the WAL are
    // overwritten in place (a non-contiguous write).
    writer.exec("UPDATE t SET v = randomblob(210) WHERE id > " + std::to_string(rows) +
                " AND id % 3 = 0");
    writer.exec("COMMIT");
    rows += n;
    ASSERT_EQ(plain_reader.scalar("SELECT count(*) FROM t"), rows) << "after transaction " << txn;
    ASSERT_EQ(shim_reader.scalar("SELECT count(*) FROM t"), rows) << "after transaction " << txn;
    if (txn % 97 == 0) {
      // A checkpoint from the other connection; the WAL starts over at the next write.
      ASSERT_EQ(sqlite3_wal_checkpoint_v2(shim_reader.raw(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                          nullptr, nullptr),
                SQLITE_OK);
    }
  }
  EXPECT_EQ(plain_reader.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(writer.scalar("SELECT sum(length(v)) > 0 FROM t"), 1);
}

TEST_F(WalCoalescingVfs, ARolledBackTransactionLeavesNothing) {
  Db writer(path_, wal_coalescing_vfs_name());
  Db reader(path_, nullptr);
  writer.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  writer.exec("INSERT INTO t(v) VALUES (randomblob(10))");
  writer.exec("BEGIN IMMEDIATE");
  writer.exec(series(5000) + "INSERT INTO t(v) SELECT randomblob(300) FROM s");
  writer.exec("ROLLBACK");
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 1);
  EXPECT_EQ(writer.scalar("SELECT count(*) FROM t"), 1);
  writer.exec("INSERT INTO t(v) VALUES (randomblob(10))");
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 2);
  EXPECT_EQ(reader.text("PRAGMA integrity_check"), "ok");
}

TEST_F(WalCoalescingVfs, ReopenedFileHasEveryCommit) {
  {
    Db writer(path_, wal_coalescing_vfs_name());
    writer.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    for (int i = 0; i < 300; ++i) {
      writer.exec("INSERT INTO t(v) VALUES (randomblob(1000))");
    }
    // Closed without a checkpoint of our own: the last connection's close checkpoints.
  }
  Db reader(path_, nullptr);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 300);
  EXPECT_EQ(reader.text("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace loyalty::ledger
