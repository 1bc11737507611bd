#include "sync/hub/store.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace loyalty::sync::hub {
namespace {

using domain::ErrorCode;
using domain::make_error;

constexpr int kSchemaVersion = 1;
constexpr size_t kQuarantineMaxBytes = 64 * 1024;

domain::Error db_error(sqlite3* db, const std::string& what) {
  return make_error(ErrorCode::kUnavailable, "",
                    "hub database: " + what + ": " + (db ? sqlite3_errmsg(db) : "no connection"));
}

// RAII prepared statement with positional binds (1-based).
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return s_ ? sqlite3_step(s_) : rc_; }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// Rolls back unless commit() succeeded.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Txn() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  bool commit() {
    done_ = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
    return done_;
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

std::string rfc3339_utc(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS entries(
  hub_offset INTEGER PRIMARY KEY,
  entry_id TEXT NOT NULL UNIQUE,
  origin_branch TEXT NOT NULL,
  origin_seq INTEGER NOT NULL,
  node_epoch TEXT NOT NULL,
  account_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  points INTEGER NOT NULL,
  body_hash TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  json TEXT NOT NULL,
  UNIQUE(origin_branch, origin_seq)) STRICT;
CREATE INDEX IF NOT EXISTS entries_by_account ON entries(account_id, hub_offset);
CREATE TABLE IF NOT EXISTS skipped(
  origin_branch TEXT NOT NULL,
  origin_seq INTEGER NOT NULL,
  entry_id TEXT NOT NULL,
  body_hash TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY(origin_branch, origin_seq)) STRICT;
CREATE TABLE IF NOT EXISTS positions(
  branch TEXT PRIMARY KEY,
  node_epoch TEXT NOT NULL DEFAULT '',
  acked_seq INTEGER NOT NULL DEFAULT 0,
  applied_offset INTEGER NOT NULL DEFAULT 0,
  config_version TEXT NOT NULL DEFAULT '',
  last_seen_ms INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE TABLE IF NOT EXISTS balances(account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS overdraws(
  hub_offset INTEGER PRIMARY KEY,
  account_id TEXT NOT NULL,
  balance INTEGER NOT NULL,
  entry_id TEXT NOT NULL,
  details TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS configs(
  seq INTEGER PRIMARY KEY,
  version TEXT NOT NULL UNIQUE,
  document TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS tokens(
  name TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS quarantine(
  id INTEGER PRIMARY KEY,
  received_at_ms INTEGER NOT NULL,
  branch TEXT NOT NULL,
  raw BLOB NOT NULL,
  error_code TEXT NOT NULL,
  field TEXT NOT NULL,
  message TEXT NOT NULL) STRICT;
)sql";

}  // namespace

std::string sha256_hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

domain::Result<std::unique_ptr<HubStore>> HubStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    domain::Error e = db_error(db, "cannot open " + path);
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<HubStore> store(new HubStore(db));
  auto st = store->migrate();
  if (!st.ok()) return st.error();
  return store;
}

HubStore::~HubStore() { sqlite3_close(db_); }

domain::Status HubStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return make_error(ErrorCode::kUnavailable, "", std::string("hub database: ") + m);
  }
  return domain::ok_status();
}

domain::Status HubStore::migrate() {
  sqlite3_busy_timeout(db_, 5000);
  // wal_autocheckpoint: SQLite's default (1000 pages, ~4 MiB) checkpoints on the thread that
  // commits, before the push is acked, and copies the same hot index pages again every few
  // pushes; 8000 pages (~32 MiB of WAL at most between checkpoints) measured 0.3-0.5 hub CPU
  // seconds less and acks 3 s sooner on the 100,000-entry backlog (docs/sync.md "Speed").
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA wal_autocheckpoint=8000"}) {
    auto st = exec(pragma);
    if (!st.ok()) return st;
  }
  {
    Txn txn(db_);
    if (!txn.ok()) return db_error(db_, "begin");
    auto st = exec(kSchema);
    if (!st.ok()) return st;
    Stmt get(db_, "SELECT value FROM meta WHERE key='hub_epoch'");
    if (get.step() == SQLITE_ROW) {
      hub_epoch_ = get.text(0);
    } else {
      hub_epoch_ = random_hex(16);
      if (hub_epoch_.empty()) return make_error(ErrorCode::kInternal, "", "RAND_bytes failed");
      Stmt put(db_, "INSERT INTO meta(key, value) VALUES ('hub_epoch', ?), ('schema_version', ?)");
      put.bind(1, hub_epoch_).bind(2, std::to_string(kSchemaVersion));
      if (put.step() != SQLITE_DONE) return db_error(db_, "write meta");
    }
    if (!txn.commit()) return db_error(db_, "commit schema");
  }
  Stmt head(db_, "SELECT COALESCE(MAX(hub_offset), 0) FROM entries");
  if (head.step() != SQLITE_ROW) return db_error(db_, "read head");
  head_offset_ = head.i64(0);
  Stmt hub_seq(db_, "SELECT COALESCE(MAX(origin_seq), 0) FROM entries WHERE origin_branch='hub'");
  if (hub_seq.step() != SQLITE_ROW) return db_error(db_, "read hub seq");
  hub_seq_ = hub_seq.i64(0);
  Stmt counts(db_, "SELECT (SELECT COUNT(*) FROM overdraws), (SELECT COUNT(*) FROM quarantine)");
  if (counts.step() != SQLITE_ROW) return db_error(db_, "read counts");
  overdraw_count_ = counts.i64(0);
  quarantined_ = counts.i64(1);
  return domain::ok_status();
}

