#include "ledger/sqlite_ledger.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <random>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include <openssl/evp.h>

#include "balance_projection.h"
#include "ledger/migrations.h"
#include "redo_log.h"
#include "wal_coalescing_vfs.h"

namespace loyalty::ledger {

using app::Account;
using app::EntryRow;
using app::Hold;
using app::StoreFailure;
using domain::BusinessTime;
using domain::ErrorCode;
using domain::Points;

namespace {

// Connections that have had an I/O error. Pages that then read back wrong (a disk that died,
// a file system gone read-only) are the disk's failure, not a corrupt ledger: after a
// remount it verifies clean. SQLite's own errno of the failed call is not kept that long.
std::mutex g_io_failed_mu;
std::set<sqlite3*> g_io_failed;

void note_io_failure(sqlite3* db) {
  std::lock_guard lock(g_io_failed_mu);
  g_io_failed.insert(db);
}

bool had_io_failure(sqlite3* db) {
  std::lock_guard lock(g_io_failed_mu);
  return g_io_failed.count(db) != 0;
}

// Statement journals in memory in pieces of this size, spilled to a temporary file beyond it.
constexpr int kStatementJournalBytes = 1 << 20;

// Process-wide SQLite settings, possible only before SQLite's first use in the process: in a
// host that started SQLite before opening the ledger they are refused, harmlessly, and
// SQLite's defaults stay. sqlite3_config is not thread-safe: this runs once, before our first
// connection (docs/contract.md, section 1, says what a host must know).
//  - No allocation statistics (SQLITE_CONFIG_MEMSTATUS, on by default): a global mutex on
//    every allocation SQLite makes (the replay ran 6 % faster without it); nothing of ours
//    reads them.
//  - Statement journals of 1 MiB (SQLITE_CONFIG_STMTJRNL_SPILL, 64 KiB by default): see
//    configure(), which uses them only when this returns true.
bool configure_sqlite_process() {
  static const bool large_statement_journals = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kStatementJournalBytes) == SQLITE_OK;
  }();
  return large_statement_journals;
}

}  // namespace

void forget_io_failures(sqlite3* db) {
  std::lock_guard lock(g_io_failed_mu);
  g_io_failed.erase(db);
}

[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what, const std::string& detail_of_ours) {
  const int primary = rc & 0xFF;
  const std::string detail = !detail_of_ours.empty() ? detail_of_ours : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw StoreFailure(ErrorCode::kUnavailable, "ledger busy (" + what + "): " + detail);
    case SQLITE_FULL:
      throw StoreFailure(ErrorCode::kUnavailable, "disk full writing the ledger (" + what + ")");
    case SQLITE_IOERR:
      if (db != nullptr) note_io_failure(db);
      throw StoreFailure(ErrorCode::kUnavailable, "I/O error on the ledger (" + what + "): " + detail);
    case SQLITE_READONLY:
      throw StoreFailure(ErrorCode::kUnavailable, "the ledger is read-only (" + what + "): " + detail);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_NOLFS:
      throw StoreFailure(ErrorCode::kUnavailable, "ledger unavailable (" + what + "): " + detail);
    case SQLITE_NOTADB:  // at open: plugin.db names some other file (a defect of the setup, not ours)
      throw StoreFailure(ErrorCode::kInvalidConfig,
                         "not a ledger: the file is not an SQLite database (" + what + "): " + detail);
    case SQLITE_CORRUPT:
      if (db != nullptr && had_io_failure(db)) {
        throw StoreFailure(ErrorCode::kUnavailable,
                           "the ledger cannot be read since an I/O error on its disk (" + what + "): " + detail +
                               "; reopen the plugin once the disk is back");
      }
      throw StoreFailure(ErrorCode::kInternal, "ledger corrupt (" + what + "): " + detail);
    default:
      throw StoreFailure(ErrorCode::kInternal, "ledger error (" + what + "): " + detail);
  }
}

std::string account_id_for_ref(const std::string& ref) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(ref.data(), ref.size(), md, &len, EVP_sha256(), nullptr) != 1 || len < 12) {
    throw StoreFailure(ErrorCode::kInternal, "SHA-256 failed for an account id");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "A-";
  for (unsigned i = 0; i < 12; ++i) {
    id += kHex[md[i] >> 4];
    id += kHex[md[i] & 0xF];
  }
  return id;
}

bool Query::step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
    if (redo_) {
      RedoWriter(*redo_).begin_statement(sqlite3_sql(s_), binds_, bind_count_);
      redo_ = nullptr;  // recorded once, when it ran
    }
    return rc == SQLITE_ROW;
  }
  fail(db_, rc, sqlite3_sql(s_));
}

void Query::note_int(int i, int64_t v) {
  RedoWriter::put_int(binds_, i, v);
  ++bind_count_;
}
void Query::note_text(int i, const std::string& v) {
  RedoWriter::put_text(binds_, i, v);
  ++bind_count_;
}
void Query::note_blob(int i, const std::string& v) {
  RedoWriter::put_blob(binds_, i, v);
  ++bind_count_;
}
void Query::note_null(int i) {
  RedoWriter::put_null(binds_, i);
  ++bind_count_;
}

// ---- the ledger's own statements ------------------------------------------------------

enum class SqliteLedger::Stmt : int {
  kBegin,
  kBeginImmediate,
  kCommit,
  kSavepoint,
  kRelease,
  kRollbackTo,
  kDataVersion,
  kFindRequest,
  kPutRequest,
  kFindAccountByRef,
  kFindAccount,
  kInsertAccount,
  kFindAlias,
  kInsertAlias,
  kAliases,
  kSetCategory,
  kUpsertPii,
  kMaxSeq,
  kInsertEntry,
  kAddBalance,
  kTakeFromLot,
  kLotRemaining,
  kInsertAllocation,
  kInsertLot,
  kEntryExists,
  kOpenLots,
  kViewLots,
  kExpiredLots,
  kFindSale,
  kPutSale,
  kInsertHold,
  kFindHold,
  kHoldsOfAccount,
  kHoldsOfTicket,
  kResolveHold,
  kEntriesOfAccount,
  kInsertQuarantine,
  kTrimQuarantine,
  kFindEntry,
  kEntriesOfOrigin,
  kInsertAccountIfMissing,
  kGetSyncState,
  kPutSyncState,
  kAddUnmatched,
  kUnmatchedOf,
  kDeleteUnmatched,
  kAliasConflict,
  kOfflineRedeemed,
  kAddOfflineRedeemed,
  kGetRedoNext,
  kPutRedoNext,
  kCount
};

namespace {

void raise_max(std::atomic<int64_t>& max, int64_t value) {
  int64_t seen = max.load(std::memory_order_relaxed);
  while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

int64_t micros_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

#define LOYALTY_ACCOUNT_COLS                                                                   \
  "a.account_id, a.category, coalesce(p.birthday, ''), a.balance, a.created_at_ms, "            \
  "a.created_offset, a.sales_count "
#define LOYALTY_ENTRY_SELECT                                                                    \
  "SELECT entry_id, origin_branch, origin_seq, kind, points, request_id, branch, ticket, "      \
  "ref_entry_id, business_at_ms, business_offset, recorded_at_ms, expires_at_ms, "              \
  "expires_offset, program_version, reason, body_hash, node_epoch, coalesce(data, ''), "         \
  "account_id FROM entries "
#define LOYALTY_HOLD_SELECT                                                                     \
  "SELECT hold_id, account_id, branch, request_id, ticket, points, amount, status, "           \
  "created_at_ms, created_offset, business_deadline_ms, wall_deadline_ms FROM holds "

// In the order of SqliteLedger::Stmt (the count is checked in SqliteLedger::stmt()).
constexpr const char* kStatements[] = {
    /* kBegin */ "BEGIN",
    /* kBeginImmediate */ "BEGIN IMMEDIATE",
    /* kCommit */ "COMMIT",
    /* kSavepoint */ "SAVEPOINT member",
    /* kRelease */ "RELEASE member",
    /* kRollbackTo */ "ROLLBACK TO member",
    /* kDataVersion */ "PRAGMA data_version",
    /* kFindRequest */
    "SELECT body_hash, code, response_json FROM requests WHERE branch = ?1 AND request_id = ?2",
    /* kPutRequest */
    "INSERT INTO requests(branch, request_id, body_hash, code, response_json, created_at_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* kFindAccountByRef */
    "SELECT " LOYALTY_ACCOUNT_COLS
    "FROM aliases s JOIN accounts a ON a.account_id = s.account_id "
    "LEFT JOIN customer_pii p ON p.account_id = a.account_id WHERE s.ref = ?1",
    /* kFindAccount */
    "SELECT " LOYALTY_ACCOUNT_COLS
    "FROM accounts a LEFT JOIN customer_pii p ON p.account_id = a.account_id "
    "WHERE a.account_id = ?1",
    /* kInsertAccount */
    "INSERT INTO accounts(account_id, category, balance, sales_count, created_at_ms, "
    "created_offset, origin_branch) VALUES (?1, ?2, 0, 0, ?3, ?4, ?5)",
    /* kFindAlias */ "SELECT account_id FROM aliases WHERE ref = ?1",
    /* kInsertAlias */ "INSERT INTO aliases(ref, account_id) VALUES (?1, ?2)",
    /* kAliases */ "SELECT ref FROM aliases WHERE account_id = ?1 ORDER BY rowid",
    /* kSetCategory */ "UPDATE accounts SET category = ?2 WHERE account_id = ?1",
    /* kUpsertPii */
    "INSERT INTO customer_pii(account_id, name, email, phone, birthday) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(account_id) DO UPDATE SET "
    "name = coalesce(?2, name), email = coalesce(?3, email), phone = coalesce(?4, phone), "
    "birthday = coalesce(?5, birthday)",
    /* kMaxSeq */ "SELECT coalesce(max(origin_seq), 0) FROM entries WHERE origin_branch = ?1",
    /* kInsertEntry */
    "INSERT INTO entries(entry_id, origin_branch, origin_seq, node_epoch, account_id, kind, "
    "points, request_id, branch, ticket, ref_entry_id, business_at_ms, business_offset, "
    "recorded_at_ms, expires_at_ms, expires_offset, program_version, reason, body_hash, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20)",
    /* kAddBalance */
    "UPDATE accounts SET balance = balance + ?2, updated_seq = ?3, sales_count = sales_count + ?4 "
    "WHERE account_id = ?1",
    /* kTakeFromLot: by the lot's whole key, so the account's other lots are not read */
    "UPDATE lots SET remaining = remaining - ?2 WHERE account_id = ?3 AND expires_at_ms = ?4 "
    "AND earned_at_ms = ?5 AND lot_id = ?1 AND remaining >= ?2",
    /* kLotRemaining */ "SELECT remaining FROM lots WHERE account_id = ?2 AND lot_id = ?1",
    /* kInsertAllocation */ "INSERT INTO lot_allocations(entry_id, lot_id, points) VALUES (?1, ?2, ?3)",
    /* kInsertLot */
    "INSERT INTO lots(lot_id, account_id, earned_at_ms, earned_offset, expires_at_ms, "
    "expires_offset, original, initial, remaining) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    /* kEntryExists */ "SELECT 1 FROM entries WHERE entry_id = ?1",
    /* kOpenLots */
    "SELECT lot_id, earned_at_ms, earned_offset, expires_at_ms, expires_offset, original, "
    "remaining FROM lots WHERE account_id = ?1 AND remaining > 0 "
    "ORDER BY account_id, expires_at_ms, earned_at_ms, lot_id",
    /* kViewLots */
    "SELECT expires_at_ms, expires_offset, remaining FROM lots WHERE account_id = ?1 AND remaining > 0 "
    "ORDER BY account_id, expires_at_ms, earned_at_ms, lot_id",
    /* kExpiredLots */
    "SELECT lot_id, earned_at_ms, earned_offset, expires_at_ms, expires_offset, original, "
    "remaining FROM lots WHERE account_id = ?1 AND expires_at_ms <= ?2 AND remaining > 0 "
    "ORDER BY account_id, expires_at_ms, earned_at_ms, lot_id",
    /* kFindSale */
    "SELECT request_id, account_id, earn_entry_id, earned, clawed_back, redeemed, restored, "
    "voided, at_ms, at_offset, lines FROM sales WHERE branch = ?1 AND ticket = ?2",
    /* kPutSale */
    "INSERT INTO sales(branch, ticket, request_id, account_id, earn_entry_id, earned, "
    "clawed_back, redeemed, restored, voided, at_ms, at_offset, lines) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
    "ON CONFLICT(branch, ticket) DO UPDATE SET request_id = ?3, account_id = ?4, "
    "earn_entry_id = ?5, earned = ?6, clawed_back = ?7, redeemed = ?8, restored = ?9, "
    "voided = ?10, at_ms = ?11, at_offset = ?12, lines = ?13",
    /* kInsertHold */
    "INSERT INTO holds(hold_id, account_id, branch, request_id, ticket, points, amount, status, "
    "created_at_ms, created_offset, business_deadline_ms, wall_deadline_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    /* kFindHold */ LOYALTY_HOLD_SELECT "WHERE hold_id = ?1",
    /* kHoldsOfAccount */
    LOYALTY_HOLD_SELECT "WHERE account_id = ?1 AND status = 'active'",  // sorted by active_holds()
    /* kHoldsOfTicket */
    LOYALTY_HOLD_SELECT
    "WHERE branch = ?1 AND ticket = ?2 AND status = 'active'",  // sorted by active_holds()
    /* kResolveHold */
    "UPDATE holds SET status = ?2, resolved_at_ms = ?3 WHERE hold_id = ?1 AND status = 'active'",
    /* kEntriesOfAccount */
    // Sync bookkeeping facts (0 points; docs/sync.md) are not the customer's history.
    LOYALTY_ENTRY_SELECT "WHERE account_id = ?1 AND business_at_ms >= ?2 AND business_at_ms <= ?3 "
    "AND kind NOT IN ('enroll', 'alias', 'category', 'sale') "
    "ORDER BY business_at_ms, origin_seq LIMIT ?4",
    /* kInsertQuarantine */
    "INSERT INTO quarantine(received_at_ms, source, raw, error_code, field, message) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* kTrimQuarantine */
    "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?1",
    /* kFindEntry */ LOYALTY_ENTRY_SELECT "WHERE entry_id = ?1",
    /* kEntriesOfOrigin */
    LOYALTY_ENTRY_SELECT "WHERE origin_branch = ?1 AND origin_seq > ?2 ORDER BY origin_seq LIMIT ?3",
    /* kInsertAccountIfMissing */
    "INSERT OR IGNORE INTO accounts(account_id, category, balance, sales_count, created_at_ms, "
    "created_offset, origin_branch) VALUES (?1, '', 0, 0, ?2, ?3, ?4)",
    /* kGetSyncState */
    "SELECT hub_epoch, acked_seq, applied_offset, config_version, last_contact_ms, own_seq_floor, "
    "recover_next, recover_to, check_offset, check_entry_id FROM sync_state WHERE peer = ?1",
    /* kPutSyncState */
    "INSERT INTO sync_state(peer, hub_epoch, acked_seq, applied_offset, config_version, "
    "last_contact_ms, own_seq_floor, recover_next, recover_to, check_offset, check_entry_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(peer) DO UPDATE SET "
    "hub_epoch = ?2, acked_seq = ?3, applied_offset = ?4, config_version = ?5, "
    "last_contact_ms = ?6, own_seq_floor = ?7, recover_next = ?8, recover_to = ?9, "
    "check_offset = ?10, check_entry_id = ?11",
    /* kAddUnmatched */
    "INSERT OR IGNORE INTO unmatched_refunds(sale_branch, sale_ticket, refund_entry_id) "
    "VALUES (?1, ?2, ?3)",
    /* kUnmatchedOf */
    "SELECT refund_entry_id FROM unmatched_refunds WHERE sale_branch = ?1 AND sale_ticket = ?2 "
    "ORDER BY refund_entry_id",
    /* kDeleteUnmatched */
    "DELETE FROM unmatched_refunds WHERE sale_branch = ?1 AND sale_ticket = ?2",
    /* kAliasConflict */
    "INSERT OR IGNORE INTO alias_conflicts(ref, account_id, kept_account_id, entry_id) "
    "VALUES (?1, ?2, ?3, ?4)",
    /* kOfflineRedeemed */
    "SELECT points FROM offline_redemptions WHERE account_id = ?1 AND day = ?2",
    /* kAddOfflineRedeemed */
    "INSERT INTO offline_redemptions(account_id, day, points) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(account_id, day) DO UPDATE SET points = points + ?3",
    /* kGetRedoNext */ "SELECT value FROM meta WHERE key = 'redo_next'",
    /* kPutRedoNext */
    "INSERT INTO meta(key, value) VALUES ('redo_next', ?1) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
};

#undef LOYALTY_ACCOUNT_COLS
#undef LOYALTY_HOLD_SELECT
#undef LOYALTY_ENTRY_SELECT

std::string random_hex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xFF;
    out += kHex[v >> 4];
    out += kHex[v & 0xF];
  }
  return out;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Hashes travel as lowercase hex in the program and are stored as blobs (half the bytes).
std::string hex_to_bytes(const std::string& hex, const char* what) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  bool ok = hex.size() % 2 == 0;
  for (size_t i = 0; ok && i < hex.size(); i += 2) {
    const int h = nib(hex[i]);
    const int l = nib(hex[i + 1]);
    ok = h >= 0 && l >= 0;
    out += static_cast<char>(h << 4 | l);
  }
  if (!ok) throw StoreFailure(ErrorCode::kInternal, std::string(what) + " is not lowercase hex: '" + hex + "'");
  return out;
}

