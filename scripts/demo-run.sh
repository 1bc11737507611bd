#!/usr/bin/env bash
# Runs the demo on an already built tree: a fresh café ledger, the café's day through pos-sim.
#   scripts/demo-run.sh [BUILD_DIR] [pos-sim options...]     e.g. scripts/demo-run.sh build --quiet
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
WORK="$BUILD/demo"
rm -rf "$WORK"
mkdir -p "$WORK"
cp "$ROOT/examples/pos-sim/cafe.toml" "$WORK/cafe.toml"
"$BUILD/examples/pos-sim" --plugin "$BUILD/plugin/libloyalty.so" --config "$WORK/cafe.toml" \
  --day "$ROOT/examples/pos-sim/cafe-day.jsonl" "$@"
echo
echo "ledger check:"
"$BUILD/plugin/loyaltyctl" --config "$WORK/cafe.toml" verify
"$BUILD/plugin/loyaltyctl" --config "$WORK/cafe.toml" report --from 2026-11-22 --to 2026-11-22
