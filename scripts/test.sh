#!/usr/bin/env bash
# Sets everything up (packages, build) and runs every test:
#   1. one clang build with AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer
#      targets: every test except label no_sanitize, each fuzz corpus replayed, and each
#      target fuzzed for LOYALTY_FUZZ_SECONDS (default 10) from its seed corpus;
#   2. the normal g++ build (RelWithDebInfo) and the tests stage 1 leaves out (labels
#      no_sanitize and bench); without stage 1, the whole suite.
# Prints ctest's summary of each and exits non-zero if any test failed.
#
#   scripts/test.sh                           # both
#   LOYALTY_SKIP_SANITIZE=1 scripts/test.sh   # only the normal build, every test (local use)
#   LOYALTY_SKIP_FUZZ=1 scripts/test.sh       # stage 1 without the timed fuzzing runs
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc)"
status=0

if [[ -z "${LOYALTY_SKIP_SANITIZE:-}" ]]; then
  # clang -O0 with line tables: compiles the Beast sessions in less than half the time of
  # g++ -O1 (docs/testing.md); the fuzzed parsers get -O1 (tests/fuzz/CMakeLists.txt). lld
  # links the instrumented objects in seconds.
  "$ROOT/scripts/setup.sh" --only-packages
  SAN_DIR="$ROOT/build-san"
  if [[ ! -f "$SAN_DIR/CMakeCache.txt" ]]; then
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$SAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1" \
      -DLOYALTY_FUZZ=ON -DLOYALTY_BUILD_BENCH=OFF -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
      -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld >/dev/null
  fi
  cmake "$SAN_DIR" -DLOYALTY_FUZZ_SECONDS="${LOYALTY_FUZZ_SECONDS:-10}" >/dev/null
  cmake --build "$SAN_DIR" -j "$JOBS"
  echo "== tests (clang: ASan + UBSan, fuzzing) =="
  labels=(-LE no_sanitize)
  [[ -n "${LOYALTY_SKIP_FUZZ:-}" ]] && labels=(-LE "no_sanitize|fuzz")
  # intercept_tls_get_addr=0: clang 14's LeakSanitizer misreads the dynamic TLS of a
  # dlopen'ed library under glibc 2.36 at times (a bogus DTLS range, then "Tracer caught
  # signal 11" at exit after a passing test; google/sanitizers#1322). It then no longer
  # scans libloyalty.so's thread_locals, which hold no heap pointers (an mt19937, a pointer
  # to a stack arena, a time point).
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:intercept_tls_get_addr=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$SAN_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 900 "${labels[@]}") || status=1
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