domain::Result<int64_t> HubStore::acked_seq(const std::string& branch) {
  Stmt s(db_, "SELECT acked_seq FROM positions WHERE branch=?");
  s.bind(1, branch);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return s.i64(0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return db_error(db_, "read acked_seq");
}

domain::Result<PushOutcome> HubStore::store_push(const std::string& branch,
                                                 const std::string& node_epoch, const Push& push,
                                                 int64_t now_ms) {
  PushOutcome out;
  Txn txn(db_);
  if (!txn.ok()) return db_error(db_, "begin push");
  auto acked_r = acked_seq(branch);
  if (!acked_r.ok()) return acked_r.error();
  int64_t acked = *acked_r;
  if (push.first_seq > acked + 1) {
    out.kind = PushOutcome::Kind::kNack;
    out.acked_seq = acked;
    out.head_offset = head_offset_;
    return out;
  }
  Stmt stored_hash(db_,
                   "SELECT body_hash FROM entries WHERE origin_branch=?1 AND origin_seq=?2 "
                   "UNION ALL SELECT body_hash FROM skipped WHERE origin_branch=?1 AND "
                   "origin_seq=?2");
  // A pushed entry whose entry_id the hub already holds (from another branch) goes to
  // `skipped`: the insert does nothing on that conflict, one index lookup instead of a SELECT
  // and then the insert's own.
  Stmt insert_new(db_,
                  "INSERT INTO entries(entry_id, origin_branch, origin_seq, node_epoch, "
                  "account_id, kind, points, body_hash, received_at_ms, json) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(entry_id) DO NOTHING");
  Stmt insert(db_,
              "INSERT INTO entries(entry_id, origin_branch, origin_seq, node_epoch, account_id, "
              "kind, points, body_hash, received_at_ms, json) VALUES (?,?,?,?,?,?,?,?,?,?)");
  Stmt skip(db_,
            "INSERT INTO skipped(origin_branch, origin_seq, entry_id, body_hash, received_at_ms, "
            "json) VALUES (?,?,?,?,?,?)");
  Stmt add_balance(db_,
                   "INSERT INTO balances(account_id, balance) VALUES (?1, ?2) ON CONFLICT"
                   "(account_id) DO UPDATE SET balance = balance + ?2 RETURNING balance");
  if (!stored_hash.ok() || !insert_new.ok() || !insert.ok() || !skip.ok() || !add_balance.ok()) {
    return db_error(db_, "prepare push");
  }
  struct Debit {
    std::vector<std::string> entry_ids;
    int64_t balance = 0;
    int64_t points = 0;
  };
  std::map<std::string, Debit> debits;  // accounts this batch lowered
  int64_t head = head_offset_;
  for (const Entry& e : push.entries) {
    if (e.origin_seq <= acked) {
      stored_hash.reset();
      stored_hash.bind(1, branch).bind(2, e.origin_seq);
      const int rc = stored_hash.step();
      if (rc == SQLITE_ROW && stored_hash.text(0) != e.body_hash) {
        out.kind = PushOutcome::Kind::kFork;
        out.fork_detail = "seq " + std::to_string(e.origin_seq) + " (" + e.entry_id +
                          ") was stored with body_hash " + stored_hash.text(0) + ", now " +
                          e.body_hash;
        out.acked_seq = acked;
        out.head_offset = head_offset_;
        return out;  // Txn rolls back
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db_, "read stored hash");
      ++out.duplicates;
      continue;
    }
    // e.origin_seq == acked + 1 (decode_frame checked contiguity; first_seq <= acked + 1).
    std::string json = encode_entry(e);
    insert_new.reset();
    insert_new.bind(1, e.entry_id).bind(2, branch).bind(3, e.origin_seq).bind(4, e.node_epoch);
    insert_new.bind(5, e.account_id).bind(6, e.kind).bind(7, e.points).bind(8, e.body_hash);
    insert_new.bind(9, now_ms).bind(10, json);
    if (insert_new.step() != SQLITE_DONE) return db_error(db_, "store entry " + e.entry_id);
    if (sqlite3_changes(db_) == 0) {
      skip.reset();
      skip.bind(1, branch).bind(2, e.origin_seq).bind(3, e.entry_id).bind(4, e.body_hash);
      skip.bind(5, now_ms).bind(6, json);
      if (skip.step() != SQLITE_DONE) return db_error(db_, "store skipped entry");
      ++out.duplicates;
    } else {
      head = sqlite3_last_insert_rowid(db_);
      out.new_entries.push_back(StoredEntry{head, branch, std::move(json), now_ms});
      ++out.stored;
      if (e.points != 0 && !e.account_id.empty()) {
        add_balance.reset();
        add_balance.bind(1, e.account_id).bind(2, e.points);
        if (add_balance.step() != SQLITE_ROW) return db_error(db_, "update balance");
        const int64_t balance = add_balance.i64(0);
        while (add_balance.step() == SQLITE_ROW) {
        }
        if (e.points < 0) {
          Debit& d = debits[e.account_id];
          d.entry_ids.push_back(e.entry_id);
          d.points += e.points;
        }
        auto it = debits.find(e.account_id);
        if (it != debits.end()) it->second.balance = balance;
      }
    }
    acked = e.origin_seq;
  }
  {
    Stmt pos(
        db_,
        "INSERT INTO positions(branch, node_epoch, acked_seq, last_seen_ms) VALUES (?1,?2,?3,?4) "
        "ON CONFLICT(branch) DO UPDATE SET node_epoch=?2, acked_seq=?3, last_seen_ms=?4");
    pos.bind(1, branch).bind(2, node_epoch).bind(3, acked).bind(4, now_ms);
    if (pos.step() != SQLITE_DONE) return db_error(db_, "update position");
  }
  // Overdraw reports: one hub-made entry per account this batch drove (or kept) negative.
  const int64_t saved_hub_seq = hub_seq_;
  for (const auto& [account, d] : debits) {
    if (d.balance >= 0) continue;
    nlohmann::json data;
    data["balance"] = d.balance;
    data["balance_before"] = d.balance - d.points;
    data["entries"] = d.entry_ids;
    data["branch"] = branch;
    nlohmann::json recent = nlohmann::json::array();
    std::set<std::string> branches;
    Stmt debits_q(db_,
                  "SELECT entry_id, origin_branch, points FROM entries WHERE account_id=? AND "
                  "points<0 ORDER BY hub_offset DESC LIMIT 10");
    debits_q.bind(1, account);
    while (debits_q.step() == SQLITE_ROW) {
      recent.push_back({{"entry_id", debits_q.text(0)},
                        {"branch", debits_q.text(1)},
                        {"points", debits_q.i64(2)}});
      branches.insert(debits_q.text(1));
    }
    data["recent_debits"] = recent;
    data["branches"] = branches;
    Entry r;
    ++hub_seq_;
    r.entry_id = "hub/overdraw/" + std::to_string(hub_seq_);
    r.origin_branch = std::string(kHubOrigin);
    r.origin_seq = hub_seq_;
    r.node_epoch = hub_epoch_;
    r.account_id = account;
    r.kind = "overdraw_report";
    r.points = 0;
    r.branch = std::string(kHubOrigin);
    r.ref_entry_id = d.entry_ids.back();
    r.business_at = rfc3339_utc(now_ms);
    r.recorded_at_ms = now_ms;
    r.reason =
        "balance " + std::to_string(d.balance) + " after merging entries from branch " + branch;
    r.data = data.dump();
    r.body_hash = sha256_hex(r.data);
    insert.reset();
    insert.bind(1, r.entry_id).bind(2, r.origin_branch).bind(3, r.origin_seq).bind(4, r.node_epoch);
    insert.bind(5, r.account_id).bind(6, r.kind).bind(7, int64_t{0}).bind(8, r.body_hash);
    std::string report_json = encode_entry(r);
    insert.bind(9, now_ms).bind(10, report_json);
    if (insert.step() != SQLITE_DONE) {
      hub_seq_ = saved_hub_seq;
      return db_error(db_, "store overdraw report");
    }
    head = sqlite3_last_insert_rowid(db_);
    out.new_entries.push_back(
        StoredEntry{head, std::string(kHubOrigin), std::move(report_json), now_ms});
    Stmt od(db_,
            "INSERT INTO overdraws(hub_offset, account_id, balance, entry_id, details, "
            "created_at_ms) VALUES (?,?,?,?,?,?)");
    od.bind(1, head).bind(2, account).bind(3, d.balance).bind(4, r.entry_id).bind(5, r.data);
    od.bind(6, now_ms);
    if (od.step() != SQLITE_DONE) {
      hub_seq_ = saved_hub_seq;
      return db_error(db_, "store overdraw row");
    }
    out.overdraws.push_back(OverdrawReport{head, account, d.balance, r.entry_id, r.data, now_ms});
  }
  if (!txn.commit()) {
    hub_seq_ = saved_hub_seq;
    return db_error(db_, "commit push");
  }
  head_offset_ = head;
  overdraw_count_ += static_cast<int64_t>(out.overdraws.size());
  out.kind = PushOutcome::Kind::kAcked;
  out.acked_seq = acked;
  out.head_offset = head_offset_;
  return out;
}

domain::Result<std::vector<StoredEntry>> HubStore::read_after(int64_t after_offset,
                                                              const std::string& exclude_branch,
                                                              size_t limit, int64_t* scanned_to) {
  std::vector<StoredEntry> out;
  *scanned_to = after_offset;
  Stmt s(db_,
         "SELECT hub_offset, origin_branch, json, received_at_ms FROM entries WHERE "
         "hub_offset > ? ORDER BY hub_offset LIMIT 2000");
  int64_t cursor = after_offset;
  for (;;) {
    s.reset();
    s.bind(1, cursor);
    int rows = 0;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      ++rows;
      const int64_t offset = s.i64(0);
      cursor = offset;
      *scanned_to = offset;
      std::string origin = s.text(1);
      if (origin != exclude_branch) {
        out.push_back(StoredEntry{offset, std::move(origin), s.text(2), s.i64(3)});
        if (out.size() >= limit) return out;
      }
    }
    if (rc != SQLITE_DONE) return db_error(db_, "read entries");
    if (rows < 2000) return out;
  }
}

