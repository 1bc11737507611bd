// Admin reads of a ledger: verify (recompute and check every invariant) and reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/sqlite_ledger.h"

namespace loyalty::ledger {

struct VerifyReport {
  int64_t accounts_checked = 0;
  int64_t entries_checked = 0;
  std::vector<std::string> problems;  // one sentence each; empty = clean
  bool ok() const { return problems.empty(); }
};

// Checks, in one read transaction:
//  - every account's balance equals the sum of its entries;
//  - the lots of an account hold exactly the positive part of its balance;
//  - every lot's remaining equals its initial points minus what was allocated from it;
//  - origin_seq has no gaps per origin branch;
//  - no sale clawed back more than it earned;
//  - every hold that is resolved has a resolution time, and no active one has;
//  - every entry belongs to a recorded request;
//  - PRAGMA integrity_check.
VerifyReport verify(SqliteLedger& ledger);

struct ReportRow {
  std::string day;     // YYYY-MM-DD in the business time's own offset
  std::string branch;
  int64_t earned = 0, redeemed = 0, clawed_back = 0, restored = 0, expired = 0, adjusted = 0;
  int64_t sales = 0;      // completed sales recorded (with or without a customer)
  int64_t customers = 0;  // distinct accounts with entries that day
};

// Points per business day and branch for business days (in each entry's own UTC offset,
// as the POS wrote `at`) from `from_day` to `to_day` inclusive ("2026-11-22").
std::vector<ReportRow> points_report(SqliteLedger& ledger, const std::string& from_day, const std::string& to_day,
                                     const std::optional<std::string>& branch);

}  // namespace loyalty::ledger