std::string bytes_to_hex(const std::string& bytes);

BusinessTime bt(int64_t ms, int64_t offset);

// A row of LOYALTY_ENTRY_SELECT.
EntryRow entry_of(const Query& q) {
  EntryRow e;
  e.entry_id = q.text(0);
  e.origin_branch = q.text(1);
  e.origin_seq = q.i64(2);
  e.kind = q.text(3);
  e.points = Points(q.i64(4));
  e.request_id = q.text(5);
  e.branch = q.text(6);
  e.ticket = q.text(7);
  e.ref_entry_id = q.text(8);
  e.business_at = bt(q.i64(9), q.i64(10));
  e.recorded_at_ms = q.i64(11);
  if (!q.is_null(12)) e.expires_at = bt(q.i64(12), q.i64(13));
  e.program_version = q.text(14);
  e.reason = q.text(15);
  e.body_hash = bytes_to_hex(q.text(16));
  e.node_epoch = q.text(17);
  e.data = q.text(18);
  e.account_id = q.text(19);
  return e;
}

std::string bytes_to_hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

BusinessTime bt(int64_t ms, int64_t offset) { return BusinessTime{ms, static_cast<int32_t>(offset)}; }

std::string encode_lines(const std::vector<domain::SaleLineRecord>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += ';';
    out += std::to_string(l.n);
    for (int64_t v : {l.amount.micros(), l.qty.micros(), l.percent.micros(), l.refunded.micros()}) {
      out += ' ';
      out += std::to_string(v);
    }
  }
  return out;
}

std::vector<domain::SaleLineRecord> decode_lines(const std::string& text) {
  std::vector<domain::SaleLineRecord> out;
  const char* p = text.c_str();
  while (*p) {
    int64_t v[5] = {0, 0, 0, 0, 0};
    for (int64_t& x : v) {
      char* end = nullptr;
      x = std::strtoll(p, &end, 10);
      if (end == p) throw StoreFailure(ErrorCode::kInternal, "corrupt sale lines: '" + text + "'");
      p = end;
      while (*p == ' ') ++p;
    }
    out.push_back(domain::SaleLineRecord{v[0], domain::Money::from_micros(v[1]),
                                         domain::Quantity::from_micros(v[2]),
                                         domain::Percent::from_micros(v[3]),
                                         domain::Money::from_micros(v[4])});
    if (*p == ';') {
      ++p;
    } else if (*p) {
      throw StoreFailure(ErrorCode::kInternal, "corrupt sale lines: '" + text + "'");
    }
  }
  return out;
}

bool is_resolution(const std::string& status) {
  return status == "captured" || status == "released" || status == "expired";
}

}  // namespace

// ---------------------------------------------------------------------------------------

// SqliteLedger::WaitFrom's arrival, taken by the first transaction of the call.
thread_local std::optional<std::chrono::steady_clock::time_point> t_wait_from;

SqliteLedger::WaitFrom::WaitFrom(std::chrono::steady_clock::time_point arrived) { t_wait_from = arrived; }
SqliteLedger::WaitFrom::~WaitFrom() { t_wait_from.reset(); }

class SqliteTx final : public app::LedgerTx {
  using S = SqliteLedger::Stmt;

 public:
  // A member of the transaction that re-runs the redo log (replay_redo_locked, holding mu_):
  // a request record's re-run, in a savepoint of its own.
  struct Replay {};
  SqliteTx(SqliteLedger& l, Replay) : l_(l), write_(true), member_(true), replay_(true) {
    l_.stmt(S::kSavepoint).run();
  }

