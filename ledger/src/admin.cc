#include "ledger/admin.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

namespace loyalty::ledger {

namespace {

constexpr size_t kMaxProblems = 1000;

std::string n(int64_t v) { return std::to_string(v); }

// A private read-only connection to the ledger's file for whole-table scans: it has its own
// large page cache (the POS connection keeps a small one, see sqlite_ledger.cc, and SQLite
// never shrinks a cache's hash table) and does not hold the POS connection's lock for the
// seconds a verify takes. Everything runs in one read transaction: a consistent snapshot.
class ScanConnection {
 public:
  explicit ScanConnection(SqliteLedger& ledger) {
    ledger.flush();  // what the ledger acknowledged is committed, for this connection to see
    const LedgerOptions& o = ledger.options();
    const int rc = sqlite3_open_v2(o.path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw app::StoreFailure(domain::ErrorCode::kUnavailable, "cannot open " + o.path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(std::clamp<int64_t>(o.busy_timeout_ms, 0, INT32_MAX)));
    exec("PRAGMA cache_size=-262144");  // 256 MiB
    exec("PRAGMA mmap_size=1073741824");
    exec("PRAGMA temp_store=MEMORY");
    exec("BEGIN");
  }
  ~ScanConnection() {
    for (auto& [sql, s] : stmts_) sqlite3_finalize(s);
    if (db_) {
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);  // ends the read transaction
      sqlite3_close_v2(db_);
    }
  }
  ScanConnection(const ScanConnection&) = delete;
  ScanConnection& operator=(const ScanConnection&) = delete;

  Query query(const std::string& sql) {
    sqlite3_stmt*& s = stmts_[sql];
    if (s == nullptr) {
      const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr);
      if (rc != SQLITE_OK) fail(db_, rc, "prepare: " + sql);
    }
    return Query(db_, s);
  }

 private:
  void exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, sql);
  }
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> stmts_;
};

// Runs a check query whose rows are problems; `describe` turns a row into a sentence.
template <class F>
void check(ScanConnection& c, const char* sql, std::vector<std::string>& problems, F describe) {
  auto q = c.query(sql);
  while (q.step()) {
    if (problems.size() >= kMaxProblems) {
      if (problems.back() != "... more problems not listed") problems.push_back("... more problems not listed");
      return;
    }
    problems.push_back(describe(q));
  }
}

}  // namespace

