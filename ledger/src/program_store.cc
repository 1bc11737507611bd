#include "ledger/program_store.h"

namespace loyalty::ledger {

namespace {

// Runs `f` inside BEGIN IMMEDIATE ... COMMIT on the ledger's connection; rolls back when
// it throws.
template <class F>
void in_write_tx(SqliteLedger& ledger, F&& f) {
  if (ledger.options().read_only) {
    throw app::StoreFailure(domain::ErrorCode::kUnavailable, "the ledger is open read-only");
  }
  ledger.with_db([&](sqlite3* db) {
    ledger.exec("BEGIN IMMEDIATE");
    try {
      f();
      ledger.exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  });
}

void insert_version(SqliteLedger& ledger, ProgramVersionRow& row) {
  auto q = ledger.query(
      "INSERT INTO program_versions(version, document, source, changed_by, changed_at_ms, note) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq");
  q.bind(1, row.version).bind(2, row.document).bind(3, row.source).bind(4, row.changed_by);
  q.bind(5, row.changed_at_ms).bind(6, row.note);
  if (q.step()) row.seq = q.i64(0);
  q.run();
}

void insert_audit(SqliteLedger& ledger, const AuditRow& a) {
  auto q = ledger.query(
      "INSERT INTO admin_audit(who, at_ms, action, target, before, after) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  q.bind(1, a.who).bind(2, a.at_ms).bind(3, a.action).bind(4, a.target).bind(5, a.before);
  q.bind(6, a.after);
  q.run();
}

constexpr const char* kVersionColumns =
    "SELECT seq, version, document, source, changed_by, changed_at_ms, note FROM "
    "program_versions ";

ProgramVersionRow version_row(const Query& q) {
  ProgramVersionRow r;
  r.seq = q.i64(0);
  r.version = q.text(1);
  r.document = q.text(2);
  r.source = q.text(3);
  r.changed_by = q.text(4);
  r.changed_at_ms = q.i64(5);
  r.note = q.text(6);
  return r;
}

std::vector<ProgramVersionRow> versions(SqliteLedger& ledger, const std::string& where,
                                        const std::string& arg, int64_t limit) {
  return ledger.with_db([&](sqlite3*) {
    auto q = ledger.query(std::string(kVersionColumns) + where + " ORDER BY seq DESC LIMIT ?1");
    q.bind(1, limit);
    if (!arg.empty()) q.bind(2, arg);
    std::vector<ProgramVersionRow> out;
    while (q.step()) out.push_back(version_row(q));
    return out;
  });
}

}  // namespace

void remember_program_document(SqliteLedger& ledger, const std::string& version, const std::string& document) {
  ledger.with_db([&](sqlite3*) {
    auto q = ledger.query("INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)");
    q.bind_copy(1, "program_document:" + version).bind(2, document);
    q.run();
  });
}

std::vector<std::pair<std::string, std::string>> remembered_program_documents(SqliteLedger& ledger) {
  return ledger.with_db([&](sqlite3*) {
    auto q = ledger.query("SELECT substr(key, 18), value FROM meta WHERE key GLOB 'program_document:*'");
    std::vector<std::pair<std::string, std::string>> out;
    while (q.step()) out.emplace_back(q.text(0), q.text(1));
    return out;
  });
}

ProgramVersionRow store_program_version(SqliteLedger& ledger, ProgramVersionRow row,
                                        const std::optional<ProgramVersionRow>& bootstrap,
                                        const std::vector<AuditRow>& audit,
                                        std::optional<int64_t> expected_seq) {
  in_write_tx(ledger, [&] {
    if (expected_seq) {
      auto q = ledger.query("SELECT coalesce(max(seq), 0) FROM program_versions");
      q.step();
      const int64_t latest = q.i64(0);
      q.run();
      if (latest != *expected_seq) {
        throw app::StoreFailure(domain::ErrorCode::kConflict,
                                "the program changed meanwhile (version " + std::to_string(latest) +
                                    ", expected " + std::to_string(*expected_seq) +
                                    "); look again and retry");
      }
    }
    if (bootstrap) {
      bool empty = true;
      {
        auto q = ledger.query("SELECT 1 FROM program_versions LIMIT 1");
        empty = !q.step();
      }
      if (empty) {
        ProgramVersionRow b = *bootstrap;
        insert_version(ledger, b);
      }
    }
    insert_version(ledger, row);
    for (const AuditRow& a : audit) insert_audit(ledger, a);
  });
  return row;
}

std::optional<ProgramVersionRow> latest_program_version(SqliteLedger& ledger) {
  auto v = versions(ledger, "", "", 1);
  if (v.empty()) return std::nullopt;
  return v.front();
}

int64_t latest_program_seq(SqliteLedger& ledger) {
  return ledger.with_db([&](sqlite3*) {
    auto q = ledger.query("SELECT coalesce(max(seq), 0) FROM program_versions");
    q.step();
    return q.i64(0);
  });
}

std::vector<ProgramVersionRow> program_history(SqliteLedger& ledger, int64_t limit) {
  return versions(ledger, "", "", limit);
}

std::optional<ProgramVersionRow> find_program_version(SqliteLedger& ledger,
                                                      const std::string& version) {
  if (version.empty()) return std::nullopt;
  auto v = versions(ledger, "WHERE version = ?2", version, 1);
  if (v.empty()) return std::nullopt;
  return v.front();
}

void append_audit(SqliteLedger& ledger, const std::vector<AuditRow>& rows) {
  in_write_tx(ledger, [&] {
    for (const AuditRow& a : rows) insert_audit(ledger, a);
  });
}

std::vector<AuditRow> audit_log(SqliteLedger& ledger, int64_t limit, const std::string& target) {
  return ledger.with_db([&](sqlite3*) {
    auto q = ledger.query(
        std::string("SELECT id, who, at_ms, action, target, before, after FROM admin_audit ") +
        (target.empty() ? "" : "WHERE target = ?2 ") + "ORDER BY id DESC LIMIT ?1");
    q.bind(1, limit);
    if (!target.empty()) q.bind(2, target);
    std::vector<AuditRow> out;
    while (q.step()) {
      AuditRow a;
      a.id = q.i64(0);
      a.who = q.text(1);
      a.at_ms = q.i64(2);
      a.action = q.text(3);
      a.target = q.text(4);
      a.before = q.text(5);
      a.after = q.text(6);
      out.push_back(std::move(a));
    }
    return out;
  });
}

}  // namespace loyalty::ledger