domain::Result<std::string> HubStore::entry_id_at_seq(const std::string& branch, int64_t seq) {
  Stmt s(db_,
         "SELECT entry_id FROM entries WHERE origin_branch=?1 AND origin_seq=?2 UNION ALL "
         "SELECT entry_id FROM skipped WHERE origin_branch=?1 AND origin_seq=?2 LIMIT 1");
  s.bind(1, branch).bind(2, seq);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return s.text(0);
  if (rc == SQLITE_DONE) return std::string();
  return db_error(db_, "read entry by seq");
}

domain::Result<std::vector<std::pair<int64_t, std::string>>> HubStore::own_entries(
    const std::string& branch, int64_t from_seq, int64_t to_seq) {
  Stmt s(db_,
         "SELECT origin_seq, json FROM entries WHERE origin_branch=?1 AND origin_seq BETWEEN ?2 "
         "AND ?3 UNION ALL SELECT origin_seq, json FROM skipped WHERE origin_branch=?1 AND "
         "origin_seq BETWEEN ?2 AND ?3 ORDER BY 1");
  s.bind(1, branch).bind(2, from_seq).bind(3, to_seq);
  std::vector<std::pair<int64_t, std::string>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.emplace_back(s.i64(0), s.text(1));
  if (rc != SQLITE_DONE) return db_error(db_, "read own entries");
  return out;
}

