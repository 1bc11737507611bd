#!/usr/bin/env bash
# Fuzzes one libFuzzer binary for a bounded time, starting from a copy of its seed corpus
# (the seeds in the source tree are never modified), and prints what it found.
#
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS
#   run_fuzzer.sh build-fuzz/tests/fuzz/fuzz_poslog tests/fuzz/corpus/poslog /tmp/poslog 60
#
# Exit status: libFuzzer's (0 when no crash, leak, timeout or out-of-memory was found).
# A crashing input is left in WORK_DIR/artifacts/ to replay with fuzz_replay_<name>.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -lt 4 ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -ge 4 ]] || exit 2
  exit 0
fi
fuzzer="$1" seeds="$2" work="$3" seconds="$4"
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
