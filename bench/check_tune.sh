#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check_tune.sh — what issue 13's measuring costs GET /v1/check. The idle-gap
# histogram, the activity_gap audit lines, the background header and the re-login
# tracker have no switch, so "off" is a build without them: BASE_BIN, a build of
# the commit before them (0764d1b). Both servers run in the same run, same config
# (audit log to a file), driven by wrk with a valid Bearer token in interleaved
# rounds (bench/lib.sh run_rounds); prints the throughput ratio this/base.
# Goal (issue 13, done-when 4): >= 0.97.
#
# Build the base once:
#   git -C . archive 0764d1b | (mkdir -p /tmp/curfew-base && tar -x -C /tmp/curfew-base)
#   cd /tmp/curfew-base && meson setup build --buildtype=release -Db_ndebug=false && ninja -C build curfew
#
# Usage:  BASE_BIN=/tmp/curfew-base/build/curfew bash bench/check_tune.sh
# Environment: BASE_BIN (required), and as in check.sh: WRK_THREADS=1 WRK_CONNS=50
#   DURATION=10s WARMUP=2s ROUNDS=3 CURFEW_BIN BUILD_DIR SKIP_BUILD=1 PIN=1 KEEP_TMP=1
#   MIN_RATIO=0.97   exit 1 when this/base requests/s is below it (default: report only)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_RATIO=${MIN_RATIO:-}
BENCH_NAME=bench/check_tune.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[[ -x "${BASE_BIN:-}" ]] || die "BASE_BIN must name a curfew binary built without issue 13 (see the header)"
require_tools wrk curl "$PY"
build_curfew
bench_tmp curfew-bench-tune

declare -A BIN=([base]=$BASE_BIN [this]=$CURFEW_BIN) PORT TOKEN SPID
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
for t in base this; do
    mkdir -p "$TMP/$t"
    cat > "$TMP/$t/curfew.yaml" <<YAML
log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
audit: { path: $TMP/$t/audit.log }
YAML
    PORT[$t]=$(free_port)
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "${BIN[$t]}" serve \
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
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer ${TOKEN[$t]}" "http://127.0.0.1:${PORT[$t]}/v1/check")
    [[ "$status" == 200 ]] || die "curfew ($t) answered $status (not 200) to the check"
done
# "this" really measures: its /metrics has the idle-gap histogram, base's has not.
for t in base this; do curl -s -o "$TMP/$t/metrics.txt" "http://127.0.0.1:${PORT[$t]}/metrics"; done
grep -q '^curfew_idle_gap_seconds_count' "$TMP/this/metrics.txt" \
    || die "the this server has no curfew_idle_gap_seconds"
! grep -q '^curfew_idle_gap_seconds' "$TMP/base/metrics.txt" \
    || die "BASE_BIN already has the idle-gap histogram: not a build without issue 13"

run_wrk() {  # name target duration
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -d"$3" \
        -H "Authorization: Bearer ${TOKEN[$2]}" \
        "http://127.0.0.1:${PORT[$2]}/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $2 failed"; }
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime of a pid
declare -A CPU0
for t in base this; do CPU0[$t]=$(cpu_ticks "${SPID[$t]}"); done
run_rounds base this
# Server CPU per check, over every wrk run (warm-ups too): steadier than
# requests/s when other work shares the machine, as it does here.
declare -A USPC
for t in base this; do
    reqs=$(cat "$TMP"/wrk-*"$t"*.txt | awk '/requests in/ { n += $1 } END { print n }')
    USPC[$t]=$(awk -v a="$(cpu_ticks "${SPID[$t]}")" -v b="${CPU0[$t]}" -v n="$reqs" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (a - b) / hz * 1e6 / n }')
done
for t in base this; do
    kill -0 "${SPID[$t]}" 2>/dev/null || { echo "FAIL: curfew ($t) exited during the run" >&2; fail=1; }
done
RATIO=$(awk -v a="$RPS_this" -v b="$RPS_base" 'BEGIN { printf "%.3f", a / b }')

echo
echo "curfew GET /v1/check: issue 13's measures (this) vs a build without them (base), audit log on"
echo "this: $CURFEW_BIN"
echo "base: $BASE_BIN"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency, $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TMP/rounds.txt"
echo
printf '%-8s %12s %10s %10s %16s\n' target 'requests/s' 'p50 ms' 'p99 ms' 'server CPU us/check'
printf '%-8s %12.0f %10.3f %10.3f %16s\n' base "$RPS_base" "$P50_base" "$P99_base" "${USPC[base]}"
printf '%-8s %12.0f %10.3f %10.3f %16s\n' this "$RPS_this" "$P50_this" "$P99_this" "${USPC[this]}"
echo "check throughput ratio (this/base, medians): $RATIO (goal >= 0.97)"
echo "server CPU per check ratio (base/this): $(awk -v a="${USPC[base]}" -v b="${USPC[this]}" 'BEGIN { printf "%.3f", a / b }')"

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