domain::Result<bool> HubStore::history_matches(const std::string& branch, int64_t check_offset,
                                               const std::string& check_entry_id,
                                               int64_t applied_offset) {
  if (check_offset > applied_offset) return false;
  if (check_offset > 0) {
    Stmt s(db_, "SELECT entry_id FROM entries WHERE hub_offset=?");
    s.bind(1, check_offset);
    const int rc = s.step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return db_error(db_, "read entry by offset");
    if (s.text(0) != check_entry_id) return false;
  }
  if (applied_offset <= check_offset) return true;
  Stmt n(db_,
         "SELECT EXISTS(SELECT 1 FROM entries WHERE hub_offset > ?1 AND hub_offset <= ?2 AND "
         "origin_branch != ?3)");
  n.bind(1, check_offset).bind(2, applied_offset).bind(3, branch);
  if (n.step() != SQLITE_ROW) return db_error(db_, "check offsets");
  return n.i64(0) == 0;
}

domain::Status HubStore::touch_position(const std::string& branch, const std::string& node_epoch,
                                        int64_t now_ms) {
  Stmt s(db_,
         "INSERT INTO positions(branch, node_epoch, last_seen_ms) VALUES (?1,?2,?3) "
         "ON CONFLICT(branch) DO UPDATE SET node_epoch=?2, last_seen_ms=?3");
  s.bind(1, branch).bind(2, node_epoch).bind(3, now_ms);
  if (s.step() != SQLITE_DONE) return db_error(db_, "touch position");
  return domain::ok_status();
}