VerifyReport verify(SqliteLedger& ledger) {
  VerifyReport r;
  auto& p = r.problems;
  {
    ScanConnection c(ledger);
    {
      auto q = c.query("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM entries)");
      q.step();
      r.accounts_checked = q.i64(0);
      r.entries_checked = q.i64(1);
    }
    // One pass over entries in account order (the entries_account index).
    check(c,
          "SELECT a.account_id, a.balance, coalesce(s.total, 0) FROM accounts a LEFT JOIN "
          "(SELECT account_id, sum(points) AS total FROM entries GROUP BY account_id) s "
          "USING (account_id) WHERE a.balance != coalesce(s.total, 0)",
          p, [](Query& q) {
            return "account " + q.text(0) + ": stored balance " + n(q.i64(1)) +
                   ", recomputed from its entries " + n(q.i64(2));
          });
    check(c,
          "SELECT account_id, count(*) FROM entries WHERE account_id NOT IN "
          "(SELECT account_id FROM accounts) GROUP BY account_id",
          p, [](Query& q) { return "entries of unknown account " + q.text(0) + ": " + n(q.i64(1)); });
    check(c,
          "SELECT a.account_id, a.balance, coalesce(l.rem, 0) FROM accounts a LEFT JOIN "
          "(SELECT account_id, sum(remaining) AS rem FROM lots GROUP BY account_id) l "
          "USING (account_id) WHERE coalesce(l.rem, 0) != max(0, a.balance)",
          p, [](Query& q) {
            return "account " + q.text(0) + ": balance " + n(q.i64(1)) + " but its lots hold " +
                   n(q.i64(2)) + " points (expected " + n(std::max<int64_t>(0, q.i64(1))) + ")";
          });
    // Lots have no index by lot_id: allocations reach theirs through the entry's account.
    check(c,
          "SELECT x.lot_id, x.account_id, x.p, l.initial, l.remaining, l.lot_id IS NULL FROM "
          "(SELECT a.lot_id, e.account_id, sum(a.points) AS p FROM lot_allocations a "
          "JOIN entries e ON e.entry_id = a.entry_id GROUP BY a.lot_id, e.account_id) x "
          "LEFT JOIN lots l ON l.account_id = x.account_id AND l.lot_id = x.lot_id "
          "WHERE l.lot_id IS NULL OR l.remaining != l.initial - x.p",
          p, [](Query& q) {
            if (q.i64(5)) return "allocations of " + n(q.i64(2)) + " points from lot " + q.text(0) +
                                 ", which account " + q.text(1) + " does not have";
            return "lot " + q.text(0) + ": remaining " + n(q.i64(4)) + " but it started with " +
                   n(q.i64(3)) + " and gave " + n(q.i64(2));
          });
    check(c,
          "SELECT lot_id, initial, remaining FROM lots WHERE remaining != initial "
          "AND lot_id NOT IN (SELECT lot_id FROM lot_allocations)",
          p, [](Query& q) {
            return "lot " + q.text(0) + ": remaining " + n(q.i64(2)) + " but it started with " +
                   n(q.i64(1)) + " and gave 0";
          });
    check(c,
          "SELECT entry_id, lot_id FROM lot_allocations WHERE entry_id NOT IN (SELECT entry_id FROM entries)",
          p, [](Query& q) { return "allocation " + q.text(0) + " -> " + q.text(1) + " names a missing entry"; });
    check(c,
          "SELECT origin_branch, count(*), min(origin_seq), max(origin_seq) FROM entries "
          "GROUP BY origin_branch HAVING min(origin_seq) != 1 OR max(origin_seq) != count(*)",
          p, [](Query& q) {
            return "origin branch " + q.text(0) + ": " + n(q.i64(1)) + " entries numbered " +
                   n(q.i64(2)) + ".." + n(q.i64(3)) + " (gaps)";
          });
    // Per node epoch (a restored ledger writes under a new epoch): contiguous for the
    // entries present, local and synced alike.
    check(c,
          "SELECT origin_branch, node_epoch, count(*), min(origin_seq), max(origin_seq) FROM entries "
          "GROUP BY origin_branch, node_epoch HAVING max(origin_seq) - min(origin_seq) + 1 != count(*)",
          p, [](Query& q) {
            return "origin branch " + q.text(0) + " epoch " + q.text(1) + ": " + n(q.i64(2)) +
                   " entries numbered " + n(q.i64(3)) + ".." + n(q.i64(4)) + " (gaps in the epoch)";
          });
    // Rule 7. Another branch's sale may show more clawed back here for a while: refunds
    // recorded at branches cut off from each other, until the sale's branch's cap arrives
    // (docs/sync.md, "Refunds across branches").
    check(c,
          "SELECT branch, ticket, earned, clawed_back FROM sales WHERE clawed_back < 0 OR "
          "(clawed_back > earned AND branch = (SELECT value FROM meta WHERE key = 'branch_id'))",
          p, [](Query& q) {
            return "sale " + q.text(0) + "/" + q.text(1) + ": clawed back " + n(q.i64(3)) + " of " +
                   n(q.i64(2)) + " earned";
          });
    // A sale row earned what its earn entry says: `earned` caps every later refund (rule 7),
    // so a stale one would let refunds claw back more, or less, than the sale earned.
    // (`clawed_back` is not derived here: refunds at other branches, their corrections and
    // caps settle it through targets carried in the entries' data, docs/sync.md.)
    check(c,
          "SELECT s.branch, s.ticket, s.earned, e.points FROM sales s JOIN entries e ON "
          "e.entry_id = s.earn_entry_id WHERE s.earn_entry_id != '' AND e.points != s.earned",
          p, [](Query& q) {
            return "sale " + q.text(0) + "/" + q.text(1) + ": earned " + n(q.i64(2)) + " but its entry says " +
                   n(q.i64(3));
          });
    check(c,
          "SELECT hold_id, status FROM holds WHERE (status = 'active') != (resolved_at_ms IS NULL)", p,
          [](Query& q) {
            return "hold " + q.text(0) + ": status " + q.text(1) +
                   (q.text(1) == "active" ? " but it has a resolution time" : " but no resolution time");
          });
    // Entries synced from other branches have no request here; ours always do, except those
    // the expiry sweep wrote (no request id) and those recovered from the hub after a restore
    // (docs/sync.md "Branch recovery": their requests were lost with the newer copy).
    check(c,
          "SELECT e.entry_id, e.branch, e.request_id FROM entries e "
          "WHERE e.origin_branch = (SELECT value FROM meta WHERE key = 'branch_id') "
          "AND e.request_id != '' AND NOT EXISTS "
          "(SELECT 1 FROM requests r WHERE r.branch = e.branch AND r.request_id = e.request_id) "
          "AND NOT EXISTS (SELECT 1 FROM recovered_entries x WHERE x.entry_id = e.entry_id)",
          p, [](Query& q) {
            return "entry " + q.text(0) + ": no recorded request " + q.text(1) + "/" + q.text(2);
          });
    check(c, "PRAGMA integrity_check", p, [](Query& q) {
      return q.text(0) == "ok" ? std::string() : "integrity_check: " + q.text(0);
    });
    std::erase(p, std::string());
  }
  return r;
}

