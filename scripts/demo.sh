#!/usr/bin/env bash
# Sets everything up (packages, build) and runs the demo: pos-sim, a reference POS host,
# loads libloyalty.so and replays a café's day (~300 sales) printing every receipt and a
# summary of the day.
#
#   scripts/demo.sh            # receipts and summary
#   scripts/demo.sh --quiet    # summary only
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" build
exec "$ROOT/scripts/demo-run.sh" "$ROOT/build" "$@"