domain::Status HubStore::save_applied(const std::vector<std::pair<std::string, int64_t>>& applied,
                                      int64_t now_ms) {
  if (applied.empty()) return domain::ok_status();
  Txn txn(db_);
  if (!txn.ok()) return db_error(db_, "begin positions");
  Stmt s(db_,
         "INSERT INTO positions(branch, applied_offset, last_seen_ms) VALUES (?1,?2,?3) "
         "ON CONFLICT(branch) DO UPDATE SET applied_offset=?2, last_seen_ms=?3");
  for (const auto& [branch, offset] : applied) {
    s.reset();
    s.bind(1, branch).bind(2, offset).bind(3, now_ms);
    if (s.step() != SQLITE_DONE) return db_error(db_, "save applied offset");
  }
  if (!txn.commit()) return db_error(db_, "commit positions");
  return domain::ok_status();
}

domain::Status HubStore::save_config_ack(const std::string& branch, const std::string& version) {
  Stmt s(db_,
         "INSERT INTO positions(branch, config_version) VALUES (?1,?2) "
         "ON CONFLICT(branch) DO UPDATE SET config_version=?2");
  s.bind(1, branch).bind(2, version);
  if (s.step() != SQLITE_DONE) return db_error(db_, "save config ack");
  return domain::ok_status();
}

