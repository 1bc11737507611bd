#!/usr/bin/env bash
# Runs the café demo on an already built tree: pos-sim (the reference POS host) loads
# libloyalty.so and replays examples/pos-sim/cafe-day.jsonl, printing every receipt and a
# summary of the day, on a fresh ledger in BUILD_DIR/demo/.
#
#   scripts/demo-run.sh [BUILD_DIR] [pos-sim options...]
#
# BUILD_DIR defaults to build (relative paths are relative to the repository). Options go to
# pos-sim, e.g.:
#   scripts/demo-run.sh build --quiet                 # the summary only
#   scripts/demo-run.sh build --json-summary day.json
# Afterwards, if loyaltyctl was built, it verifies the ledger and prints the day's report.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="build"
if [[ $# -gt 0 && "$1" != -* ]]; then
  BUILD_DIR="$1"
  shift
fi
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"

POS_SIM="$BUILD_DIR/examples/pos-sim"
PLUGIN="$BUILD_DIR/plugin/libloyalty.so"
LOYALTYCTL="$BUILD_DIR/plugin/loyaltyctl"
for f in "$POS_SIM" "$PLUGIN"; do
  if [[ ! -e "$f" ]]; then
    echo "demo-run: $f is missing; build first (scripts/setup.sh $BUILD_DIR)" >&2
    exit 2
  fi
done

# A fresh work directory: the config is copied there, so the ledger it names (relative to
# the config file) is created there too, never in the sources.
WORK="$BUILD_DIR/demo"
mkdir -p "$WORK"
rm -f "$WORK"/cafe-ledger.db "$WORK"/cafe-ledger.db-wal "$WORK"/cafe-ledger.db-shm \
      "$WORK"/cafe-ledger.db-journal "$WORK"/cafe-ledger.db-redo
cp "$ROOT/examples/pos-sim/cafe.toml" "$WORK/cafe.toml"

status=0
"$POS_SIM" --plugin "$PLUGIN" --config "$WORK/cafe.toml" \
  --day "$ROOT/examples/pos-sim/cafe-day.jsonl" "$@" || status=$?

if [[ -x "$LOYALTYCTL" ]]; then
  echo
  echo "==== the ledger, seen by loyaltyctl ===================================="
  "$LOYALTYCTL" --config "$WORK/cafe.toml" verify || status=1
  "$LOYALTYCTL" --config "$WORK/cafe.toml" report --from 2026-11-22 --to 2026-11-22 || status=1
fi
echo
echo "demo ledger: $WORK/cafe-ledger.db (config $WORK/cafe.toml)"
exit "$status"
