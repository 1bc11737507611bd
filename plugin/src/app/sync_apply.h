// Applying entries written by other branches (docs/sync.md, "Branch").
//
// apply_remote_batch() runs one write transaction: every entry of the batch (idempotent by
// entry_id: an entry already present with the same body_hash is skipped), the derived state
// (balance, lots, sales rows, aliases), the refund corrections this branch owes, and
// sync_state.applied_offset = to_offset (and check_offset/check_entry_id = the last entry and
// its hub offset from `offsets`, parallel to `entries`, when given). All or nothing. Throws
// StoreFailure; a batch entry that contradicts one already stored (same id, different body_hash) is
// skipped and counted in `conflicts`, never applied twice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/clock.h"
#include "app/ledger_port.h"
#include "config/settings.h"

namespace loyalty::app {

struct ApplyCounts {
  int64_t applied = 0;      // new entries written
  int64_t duplicates = 0;   // already present (same body)
  int64_t conflicts = 0;    // same entry_id, different body: skipped
  int64_t corrections = 0;  // refund corrections this branch appended

  ApplyCounts& operator+=(const ApplyCounts& o) {
    applied += o.applied;
    duplicates += o.duplicates;
    conflicts += o.conflicts;
    corrections += o.corrections;
    return *this;
  }
};

inline constexpr char kHubPeer[] = "hub";

// `self` is this branch (plugin.branch); entries of our own origin are skipped (the hub never
// sends them). `settings` gives expiry_days for a correction credit and the program version.
ApplyCounts apply_remote_batch(LedgerStore& store, const config::Settings& settings,
                               const Clock& clock, const std::vector<EntryRow>& entries,
                               int64_t to_offset, const std::vector<int64_t>& offsets = {});

// One ENTRIES frame from the hub as ledger rows: `offsets` are the entries' hub offsets
// (parallel to `entries`), `to_offset` the frame's end (what APPLIED reports).
struct RemoteFrame {
  std::vector<EntryRow> entries;
  std::vector<int64_t> offsets;
  int64_t to_offset = 0;
};

// Several frames, in hub order, in ONE write transaction: each entry as apply_remote_batch
// does, then sync_state once (applied_offset = the highest to_offset, check_offset and
// check_entry_id = the last entry of the last non-empty frame). All or nothing: when it
// throws, none of the frames was applied (the caller can retry them one transaction each to
// find the frame that fails). The sync client applies the frames it has already received in
// one transaction (docs/sync.md "Speed").
ApplyCounts apply_remote_frames(LedgerStore& store, const config::Settings& settings,
                                const Clock& clock, const std::vector<RemoteFrame>& frames);

// Branch recovery (docs/sync.md "Branch recovery"): this branch's own entries that the hub
// holds and this ledger lost (it was restored from an older copy). One write transaction:
// each entry is inserted with its own origin_seq and node_epoch like a remote one (an entry
// already here with the same id counts as a duplicate; another entry at the same seq as a
// conflict, skipped), then sync_state.recover_next = next_seq (and recover_next/recover_to
// reset to 0 once next_seq > recover_to).
ApplyCounts apply_own_recovered(LedgerStore& store, const config::Settings& settings,
                                const Clock& clock, const std::vector<EntryRow>& entries,
                                int64_t next_seq);

// The owner-side expiry sweep (docs/sync.md "Expiry authority"): in one write transaction,
// expires at most `limit` lots that this branch's own credits created and whose expiry is at
// or before clock.now_ms(): entry `expire:<lot>` (deterministic, so a rerun or the lazy
// expiry at a later request never writes it twice), business time = the lot's expiry.
// Returns how many lots it expired (== limit: call again).
int64_t expire_due_lots(LedgerStore& store, const config::Settings& settings, const Clock& clock,
                        int64_t limit);

// The points that expired from a sale's own lot (its expiry entry, which only the sale's
// branch writes), 0 when none did or none is known here yet.
domain::Points expired_from_lot(LedgerTx& tx, const domain::SaleRecord& sale);

// A sale recorded here, in `tx`, after refunds of its ticket that found no sale (rule 9, at
// the customer's rate): each is corrected to what the refunded part earned (rule 7), by a
// `refund_correction`, as when the sale arrives by sync (docs/sync.md, "Refunds across
// branches"). Returns the number of corrections written.
int64_t correct_refunds_of_arrived_sale(LedgerTx& tx, const config::Settings& settings, int64_t now_ms,
                                        const domain::SaleRecord& sale);

// Own entries after `after_seq`, at most `limit`, in seq order (one read transaction).
std::vector<EntryRow> outbox(LedgerStore& store, const std::string& self, int64_t after_seq,
                             int64_t limit);

}  // namespace loyalty::app
