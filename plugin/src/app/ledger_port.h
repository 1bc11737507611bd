// The ledger as the application sees it. ledger/ implements it on SQLite; tests may fake it.
//
// A LedgerTx is one write transaction (BEGIN IMMEDIATE ... COMMIT). Every method either
// succeeds or throws StoreFailure; the service then rolls back, so a request is applied
// fully or not at all. Points balances are kept incrementally by append_entry().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/lots.h"
#include "domain/refunds.h"
#include "domain/responses.h"
#include "domain/result.h"
#include "domain/time.h"

namespace loyalty::app {

// A storage failure: kUnavailable (busy, disk full, read-only) or kInternal (corruption, a
// broken invariant, a defect). kConflict for a reference that already names another account.
class StoreFailure : public std::runtime_error {
 public:
  StoreFailure(domain::ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  domain::ErrorCode code() const { return code_; }

 private:
  domain::ErrorCode code_;
};

struct Account {
  std::string account_id;  // "<branch>-<26 char ULID>", globally unique
  std::string category;    // customer category ("" = none)
  std::string birthday;    // "YYYY-MM-DD" or "" (from customer_pii)
  domain::Points balance{0};
  domain::BusinessTime created_at;
  int64_t sales_count = 0;  // completed sales with this account (first visit = 0)
};

struct Pii {
  std::optional<std::string> name, email, phone, birthday;
};

// One row of the append-only entry log.
struct EntryRow {
  std::string entry_id;       // globally unique; set by the caller (see Service)
  std::string origin_branch;  // the branch that wrote it
  int64_t origin_seq = 0;     // assigned by append_entry: 1, 2, 3... per origin branch
  std::string account_id;
  std::string kind;  // earn redeem clawback restore expire adjust transfer_in transfer_out
                     // welcome welcome_reversal void_clawback void_restore (and the sync
                     // kinds of docs/sync.md)
  domain::Points points{0};   // signed
  std::string request_id;
  std::string branch;         // business branch of the request (usually origin_branch)
  std::string ticket;
  std::string ref_entry_id;   // e.g. the sale's earn entry for a clawback, the lot for expiry
  domain::BusinessTime business_at;
  int64_t recorded_at_ms = 0; // wall clock
  std::optional<domain::BusinessTime> expires_at;  // credits that create a lot
  std::string program_version;
  std::string reason;         // adjust reason / operator, promotions...
  std::string body_hash;      // hash of the request that produced it (hex)
  // Sync (docs/sync.md): the node epoch of the writing ledger ("" = this ledger's own, set by
  // append_entry) and kind-specific facts as JSON text ("" = none) that travel with the entry.
  std::string node_epoch;
  std::string data;
  // Not a column: append_entry / insert_remote_entry also count a sale on the account
  // (sales_count += 1), in the same UPDATE as the balance. Set on the one entry a sale with
  // a customer writes (its earn entry, or its 0-point "sale" entry).
  bool counts_sale = false;
};

// Where this branch stands with the hub (sync_state row of one peer).
struct SyncState {
  std::string hub_epoch;
  int64_t acked_seq = 0;       // highest own origin_seq the hub has committed
  int64_t applied_offset = 0;  // highest hub_offset applied here
  std::string config_version;
  int64_t last_contact_ms = 0; // wall clock of the last frame from the hub (0 = never)
  // Branch recovery (docs/sync.md "Branch recovery"): own writes are numbered above
  // own_seq_floor; own seqs recover_next..recover_to are still to be fetched back from the
  // hub (0 = none); check_offset/check_entry_id = the last remote entry applied (hello).
  int64_t own_seq_floor = 0;
  int64_t recover_next = 0;
  int64_t recover_to = 0;
  int64_t check_offset = 0;
  std::string check_entry_id;
};

struct Hold {
  std::string hold_id;
  std::string account_id;
  std::string branch;
  std::string request_id;
  std::string ticket;
  domain::Points points{0};
  domain::Money amount;
  std::string status;  // active captured released expired
  domain::BusinessTime created_at;       // business time of the authorize
  domain::BusinessTime business_deadline;
  int64_t wall_deadline_ms = 0;          // wall clock deadline
};

// What balance.query needs of an account, and nothing more: a store may answer it from a
// projection kept in memory (ledger/src/balance_projection.h) instead of three lookups.
struct BalanceView {
  struct OpenLot {
    domain::BusinessTime expires_at;
    domain::Points remaining{0};
  };
  struct ActiveHold {
    domain::Points points{0};
    domain::BusinessTime business_deadline;
    int64_t wall_deadline_ms = 0;
  };
  std::string account_id;
  std::string category;
  domain::Points balance{0};
  std::vector<OpenLot> lots;      // as open_lots(): remaining > 0, in consumption order
  std::vector<ActiveHold> holds;  // as active_holds_of_account()
};

struct StoredRequest {
  std::string body_hash;
  int code = 0;               // C ABI code of the stored response
  std::string response_json;  // exactly what was returned the first time
};

struct QuarantineRow {
  int64_t received_at_ms = 0;
  std::string source;  // "abi", "http", "poslog:<file>", ...
  std::string raw;     // the bytes received (possibly only the head of a huge request)
  std::string error_code;
  std::string field;
  std::string message;
};

class LedgerTx {
 public:
  virtual ~LedgerTx() = default;

