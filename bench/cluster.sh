#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/cluster.sh — the cluster (issue 4), measured in one run:
#  1. revocation propagation: a real redis-server and three curfew nodes on
#     loopback; REVOCATIONS sessions are created on node 1 and revoked one by
#     one on node 3; nodes 1 and 2 each record, for every revocation, the delay
#     from the event's origin timestamp (taken on node 3 before the write) to
#     applying it; the script prints p50, p99 and max per node. Goal: p99 < 5 ms.
#  2. refresh throughput: wrk rotating refresh tokens (bench/refresh.lua, each
#     request a real rotation with reuse detection) against one Redis-backed
#     node and against one SQLite node, interleaved rounds; prints the ratio.
#     Both acknowledge a rotation only once it is durable: SQLite fsyncs its
#     WAL (synchronous=FULL, group commit), Redis runs with appendfsync always.
#
#  With REFRESH_ONLY=1 only part 2 runs, on SQLite alone, and compares two
#  binaries in one run: CURFEW_BIN against BASELINE_BIN (a build of an older
#  commit; default: CURFEW_BIN itself), interleaved rounds as above.
#
# Usage:  bash bench/cluster.sh
#         REFRESH_ONLY=1 BASELINE_BIN=/tmp/old/curfew SKIP_BUILD=1 bash bench/cluster.sh
# Environment (all optional):
#   REVOCATIONS=1000  POOL=400 (refresh tokens per server; must exceed WRK_CONNS)
#   WRK_THREADS=1  WRK_CONNS=50  DURATION=10s  WARMUP=2s  ROUNDS=3
#   CURFEW_BIN, BUILD_DIR, SKIP_BUILD=1, PIN=1, KEEP_TMP=1   as in check.sh
#   MAX_P99_MS        exit 1 when a node's p99 propagation exceeds it (default: report only)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REVOCATIONS=${REVOCATIONS:-1000}
POOL=${POOL:-400}
MAX_P99_MS=${MAX_P99_MS:-}
REFRESH_ONLY=${REFRESH_ONLY:-0}

BENCH_NAME=bench/cluster.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[[ "$REVOCATIONS" =~ ^[1-9][0-9]*$ ]] || die "REVOCATIONS must be a positive integer"
(( POOL > WRK_CONNS * WRK_THREADS )) || die "POOL must exceed WRK_CONNS x WRK_THREADS"
require_tools wrk curl "$PY"
[[ "$REFRESH_ONLY" == 1 ]] || require_tools redis-server redis-cli
build_curfew
BASELINE_BIN=${BASELINE_BIN:-$CURFEW_BIN}
[[ -x "$BASELINE_BIN" ]] || die "BASELINE_BIN=$BASELINE_BIN is not an executable"
bench_tmp curfew-bench-cluster

ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
export CURFEW_ADMIN_KEY=$ADMIN_KEY
export CURFEW_KEK=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')

start_node() {  # name config-text [binary] -> sets PORT[name]
    local name=$1 port
    port=$(free_port)
    mkdir -p "$TMP/$name"
    printf '%s\n' "$2" > "$TMP/$name/curfew.yaml"
    "${server_prefix[@]}" "${3:-$CURFEW_BIN}" serve --config "$TMP/$name/curfew.yaml" \
        --listen "127.0.0.1:$port" --data-dir "$TMP/$name/data" \
        >"$TMP/$name/stdout.log" 2>"$TMP/$name/stderr.log" &
    track_pid $!
    wait_http "http://127.0.0.1:$port/healthz" "$!" \
        || { cat "$TMP/$name/stderr.log" >&2; die "curfew ($name) did not become ready"; }
    PORT[$name]=$port
}
declare -A PORT
SQLITE_CONF="log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }"

make_pool() {  # name port
    "$PY" - "$2" "$ADMIN_KEY" "$POOL" > "$TMP/$1/pool.txt" <<'PYEOF'
import sys, requests
port, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
http = requests.Session()
for i in range(n):
    r = http.post(f"http://127.0.0.1:{port}/v1/sessions", headers={"Authorization": f"Bearer {key}"},
                  json={"sub": f"r{i}"})
    r.raise_for_status()
    print(r.json()["refresh_token"])
PYEOF
}

run_wrk() {  # name target duration
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -d"$3" \
        -s "$ROOT/bench/refresh.lua" "http://127.0.0.1:${PORT[$2]}" -- "$TMP/$2/pool.txt" \
        > "$TMP/wrk-$1.txt" 2>&1 || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $2 failed"; }
}

# Each measured run starts from a fresh pool file: the tokens wrk spent are gone.
before_run() { make_pool "$1" "${PORT[$1]}"; }

