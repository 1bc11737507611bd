// Admin reads of a ledger for loyaltyctl: verify (recompute and check every invariant) and
// the points report. Each opens its own short-lived read-only connection to the ledger's
// file and reads one consistent snapshot of what is committed; POS threads are not held up
// (WAL readers do not block the writer). Thread-safe. Throws StoreFailure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/time.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {

struct VerifyReport {
  int64_t accounts_checked = 0;
  int64_t entries_checked = 0;
  std::vector<std::string> problems;  // one sentence each; empty = clean (at most ~1000 listed)
  bool ok() const { return problems.empty(); }
};

// Checks what is always true of a ledger written by this code, with set-wide queries
// (about a second per million entries):
//  - every account's balance equals the sum of its entries (stored vs recomputed);
//  - the lots of an account hold exactly the positive part of its balance;
//  - every lot's remaining equals what it started with minus what was allocated from it,
//    and every allocation names an existing lot and entry;
//  - origin_seq runs 1..n without gaps per origin branch, and is contiguous per (origin
//    branch, node_epoch); entries synced from other branches are checked the same way;
//  - no sale clawed back more than it earned;
//  - a hold has a resolution time exactly when it is no longer active;
//  - every entry this branch wrote belongs to a recorded request;
//  - PRAGMA integrity_check.
VerifyReport verify(SqliteLedger& ledger);

struct ReportRow {
  std::string day;     // YYYY-MM-DD of business_at in the entry's own UTC offset
  std::string branch;  // the business branch (entries.branch, sales.branch)
  // Points, all positive except `adjusted` (signed: adjust, welcome, welcome_reversal,
  // transfer_in/out).
  int64_t earned = 0, redeemed = 0, clawed_back = 0, restored = 0, expired = 0, adjusted = 0;
  int64_t sales = 0;      // completed sales recorded that day (with or without a customer)
  int64_t customers = 0;  // distinct accounts with entries that day
};

// Points per business day and branch, for entries and sales whose business time is in
// [from_ms, to_ms] (both inclusive), optionally for one branch. Sorted by day, branch.
std::vector<ReportRow> points_report(SqliteLedger& ledger, int64_t from_ms, int64_t to_ms,
                                     const std::optional<std::string>& branch);

// The same for business days ("2026-11-22", in each entry's own offset, as the POS wrote
// `at`) from `from_day` to `to_day` inclusive.
std::vector<ReportRow> points_report(SqliteLedger& ledger, const std::string& from_day,
                                     const std::string& to_day,
                                     const std::optional<std::string>& branch);

// A remote alias (or enrollment) whose reference names another account here: the reference
// was not re-pointed, the entry was applied (docs/sync.md, "Accounts"). For an operator to
// settle, e.g. with `loyaltyctl customers merge`.
struct AliasConflict {
  std::string entry_id;         // the remote entry
  std::string ref;              // the reference
  std::string account_id;       // the account the remote entry gave it
  std::string kept_account_id;  // the account it names here
};
std::vector<AliasConflict> alias_conflicts(SqliteLedger& ledger);

// The business time, as its request wrote it, of the entries request (branch, request_id)
// wrote here; nullopt when it wrote none (never sent, or refused). A retry of the request
// (loyaltyctl adjust --id) sends it again so that its body, and its answer, are the same.
std::optional<domain::BusinessTime> request_business_time(SqliteLedger& ledger, const std::string& branch,
                                                          const std::string& request_id);

// The branches whose requests wrote this ledger's entries, sorted (own and synced).
std::vector<std::string> entry_branches(SqliteLedger& ledger);

}  // namespace loyalty::ledger
