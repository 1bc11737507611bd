#!/usr/bin/env bash
# Sets everything up (packages, build) and runs every test:
#   1. the normal build (RelWithDebInfo) and its full ctest suite;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and its ctest suite
#      (benchmarks off).
# Prints ctest's summary of each and exits non-zero if any test failed.
#
#   scripts/test.sh                 # both runs
#   LOYALTY_SKIP_SANITIZE=1 scripts/test.sh   # only the normal run (quicker, local use)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc)"
status=0

"$ROOT/scripts/setup.sh" build
echo "== tests (RelWithDebInfo) =="
(cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS" --timeout 600) || status=1

if [[ -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  "$ROOT/scripts/setup.sh" build-asan -DLOYALTY_SANITIZE=ON -DLOYALTY_BUILD_BENCH=OFF
  echo "== tests (ASan + UBSan) =="
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$ROOT/build-asan" && ctest --output-on-failure -j "$JOBS" --timeout 900 -LE no_sanitize) || status=1
fi
exit $status
