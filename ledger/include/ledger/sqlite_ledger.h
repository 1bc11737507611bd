// The branch ledger on SQLite (WAL, STRICT tables, BEGIN IMMEDIATE for every write).
//
// Ownership and threads: one SqliteLedger owns one SQLite connection, guarded by a mutex.
// A transaction object (begin_write/begin_read) holds that mutex from its creation until
// commit() or its destruction, so POS threads calling concurrently are serialised.
//
// Group commit: a write transaction whose commit() finds other writers waiting does not
// COMMIT; it releases its work into the still-open SQLite transaction and hands the
// connection to the next writer, which continues in a SAVEPOINT of its own (a failure rolls
// back only that savepoint). The last writer of the group (no one waiting, or the group is
// full or old) COMMITs once for all, with one fsync, and every member's commit() returns
// only after that COMMIT: successfully, or throwing the same StoreFailure. A lone writer
// COMMITs at once, as without grouping. Read transactions and with_db() first COMMIT an
// open group, so nothing reads uncommitted work.
//
// Held groups (LedgerOptions::hold_commit_ms, redo mode): a POS write is made durable by
// its own redo record (fdatasync'd with synchronous = full, written to the OS with normal)
// inside a SAVEPOINT of a group that stays open after it, and the group is COMMITted
// without a sync once it is hold_commit_ms old or has hold_max_members members (by the
// write that finds it so, or by the background thread when no write comes). Reads of this
// ledger run inside the held group: everything in it is durable. Other connections see a
// write at most ~hold_commit_ms later (about hold_idle_us after it when the writes pause),
// and wait about that long for the write lock.
//
// Never open a second transaction, call quarantine() or an admin function on the same
// thread while one is alive: the mutex is not recursive. Other processes (loyaltyctl) wait on
// busy_timeout; past it a call fails with StoreFailure kUnavailable "ledger busy".
//
// Failures: every function throws app::StoreFailure: kUnavailable for busy, disk full,
// I/O and read-only errors; kInternal for corruption, constraint violations and defects.
// The ledger's own statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reused.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "app/ledger_port.h"

