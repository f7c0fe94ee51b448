#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/proxy.sh — curfew's enforcing proxy (issue 11, done-when 4), in one run:
#   (a) throughput and latency of curfew proxying GET / (valid Bearer token,
#       decided like /v1/check) to a small upstream (nginx `return 200`), next to
#       nginx `proxy_pass` (keep-alive pool) to the same upstream, same wrk settings;
#   (b) cut latency: CUT_N WebSockets through the proxy, their sessions revoked
#       at once by subject (from the revocation's acknowledgement to each client
#       seeing the close frame), and CUT_N whose sessions reach their idle
#       deadline at once (from each deadline); p50 / p99 / max;
#   (c) memory per idle tunnel: the proxy's RSS before and after RSS_N open
#       WebSockets (one session), divided by RSS_N.
#
# Usage:  bash bench/proxy.sh
# Environment (all optional), besides bench/lib.sh's WRK_THREADS, WRK_CONNS,
# DURATION, WARMUP, ROUNDS, PIN, CURFEW_BIN, BUILD_DIR, SKIP_BUILD, KEEP_TMP:
#   CUT_N=1000      WebSockets per cut measurement
#   IDLE=5          the idle timeout (seconds) of the idle-deadline measurement
#   RSS_N=10000     idle tunnels for the memory figure; each needs two of curfew's
#                   file descriptors, so it is lowered to fit `ulimit -n` (said so)
#   MIN_RATIO       exit 1 when curfew/nginx requests/s is below it
# Exit status: 0 on a valid run, 1 when a precondition or MIN_RATIO fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_RATIO=${MIN_RATIO:-}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
CUT_N=${CUT_N:-1000}
IDLE=${IDLE:-5}
RSS_N=${RSS_N:-10000}

BENCH_NAME=bench/proxy.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_tools wrk curl "$NGINX" "$PY"
build_curfew
bench_tmp curfew-proxy-bench

nginx_start() {  # dir port server-block
    local d=$1
    mkdir -p "$d"
    {
        [[ $(id -u) == 0 ]] && echo "user root;"
        cat <<EOF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    $3
}
EOF
    } > "$d/nginx.conf"
    "${server_prefix[@]}" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
        -g "daemon off; pid $d/nginx.pid; error_log $d/error.log warn;" &
    track_pid $!
    wait_http "http://127.0.0.1:$2/" $! || { cat "$d/error.log" >&2; die "nginx did not start on $2"; }
}

# ---- the upstreams: nginx `return 200` for HTTP, a Python asyncio server for WebSockets ----
UPORT=$(free_port)
nginx_start "$TMP/upstream" "$UPORT" "server { listen 127.0.0.1:$UPORT; location / { return 200 \"ok\n\"; } }"
WSPORT=$(free_port)
"$PY" "$ROOT/bench/proxy_ws.py" upstream "$WSPORT" &
track_pid $!