  // ---- idempotency (requests table) ----
  virtual std::optional<StoredRequest> find_request(const std::string& branch,
                                                    const std::string& request_id) = 0;
  virtual void put_request(const std::string& branch, const std::string& request_id,
                           const StoredRequest& stored, int64_t at_ms) = 0;

  // ---- accounts ----
  virtual std::optional<Account> find_account_by_ref(const std::string& ref) = 0;
  virtual std::optional<Account> find_account(const std::string& account_id) = 0;
  // The account `ref` names, with its open lots and active holds (balance.query). This
  // default asks the three methods it stands for.
  virtual std::optional<BalanceView> balance_view(const std::string& ref);
  // The open lots as a BalanceView keeps them (balance_view()): by default from open_lots();
  // a store may read only these two columns.
  virtual std::vector<BalanceView::OpenLot> view_lots(const std::string& account_id);
  // Mints a new account id for `branch`, registers `ref` as its first alias.
  virtual Account create_account(const std::string& branch, const std::string& ref,
                                 const std::string& category,
                                 const domain::BusinessTime& at) = 0;
  // Registers `ref` for the account; no-op if already its own; throws StoreFailure
  // kConflict if it names another account.
  virtual void add_alias(const std::string& account_id, const std::string& ref) = 0;
  virtual std::vector<std::string> aliases(const std::string& account_id) = 0;
  virtual void set_category(const std::string& account_id, const std::string& category) = 0;
  virtual void upsert_pii(const std::string& account_id, const Pii& pii) = 0;

  // ---- entries, lots ----
  // Appends the entry (origin_seq assigned and written back), adds `points` to the
  // account's balance (and counts a sale when `entry.counts_sale`), takes `allocations`
  // from their lots (recording lot_allocations), and creates `new_lot` when given
  // (lot_id = entry_id). One call, one entry.
  virtual void append_entry(EntryRow& entry, const std::vector<domain::Allocation>& allocations,
                            const std::optional<domain::Lot>& new_lot) = 0;
  virtual bool entry_exists(const std::string& entry_id) = 0;
  // The account's lots with remaining > 0 in consumption order (expires_at, earned_at, lot_id).
  virtual std::vector<domain::Lot> open_lots(const std::string& account_id) = 0;
  // The open lots whose expiry is at or before `at` (rule 6), in consumption order. This
  // default filters open_lots(); a store may read only those.
  virtual std::vector<domain::Lot> expired_lots(const std::string& account_id, const domain::BusinessTime& at);

