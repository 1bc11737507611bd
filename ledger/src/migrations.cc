// Schema migrations, in order. Step N brings the schema from version N-1 to N; each runs in
// the same transaction as the schema_version update. Never edit a released step: add one.
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
  account_id    TEXT PRIMARY KEY,
  category      TEXT NOT NULL DEFAULT '',
  balance       INTEGER NOT NULL DEFAULT 0,
  sales_count   INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL,
  created_offset INTEGER NOT NULL,
  origin_branch TEXT NOT NULL
) STRICT;

CREATE TABLE aliases (
  ref        TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(account_id)
) STRICT;
CREATE INDEX aliases_account ON aliases(account_id);

CREATE TABLE customer_pii (
  account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
  name TEXT, email TEXT, phone TEXT, birthday TEXT
) STRICT;

CREATE TABLE entries (
  entry_id        TEXT NOT NULL UNIQUE,
  origin_branch   TEXT NOT NULL,
  origin_seq      INTEGER NOT NULL,
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
  body_hash       BLOB NOT NULL,
  hub_offset      INTEGER,
  UNIQUE (origin_branch, origin_seq)
) STRICT;
CREATE INDEX entries_account ON entries(account_id, business_at_ms, origin_seq);

CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_append_only_update BEFORE UPDATE OF entry_id, origin_branch, origin_seq,
  node_epoch, account_id, kind, points, request_id, branch, ticket, ref_entry_id, business_at_ms,
  business_offset, recorded_at_ms, expires_at_ms, expires_offset, program_version, reason, body_hash
  ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_hub_offset_once BEFORE UPDATE OF hub_offset ON entries
  WHEN OLD.hub_offset IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'hub_offset is set once'); END;

CREATE TABLE lots (
  account_id     TEXT NOT NULL REFERENCES accounts(account_id),
  expires_at_ms  INTEGER NOT NULL,
  earned_at_ms   INTEGER NOT NULL,
  lot_id         TEXT NOT NULL,
  earned_offset  INTEGER NOT NULL,
  expires_offset INTEGER NOT NULL,
  original       INTEGER NOT NULL,
  initial        INTEGER NOT NULL,
  remaining      INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= initial),
  PRIMARY KEY (account_id, expires_at_ms, earned_at_ms, lot_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE lot_allocations (
  entry_id TEXT NOT NULL,
  lot_id   TEXT NOT NULL,
  points   INTEGER NOT NULL CHECK (points > 0),
  PRIMARY KEY (entry_id, lot_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX lot_allocations_lot ON lot_allocations(lot_id);

CREATE TABLE sales (
  branch        TEXT NOT NULL,
  ticket        TEXT NOT NULL,
  request_id    TEXT NOT NULL,
  account_id    TEXT NOT NULL,
  earn_entry_id TEXT NOT NULL,
  earned        INTEGER NOT NULL,
  clawed_back   INTEGER NOT NULL,
  redeemed      INTEGER NOT NULL,
  restored      INTEGER NOT NULL,
  voided        INTEGER NOT NULL,
  at_ms         INTEGER NOT NULL,
  at_offset     INTEGER NOT NULL,
  -- the lines, in ticket order: "n amount qty percent refunded" (integers, micro-units),
  -- separated by ';'. Kept in the sale's own row so a sale writes one row.
  lines         TEXT NOT NULL,
  UNIQUE (branch, ticket)
) STRICT;

CREATE TABLE holds (
  hold_id              TEXT PRIMARY KEY,
  account_id           TEXT NOT NULL REFERENCES accounts(account_id),
  branch               TEXT NOT NULL,
  request_id           TEXT NOT NULL,
  ticket               TEXT NOT NULL,
  points               INTEGER NOT NULL,
  amount               INTEGER NOT NULL,
  status               TEXT NOT NULL CHECK (status IN ('active', 'captured', 'released', 'expired')),
  created_at_ms        INTEGER NOT NULL,
  created_offset       INTEGER NOT NULL,
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
  UNIQUE (branch, request_id)
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
  };
  return steps;
}

}  // namespace loyalty::ledger