  SqliteTx(SqliteLedger& l, bool write, bool bulk = false) : l_(l), write_(write) {
    // A call waits at most busy_timeout_ms in all, from its start: first for this process's
    // other calls (the connection), then for other processes (SQLite's write lock). Waiting
    // for each in turn, the fifth of five calls queued behind a lock held elsewhere waited
    // five times the timeout, and a balance.query behind them as long.
    const auto start = t_wait_from.value_or(std::chrono::steady_clock::now());
    t_wait_from.reset();
    const auto deadline = start + std::chrono::milliseconds(std::max<int64_t>(0, l_.options_.busy_timeout_ms));
    if (!write) {
      lock_connection(deadline);
      l_.check_not_broken();
      l_.stats_.reads.fetch_add(1, std::memory_order_relaxed);
      if (l_.group_open_ && l_.group_held_) {
        // Inside the held group: every member in it is durable (its record), and no other
        // connection can commit while we hold the write lock.
        l_.stats_.reads_reused.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      const auto now = std::chrono::steady_clock::now();
      if (l_.read_held_ && now - l_.read_began_ < std::chrono::microseconds(l_.options_.read_reuse_us)) {
        l_.stats_.reads_reused.fetch_add(1, std::memory_order_relaxed);
        return;  // the held read: nothing was written here since it began
      }
      l_.settle_group();  // read committed data only; ends an older held read
      l_.set_busy_deadline(deadline);
      l_.stmt(S::kBegin).run();
      l_.read_held_ = true;
      l_.read_held_hint_.store(true, std::memory_order_relaxed);
      l_.read_began_ = now;
      try {
        l_.settle_projection();  // no write is open: reads and commits are serialised by mu_
        l_.observe_data_version();
      } catch (...) {
        l_.end_held_read();
        throw;
      }
      return;
    }
    ++l_.writers_waiting_;
    try {
      lock_connection(deadline);
    } catch (...) {
      --l_.writers_waiting_;
      throw;
    }
    --l_.writers_waiting_;
    l_.check_not_broken();
    if (l_.requests_pending_) {
      throw StoreFailure(ErrorCode::kUnavailable,
                         "the redo log " + l_.options_.path +
                             "-redo holds requests acknowledged before a crash, which only the POS's plugin, "
                             "loyaltyd or loyaltyctl (with the branch's configuration) re-run when they open "
                             "the ledger; until then it takes no writes");
    }
    if (l_.group_open_ && l_.group_held_ && bulk) {
      // A bulk write (the sync client's batches, the expiry sweep) takes the redo log as one
      // record of its own: the held group COMMITs first.
      l_.end_group();
    }
    if (l_.group_open_) {
      // Another writer left its work in the open transaction for us to continue.
      try {
        l_.stmt(S::kSavepoint).run();
      } catch (...) {
        l_.settle_group();
        throw;
      }
      member_ = true;
      redo_mark_ = l_.redo_payload_.size();
      group_ = l_.group_id_;
      ++l_.group_members_;
      // A held group's member records its statements unless it logs its request
      // (log_request turns this off for itself).
      if (l_.group_held_) l_.redo_capture_ = l_.redo_ != nullptr;
      return;
    }
    l_.end_held_read();
    l_.set_busy_deadline(deadline);
    l_.stmt(S::kBeginImmediate).run();
    l_.group_open_ = true;
    l_.group_held_ = l_.hold_mode_ && !bulk;
    l_.group_records_ = 0;
    l_.redo_payload_.clear();
    l_.redo_capture_ = l_.redo_ != nullptr &&
                       (bulk || l_.options_.redo_min_bytes == 0 || l_.group_held_ || !l_.redo_sync_);
    l_.group_changes_ = sqlite3_total_changes64(l_.db_);
    group_ = ++l_.group_id_;
    l_.group_members_ = 1;
    l_.group_began_ = std::chrono::steady_clock::now();
    // We hold the write lock now: what another connection committed since our last look is
    // in what we read from here on.
    try {
      l_.observe_data_version();
      if (l_.group_held_) {
        // Every member of a held group, the first too, is a savepoint: a member that fails
        // (or whose record cannot be written) undoes only itself.
        l_.stmt(S::kSavepoint).run();
        member_ = true;
        redo_mark_ = 0;
        l_.held_last_member_.store(l_.group_began_.time_since_epoch().count(), std::memory_order_relaxed);
        l_.held_since_.store(l_.group_began_.time_since_epoch().count(), std::memory_order_relaxed);
        {
          std::lock_guard wake(l_.ckpt_mu_);
          l_.hold_wake_ = true;
        }
        l_.ckpt_cv_.notify_one();
      }
    } catch (...) {
      rollback();
      throw;
    }
  }

  ~SqliteTx() override {
    if (!done_) rollback();
  }

  void commit() override {
    live();
    if (replay_) {
      l_.stmt(S::kRelease).run();  // throws: the re-run fails, and so does the open
      join_group();
      return;
    }
    if (!write_) {
      done_ = true;
      // Left open for the next read (LedgerOptions::read_reuse_us); ending a read cannot
      // lose anything.
      if (l_.options_.read_reuse_us <= 0) l_.end_held_read();
      lock_.unlock();
      return;
    }
    if (member_ && l_.group_held_) {
      commit_held();
      return;
    }
    if (member_) {
      try {
        l_.stmt(S::kRelease).run();
      } catch (...) {
        rollback();
        throw;
      }
    }
    join_group();
    finish();
  }

  // Our work is now part of the group: the next writer numbers after it.
  void join_group() {
    for (auto& [branch, seq] : pending_seq_) l_.last_seq_[branch] = seq;
    if (pending_epoch_) l_.node_epoch_ = *pending_epoch_;
    done_ = true;
  }

  // A member of a held group: durable by its own record, then part of the open group.
  void commit_held() {
    bool recorded = false;
    try {
      recorded = l_.record_member();
    } catch (...) {
      rollback();
      throw;
    }
    try {
      l_.stmt(S::kRelease).run();
    } catch (...) {
      // Cannot happen short of a broken connection; our record may already be durable.
      if (recorded) {
        done_ = true;
        l_.recover_held_group();
        lock_.unlock();
        if (!l_.broken_.empty()) throw StoreFailure(ErrorCode::kUnavailable, l_.broken_);
        return;
      }
      rollback();
      throw;
    }
    join_group();
    if (request_logged_) {
      // Our request record holds what we wrote (synced or not): nothing of it is left to
      // record, and a failed group COMMIT re-runs it (end_group's `unrecorded`).
      l_.group_changes_ = sqlite3_total_changes64(l_.db_);
    }
    if (!recorded) {
      // The log starts over: COMMIT the group with an fsync of the WAL, which makes this
      // member durable too (end_group).
      try {
        l_.end_group();
      } catch (...) {
        lock_.unlock();
        throw;
      }
    } else {
      l_.after_member();
    }
    lock_.unlock();
    // Acknowledged once the record is on disk. Its flush began with our work; other calls
    // go on meanwhile (the group's COMMIT waits for its records' syncs, end_group). When
    // the sync failed, so does the group's COMMIT, which re-runs the log (recover_held_group).
    if (sync_ticket_ != 0) l_.syncer_->wait(sync_ticket_);
  }

  bool log_request(std::string_view record) override {
    live();
    if (replay_ || !member_ || !l_.group_held_ || !l_.request_log_) return false;
    if (l_.redo_payload_.size() != redo_mark_) return false;  // called after a write: keep statements
    if (!l_.log_request(record, sync_ticket_)) return false;
    l_.redo_capture_ = false;  // this member's statements are in its request
    request_logged_ = true;
    return true;
  }

  void rollback_work() override {
    live();
    if (!write_) throw StoreFailure(ErrorCode::kInternal, "rollback_work in a read transaction");
    pending_seq_.clear();
    pending_epoch_.reset();
    if (member_) {
      l_.exec("ROLLBACK TO member");  // the savepoint stays: the transaction goes on
      if (l_.redo_payload_.size() > redo_mark_) l_.redo_payload_.resize(redo_mark_);
      return;
    }
    // The opener of a group that is not held is alone in its transaction until its commit():
    // begin it again, keeping the connection (another process may write in between).
    l_.exec("ROLLBACK");
    l_.stmt(S::kBeginImmediate).run();
    l_.redo_payload_.clear();
    l_.group_changes_ = sqlite3_total_changes64(l_.db_);
    l_.observe_data_version();
  }

  void put_quarantine(const app::QuarantineRow& row) override {
    live();
    if (!write_) throw StoreFailure(ErrorCode::kInternal, "put_quarantine in a read transaction");
    {
      auto q = q_(S::kInsertQuarantine);
      q.bind(1, row.received_at_ms).bind(2, row.source).bind_blob(3, row.raw).bind(4, row.error_code);
      q.bind(5, row.field).bind(6, row.message);
      q.run();
    }
    auto q = q_(S::kTrimQuarantine);
    q.bind(1, std::max<int64_t>(l_.options_.quarantine_max_rows, 0));
    q.run();
  }

  // ---- idempotency ----
  std::optional<app::StoredRequest> find_request(const std::string& branch,
                                                 const std::string& id) override {
    auto q = q_(S::kFindRequest);
    q.bind(1, branch).bind(2, id);
    if (!q.step()) return std::nullopt;
    return app::StoredRequest{bytes_to_hex(q.text(0)), static_cast<int>(q.i64(1)), q.text(2)};
  }

  void put_request(const std::string& branch, const std::string& id, const app::StoredRequest& s,
                   int64_t at_ms) override {
    auto q = q_(S::kPutRequest);
    q.bind(1, branch).bind(2, id).bind_blob(3, hex_to_bytes(s.body_hash, "request body_hash"));
    q.bind(4, int64_t{s.code}).bind(5, s.response_json).bind(6, at_ms);
    q.run();
  }

  // ---- accounts ----
  static Account account_of(const Query& q) {
    Account a;
    a.account_id = q.text(0);
    a.category = q.text(1);
    a.birthday = q.text(2);
    a.balance = Points(q.i64(3));
    a.created_at = bt(q.i64(4), q.i64(5));
    a.sales_count = q.i64(6);
    return a;
  }

  std::optional<Account> find_account_by_ref(const std::string& ref) override {
    auto q = q_(S::kFindAccountByRef);
    q.bind(1, ref);
    if (!q.step()) return std::nullopt;
    return account_of(q);
  }

  std::optional<Account> find_account(const std::string& account_id) override {
    auto q = q_(S::kFindAccount);
    q.bind(1, account_id);
    if (!q.step()) return std::nullopt;
    return account_of(q);
  }

  // A read answers from the projection; what it misses it asks SQLite and keeps. A write
  // asks SQLite: what it sees may not be committed yet.
  std::optional<app::BalanceView> balance_view(const std::string& ref) override {
    BalanceProjection* p = l_.projection_.get();
    if (write_ || p == nullptr) return LedgerTx::balance_view(ref);
    if (auto v = p->find(ref)) {
      l_.stats_.projection_hits.fetch_add(1, std::memory_order_relaxed);
      return v;
    }
    l_.stats_.projection_misses.fetch_add(1, std::memory_order_relaxed);
    auto v = LedgerTx::balance_view(ref);
    if (v) p->put(ref, *v);
    return v;
  }

  // Only the two columns a view keeps (no lot ids, earn times, strings): open_lots() was
  // 58 % of a query that misses the projection (perf; most queries miss while it loads
  // after open).
  std::vector<app::BalanceView::OpenLot> view_lots(const std::string& account_id) override {
    auto q = q_(S::kViewLots);
    q.bind(1, account_id);
    std::vector<app::BalanceView::OpenLot> out;
    while (q.step()) out.push_back({bt(q.i64(0), q.i64(1)), Points(q.i64(2))});
    return out;
  }

  Account create_account(const std::string& branch, const std::string& ref,
                         const std::string& category, const BusinessTime& at) override {
    if (auto owner = alias_owner(ref)) {
      throw StoreFailure(ErrorCode::kConflict,
                         "reference '" + ref + "' already belongs to account " + *owner);
    }
    Account a;
    a.account_id = account_id_for_ref(ref);
    a.category = category;
    a.created_at = at;
    if (auto existing = find_account(a.account_id)) {
      // Known through a remote entry before its enrollment fact: the same customer.
      a = *existing;
      if (!category.empty() && category != a.category) {
        set_category(a.account_id, category);
        a.category = category;
      }
    } else {
      auto q = q_(S::kInsertAccount);
      q.bind(1, a.account_id).bind(2, category).bind(3, at.unix_ms);
      q.bind(4, int64_t{at.offset_minutes}).bind(5, branch);
      q.run();
    }
    auto q = q_(S::kInsertAlias);
    q.bind(1, ref).bind(2, a.account_id);
    q.run();
    return a;
  }

  void add_alias(const std::string& account_id, const std::string& ref) override {
    if (auto owner = alias_owner(ref)) {
      if (*owner == account_id) return;
      throw StoreFailure(ErrorCode::kConflict, "reference '" + ref + "' already belongs to another account");
    }
    auto q = q_(S::kInsertAlias);
    q.bind(1, ref).bind(2, account_id);
    q.run();
  }

  std::vector<std::string> aliases(const std::string& account_id) override {
    auto q = q_(S::kAliases);
    q.bind(1, account_id);
    std::vector<std::string> out;
    while (q.step()) out.push_back(q.text(0));
    return out;
  }

  void set_category(const std::string& account_id, const std::string& category) override {
    auto q = q_(S::kSetCategory);
    q.bind(1, account_id).bind(2, category);
    q.run();
    expect_one_change([&] { return "set_category: unknown account " + account_id; });
  }

  void upsert_pii(const std::string& account_id, const app::Pii& pii) override {
    auto q = q_(S::kUpsertPii);
    q.bind(1, account_id);
    int i = 2;
    for (const auto* v : {&pii.name, &pii.email, &pii.phone, &pii.birthday}) {
      if (*v) q.bind(i, **v);  // unbound = NULL = keep the stored value
      ++i;
    }
    q.run();
  }

  std::optional<app::Pii> find_pii(const std::string& account_id) override {
    auto q = l_.query("SELECT name, email, phone, birthday FROM customer_pii WHERE account_id = ?1");
    q.bind(1, account_id);
    if (!q.step()) return std::nullopt;
    app::Pii p;
    auto col = [&q](int i) {
      return q.is_null(i) ? std::optional<std::string>() : std::optional<std::string>(q.text(i));
    };
    p.name = col(0);
    p.email = col(1);
    p.phone = col(2);
    p.birthday = col(3);
    q.run();
    return p;
  }

  void move_customer(const std::string& from, const std::string& to) override {
    for (const char* sql : {"UPDATE aliases SET account_id = ?2 WHERE account_id = ?1",
                            "UPDATE sales SET account_id = ?2 WHERE account_id = ?1"}) {
      auto q = l_.query(sql);
      q.bind(1, from).bind(2, to);
      q.run();
    }
  }

  void erase_personal_data(
      const std::string& account_id,
      const std::vector<std::pair<std::string, std::string>>& ref_tokens) override {
    {
      auto q = l_.query("DELETE FROM customer_pii WHERE account_id = ?1");
      q.bind(1, account_id);
      q.run();
    }
    for (const auto& [ref, token] : ref_tokens) {
      {
        auto q = l_.query("UPDATE aliases SET ref = ?2 WHERE ref = ?1 AND account_id = ?3");
        q.bind(1, ref).bind(2, token).bind(3, account_id);
        q.run();
      }
      // The POS's own words keep the reference too: stored responses, quarantined input.
      {
        auto q = l_.query(
            "UPDATE requests SET response_json = replace(response_json, ?1, ?2) "
            "WHERE instr(response_json, ?1) > 0");
        q.bind(1, ref).bind(2, token);
        q.run();
      }
      auto q = l_.query(
          "UPDATE quarantine SET raw = CAST(replace(CAST(raw AS TEXT), ?1, ?2) AS BLOB) "
          "WHERE instr(CAST(raw AS TEXT), ?1) > 0");
      q.bind(1, ref).bind(2, token);
      q.run();
    }
  }

  // ---- entries, lots ----
  void append_entry(EntryRow& e, const std::vector<domain::Allocation>& allocations,
                    const std::optional<domain::Lot>& new_lot) override {
    live();
    if (!write_) throw StoreFailure(ErrorCode::kInternal, "append_entry in a read transaction");
    const int64_t seq = next_seq(e.origin_branch);
    write_entry(e, seq, l_.node_epoch_, allocations, new_lot, /*local=*/true);
    e.origin_seq = seq;
    e.node_epoch = l_.node_epoch_;
  }

  void insert_remote_entry(const EntryRow& e, const std::vector<domain::Allocation>& allocations,
                           const std::optional<domain::Lot>& new_lot) override {
    live();
    if (!write_) throw StoreFailure(ErrorCode::kInternal, "insert_remote_entry in a read transaction");
    if (e.origin_seq <= 0 || e.node_epoch.empty()) {
      throw StoreFailure(ErrorCode::kInternal, "remote entry " + e.entry_id + " has no origin_seq or node_epoch");
    }
    write_entry(e, e.origin_seq, e.node_epoch, allocations, new_lot, /*local=*/false);
    if (e.origin_branch == l_.branch_id_) {
      // Our own entry coming back from the hub: this ledger was restored from an older copy.
      auto q = l_.query("INSERT OR IGNORE INTO recovered_entries(entry_id) VALUES (?1)");
      q.bind(1, e.entry_id);
      q.run();
    }
    // The cached next seq of that origin (used only if this ledger writes as it) is stale.
    l_.last_seq_.erase(e.origin_branch);
    for (auto it = pending_seq_.begin(); it != pending_seq_.end(); ++it) {
      if (it->first == e.origin_branch) {
        pending_seq_.erase(it);
        break;
      }
    }
  }

  std::optional<EntryRow> find_entry(const std::string& entry_id) override {
    auto q = q_(S::kFindEntry);
    q.bind(1, entry_id);
    if (!q.step()) return std::nullopt;
    return entry_of(q);
  }

  Account ensure_account(const std::string& account_id, const std::string& origin_branch,
                         const BusinessTime& at) override {
    // Usually the account is there (a sync backlog names each account many times): one
    // SELECT then, instead of an INSERT OR IGNORE that does nothing and the same SELECT.
    if (auto a = find_account(account_id)) return *a;
    {
      auto q = q_(S::kInsertAccountIfMissing);
      q.bind(1, account_id).bind(2, at.unix_ms).bind(3, int64_t{at.offset_minutes}).bind(4, origin_branch);
      q.run();
    }
    auto a = find_account(account_id);
    if (!a) throw StoreFailure(ErrorCode::kInternal, "account " + account_id + " vanished");
    return *a;
  }

  std::vector<EntryRow> entries_of_origin(const std::string& origin_branch, int64_t after_seq,
                                          int64_t limit) override {
    auto q = q_(S::kEntriesOfOrigin);
    q.bind(1, origin_branch).bind(2, after_seq).bind(3, limit);
    std::vector<EntryRow> out;
    while (q.step()) out.push_back(entry_of(q));
    return out;
  }

  int64_t max_seq(const std::string& origin_branch) override {
    auto q = q_(S::kMaxSeq);
    q.bind(1, origin_branch);
    q.step();
    return q.i64(0);
  }

  app::SyncState sync_state(const std::string& peer) override {
    auto q = q_(S::kGetSyncState);
    q.bind(1, peer);
    app::SyncState st;
    if (q.step()) {
      st.hub_epoch = q.text(0);
      st.acked_seq = q.i64(1);
      st.applied_offset = q.i64(2);
      st.config_version = q.text(3);
      st.last_contact_ms = q.i64(4);
      st.own_seq_floor = q.i64(5);
      st.recover_next = q.i64(6);
      st.recover_to = q.i64(7);
      st.check_offset = q.i64(8);
      st.check_entry_id = q.text(9);
    }
    return st;
  }

  void put_sync_state(const std::string& peer, const app::SyncState& st) override {
    auto q = q_(S::kPutSyncState);
    q.bind(1, peer).bind(2, st.hub_epoch).bind(3, st.acked_seq).bind(4, st.applied_offset);
    q.bind(5, st.config_version).bind(6, st.last_contact_ms).bind(7, st.own_seq_floor);
    q.bind(8, st.recover_next).bind(9, st.recover_to).bind(10, st.check_offset);
    q.bind(11, st.check_entry_id);
    q.run();
    // Own writes are numbered above the floor (next_seq): drop a cached counter below it.
    if (auto it = l_.last_seq_.find(l_.branch_id_);
        it != l_.last_seq_.end() && it->second < st.own_seq_floor) {
      l_.last_seq_.erase(it);
    }
    for (auto& [b, seq] : pending_seq_) {
      if (b == l_.branch_id_ && seq < st.own_seq_floor) seq = st.own_seq_floor;
    }
  }

  void set_node_epoch(const std::string& epoch) override {
    live();
    if (!write_) throw StoreFailure(ErrorCode::kInternal, "set_node_epoch in a read transaction");
    auto q = l_.query("UPDATE meta SET value = ?1 WHERE key = 'node_epoch'");
    q.bind(1, epoch);
    q.run();
    pending_epoch_ = epoch;
  }

  std::vector<domain::Lot> due_lots(int64_t now_ms, const std::string& origin_branch,
                                    int64_t limit) override {
    auto q = l_.query(
        "SELECT l.lot_id, l.account_id, l.earned_at_ms, l.earned_offset, l.expires_at_ms, "
        "l.expires_offset, l.original, l.remaining FROM lots l INDEXED BY lots_due "
        "JOIN entries e ON e.entry_id = l.lot_id "
        "WHERE l.remaining > 0 AND l.expires_at_ms <= ?1 AND e.origin_branch = ?2 "
        "ORDER BY l.expires_at_ms, l.lot_id LIMIT ?3");
    q.bind(1, now_ms).bind(2, origin_branch).bind(3, limit);
    std::vector<domain::Lot> out;
    while (q.step()) {
      out.push_back(domain::Lot{q.text(0), q.text(1), bt(q.i64(2), q.i64(3)),
                                bt(q.i64(4), q.i64(5)), Points(q.i64(6)), Points(q.i64(7))});
    }
    return out;
  }

  void add_unmatched_refund(const std::string& sale_branch, const std::string& ticket,
                            const std::string& refund_entry_id) override {
    auto q = q_(S::kAddUnmatched);
    q.bind(1, sale_branch).bind(2, ticket).bind(3, refund_entry_id);
    q.run();
  }

  std::vector<std::string> take_unmatched_refunds(const std::string& sale_branch,
                                                  const std::string& ticket) override {
    std::vector<std::string> out;
    {
      auto q = q_(S::kUnmatchedOf);
      q.bind(1, sale_branch).bind(2, ticket);
      while (q.step()) out.push_back(q.text(0));
    }
    if (!out.empty()) {
      auto q = q_(S::kDeleteUnmatched);
      q.bind(1, sale_branch).bind(2, ticket);
      q.run();
    }
    return out;
  }

  void record_alias_conflict(const std::string& ref, const std::string& account_id,
                             const std::string& kept_account_id, const std::string& entry_id) override {
    auto q = q_(S::kAliasConflict);
    q.bind(1, ref).bind(2, account_id).bind(3, kept_account_id).bind(4, entry_id);
    q.run();
  }

  int64_t offline_redeemed(const std::string& account_id, const std::string& day) override {
    auto q = q_(S::kOfflineRedeemed);
    q.bind(1, account_id).bind(2, day);
    return q.step() ? q.i64(0) : 0;
  }

  void add_offline_redeemed(const std::string& account_id, const std::string& day,
                            int64_t points) override {
    auto q = q_(S::kAddOfflineRedeemed);
    q.bind(1, account_id).bind(2, day).bind(3, points);
    q.run();
  }

  bool entry_exists(const std::string& entry_id) override {
    auto q = q_(S::kEntryExists);
    q.bind(1, entry_id);
    return q.step();
  }

  std::vector<domain::Lot> open_lots(const std::string& account_id) override {
    auto q = q_(S::kOpenLots);
    q.bind(1, account_id);
    return lots_of(q, account_id);
  }

  // Seeks the account's lots up to `at` in the primary key: a sale of a customer with many
  // lots and none due reads no row (it read them all, twice a sale, before).
  std::vector<domain::Lot> expired_lots(const std::string& account_id, const BusinessTime& at) override {
    auto q = q_(S::kExpiredLots);
    q.bind(1, account_id).bind(2, at.unix_ms);
    return lots_of(q, account_id);
  }

  static std::vector<domain::Lot> lots_of(Query& q, const std::string& account_id) {
    std::vector<domain::Lot> out;
    while (q.step()) {
      out.push_back(domain::Lot{q.text(0), account_id, bt(q.i64(1), q.i64(2)), bt(q.i64(3), q.i64(4)),
                                Points(q.i64(5)), Points(q.i64(6))});
    }
    return out;
  }

  // ---- sales ----
  std::optional<domain::SaleRecord> find_sale(const std::string& branch,
                                              const std::string& ticket) override {
    auto q = q_(S::kFindSale);
    q.bind(1, branch).bind(2, ticket);
    if (!q.step()) return std::nullopt;
    domain::SaleRecord s;
    s.branch = branch;
    s.ticket = ticket;
    s.request_id = q.text(0);
    s.account_id = q.text(1);
    s.earn_entry_id = q.text(2);
    s.earned = Points(q.i64(3));
    s.clawed_back = Points(q.i64(4));
    s.redeemed = Points(q.i64(5));
    s.restored = Points(q.i64(6));
    s.voided = q.i64(7) != 0;
    s.at = bt(q.i64(8), q.i64(9));
    s.lines = decode_lines(q.text(10));
    return s;
  }

  void put_sale(const domain::SaleRecord& s) override {
    auto q = q_(S::kPutSale);
    q.bind(1, s.branch).bind(2, s.ticket).bind(3, s.request_id).bind(4, s.account_id);
    q.bind(5, s.earn_entry_id).bind(6, s.earned.value()).bind(7, s.clawed_back.value());
    q.bind(8, s.redeemed.value()).bind(9, s.restored.value()).bind(10, int64_t{s.voided ? 1 : 0});
    q.bind(11, s.at.unix_ms)
        .bind(12, int64_t{s.at.offset_minutes})
        .bind_copy(13, encode_lines(s.lines));
    q.run();
  }

  // ---- holds ----
  static Hold hold_of(const Query& q) {
    Hold h;
    h.hold_id = q.text(0);
    h.account_id = q.text(1);
    h.branch = q.text(2);
    h.request_id = q.text(3);
    h.ticket = q.text(4);
    h.points = Points(q.i64(5));
    h.amount = domain::Money::from_micros(q.i64(6));
    h.status = q.text(7);
    h.created_at = bt(q.i64(8), q.i64(9));
    h.business_deadline = bt(q.i64(10), q.i64(9));
    h.wall_deadline_ms = q.i64(11);
    return h;
  }

  void insert_hold(const Hold& h) override {
    auto q = q_(S::kInsertHold);
    q.bind(1, h.hold_id).bind(2, h.account_id).bind(3, h.branch).bind(4, h.request_id);
    q.bind(5, h.ticket).bind(6, h.points.value()).bind(7, h.amount.micros());
    q.bind_copy(8, h.status.empty() ? std::string("active") : h.status)
        .bind(9, h.created_at.unix_ms);
    q.bind(10, int64_t{h.created_at.offset_minutes}).bind(11, h.business_deadline.unix_ms);
    q.bind(12, h.wall_deadline_ms);
    q.run();
  }

  std::optional<Hold> find_hold(const std::string& hold_id) override {
    auto q = q_(S::kFindHold);
    q.bind(1, hold_id);
    if (!q.step()) return std::nullopt;
    return hold_of(q);
  }

  std::vector<Hold> active_holds_of_account(const std::string& account_id) override {
    auto q = q_(S::kHoldsOfAccount);
    q.bind(1, account_id);
    return active_holds(q);
  }

  std::vector<Hold> active_holds_of_ticket(const std::string& branch,
                                           const std::string& ticket) override {
    auto q = q_(S::kHoldsOfTicket);
    q.bind(1, branch).bind(2, ticket);
    return active_holds(q);
  }

  // The active holds a statement found, oldest first (then by id). Sorted here rather than
  // by ORDER BY: the partial indexes do not keep that order, so SQLite set up a sorter on
  // every call, nearly always for no row at all (a sale asks twice: 1.4 % of its time).
  template <class Q>
  std::vector<Hold> active_holds(Q& q) {
    std::vector<Hold> out;
    while (q.step()) out.push_back(hold_of(q));
    std::sort(out.begin(), out.end(), [](const Hold& a, const Hold& b) {
      return std::tie(a.created_at.unix_ms, a.hold_id) < std::tie(b.created_at.unix_ms, b.hold_id);
    });
    return out;
  }

  void resolve_hold(const std::string& hold_id, const std::string& status, int64_t at_ms) override {
    if (!is_resolution(status)) {
      throw StoreFailure(ErrorCode::kInternal, "hold " + hold_id + ": '" + status +
                                                   "' is not a resolution (captured, released, expired)");
    }
    auto q = q_(S::kResolveHold);
    q.bind(1, hold_id).bind(2, status).bind(3, at_ms);
    q.run();
    expect_one_change(
        [&] { return "hold " + hold_id + " is not active; cannot mark it " + status; });
  }

  // ---- history ----
  std::vector<EntryRow> entries_of_account(const std::string& account_id, std::optional<int64_t> from_ms,
                                           std::optional<int64_t> to_ms, int64_t limit) override {
    auto q = q_(S::kEntriesOfAccount);
    q.bind(1, account_id).bind(2, from_ms.value_or(INT64_MIN)).bind(3, to_ms.value_or(INT64_MAX));
    q.bind(4, limit < 0 ? int64_t{-1} : limit);  // a negative LIMIT means none in SQLite
    std::vector<EntryRow> out;
    while (q.step()) {
      EntryRow e = entry_of(q);
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  void live() const {
    if (done_) throw StoreFailure(ErrorCode::kInternal, "the ledger transaction is already committed");
  }
  Query q_(S s) {
    live();
    return l_.stmt(s);
  }
  // `message()` builds the error only when there is one (entries call this on every write).
  template <class Message>
  void expect_one_change(Message&& message) {
    if (sqlite3_changes(l_.db_) != 1) throw StoreFailure(ErrorCode::kInternal, message());
  }

  std::optional<std::string> alias_owner(const std::string& ref) {
    auto q = q_(S::kFindAlias);
    q.bind(1, ref);
    if (!q.step()) return std::nullopt;
    return q.text(0);
  }

  // Inserts the row, moves the balance, takes the allocations and creates the lot.
  void write_entry(const EntryRow& e, int64_t seq, const std::string& epoch,
                   const std::vector<domain::Allocation>& allocations,
                   const std::optional<domain::Lot>& new_lot, bool local) {
    {
      auto q = q_(S::kInsertEntry);
      q.bind(1, e.entry_id).bind(2, e.origin_branch).bind(3, seq).bind(4, epoch);
      q.bind(5, e.account_id).bind(6, e.kind).bind(7, e.points.value()).bind(8, e.request_id);
      q.bind(9, e.branch).bind(10, e.ticket).bind(11, e.ref_entry_id).bind(12, e.business_at.unix_ms);
      q.bind(13, int64_t{e.business_at.offset_minutes}).bind(14, e.recorded_at_ms);
      if (e.expires_at) q.bind(15, e.expires_at->unix_ms).bind(16, int64_t{e.expires_at->offset_minutes});
      q.bind(17, e.program_version).bind(18, e.reason);
      q.bind_blob(19, hex_to_bytes(e.body_hash, "entry body_hash"));
      if (!e.data.empty()) q.bind(20, e.data);
      q.run();
    }
    // Our own seq is used once the row is in, even if the rest fails (no reuse in this tx).
    if (local) note_seq(e.origin_branch, seq);
    {
      auto q = q_(S::kAddBalance);
      q.bind(1, e.account_id).bind(2, e.points.value()).bind(3, seq).bind(4, int64_t{e.counts_sale ? 1 : 0});
      q.run();
      expect_one_change(
          [&] { return "entry " + e.entry_id + " names unknown account " + e.account_id; });
    }
    for (const auto& a : allocations) {
      if (a.points.value() <= 0) {
        throw StoreFailure(ErrorCode::kInternal, "entry " + e.entry_id + ": allocation of " +
                                                     std::to_string(a.points.value()) +
                                                     " points from lot " + a.lot_id);
      }
      {
        auto q = q_(S::kTakeFromLot);
        q.bind(1, a.lot_id).bind(2, a.points.value()).bind(3, e.account_id);
        q.bind(4, a.place.expires_at.unix_ms).bind(5, a.place.earned_at.unix_ms);
        q.run();
      }
      if (sqlite3_changes(l_.db_) != 1) lot_failure(e, a);
      auto q = q_(S::kInsertAllocation);
      q.bind(1, e.entry_id).bind(2, a.lot_id).bind(3, a.points.value());
      q.run();
    }
    if (new_lot) {
      const domain::Lot& lot = *new_lot;
      // lot_id = entry_id keeps lot ids unique without an index of their own.
      if (lot.lot_id != e.entry_id || (!lot.account_id.empty() && lot.account_id != e.account_id)) {
        throw StoreFailure(ErrorCode::kInternal, "entry " + e.entry_id + " cannot create lot " + lot.lot_id +
                                                     " of account " + lot.account_id);
      }
      if (lot.remaining.value() < 0 || lot.remaining > lot.original) {
        throw StoreFailure(ErrorCode::kInternal, "lot " + lot.lot_id + ": remaining " +
                                                     std::to_string(lot.remaining.value()) +
                                                     " out of 0.." + std::to_string(lot.original.value()));
      }
      auto q = q_(S::kInsertLot);
      q.bind(1, lot.lot_id).bind(2, e.account_id);
      q.bind(3, lot.earned_at.unix_ms).bind(4, int64_t{lot.earned_at.offset_minutes});
      q.bind(5, lot.expires_at.unix_ms).bind(6, int64_t{lot.expires_at.offset_minutes});
      q.bind(7, lot.original.value()).bind(8, lot.remaining.value());
      q.run();
    }
  }

  // The next origin_seq of `branch` in this transaction.
  int64_t next_seq(const std::string& branch) {
    for (const auto& [b, seq] : pending_seq_) {
      if (b == branch) return seq + 1;
    }
    if (auto it = l_.last_seq_.find(branch); it != l_.last_seq_.end()) return it->second + 1;
    auto q = q_(S::kMaxSeq);
    q.bind(1, branch);
    q.step();
    int64_t last = q.i64(0);
    if (branch == l_.branch_id_) {
      // A recovering ledger numbers its own writes above the seqs it fetches back.
      auto f = l_.query("SELECT coalesce(max(own_seq_floor), 0) FROM sync_state");
      f.step();
      last = std::max(last, f.i64(0));
    }
    l_.last_seq_[branch] = last;  // committed state: read inside our write lock
    return last + 1;
  }
  void note_seq(const std::string& branch, int64_t seq) {
    for (auto& [b, s] : pending_seq_) {
      if (b == branch) {
        s = seq;
        return;
      }
    }
    pending_seq_.emplace_back(branch, seq);
  }

  [[noreturn]] void lot_failure(const EntryRow& e, const domain::Allocation& a) {
    auto q = q_(S::kLotRemaining);
    q.bind(1, a.lot_id).bind(2, e.account_id);
    if (!q.step()) {
      throw StoreFailure(ErrorCode::kInternal,
                         "entry " + e.entry_id + ": account " + e.account_id + " has no lot " + a.lot_id);
    }
    throw StoreFailure(ErrorCode::kInternal, "entry " + e.entry_id + ": lot " + a.lot_id + " has " +
                                                 std::to_string(q.i64(0)) + " points, cannot give " +
                                                 std::to_string(a.points.value()));
  }

  // Hands the open group to a waiting writer and waits for its COMMIT, or COMMITs it now.
  // Throws StoreFailure when the group's COMMIT failed.
  void finish() {
    const bool hand_over = l_.writers_waiting_.load() > 0 &&
                           l_.group_members_ < SqliteLedger::kMaxGroupMembers &&
                           std::chrono::steady_clock::now() - l_.group_began_ < SqliteLedger::kMaxGroupAge;
    if (hand_over) {
      lock_.unlock();
      l_.wait_for_group(group_);
      return;
    }
    try {
      l_.end_group();
    } catch (...) {
      lock_.unlock();
      throw;
    }
    lock_.unlock();
  }

  void rollback() noexcept {
    done_ = true;
    if (replay_) {
      // The re-run failed; the replay's transaction is rolled back by its caller.
      sqlite3_exec(l_.db_, "ROLLBACK TO member; RELEASE member", nullptr, nullptr, nullptr);
      return;
    }
    if (!write_) {
      l_.end_held_read();
      return;
    }
    if (sqlite3_get_autocommit(l_.db_) != 0) {
      // SQLite already rolled the whole transaction back (disk full, I/O error): the
      // group's earlier members lost their work too.
      l_.settle_group();
      return;
    }
    if (member_ && l_.group_held_) {
      // Only our savepoint: the members before us are durable (their records).
      if (sqlite3_exec(l_.db_, "ROLLBACK TO member; RELEASE member", nullptr, nullptr, nullptr) != SQLITE_OK) {
        l_.recover_held_group();
        return;
      }
      l_.redo_payload_.clear();
      l_.group_changes_ = sqlite3_total_changes64(l_.db_);  // nothing of ours is left to record
      l_.after_member();
      return;
    }
    if (!member_) {
      // The first writer of a group is alone in it until its commit(): roll it all back.
      sqlite3_exec(l_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
      l_.settle_group();
      return;
    }
    // Undo only our savepoint; the members before us keep theirs (and their statements).
    if (sqlite3_exec(l_.db_, "ROLLBACK TO member; RELEASE member", nullptr, nullptr, nullptr) != SQLITE_OK) {
      l_.settle_group();
      return;
    }
    if (l_.redo_payload_.size() > redo_mark_) l_.redo_payload_.resize(redo_mark_);
    try {
      finish();  // the group goes on without us; wait for it (what we read must be durable)
    } catch (...) {
      // The group failed; our caller is already reporting an error of its own.
    }
  }

  void lock_connection(std::chrono::steady_clock::time_point deadline) {
    lock_ = std::unique_lock(l_.mu_, deadline);
    if (!lock_.owns_lock()) {
      throw StoreFailure(ErrorCode::kUnavailable,
                         "ledger busy: other calls of this process held it for busy_timeout_ms (" +
                             std::to_string(l_.options_.busy_timeout_ms) + " ms)");
    }
  }

  SqliteLedger& l_;
  std::unique_lock<std::timed_mutex> lock_;
  bool write_;
  bool member_ = false;  // joined an open group (inside a savepoint)
  bool replay_ = false;  // re-runs a request record (holding mu_ already; no lock of its own)
  bool request_logged_ = false;  // log_request() kept our request: our rows need no record
  uint64_t sync_ticket_ = 0;  // log_request() with full: the sync our acknowledgement waits for
  size_t redo_mark_ = 0;  // a member: the group's redo payload before our savepoint
  uint64_t group_ = 0;
  bool done_ = false;
  std::vector<std::pair<std::string, int64_t>> pending_seq_;  // last seq used, per branch
  std::optional<std::string> pending_epoch_;                  // set_node_epoch, at commit
};

// ---------------------------------------------------------------------------------------

SqliteLedger::SqliteLedger(LedgerOptions options) : options_(std::move(options)) {}

Query SqliteLedger::stmt(Stmt s) {
  const auto i = static_cast<size_t>(s);
  static_assert(std::size(kStatements) == static_cast<size_t>(Stmt::kCount),
                "kStatements must list every SqliteLedger::Stmt, in order");
  if (stmts_.empty()) stmts_.assign(std::size(kStatements), nullptr);
  if (stmts_[i] == nullptr) {
    const int rc = sqlite3_prepare_v3(db_, kStatements[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, std::string("prepare: ") + kStatements[i]);
  }
  return attach(stmts_[i]);
}

Query SqliteLedger::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, "prepare: " + sql);
    it = cache_.emplace(sql, s).first;
  }
  return attach(it->second);
}

void SqliteLedger::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "";
    sqlite3_free(err);
    fail(db_, rc, msg.empty() ? std::string(sql) : std::string(sql).substr(0, 60) + ": " + msg);
  }
}

