#!/usr/bin/env bash
# Sync demo: one loyalty-hub and two branches (loyaltyd, the same plugin runtime behind HTTP)
# on 127.0.0.1. A customer earns in B01, redeems and is refunded in B02; the script prints
# the customer's balance as each branch sees it.
#
# Usage: examples/sync-demo/run.sh [BUILD_DIR]     (default: build)
# Example:
#   cmake --build build --target loyalty-hub loyaltyd && examples/sync-demo/run.sh build
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n 2,8p "$0"; exit 0; fi
BUILD=$(cd "${1:-build}" && pwd)
HUB_BIN="$BUILD/sync/hub/loyalty-hub"
DAEMON_BIN="$BUILD/plugin/daemon/loyaltyd"
for b in "$HUB_BIN" "$DAEMON_BIN"; do [[ -x "$b" ]] || { echo "missing $b (build it first)" >&2; exit 1; }; done
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

DIR=$(mktemp -d /tmp/loyalty-sync-demo-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

HUB_PORT=$(free_port)
printf '[listen]\naddress = "127.0.0.1"\nport = %s\n[storage]\ndb = "hub.db"\n' "$HUB_PORT" > "$DIR/hub.toml"
for b in B01 B02; do "$HUB_BIN" token add $b --config "$DIR/hub.toml" > "$DIR/$b.token"; done
"$HUB_BIN" run --config "$DIR/hub.toml" 2>"$DIR/hub.log" & PIDS+=($!)

declare -A PORT
for b in B01 B02; do
  PORT[$b]=$(free_port)
  cat > "$DIR/$b.toml" <<TOML
[plugin]
branch = "$b"
db = "$b.db"
log = "$b.log"
[program]
point_value = "0.10"
earn_percent = "5"
[daemon]
port = ${PORT[$b]}
[sync]
url = "ws://127.0.0.1:$HUB_PORT/v1/sync"
token_file = "$b.token"
TOML
  "$DAEMON_BIN" --config "$DIR/$b.toml" 2>"$DIR/$b.err" & PIDS+=($!)
done
for b in B01 B02; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${PORT[$b]}/healthz" >/dev/null && break; sleep 0.1; done
done

post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:${PORT[$1]}/v1/events"; echo; }
AT="2026-11-22T10:15:00-06:00"
echo "== B01: sale of 90.00 to card:4000123 (earns 45)"
post B01 '{"type":"sale.completed","id":"B01-1","at":"'$AT'","ticket":"000123","customer":"card:4000123",
  "lines":[{"n":1,"amount":"45.00"},{"n":2,"amount":"45.00"}],"tenders":[{"method":"cash","amount":"90.00"}]}'
sleep 1
echo "== B02: authorize and pay 1.00 with points (10 points)"
HOLD=$(post B02 '{"type":"points.authorize","id":"B02-1","at":"'$AT'","customer":"card:4000123","ticket":"P1","amount":"1.00"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin).get("hold",""))')
post B02 '{"type":"sale.completed","id":"B02-2","at":"'$AT'","ticket":"P1","customer":"card:4000123",
  "lines":[{"n":1,"amount":"1.00"}],"tenders":[{"method":"points","amount":"1.00","hold":"'$HOLD'"}]}'
echo "== B02: refund of line 1 of B01's sale 000123 (claws back 22)"
post B02 '{"type":"refund.completed","id":"B02-3","at":"'$AT'","ticket":"R1","original_ticket":"000123",
  "original_branch":"B01","customer":"card:4000123","lines":[{"n":1,"amount":"45.00"}]}'
sleep 1
for b in B01 B02; do
  printf '%s sees card:4000123: ' $b
  post $b '{"type":"balance.query","id":"q","at":"'$AT'","customer":"card:4000123"}' \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("balance", d.get("balance"), "available", d.get("available"))'
done
