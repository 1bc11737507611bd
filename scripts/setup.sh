#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and builds the project.
#
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
#   scripts/setup.sh --only-packages
#
# Installs the Debian packages the build needs (only those missing; needs root or sudo),
# configures with CMake and builds everything. Safe to run again: it only does what is
# left to do. Example:
#   scripts/setup.sh build -DLOYALTY_SANITIZE=ON
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ONLY_PACKAGES=0
if [[ "${1:-}" == "--only-packages" ]]; then
  ONLY_PACKAGES=1
  shift
fi
BUILD_DIR="${1:-build}"
shift || true
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git python3
  libboost-dev libboost-system-dev libssl-dev
  libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev nlohmann-json3-dev libpugixml-dev libcli11-dev
  clang libclang-rt-14-dev lld  # the sanitizer + fuzz build (scripts/test.sh)
  openssh-client openssh-server
  chromium  # the admin page's browser test (tests/daemon/admin_browser_test.cc)
  openssl   # the command: a throwaway CA for the wss:// test (tests/sync/client/sync_tls_test.cc)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
((ONLY_PACKAGES)) && exit 0

GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif (($#)); then
  cmake "$BUILD_DIR" "$@"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
