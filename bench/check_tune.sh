#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check_tune.sh — what issue 13's measuring costs GET /v1/check: the same
# binary twice, side by side, with `tuning.measure: true` (on: the idle-gap
# histogram, the activity_gap audit lines and the re-login tracker) and `false`
# (off: none of that work is done), the configs otherwise identical (audit log
# to a file). Both are driven by wrk with a valid Bearer token in interleaved
# rounds (bench/lib.sh run_rounds); prints the throughput ratio on/off and the
# server CPU per check. Goal (issue 13, done-when 4): on/off >= 0.97.
#
# The background header and routes' `activity: none` are decisions, not
# measures: they are the same in both servers.
#
# Usage:  bash bench/check_tune.sh
# Environment, as in check.sh: WRK_THREADS=1 WRK_CONNS=50 DURATION=10s WARMUP=2s
#   ROUNDS=3 CURFEW_BIN BUILD_DIR SKIP_BUILD=1 PIN=1 KEEP_TMP=1
#   MIN_RATIO=0.97   exit 1 when on/off requests/s is below it (default: report only)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_RATIO=${MIN_RATIO:-}
BENCH_NAME=bench/check_tune.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_tools wrk curl "$PY"
build_curfew
bench_tmp curfew-bench-tune

declare -A MEASURE=([on]=true [off]=false) PORT TOKEN SPID
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
for t in on off; do
    mkdir -p "$TMP/$t"
    cat > "$TMP/$t/curfew.yaml" <<YAML
log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
audit: { path: $TMP/$t/audit.log }
tuning: { measure: ${MEASURE[$t]}, activity_gap: 1s }
YAML
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

check_status() {  # target -> HTTP status of one check with its token
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer ${TOKEN[$1]}" "http://127.0.0.1:${PORT[$1]}/v1/check"
}
gap_count() {  # target -> curfew_idle_gap_seconds_count summed over clients
    curl -s --max-time 5 "http://127.0.0.1:${PORT[$1]}/metrics" \
        | awk '/^curfew_idle_gap_seconds_count/ { n += $2 } END { print n + 0 }'
}
# The switch really switches: a check after a 1.1 s silence is one idle gap and one
# activity_gap line on "on", nothing on "off" (both servers wait the same second).
for t in on off; do [[ "$(check_status "$t")" == 200 ]] || die "curfew ($t) refused the check"; done
sleep 1.1
for t in on off; do [[ "$(check_status "$t")" == 200 ]] || die "curfew ($t) refused the check"; done
[[ "$(gap_count on)" == 1 ]] || die "the on server did not observe the idle gap ($(gap_count on))"
[[ "$(gap_count off)" == 0 ]] || die "the off server observed an idle gap: tuning.measure: false ignored"
grep -q '"event":"activity_gap"' "$TMP/on/audit.log" 2>/dev/null \
    || die "the on server wrote no activity_gap line"
! grep -q '"event":"activity_gap"' "$TMP/off/audit.log" 2>/dev/null \
    || die "the off server wrote an activity_gap line"

run_wrk() {  # name target duration
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -d"$3" \
        -H "Authorization: Bearer ${TOKEN[$2]}" \
        "http://127.0.0.1:${PORT[$2]}/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $2 failed"; }
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime of a pid
declare -A CPU0
for t in on off; do CPU0[$t]=$(cpu_ticks "${SPID[$t]}"); done
run_rounds on off
# Server CPU per check, over every wrk run (warm-ups too): steadier than
# requests/s when other work shares the machine, as it does here.
declare -A USPC
for t in on off; do
    reqs=$(cat "$TMP"/wrk-*"$t"*.txt | awk '/requests in/ { n += $1 } END { print n }')
    USPC[$t]=$(awk -v a="$(cpu_ticks "${SPID[$t]}")" -v b="${CPU0[$t]}" -v n="$reqs" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (a - b) / hz * 1e6 / n }')
done
for t in on off; do
    kill -0 "${SPID[$t]}" 2>/dev/null || { echo "FAIL: curfew ($t) exited during the run" >&2; fail=1; }
done
# shellcheck disable=SC2154  # RPS_on, P50_on, ... are set by run_rounds (bench/lib.sh)
RATIO=$(awk -v a="$RPS_on" -v b="$RPS_off" 'BEGIN { printf "%.3f", a / b }')

echo
echo "curfew GET /v1/check: tuning.measure true (on) vs false (off), same binary, audit log on"
echo "binary: $CURFEW_BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency, $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TMP/rounds.txt"
echo
printf '%-8s %12s %10s %10s %16s\n' target 'requests/s' 'p50 ms' 'p99 ms' 'server CPU us/check'
# shellcheck disable=SC2154
printf '%-8s %12.0f %10.3f %10.3f %16s\n' on "$RPS_on" "$P50_on" "$P99_on" "${USPC[on]}"
# shellcheck disable=SC2154
printf '%-8s %12.0f %10.3f %10.3f %16s\n' off "$RPS_off" "$P50_off" "$P99_off" "${USPC[off]}"
echo "check throughput ratio (on/off, medians): $RATIO (goal >= 0.97)"
echo "server CPU per check ratio (off/on): $(awk -v a="${USPC[off]}" -v b="${USPC[on]}" 'BEGIN { printf "%.3f", a / b }')"

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
