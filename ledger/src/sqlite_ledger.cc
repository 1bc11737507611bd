#include "ledger/sqlite_ledger.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>

#include "ledger/migrations.h"

namespace loyalty::ledger {

using app::Account;
using app::EntryRow;
using app::Hold;
using app::StoreFailure;
using domain::BusinessTime;
using domain::ErrorCode;
using domain::Points;

[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what) {
  const int primary = rc & 0xFF;
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw StoreFailure(ErrorCode::kUnavailable, "the ledger is busy (" + what + "): " + detail);
    case SQLITE_FULL:
      throw StoreFailure(ErrorCode::kUnavailable, "disk full writing the ledger (" + what + ")");
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      throw StoreFailure(ErrorCode::kUnavailable, "ledger unavailable (" + what + "): " + detail);
    default:
      throw StoreFailure(ErrorCode::kInternal, "ledger error (" + what + "): " + detail);
  }
}

bool Query::step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, sqlite3_sql(s_));
}

namespace {

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

// A ULID: 48-bit millisecond time + 80 random bits, Crockford base32 (26 characters).
std::string ulid() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  const uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const uint64_t hi = rng() & 0xFFFF;  // 16 random bits
  const uint64_t lo = rng();           // 64 random bits
  std::string out(26, '0');
  // 128 bits: ms (48) | hi (16) | lo (64); 26 chars x 5 bits = 130 bits, top 2 bits zero.
  __extension__ typedef unsigned __int128 u128;
  u128 v = (static_cast<u128>(ms) << 80) | (static_cast<u128>(hi) << 64) | lo;
  for (int i = 25; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kAlphabet[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Hashes travel as hex in the program and are stored as 32-byte blobs.
std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(nib(hex[i]) << 4 | nib(hex[i + 1]));
  return out;
}

std::string bytes_to_hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

BusinessTime bt(int64_t ms, int64_t offset) { return BusinessTime{ms, static_cast<int32_t>(offset)}; }

}  // namespace

// ---------------------------------------------------------------------------------------

class SqliteTx final : public app::LedgerTx {
 public:
  SqliteTx(SqliteLedger& l, bool write) : l_(l), lock_(l.mu_) {
    l_.query(write ? "BEGIN IMMEDIATE" : "BEGIN").run();
  }
  ~SqliteTx() override {
    if (!done_ && sqlite3_get_autocommit(l_.db_) == 0) {
      sqlite3_exec(l_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  // Ends the transaction and releases the connection for other threads.
  void commit() override {
    l_.query("COMMIT").run();
    done_ = true;
    lock_.unlock();
  }

  // ---- idempotency ----
  std::optional<app::StoredRequest> find_request(const std::string& branch, const std::string& id) override {
    auto q = l_.query("SELECT body_hash, code, response_json FROM requests WHERE branch = ?1 AND request_id = ?2");
    q.bind(1, branch).bind(2, id);
    if (!q.step()) return std::nullopt;
    return app::StoredRequest{bytes_to_hex(q.text(0)), static_cast<int>(q.i64(1)), q.text(2)};
  }

  void put_request(const std::string& branch, const std::string& id, const app::StoredRequest& s,
                   int64_t at_ms) override {
    auto q = l_.query(
        "INSERT INTO requests(branch, request_id, body_hash, code, response_json, created_at_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.bind(1, branch).bind(2, id).bind_blob(3, hex_to_bytes(s.body_hash)).bind(4, int64_t{s.code}).bind(5, s.response_json).bind(6, at_ms);
    q.run();
  }

  // ---- accounts ----
  static constexpr const char* kAccountCols =
      "a.account_id, a.category, coalesce(p.birthday, ''), a.balance, a.created_at_ms, a.created_offset, "
      "a.sales_count";

  static Account account_of(Query& q) {
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
    auto q = l_.query(
        "SELECT a.account_id, a.category, coalesce(p.birthday, ''), a.balance, a.created_at_ms, a.created_offset, "
        "a.sales_count FROM aliases s JOIN accounts a ON a.account_id = s.account_id "
        "LEFT JOIN customer_pii p ON p.account_id = a.account_id WHERE s.ref = ?1");
    q.bind(1, ref);
    if (!q.step()) return std::nullopt;
    return account_of(q);
  }

  std::optional<Account> find_account(const std::string& account_id) override {
    auto q = l_.query(
        "SELECT a.account_id, a.category, coalesce(p.birthday, ''), a.balance, a.created_at_ms, a.created_offset, "
        "a.sales_count FROM accounts a LEFT JOIN customer_pii p ON p.account_id = a.account_id "
        "WHERE a.account_id = ?1");
    q.bind(1, account_id);
    if (!q.step()) return std::nullopt;
    return account_of(q);
  }

  Account create_account(const std::string& branch, const std::string& ref, const std::string& category,
                         const BusinessTime& at) override {
    Account a;
    a.account_id = branch + "-" + ulid();
    a.category = category;
    a.created_at = at;
    {
      auto q = l_.query(
          "INSERT INTO accounts(account_id, category, balance, sales_count, created_at_ms, created_offset, "
          "origin_branch) VALUES (?1, ?2, 0, 0, ?3, ?4, ?5)");
      q.bind(1, a.account_id).bind(2, category).bind(3, at.unix_ms).bind(4, int64_t{at.offset_minutes}).bind(5, branch);
      q.run();
    }
    add_alias(a.account_id, ref);
    return a;
  }

  void add_alias(const std::string& account_id, const std::string& ref) override {
    {
      auto q = l_.query("SELECT account_id FROM aliases WHERE ref = ?1");
      q.bind(1, ref);
      if (q.step()) {
        if (q.text(0) == account_id) return;
        throw StoreFailure(ErrorCode::kConflict, "reference '" + ref + "' already belongs to another account");
      }
    }
    auto q = l_.query("INSERT INTO aliases(ref, account_id) VALUES (?1, ?2)");
    q.bind(1, ref).bind(2, account_id);
    q.run();
  }

  std::vector<std::string> aliases(const std::string& account_id) override {
    auto q = l_.query("SELECT ref FROM aliases WHERE account_id = ?1 ORDER BY rowid");
    q.bind(1, account_id);
    std::vector<std::string> out;
    while (q.step()) out.push_back(q.text(0));
    return out;
  }

  void set_category(const std::string& account_id, const std::string& category) override {
    auto q = l_.query("UPDATE accounts SET category = ?2 WHERE account_id = ?1");
    q.bind(1, account_id).bind(2, category);
    q.run();
  }

  void upsert_pii(const std::string& account_id, const app::Pii& pii) override {
    auto q = l_.query(
        "INSERT INTO customer_pii(account_id, name, email, phone, birthday) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(account_id) DO UPDATE SET name = coalesce(?2, name), email = coalesce(?3, email), "
        "phone = coalesce(?4, phone), birthday = coalesce(?5, birthday)");
    q.bind(1, account_id);
    int i = 2;
    for (const auto* v : {&pii.name, &pii.email, &pii.phone, &pii.birthday}) {
      if (*v) q.bind(i, **v);
      ++i;
    }
    q.run();
  }

  void count_sale(const std::string& account_id) override {
    auto q = l_.query("UPDATE accounts SET sales_count = sales_count + 1 WHERE account_id = ?1");
    q.bind(1, account_id);
    q.run();
  }

  // ---- entries, lots ----
  void append_entry(EntryRow& e, const std::vector<domain::Allocation>& allocations,
                    const std::optional<domain::Lot>& new_lot) override {
    {
      auto q = l_.query("SELECT coalesce(max(origin_seq), 0) FROM entries WHERE origin_branch = ?1");
      q.bind(1, e.origin_branch);
      q.step();
      e.origin_seq = q.i64(0) + 1;
    }
    {
      auto q = l_.query(
          "INSERT INTO entries(entry_id, origin_branch, origin_seq, node_epoch, account_id, kind, points, "
          "request_id, branch, ticket, ref_entry_id, business_at_ms, business_offset, recorded_at_ms, "
          "expires_at_ms, expires_offset, program_version, reason, body_hash) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)");
      q.bind(1, e.entry_id).bind(2, e.origin_branch).bind(3, e.origin_seq).bind(4, l_.node_epoch_);
      q.bind(5, e.account_id).bind(6, e.kind).bind(7, e.points.value()).bind(8, e.request_id).bind(9, e.branch);
      q.bind(10, e.ticket).bind(11, e.ref_entry_id).bind(12, e.business_at.unix_ms);
      q.bind(13, int64_t{e.business_at.offset_minutes}).bind(14, e.recorded_at_ms);
      if (e.expires_at) q.bind(15, e.expires_at->unix_ms).bind(16, int64_t{e.expires_at->offset_minutes});
      q.bind(17, e.program_version).bind(18, e.reason).bind_blob(19, hex_to_bytes(e.body_hash));
      q.run();
    }
    {
      auto q = l_.query("UPDATE accounts SET balance = balance + ?2 WHERE account_id = ?1");
      q.bind(1, e.account_id).bind(2, e.points.value());
      q.run();
      if (sqlite3_changes(l_.db_) != 1) {
        throw StoreFailure(ErrorCode::kInternal, "entry " + e.entry_id + " names unknown account " + e.account_id);
      }
    }
    for (const auto& a : allocations) {
      {
        auto q = l_.query(
            "UPDATE lots SET remaining = remaining - ?2 WHERE account_id = ?3 AND lot_id = ?1 AND remaining >= ?2");
        q.bind(1, a.lot_id).bind(2, a.points.value()).bind(3, e.account_id);
        q.run();
        if (sqlite3_changes(l_.db_) != 1) {
          throw StoreFailure(ErrorCode::kInternal, "lot " + a.lot_id + " cannot give " +
                                                        std::to_string(a.points.value()) + " points");
        }
      }
      auto q = l_.query("INSERT INTO lot_allocations(entry_id, lot_id, points) VALUES (?1, ?2, ?3)");
      q.bind(1, e.entry_id).bind(2, a.lot_id).bind(3, a.points.value());
      q.run();
    }
    if (new_lot) {
      auto q = l_.query(
          "INSERT INTO lots(lot_id, account_id, earned_at_ms, earned_offset, expires_at_ms, expires_offset, "
          "original, initial, remaining) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
      q.bind(1, new_lot->lot_id).bind(2, new_lot->account_id).bind(3, new_lot->earned_at.unix_ms);
      q.bind(4, int64_t{new_lot->earned_at.offset_minutes}).bind(5, new_lot->expires_at.unix_ms);
      q.bind(6, int64_t{new_lot->expires_at.offset_minutes}).bind(7, new_lot->original.value());
      q.bind(8, new_lot->remaining.value());
      q.run();
    }
  }

  bool entry_exists(const std::string& entry_id) override {
    auto q = l_.query("SELECT 1 FROM entries WHERE entry_id = ?1");
    q.bind(1, entry_id);
    return q.step();
  }

  std::vector<domain::Lot> open_lots(const std::string& account_id) override {
    auto q = l_.query(
        "SELECT lot_id, earned_at_ms, earned_offset, expires_at_ms, expires_offset, original, remaining "
        "FROM lots WHERE account_id = ?1 AND remaining > 0 ORDER BY account_id, expires_at_ms, earned_at_ms, lot_id");
    q.bind(1, account_id);
    std::vector<domain::Lot> out;
    while (q.step()) {
      out.push_back(domain::Lot{q.text(0), account_id, bt(q.i64(1), q.i64(2)), bt(q.i64(3), q.i64(4)),
                                Points(q.i64(5)), Points(q.i64(6))});
    }
    return out;
  }

  // ---- sales ----
  std::optional<domain::SaleRecord> find_sale(const std::string& branch, const std::string& ticket) override {
    domain::SaleRecord s;
    auto q = l_.query(
        "SELECT request_id, account_id, earn_entry_id, earned, clawed_back, redeemed, restored, voided, at_ms, "
        "at_offset, lines FROM sales WHERE branch = ?1 AND ticket = ?2");
    q.bind(1, branch).bind(2, ticket);
    if (!q.step()) return std::nullopt;
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
    auto q = l_.query(
        "INSERT OR REPLACE INTO sales(branch, ticket, request_id, account_id, earn_entry_id, earned, clawed_back, "
        "redeemed, restored, voided, at_ms, at_offset, lines) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    q.bind(1, s.branch).bind(2, s.ticket).bind(3, s.request_id).bind(4, s.account_id).bind(5, s.earn_entry_id);
    q.bind(6, s.earned.value()).bind(7, s.clawed_back.value()).bind(8, s.redeemed.value());
    q.bind(9, s.restored.value()).bind(10, int64_t{s.voided ? 1 : 0}).bind(11, s.at.unix_ms);
    q.bind(12, int64_t{s.at.offset_minutes}).bind(13, encode_lines(s.lines));
    q.run();
  }

  static std::string encode_lines(const std::vector<domain::SaleLineRecord>& lines) {
    std::string out;
    for (const auto& l : lines) {
      if (!out.empty()) out += ';';
      out += std::to_string(l.n) + ' ' + std::to_string(l.amount.micros()) + ' ' + std::to_string(l.qty.micros()) +
             ' ' + std::to_string(l.percent.micros()) + ' ' + std::to_string(l.refunded.micros());
    }
    return out;
  }

  static std::vector<domain::SaleLineRecord> decode_lines(const std::string& text) {
    std::vector<domain::SaleLineRecord> out;
    const char* p = text.c_str();
    while (*p) {
      int64_t v[5] = {0, 0, 0, 0, 0};
      for (int64_t& x : v) {
        char* end = nullptr;
        x = std::strtoll(p, &end, 10);
        if (end == p) throw StoreFailure(ErrorCode::kInternal, "corrupt sale lines: " + text);
        p = end;
        while (*p == ' ') ++p;
      }
      out.push_back(domain::SaleLineRecord{v[0], domain::Money::from_micros(v[1]), domain::Quantity::from_micros(v[2]),
                                           domain::Percent::from_micros(v[3]), domain::Money::from_micros(v[4])});
      if (*p == ';') ++p;
    }
    return out;
  }

  // ---- holds ----
  static constexpr const char* kHoldSelect =
      "SELECT hold_id, account_id, branch, request_id, ticket, points, amount, status, created_at_ms, "
      "created_offset, business_deadline_ms, wall_deadline_ms FROM holds ";

  static Hold hold_of(Query& q) {
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
    auto q = l_.query(
        "INSERT INTO holds(hold_id, account_id, branch, request_id, ticket, points, amount, status, created_at_ms, "
        "created_offset, business_deadline_ms, wall_deadline_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    q.bind(1, h.hold_id).bind(2, h.account_id).bind(3, h.branch).bind(4, h.request_id).bind(5, h.ticket);
    q.bind(6, h.points.value()).bind(7, h.amount.micros()).bind(8, h.status).bind(9, h.created_at.unix_ms);
    q.bind(10, int64_t{h.created_at.offset_minutes}).bind(11, h.business_deadline.unix_ms).bind(12, h.wall_deadline_ms);
    q.run();
  }

  std::optional<Hold> find_hold(const std::string& hold_id) override {
    auto q = l_.query(
        "SELECT hold_id, account_id, branch, request_id, ticket, points, amount, status, created_at_ms, "
        "created_offset, business_deadline_ms, wall_deadline_ms FROM holds WHERE hold_id = ?1");
    q.bind(1, hold_id);
    if (!q.step()) return std::nullopt;
    return hold_of(q);
  }

  std::vector<Hold> active_holds_of_account(const std::string& account_id) override {
    auto q = l_.query(
        "SELECT hold_id, account_id, branch, request_id, ticket, points, amount, status, created_at_ms, "
        "created_offset, business_deadline_ms, wall_deadline_ms FROM holds "
        "WHERE account_id = ?1 AND status = 'active'");
    q.bind(1, account_id);
    std::vector<Hold> out;
    while (q.step()) out.push_back(hold_of(q));
    return out;
  }

  std::vector<Hold> active_holds_of_ticket(const std::string& branch, const std::string& ticket) override {
    auto q = l_.query(
        "SELECT hold_id, account_id, branch, request_id, ticket, points, amount, status, created_at_ms, "
        "created_offset, business_deadline_ms, wall_deadline_ms FROM holds "
        "WHERE branch = ?1 AND ticket = ?2 AND status = 'active'");
    q.bind(1, branch).bind(2, ticket);
    std::vector<Hold> out;
    while (q.step()) out.push_back(hold_of(q));
    return out;
  }

  void resolve_hold(const std::string& hold_id, const std::string& status, int64_t at_ms) override {
    auto q = l_.query(
        "UPDATE holds SET status = ?2, resolved_at_ms = ?3 WHERE hold_id = ?1 AND status = 'active'");
    q.bind(1, hold_id).bind(2, status).bind(3, at_ms);
    q.run();
    if (sqlite3_changes(l_.db_) != 1) {
      throw StoreFailure(ErrorCode::kInternal, "hold " + hold_id + " is not active; cannot mark it " + status);
    }
  }

  // ---- history ----
  std::vector<EntryRow> entries_of_account(const std::string& account_id, std::optional<int64_t> from_ms,
                                           std::optional<int64_t> to_ms, int64_t limit) override {
    auto q = l_.query(
        "SELECT entry_id, origin_branch, origin_seq, kind, points, request_id, branch, ticket, ref_entry_id, "
        "business_at_ms, business_offset, recorded_at_ms, expires_at_ms, expires_offset, program_version, reason "
        "FROM entries WHERE account_id = ?1 AND business_at_ms >= ?2 AND business_at_ms <= ?3 "
        "ORDER BY business_at_ms, origin_seq LIMIT ?4");
    q.bind(1, account_id).bind(2, from_ms.value_or(INT64_MIN)).bind(3, to_ms.value_or(INT64_MAX)).bind(4, limit);
    std::vector<EntryRow> out;
    while (q.step()) {
      EntryRow e;
      e.entry_id = q.text(0);
      e.origin_branch = q.text(1);
      e.origin_seq = q.i64(2);
      e.account_id = account_id;
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
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  SqliteLedger& l_;
  std::unique_lock<std::mutex> lock_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------

Query SqliteLedger::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, std::string("prepare: ") + sql);
    it = cache_.emplace(sql, s).first;
  }
  return Query(db_, it->second);
}

void SqliteLedger::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "";
    sqlite3_free(err);
    fail(db_, rc, msg.empty() ? sql : msg);
  }
}

std::unique_ptr<SqliteLedger> SqliteLedger::open(const LedgerOptions& options) {
  std::unique_ptr<SqliteLedger> l(new SqliteLedger(options));
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                    SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &l->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = l->db_ ? sqlite3_errmsg(l->db_) : sqlite3_errstr(rc);
    throw StoreFailure(ErrorCode::kUnavailable, "cannot open " + options.path + ": " + msg);
  }
  sqlite3_extended_result_codes(l->db_, 1);
  sqlite3_busy_timeout(l->db_, static_cast<int>(options.busy_timeout_ms));
  static const char* kSync[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL",
                                "PRAGMA synchronous=EXTRA"};
  if (!options.read_only) l->exec("PRAGMA journal_mode=WAL");
  l->exec(kSync[std::clamp(options.synchronous, 0, 3)]);
  l->exec("PRAGMA foreign_keys=ON");
  l->exec("PRAGMA temp_store=MEMORY");
  l->exec("PRAGMA cache_size=-65536");  // 64 MiB
  l->exec("PRAGMA mmap_size=268435456");  // reads through the page cache without copies
  if (!options.read_only) l->migrate();
  {
    auto q = l->query("SELECT value FROM meta WHERE key = 'schema_version'");
    if (q.step()) l->schema_version_ = std::stoll(q.text(0));
  }
  if (l->schema_version_ == 0 && options.read_only) {
    throw StoreFailure(ErrorCode::kUnavailable, options.path + " is not a loyalty ledger (no schema)");
  }
  if (l->schema_version_ > kSchemaVersion) {
    throw StoreFailure(ErrorCode::kInternal, options.path + " has schema version " +
                                                 std::to_string(l->schema_version_) + ", newer than this program's " +
                                                 std::to_string(kSchemaVersion) + "; upgrade the plugin");
  }
  {
    auto q = l->query("SELECT value FROM meta WHERE key = 'node_epoch'");
    if (q.step()) l->node_epoch_ = q.text(0);
  }
  if (!options.read_only && options.checkpoint_pages > 0) l->start_checkpointer();
  return l;
}

int SqliteLedger::on_wal_commit(void* self, sqlite3*, const char*, int pages) {
  auto* l = static_cast<SqliteLedger*>(self);
  if (pages >= l->options_.checkpoint_pages) {
    std::lock_guard lock(l->ckpt_mu_);
    l->ckpt_wanted_ = true;
    l->ckpt_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteLedger::start_checkpointer() {
  if (sqlite3_open_v2(options_.path.c_str(), &ckpt_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    sqlite3_close_v2(ckpt_db_);
    ckpt_db_ = nullptr;
    return;  // the main connection keeps SQLite's own auto-checkpoint
  }
  sqlite3_busy_timeout(ckpt_db_, 100);
  static const char* kSync[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL",
                                "PRAGMA synchronous=EXTRA"};
  sqlite3_exec(ckpt_db_, kSync[std::clamp(options_.synchronous, 0, 3)], nullptr, nullptr, nullptr);
  sqlite3_wal_hook(db_, &SqliteLedger::on_wal_commit, this);  // replaces the auto-checkpoint
  ckpt_thread_ = std::thread([this] { checkpointer_loop(); });
}

void SqliteLedger::checkpointer_loop() {
  std::unique_lock lock(ckpt_mu_);
  while (!ckpt_stop_) {
    ckpt_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return ckpt_wanted_ || ckpt_stop_; });
    if (ckpt_stop_) break;
    ckpt_wanted_ = false;
    lock.unlock();
    // First a PASSIVE checkpoint beside the POS writers: it copies most of the WAL without
    // blocking anyone. Then a second one holding the connection's lock, so that no writer
    // appends meanwhile: it copies the few frames written during the first and completes,
    // which lets the next write start the WAL over instead of growing it forever.
    sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    {
      std::lock_guard writers(mu_);
      sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    lock.lock();
  }
}

void SqliteLedger::migrate() {
  std::lock_guard lock(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    int64_t current = 0;
    {
      sqlite3_stmt* s = nullptr;
      // meta may not exist yet on a new file.
      if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s, nullptr) ==
          SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) {
          current = std::stoll(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
        }
      }
      sqlite3_finalize(s);
    }
    if (current > kSchemaVersion) {
      exec("ROLLBACK");
      schema_version_ = current;
      return;  // open() reports it
    }
    for (const Migration& m : migrations()) {
      if (m.version <= current) continue;
      exec(m.sql);
      current = m.version;
    }
    exec(("INSERT INTO meta(key, value) VALUES ('schema_version', '" + std::to_string(current) +
          "') ON CONFLICT(key) DO UPDATE SET value = excluded.value")
             .c_str());
    exec(("INSERT OR IGNORE INTO meta(key, value) VALUES ('node_epoch', '" + random_hex(8) + "')").c_str());
    exec(("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at_ms', '" + std::to_string(now_ms()) + "')")
             .c_str());
    {
      auto q = query("INSERT OR IGNORE INTO meta(key, value) VALUES ('branch_id', ?1)");
      q.bind(1, options_.branch);
      q.run();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

SqliteLedger::~SqliteLedger() {
  if (ckpt_thread_.joinable()) {
    {
      std::lock_guard lock(ckpt_mu_);
      ckpt_stop_ = true;
      ckpt_cv_.notify_one();
    }
    ckpt_thread_.join();
  }
  if (ckpt_db_) sqlite3_close_v2(ckpt_db_);
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  if (db_) sqlite3_close_v2(db_);
}

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_write() {
  if (options_.read_only) throw StoreFailure(ErrorCode::kUnavailable, "the ledger is open read-only");
  return std::make_unique<SqliteTx>(*this, true);
}

std::unique_ptr<app::LedgerTx> SqliteLedger::begin_read() { return std::make_unique<SqliteTx>(*this, false); }

void SqliteLedger::quarantine(const app::QuarantineRow& row) {
  if (options_.read_only) return;
  SqliteTx tx(*this, true);
  {
    auto q = query(
        "INSERT INTO quarantine(received_at_ms, source, raw, error_code, field, message) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.bind(1, row.received_at_ms).bind(2, row.source).bind_blob(3, row.raw).bind(4, row.error_code);
    q.bind(5, row.field).bind(6, row.message);
    q.run();
  }
  {
    auto q = query("DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?1");
    q.bind(1, options_.quarantine_max_rows);
    q.run();
  }
  tx.commit();
}

}  // namespace loyalty::ledger
