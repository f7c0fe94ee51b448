#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check.sh — throughput and latency of curfew's hot path (GET /v1/check
# with a valid Bearer token) next to a reference nginx that answers
# `return 204;`, both driven by wrk with the same settings in the same run.
#
# Usage:  bash bench/check.sh
# Environment (all optional):
#   WRK_THREADS=1  WRK_CONNS=50  DURATION=10s   wrk -t / -c / -d for both targets
#   WARMUP=2s       a short wrk run against each target first (0 = none)
#   ROUNDS=3        interleaved measured runs per target; the table shows medians
#   CURFEW_BIN      binary to run (default: $BUILD_DIR/curfew)
#   BUILD_DIR       build directory (default: <repo>/build); `ninja -C` runs first
#   SKIP_BUILD=1    do not run ninja
#   PIN=1           pin each server to CPU 0 and wrk to CPU 1 (taskset)
#   MIN_RATIO=0.7   exit 1 when curfew/nginx requests/s is below it (default: report only)
#   KEEP_TMP=1      keep the temp dir (logs, configs, raw wrk output)
#   EXTRA_CONFIG    YAML appended to curfew's config, e.g. 'audit: { path: /tmp/audit.log }'
# Exit status: 0 on a valid run; 1 when a precondition fails (curfew does not
# answer 200 to the check, wrk saw non-2xx responses, ...) or MIN_RATIO is missed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_RATIO=${MIN_RATIO:-}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

BENCH_NAME=bench/check.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_tools wrk curl "$NGINX" "$PY"
build_curfew
bench_tmp curfew-bench

# ---- curfew -----------------------------------------------------------------
CPORT=$(free_port)
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
mkdir -p "$TMP/curfew"
cat > "$TMP/curfew/curfew.yaml" <<EOF
log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
${EXTRA_CONFIG:-}
EOF
CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve \
    --config "$TMP/curfew/curfew.yaml" --listen "127.0.0.1:$CPORT" --data-dir "$TMP/curfew/data" \
    >"$TMP/curfew/stdout.log" 2>"$TMP/curfew/stderr.log" &
CURFEW_PID=$!
track_pid "$CURFEW_PID"
wait_http "http://127.0.0.1:$CPORT/healthz" "$CURFEW_PID" \
    || { cat "$TMP/curfew/stderr.log" >&2; die "curfew did not become ready on port $CPORT"; }

SESSION=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$CPORT/v1/sessions" \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
    -d '{"sub":"bench","client_id":"bench","roles":["bench"]}')
TOKEN=$(printf '%s' "$SESSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || die "POST /v1/sessions did not return an access token: $SESSION"

check_status() {
    curl -s -o "$TMP/check-body" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CPORT/v1/check"
}
status=$(check_status)
[[ "$status" == 200 ]] || die "curfew answered $status (not 200) to the check: $(cat "$TMP/check-body")"

# ---- reference nginx -----------------------------------------------------------
NPORT=$(free_port)
N="$TMP/nginx"
mkdir -p "$N"
{
    [[ $(id -u) == 0 ]] && echo "user root;"
    cat <<EOF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $N/client_body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        location / { return 204; }
    }
}
EOF
} > "$N/nginx.conf"
"${server_prefix[@]}" "$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/error.log" \
    -g "daemon off; pid $N/nginx.pid; error_log $N/error.log warn;" &
NGINX_PID=$!
track_pid "$NGINX_PID"
wait_http "http://127.0.0.1:$NPORT/" "$NGINX_PID" \
    || { cat "$N/error.log" >&2; die "nginx did not start on port $NPORT"; }

# ---- wrk -------------------------------------------------------------------------
WRK_ARGS=(-t"$WRK_THREADS" -c"$WRK_CONNS" --latency -H "Authorization: Bearer $TOKEN")

run_wrk() {  # name target duration
    local port=$NPORT
    [[ $2 == curfew ]] && port=$CPORT
    "${wrk_prefix[@]}" wrk "${WRK_ARGS[@]}" -d"$3" "http://127.0.0.1:$port/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $1 failed"; }
}

run_rounds nginx curfew

status=$(check_status)
if [[ "$status" != 200 ]]; then
    echo "FAIL: after the run curfew answered $status to the check: $(cat "$TMP/check-body")" >&2
    fail=1
fi

RATIO=$(ratio "$RPS_curfew" "$RPS_nginx")

echo
echo "curfew GET /v1/check (valid Bearer token) vs nginx 'return 204', keep-alive"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for both), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE (other work on the machine skews both targets)"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
echo
cat "$TMP/rounds.txt"
echo
echo "median over $ROUNDS rounds:"
printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
printf '%-8s %12.0f %10.3f %10.3f\n' nginx "$RPS_nginx" "$P50_nginx" "$P99_nginx"
printf '%-8s %12.0f %10.3f %10.3f\n' curfew "$RPS_curfew" "$P50_curfew" "$P99_curfew"
printf '%-8s %12s %10s %10s\n' ratio "$RATIO" "$(ratio "$P50_curfew" "$P50_nginx")" \
    "$(ratio "$P99_curfew" "$P99_nginx")"
echo
echo "ratio = curfew / nginx (throughput: higher is better; latency: lower is better)"

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
