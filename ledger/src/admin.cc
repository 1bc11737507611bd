#include "ledger/admin.h"

#include <map>

namespace loyalty::ledger {

namespace {

// Runs a check query whose rows are problems; `describe` turns a row into a sentence.
template <class F>
void check(SqliteLedger& l, const char* sql, std::vector<std::string>& problems, F describe) {
  auto q = l.query(sql);
  while (q.step()) {
    if (problems.size() >= 1000) {
      problems.push_back("... more problems not listed");
      return;
    }
    problems.push_back(describe(q));
  }
}

}  // namespace

VerifyReport verify(SqliteLedger& ledger) {
  VerifyReport r;
  ledger.with_db([&](sqlite3*) {
    ledger.exec("BEGIN");
    try {
      {
        auto q = ledger.query("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM entries)");
        q.step();
        r.accounts_checked = q.i64(0);
        r.entries_checked = q.i64(1);
      }
      check(ledger,
            "SELECT a.account_id, a.balance, coalesce(s.total, 0) FROM accounts a LEFT JOIN "
            "(SELECT account_id, sum(points) AS total FROM entries GROUP BY account_id) s USING (account_id) "
            "WHERE a.balance != coalesce(s.total, 0)",
            r.problems, [](Query& q) {
              return "account " + q.text(0) + ": balance " + std::to_string(q.i64(1)) +
                     " but its entries sum to " + std::to_string(q.i64(2));
            });
      check(ledger,
            "SELECT a.account_id, a.balance, coalesce(l.rem, 0) FROM accounts a LEFT JOIN "
            "(SELECT account_id, sum(remaining) AS rem FROM lots GROUP BY account_id) l USING (account_id) "
            "WHERE coalesce(l.rem, 0) != max(0, a.balance)",
            r.problems, [](Query& q) {
              return "account " + q.text(0) + ": balance " + std::to_string(q.i64(1)) + " but its lots hold " +
                     std::to_string(q.i64(2)) + " points";
            });
      check(ledger,
            "SELECT l.lot_id, l.initial, l.remaining, coalesce(x.p, 0) FROM lots l LEFT JOIN "
            "(SELECT lot_id, sum(points) AS p FROM lot_allocations GROUP BY lot_id) x USING (lot_id) "
            "WHERE l.remaining != l.initial - coalesce(x.p, 0)",
            r.problems, [](Query& q) {
              return "lot " + q.text(0) + ": remaining " + std::to_string(q.i64(2)) + " but " +
                     std::to_string(q.i64(1)) + " minus allocations " + std::to_string(q.i64(3)) + " expected";
            });
      check(ledger,
            "SELECT origin_branch, count(*), min(origin_seq), max(origin_seq) FROM entries GROUP BY origin_branch "
            "HAVING min(origin_seq) != 1 OR max(origin_seq) != count(*)",
            r.problems, [](Query& q) {
              return "branch " + q.text(0) + ": " + std::to_string(q.i64(1)) + " entries but sequence " +
                     std::to_string(q.i64(2)) + ".." + std::to_string(q.i64(3)) + " has gaps";
            });
      check(ledger, "SELECT branch, ticket, earned, clawed_back FROM sales WHERE clawed_back > earned", r.problems,
            [](Query& q) {
              return "sale " + q.text(0) + "/" + q.text(1) + ": clawed back " + std::to_string(q.i64(3)) +
                     " of " + std::to_string(q.i64(2)) + " earned";
            });
      check(ledger,
            "SELECT hold_id, status FROM holds WHERE (status = 'active') != (resolved_at_ms IS NULL)", r.problems,
            [](Query& q) { return "hold " + q.text(0) + ": status " + q.text(1) + " disagrees with its resolution"; });
      check(ledger,
            "SELECT e.entry_id FROM entries e LEFT JOIN requests r ON r.branch = e.branch AND "
            "r.request_id = e.request_id WHERE r.request_id IS NULL",
            r.problems, [](Query& q) { return "entry " + q.text(0) + " has no recorded request"; });
      check(ledger, "PRAGMA integrity_check", r.problems, [](Query& q) {
        return q.text(0) == "ok" ? std::string() : "integrity_check: " + q.text(0);
      });
      std::erase(r.problems, std::string());
      ledger.exec("COMMIT");
    } catch (...) {
      ledger.exec("ROLLBACK");
      throw;
    }
    return 0;
  });
  return r;
}

std::vector<ReportRow> points_report(SqliteLedger& ledger, const std::string& from_day, const std::string& to_day,
                                     const std::optional<std::string>& branch) {
  std::map<std::pair<std::string, std::string>, ReportRow> rows;
  ledger.with_db([&](sqlite3*) {
    {
      auto q = ledger.query(
          "SELECT date((business_at_ms / 1000) + business_offset * 60, 'unixepoch') AS day, branch, "
          "sum(CASE WHEN kind = 'earn' THEN points ELSE 0 END), "
          "-sum(CASE WHEN kind = 'redeem' THEN points ELSE 0 END), "
          "-sum(CASE WHEN kind IN ('clawback', 'void_clawback') THEN points ELSE 0 END), "
          "sum(CASE WHEN kind IN ('restore', 'void_restore') THEN points ELSE 0 END), "
          "-sum(CASE WHEN kind = 'expire' THEN points ELSE 0 END), "
          "sum(CASE WHEN kind IN ('adjust', 'welcome', 'transfer_in', 'transfer_out') THEN points ELSE 0 END), "
          "count(DISTINCT account_id) "
          "FROM entries WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) "
          "GROUP BY day, branch");
      q.bind(1, from_day).bind(2, to_day);
      if (branch) q.bind(3, *branch);
      while (q.step()) {
        ReportRow& r = rows[{q.text(0), q.text(1)}];
        r.day = q.text(0);
        r.branch = q.text(1);
        r.earned = q.i64(2);
        r.redeemed = q.i64(3);
        r.clawed_back = q.i64(4);
        r.restored = q.i64(5);
        r.expired = q.i64(6);
        r.adjusted = q.i64(7);
        r.customers = q.i64(8);
      }
    }
    auto q = ledger.query(
        "SELECT date((at_ms / 1000) + at_offset * 60, 'unixepoch') AS day, branch, count(*) FROM sales "
        "WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR branch = ?3) GROUP BY day, branch");
    q.bind(1, from_day).bind(2, to_day);
    if (branch) q.bind(3, *branch);
    while (q.step()) {
      ReportRow& r = rows[{q.text(0), q.text(1)}];
      r.day = q.text(0);
      r.branch = q.text(1);
      r.sales = q.i64(2);
    }
    return 0;
  });
  std::vector<ReportRow> out;
  for (auto& [k, v] : rows) out.push_back(std::move(v));
  return out;
}

}  // namespace loyalty::ledger
