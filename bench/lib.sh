# SPDX-License-Identifier: MIT
#
# bench/lib.sh — what every benchmark script here needs: argument checks,
# building, a temp dir, started servers stopped on any exit, free ports,
# readiness polling and CPU pinning. Sourced, never run.
#
# Before sourcing, set BENCH_NAME (used in messages), BUILD_DIR, CURFEW_BIN, PY
# and PIN. After it: die, require_tools, build_curfew, bench_tmp PREFIX (sets
# TMP and the exit trap), track_pid PID, free_port, wait_http URL PID, and the
# arrays server_prefix / wrk_prefix for pinning.

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