if [[ "$REFRESH_ONLY" == 1 ]]; then
    start_node sqlite "$SQLITE_CONF"
    start_node baseline "$SQLITE_CONF" "$BASELINE_BIN"
    make_pool sqlite "${PORT[sqlite]}"
    make_pool baseline "${PORT[baseline]}"
    run_rounds sqlite baseline
    echo
    echo "refresh with rotation on SQLite, two binaries: wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION, pool of $POOL tokens, $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
    echo "load average before the run: $LOAD_BEFORE"
    echo "sqlite:   $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN)"
    echo "baseline: $("$BASELINE_BIN" version 2>/dev/null || echo '?') ($BASELINE_BIN)"
    cat "$TMP/rounds.txt"
    echo
    printf '%-9s %12s %10s %10s\n' binary 'refresh/s' 'p50 ms' 'p99 ms'
    for t in sqlite baseline; do
        rps=RPS_$t p50=P50_$t p99=P99_$t
        printf '%-9s %12.0f %10.3f %10.3f\n' "$t" "${!rps}" "${!p50}" "${!p99}"
    done
    printf '%-9s %12s\n' ratio "$(ratio "$RPS_sqlite" "$RPS_baseline")"
    echo "(ratio = sqlite / baseline)"
    exit "$fail"
fi

# ---- Redis -----------------------------------------------------------------------
REDIS_PORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$TMP/redis" --daemonize no >"$TMP/redis/log" 2>&1 &
track_pid $!
for _ in $(seq 100); do
    [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.05
done
[[ "$(redis-cli -p "$REDIS_PORT" ping)" == PONG ]] || die "redis-server did not start"

CLUSTER="log_level: warn
store: { url: \"redis://127.0.0.1:$REDIS_PORT/0\" }
session: { idle_timeout: 30m, absolute_timeout: 12h }"
for n in node1 node2 node3; do start_node "$n" "$CLUSTER"; done
start_node sqlite "$SQLITE_CONF"

# ---- 1. propagation ----------------------------------------------------------------
"$PY" - "${PORT[node1]}" "${PORT[node2]}" "${PORT[node3]}" "$ADMIN_KEY" "$REVOCATIONS" \
    > "$TMP/propagation.txt" <<'PYEOF'
import json, sys, time, requests
p1, p2, p3, key, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
h = {"Authorization": f"Bearer {key}"}
http = requests.Session()
sids = []
for i in range(n):
    r = http.post(f"http://127.0.0.1:{p1}/v1/sessions", headers=h, json={"sub": f"u{i}"})
    r.raise_for_status()
    sids.append(r.json()["session_id"])
time.sleep(0.5)
for sid in sids:
    http.delete(f"http://127.0.0.1:{p3}/v1/sessions/{sid}", headers=h).raise_for_status()
    time.sleep(0.002)   # one revocation at a time, as an operator's would arrive
time.sleep(0.5)
for name, port in (("node1", p1), ("node2", p2)):
    c = http.get(f"http://127.0.0.1:{port}/v1/cluster", headers=h).json()["propagation"]
    print(name, c["count"], c["window"], c.get("p50_ms", 0), c.get("p99_ms", 0), c.get("max_ms", 0))
PYEOF

# ---- 2. refresh throughput ----------------------------------------------------------
make_pool node1 "${PORT[node1]}"
make_pool sqlite "${PORT[sqlite]}"

run_rounds node1 sqlite

echo
echo "curfew cluster: 3 nodes + redis-server $(redis-server --version | awk '{print $3}') on loopback; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN)"
echo
echo "1. revocation propagation: $REVOCATIONS sessions revoked one at a time on node 3"
printf '%-6s %8s %10s %10s %10s\n' node samples 'p50 ms' 'p99 ms' 'max ms'
while read -r name count window p50 p99 max; do
    printf '%-6s %8s %10.3f %10.3f %10.3f\n' "$name" "$window" "$p50" "$p99" "$max"
    [[ "$window" -ge "$REVOCATIONS" || "$REVOCATIONS" -gt 4096 ]] \
        || { echo "FAIL: $name saw $window of $REVOCATIONS revocations" >&2; fail=1; }
    if [[ -n "$MAX_P99_MS" ]] && awk -v a="$p99" -v b="$MAX_P99_MS" 'BEGIN { exit !(a > b) }'; then
        echo "FAIL: $name p99 $p99 ms exceeds MAX_P99_MS=$MAX_P99_MS" >&2; fail=1
    fi
done < "$TMP/propagation.txt"
echo
echo "2. refresh with rotation: wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION, pool of $POOL tokens, $ROUNDS interleaved rounds"
cat "$TMP/rounds.txt"
echo
printf '%-8s %12s %10s\n' backend 'refresh/s' 'p99 ms'
printf '%-8s %12.0f %10.3f\n' redis "$RPS_node1" "$P99_node1"
printf '%-8s %12.0f %10.3f\n' sqlite "$RPS_sqlite" "$P99_sqlite"
printf '%-8s %12s\n' ratio "$(ratio "$RPS_node1" "$RPS_sqlite")"
echo "(ratio = redis / sqlite; both acknowledge each rotation only once it is durable)"
exit "$fail"
