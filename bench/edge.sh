#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end forward auth through the shipped nginx config (deploy/nginx/curfew.conf),
# with the decision cache (check.cache_max_age: 2s) and without it (the proxy_cache
# lines removed), against the same curfew in the same run, alternating rounds.
# Prints requests/s of each and the ratio (issue 15's goal: cached >= 2x uncached).
#   bench/edge.sh [SECONDS_PER_ROUND=5] [ROUNDS=3]     env: CURFEW_BIN, NGINX, CONNS=32
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CURFEW_BIN:-$ROOT/build/curfew}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
DUR=${1:-5}; ROUNDS=${2:-3}; CONNS=${CONNS:-32}
command -v wrk >/dev/null || { echo "edge.sh: wrk is not installed" >&2; exit 1; }
TMP=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(port); APORT=$(port); KEY=bench-$RANDOM$RANDOM
printf 'check:\n  cache_max_age: 2s\nsession: { idle_timeout: 1h }\n' > "$TMP/curfew.yaml"
CURFEW_ADMIN_KEY=$KEY "$BIN" serve --config "$TMP/curfew.yaml" --listen 127.0.0.1:$CPORT \
    --data-dir "$TMP/data" --log-level warn 2>"$TMP/curfew.log" & PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CPORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"sub":"bench"}' "http://127.0.0.1:$CPORT/v1/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
start_nginx() {  # name cached(0|1) -> sets NPORT
    local d=$TMP/$1 p; p=$(port); mkdir -p "$d"
    sed -e "s/127.0.0.1:7070/127.0.0.1:$CPORT/" -e "s/127.0.0.1:8080/127.0.0.1:$APORT/" \
        -e "s/listen 8000;/listen 127.0.0.1:$p;/" -e "s#/var/lib/nginx/curfew-checks#$d/cache#" \
        "$ROOT/deploy/nginx/curfew.conf" > "$d/site.conf"
    [[ $2 == 1 ]] || sed -i -e '/^\s*proxy_cache /d' -e '/^\s*proxy_cache_key /d' "$d/site.conf"
    [[ $2 != 2 ]] || sed -i -e '/^\s*auth_request /d' "$d/site.conf"   # no check at all: the ceiling
    local user=""; [[ $(id -u) == 0 ]] && user="user root;"
    cat > "$d/nginx.conf" <<CONF
$user
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc; uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
    include $d/site.conf;
    $( [[ $2 == 1 ]] && echo "server { listen 127.0.0.1:$APORT; location / { return 204; } }" )
}
CONF
    "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g "daemon off; pid $d/nginx.pid;" \
        </dev/null >/dev/null 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.05; done
    NPORT=$p
}
start_nginx cached 1; P_CACHED=$NPORT; start_nginx plain 0; P_PLAIN=$NPORT; start_nginx none 2; P_NONE=$NPORT
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$P_PLAIN/app" \
    || { cat "$TMP"/*/error.log >&2; echo "edge.sh: nginx -> curfew -> app does not answer 2xx" >&2; exit 1; }
rps() { wrk -t1 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/app" \
        | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non2xx " $0 > "/dev/stderr"}'; }
declare -a C P N
for r in $(seq "$ROUNDS"); do
    C+=("$(rps "$P_CACHED")"); P+=("$(rps "$P_PLAIN")"); N+=("$(rps "$P_NONE")")
    echo "round $r: cached ${C[-1]} req/s, uncached ${P[-1]} req/s, no check ${N[-1]} req/s"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MC=$(med "${C[@]}"); MP=$(med "${P[@]}"); MN=$(med "${N[@]}")
echo "nginx -> curfew forward auth, $CONNS connections, ${DUR}s x $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median: cached $MC req/s, uncached $MP req/s, ratio $(awk -v a="$MC" -v b="$MP" 'BEGIN{printf "%.2f", a/b}') (goal >= 2)"
echo "ceiling: no check at all $MN req/s, $(awk -v a="$MN" -v b="$MP" 'BEGIN{printf "%.2f", a/b}')x uncached (no cache can beat this)"
