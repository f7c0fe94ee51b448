#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check_sinks.sh — the cost of the observability sinks on curfew's hot
# path. Runs two curfew processes from the same binary in the same run:
#   off  no audit log, no alert rules, /metrics never scraped
#   on   audit log to a file, three alert rules, and /metrics scraped every
#        SCRAPE_INTERVAL seconds for the whole run (as Prometheus would, only
#        far more often)
# and drives both with wrk, the same request (GET /v1/check with a valid
# Bearer token), interleaved rounds; prints the throughput ratio on/off. The
# goal (issue 5) is >= 0.9: checks with metrics and audit on stay within 10%
# of without. (The counters themselves cannot be turned off: "off" is the
# closest there is, nobody reading them.)
#
# Usage:  bash bench/check_sinks.sh
# Environment (all optional):
#   SCRAPE_INTERVAL=1  seconds between two scrapes of the "on" server's /metrics
#   WRK_THREADS=1  WRK_CONNS=50  DURATION=10s  WARMUP=2s  ROUNDS=3   as in check.sh
#   CURFEW_BIN, BUILD_DIR, SKIP_BUILD=1, PIN=1, KEEP_TMP=1           as in check.sh
#   MIN_RATIO=0.9     exit 1 when on/off requests/s is below it (default: report only)
# Exit status: 0 on a valid run; 1 when a precondition fails (a server does not
# answer 200 to the check, the "on" server writes no audit line or cannot be
# scraped, wrk saw non-2xx responses) or MIN_RATIO is missed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1}
MIN_RATIO=${MIN_RATIO:-}

BENCH_NAME=bench/check_sinks.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[[ "$SCRAPE_INTERVAL" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SCRAPE_INTERVAL must be a number of seconds"
require_tools wrk curl "$PY"
build_curfew
bench_tmp curfew-bench-sinks

# ---- configs ---------------------------------------------------------------------
COMMON='log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }'

mkdir -p "$TMP/off" "$TMP/on"
printf '%s\n' "$COMMON" > "$TMP/off/curfew.yaml"
cat > "$TMP/on/curfew.yaml" <<EOF
$COMMON
audit: { path: $TMP/on/audit.log }
alerts:
  rules:
    - { kind: refresh_reuse, action: revoke_subject }
    - { kind: check_failures_per_ip, threshold: 50, window: 1m }
    - { kind: concurrent_sessions_per_subject, threshold: 100, window: 1h }
EOF
for t in off on; do
    "$CURFEW_BIN" config check "$TMP/$t/curfew.yaml" > "$TMP/$t/config-check.txt" 2>&1 \
        || { cat "$TMP/$t/config-check.txt" >&2; die "curfew rejected the $t config"; }
done

# ---- servers ---------------------------------------------------------------------
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
declare -A PORT TOKEN SPID
for t in off on; do
    PORT[$t]=$(free_port)
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve \
        --config "$TMP/$t/curfew.yaml" --listen "127.0.0.1:${PORT[$t]}" --data-dir "$TMP/$t/data" \
        >"$TMP/$t/stdout.log" 2>"$TMP/$t/stderr.log" &
    SPID[$t]=$!
    track_pid "${SPID[$t]}"
    wait_http "http://127.0.0.1:${PORT[$t]}/healthz" "${SPID[$t]}" \
        || { cat "$TMP/$t/stderr.log" >&2; die "curfew ($t) did not become ready"; }
    session=$(curl -s --max-time 5 -X POST "http://127.0.0.1:${PORT[$t]}/v1/sessions" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d '{"sub":"bench","client_id":"bench","roles":["bench"]}')
    TOKEN[$t]=$(printf '%s' "$session" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
        || die "POST /v1/sessions ($t) did not return an access token: $session"
done

check_status() {  # target -> HTTP status of the benchmarked check
    curl -s -o "$TMP/check-body" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer ${TOKEN[$1]}" "http://127.0.0.1:${PORT[$1]}/v1/check"
}
for t in off on; do
    status=$(check_status "$t")
    [[ "$status" == 200 ]] || die "curfew ($t) answered $status (not 200) to the check: $(cat "$TMP/check-body")"
done
# Prove the sinks of "on" are really on: its session_created line is in the
# audit log (written by the audit thread: give it a moment), /metrics answers.
for _ in $(seq 50); do
    grep -q '"session_created"' "$TMP/on/audit.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '"session_created"' "$TMP/on/audit.log" 2>/dev/null \
    || die "the on server wrote no session_created line to $TMP/on/audit.log"
[[ ! -e "$TMP/off/audit.log" ]] || die "the off server has an audit log"
status=$(curl -s -o "$TMP/metrics.txt" -w '%{http_code}' --max-time 5 "http://127.0.0.1:${PORT[on]}/metrics")
if [[ "$status" != 200 ]] || ! grep -q '^curfew_checks_total' "$TMP/metrics.txt"; then
    die "GET /metrics on the on server answered $status"
fi

# The scraper: every SCRAPE_INTERVAL seconds for the whole run, counted.
(
    while :; do
        curl -s -o /dev/null --max-time 5 "http://127.0.0.1:${PORT[on]}/metrics" && echo >> "$TMP/scrapes"
        sleep "$SCRAPE_INTERVAL"
    done
) &
track_pid $!

# ---- wrk -------------------------------------------------------------------------
run_wrk() {  # name target duration
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -d"$3" \
        -H "Authorization: Bearer ${TOKEN[$2]}" \
        "http://127.0.0.1:${PORT[$2]}/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $2 failed"; }
}

run_rounds off on
for t in off on; do
    if ! kill -0 "${SPID[$t]}" 2>/dev/null; then
        rc=0; wait "${SPID[$t]}" || rc=$?
        echo "FAIL: curfew ($t) exited during the run (status $rc); see $TMP/$t/stderr.log" >&2
        fail=1
        continue
    fi
    status=$(check_status "$t") || status="no answer"
    if [[ "$status" != 200 ]]; then
        echo "FAIL: after the run curfew ($t) answered $status: $(cat "$TMP/check-body" 2>/dev/null)" >&2
        fail=1
    fi
done
SCRAPES=$(wc -l < "$TMP/scrapes" 2>/dev/null || echo 0)
AUDIT_LINES=$(wc -l < "$TMP/on/audit.log")

RATIO=$(ratio "$RPS_on" "$RPS_off")

echo
echo "curfew GET /v1/check: observability sinks on vs off, keep-alive, valid Bearer token"
echo "on:  audit.path (file), 3 alert rules, /metrics scraped every ${SCRAPE_INTERVAL}s ($SCRAPES scrapes, $AUDIT_LINES audit lines)"
echo "off: no audit log, no alert rules, /metrics not scraped"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for both), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN)"
echo
cat "$TMP/rounds.txt"
echo
echo "median over $ROUNDS rounds:"
printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
printf '%-8s %12.0f %10.3f %10.3f\n' off "$RPS_off" "$P50_off" "$P99_off"
printf '%-8s %12.0f %10.3f %10.3f\n' on "$RPS_on" "$P50_on" "$P99_on"
printf '%-8s %12s %10s %10s\n' ratio "$RATIO" "$(ratio "$P50_on" "$P50_off")" \
    "$(ratio "$P99_on" "$P99_off")"
echo
echo "ratio = on / off (throughput: higher is better, goal >= 0.9; latency: lower is better)"

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
