-- A ledger at schema version 1 with real data, made by libloyalty 0.1.0 (schema 1) from
-- ledger-v1-requests.jsonl with fixture.toml (loyalty-probe --requests), then sqlite3 .dump.
-- tests/installer upgrades it. Regenerating it with a newer library would defeat its purpose.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
INSERT INTO meta VALUES('schema_version','1');
INSERT INTO meta VALUES('branch_id','B01');
INSERT INTO meta VALUES('node_epoch','d9892968d9208bb576e0ec815e78c751');
INSERT INTO meta VALUES('created_at_ms','1796073443800');
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
INSERT INTO accounts VALUES('B01-01M8Q53MF80XAFY0NMFFKYMB6C','gold',80,2,1790866800000,-360,'B01',4);
INSERT INTO accounts VALUES('B01-01M8Q53MFJNNV9P3PDMFZS3F97','',68,1,1790960400000,-360,'B01',5);
INSERT INTO accounts VALUES('B01-01M8Q53MFTGKFN2W3QY6NPTFPC','',55,1,1791050400000,-360,'B01',6);
CREATE TABLE aliases (
  ref        TEXT PRIMARY KEY,  -- the normalized customer reference, as given
  account_id TEXT NOT NULL REFERENCES accounts(account_id)
) STRICT;
INSERT INTO aliases VALUES('card:1001','B01-01M8Q53MF80XAFY0NMFFKYMB6C');
INSERT INTO aliases VALUES('card:1002','B01-01M8Q53MFJNNV9P3PDMFZS3F97');
INSERT INTO aliases VALUES('card:1003','B01-01M8Q53MFTGKFN2W3QY6NPTFPC');
CREATE TABLE customer_pii (
  account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
  name TEXT, email TEXT, phone TEXT, birthday TEXT
) STRICT, WITHOUT ROWID;
INSERT INTO customer_pii VALUES('B01-01M8Q53MF80XAFY0NMFFKYMB6C','Ana',NULL,NULL,NULL);
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
INSERT INTO entries VALUES('B01/F-S1/earn','B01',1,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MF80XAFY0NMFFKYMB6C','earn',100,'F-S1','B01','000001','',1790870400000,-360,1796073443823,4944470400000,-360,'7f309e38a5d63847','',X'4f99b31c1df148a4f8d1051df688874f51f651c951bae28ea859ef5451fc7994',NULL);
INSERT INTO entries VALUES('B01/F-S2/earn','B01',2,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MFJNNV9P3PDMFZS3F97','earn',90,'F-S2','B01','000002','',1790960400000,-360,1796073443826,4944560400000,-360,'7f309e38a5d63847','',X'905432423c545ecee47760effa06a67bb4fc99893455f0d6f00fd6ef7f6debef',NULL);
INSERT INTO entries VALUES('B01/F-S3/earn','B01',3,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MFTGKFN2W3QY6NPTFPC','earn',30,'F-S3','B01','000003','',1791050400000,-360,1796073443834,4944650400000,-360,'7f309e38a5d63847','',X'b922f67031be32c3cc29ef4d670a00855796a9d75994dfa8abcb65c99467aa83',NULL);
INSERT INTO entries VALUES('B01/F-S4/redeem','B01',4,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MF80XAFY0NMFFKYMB6C','redeem',-20,'F-S4','B01','000004','',1791140400000,-360,1796073443842,NULL,NULL,'7f309e38a5d63847','',X'c00a3f1b84db975c64eabf901f83517331ad0626de2b10b7d7bea063738c2134',NULL);
INSERT INTO entries VALUES('B01/F-R1/clawback','B01',5,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MFJNNV9P3PDMFZS3F97','clawback',-22,'F-R1','B01','R-1','B01/F-S2/earn',1791214200000,-360,1796073443845,NULL,NULL,'7f309e38a5d63847','',X'6e1f1134dc51509d79b07cbf2f9e2ba9b2e7695b070ec48d137dea49426ca7fe',NULL);
INSERT INTO entries VALUES('B01/F-A1/adjust','B01',6,'d9892968d9208bb576e0ec815e78c751','B01-01M8Q53MFTGKFN2W3QY6NPTFPC','adjust',25,'F-A1','B01','','',1791295200000,-360,1796073443854,4944895200000,-360,'7f309e38a5d63847','fixture (by installer-test)',X'64315f44de15bf9c2dbf9875e3ad31f3a39d2b48e4e450324069682079264d31',NULL);
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
INSERT INTO lots VALUES('B01-01M8Q53MF80XAFY0NMFFKYMB6C',4944470400000,1790870400000,'B01/F-S1/earn',-360,-360,100,100,80);
INSERT INTO lots VALUES('B01-01M8Q53MFJNNV9P3PDMFZS3F97',4944560400000,1790960400000,'B01/F-S2/earn',-360,-360,90,90,68);
INSERT INTO lots VALUES('B01-01M8Q53MFTGKFN2W3QY6NPTFPC',4944650400000,1791050400000,'B01/F-S3/earn',-360,-360,30,30,30);
INSERT INTO lots VALUES('B01-01M8Q53MFTGKFN2W3QY6NPTFPC',4944895200000,1791295200000,'B01/F-A1/adjust',-360,-360,25,25,25);
CREATE TABLE lot_allocations (
  entry_id TEXT NOT NULL,
  lot_id   TEXT NOT NULL,
  points   INTEGER NOT NULL CHECK (points > 0),
  PRIMARY KEY (entry_id, lot_id)
) STRICT, WITHOUT ROWID;
INSERT INTO lot_allocations VALUES('B01/F-R1/clawback','B01/F-S2/earn',22);
INSERT INTO lot_allocations VALUES('B01/F-S4/redeem','B01/F-S1/earn',20);
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
INSERT INTO sales VALUES('B01','000001','F-S1','B01-01M8Q53MF80XAFY0NMFFKYMB6C','B01/F-S1/earn',100,0,0,0,0,1790870400000,-360,'1 90000000 2000000 8000000 0;2 35000000 1000000 8000000 0');
INSERT INTO sales VALUES('B01','000002','F-S2','B01-01M8Q53MFJNNV9P3PDMFZS3F97','B01/F-S2/earn',90,22,0,0,0,1790960400000,-360,'1 180000000 4000000 5000000 45000000');
INSERT INTO sales VALUES('B01','000003','F-S3','B01-01M8Q53MFTGKFN2W3QY6NPTFPC','B01/F-S3/earn',30,0,0,0,0,1791050400000,-360,'1 100000000 1000000 0 0;2 60000000 1000000 5000000 0');
INSERT INTO sales VALUES('B01','000004','F-S4','B01-01M8Q53MF80XAFY0NMFFKYMB6C','',0,0,20,0,0,1791140400000,-360,'1 45000000 1000000 8000000 0');
INSERT INTO sales VALUES('B01','000005','F-S5','','',0,0,0,0,0,1791406800000,-360,'1 45000000 1000000 5000000 0');
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
CREATE TABLE requests (
  branch        TEXT NOT NULL,
  request_id    TEXT NOT NULL,
  body_hash     BLOB NOT NULL,
  code          INTEGER NOT NULL,
  response_json TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (branch, request_id)  -- a rowid table: responses are large, appends are cheap
) STRICT;
INSERT INTO requests VALUES('B01','F-C1',X'55d0169a79d9a55fca9390be444cfe8574abbd67f4fc3c415603277c0dcf6f41',0,'{"ok":true,"type":"customer.upsert","id":"F-C1","branch":"B01","customer":"card:1001","account":"B01-01M8Q53MF80XAFY0NMFFKYMB6C","created":true,"aliases":["card:1001"],"category":"gold","balance":0}',1796073443816);
INSERT INTO requests VALUES('B01','F-S1',X'4f99b31c1df148a4f8d1051df688874f51f651c951bae28ea859ef5451fc7994',0,'{"ok":true,"type":"sale.completed","id":"F-S1","branch":"B01","customer":"card:1001","account":"B01-01M8Q53MF80XAFY0NMFFKYMB6C","earned":100,"redeemed":0,"balance":100,"balance_value":"10.00","available":100,"expiring":[{"points":100,"expires_at":"2126-09-07T10:00:00-06:00","date":"2126-09-07"}],"notes":[],"warnings":[],"receipt":["Cliente: card:1001","Puntos ganados: 100","Saldo: 100 pts (10.00 MXN)","Vencen 100 pts el 2126-09-07"],"program_version":"7f309e38a5d63847"}',1796073443823);
INSERT INTO requests VALUES('B01','F-S2',X'905432423c545ecee47760effa06a67bb4fc99893455f0d6f00fd6ef7f6debef',0,'{"ok":true,"type":"sale.completed","id":"F-S2","branch":"B01","customer":"card:1002","account":"B01-01M8Q53MFJNNV9P3PDMFZS3F97","earned":90,"redeemed":0,"balance":90,"balance_value":"9.00","available":90,"expiring":[{"points":90,"expires_at":"2126-09-08T11:00:00-06:00","date":"2126-09-08"}],"notes":[],"warnings":[],"receipt":["Cliente: card:1002","Puntos ganados: 90","Saldo: 90 pts (9.00 MXN)","Vencen 90 pts el 2126-09-08"],"program_version":"7f309e38a5d63847"}',1796073443826);
INSERT INTO requests VALUES('B01','F-S3',X'b922f67031be32c3cc29ef4d670a00855796a9d75994dfa8abcb65c99467aa83',0,'{"ok":true,"type":"sale.completed","id":"F-S3","branch":"B01","customer":"card:1003","account":"B01-01M8Q53MFTGKFN2W3QY6NPTFPC","earned":30,"redeemed":0,"balance":30,"balance_value":"3.00","available":30,"expiring":[{"points":30,"expires_at":"2126-09-09T12:00:00-06:00","date":"2126-09-09"}],"notes":[{"reason":"excluded_product","detail":"GIFT-100"}],"warnings":[],"receipt":["Cliente: card:1003","Puntos ganados: 30","Saldo: 30 pts (3.00 MXN)","Vencen 30 pts el 2126-09-09","Sin puntos: producto excluido (GIFT-100)"],"program_version":"7f309e38a5d63847"}',1796073443834);
INSERT INTO requests VALUES('B01','F-S4',X'c00a3f1b84db975c64eabf901f83517331ad0626de2b10b7d7bea063738c2134',0,'{"ok":true,"type":"sale.completed","id":"F-S4","branch":"B01","customer":"card:1001","account":"B01-01M8Q53MF80XAFY0NMFFKYMB6C","earned":0,"redeemed":20,"balance":80,"balance_value":"8.00","available":80,"expiring":[{"points":80,"expires_at":"2126-09-07T10:00:00-06:00","date":"2126-09-07"}],"notes":[{"reason":"paid_with_points","detail":""}],"warnings":[],"receipt":["Cliente: card:1001","Puntos ganados: 0","Puntos canjeados: 20","Saldo: 80 pts (8.00 MXN)","Vencen 80 pts el 2126-09-07","Sin puntos: venta pagada con puntos"],"program_version":"7f309e38a5d63847"}',1796073443842);
INSERT INTO requests VALUES('B01','F-R1',X'6e1f1134dc51509d79b07cbf2f9e2ba9b2e7695b070ec48d137dea49426ca7fe',0,'{"ok":true,"type":"refund.completed","id":"F-R1","branch":"B01","customer":"card:1002","account":"B01-01M8Q53MFJNNV9P3PDMFZS3F97","matched":true,"clawed_back":22,"restored":0,"balance":68,"balance_value":"6.80","available":68,"expiring":[{"points":68,"expires_at":"2126-09-08T11:00:00-06:00","date":"2126-09-08"}],"warnings":[],"receipt":["Cliente: card:1002","Puntos descontados: 22","Saldo: 68 pts (6.80 MXN)"]}',1796073443845);
INSERT INTO requests VALUES('B01','F-A1',X'64315f44de15bf9c2dbf9875e3ad31f3a39d2b48e4e450324069682079264d31',0,'{"ok":true,"type":"points.adjust","id":"F-A1","branch":"B01","customer":"card:1003","points":25,"balance":55}',1796073443854);
INSERT INTO requests VALUES('B01','F-S5',X'6f0e878c10a7ecd4dc3dfca49fda8b0181a8fef6c61e7c431d15c7f16335158b',0,'{"ok":true,"type":"sale.completed","id":"F-S5","branch":"B01","customer":"","account":"","earned":0,"redeemed":0,"balance":0,"balance_value":"0.00","available":0,"expiring":[],"notes":[{"reason":"no_customer","detail":""}],"warnings":[],"receipt":[],"program_version":"7f309e38a5d63847"}',1796073443862);
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
CREATE INDEX aliases_account ON aliases(account_id);
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
CREATE INDEX holds_active_account ON holds(account_id) WHERE status = 'active';
CREATE INDEX holds_active_ticket ON holds(branch, ticket) WHERE status = 'active';
COMMIT;
