// Customer administration for loyaltyctl (docs/admin.md): find, merge, erase. Enrolling and
// aliases go through the contract's customer.upsert (Service::handle).
//
// Each function runs in one ledger transaction (all or nothing) and returns a Result:
// kNotFound for an unknown reference, kInvalidArgument for a refused operation,
// kUnavailable / kInternal for storage failures. Thread-safe as the ledger is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/clock.h"
#include "app/ledger_port.h"
#include "domain/result.h"

namespace loyalty::app {

struct CustomerView {
  Account account;
  std::vector<std::string> refs;
  Pii pii;
  std::vector<EntryRow> entries;  // oldest first (up to `max_entries`)
};

domain::Result<CustomerView> find_customer(LedgerStore& store, const std::string& ref,
                                           int64_t max_entries);

struct MergeReport {
  std::string from_account, to_account;
  int64_t points_moved = 0;
  int64_t lots_moved = 0;
  int64_t refs_moved = 0;
  int64_t to_balance = 0;
  bool replayed = false;  // the same request id merged these before: its answer, nothing done
};

// Merges the account of `from_ref` into the account of `to_ref`, as ledger entries so that
// sync can ship it: for every open lot of the source one `merge_out` entry (taking the lot)
// and one `merge_in` entry on the target creating a lot with the same expiry; the source's
// references then name the target. The source keeps its history and ends at 0; the target's
// balance is the sum. A source with a negative balance or active holds is refused (settle it
// first). `request_id` makes the entry ids (one merge per id) and is recorded as a request.
domain::Result<MergeReport> merge_customers(LedgerStore& store, const Clock& clock,
                                            const std::string& branch, const std::string& from_ref,
                                            const std::string& to_ref,
                                            const std::string& request_id,
                                            const std::string& program_version);

struct EraseReport {
  std::string account_id;
  std::vector<std::string> tokens;  // what the personal references became
};

// Erases the customer's personal data: the customer_pii row, and every personal reference
// (phone:, email:, name:) replaced by "erased:<random hex>" (not derivable from the
// reference), also inside stored responses and quarantined input. Card and POS references
// and all ledger amounts stay: balances, entries and verify are unchanged.
domain::Result<EraseReport> erase_customer(LedgerStore& store, const std::string& ref,
                                           const std::string& random_hex32);

}  // namespace loyalty::app