namespace {

// `where` filters on `day` / `at_ms` (the business time) and ?3, the optional branch.
std::vector<ReportRow> report(SqliteLedger& ledger, const char* entries_sql, const char* sales_sql,
                              const std::function<void(Query&)>& bind_range,
                              const std::optional<std::string>& branch) {
  std::map<std::pair<std::string, std::string>, ReportRow> rows;
  auto row = [&](Query& q) -> ReportRow& {
    ReportRow& r = rows[{q.text(0), q.text(1)}];
    r.day = q.text(0);
    r.branch = q.text(1);
    return r;
  };
  {
    ScanConnection c(ledger);
    {
      auto q = c.query(entries_sql);
      bind_range(q);
      if (branch) q.bind(3, *branch);
      while (q.step()) {
        ReportRow& r = row(q);
        r.earned = q.i64(2);
        r.redeemed = q.i64(3);
        r.clawed_back = q.i64(4);
        r.restored = q.i64(5);
        r.expired = q.i64(6);
        r.adjusted = q.i64(7);
        r.customers = q.i64(8);
      }
    }
    auto q = c.query(sales_sql);
    bind_range(q);
    if (branch) q.bind(3, *branch);
    while (q.step()) row(q).sales = q.i64(2);
  }
  std::vector<ReportRow> out;
  out.reserve(rows.size());
  for (auto& [k, v] : rows) out.push_back(std::move(v));
  return out;
}

#define LOYALTY_REPORT_SUMS                                                                    \
  "sum(CASE WHEN kind = 'earn' THEN points ELSE 0 END), "                                     \
  "-sum(CASE WHEN kind = 'redeem' THEN points ELSE 0 END), "                                  \
  "-sum(CASE WHEN kind IN ('clawback', 'void_clawback', 'refund_correction') THEN points "    \
  "ELSE 0 END), "                                                                             \
  "sum(CASE WHEN kind IN ('restore', 'void_restore') THEN points ELSE 0 END), "               \
  "-sum(CASE WHEN kind = 'expire' THEN points ELSE 0 END), "                                  \
  "sum(CASE WHEN kind IN ('adjust', 'welcome', 'welcome_reversal', 'transfer_in', "         \
  "'transfer_out') THEN points ELSE 0 END), count(DISTINCT account_id) "
#define LOYALTY_ENTRY_DAY "date(business_at_ms / 1000 + business_offset * 60, 'unixepoch')"
#define LOYALTY_SALE_DAY "date(at_ms / 1000 + at_offset * 60, 'unixepoch')"

}  // namespace

std::vector<ReportRow> points_report(SqliteLedger& ledger, int64_t from_ms, int64_t to_ms,
                                     const std::optional<std::string>& branch) {
  return report(ledger,
                "SELECT " LOYALTY_ENTRY_DAY " AS day, branch, " LOYALTY_REPORT_SUMS
                "FROM entries WHERE business_at_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) "
                "GROUP BY day, branch",
                "SELECT " LOYALTY_SALE_DAY " AS day, branch, count(*) FROM sales "
                "WHERE at_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) GROUP BY day, branch",
                [&](Query& q) { q.bind(1, from_ms).bind(2, to_ms); }, branch);
}

std::vector<ReportRow> points_report(SqliteLedger& ledger, const std::string& from_day,
                                     const std::string& to_day,
                                     const std::optional<std::string>& branch) {
  return report(ledger,
                "SELECT " LOYALTY_ENTRY_DAY " AS day, branch, " LOYALTY_REPORT_SUMS
                "FROM entries WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) "
                "GROUP BY day, branch",
                "SELECT " LOYALTY_SALE_DAY " AS day, branch, count(*) FROM sales "
                "WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) GROUP BY day, branch",
                [&](Query& q) { q.bind(1, from_day).bind(2, to_day); }, branch);
}

#undef LOYALTY_REPORT_SUMS
#undef LOYALTY_ENTRY_DAY
#undef LOYALTY_SALE_DAY

std::vector<AliasConflict> alias_conflicts(SqliteLedger& ledger) {
  ScanConnection c(ledger);
  auto q = c.query("SELECT entry_id, ref, account_id, kept_account_id FROM alias_conflicts ORDER BY ref, entry_id");
  std::vector<AliasConflict> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), q.text(3)});
  return out;
}

std::optional<domain::BusinessTime> request_business_time(SqliteLedger& ledger, const std::string& branch,
                                                          const std::string& request_id) {
  return ledger.with_db([&](sqlite3*) -> std::optional<domain::BusinessTime> {
    auto q = ledger.query(
        "SELECT business_at_ms, business_offset FROM entries WHERE branch = ?1 AND request_id = ?2 LIMIT 1");
    q.bind(1, branch).bind(2, request_id);
    if (!q.step()) return std::nullopt;
    return domain::BusinessTime{q.i64(0), static_cast<int32_t>(q.i64(1))};
  });
}

std::vector<std::string> entry_branches(SqliteLedger& ledger) {
  ScanConnection c(ledger);
  auto q = c.query("SELECT DISTINCT branch FROM entries ORDER BY branch");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

}  // namespace loyalty::ledger
