#!/usr/bin/env bash
# Sets everything up (packages, build) and runs every test:
#   1. the sanitizer build: clang with AddressSanitizer + UndefinedBehaviorSanitizer and
#      libFuzzer coverage, one build for the whole suite and the fuzz targets. Its ctest run
#      is every test except those labelled no_sanitize; it includes replaying every fuzz
#      corpus and fuzzing each target for LOYALTY_FUZZ_SECONDS (default 10, label `fuzz`);
#   2. the normal build (g++, RelWithDebInfo) and the tests the sanitizer run leaves out
#      (labels no_sanitize and bench); without stage 1, the whole suite.
# Prints ctest's summary of each and exits non-zero if any test failed.
#
#   scripts/test.sh                           # both
#   LOYALTY_SKIP_SANITIZE=1 scripts/test.sh   # only the normal build, every test (local use)
#   LOYALTY_SKIP_FUZZ=1 scripts/test.sh       # stage 1 without the timed fuzz runs
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc)"
status=0

if [[ -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  "$ROOT/scripts/setup.sh" --only-packages
  ASAN_DIR="$ROOT/build-asan"
  # One clang build serves the sanitizer suite and the fuzzers (it used to be a g++ ASan
  # build plus a clang fuzz build: twice the compiling). -O0: the Beast sessions compile
  # in less than half the time of -O1, and the suite still runs in a few minutes. A build
  # directory made by another compiler is started afresh.
  if [[ -f "$ASAN_DIR/CMakeCache.txt" ]] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' "$ASAN_DIR/CMakeCache.txt"; then
    rm -rf "$ASAN_DIR"
  fi
  if [[ ! -f "$ASAN_DIR/CMakeCache.txt" ]]; then
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1" \
      -DLOYALTY_FUZZ=ON -DLOYALTY_BUILD_BENCH=OFF >/dev/null
  fi
  cmake "$ASAN_DIR" -DLOYALTY_FUZZ_SECONDS="${LOYALTY_FUZZ_SECONDS:-10}" >/dev/null
  cmake --build "$ASAN_DIR" -j "$JOBS"
  echo "== tests (clang: ASan + UBSan; fuzz corpora replayed and each target fuzzed) =="
  EXCLUDE="no_sanitize"
  [[ -n "${LOYALTY_SKIP_FUZZ:-}" ]] && EXCLUDE="no_sanitize|^fuzz$"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$ASAN_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 900 -LE "$EXCLUDE") || status=1
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
  # Everything `cmake --install` ships (the package-tree test installs it) and the benches.
  cmake --build "$ROOT/build" -j "$JOBS" --target loyalty loyaltyctl loyaltyd loyalty-hub \
    loyalty-probe loyalty-install installer_ssh_tests bench_plugin bench_adapters
  echo "== tests left out of the sanitizer run (RelWithDebInfo: no_sanitize, bench) =="
  (cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS" --timeout 600 -L "no_sanitize|bench") || status=1
else
  "$ROOT/scripts/setup.sh" build "${NORMAL_FLAGS[@]}"
  echo "== tests (RelWithDebInfo) =="
  (cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS" --timeout 600) || status=1
fi
exit $status