# ---- the reference: nginx proxy_pass with a keep-alive pool to the same upstream ----
NPORT=$(free_port)
nginx_start "$TMP/nginx" "$NPORT" "upstream up { server 127.0.0.1:$UPORT; keepalive 64; }
    server { listen 127.0.0.1:$NPORT; location / { proxy_pass http://up; proxy_http_version 1.1;
             proxy_set_header Connection \"\"; } }"

# ---- curfew: API on CPORT, proxy on PPORT ----
CPORT=$(free_port)
PPORT=$(free_port)
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
mkdir -p "$TMP/curfew"
cat > "$TMP/curfew/curfew.yaml" <<EOF
log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
store: { purge_interval: 1h }
proxy:
  max_connections: 30000
  max_connections_per_address: 30000
  listeners: [{listen: "127.0.0.1:$PPORT"}]
  upstreams:
    app: {address: "127.0.0.1:$UPORT", pool: 64}
    ws: {address: "127.0.0.1:$WSPORT"}
  routes:
    - {path_prefix: /ws, upstream: ws, activity: none}
    - {upstream: app}
EOF
CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve \
    --config "$TMP/curfew/curfew.yaml" --listen "127.0.0.1:$CPORT" --data-dir "$TMP/curfew/data" \
    >"$TMP/curfew/stdout.log" 2>"$TMP/curfew/stderr.log" &
CURFEW_PID=$!
track_pid "$CURFEW_PID"
wait_http "http://127.0.0.1:$CPORT/healthz" "$CURFEW_PID" \
    || { cat "$TMP/curfew/stderr.log" >&2; die "curfew did not become ready on port $CPORT"; }

SESSION=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$CPORT/v1/sessions" \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' -d '{"sub":"bench"}')
TOKEN=$(printf '%s' "$SESSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || die "POST /v1/sessions did not return an access token: $SESSION"
status=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PPORT/")
[[ "$status" == 200 ]] || die "the proxy answered $status (not 200): $(cat "$TMP/body")"

# ---- (a) throughput ----
WRK_ARGS=(-t"$WRK_THREADS" -c"$WRK_CONNS" --latency -H "Authorization: Bearer $TOKEN")
run_wrk() {  # name target duration
    local port=$NPORT
    [[ $2 == curfew ]] && port=$PPORT
    "${wrk_prefix[@]}" wrk "${WRK_ARGS[@]}" -d"$3" "http://127.0.0.1:$port/" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $1 failed"; }
}
run_rounds nginx curfew
RATIO=$(ratio "$RPS_curfew" "$RPS_nginx")

# ---- (b) cut latency, (c) memory per tunnel ----
WS=("$PY" "$ROOT/bench/proxy_ws.py")
CUT_SUBJECT=$("${WS[@]}" cut --api "http://127.0.0.1:$CPORT" --key "$ADMIN_KEY" --proxy "$PPORT" \
    --n "$CUT_N" --mode subject)
CUT_IDLE=$("${WS[@]}" cut --api "http://127.0.0.1:$CPORT" --key "$ADMIN_KEY" --proxy "$PPORT" \
    --n "$CUT_N" --mode idle --idle "$IDLE")
FDS=$(ulimit -n)
if (( RSS_N * 2 + 100 > FDS )); then
    echo "note: RSS_N=$RSS_N tunnels need $((RSS_N * 2 + 100)) descriptors; ulimit -n is $FDS:" \
         "measuring $(( (FDS - 100) / 2 ))" >&2
    RSS_N=$(( (FDS - 100) / 2 ))
fi
sleep 2   # the cut connections' sockets drain
RSS=$("${WS[@]}" rss --api "http://127.0.0.1:$CPORT" --key "$ADMIN_KEY" --proxy "$PPORT" \
    --n "$RSS_N" --pid "$CURFEW_PID")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

field() { printf '%s' "$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)[\"$2\"])"; }

echo
echo "curfew proxy (GET /, valid Bearer token, decided as /v1/check) vs nginx proxy_pass, to nginx 'return 200'"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for both), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?'); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
echo
cat "$TMP/rounds.txt"
echo
printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
printf '%-8s %12.0f %10.3f %10.3f\n' nginx "$RPS_nginx" "$P50_nginx" "$P99_nginx"
printf '%-8s %12.0f %10.3f %10.3f\n' curfew "$RPS_curfew" "$P50_curfew" "$P99_curfew"
printf '%-8s %12s %10s %10s\n' ratio "$RATIO" "$(ratio "$P50_curfew" "$P50_nginx")" \
    "$(ratio "$P99_curfew" "$P99_nginx")"
echo
echo "cut latency, $CUT_N WebSockets (ms; negative = the close arrived before the acknowledgement)"
printf '%-22s %8s %8s %8s %8s  %s\n' case p50 p99 max closed reasons
for c in "revoke by subject:$CUT_SUBJECT" "idle deadline (${IDLE}s):$CUT_IDLE"; do
    j=${c#*:}
    printf '%-22s %8s %8s %8s %8s  %s\n' "${c%%:*}" "$(field "$j" p50_ms)" "$(field "$j" p99_ms)" \
        "$(field "$j" max_ms)" "$(field "$j" closed)" "$(field "$j" reasons)"
done
echo "revoke by subject, from sending the revocation request: p50 $(field "$CUT_SUBJECT" from_request_p50_ms)," \
     "p99 $(field "$CUT_SUBJECT" from_request_p99_ms), max $(field "$CUT_SUBJECT" from_request_max_ms) ms;" \
     "its acknowledgement came $(field "$CUT_SUBJECT" ack_after_request_ms) ms after sending"
echo "idle case: the $CUT_N tunnels were opened over $(field "$CUT_IDLE" open_spread_s) s, so their deadlines spread as much"
echo
echo "memory: $(field "$RSS" n) idle WebSockets, RSS $(field "$RSS" rss_before_kib) -> $(field "$RSS" rss_after_kib) KiB:" \
     "$(field "$RSS" kib_per_tunnel) KiB per tunnel"

fail=${fail:-0}
if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit "$fail"
