#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A runnable cluster on loopback: one redis-server and three curfew nodes
# sharing it. Ctrl-C stops everything.
#
#   bash deploy/cluster/run.sh            # nodes on 127.0.0.1:7071, 7072, 7073
#
# Environment: CURFEW_BIN (default build/curfew), REDIS_PORT (6390),
# BASE_PORT (7071), PORTS (the three node ports; default BASE_PORT, +1, +2),
# DIR (a fresh temp dir), CURFEW_ADMIN_KEY (generated and
# printed when unset), CURFEW_KEK (generated when unset: it seals the shared
# signing keys in Redis; every node needs the same one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CURFEW_BIN=${CURFEW_BIN:-$ROOT/build/curfew}
REDIS_PORT=${REDIS_PORT:-6390}
BASE_PORT=${BASE_PORT:-7071}
read -r -a PORTS <<< "${PORTS:-$BASE_PORT $((BASE_PORT + 1)) $((BASE_PORT + 2))}"
[[ ${#PORTS[@]} -eq 3 ]] || { echo "PORTS must name three ports" >&2; exit 1; }
DIR=${DIR:-$(mktemp -d /tmp/curfew-cluster.XXXXXX)}
[[ -x "$CURFEW_BIN" ]] || { echo "no curfew binary at $CURFEW_BIN (run: make build)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh)" >&2; exit 1; }

export CURFEW_ADMIN_KEY=${CURFEW_ADMIN_KEY:-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}
export CURFEW_KEK=${CURFEW_KEK:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

mkdir -p "$DIR/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$DIR/redis" --daemonize no > "$DIR/redis/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.1
done

cat > "$DIR/curfew.yaml" <<YAML
issuer: http://127.0.0.1:${PORTS[0]}
store:
  url: redis://127.0.0.1:$REDIS_PORT/0
cluster:
  max_staleness: 2s
YAML

for i in 0 1 2; do
    port=${PORTS[$i]}
    "$CURFEW_BIN" serve --config "$DIR/curfew.yaml" --listen "127.0.0.1:$port" \
        --data-dir "$DIR/node$((i + 1))" 2> "$DIR/node$((i + 1)).log" &
    pids+=($!)
    up=0
    for _ in $(seq 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then up=1; break; fi
        sleep 0.1
    done
    [[ $up == 1 ]] || { echo "node $((i + 1)) (port $port) did not start:" >&2; cat "$DIR/node$((i + 1)).log" >&2; exit 1; }
done

echo "curfew cluster in $DIR"
echo "  redis:  127.0.0.1:$REDIS_PORT (append-only file, fsync always)"
echo "  nodes:  http://127.0.0.1:${PORTS[0]}  :${PORTS[1]}  :${PORTS[2]}"
echo "  admin key: $CURFEW_ADMIN_KEY"
echo "try: create on one node, check on another, revoke on the third:"
echo "  curl -s -X POST http://127.0.0.1:${PORTS[0]}/v1/sessions -H \"Authorization: Bearer \$CURFEW_ADMIN_KEY\" \\"
echo "       -H 'Content-Type: application/json' -d '{\"sub\":\"alice\"}'"
echo "  curl -s http://127.0.0.1:${PORTS[2]}/v1/cluster -H \"Authorization: Bearer \$CURFEW_ADMIN_KEY\""
wait
