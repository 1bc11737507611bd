// Schema migrations, in order. Step N brings the schema from version N-1 to N; all pending
// steps run in one transaction together with the schema_version update. Never edit a
// released step: add one.
//
// Layout choices (see ledger/README.md):
//  - Tables are STRICT. Times are unix milliseconds plus the UTC offset in minutes the POS
//    wrote them with, so a BusinessTime round-trips. Money, quantities and percentages are
//    integer micro-units; points are integers.
//  - entries is a rowid table (appends go to the end of the b-tree) with UNIQUE entry_id
//    and UNIQUE (origin_branch, origin_seq); triggers make it append-only except for
//    setting hub_offset once.
//  - accounts and sales are WITHOUT ROWID (one b-tree descent per lookup); lots are
//    clustered by (account_id, expires_at_ms, earned_at_ms, lot_id), the order in which a
//    debit consumes them, and lot_id is UNIQUE.
//  - A sale's lines live in the sale's own row ("n amount qty percent refunded;..."), so a
//    sale or refund rewrites one row instead of a row per line.
#include "ledger/migrations.h"

namespace loyalty::ledger {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> steps = {
      {1, "initial ledger: accounts, aliases, entries, lots, sales, holds, requests, quarantine",
       R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE accounts (
  account_id     TEXT PRIMARY KEY,
  category       TEXT NOT NULL DEFAULT '',
  balance        INTEGER NOT NULL DEFAULT 0,
  sales_count    INTEGER NOT NULL DEFAULT 0,
  created_at_ms  INTEGER NOT NULL,
  created_offset INTEGER NOT NULL,
  origin_branch  TEXT NOT NULL,
  updated_seq    INTEGER NOT NULL DEFAULT 0  -- origin_seq of the last entry applied to it
) STRICT, WITHOUT ROWID;

CREATE TABLE aliases (
  ref        TEXT PRIMARY KEY,  -- the normalized customer reference, as given
  account_id TEXT NOT NULL REFERENCES accounts(account_id)
) STRICT;
CREATE INDEX aliases_account ON aliases(account_id);

CREATE TABLE customer_pii (
  account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
  name TEXT, email TEXT, phone TEXT, birthday TEXT
) STRICT, WITHOUT ROWID;

CREATE TABLE entries (
  entry_id        TEXT NOT NULL UNIQUE,
  origin_branch   TEXT NOT NULL,
  origin_seq      INTEGER NOT NULL CHECK (origin_seq > 0),
  node_epoch      TEXT NOT NULL,
  account_id      TEXT NOT NULL REFERENCES accounts(account_id),
  kind            TEXT NOT NULL,
  points          INTEGER NOT NULL,
  request_id      TEXT NOT NULL,
  branch          TEXT NOT NULL,
  ticket          TEXT NOT NULL,
  ref_entry_id    TEXT NOT NULL,
  business_at_ms  INTEGER NOT NULL,
  business_offset INTEGER NOT NULL,
  recorded_at_ms  INTEGER NOT NULL,
  expires_at_ms   INTEGER,
  expires_offset  INTEGER,
  program_version TEXT NOT NULL,
  reason          TEXT NOT NULL,
  body_hash       BLOB NOT NULL,  -- SHA-256 bytes (hex in the program)
  hub_offset      INTEGER,        -- global order, set once by sync
  UNIQUE (origin_branch, origin_seq)
) STRICT;
CREATE INDEX entries_account ON entries(account_id, business_at_ms, origin_seq);

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_no_update BEFORE UPDATE OF entry_id, origin_branch, origin_seq,
  node_epoch, account_id, kind, points, request_id, branch, ticket, ref_entry_id, business_at_ms,
  business_offset, recorded_at_ms, expires_at_ms, expires_offset, program_version, reason, body_hash
  ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_hub_offset_once BEFORE UPDATE OF hub_offset ON entries
  WHEN OLD.hub_offset IS NOT NULL OR NEW.hub_offset IS NULL
BEGIN SELECT RAISE(ABORT, 'hub_offset is set once'); END;

CREATE TABLE lots (
  account_id     TEXT NOT NULL REFERENCES accounts(account_id),
  expires_at_ms  INTEGER NOT NULL,
  earned_at_ms   INTEGER NOT NULL,
  lot_id         TEXT NOT NULL,         -- = the entry id of the credit that created it
  earned_offset  INTEGER NOT NULL,
  expires_offset INTEGER NOT NULL,
  original       INTEGER NOT NULL,      -- the credit's points
  initial        INTEGER NOT NULL,      -- remaining when created (less after a negative balance)
  remaining      INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= initial),
  PRIMARY KEY (account_id, expires_at_ms, earned_at_ms, lot_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE lot_allocations (
  entry_id TEXT NOT NULL,
  lot_id   TEXT NOT NULL,
  points   INTEGER NOT NULL CHECK (points > 0),
  PRIMARY KEY (entry_id, lot_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE sales (
  branch        TEXT NOT NULL,
  ticket        TEXT NOT NULL,
  request_id    TEXT NOT NULL,
  account_id    TEXT NOT NULL,  -- '' for an anonymous sale
  earn_entry_id TEXT NOT NULL,
  earned        INTEGER NOT NULL,
  clawed_back   INTEGER NOT NULL,
  redeemed      INTEGER NOT NULL,
  restored      INTEGER NOT NULL,
  voided        INTEGER NOT NULL CHECK (voided IN (0, 1)),
  at_ms         INTEGER NOT NULL,
  at_offset     INTEGER NOT NULL,
  lines         TEXT NOT NULL,  -- "n amount qty percent refunded" (micro-units) joined by ';'
  PRIMARY KEY (branch, ticket)
) STRICT, WITHOUT ROWID;

CREATE TABLE holds (
  hold_id              TEXT PRIMARY KEY,
  account_id           TEXT NOT NULL REFERENCES accounts(account_id),
  branch               TEXT NOT NULL,
  request_id           TEXT NOT NULL,
  ticket               TEXT NOT NULL,
  points               INTEGER NOT NULL,
  amount               INTEGER NOT NULL,  -- micro-units
  status               TEXT NOT NULL CHECK (status IN ('active', 'captured', 'released', 'expired')),
  created_at_ms        INTEGER NOT NULL,
  created_offset       INTEGER NOT NULL,  -- also the business deadline's offset
  business_deadline_ms INTEGER NOT NULL,
  wall_deadline_ms     INTEGER NOT NULL,
  resolved_at_ms       INTEGER
) STRICT;
CREATE INDEX holds_active_account ON holds(account_id) WHERE status = 'active';
CREATE INDEX holds_active_ticket ON holds(branch, ticket) WHERE status = 'active';

CREATE TABLE requests (
  branch        TEXT NOT NULL,
  request_id    TEXT NOT NULL,
  body_hash     BLOB NOT NULL,
  code          INTEGER NOT NULL,
  response_json TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (branch, request_id)  -- a rowid table: responses are large, appends are cheap
) STRICT;

CREATE TABLE quarantine (
  id             INTEGER PRIMARY KEY,
  received_at_ms INTEGER NOT NULL,
  source         TEXT NOT NULL,
  raw            BLOB NOT NULL,
  error_code     TEXT NOT NULL,
  field          TEXT NOT NULL,
  message        TEXT NOT NULL
) STRICT;

CREATE TABLE sync_state (
  peer           TEXT PRIMARY KEY,
  hub_epoch      TEXT NOT NULL DEFAULT '',
  acked_seq      INTEGER NOT NULL DEFAULT 0,
  applied_offset INTEGER NOT NULL DEFAULT 0,
  config_version TEXT NOT NULL DEFAULT ''
) STRICT;
)sql"},
      {2, "program versions (admin and hub changes to the program) and the admin audit log",
       R"sql(
-- Every program document the branch ran after the first change, newest = effective (when
-- there is none, the TOML file's [program] and [receipt] are). `version` is the program's
-- content hash (ProgramConfig.version) that every entry records, so an entry's rules can be
-- looked up; several rows may share it (a receipt-only change keeps the program's hash).
CREATE TABLE program_versions (
  seq           INTEGER PRIMARY KEY,
  version       TEXT NOT NULL,
  document      TEXT NOT NULL,
  source        TEXT NOT NULL CHECK (source IN ('file', 'admin', 'hub')),
  changed_by    TEXT NOT NULL,
  changed_at_ms INTEGER NOT NULL,
  note          TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX program_versions_version ON program_versions(version);

-- Who changed what and when: program changes and customer operations (merge, erase...).
-- Append-only like entries.
CREATE TABLE admin_audit (
  id     INTEGER PRIMARY KEY,
  who    TEXT NOT NULL,
  at_ms  INTEGER NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  before TEXT NOT NULL,
  after  TEXT NOT NULL
) STRICT;
CREATE TRIGGER admin_audit_no_update BEFORE UPDATE ON admin_audit
BEGIN SELECT RAISE(ABORT, 'the admin audit log is append-only'); END;
CREATE TRIGGER admin_audit_no_delete BEFORE DELETE ON admin_audit
BEGIN SELECT RAISE(ABORT, 'the admin audit log is append-only'); END;
CREATE TRIGGER program_versions_no_update BEFORE UPDATE ON program_versions
BEGIN SELECT RAISE(ABORT, 'program versions are append-only'); END;
)sql"},
      {3, "sync: entry data, unmatched refunds, alias conflicts, offline redemption, contact time",
       R"sql(
ALTER TABLE entries ADD COLUMN data TEXT;  -- kind-specific facts that travel (JSON), NULL = none
CREATE TRIGGER entries_data_no_update BEFORE UPDATE OF data ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE INDEX entries_hub_offset ON entries(hub_offset) WHERE hub_offset IS NOT NULL;

ALTER TABLE sync_state ADD COLUMN last_contact_ms INTEGER NOT NULL DEFAULT 0;

-- Refunds recorded here while their sale was unknown; when the sale arrives the refunding
-- branch appends the correction and the row goes.
CREATE TABLE unmatched_refunds (
  sale_branch     TEXT NOT NULL,
  sale_ticket     TEXT NOT NULL,
  refund_entry_id TEXT NOT NULL,
  PRIMARY KEY (sale_branch, sale_ticket, refund_entry_id)
) STRICT, WITHOUT ROWID;

-- A remote alias fact whose reference already named another account here (reported by
-- loyaltyctl sync status; never silently re-pointed).
CREATE TABLE alias_conflicts (
  ref             TEXT NOT NULL,
  account_id      TEXT NOT NULL,  -- what the remote entry said
  kept_account_id TEXT NOT NULL,  -- what this ledger keeps
  entry_id        TEXT NOT NULL PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- Points authorized while the hub was out of reach, per account and business day.
CREATE TABLE offline_redemptions (
  account_id TEXT NOT NULL,
  day        TEXT NOT NULL,
  points     INTEGER NOT NULL,
  PRIMARY KEY (account_id, day)
) STRICT, WITHOUT ROWID;
)sql"},
      {4, "sync recovery: own seq floor, own entries to fetch back, last applied remote entry",
       R"sql(
-- docs/sync.md "Branch recovery". own_seq_floor: own writes are numbered above it (set when
-- the ledger turned out older than the hub's copy of it, so new seqs never collide with the
-- ones being fetched back). recover_next..recover_to: own seqs still to fetch from the hub
-- (0, 0 = nothing). check_offset / check_entry_id: hub offset and entry id of the last remote
-- entry applied, sent in hello so that a hub restored from an older copy is noticed.
ALTER TABLE sync_state ADD COLUMN own_seq_floor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN recover_next INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN recover_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN check_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN check_entry_id TEXT NOT NULL DEFAULT '';
-- Own entries this ledger got back from the hub after a restore: their requests (and the
-- responses) were lost with the newer copy, so verify does not look for them.
CREATE TABLE recovered_entries (
  entry_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
-- The owner-side expiry sweep finds due lots without scanning every lot.
CREATE INDEX lots_due ON lots(expires_at_ms) WHERE remaining > 0;
)sql"},
      {5, "alias_conflicts with its key first",
       R"sql(
-- SQLite 3.40's PRAGMA integrity_check (Debian 12) misreads a WITHOUT ROWID table whose
-- PRIMARY KEY is not its first column: it reports "NULL value in alias_conflicts.ref" for
-- every row, so verify failed on any branch that had recorded an alias conflict (found by
-- SyncApplyRandomTest). Same rows, key first.
CREATE TABLE alias_conflicts_v5 (
  entry_id        TEXT NOT NULL PRIMARY KEY,
  ref             TEXT NOT NULL,
  account_id      TEXT NOT NULL,  -- what the remote entry said
  kept_account_id TEXT NOT NULL   -- what this ledger keeps
) STRICT, WITHOUT ROWID;
INSERT INTO alias_conflicts_v5 (entry_id, ref, account_id, kept_account_id)
  SELECT entry_id, ref, account_id, kept_account_id FROM alias_conflicts;
DROP TABLE alias_conflicts;
ALTER TABLE alias_conflicts_v5 RENAME TO alias_conflicts;
)sql"},
  };
  return steps;
}

}  // namespace loyalty::ledger