  // ---- sales (rule 7 bookkeeping) ----
  virtual std::optional<domain::SaleRecord> find_sale(const std::string& branch,
                                                      const std::string& ticket) = 0;
  // Inserts or replaces the record of (sale.branch, sale.ticket), lines included.
  virtual void put_sale(const domain::SaleRecord& sale) = 0;

  // ---- holds ----
  virtual void insert_hold(const Hold& hold) = 0;
  virtual std::optional<Hold> find_hold(const std::string& hold_id) = 0;
  virtual std::vector<Hold> active_holds_of_account(const std::string& account_id) = 0;
  virtual std::vector<Hold> active_holds_of_ticket(const std::string& branch,
                                                   const std::string& ticket) = 0;
  // Moves an active hold to captured/released/expired; throws kInternal if not active.
  virtual void resolve_hold(const std::string& hold_id, const std::string& status,
                            int64_t at_ms) = 0;

  // ---- sync (docs/sync.md, "Branch") ----
  // Inserts an entry another node wrote, keeping its origin_seq and node_epoch; balance,
  // allocations and lot as append_entry. Throws kInternal if entry_id or (origin, seq) exists.
  virtual void insert_remote_entry(const EntryRow& entry,
                                   const std::vector<domain::Allocation>& allocations,
                                   const std::optional<domain::Lot>& new_lot) = 0;
  virtual std::optional<EntryRow> find_entry(const std::string& entry_id) = 0;
  // Creates the account row if it does not exist (an account first seen through a remote
  // entry); returns it.
  virtual Account ensure_account(const std::string& account_id, const std::string& origin_branch,
                                 const domain::BusinessTime& at) = 0;
  // Entries written by `origin_branch` with origin_seq > after_seq, in seq order (the outbox).
  virtual std::vector<EntryRow> entries_of_origin(const std::string& origin_branch,
                                                  int64_t after_seq, int64_t limit) = 0;
  virtual int64_t max_seq(const std::string& origin_branch) = 0;
  // This ledger writes its own entries under `epoch` from now on (meta.node_epoch; a restored
  // ledger starts a new one). Takes effect for appends after this transaction commits.
  virtual void set_node_epoch(const std::string& epoch) = 0;
  // Lots with remaining > 0 and expires_at <= now_ms whose credit `origin_branch` wrote,
  // soonest expiry first, at most `limit` (the owner-side expiry sweep).
  virtual std::vector<domain::Lot> due_lots(int64_t now_ms, const std::string& origin_branch,
                                            int64_t limit) = 0;
  virtual SyncState sync_state(const std::string& peer) = 0;
  virtual void put_sync_state(const std::string& peer, const SyncState& state) = 0;
  // Refunds recorded here whose sale was unknown (the refund correction, docs/sync.md).
  virtual void add_unmatched_refund(const std::string& sale_branch, const std::string& ticket,
                                    const std::string& refund_entry_id) = 0;
  virtual std::vector<std::string> take_unmatched_refunds(const std::string& sale_branch,
                                                          const std::string& ticket) = 0;
  // A remote alias fact naming a reference that already belongs to another account here.
  virtual void record_alias_conflict(const std::string& ref, const std::string& account_id,
                                     const std::string& kept_account_id,
                                     const std::string& entry_id) = 0;
  // Points authorized while offline for an account on a business day ("YYYY-MM-DD").
  virtual int64_t offline_redeemed(const std::string& account_id, const std::string& day) = 0;
  virtual void add_offline_redeemed(const std::string& account_id, const std::string& day,
                                    int64_t points) = 0;

  // ---- queries used by history.query ----
  virtual std::vector<EntryRow> entries_of_account(const std::string& account_id,
                                                   std::optional<int64_t> from_ms,
                                                   std::optional<int64_t> to_ms,
                                                   int64_t limit) = 0;

