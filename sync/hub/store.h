// HubStore: the hub's SQLite database (docs/sync.md "Hub", storage). WAL, synchronous=FULL,
// BEGIN IMMEDIATE for every write.
//
// Tables: meta (hub_epoch, schema_version), entries (hub_offset INTEGER PRIMARY KEY,
// UNIQUE(origin_branch, origin_seq), UNIQUE(entry_id)), skipped (pushed entries whose entry_id
// was already stored from another origin: kept for fork checks, never fanned out), positions
// (per branch: node_epoch, acked_seq, applied_offset, config_version, last_seen_ms), balances
// (account_id -> Σ points, kept in the same transaction as the entries), overdraws, configs
// (program document versions), tokens (SHA-256 of branch and admin tokens), quarantine.
//
// Ownership and threads: one HubStore owns one connection; it is not thread-safe (the Hub
// serializes calls with its own mutex). Failure: methods return Result with kUnavailable for
// SQLite errors and never throw.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/result.h"
#include "sync/protocol/frames.h"

struct sqlite3;

namespace loyalty::sync::hub {

// One stored entry in hub order with its pre-encoded JSON (encode_entry()).
struct StoredEntry {
  int64_t offset = 0;
  std::string origin_branch;
  std::string json;
  int64_t received_at_ms = 0;
};

struct OverdrawReport {
  int64_t offset = 0;  // hub_offset of the overdraw_report entry
  std::string account_id;
  int64_t balance = 0;  // after the batch that drove it negative
  std::string entry_id;
  std::string details_json;  // the report entry's data
  int64_t created_at_ms = 0;
};

struct Position {
  std::string branch;
  std::string node_epoch;
  int64_t acked_seq = 0;
  int64_t applied_offset = 0;
  std::string config_version;
  int64_t last_seen_ms = 0;
};

struct ConfigVersion {
  std::string version;
  std::string document;
  int64_t created_at_ms = 0;
};

// Outcome of store_push().
struct PushOutcome {
  enum class Kind { kAcked = 1, kNack, kFork };
  Kind kind = Kind::kAcked;
  int64_t acked_seq = 0;                  // kAcked: new cumulative acked seq; kNack: expected - 1
  int64_t stored = 0;                     // entries newly stored
  int64_t duplicates = 0;                 // same seq + same hash already stored, or entry_id taken
  std::string fork_detail;                // kFork: which seq differs
  std::vector<OverdrawReport> overdraws;  // reports made by this batch
  int64_t head_offset = 0;                // after the commit
  std::vector<StoredEntry> new_entries;   // stored by this batch (reports included), in order
};

class HubStore {
 public:
  // Opens (creating if needed) the database at `path` and migrates it.
  static domain::Result<std::unique_ptr<HubStore>> open(const std::string& path);
  ~HubStore();
  HubStore(const HubStore&) = delete;
  HubStore& operator=(const HubStore&) = delete;

  const std::string& hub_epoch() const { return hub_epoch_; }
  int64_t head_offset() const { return head_offset_; }

  // Acked seq (highest contiguous stored origin_seq) of `branch`; 0 when none.
  domain::Result<int64_t> acked_seq(const std::string& branch);

  // One push batch of `branch` in one transaction: dedupe by (origin_branch, origin_seq) and
  // entry_id, assign hub offsets, update balances, make overdraw reports. The caller checked
  // that every entry's origin_branch is `branch` and seqs are contiguous (decode_frame did).
  // Nothing is stored for kNack and kFork.
  domain::Result<PushOutcome> store_push(const std::string& branch, const std::string& node_epoch,
                                         const Push& push, int64_t now_ms);

  // Entries with offset > after_offset, not from `exclude_branch`, in order; at most
  // `limit`. Returns the entries and, in *scanned_to, the highest offset examined (so a range
  // holding only the branch's own entries still advances).
  domain::Result<std::vector<StoredEntry>> read_after(int64_t after_offset,
                                                      const std::string& exclude_branch,
                                                      size_t limit, int64_t* scanned_to);

  // Branch recovery (docs/sync.md): the entry_id stored at (branch, seq) ("" = none; a seq
  // kept in `skipped` counts), and the branch's own entries of seqs from..to (entries and
  // skipped), as (origin_seq, encoded JSON) in seq order.
  domain::Result<std::string> entry_id_at_seq(const std::string& branch, int64_t seq);
  domain::Result<std::vector<std::pair<int64_t, std::string>>> own_entries(
      const std::string& branch, int64_t from_seq, int64_t to_seq);
  // Whether this hub's history matches what a branch says it applied: the entry at
  // `check_offset` is `check_entry_id` (when check_offset > 0) and every entry in
  // (check_offset, applied_offset] is the branch's own. False after a restore from an older
  // copy that has since given those offsets to other entries (the branch must refetch).
  domain::Result<bool> history_matches(const std::string& branch, int64_t check_offset,
                                       const std::string& check_entry_id, int64_t applied_offset);

  // Positions.
  domain::Status touch_position(const std::string& branch, const std::string& node_epoch,
                                int64_t now_ms);
  // Several branches' applied offsets in one transaction.
  domain::Status save_applied(const std::vector<std::pair<std::string, int64_t>>& applied,
                              int64_t now_ms);
  domain::Status save_config_ack(const std::string& branch, const std::string& version);
  domain::Result<std::vector<Position>> positions();

  // Central program configuration.
  domain::Result<std::optional<ConfigVersion>> current_config();
  // Stores `document` as the new current version "<n>-<sha256 prefix>" and returns it.
  domain::Result<ConfigVersion> add_config(const std::string& document, int64_t now_ms);

  // Overdraw reports, newest first.
  domain::Result<std::vector<OverdrawReport>> overdraws(size_t limit);
  int64_t overdraw_count() const { return overdraw_count_; }

  // Tokens: SHA-256 hex of each token, by name (a branch id, or "admin").
  domain::Status put_token_hash(const std::string& name, const std::string& sha256_hex,
                                int64_t now_ms);
  domain::Status revoke_token(const std::string& name);
  domain::Result<std::optional<std::string>> token_hash(const std::string& name);
  domain::Result<std::vector<std::pair<std::string, int64_t>>> tokens();  // name, created_at_ms

  // Keeps a malformed frame (first 64 KiB) with the decoder's error.
  domain::Status quarantine(const std::string& branch, std::string_view raw,
                            const domain::Error& error, int64_t now_ms);
  int64_t quarantined() const { return quarantined_; }

  // Balance of an account (Σ points of every stored entry); 0 for an unknown account.
  domain::Result<int64_t> balance(const std::string& account_id);
  // Count of stored entries.
  domain::Result<int64_t> entry_count();

 private:
  explicit HubStore(sqlite3* db) : db_(db) {}
  domain::Status migrate();
  domain::Status exec(const char* sql);

  sqlite3* db_;
  std::string hub_epoch_;
  int64_t head_offset_ = 0;
  int64_t hub_seq_ = 0;  // origin_seq of the last hub-made entry
  int64_t overdraw_count_ = 0;
  int64_t quarantined_ = 0;
};

// Lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);
// `n` random bytes as lowercase hex (OpenSSL RAND_bytes).
std::string random_hex(size_t n);

}  // namespace loyalty::sync::hub
