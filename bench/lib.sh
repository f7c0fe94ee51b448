# SPDX-License-Identifier: MIT
#
# bench/lib.sh — what every benchmark script here needs: argument checks,
# building, a temp dir, started servers stopped on any exit, free ports,
# readiness polling and CPU pinning. Sourced, never run.
#
# Before sourcing, set ROOT (the repository) and BENCH_NAME (used in messages).
# Sourcing sets the shared settings (BUILD_DIR, CURFEW_BIN, WRK_THREADS,
# WRK_CONNS, DURATION, WARMUP, ROUNDS, PIN, PY) unless the environment did.
# After it: die, require_tools, build_curfew, bench_tmp PREFIX (sets
# TMP and the exit trap), track_pid PID, free_port, wait_http URL PID, and the
# arrays server_prefix / wrk_prefix for pinning; wrk output: parse_wrk, median,
# ratio, run_rounds A B... (warm-up and interleaved rounds, medians in RPS_A...),
# and record_round ROUND TARGET, which files one wrk run into the
# RPS/P50/P99 arrays and rounds.txt and sets fail=1 on non-2xx answers.

# The settings every script shares (each documents them in its header).
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CURFEW_BIN=${CURFEW_BIN:-$BUILD_DIR/curfew}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-50}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-0}
PY=${PYTHON:-/usr/bin/python3}

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

require_tools() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/deps.sh installs it)"
    done
}

build_curfew() {
    if [[ "${SKIP_BUILD:-0}" != 1 && -f "$BUILD_DIR/build.ninja" ]]; then
        if ! ninja -C "$BUILD_DIR" >/dev/null; then
            [[ -x "$CURFEW_BIN" ]] || die "ninja -C $BUILD_DIR failed and there is no binary"
            echo "warning: ninja -C $BUILD_DIR failed; benchmarking the existing $CURFEW_BIN" >&2
        fi
    fi
    [[ -x "$CURFEW_BIN" ]] || die "no curfew binary at $CURFEW_BIN (run: meson setup build && ninja -C build)"
}

PIDS=()
track_pid() { PIDS+=("$1"); }

# shellcheck disable=SC2317  # called through trap
bench_cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ "${KEEP_TMP:-0}" == 1 || $rc -ne 0 ]]; then
        echo "(logs kept in $TMP)" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}

bench_tmp() {   # prefix
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {   # url pid
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.1
    done
    return 1
}

server_prefix=()
wrk_prefix=()
if [[ "$PIN" == 1 ]]; then
    command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
    server_prefix=(taskset -c 0)
    wrk_prefix=(taskset -c 1)
fi

to_ms() {  # "1.23ms" | "456.00us" | "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

parse_wrk() {  # file -> prints "rps p50ms p99ms non2xx socketerrors"
    local f=$1 rps p50 p99 non2xx errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
    errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
    [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || { cat "$f" >&2; die "cannot parse wrk output $f"; }
    echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0} ${errs:-0}"
}

median() {  # numbers... -> median
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

record_round() {  # round target: parse $TMP/wrk-TARGET-ROUND.txt into RPS/P50/P99 and rounds.txt
    local round=$1 t=$2 rps p50 p99 non2xx errs
    read -r rps p50 p99 non2xx errs < <(parse_wrk "$TMP/wrk-$t-$round.txt")
    RPS[$t]+="$rps "; P50[$t]+="$p50 "; P99[$t]+="$p99 "
    printf '%-6s %-8s %12.0f %10.3f %10.3f\n' "$round" "$t" "$rps" "$p50" "$p99" >> "$TMP/rounds.txt"
    if [[ "$non2xx" != 0 ]]; then
        echo "FAIL: $t answered $non2xx non-2xx responses in round $round" >&2
        fail=1
    fi
    [[ "$errs" == 0 ]] || echo "warning: wrk reported $errs socket errors against $t in round $round" >&2
}

# run_rounds A B [C...]: benchmark the targets in interleaved rounds. This
# machine's throughput drifts by tens of percent over a minute, so one pair of
# runs can mislead: each target is warmed up (WARMUP, 0 for none), then ROUNDS
# rounds run with the order rotating by one every round (for two targets:
# alternating) so a drift favours none, each run filed by record_round.
# Afterwards RPS_<target>, P50_<target> and P99_<target> hold the medians,
# LOAD_BEFORE the load average at the start and fail=1 any failure.
# The caller defines run_wrk NAME TARGET DURATION, and may define before_run
# TARGET, called before every measured run (to refill a token pool, say).
run_rounds() {  # target...
    local -a targets=("$@")
    local n=$# round t i
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
    if [[ "$WARMUP" != 0 ]]; then
        for t in "${targets[@]}"; do run_wrk "warm-$t" "$t" "$WARMUP"; done
    fi
    fail=0
    declare -gA RPS P50 P99
    printf '%-6s %-8s %12s %10s %10s\n' round target 'requests/s' 'p50 ms' 'p99 ms' > "$TMP/rounds.txt"
    for round in $(seq "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            t=${targets[$(( (i + round - 1) % n ))]}
            if declare -F before_run >/dev/null; then before_run "$t"; fi
            run_wrk "$t-$round" "$t" "$DURATION"
            record_round "$round" "$t"
        done
    done
    for t in "${targets[@]}"; do
        # shellcheck disable=SC2086  # word splitting of the lists is intended
        {
            printf -v "RPS_$t" '%s' "$(median ${RPS[$t]})"
            printf -v "P50_$t" '%s' "$(median ${P50[$t]})"
            printf -v "P99_$t" '%s' "$(median ${P99[$t]})"
        }
    done
}