// The reader's view must hold every write acknowledged so far. Records past the last COMMIT
// are either a live writer's held group, which it COMMITs itself within its hold (its lock
// is then taken), or a dead writer's, whose lock is free: then this re-runs them. So: until
// nothing is pending, try the write lock without waiting, and between tries wait 1 ms for
// the live writer's COMMIT (never for a whole busy_timeout behind a lock it keeps retaking).
std::string SqliteLedger::replay_for_reader(const LedgerOptions& options, bool& requests_left) {
  const std::string log_path = options.path + "-redo";
  std::error_code ec;
  if (options.path.empty() || options.path == ":memory:" || !std::filesystem::exists(log_path, ec)) return "";
  const std::string unapplied =
      "the redo log " + log_path +
      " holds acknowledged writes this ledger lacks (its last writer stopped before COMMITting them); shown as "
      "of the last COMMIT. The next open with write access (the POS, loyaltyd, or loyaltyctl as their user) "
      "applies them";
  // Is the record after the last COMMIT there? (Read-only: no lock is taken.)
  auto pending = [&] {
    sqlite3* db = nullptr;
    bool found = false;
    if (sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'redo_next'", -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW) {
        const auto* v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        if (auto next = v ? parse_redo_next(v) : std::nullopt) {
          found = RedoLog(log_path).read_first(next->offset, next->seq, next->log_id).has_value();
        }
      }
      sqlite3_finalize(st);
    }
    sqlite3_close_v2(db);
    return found;
  };
  try {
    if (!pending()) return "";
    LedgerOptions w = options;
    w.read_only = false;
    w.checkpoint_pages = 0;
    w.balance_projection = false;
    w.preload_balances = false;
    w.hold_commit_ms = 0;
    w.busy_timeout_ms = 0;  // see above: a lock held now means a live writer
    std::unique_ptr<SqliteLedger> l(new SqliteLedger(w));
    if (sqlite3_open_v2(w.path.c_str(), &l->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        wal_coalescing_vfs_name()) != SQLITE_OK) {
      return unapplied + " (cannot open it for writing: " + sqlite3_errmsg(l->db_) + ")";  // the destructor closes it
    }
    l->configure();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, options.busy_timeout_ms));
    for (;;) {
      try {
        l->replay_redo();  // re-checks meta.redo_next under the write lock
        if (l->requests_pending_) {
          requests_left = true;
          return unapplied + " (they are requests, which only a program with the branch's configuration re-runs: "
                             "the POS's plugin, loyaltyd, or a loyaltyctl command that writes)";
        }
        return "";
      } catch (const std::exception& e) {
        if ((sqlite3_extended_errcode(l->db_) & 0xff) != SQLITE_BUSY) return unapplied + " (" + e.what() + ")";
      }
      if (!pending()) return "";  // the live writer COMMITted them
      if (std::chrono::steady_clock::now() >= deadline) {
        return "another process writing this ledger has not COMMITted its latest acknowledged writes within "
               "busy_timeout_ms (" + std::to_string(options.busy_timeout_ms) +
               " ms); shown as of its last COMMIT";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (const std::exception& e) {
    return unapplied + " (" + e.what() + ")";
  }
}

std::unique_ptr<SqliteLedger> SqliteLedger::open(const LedgerOptions& options) {
  configure_sqlite_process();
  bool requests_left = false;
  std::string unapplied = options.read_only ? replay_for_reader(options, requests_left) : "";
  std::unique_ptr<SqliteLedger> l(new SqliteLedger(options));
  l->unapplied_log_ = std::move(unapplied);
  l->unapplied_requests_ = requests_left;
  const int flags =
      (options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(options.path.c_str(), &l->db_, flags, wal_coalescing_vfs_name());
  if (rc != SQLITE_OK) {
    std::string msg = l->db_ ? sqlite3_errmsg(l->db_) : sqlite3_errstr(rc);
    // SQLite says only "unable to open database file": say which part of the path is wrong.
    std::error_code ec;
    const std::filesystem::path file(options.path);
    const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
    std::error_code dir_ec;
    const bool dir_exists = std::filesystem::exists(dir, dir_ec);
    if (std::filesystem::is_directory(file, ec)) {
      msg = "it is a directory; plugin.db names the ledger file inside one, e.g. " + (file / "ledger.db").string();
    } else if (!dir_exists && dir_ec == std::errc::permission_denied) {
      msg = "this user may not look into " + dir.string() + " (permission denied on a directory of the path)";
    } else if (!dir_exists) {
      msg = "its directory " + dir.string() + " does not exist (the installer creates it; or create it)";
    } else if (!std::filesystem::is_directory(dir, ec)) {
      msg = dir.string() + " is not a directory";
    } else if (!options.read_only && ::access(dir.c_str(), W_OK) != 0) {
      msg += " (" + dir.string() + " is not writable by this user)";
    } else if (options.read_only && !std::filesystem::exists(file, ec)) {
      msg = file.string() + " does not exist (a reader never creates a ledger; check plugin.db)";
    }
    throw StoreFailure(ErrorCode::kUnavailable, "cannot open the ledger: " + msg);
  }
  try {
    l->configure();
    {
      // Before anything is read and cached: a commit of another connection from here on
      // shows in the first transaction's observe_data_version().
      std::lock_guard lock(l->mu_);
      auto q = l->stmt(Stmt::kDataVersion);
      q.step();
      l->data_version_ = q.i64(0);
    }
    if (!options.read_only) {
      l->replay_redo();
      l->migrate();
      if (l->redo_) l->ensure_redo_id();
    }
    l->load_meta();
  } catch (const StoreFailure& f) {
    throw StoreFailure(f.code(), options.path + ": " + f.what());
  }
  if (!options.read_only && options.checkpoint_pages > 0) l->start_checkpointer();
  if (!options.read_only && options.balance_projection) l->start_projection();
  return l;
}

void SqliteLedger::configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(std::clamp<int64_t>(options_.busy_timeout_ms, 0, INT32_MAX)));
  if (!options_.read_only) {
    // The first statement to read the file: "not a database" and locks show up here.
    auto q = query("PRAGMA journal_mode=WAL");
    if (!q.step() || q.text(0) != "wal") {
      throw StoreFailure(ErrorCode::kUnavailable, "cannot switch the ledger to WAL mode");
    }
  }
  static const char* kSync[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                "PRAGMA synchronous=FULL", "PRAGMA synchronous=EXTRA"};
  // Held groups need the background thread (checkpoint_pages) to COMMIT a group no write
  // comes to. With synchronous = normal the log is kept only for them: a power cut may lose
  // the last records as it may lose the last commits, but a crash of the process loses
  // nothing acknowledged.
  if (options_.hold_commit_ms < 0) {
    options_.hold_commit_ms = options_.synchronous == 1 || (options_.synchronous >= 2 && options_.request_log) ? 100 : 0;
  }
  const bool hold = options_.hold_commit_ms > 0 && options_.checkpoint_pages > 0;
  const bool redo = (options_.synchronous == 2 || (options_.synchronous == 1 && hold)) && options_.redo_log &&
                    !options_.read_only && !options_.path.empty() && options_.path != ":memory:" &&
                    options_.path.rfind("file:", 0) != 0;
  if (redo) redo_ = std::make_unique<RedoLog>(options_.path + "-redo");
  redo_sync_ = options_.synchronous >= 2;
  hold_mode_ = redo && hold;
  request_log_ = hold_mode_ && options_.request_log;
  if (options_.hold_max_members < 0) options_.hold_max_members = request_log_ && redo_sync_ ? 16 : 2048;
  if (request_log_ && redo_sync_) syncer_ = std::make_unique<RedoSyncer>(*redo_);
  // In redo mode the COMMIT itself does not sync: a large group's redo record did, and a
  // small group fsyncs the WAL right after (end_group).
  exec(kSync[redo ? 1 : std::clamp(options_.synchronous, 0, 3)]);
  exec("PRAGMA foreign_keys=ON");
  exec("PRAGMA recursive_triggers=ON");  // REPLACE on entries would otherwise skip the DELETE guard
  // A held group's member is a SAVEPOINT, so SQLite first copies every page a member changes
  // into the statement journal. With temp_store = MEMORY that journal grows in 1 KiB pieces,
  // a malloc each (four or more a page; the replay ran 6 % faster without them); with the
  // process's 1 MiB statement journals it is one piece, in memory unless one member changes
  // more than 1 MiB. Temporary tables and large sorts then go to files beyond the cache.
  // Where the process setting was refused (configure_sqlite_process), a 64 KiB journal would
  // spill to a file under most groups: MEMORY stays. A reader (loyaltyctl, a report) writes
  // no journal: MEMORY too, so that it needs no writable temporary directory.
  const bool journals_in_one_piece = !options_.read_only && configure_sqlite_process();
  exec(journals_in_one_piece ? "PRAGMA temp_store=FILE" : "PRAGMA temp_store=MEMORY");
  // A small page cache on purpose: at the end of every transaction SQLite trims its page
  // cache, and at times that walks the whole cache hash table. With 64 MiB this cost ~20 %
  // of the CPU of a sale and 4 ms at p99 (100k accounts, 1M entries); with 8 MiB, 2 %. The
  // OS page cache and mmap serve the rest. Except under large held groups (normal: up to
  // 2,048 requests a transaction), whose dirty pages must stay in the cache until their
  // COMMIT: 1,024 members dirtied 2,000-3,000 pages, and with 8 MiB (2,048 pages) SQLite
  // spilled them to the WAL in mid-group (23,299 in a 100,000-sale replay) and read them
  // back with a system call each. 16 KiB a member (32 MiB for 2,048) spills none, and the
  // trim comes once a group (docs/performance.md, stop 24).
  int64_t cache_kib = 8192;
  if (hold_mode_ && options_.hold_max_members > 64) {
    cache_kib = std::clamp<int64_t>(options_.hold_max_members * 16, cache_kib, 65536);
  }
  exec(("PRAGMA cache_size=-" + std::to_string(cache_kib)).c_str());
  exec("PRAGMA mmap_size=268435456");  // reads without copies, up to 256 MiB
  exec("PRAGMA journal_size_limit=67108864");  // a WAL that grew in a burst shrinks back to 64 MiB
}

