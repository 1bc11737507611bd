// Program versions and the admin audit log (schema step 2, ledger/src/migrations.cc).
//
// The effective program of a branch is the newest program_versions row, else the TOML
// file's. Rows are appended by loyaltyctl, loyaltyd's admin page and the sync client (hub
// documents); the running plugin notices a new row by polling latest_program_seq() (a
// one-row index lookup) and swaps its settings (bootstrap/program_manager.h).
//
// Thread-safety and failures: as SqliteLedger (each call takes the connection's lock; do
// not call inside a transaction of the same ledger). Every function throws
// app::StoreFailure (kUnavailable: busy, read-only, disk full; kInternal otherwise).
// These functions store what they are given: validating a document is the caller's job
// (config::parse_program_document).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {

struct ProgramVersionRow {
  int64_t seq = 0;         // assigned by store_program_version
  std::string version;     // ProgramConfig.version of the document
  std::string document;    // the TOML text
  std::string source;      // "file", "admin" or "hub"
  std::string changed_by;  // the actor ("ana", "hub", "admin-page:admin")
  int64_t changed_at_ms = 0;
  std::string note;
};

struct AuditRow {
  int64_t id = 0;  // assigned by append_audit
  std::string who;
  int64_t at_ms = 0;
  std::string action;  // "program.exclude-method.add", "customer.merge", ...
  std::string target;  // what it acted on ("credit_card", an account id)
  std::string before;  // the value before (text or JSON); "" when not applicable
  std::string after;
};

// In one write transaction (BEGIN IMMEDIATE): when `expected_seq` is given and the newest
// seq is another one (someone stored a version since the caller read it), throws
// StoreFailure kConflict and stores nothing. When `bootstrap` is given and the table is
// still empty, stores it first (the file's document, so that history shows where the
// change started); then stores `row` and the audit rows. Returns `row` with its seq.
ProgramVersionRow store_program_version(SqliteLedger& ledger, ProgramVersionRow row,
                                        const std::optional<ProgramVersionRow>& bootstrap,
                                        const std::vector<AuditRow>& audit,
                                        std::optional<int64_t> expected_seq = std::nullopt);

// The newest row, if any.
std::optional<ProgramVersionRow> latest_program_version(SqliteLedger& ledger);
// The newest row's seq, 0 when there is none: the cheap check the plugin polls.
int64_t latest_program_seq(SqliteLedger& ledger);
// Newest first, at most `limit` rows.
std::vector<ProgramVersionRow> program_history(SqliteLedger& ledger, int64_t limit);
// The newest row with this program version (to show what rules computed an entry).
std::optional<ProgramVersionRow> find_program_version(SqliteLedger& ledger,
                                                      const std::string& version);

// Program documents a request may have run under, by program version, for the re-run of
// request records after a crash (SqliteLedger::set_request_executor): the stored versions
// are in program_versions; a TOML file's document is remembered here (in `meta`, as
// "program_document:<version>"; a no-op when already there), since the file may be edited
// before the re-run. Durable when it returns.
void remember_program_document(SqliteLedger& ledger, const std::string& version, const std::string& document);
// Every remembered document: version -> TOML text.
std::vector<std::pair<std::string, std::string>> remembered_program_documents(SqliteLedger& ledger);

// Appends audit rows in their own transaction.
void append_audit(SqliteLedger& ledger, const std::vector<AuditRow>& rows);
// Newest first, at most `limit` rows; only rows for `target` when it is not empty.
std::vector<AuditRow> audit_log(SqliteLedger& ledger, int64_t limit, const std::string& target);

}  // namespace loyalty::ledger