  // ---- customer administration (loyaltyctl customers; app/customers.h) ----
  virtual std::optional<Pii> find_pii(const std::string& account_id) = 0;
  // Re-points every alias of `from`, and every sale recorded for it, to `to` (a merge: a
  // refund or void of a sale made before it then moves the merged account's points).
  virtual void move_customer(const std::string& from, const std::string& to) = 0;
  // Deletes the account's customer_pii row and replaces each (old ref, token) pair: the
  // alias itself, and the ref's text inside stored responses and quarantined bytes.
  virtual void erase_personal_data(
      const std::string& account_id,
      const std::vector<std::pair<std::string, std::string>>& ref_tokens) = 0;

  // Commits and ends the transaction (no other call may follow); throws StoreFailure.
  // Without commit() the destructor rolls back.
  virtual void commit() = 0;

  // ---- request records (a store that re-runs requests after a crash) ----
  // Called first in a write transaction: the store keeps `record` (the request and what it
  // needs to run again exactly: its clock, its random seed) durably, by the time commit()
  // returns, in place of the transaction's rows; after a crash it hands the record back to
  // its executor, which runs the request again in the same way. False: the store keeps the
  // rows instead (the default), and nothing was written.
  virtual bool log_request(std::string_view /*record*/) { return false; }
  // Undoes what this transaction wrote, which stays open: a refusal records its answer in
  // the same transaction (so that a re-run of a logged request does the same).
  virtual void rollback_work() = 0;
  // A malformed request, kept inside this transaction (LedgerStore::quarantine keeps one in
  // its own).
  virtual void put_quarantine(const QuarantineRow& row) = 0;
};

inline std::optional<BalanceView> LedgerTx::balance_view(const std::string& ref) {
  auto acct = find_account_by_ref(ref);
  if (!acct) return std::nullopt;
  BalanceView v;
  v.account_id = std::move(acct->account_id);
  v.category = std::move(acct->category);
  v.balance = acct->balance;
  v.lots = view_lots(v.account_id);
  for (const Hold& h : active_holds_of_account(v.account_id)) {
    v.holds.push_back({h.points, h.business_deadline, h.wall_deadline_ms});
  }
  return v;
}

inline std::vector<domain::Lot> LedgerTx::expired_lots(const std::string& account_id,
                                                      const domain::BusinessTime& at) {
  return domain::expired_lots(open_lots(account_id), at);
}

inline std::vector<BalanceView::OpenLot> LedgerTx::view_lots(const std::string& account_id) {
  std::vector<BalanceView::OpenLot> out;
  for (const domain::Lot& lot : open_lots(account_id)) out.push_back({lot.expires_at, lot.remaining});
  return out;
}

// Read-only snapshot for queries (balance.query, history.query). Same methods subset.
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // BEGIN IMMEDIATE; retries SQLITE_BUSY up to busy_timeout, then StoreFailure kUnavailable.
  virtual std::unique_ptr<LedgerTx> begin_write() = 0;
  // The same, for a write of many entries at once (remote entries applied by sync, the
  // expiry sweep): a store may make those durable differently from a request's few rows.
  virtual std::unique_ptr<LedgerTx> begin_bulk_write() { return begin_write(); }
  // A read transaction (BEGIN DEFERRED); commit() just ends it.
  virtual std::unique_ptr<LedgerTx> begin_read() = 0;
  // Keeps a malformed request (own small transaction; trims the table to its cap).
  virtual void quarantine(const QuarantineRow& row) = 0;
  virtual int64_t schema_version() = 0;
  // Whether a write transaction's LedgerTx::log_request() may keep the request (callers
  // that can record a request before they parse it ask first).
  virtual bool logs_requests() const { return false; }
  // Makes what this process committed visible to other processes now (a store that holds
  // commits open for a while, SqliteLedger's held groups); a no-op by default.
  virtual void flush() {}
};

}  // namespace loyalty::app