domain::Result<std::vector<Position>> HubStore::positions() {
  std::vector<Position> out;
  Stmt s(db_,
         "SELECT branch, node_epoch, acked_seq, applied_offset, config_version, last_seen_ms "
         "FROM positions ORDER BY branch");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(Position{s.text(0), s.text(1), s.i64(2), s.i64(3), s.text(4), s.i64(5)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "read positions");
  return out;
}

domain::Result<std::optional<ConfigVersion>> HubStore::current_config() {
  Stmt s(db_, "SELECT version, document, created_at_ms FROM configs ORDER BY seq DESC LIMIT 1");
  const int rc = s.step();
  if (rc == SQLITE_ROW) {
    return std::optional<ConfigVersion>(ConfigVersion{s.text(0), s.text(1), s.i64(2)});
  }
  if (rc == SQLITE_DONE) return std::optional<ConfigVersion>();
  return db_error(db_, "read config");
}

domain::Result<ConfigVersion> HubStore::add_config(const std::string& document, int64_t now_ms) {
  Txn txn(db_);
  if (!txn.ok()) return db_error(db_, "begin config");
  Stmt next(db_, "SELECT COALESCE(MAX(seq), 0) + 1 FROM configs");
  if (next.step() != SQLITE_ROW) return db_error(db_, "read config seq");
  const int64_t seq = next.i64(0);
  ConfigVersion v{std::to_string(seq) + "-" + sha256_hex(document).substr(0, 12), document, now_ms};
  Stmt s(db_, "INSERT INTO configs(seq, version, document, created_at_ms) VALUES (?,?,?,?)");
  s.bind(1, seq).bind(2, v.version).bind(3, document).bind(4, now_ms);
  if (s.step() != SQLITE_DONE) return db_error(db_, "store config");
  if (!txn.commit()) return db_error(db_, "commit config");
  return v;
}

domain::Result<std::vector<OverdrawReport>> HubStore::overdraws(size_t limit) {
  std::vector<OverdrawReport> out;
  Stmt s(db_,
         "SELECT hub_offset, account_id, balance, entry_id, details, created_at_ms FROM overdraws "
         "ORDER BY hub_offset DESC LIMIT ?");
  s.bind(1, static_cast<int64_t>(limit));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(OverdrawReport{s.i64(0), s.text(1), s.i64(2), s.text(3), s.text(4), s.i64(5)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "read overdraws");
  return out;
}

domain::Status HubStore::put_token_hash(const std::string& name, const std::string& sha256_hex,
                                        int64_t now_ms) {
  Stmt s(db_,
         "INSERT INTO tokens(name, sha256, created_at_ms) VALUES (?1,?2,?3) "
         "ON CONFLICT(name) DO UPDATE SET sha256=?2, created_at_ms=?3");
  s.bind(1, name).bind(2, sha256_hex).bind(3, now_ms);
  if (s.step() != SQLITE_DONE) return db_error(db_, "store token");
  return domain::ok_status();
}

domain::Status HubStore::revoke_token(const std::string& name) {
  Stmt s(db_, "DELETE FROM tokens WHERE name=?");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE) return db_error(db_, "revoke token");
  if (sqlite3_changes(db_) == 0) {
    return make_error(ErrorCode::kNotFound, "name", "no token for \"" + name + "\"");
  }
  return domain::ok_status();
}

domain::Result<std::optional<std::string>> HubStore::token_hash(const std::string& name) {
  Stmt s(db_, "SELECT sha256 FROM tokens WHERE name=?");
  s.bind(1, name);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return db_error(db_, "read token");
}

domain::Result<std::vector<std::pair<std::string, int64_t>>> HubStore::tokens() {
  std::vector<std::pair<std::string, int64_t>> out;
  Stmt s(db_, "SELECT name, created_at_ms FROM tokens ORDER BY name");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.emplace_back(s.text(0), s.i64(1));
  if (rc != SQLITE_DONE) return db_error(db_, "read tokens");
  return out;
}

domain::Status HubStore::quarantine(const std::string& branch, std::string_view raw,
                                    const domain::Error& error, int64_t now_ms) {
  Stmt s(db_,
         "INSERT INTO quarantine(received_at_ms, branch, raw, error_code, field, message) "
         "VALUES (?,?,?,?,?,?)");
  s.bind(1, now_ms).bind(2, branch).bind_blob(3, raw.substr(0, kQuarantineMaxBytes));
  s.bind(4, sync_error_code(error)).bind(5, error.field).bind(6, error.message);
  if (s.step() != SQLITE_DONE) return db_error(db_, "quarantine frame");
  ++quarantined_;
  return domain::ok_status();
}

domain::Result<int64_t> HubStore::balance(const std::string& account_id) {
  Stmt s(db_, "SELECT balance FROM balances WHERE account_id=?");
  s.bind(1, account_id);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return s.i64(0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return db_error(db_, "read balance");
}

domain::Result<int64_t> HubStore::entry_count() {
  Stmt s(db_, "SELECT COUNT(*) FROM entries");
  if (s.step() != SQLITE_ROW) return db_error(db_, "count entries");
  return s.i64(0);
}

}  // namespace loyalty::sync::hub