namespace loyalty::ledger {

class RedoLog;
class RedoSyncer;
class BalanceProjection;

// The newest schema this code knows (the last step of migrations()).
inline constexpr int64_t kSchemaVersion = 5;

struct LedgerOptions {
  std::string path;
  std::string branch;             // recorded in meta.branch_id when the ledger is created
  int synchronous = 2;            // 0 off, 1 normal, 2 full, 3 extra
  int64_t busy_timeout_ms = 5000;
  int64_t quarantine_max_rows = 10000;  // at most 64 KiB each: 640 MiB at the very worst
  bool read_only = false;         // loyaltyctl report/verify: no migration, no writes
  // The WAL is checkpointed by a background thread (on its own connection) once it holds
  // this many pages, so that POS calls do not pay for checkpoints. Under sustained writes
  // (WAL past 4x this, 64 MiB) the committing call completes one, so the WAL starts over.
  // 0 = SQLite's own auto-checkpoint on the committing thread. 4000 rather than 1000: each
  // checkpoint's fsyncs hold up the commits in flight, and 4x fewer of them halved the p99
  // of back-to-back sales (docs/performance.md, "Fewer, larger checkpoints").
  int64_t checkpoint_pages = 4000;
  // With synchronous = 2 (full): a transaction whose write statements come to at least
  // redo_min_bytes is made durable by the redo log (one record and fdatasync,
  // ledger/src/redo_log.h) instead of an fsync of the WAL it wrote; a smaller one by an
  // fsync of the WAL right after its COMMIT, as SQLite's FULL does. false: SQLite's own
  // FULL. Either way a commit acknowledged survives a power cut. Only bulk writes
  // (begin_bulk_write) record their statements, unless redo_min_bytes is 0: recording a
  // request's (bound values copied, statement by statement) cost 3-10 % of a full sale's
  // p50 for a payload that was then dropped (docs/performance.md).
  bool redo_log = true;
  // 64 KiB: the sync client's batches of remote entries (hundreds of KiB) take the redo
  // log, a POS request (1-3 KiB) does not. Measured (docs/performance.md, "Redo log"):
  // with every POS commit in the redo log, the WAL reached the disk only in the
  // checkpoints' bulk fsyncs, and the small syncs queued behind them (loyaltyd p99 at 500
  // requests/s 4.2-4.7 -> 8.7-11.4 ms); a 2,000-entry batch of remote entries gained.
  int64_t redo_min_bytes = 64 << 10;
  // The redo log starts over at its beginning once it passes this size.
  int64_t redo_rotate_bytes = 16 << 20;
  // Held groups (see the file comment): with synchronous full or normal and redo_log, a POS
  // write is durable by its own redo record (1-3 KiB) and the SQLite transaction stays open
  // for the next writes, COMMITted without a sync once this old (or at hold_max_members
  // members): a sale no longer writes its ~10 WAL pages itself (docs/performance.md, "Held
  // groups"). Other processes see a commit and get the write lock at most about this much
  // later. 0: every group COMMITs at once. -1 (the default): 100 with synchronous = normal,
  // and with full when request_log is set (below), else 0: without request records a full
  // sale waits for its work and then its record's fdatasync, and the WAL's pages reach the
  // disk in the checkpoints' bursts, which held up those syncs (loyaltyd at 500
  // requests/s, p99 15-58 ms against 2.6-4.4 ms; docs/performance.md).
  int64_t hold_commit_ms = -1;
  // Request records (the host installs set_request_executor() right after open: the
  // plugin, loyaltyd, loyaltyctl through bootstrap::Runtime). With synchronous = full and
  // held groups, a request's record (the request as received, with its clock and random
  // seed) is written before its work and synced on a thread of its own while the work
  // runs, instead of its statements after it: a sale then waits for about one flush, not
  // for its work plus a flush (docs/performance.md, "stop 22"). After a crash the ledger
  // re-runs such a record through the executor, which gives the same rows. With it, -1
  // above means 100 with full too. With synchronous = normal and held groups the record is
  // written, not synced, instead of the member's statements (a smaller record, no copy of
  // every bound value; docs/performance.md, "stop 23").
  bool request_log = false;
  // -1 (the default): 2048, or 16 with request records. A group's COMMIT writes its pages
  // to the WAL on the calling sale's thread (~0.3 ms a member at 100,000 customers) and
  // leaves them to the disk in one burst, which the next records' flushes queue behind:
  // with request records, back-to-back full sales had p99 1.0-6.9 ms at 256 members
  // (p99 of the COMMIT alone 7-9 ms at every 256th sale), 1.2-3.8 ms at 32, 1.0-1.3 ms at
  // 16 (docs/performance.md, "stop 22"). With normal the larger groups write fewer pages:
  // a sale dirties a leaf of accounts, lots and entries_account each, which the group's
  // other sales share more often the larger it is (the 100,000-sale replay: 3.4 WAL pages a
  // request at 256, 2.2-2.4 at 1024, where hold_commit_ms ends most groups first; and 11
  // foreground checkpoints instead of 18; docs/performance.md, "stop 23"); at 2048,
  // which hold_commit_ms ends at ~1,700 in that replay, 60 COMMITs instead of 105 and
  // 7-8 foreground checkpoints instead of 10-11, with a page cache of 16 KiB a member
  // (docs/performance.md, "stop 24").
  int64_t hold_max_members = -1;
  // ... and once no write has come for this long (the background thread): a POS that is not
  // busy has each write COMMITted about a millisecond after it was acknowledged, so other
  // processes (loyaltyctl, a report) see it and can write at once.
  int64_t hold_idle_us = 1000;
  // A read transaction is left open after a read, and the next read within this many
  // microseconds runs in it instead of beginning its own. Beginning and ending a read
  // takes and drops a lock on the -shm file (two fcntl calls, ~8 us of a ~20 us
  // balance.query on a paravirtualized kernel). Every write of this ledger ends the held
  // read first, so a read always sees this ledger's own writes; a commit by another
  // connection (loyaltyctl, another process) is seen by reads that begin at most this long
  // after it. 0: every read begins and ends its own transaction.
  int64_t read_reuse_us = 1000;
  // How often the background thread wakes when nothing asks it to: to checkpoint, and to
  // end a held read the POS left behind (which would keep the WAL from starting over).
  int64_t idle_wake_ms = 5000;
  // balance.query is answered from a projection kept in memory (ledger/src/balance_projection.h):
  // filled by reads as they miss, emptied of what writes change (~0.75 KiB per account
  // with ten open lots). Never on a read-only ledger.
  bool balance_projection = true;
  // A background thread fills the projection with every account right after open, on a
  // connection of its own (100,000 accounts and 1,000,000 open lots: ~0.4 s, 76 MiB of RSS), and
  // again after another process's commit emptied it (at most every preload_interval_ms).
  // For long-running hosts (the plugin, loyaltyd), not for loyaltyctl.
  bool preload_balances = false;
  int64_t preload_interval_ms = 60'000;
  // With preload_balances: once this ledger's own writes have made the projection forget
  // this many accounts (the reads fill them again one at a time), load every account again
  // at the next pause in the writes (0: never). A day of sales to 10,000 different
  // customers: one load (~0.4 s of the background thread for 100,000 accounts).
  int64_t reload_after_forgotten = 10'000;
  // Accounts a load installs at a time: a POS read waits for the projection's lock at most
  // as long as linking them takes (their nodes are made before the lock), and an
  // interrupted load goes on from the last one installed.
  int64_t preload_chunk_accounts = 1024;
  // Tests: runs on the projection thread before a load installs a chunk of accounts.
  std::function<void()> preload_before_install_for_tests;
};

// The id of the account a reference enrolls: "A-" + the first 96 bits of SHA-256 of the
// normalized reference, in hex. Deterministic, so two branches that enroll the same card
// offline create the same account (docs/sync.md, "Branch").
std::string account_id_for_ref(const std::string& ref);

// Throws app::StoreFailure with the right code for an SQLite result code: busy, full, I/O
// errors, and pages that read back wrong on a connection that had an I/O error (the disk
// failed) are kUnavailable; a corrupt file otherwise kInternal. `detail_of_ours` replaces the connection's message (which is
// about the last SQLite call) for a failure of our own, such as an fsync of the WAL.
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what, const std::string& detail_of_ours = {});
// Before closing `db`: forgets that it had an I/O error (fail() remembers, see there).
void forget_io_failures(sqlite3* db);