namespace {

// schema_version from meta, 0 when the file has no meta table (a new file).
int64_t read_schema_version(SqliteLedger& l) {
  {
    auto q = l.query("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'");
    q.step();
    if (q.i64(0) == 0) return 0;
  }
  auto q = l.query("SELECT value FROM meta WHERE key = 'schema_version'");
  if (!q.step()) throw StoreFailure(ErrorCode::kInternal, "the ledger's meta table has no schema_version");
  const std::string v = q.text(0);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n <= 0) {
    throw StoreFailure(ErrorCode::kInternal, "the ledger's schema_version '" + v + "' is corrupt");
  }
  return n;
}

[[noreturn]] void too_new(int64_t found) {
  throw StoreFailure(ErrorCode::kInternal,
                     "ledger schema version " + std::to_string(found) + " is newer than the " +
                         std::to_string(kSchemaVersion) + " this program knows; upgrade the plugin");
}

}  // namespace

void SqliteLedger::migrate() {
  std::lock_guard lock(mu_);
  // Fast path for the usual open: nothing to do, no write lock taken.
  {
    const int64_t v = read_schema_version(*this);
    if (v > kSchemaVersion) too_new(v);
    if (v == kSchemaVersion) return;
    if (requests_pending_) {
      // Request records re-run through the program's rules on the schema they were
      // written for: not through another version's.
      throw StoreFailure(ErrorCode::kInternal,
                         "the redo log " + options_.path + "-redo holds requests acknowledged before a crash, " +
                             "written by the program of ledger schema " + std::to_string(v) + " (this one is " +
                             std::to_string(kSchemaVersion) + "); open the ledger once with that program so that " +
                             "it applies them, then upgrade");
    }
  }
  exec("BEGIN IMMEDIATE");
  try {
    int64_t current = read_schema_version(*this);  // again, under the write lock
    if (current > kSchemaVersion) too_new(current);
    for (const Migration& m : migrations()) {
      if (m.version <= current) continue;
      exec(m.sql);
      current = m.version;
    }
    auto put = [&](const char* key, const std::string& value, bool replace) {
      auto q = query(replace ? "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                             : "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)");
      q.bind_copy(1, std::string(key)).bind(2, value);
      q.run();
    };
    put("schema_version", std::to_string(current), true);
    put("branch_id", options_.branch, false);
    put("node_epoch", random_hex(16), false);
    put("created_at_ms", std::to_string(now_ms()), false);
    exec("COMMIT");
    if (redo_) sync_wal();
  } catch (...) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteLedger::load_meta() {
  std::lock_guard lock(mu_);
  schema_version_ = read_schema_version(*this);
  if (schema_version_ == 0) {
    throw StoreFailure(ErrorCode::kInternal, "not a loyalty ledger (no meta table)");
  }
  if (schema_version_ > kSchemaVersion) too_new(schema_version_);
  auto q = query("SELECT key, value FROM meta WHERE key IN ('node_epoch', 'branch_id')");
  while (q.step()) {
    (q.text(0) == "node_epoch" ? node_epoch_ : branch_id_) = q.text(1);
  }
  if (node_epoch_.empty()) throw StoreFailure(ErrorCode::kInternal, "the ledger's meta table has no node_epoch");
}

void SqliteLedger::reload_node_epoch() {
  auto q = query("SELECT value FROM meta WHERE key = 'node_epoch'");
  if (q.step() && !q.text(0).empty()) node_epoch_ = q.text(0);
}

// Runs on the committing thread, inside COMMIT, holding the ledger's lock.
int SqliteLedger::on_wal_commit(void* self, sqlite3* db, const char* name, int pages) {
  auto* l = static_cast<SqliteLedger*>(self);
  // Held groups with synchronous = full: every sale waits for its record's fdatasync, and a
  // checkpoint's fsyncs of megabytes held those up for milliseconds (p99 of back-to-back
  // sales 2.9-4.3 ms against 0.85-1.0 ms). So the background thread checkpoints in the pauses
  // between sales (commit_held_if_due), and only a WAL 4x larger wakes it while they go on.
  const int64_t base = l->options_.checkpoint_pages;
  const int64_t defer = l->group_held_ && l->redo_sync_ ? 4 : 1;
  raise_max(l->stats_.max_wal_pages, pages);
  if (pages >= kForegroundCheckpointFactor * base) {
    // The background checkpoints did not complete (see checkpointer_loop), so the WAL did
    // not start over. No other writer of this process can run now, so this checkpoint
    // completes, and cheaply (the background thread copied most frames); the next write
    // then starts the WAL over. Only sustained writes get here.
    const auto began = std::chrono::steady_clock::now();
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    l->stats_.foreground_checkpoints.fetch_add(1, std::memory_order_relaxed);
    raise_max(l->stats_.max_foreground_checkpoint_us, micros_since(began));
    l->ckpt_triggered_at_pages_ = 0;
    l->ckpt_deferred_ = false;
  } else if (pages < l->ckpt_triggered_at_pages_) {
    l->ckpt_triggered_at_pages_ = 0;  // the WAL started over
    l->ckpt_deferred_ = false;
  } else if (pages >= base && pages - l->ckpt_triggered_at_pages_ >= base) {
    if (pages - l->ckpt_triggered_at_pages_ < base * defer) {
      l->ckpt_deferred_ = true;  // at the next pause (commit_held_if_due)
    } else {
      l->wake_checkpoint(pages);
    }
  }
  return SQLITE_OK;
}

void SqliteLedger::wake_checkpoint(int64_t pages) {
  ckpt_triggered_at_pages_ = pages;
  ckpt_deferred_ = false;
  std::lock_guard lock(ckpt_mu_);
  ckpt_wanted_ = true;
  ckpt_cv_.notify_one();
}

void SqliteLedger::end_group() {
  if (!group_open_) return;
  const bool unrecorded = sqlite3_total_changes64(db_) != group_changes_;
  redo_capture_ = false;
  redo_written_offset_ = -1;
  std::optional<StoreFailure> failure;
  if (sqlite3_get_autocommit(db_) != 0) {
    failure.emplace(ErrorCode::kUnavailable, "the ledger rolled back a transaction after an error");
  } else {
    try {
      // A large group is made durable by its redo record; a small one by an fsync of the
      // WAL after its COMMIT (LedgerOptions::redo_min_bytes). Our writers wait for it
      // under mu_; another process may see the commit a moment before it is durable.
      // A held group's members wrote their own records; what is left unrecorded (a member
      // whose record would have started the log over, commit_held) is made durable by an
      // fsync of the WAL. With synchronous = normal every other group takes the log (its
      // records are not synced): an unrecorded commit could be lost by a power cut while
      // later records survive, and they would then be re-run on the wrong state.
      const bool by_redo = redo_ && !group_held_ && !redo_payload_.empty() &&
                           (static_cast<int64_t>(redo_payload_.size()) >= options_.redo_min_bytes || !redo_sync_);
      if (by_redo) write_redo();
      const auto began = std::chrono::steady_clock::now();
      // Rows changed (triggers included) since the group began, or since its last record:
      // a recorded statement that matched no row changed nothing either, and leaves
      // nothing to make durable.
      // After a failed sync of the log (RedoSyncer::failed) the WAL's fsync makes every
      // group durable, whatever its records.
      const bool wrote = sqlite3_total_changes64(db_) != group_changes_ || (syncer_ && syncer_->failed());
      if (group_held_ && group_sync_ticket_ != 0) {
        // Nothing another connection or the hub could see may vanish: the group's request
        // records are on disk before its COMMIT (usually long since).
        syncer_->wait(group_sync_ticket_);
      }
      if (group_held_ && group_records_ > 0) {
        // The members' records are all before this point: a scan after a crash starts here.
        auto q = stmt(Stmt::kPutRedoNext);
        q.bind_copy(1, format_redo_next({redo_next_seq_, redo_next_offset_, redo_log_id_}));
        q.run();
      }
      stmt(Stmt::kCommit).run();
      if (redo_ && !by_redo && wrote && (redo_sync_ || group_held_)) {
        sync_wal();
        stats_.wal_syncs.fetch_add(1, std::memory_order_relaxed);
      }
      stats_.commits.fetch_add(1, std::memory_order_relaxed);
      if (group_held_) stats_.held_commits.fetch_add(1, std::memory_order_relaxed);
      raise_max(stats_.max_commit_us, micros_since(began));
      if (redo_written_offset_ >= 0) {
        redo_next_offset_ = redo_written_offset_ + RedoLog::kHeaderBytes + static_cast<int64_t>(redo_payload_.size());
        ++redo_next_seq_;
      }
    } catch (const StoreFailure& f) {
      failure = f;
      if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      // The record must not be taken for a committed transaction by a later scan.
      if (redo_written_offset_ >= 0) redo_->invalidate(redo_written_offset_);
    }
  }
  if (failure && group_held_ && group_records_ > 0) {
    // Members were acknowledged on their records: put them back from the log. The member
    // left unrecorded (if any) still gets the failure.
    group_open_ = false;
    recover_held_group();
    if (broken_.empty() && !unrecorded) failure.reset();
  }
  if (group_held_ && projection_) projection_->release_uncommitted();
  group_held_ = false;
  group_records_ = 0;
  group_sync_ticket_ = 0;
  held_since_.store(0, std::memory_order_relaxed);
  redo_payload_.clear();
  if (failure) {
    last_seq_.clear();  // whatever SQLite did, the cached counters are suspect
    try {
      reload_node_epoch();
    } catch (...) {
    }
  }
  group_open_ = false;
  settle_projection();  // committed or rolled back: reads may fill again
  {
    std::lock_guard lock(group_mu_);
    groups_ended_ = group_id_;
    if (failure) {
      group_failures_.emplace(group_id_, std::make_pair(failure->code(), std::string(failure->what())));
      // Members look their group up as soon as they wake; old records only matter to a
      // thread that slept through a thousand commits.
      while (group_failures_.size() > 1024) group_failures_.erase(group_failures_.begin());
    }
  }
  group_cv_.notify_all();
  if (failure) throw *failure;
}

void SqliteLedger::end_held_read() noexcept {
  if (!read_held_) return;
  read_held_ = false;
  read_held_hint_.store(false, std::memory_order_relaxed);
  if (sqlite3_get_autocommit(db_) != 0) return;  // SQLite ended it (an error)
  try {
    stmt(Stmt::kCommit).run();  // ends a read: cannot lose anything
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void SqliteLedger::settle_group() noexcept {
  end_held_read();
  try {
    end_group();
  } catch (...) {
    // Reported to the group's members, who own the error.
  }
}

void SqliteLedger::wait_for_group(uint64_t id) {
  std::unique_lock lock(group_mu_);
  group_cv_.wait(lock, [&] { return groups_ended_ >= id; });
  if (auto it = group_failures_.find(id); it != group_failures_.end()) {
    throw StoreFailure(it->second.first, "the shared commit failed: " + it->second.second);
  }
}

SqliteLedger::Stats SqliteLedger::stats() const {
  Stats s;
  s.commits = stats_.commits.load(std::memory_order_relaxed);
  s.max_commit_us = stats_.max_commit_us.load(std::memory_order_relaxed);
  s.background_checkpoints = stats_.background_checkpoints.load(std::memory_order_relaxed);
  s.max_background_checkpoint_us = stats_.max_background_checkpoint_us.load(std::memory_order_relaxed);
  s.foreground_checkpoints = stats_.foreground_checkpoints.load(std::memory_order_relaxed);
  s.max_foreground_checkpoint_us = stats_.max_foreground_checkpoint_us.load(std::memory_order_relaxed);
  s.max_wal_pages = stats_.max_wal_pages.load(std::memory_order_relaxed);
  s.redo_records = stats_.redo_records.load(std::memory_order_relaxed);
  s.wal_syncs = stats_.wal_syncs.load(std::memory_order_relaxed);
  s.max_redo_write_us = stats_.max_redo_write_us.load(std::memory_order_relaxed);
  s.redo_rotations = stats_.redo_rotations.load(std::memory_order_relaxed);
  s.redo_replayed = stats_.redo_replayed.load(std::memory_order_relaxed);
  s.held_commits = stats_.held_commits.load(std::memory_order_relaxed);
  s.request_records = stats_.request_records.load(std::memory_order_relaxed);
  s.requests_replayed = stats_.requests_replayed.load(std::memory_order_relaxed);
  s.requests_skipped = stats_.requests_skipped.load(std::memory_order_relaxed);
  s.held_recoveries = stats_.held_recoveries.load(std::memory_order_relaxed);
  s.held_repairs = stats_.held_repairs.load(std::memory_order_relaxed);
  s.reads = stats_.reads.load(std::memory_order_relaxed);
  s.reads_reused = stats_.reads_reused.load(std::memory_order_relaxed);
  s.projection_hits = stats_.projection_hits.load(std::memory_order_relaxed);
  s.projection_misses = stats_.projection_misses.load(std::memory_order_relaxed);
  s.projection_clears = stats_.projection_clears.load(std::memory_order_relaxed);
  s.preloads = stats_.preloads.load(std::memory_order_relaxed);
  s.preloaded_accounts = stats_.preloaded_accounts.load(std::memory_order_relaxed);
  s.last_preload_ms = stats_.last_preload_ms.load(std::memory_order_relaxed);
  return s;
}

// ---- redo mode ----------------------------------------------------------------------------

bool SqliteLedger::load_redo_next() {
  redo_next_seq_ = 1;
  redo_next_offset_ = 0;
  redo_log_id_ = 0;
  auto q = stmt(Stmt::kGetRedoNext);
  if (!q.step()) return false;
  const std::string v = q.text(0);
  const auto next = parse_redo_next(v);
  if (!next) throw StoreFailure(ErrorCode::kInternal, "the ledger's meta.redo_next '" + v + "' is corrupt");
  redo_next_seq_ = next->seq;
  redo_next_offset_ = next->offset;
  redo_log_id_ = next->log_id;
  return true;
}

// The log's id is durable before any record: a record is only ever read back with it.
void SqliteLedger::ensure_redo_id() {
  std::lock_guard lock(mu_);
  if (load_redo_next()) return;
  exec("BEGIN IMMEDIATE");
  try {
    if (!load_redo_next()) {  // again, under the write lock
      unsigned long long id = 0;
      std::sscanf(random_hex(8).c_str(), "%16llx", &id);
      auto q = stmt(Stmt::kPutRedoNext);
      q.bind_copy(1, format_redo_next({1, 0, id}));
      q.run();
    }
    exec("COMMIT");
  } catch (...) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  sync_wal();
  load_redo_next();
}

// Holding mu_, inside the group's transaction: the record, then where the next one goes.
void SqliteLedger::write_redo() {
  int64_t offset = redo_next_offset_;
  if (offset > 0 && offset + static_cast<int64_t>(redo_payload_.size()) > options_.redo_rotate_bytes) {
    // Start the file over. The records before this one will not be needed again once every
    // commit so far is durable; a scan that does not find this record where meta says
    // looks at offset 0 (redo_log.h).
    sync_wal();
    offset = 0;
    stats_.redo_rotations.fetch_add(1, std::memory_order_relaxed);
  }
  const auto began = std::chrono::steady_clock::now();
  redo_->append(offset, redo_next_seq_, redo_log_id_, redo_payload_);
  redo_written_offset_ = offset;
  stats_.redo_records.fetch_add(1, std::memory_order_relaxed);
  raise_max(stats_.max_redo_write_us, micros_since(began));
  const int64_t next = offset + RedoLog::kHeaderBytes + static_cast<int64_t>(redo_payload_.size());
  auto q = stmt(Stmt::kPutRedoNext);  // not captured: redo_capture_ is off
  q.bind_copy(1, format_redo_next({redo_next_seq_ + 1, next, redo_log_id_}));
  q.run();
}

// ---- held groups (LedgerOptions::hold_commit_ms) -----------------------------------------

// When the open held group is due: hold_commit_ms after it began, at the latest, and with
// `idle`, hold_idle_us after its last member. From the atomics, so that the background
// thread can ask without the connection's mutex. max(): no held group is open.
std::chrono::steady_clock::time_point SqliteLedger::held_deadline(bool idle) const {
  using Clock = std::chrono::steady_clock;
  const int64_t since = held_since_.load(std::memory_order_relaxed);
  if (since == 0) return Clock::time_point::max();
  const auto old = Clock::time_point(Clock::duration(since)) + std::chrono::milliseconds(options_.hold_commit_ms);
  if (!idle) return old;
  const auto last = Clock::time_point(Clock::duration(held_last_member_.load(std::memory_order_relaxed)));
  return std::min(old, last + std::chrono::microseconds(options_.hold_idle_us));
}

// On the background thread: a held group no write came to COMMIT. A write in progress
// COMMITs it itself when it ends (after_member), so a busy connection is not waited for long.
void SqliteLedger::commit_held_if_due() {
  if (std::chrono::steady_clock::now() < held_deadline(/*idle=*/true)) return;
  std::unique_lock conn(mu_, std::chrono::milliseconds(1));
  if (!conn.owns_lock()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // then look again
    return;
  }
  if (!held_group_due(/*idle=*/true)) return;
  settle_group();
  // A pause in the writes: the time for a checkpoint that on_wal_commit() put off.
  if (ckpt_deferred_) wake_checkpoint(ckpt_triggered_at_pages_ + options_.checkpoint_pages);
}

std::optional<int64_t> SqliteLedger::member_record_offset(size_t bytes) {
  if (redo_next_offset_ == 0 || redo_next_offset_ + static_cast<int64_t>(bytes) <= options_.redo_rotate_bytes) {
    return redo_next_offset_;
  }
  // The log starts over. Records of earlier members of this group would be lost to a scan
  // from offset 0: COMMIT the group instead (commit_held).
  if (group_records_ > 0) return std::nullopt;
  // Alone in the group: only this member's work is uncommitted, and this record holds it.
  sync_wal();
  stats_.redo_rotations.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void SqliteLedger::passed_member_record(int64_t offset, size_t bytes) {
  // meta.redo_next moves past the group's last record once, when the group COMMITs
  // (end_group): it only counts committed, and an UPDATE per member cost ~2 % of a request.
  stats_.redo_records.fetch_add(1, std::memory_order_relaxed);
  redo_next_offset_ = offset + RedoLog::kHeaderBytes + static_cast<int64_t>(bytes);
  ++redo_next_seq_;
  ++group_records_;
}

bool SqliteLedger::record_member() {
  if (redo_payload_.empty()) return true;  // wrote nothing: nothing to make durable
  const auto offset = member_record_offset(redo_payload_.size());
  if (!offset) return false;
  const auto began = std::chrono::steady_clock::now();
  redo_->append(*offset, redo_next_seq_, redo_log_id_, redo_payload_, redo_sync_);
  raise_max(stats_.max_redo_write_us, micros_since(began));
  passed_member_record(*offset, redo_payload_.size());
  group_changes_ = sqlite3_total_changes64(db_);
  redo_payload_.clear();
  return true;
}

bool SqliteLedger::log_request(std::string_view record, uint64_t& ticket) {
  // With synchronous = full the record is synced by the syncer (none: after a failed sync,
  // the WAL's fsyncs make each group durable); with normal it is written, not synced, as
  // the statement records were.
  if (redo_sync_ && (syncer_ == nullptr || syncer_->failed())) return false;
  request_payload_.assign(kRequestRecordTag);
  request_payload_.append(record);
  const auto offset = member_record_offset(request_payload_.size());
  if (!offset) return false;  // this member records its statements, which start the log over
  redo_->write(*offset, redo_next_seq_, redo_log_id_, request_payload_, /*reserved=*/redo_sync_);
  if (syncer_) {
    ticket = syncer_->ask();
    group_sync_ticket_ = ticket;
  }
  stats_.request_records.fetch_add(1, std::memory_order_relaxed);
  passed_member_record(*offset, request_payload_.size());
  return true;
}

// A request whose re-run fails for a reason other than the disk (a malformed record, an
// error of the rules) failed the same way when it first ran, so it was never acknowledged:
// its savepoint is rolled back and the re-run goes on. Noted for the host's log.
void SqliteLedger::skip_request(int64_t seq, const std::string& why) {
  stats_.requests_skipped.fetch_add(1, std::memory_order_relaxed);
  skipped_requests_.push_back("request record " + std::to_string(seq) + ": " + why);
  if (skipped_requests_.size() > 100) skipped_requests_.erase(skipped_requests_.begin());
}

std::vector<std::string> SqliteLedger::take_skipped_requests() {
  std::lock_guard lock(mu_);
  return std::exchange(skipped_requests_, {});
}

void SqliteLedger::set_request_executor(RequestExecutor executor) {
  std::lock_guard lock(mu_);
  executor_ = std::move(executor);
  if (!requests_pending_) return;
  std::unique_ptr<RedoLog> own;
  RedoLog* log = redo_.get();
  if (log == nullptr) {
    own = std::make_unique<RedoLog>(options_.path + "-redo");
    log = own.get();
  }
  replay_redo_locked(log);
  requests_pending_ = false;
  if (projection_) {
    // Its load (begun at open) may have read the ledger without the re-run requests.
    projection_->clear();
    stats_.projection_clears.fetch_add(1, std::memory_order_relaxed);
    touched_.first.clear();
    touched_.second.clear();
    wake_projection_thread(/*full=*/true);
  }
}

bool SqliteLedger::held_group_due(bool idle) const {
  if (!group_open_ || !group_held_) return false;
  return group_members_ >= options_.hold_max_members || std::chrono::steady_clock::now() >= held_deadline(idle);
}

void SqliteLedger::after_member() noexcept {
  held_last_member_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  settle_projection(/*uncommitted=*/true);
  if (held_group_due()) settle_group();
}

void SqliteLedger::recover_held_group() {
  stats_.held_recoveries.fetch_add(1, std::memory_order_relaxed);
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  group_open_ = false;
  group_held_ = false;
  group_records_ = 0;
  group_sync_ticket_ = 0;
  redo_payload_.clear();
  redo_capture_ = false;
  held_since_.store(0, std::memory_order_relaxed);
  // What this connection kept of the ledger may name work that is gone until the re-run.
  last_seq_.clear();
  if (projection_) {
    projection_->release_uncommitted();
    projection_->clear();
    stats_.projection_clears.fetch_add(1, std::memory_order_relaxed);
  }
  touched_.first.clear();
  touched_.second.clear();
  try {
    load_redo_next();
    replay_redo_locked(redo_.get());
    reload_node_epoch();
    if (projection_) {
      touched_.first.clear();  // the re-run's notes: the projection is empty anyway
      touched_.second.clear();
      wake_projection_thread(/*full=*/true);
    }
  } catch (const std::exception& e) {
    broken_ = std::string("the ledger could not COMMIT writes it had acknowledged, nor re-run them from its redo "
                          "log (") + e.what() + "); they are in " + options_.path +
              "-redo; the ledger tries again every " + std::to_string(kBrokenRetry.count()) +
              " ms, and applies them when it is opened again";
    broken_retry_at_ = std::chrono::steady_clock::now() + kBrokenRetry;
  }
}

void SqliteLedger::check_not_broken() {
  if (broken_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now >= broken_retry_at_) {
    // Calls are refused meanwhile, so the log still ends with the acknowledged members,
    // and meta.redo_next says where they begin (another process may have re-run them).
    broken_.clear();
    recover_held_group();  // sets broken_ and the next retry again when it fails
    if (broken_.empty()) {
      stats_.held_repairs.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  throw StoreFailure(ErrorCode::kUnavailable, broken_);
}

void SqliteLedger::sync_wal() {
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || wal == nullptr ||
      wal->pMethods == nullptr) {
    return;  // no WAL open: nothing committed is outside the (synced) database file
  }
  const int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) {
    const int os_errno = sqlite3_system_errno(db_);
    fail(db_, rc, "fsync of the WAL", os_errno != 0 ? std::strerror(os_errno) : sqlite3_errstr(rc));
  }
}

// At open, before migrations: re-runs the records the database lacks (after a power cut),
// in one transaction. Runs whenever a redo log exists, whatever the durability setting now.
void SqliteLedger::replay_redo() {
  std::unique_ptr<RedoLog> own;
  RedoLog* log = redo_.get();
  if (log == nullptr) {
    const std::string path = options_.path + "-redo";
    if (options_.path.empty() || options_.path == ":memory:" || !std::filesystem::exists(path)) return;
    own = std::make_unique<RedoLog>(path);
    log = own.get();
  }
  std::lock_guard lock(mu_);
  replay_redo_locked(log);
}

void SqliteLedger::replay_redo_locked(RedoLog* log) {
  if (read_schema_version(*this) == 0) return;  // a new file: nothing to re-run
  exec("BEGIN IMMEDIATE");
  std::unordered_map<std::string_view, sqlite3_stmt*> prepared;
  auto finalize_all = [&] {
    for (auto& [sql, st] : prepared) sqlite3_finalize(st);
    prepared.clear();
  };
  try {
    if (!load_redo_next()) {  // never in redo mode: no record can be this ledger's
      exec("COMMIT");
      return;
    }
    int64_t seq = redo_next_seq_, offset = redo_next_offset_;
    const uint64_t id = redo_log_id_;
    std::optional<std::string> record = log->read_first(offset, seq, id);
    std::deque<std::string> payloads;  // the prepared statements' keys point into these
    uint64_t replayed = 0;
    bool stopped = false;
    while (record) {
      if (is_request_record(*record)) {
        if (!executor_) {
          stopped = true;  // open, before the host installed its executor: it goes on from here
          break;
        }
        // A request: run again as it first ran (the same clock, seed and program), against
        // the state it first ran on, it writes the same rows.
        try {
          SqliteTx tx(*this, SqliteTx::Replay{});
          executor_(tx, std::string_view(*record).substr(kRequestRecordTag.size()));
        } catch (const StoreFailure& f) {
          if (f.code() == ErrorCode::kUnavailable) {  // a full disk, a busy ledger: all of it again later
            throw StoreFailure(ErrorCode::kUnavailable, "re-running request record " + std::to_string(seq) + " of " +
                                                            log->path() + ": " + f.what());
          }
          skip_request(seq, f.what());
        } catch (const std::exception& e) {
          skip_request(seq, e.what());
        }
        offset += RedoLog::kHeaderBytes + static_cast<int64_t>(record->size());
        ++seq;
        ++replayed;
        stats_.requests_replayed.fetch_add(1, std::memory_order_relaxed);
        record = log->read(offset, seq, id);
        continue;
      }
      payloads.push_back(std::move(*record));
      const std::string& payload = payloads.back();
      for (const RedoStatement& st : decode_redo(payload, seq)) {
        auto it = prepared.find(st.sql);
        if (it == prepared.end()) {
          sqlite3_stmt* p = nullptr;
          const int rc = sqlite3_prepare_v2(db_, st.sql.data(), static_cast<int>(st.sql.size()), &p, nullptr);
          if (rc != SQLITE_OK) fail(db_, rc, "redo record " + std::to_string(seq) + ": prepare " + std::string(st.sql));
          it = prepared.emplace(st.sql, p).first;
        }
        sqlite3_stmt* p = it->second;
        for (const RedoParam& prm : st.params) {
          int rc = SQLITE_OK;
          switch (prm.type) {
            case RedoParam::Type::kInt: rc = sqlite3_bind_int64(p, prm.index, prm.i); break;
            case RedoParam::Type::kText:
              rc = sqlite3_bind_text(p, prm.index, prm.bytes.data(), static_cast<int>(prm.bytes.size()), SQLITE_STATIC);
              break;
            case RedoParam::Type::kBlob:
              rc = sqlite3_bind_blob(p, prm.index, prm.bytes.data(), static_cast<int>(prm.bytes.size()), SQLITE_STATIC);
              break;
            case RedoParam::Type::kNull: rc = sqlite3_bind_null(p, prm.index); break;
          }
          if (rc != SQLITE_OK) fail(db_, rc, "redo record " + std::to_string(seq) + ": bind");
        }
        int rc;
        while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        }
        sqlite3_reset(p);
        sqlite3_clear_bindings(p);
        if (rc != SQLITE_DONE) {
          fail(db_, rc, "re-running redo record " + std::to_string(seq) + " of " + log->path() + " (" +
                            std::string(st.sql.substr(0, 60)) +
                            "); if this ledger was restored from a copy, move that file away and open it again");
        }
      }
      offset += RedoLog::kHeaderBytes + static_cast<int64_t>(payload.size());
      ++seq;
      ++replayed;
      record = log->read(offset, seq, id);
    }
    if (replayed > 0) {
      auto q = stmt(Stmt::kPutRedoNext);
      q.bind_copy(1, format_redo_next({seq, offset, id}));
      q.run();
    }
    finalize_all();
    exec("COMMIT");
    if (replayed > 0) sync_wal();
    redo_next_seq_ = seq;
    redo_next_offset_ = offset;
    requests_pending_ = stopped;
    stats_.redo_replayed.fetch_add(replayed, std::memory_order_relaxed);
  } catch (...) {
    finalize_all();
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteLedger::start_checkpointer() {
  if (sqlite3_open_v2(options_.path.c_str(), &ckpt_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      wal_coalescing_vfs_name()) != SQLITE_OK) {
    sqlite3_close_v2(ckpt_db_);
    ckpt_db_ = nullptr;
    std::lock_guard lock(mu_);
    hold_mode_ = false;  // no thread to COMMIT a held group that no write comes to
    return;  // the main connection keeps SQLite's own auto-checkpoint
  }
  sqlite3_busy_timeout(ckpt_db_, 100);
  static const char* kSync[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                "PRAGMA synchronous=FULL", "PRAGMA synchronous=EXTRA"};
  sqlite3_exec(ckpt_db_, kSync[std::clamp(options_.synchronous, 0, 3)], nullptr, nullptr, nullptr);
  sqlite3_wal_hook(db_, &SqliteLedger::on_wal_commit, this);  // replaces the auto-checkpoint
  ckpt_thread_ = std::thread([this] { checkpointer_loop(); });
}

void SqliteLedger::checkpointer_loop() {
  using Clock = std::chrono::steady_clock;
  const auto idle = std::chrono::milliseconds(options_.idle_wake_ms);
  std::unique_lock lock(ckpt_mu_);
  auto idle_at = Clock::now() + idle;
  while (!ckpt_stop_) {
    // Wakes to checkpoint (asked, or idle_wake_ms passed) and to COMMIT a held group that
    // is hold_commit_ms old with no write coming to do it.
    const auto due = std::min(idle_at, held_deadline(/*idle=*/true));
    ckpt_cv_.wait_until(lock, due, [this] { return ckpt_wanted_ || ckpt_stop_ || hold_wake_; });
    if (ckpt_stop_) break;
    hold_wake_ = false;
    const bool checkpoint = ckpt_wanted_ || Clock::now() >= idle_at;
    if (!checkpoint) {
      lock.unlock();
      commit_held_if_due();
      lock.lock();
      continue;
    }
    ckpt_wanted_ = false;
    idle_at = Clock::now() + idle;
    lock.unlock();
    commit_held_if_due();
    if (read_held_hint_.load(std::memory_order_relaxed)) {
      // A read the POS left open for reuse keeps the WAL from starting over: end it once
      // it is too old to be reused anyway. try_lock: a busy connection ends it itself.
      std::unique_lock conn(mu_, std::try_to_lock);
      if (conn && read_held_ &&
          std::chrono::steady_clock::now() - read_began_ >= std::chrono::microseconds(options_.read_reuse_us)) {
        end_held_read();
      }
    }
    // PASSIVE: copies the WAL without waiting for or blocking the POS writers. It stops at
    // the frames that existed when it started, and the WAL starts over only once a
    // checkpoint has copied everything: between sales that is the case. Under a steady
    // stream of sales it never is, and the WAL would grow without bound (measured: 343 MB
    // after 5k back-to-back sales, commits 2x slower); on_wal_commit() bounds it.
    // (Finishing here under mu_ instead was measured worse: the writers' mutex is not fair,
    // so this thread waited while the WAL grew to 50-65 MB, then stalled a sale 11-17 ms.)
    const auto began = std::chrono::steady_clock::now();
    sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    stats_.background_checkpoints.fetch_add(1, std::memory_order_relaxed);
    raise_max(stats_.max_background_checkpoint_us, micros_since(began));
    lock.lock();
  }
}

SqliteLedger::~SqliteLedger() {
  if (preload_thread_.joinable()) {
    {
      std::lock_guard lock(preload_mu_);  // so that the thread cannot miss the notify
      preload_stop_ = true;
    }
    preload_cv_.notify_one();  // a load in progress sees preload_stop_ at its next row
    preload_thread_.join();
  }
  {
    std::lock_guard lock(mu_);
    settle_group();
  }
  if (ckpt_thread_.joinable()) {
    {
      std::lock_guard lock(ckpt_mu_);
      ckpt_stop_ = true;
      ckpt_cv_.notify_one();
    }
    ckpt_thread_.join();
  }
  if (ckpt_db_) sqlite3_close_v2(ckpt_db_);
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);  // finalize(nullptr) is a no-op
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  if (db_) {
    forget_io_failures(db_);
    sqlite3_close_v2(db_);
  }
}

void SqliteLedger::set_busy_deadline(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  sqlite3_busy_timeout(db_, static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX)));
}

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_write() { return begin_write_tx(/*bulk=*/false); }

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_bulk_write() { return begin_write_tx(/*bulk=*/true); }

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_write_tx(bool bulk) {
  if (options_.read_only) throw StoreFailure(ErrorCode::kUnavailable, "the ledger is open read-only");
  return std::make_unique<SqliteTx>(*this, true, bulk);
}

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_read() { return std::make_unique<SqliteTx>(*this, false); }

void SqliteLedger::quarantine(const app::QuarantineRow& row) {
  if (options_.read_only) return;
  SqliteTx tx(*this, true);
  tx.put_quarantine(row);
  tx.commit();
  // The contract names the quarantine table: whoever looks there (an admin, a test) sees the
  // row at once, not when the held group would end.
  flush();
}

// ---- the balance projection (ledger/src/balance_projection.h) -----------------------------

namespace {

// loyalty_touch(account_id, ref): called by the TEMP triggers below for every row a write
// of this connection changes in the tables balance.query reads; notes them for forget().
void projection_touch(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto* touched = static_cast<std::pair<std::vector<std::string>, std::vector<std::string>>*>(sqlite3_user_data(ctx));
  try {
    for (int i = 0; i < argc && i < 2; ++i) {
      if (sqlite3_value_type(argv[i]) == SQLITE_NULL) continue;
      const auto* t = reinterpret_cast<const char*>(sqlite3_value_text(argv[i]));
      (i == 0 ? touched->first : touched->second).emplace_back(t ? t : "", static_cast<size_t>(sqlite3_value_bytes(argv[i])));
    }
  } catch (...) {
    sqlite3_result_error_nomem(ctx);  // the write fails (and rolls back) rather than go unnoted
  }
}

// One trigger per table and change, on the columns a BalanceView holds; UPDATE notes the
// old and the new row's keys.
constexpr const char* kProjectionTriggers = R"sql(
CREATE TEMP TRIGGER loyalty_proj_accounts_i AFTER INSERT ON main.accounts
BEGIN SELECT loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_accounts_u AFTER UPDATE OF account_id, category, balance ON main.accounts
BEGIN SELECT loyalty_touch(OLD.account_id, NULL), loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_accounts_d AFTER DELETE ON main.accounts
BEGIN SELECT loyalty_touch(OLD.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_aliases_i AFTER INSERT ON main.aliases
BEGIN SELECT loyalty_touch(NEW.account_id, NEW.ref); END;
CREATE TEMP TRIGGER loyalty_proj_aliases_u AFTER UPDATE ON main.aliases
BEGIN SELECT loyalty_touch(OLD.account_id, OLD.ref), loyalty_touch(NEW.account_id, NEW.ref); END;
CREATE TEMP TRIGGER loyalty_proj_aliases_d AFTER DELETE ON main.aliases
BEGIN SELECT loyalty_touch(OLD.account_id, OLD.ref); END;
CREATE TEMP TRIGGER loyalty_proj_lots_i AFTER INSERT ON main.lots
BEGIN SELECT loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_lots_u AFTER UPDATE OF account_id, expires_at_ms, expires_offset, remaining ON main.lots
BEGIN SELECT loyalty_touch(OLD.account_id, NULL), loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_lots_d AFTER DELETE ON main.lots
BEGIN SELECT loyalty_touch(OLD.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_holds_i AFTER INSERT ON main.holds
BEGIN SELECT loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_holds_u AFTER UPDATE OF account_id, points, status, created_offset,
  business_deadline_ms, wall_deadline_ms ON main.holds
BEGIN SELECT loyalty_touch(OLD.account_id, NULL), loyalty_touch(NEW.account_id, NULL); END;
CREATE TEMP TRIGGER loyalty_proj_holds_d AFTER DELETE ON main.holds
BEGIN SELECT loyalty_touch(OLD.account_id, NULL); END;
)sql";

}  // namespace

void SqliteLedger::start_projection() {
  std::lock_guard lock(mu_);
  auto projection = std::make_unique<BalanceProjection>();
  int rc = sqlite3_create_function_v2(db_, "loyalty_touch", 2, SQLITE_UTF8, &touched_, &projection_touch,
                                      nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, "create loyalty_touch");
  exec(kProjectionTriggers);
  projection_ = std::move(projection);
  if (options_.preload_balances) {
    preload_wanted_ = true;
    preload_thread_ = std::thread([this] { projection_loop(); });
  }
}

void SqliteLedger::settle_projection(bool uncommitted) noexcept {
  if (!projection_ || (touched_.first.empty() && touched_.second.empty())) return;
  last_commit_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  try {
    for (auto* v : {&touched_.first, &touched_.second}) {  // a sale notes its account 3-5 times
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    const size_t forgotten = projection_->forget(touched_.first, touched_.second, uncommitted);
    if (options_.reload_after_forgotten > 0 && forgotten >= static_cast<size_t>(options_.reload_after_forgotten)) {
      wake_projection_thread(/*full=*/false);
    }
  } catch (...) {
    projection_->clear();  // out of memory: forget everything rather than keep a stale view
  }
  touched_.first.clear();
  touched_.second.clear();
}

void SqliteLedger::wake_projection_thread(bool full) noexcept {
  if (!preload_thread_.joinable()) return;
  {
    std::lock_guard lock(preload_mu_);
    bool& wanted = full ? preload_wanted_ : reload_wanted_;
    if (wanted) return;  // asked already (a wake-up per sale costs the writer a system call)
    wanted = true;
  }
  preload_cv_.notify_one();
}

void SqliteLedger::observe_data_version() {
  int64_t v = -2;  // unknown: drop everything now, and again at the next look
  std::exception_ptr failure;
  try {
    auto q = stmt(Stmt::kDataVersion);
    q.step();
    v = q.i64(0);
  } catch (...) {
    failure = std::current_exception();
  }
  if (v != data_version_ || v < 0) {
    data_version_ = v;
    last_seq_.clear();
    if (projection_) {
      projection_->clear();
      stats_.projection_clears.fetch_add(1, std::memory_order_relaxed);
      wake_projection_thread(/*full=*/true);
    }
    if (!failure) {
      reload_node_epoch();  // another connection may have started a new epoch
      if (redo_) load_redo_next();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

namespace {

// A statement of the projection thread's connection.
class PStmt {
 public:
  PStmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~PStmt() { sqlite3_finalize(s_); }
  PStmt(const PStmt&) = delete;
  PStmt& operator=(const PStmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  sqlite3_stmt* get() const { return s_; }
  // Binds `text` to ?1 for a new run.
  void start(const std::string& text) {
    sqlite3_reset(s_);
    sqlite3_bind_text(s_, 1, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  // SQLITE_ROW, SQLITE_DONE or an error.
  int step() { return sqlite3_step(s_); }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::string_view view(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return {p ? p : "", static_cast<size_t>(sqlite3_column_bytes(s_, c))};
  }
  std::string text(int c) const { return std::string(view(c)); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// A load waits until no commit has come for this long: longer than a replay's checkpoint
// stalls (55-70 ms), which started loads that the next commit then cut short.
constexpr std::chrono::milliseconds kReloadQuiet{250};

}  // namespace

void SqliteLedger::projection_loop() {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::milliseconds(options_.preload_interval_ms);
  Clock::time_point last_external{};
  sqlite3* pdb = nullptr;
  bool loading = false;  // a load is due: at open, after many own writes, after an emptying
  LoadPosition position;
  std::unique_lock lock(preload_mu_);
  while (!preload_stop_.load()) {
    // After another process's commit emptied it (and at open): at once the first time, then
    // at most every preload_interval_ms (one that commits often would have us scan the
    // ledger each time). It starts over: nothing of the projection is left.
    if (preload_wanted_ && (last_external == Clock::time_point{} || Clock::now() >= last_external + interval)) {
      preload_wanted_ = false;
      last_external = Clock::now();
      loading = true;
      position = {};
    }
    if (reload_wanted_) {
      reload_wanted_ = false;
      if (!loading) position = {};
      loading = true;
    }
    if (!loading) {
      if (preload_wanted_) {
        preload_cv_.wait_until(lock, last_external + interval, [this] { return preload_stop_.load() || reload_wanted_; });
      } else {
        preload_cv_.wait(lock, [this] { return preload_stop_.load() || preload_wanted_ || reload_wanted_; });
      }
      continue;
    }
    // Loads run in the pauses of this ledger's commits, and give up at the next one (going
    // on later from the last account installed): beside a steady stream of sales a load
    // took CPU and cache from the writer (a replay lost a sixth of its rate, sales right
    // after open a fifth of their p50).
    const auto quiet_at = Clock::time_point(Clock::duration(last_commit_.load(std::memory_order_relaxed))) + kReloadQuiet;
    if (Clock::now() < quiet_at) {
      preload_cv_.wait_until(lock, quiet_at, [this] { return preload_stop_.load(); });
      continue;
    }
    lock.unlock();
    if (pdb == nullptr &&
        sqlite3_open_v2(options_.path.c_str(), &pdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        wal_coalescing_vfs_name()) != SQLITE_OK) {
      sqlite3_close_v2(pdb);
      pdb = nullptr;
    }
    loading = pdb != nullptr && projection_load(pdb, position);  // interrupted: go on later
    lock.lock();
  }
  lock.unlock();
  sqlite3_close_v2(pdb);
}

// Reads every account after `position` on `pdb`, in one read transaction, and installs
// them a chunk at a time. Gives up as soon as this ledger commits a change (or the ledger
// closes): then true, with `position` where to go on. False when it is over: done, failed
// (the reads fill what it did not install) or emptied meanwhile (a new load is asked for).
bool SqliteLedger::projection_load(sqlite3* pdb, LoadPosition& position) {
  const int64_t commits_at_start = last_commit_.load(std::memory_order_relaxed);
  const auto began = std::chrono::steady_clock::now();
  BalanceProjection& p = *projection_;
  const BalanceProjection::BulkTicket ticket = p.begin_bulk(/*full=*/position.after.empty() && !position.refs_done);
  struct End {
    BalanceProjection& p;
    sqlite3* db;
    ~End() {
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      p.end_bulk();
    }
  } end{p, pdb};
  sqlite3_busy_timeout(pdb, 1000);
  if (sqlite3_exec(pdb, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
  std::vector<app::BalanceView> accounts;
  BalanceProjection::Refs refs;
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, options_.preload_chunk_accounts));
  auto flush = [&] {
    const auto n = p.install(ticket, accounts, refs);
    accounts.clear();
    refs.clear();
    position.installed += n.value_or(0);
    return n.has_value();
  };
  bool interrupted = false;
  auto stopping = [&] {
    interrupted = interrupted || preload_stop_.load(std::memory_order_relaxed) ||
                  last_commit_.load(std::memory_order_relaxed) != commits_at_start;
    return interrupted;
  };

  // Every reference first (the accounts follow in chunks; a reference whose account is not
  // in yet is a miss, as before the load).
  if (!position.refs_done) {
    // Room for all of them at once, so no install rehashes the maps under the lock: the
    // aliases' largest rowid (one b-tree descent) bounds the references, and every account
    // has one.
    PStmt most(pdb, "SELECT max(rowid) FROM aliases");
    if (most.ok() && most.step() == SQLITE_ROW) {
      const auto n = static_cast<size_t>(std::clamp<int64_t>(most.i64(0), 0, 50'000'000));
      p.reserve(n, n);
    }
    PStmt aliases(pdb, "SELECT ref, account_id FROM aliases");
    if (!aliases.ok()) return false;
    int rc = SQLITE_DONE;
    while (!stopping() && (rc = aliases.step()) == SQLITE_ROW) {
      refs.emplace_back(aliases.text(0), aliases.text(1));
      if (refs.size() >= 4 * chunk && !flush()) return interrupted;
    }
    if (rc != SQLITE_DONE || stopping() || !flush()) return interrupted;
    position.refs_done = true;
    position.installed = 0;
  }
  // Accounts, their open lots and active holds: three scans in account_id order, merged.
  // The lots' order within an account is their primary key's, the order in which a debit
  // consumes them (open_lots()); ORDER BY keeps the planner off the lots_due index.
  PStmt acct(pdb, "SELECT account_id, category, balance FROM accounts WHERE account_id > ?1 ORDER BY account_id");
  PStmt lots(pdb, "SELECT account_id, expires_at_ms, expires_offset, remaining FROM lots "
                  "WHERE account_id > ?1 AND remaining > 0 ORDER BY account_id, expires_at_ms, earned_at_ms, lot_id");
  PStmt holds(pdb, "SELECT account_id, points, business_deadline_ms, created_offset, wall_deadline_ms FROM holds "
                   "WHERE account_id > ?1 AND status = 'active' ORDER BY account_id, created_at_ms, hold_id");
  if (!acct.ok() || !lots.ok() || !holds.ok()) return false;
  const std::string after = position.after;  // bound: must outlive the statements' steps
  acct.start(after);
  lots.start(after);
  holds.start(after);
  int lots_rc = lots.step(), holds_rc = holds.step(), rc = SQLITE_DONE;
  while (!stopping() && (rc = acct.step()) == SQLITE_ROW) {
    const std::string_view id = acct.view(0);
    app::BalanceView a{std::string(id), acct.text(1), Points(acct.i64(2)), {}, {}};
    // Rows of an account_id below this one have no account (cannot happen: foreign keys).
    while (lots_rc == SQLITE_ROW && lots.view(0) < id) lots_rc = lots.step();
    for (; lots_rc == SQLITE_ROW && lots.view(0) == id; lots_rc = lots.step()) {
      a.lots.push_back({bt(lots.i64(1), lots.i64(2)), Points(lots.i64(3))});
    }
    while (holds_rc == SQLITE_ROW && holds.view(0) < id) holds_rc = holds.step();
    for (; holds_rc == SQLITE_ROW && holds.view(0) == id; holds_rc = holds.step()) {
      a.holds.push_back({Points(holds.i64(1)), bt(holds.i64(2), holds.i64(3)), holds.i64(4)});
    }
    if ((lots_rc != SQLITE_ROW && lots_rc != SQLITE_DONE) || (holds_rc != SQLITE_ROW && holds_rc != SQLITE_DONE)) {
      return false;  // what is installed stays, the reads fill the rest
    }
    accounts.push_back(std::move(a));
    if (accounts.size() >= chunk) {
      std::string last = accounts.back().account_id;
      if (options_.preload_before_install_for_tests) options_.preload_before_install_for_tests();
      if (!flush()) return interrupted;
      position.after = std::move(last);
    }
  }
  if (rc != SQLITE_DONE || stopping()) return interrupted;
  if (options_.preload_before_install_for_tests) options_.preload_before_install_for_tests();
  if (!flush()) return interrupted;
  stats_.preloads.fetch_add(1, std::memory_order_relaxed);
  stats_.preloaded_accounts.store(position.installed, std::memory_order_relaxed);
  stats_.last_preload_ms.store(micros_since(began) / 1000, std::memory_order_relaxed);
  return false;
}

}  // namespace loyalty::ledger
