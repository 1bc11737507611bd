#!/usr/bin/env bash
# The replay speed target of issue 2: pos-sim (the reference POS host, through the real
# libloyalty.so) replays a 100,000-sale file with synchronous = "normal" on a fresh ledger.
# Target: at least 15,000 sales per second. Prints pos-sim's summary and the verdict.
#
#   bench/replay.sh [BUILD_DIR] [SALES]
#   bench/replay.sh build 100000
#
# The day file is made once by examples/pos-sim/make_day.py (deterministic) and kept in
# BUILD_DIR/bench-replay/; the ledger is new at every run. COMMIT_HOLD_MS=N sets the
# plugin's [plugin] commit_hold_ms (A/B runs; by default the plugin's own: 100 with normal).
#
#   COMMIT_HOLD_MS=0 bench/replay.sh build 100000   # one commit per request
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-build}"
SALES="${2:-100000}"
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
WORK="$BUILD_DIR/bench-replay"
mkdir -p "$WORK"
DAY="$WORK/day-$SALES.jsonl"
if [[ ! -f "$DAY" ]]; then
  python3 "$ROOT/examples/pos-sim/make_day.py" --sales "$SALES" --customers "$SALES" --days 30 \
    --out "$DAY.tmp"
  mv "$DAY.tmp" "$DAY"
fi
SED=(-e 's/^synchronous = .*$/synchronous = "normal"/')
[[ -n "${COMMIT_HOLD_MS:-}" ]] && SED+=(-e "/^synchronous = /a commit_hold_ms = ${COMMIT_HOLD_MS}")
sed "${SED[@]}" "$ROOT/examples/pos-sim/cafe.toml" > "$WORK/replay.toml"
grep -q '^synchronous = "normal"' "$WORK/replay.toml"
rm -f "$WORK"/cafe-ledger.db "$WORK"/cafe-ledger.db-wal "$WORK"/cafe-ledger.db-shm "$WORK"/cafe-ledger.db-redo
"$BUILD_DIR/examples/pos-sim" --config "$WORK/replay.toml" --day "$DAY" --quiet \
  --json-summary "$WORK/summary.json"
python3 - "$WORK/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rate = s["sales_per_second"]
print(f"replay: {rate:.0f} sales/s (target >= 15000) {'PASS' if rate >= 15000 else 'FAIL'}")
PY