// A prepared statement borrowed from a cache; reset and unbound when it goes out of scope.
// Text bound with bind() is not copied (SQLITE_STATIC): the string must live, unchanged and
// unmoved, until the last step(); a temporary does not compile, use bind_copy() for it.
// Blobs, and text given to bind_copy(), are copied. With `redo` set (a write statement of a
// write transaction in redo mode, see ledger/src/redo_log.h), the statement's SQL and bound
// values are appended to *redo once it has run successfully.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, std::string* redo = nullptr) : db_(db), s_(stmt), redo_(redo) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, int64_t v) {
    if (redo_) note_int(i, v);
    return check(sqlite3_bind_int64(s_, i, v));
  }
  Query& bind(int i, const std::string& v) {
    if (redo_) note_text(i, v);
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  Query& bind(int i, std::string&& v) = delete;  // would dangle: use bind_copy
  Query& bind_copy(int i, const std::string& v) {
    if (redo_) note_text(i, v);
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Query& bind_blob(int i, const std::string& v) {
    if (redo_) note_blob(i, v);
    return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Query& bind_null(int i) {
    if (redo_) note_null(i);
    return check(sqlite3_bind_null(s_, i));
  }

  // True while there is a row; throws StoreFailure on error.
  bool step();
  void run() {
    while (step()) {
    }
  }

  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  // Text or blob bytes of a column (NUL bytes kept).
  std::string text(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
  }
  void note_int(int i, int64_t v);
  void note_text(int i, const std::string& v);
  void note_blob(int i, const std::string& v);
  void note_null(int i);
  sqlite3* db_;
  sqlite3_stmt* s_;
  std::string* redo_;     // the transaction's redo payload, or null
  std::string binds_;     // encoded parameters, until the statement has run
  uint32_t bind_count_ = 0;
};

class SqliteLedger final : public app::LedgerStore {
 public:
  // Opens the ledger, creating and migrating it if needed (one transaction). Throws
  // StoreFailure: kUnavailable when the file cannot be opened or stays locked; kInternal
  // when it is corrupt, not a ledger, or has a schema newer than kSchemaVersion.
  static std::unique_ptr<SqliteLedger> open(const LedgerOptions& options);
  ~SqliteLedger() override;
  SqliteLedger(const SqliteLedger&) = delete;
  SqliteLedger& operator=(const SqliteLedger&) = delete;

  // BEGIN IMMEDIATE (kUnavailable "ledger busy" past busy_timeout_ms; kUnavailable on a
  // read-only ledger). The transaction rolls back when destroyed without commit().
  std::unique_ptr<app::LedgerTx> begin_write() override;
  // As begin_write; in redo mode its statements are recorded, since a bulk write may reach
  // redo_min_bytes (a request's never does: its group is made durable by an fsync of the WAL).
  std::unique_ptr<app::LedgerTx> begin_bulk_write() override;
  // BEGIN (deferred): a consistent snapshot; commit() ends it.
  std::unique_ptr<app::LedgerTx> begin_read() override;
  // Own short write transaction; keeps at most quarantine_max_rows rows (oldest dropped).
  // A no-op on a read-only ledger.
  void quarantine(const app::QuarantineRow& row) override;
  int64_t schema_version() override { return schema_version_; }

  const LedgerOptions& options() const { return options_; }
  // 32 hex digits; a new one after a restore was detected (docs/sync.md "Branch recovery").
  // Takes the connection's lock: not from inside with_db().
  std::string node_epoch() {
    std::lock_guard lock(mu_);
    return node_epoch_;
  }
  const std::string& branch_id() const { return branch_id_; }    // as recorded at creation
  // Write transactions (groups) ended so far, each with one COMMIT; fewer than the write
  // transactions begun when writers shared commits (metrics, tests).
  uint64_t groups_ended() {
    std::lock_guard lock(group_mu_);
    return groups_ended_;
  }

  // What the commits and checkpoints cost so far (metrics, bench_daemon): a stalled POS
  // call can be matched to a slow COMMIT or to a checkpoint the committing thread ran.
  struct Stats {
    uint64_t commits = 0;                 // COMMITs run (one per group)
    int64_t max_commit_us = 0;            // the slowest COMMIT (its WAL write and sync)
    uint64_t background_checkpoints = 0;  // run by the checkpoint thread
    int64_t max_background_checkpoint_us = 0;
    uint64_t foreground_checkpoints = 0;  // run inside a COMMIT (WAL past 4x the limit)
    int64_t max_foreground_checkpoint_us = 0;
    int64_t max_wal_pages = 0;            // the largest WAL seen at a commit
    uint64_t redo_records = 0;            // redo mode: records written (one per group)
    uint64_t wal_syncs = 0;               // redo mode: groups made durable by an fsync of the WAL
    int64_t max_redo_write_us = 0;        // the slowest record write + fdatasync
    uint64_t redo_rotations = 0;          // times the redo log started over (a WAL fsync)
    uint64_t redo_replayed = 0;           // records re-run at open (after a power cut)
    uint64_t request_records = 0;         // request records written (request_log)
    uint64_t requests_replayed = 0;       // ... re-run through the executor
    uint64_t requests_skipped = 0;        // ... whose re-run failed as their first run had (take_skipped_requests)
    uint64_t held_commits = 0;            // held groups COMMITted (hold_commit_ms)
    uint64_t held_recoveries = 0;         // held groups whose COMMIT failed, rebuilt from the log
    uint64_t held_repairs = 0;            // ... rebuilt by a later call, after the first re-run failed
    uint64_t reads = 0;                   // read transactions asked for
    uint64_t reads_reused = 0;            // of them, run in the held read (read_reuse_us)
    uint64_t projection_hits = 0;         // balance views answered from memory
    uint64_t projection_misses = 0;       // ... that asked SQLite
    uint64_t projection_clears = 0;       // emptied after another connection's commit
    uint64_t preloads = 0;                // full loads completed
    uint64_t preloaded_accounts = 0;      // accounts the last one installed
    int64_t last_preload_ms = 0;          // how long the last bulk load took
  };
  // After a held group's COMMIT and the re-run of its records both failed (a full disk),
  // calls are refused, and at most this often one re-runs the records again.
  static constexpr std::chrono::milliseconds kBrokenRetry{1000};
  Stats stats() const;

  // A call's wait budget (busy_timeout_ms) counts from its start. A host that queues a
  // request before a thread makes the call (loyaltyd's worker pool) opens this scope around
  // the call with the request's arrival, so that queued requests give up one timeout after
  // they arrived, not one timeout after a worker took each (waves of worker_threads). It
  // applies to the first transaction this thread begins inside the scope.
  class WaitFrom {
   public:
    explicit WaitFrom(std::chrono::steady_clock::time_point arrived);
    ~WaitFrom();
    WaitFrom(const WaitFrom&) = delete;
    WaitFrom& operator=(const WaitFrom&) = delete;
  };

  // For admin tools and tests (verify, reports): runs `f(db)` holding the connection's
  // lock. Inside, query()/exec() may be used.
  // In redo mode, what `f` committed is made durable (the WAL fsync'd) before returning.
  template <class F>
  auto with_db(F&& f) {
    std::lock_guard lock(mu_);
    settle_group();
    set_busy_deadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms));
    const int64_t changes = sqlite3_total_changes64(db_);
    // What `f` changed left the balance projection when it changed; once `f` has ended its
    // transactions, reads may fill it again.
    struct Settle {
      SqliteLedger& l;
      ~Settle() {
        if (sqlite3_get_autocommit(l.db_) != 0) l.settle_projection();
      }
    } settle{*this};
    if constexpr (std::is_void_v<decltype(f(db_))>) {
      f(db_);
      if (redo_ && sqlite3_total_changes64(db_) != changes) sync_wal();
    } else {
      auto result = f(db_);
      if (redo_ && sqlite3_total_changes64(db_) != changes) sync_wal();
      return result;
    }
  }

  // Re-runs a request record (LedgerOptions::request_log) inside `tx`, as the request first
  // ran, and commits `tx`; throws on failure. Called holding the connection's lock, so it
  // must use `tx` only. `record` is what LedgerTx::log_request() was given.
  using RequestExecutor = std::function<void(app::LedgerTx& tx, std::string_view record)>;
  // Installs the executor and re-runs the request records a crash left in the log (open
  // stops at the first one: until then writes are refused). Throws StoreFailure naming the
  // record when one cannot be re-run.
  void set_request_executor(RequestExecutor executor);
  bool logs_requests() const override { return request_log_; }
  // Why request records were skipped since the last call (their re-run failed other than
  // for the disk: they had failed when they first ran too, and were never acknowledged).
  std::vector<std::string> take_skipped_requests();

  // COMMITs the held group, if one is open (hold_commit_ms): other connections then see every
  // write this ledger acknowledged. verify() and points_report() call it before their scans.
  void flush() override {
    std::lock_guard lock(mu_);
    if (group_held_) end_group();
  }

  // A read-only ledger whose redo log holds acknowledged writes it lacks and could not re-run
  // (its writer died and this process may not write the files): what to tell the reader.
  // Empty otherwise.
  const std::string& unapplied_log() const { return unapplied_log_; }
  // ... because they are request records, which need the service to run again (a host with
  // the configuration can open the ledger for writing once, which re-runs them).
  bool unapplied_requests() const { return unapplied_requests_; }

  // True when commits are made durable by the redo log (synchronous full, redo_log).
  bool redo_mode() const { return redo_ != nullptr; }

  // A statement for `sql` from a cache keyed by its text (compiled on first use). The
  // caller holds the lock (inside with_db).
  Query query(const std::string& sql);
  void exec(const char* sql);

 private:
  enum class Stmt : int;  // the ledger's own statements (sqlite_ledger.cc)

  explicit SqliteLedger(LedgerOptions options);
  void configure();
  void migrate();
  void load_meta();
  void reload_node_epoch();  // holding mu_: meta.node_epoch (a new epoch after a restore)
  Query stmt(Stmt s);
  // A Query on `s` that records itself into the open group's redo payload when it writes.
  Query attach(sqlite3_stmt* s) {
    return Query(db_, s, redo_capture_ && !sqlite3_stmt_readonly(s) ? &redo_payload_ : nullptr);
  }
  // Redo mode (ledger/src/redo_log.h).
  void replay_redo();
  void replay_redo_locked(RedoLog* log);  // holding mu_, no transaction open
  // Held groups: holding mu_, inside the member's savepoint, its statements in
  // redo_payload_: writes them as one record (durable per redo_sync_); the group's COMMIT
  // moves meta.redo_next past its last record (end_group). False when the log would start over while
  // earlier members are only in records: the caller COMMITs the group instead (with an
  // fsync of the WAL), which makes this member durable too.
  bool record_member();
  // Holding mu_, at the start of a member of a held group (request_log): writes `record` as
  // a request record and asks the syncer for its sync; `ticket` is what the member waits
  // for after its work. False when the member should record its statements instead (the
  // log would start over while earlier members are only in records; a sync failed once).
  bool log_request(std::string_view record, uint64_t& ticket);
  // Holding mu_, for both: where a member's record of `bytes` goes (0 when the log starts
  // over, after an fsync of the WAL), or nothing when it would start over while earlier
  // members are only in records; then, once written, the log's position past it.
  std::optional<int64_t> member_record_offset(size_t bytes);
  void passed_member_record(int64_t offset, size_t bytes);
  // Holding mu_, after a member of a held group released its savepoint: its changes leave
  // the projection, and the group is COMMITted if it is old or full.
  void after_member() noexcept;
  // Holding mu_: a held group is open and old enough (or full) to COMMIT; `idle`: also when
  // no member came for hold_idle_us.
  bool held_group_due(bool idle = false) const;
  // A read-only open of a ledger whose redo log holds records past its last COMMIT, so
  // that loyaltyctl sees every acknowledged write: waits for a live writer's own COMMIT of
  // its held group, or re-runs a dead writer's records on a read-write connection of its
  // own. Returns what the reader should be told when neither happened (it then sees the
  // ledger as of the last COMMIT); empty otherwise.
  static std::string replay_for_reader(const LedgerOptions& options, bool& requests_left);
  std::string unapplied_log_;  // read-only: replay_for_reader's note
  bool unapplied_requests_ = false;
  // Holding mu_: the group's COMMIT failed after some members were acknowledged by their
  // records: rolls back and re-runs the log (as at open). On failure (the disk is still
  // full) the ledger refuses every later call (broken_) until a re-run succeeds.
  void recover_held_group();
  // Holding mu_, at the start of every call: throws kUnavailable while broken_, after one
  // more re-run of the log at most every kBrokenRetry, so that the ledger heals by itself
  // once the disk has room again (tests/integration/disk_full_test.cc).
  void check_not_broken();
  void commit_held_if_due();  // the background thread, not holding mu_
  std::chrono::steady_clock::time_point held_deadline(bool idle) const;
  // Holding mu_: meta.redo_next; false when the ledger has none (never in redo mode).
  bool load_redo_next();
  void ensure_redo_id();      // at open in redo mode: meta.redo_next exists and is durable
  void write_redo();          // in end_group, before COMMIT
  void sync_wal();            // fdatasync of the WAL: every commit so far is durable
  std::unique_ptr<app::LedgerTx> begin_write_tx(bool bulk);
  void start_checkpointer();
  void checkpointer_loop();
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int pages);
  // Holding mu_: COMMITs the open group and tells its members how it went. Throws the
  // COMMIT's StoreFailure (after telling them). settle_group() swallows it.
  void end_group();
  void settle_group() noexcept;
  // Holding mu_: ends the read transaction left open for reuse, if any (read_reuse_us).
  void end_held_read() noexcept;
  // Holding mu_: SQLite's busy handler waits for other processes until `deadline` only.
  void set_busy_deadline(std::chrono::steady_clock::time_point deadline);
  // Blocks until group `id` has ended; throws StoreFailure if its COMMIT failed.
  void wait_for_group(uint64_t id);
  // Past this many times checkpoint_pages, the committing call completes the checkpoint.
  static constexpr int64_t kForegroundCheckpointFactor = 4;

  friend class SqliteTx;
  LedgerOptions options_;
  sqlite3* db_ = nullptr;
  // The connection. Timed: a transaction waits for it only until its deadline (see SqliteTx).
  std::timed_mutex mu_;
  std::vector<sqlite3_stmt*> stmts_;                      // by Stmt, prepared on first use
  std::unordered_map<std::string, sqlite3_stmt*> cache_;  // query(): by SQL text
  int64_t schema_version_ = 0;
  std::string node_epoch_;
  std::string branch_id_;

  // The last origin_seq committed per origin branch, loaded on first use and advanced only
  // after a successful COMMIT. Dropped whenever PRAGMA data_version shows that another
  // connection (loyaltyctl, the sync process) committed in between.
  std::unordered_map<std::string, int64_t> last_seq_;
  // Under mu_: PRAGMA data_version at the last look (read at open, then at the start of every
  // transaction). A change means another connection committed: observe_data_version() drops
  // what this connection keeps of the ledger (last_seq_, the node epoch, the redo position,
  // the balance projection).
  int64_t data_version_ = -1;
  void observe_data_version();

  // Background WAL checkpoints.
  sqlite3* ckpt_db_ = nullptr;
  std::thread ckpt_thread_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  // WAL size (pages) at the last wake-up of the background checkpoint; touched only under
  // mu_ (from on_wal_commit). A new wake-up needs checkpoint_pages more frames, so a WAL
  // that cannot start over under steady writes does not keep the thread copying and
  // syncing after every sale.
  int64_t ckpt_triggered_at_pages_ = 0;
  bool ckpt_deferred_ = false;  // under mu_: a checkpoint is due at the next pause in the writes
  void wake_checkpoint(int64_t pages);  // holding mu_: WAL size `pages` asks for a checkpoint
  bool ckpt_stop_ = false;

  struct AtomicStats {
    std::atomic<uint64_t> commits{0};
    std::atomic<int64_t> max_commit_us{0};
    std::atomic<uint64_t> background_checkpoints{0};
    std::atomic<int64_t> max_background_checkpoint_us{0};
    std::atomic<uint64_t> foreground_checkpoints{0};
    std::atomic<int64_t> max_foreground_checkpoint_us{0};
    std::atomic<int64_t> max_wal_pages{0};
    std::atomic<uint64_t> redo_records{0};
    std::atomic<uint64_t> wal_syncs{0};
    std::atomic<int64_t> max_redo_write_us{0};
    std::atomic<uint64_t> redo_rotations{0};
    std::atomic<uint64_t> redo_replayed{0};
    std::atomic<uint64_t> request_records{0};
    std::atomic<uint64_t> requests_replayed{0};
    std::atomic<uint64_t> requests_skipped{0};
    std::atomic<uint64_t> held_commits{0};
    std::atomic<uint64_t> held_recoveries{0};
    std::atomic<uint64_t> held_repairs{0};
    std::atomic<uint64_t> reads{0};
    std::atomic<uint64_t> reads_reused{0};
    std::atomic<uint64_t> projection_hits{0};
    std::atomic<uint64_t> projection_misses{0};
    std::atomic<uint64_t> projection_clears{0};
    std::atomic<uint64_t> preloads{0};
    std::atomic<uint64_t> preloaded_accounts{0};
    std::atomic<int64_t> last_preload_ms{0};
  };
  AtomicStats stats_;

  // Redo mode (see ledger/src/redo_log.h); all under mu_.
  std::unique_ptr<RedoLog> redo_;   // null: SQLite's own durability
  std::unique_ptr<RedoSyncer> syncer_;  // request_log_: syncs redo_ (declared after it: goes first)
  std::string redo_payload_;        // the open group's write statements
  bool redo_capture_ = false;       // the open write group records its statements
  int64_t group_changes_ = 0;       // sqlite3_total_changes64 when the group began
  int64_t redo_next_seq_ = 1;       // meta.redo_next: the next record's number and offset,
  int64_t redo_next_offset_ = 0;    // and the log's id
  uint64_t redo_log_id_ = 0;
  int64_t redo_written_offset_ = -1;  // the record of the group being committed
  bool redo_sync_ = true;             // records are fdatasync'd (synchronous full)
  bool request_log_ = false;          // held requests write request records (request_log)
  std::string request_payload_;       // log_request's buffer
  uint64_t group_sync_ticket_ = 0;    // the open group's last request record's sync
  RequestExecutor executor_;          // re-runs request records (set_request_executor)
  bool requests_pending_ = false;     // the log holds request records no executor re-ran yet
  std::vector<std::string> skipped_requests_;  // take_skipped_requests()
  void skip_request(int64_t seq, const std::string& why);

  // Held groups (LedgerOptions::hold_commit_ms); under mu_ unless atomic.
  bool hold_mode_ = false;          // request groups are held
  bool group_held_ = false;         // the open group is held: each member has its record
  int64_t group_records_ = 0;       // records written by the open group's members
  std::string broken_;              // a failed COMMIT could not be rebuilt: every call fails
  std::chrono::steady_clock::time_point broken_retry_at_;  // check_not_broken()'s next re-run
  // Steady clock ticks when the open held group began (0: none), for the background thread
  // that COMMITs a held group no write comes to; hold_wake_ tells it a new one began.
  std::atomic<int64_t> held_since_{0};
  std::atomic<int64_t> held_last_member_{0};  // steady ticks when its last member ended
  bool hold_wake_ = false;          // under ckpt_mu_

  // Group commit (see the file comment). A group is one SQLite write transaction shared by
  // the writers that queued while it was open.
  static constexpr int kMaxGroupMembers = 64;
  static constexpr std::chrono::milliseconds kMaxGroupAge{10};
  std::atomic<int> writers_waiting_{0};  // threads about to lock mu_ for a write
  bool group_open_ = false;              // under mu_
  int group_members_ = 0;                // under mu_
  uint64_t group_id_ = 0;                // under mu_: the open group, or the last one
  std::chrono::steady_clock::time_point group_began_;  // under mu_
  std::mutex group_mu_;
  std::condition_variable group_cv_;
  uint64_t groups_ended_ = 0;  // under group_mu_: every group up to this id has ended
  std::map<uint64_t, std::pair<domain::ErrorCode, std::string>> group_failures_;  // under group_mu_

  // The read left open for the next read (read_reuse_us). Never at the same time as an open
  // group: a write ends it before BEGIN IMMEDIATE.
  bool read_held_ = false;                            // under mu_
  std::chrono::steady_clock::time_point read_began_;  // under mu_
  std::atomic<bool> read_held_hint_{false};           // for the background thread's peek

  // The balance projection (LedgerOptions::balance_projection), null when off.
  std::unique_ptr<BalanceProjection> projection_;
  // Under mu_: the accounts and references the open transaction changed (the triggers'
  // loyalty_touch), for BalanceProjection::forget() once it has ended.
  std::pair<std::vector<std::string>, std::vector<std::string>> touched_;
  void start_projection();
  // Holding mu_ with no transaction open: hands what the last ones changed to the projection.
  // `uncommitted`: a member of a held group released its savepoint; a load must not install
  // those accounts until the group has ended (BalanceProjection::forget).
  void settle_projection(bool uncommitted = false) noexcept;
  void wake_projection_thread(bool full) noexcept;
  // The projection thread (preload_balances): loads every account after open and after
  // another connection's commit emptied the projection, and reads again the accounts this
  // connection's commits changed. On a read-only connection of its own.
  void projection_loop();
  // Where an interrupted load goes on: references done, accounts installed up to `after`.
  struct LoadPosition {
    bool refs_done = false;
    std::string after;
    size_t installed = 0;
  };
  bool projection_load(sqlite3* pdb, LoadPosition& position);
  std::thread preload_thread_;
  std::mutex preload_mu_;
  std::condition_variable preload_cv_;
  bool preload_wanted_ = false;  // under preload_mu_
  bool reload_wanted_ = false;   // under preload_mu_
  std::atomic<int64_t> last_commit_{0};  // steady clock ticks of the last write that changed accounts
  std::atomic<bool> preload_stop_{false};  // set under preload_mu_ (the thread waits on it)
};

}  // namespace loyalty::ledger
