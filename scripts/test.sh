#!/usr/bin/env bash
# Sets everything up (packages, build) and runs every test:
#   1. fuzzing: a clang build of the libFuzzer targets, each fuzzed for a bounded time
#      (LOYALTY_FUZZ_SECONDS, default 10) from its seed corpus (label `fuzz`);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and its ctest suite
#      (benchmarks off; corpora of every fuzz target replayed);
#   3. the normal build (RelWithDebInfo) and the tests the sanitizer run leaves out
#      (labels no_sanitize and bench); without stage 2, the whole suite.
# Prints ctest's summary of each and exits non-zero if any test failed.
#
#   scripts/test.sh                           # all three
#   LOYALTY_SKIP_SANITIZE=1 scripts/test.sh   # only the normal run (quicker, local use)
#   LOYALTY_SKIP_FUZZ=1 scripts/test.sh       # no clang fuzz build
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc)"
status=0

if [[ -z "${LOYALTY_SKIP_FUZZ:-}" && -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  "$ROOT/scripts/setup.sh" --only-packages
  FUZZ_DIR="$ROOT/build-fuzz"
  if [[ ! -f "$FUZZ_DIR/CMakeCache.txt" ]]; then
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DLOYALTY_FUZZ=ON -DLOYALTY_BUILD_BENCH=OFF >/dev/null
  fi
  cmake "$FUZZ_DIR" -DLOYALTY_FUZZ_SECONDS="${LOYALTY_FUZZ_SECONDS:-10}" >/dev/null
  cmake --build "$FUZZ_DIR" -j "$JOBS" --target fuzz_request fuzz_config fuzz_poslog fuzz_square fuzz_odoo fuzz_sync_frame fuzz_sync_session
  echo "== fuzzing (clang, libFuzzer + ASan/UBSan) =="
  (cd "$FUZZ_DIR" && ctest --output-on-failure -j "$JOBS" -L fuzz) || status=1
fi

if [[ -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  # -O1 with line tables only: the sanitizer build compiles in about half the time of -O2 -g,
  # and reports still name files and lines.
  "$ROOT/scripts/setup.sh" build-asan -DLOYALTY_SANITIZE=ON -DLOYALTY_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1"
  echo "== tests (ASan + UBSan) =="
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$ROOT/build-asan" && ctest --output-on-failure -j "$JOBS" --timeout 900 -LE no_sanitize) || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# The normal build (line tables only: less to compile and link on CI's 2 cores, and
# backtraces still name files and lines). After the sanitizer run it builds and runs only
# what that run leaves out: the tests labelled no_sanitize (ctypes, ssh rollout, the
# package tree) and the bench smoke runs, so every test runs once. Without the sanitizer
# run it builds everything and runs every test.
NORMAL_FLAGS=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
if [[ -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  GENERATOR=()
  command -v ninja >/dev/null && GENERATOR=(-G Ninja)
  if [[ ! -f "$ROOT/build/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$ROOT/build" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${NORMAL_FLAGS[@]}" >/dev/null
  else
    cmake "$ROOT/build" "${NORMAL_FLAGS[@]}" >/dev/null
  fi
  # no_sanitize_deps: what those tests run (each test's CMakeLists adds its programs).
  cmake --build "$ROOT/build" -j "$JOBS" --target no_sanitize_deps
  echo "== tests left out of the sanitizer run (RelWithDebInfo: no_sanitize, bench) =="
  (cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS" --timeout 600 -L "no_sanitize|bench") || status=1
else
  "$ROOT/scripts/setup.sh" build "${NORMAL_FLAGS[@]}"
  echo "== tests (RelWithDebInfo) =="
  (cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS" --timeout 600) || status=1
fi
exit $status
