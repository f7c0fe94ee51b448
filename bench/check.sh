#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check.sh — throughput and latency of curfew's hot path (GET /v1/check
# with a valid Bearer token) next to a reference nginx that answers
# `return 204;`, both driven by wrk with the same settings in the same run.
# MODES adds, in the same run and interleaved with them, sender-constrained
# tokens (DPoP, a new proof per request) against the same check with a plain
# Bearer token, and HTTPS against plain HTTP (issue 14).
#
# Usage:  bash bench/check.sh
#         MODES=dpop,https bash bench/check.sh
# Environment (all optional):
#   WRK_THREADS=1  WRK_CONNS=50  DURATION=10s   wrk -t / -c / -d for both targets
#   WARMUP=2s       a short wrk run against each target first (0 = none)
#   ROUNDS=3        interleaved measured runs per target; the table shows medians
#   CURFEW_BIN      binary to run (default: $BUILD_DIR/curfew)
#   BUILD_DIR       build directory (default: <repo>/build); `ninja -C` runs first
#   SKIP_BUILD=1    do not run ninja
#   PIN=1           pin each server to CPU 0 and wrk to CPU 1 (taskset); with
#                   MODES=dpop curfew itself stays unpinned (its verify_threads
#                   workers need every CPU) unless PIN_CURFEW=1; the output says
#                   which CPUs curfew could use
#   VERIFY_THREADS  curfew's verify_threads (default: auto = its CPUs; 0 = verify
#                   DPoP proofs on the event loop, as before the verifier pool)
#   MIN_RATIO=0.7   exit 1 when curfew/nginx requests/s is below it (default: report only)
#   KEEP_TMP=1      keep the temp dir (logs, configs, raw wrk output)
#   EXTRA_CONFIG    YAML appended to curfew's config, e.g. 'audit: { path: /tmp/audit.log }'
#   MODES           comma-separated extra targets (default: none):
#     dpop    targets bearer (a Bearer token in the request nginx's auth_request
#             sends: X-Original-URI/-Method, X-Forwarded-Host/-Proto) and es256 /
#             eddsa (the same request with a DPoP-bound token and a NEW proof every
#             time, bench/dpop.lua); `openssl speed` measures the per-core verify
#             rate in the same run
#     https   target https: a second curfew with TLS on its listener (self-signed
#             P-256 certificate), the same request as target curfew (plain HTTP)
#   DPOP_ALGS="es256 eddsa"   which proof algorithms to measure
#   DPOP_LOOP=1     with MODES=dpop, also targets es256_loop / eddsa_loop: a second
#                   curfew with verify_threads: 0 (proofs verified on the event
#                   loop, as before the verifier pool), interleaved in the same
#                   rounds; 0 = skip them
#   DPOP_RATE_CAP   proofs made per second of each run (default: 1.5 x openssl's
#                   verify/s for the algorithm); a run that uses them all fails
#   DPOP_WINDOW     curfew's dpop.window, how old a proof's iat may be (default:
#                   4 x DURATION + 30 s, at least 60 s): each run's proofs are made
#                   just before it, so the window covers making them + DURATION
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
${VERIFY_THREADS:+verify_threads: $VERIFY_THREADS}
${EXTRA_CONFIG:-}
EOF
MODES=",${MODES:-},"
has_mode() { [[ "$MODES" == *",$1,"* ]]; }
# DPoP proofs are verified on worker threads: pinning curfew to one CPU would
# measure one core again. PIN=1 still pins nginx and wrk.
curfew_prefix=("${server_prefix[@]}")
if has_mode dpop && [[ ${PIN_CURFEW:-0} != 1 ]]; then curfew_prefix=(); fi
for m in ${MODES//,/ }; do
    [[ $m == dpop || $m == https ]] || die "unknown mode '$m' in MODES (dpop, https)"
done
secs() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60; else if (v ~ /h$/) n *= 3600; print n }'; }
DPOP_ALGS=${DPOP_ALGS:-es256 eddsa}
if has_mode dpop; then
    require_tools openssl
    # The per-core verify rate, the goal's yardstick, in this run (one core: no -multi).
    openssl speed -seconds 3 ecdsap256 ed25519 > "$TMP/openssl-speed.txt" 2>/dev/null \
        || die "openssl speed failed"
    VERIFY_es256=$(awk '/ecdsa \(nistp256\)/ && NF >= 7 { v = $NF } END { print v + 0 }' "$TMP/openssl-speed.txt")
    VERIFY_eddsa=$(awk '/EdDSA \(Ed25519\)/ && NF >= 7 { v = $NF } END { print v + 0 }' "$TMP/openssl-speed.txt")
    DPOP_WINDOW=${DPOP_WINDOW:-$(awk -v d="$(secs "$DURATION")" 'BEGIN { w = 4 * d + 30; print (w < 60 ? 60 : int(w)) "s" }')}
    # Every proof sent within a window must fit in the replay cache (curfew refuses
    # proofs when it is full): the fastest verify rate x 1.5 x the window.
    REPLAY_CACHE=$(awk -v a="$VERIFY_es256" -v b="$VERIFY_eddsa" -v w="$(secs "$DPOP_WINDOW")" \
        'BEGIN { r = (a > b ? a : b) * 1.5 * w; if (r > 67108864) r = 67108864; printf "%d", r < 100000 ? 100000 : r }')
    echo "dpop: { window: $DPOP_WINDOW, replay_cache: $REPLAY_CACHE }" >> "$TMP/curfew/curfew.yaml"
fi
CURFEW_ADMIN_KEY=$ADMIN_KEY "${curfew_prefix[@]}" "$CURFEW_BIN" serve \
    --config "$TMP/curfew/curfew.yaml" --listen "127.0.0.1:$CPORT" --data-dir "$TMP/curfew/data" \
    >"$TMP/curfew/stdout.log" 2>"$TMP/curfew/stderr.log" &
CURFEW_PID=$!
track_pid "$CURFEW_PID"
LOOP_PID=
if has_mode dpop && [[ ${DPOP_LOOP:-1} == 1 ]]; then
    # The same server with verify_threads: 0, the baseline of the verifier pool.
    LPORT=$(free_port)
    mkdir -p "$TMP/loop"
    { grep -v '^verify_threads:' "$TMP/curfew/curfew.yaml"; echo "verify_threads: 0"; } > "$TMP/loop/curfew.yaml"
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${curfew_prefix[@]}" "$CURFEW_BIN" serve \
        --config "$TMP/loop/curfew.yaml" --listen "127.0.0.1:$LPORT" --data-dir "$TMP/loop/data" \
        >"$TMP/loop/stdout.log" 2>"$TMP/loop/stderr.log" &
    LOOP_PID=$!
    track_pid "$LOOP_PID"
    wait_http "http://127.0.0.1:$LPORT/healthz" "$LOOP_PID" \
        || { cat "$TMP/loop/stderr.log" >&2; die "the verify_threads: 0 curfew did not start on $LPORT"; }
fi
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

# ---- MODES=dpop: DPoP-bound sessions, one key per algorithm ------------------------
DPOP_URI=/api/items                   # what X-Original-URI says; proofs name this URL:
DPOP_HTU=https://app.example$DPOP_URI # scheme and host from X-Forwarded-Proto/-Host
declare -A DPOP_TOKEN VERIFY_RATE
make_proofs() {  # alg count out [token]
    "$PY" "$ROOT/bench/dpop_proofs.py" proofs "$TMP/dpop-$1.pem" "${4:-${DPOP_TOKEN[$1]}}" GET "$DPOP_HTU" \
        "$2" "$3" || die "making $2 $1 proofs failed"
}
dpop_session() {  # port alg jkt -> a DPoP-bound access token
    local s
    s=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$1/v1/sessions" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d "{\"sub\":\"bench-$2\",\"client_id\":\"bench\",\"roles\":[\"bench\"],\"dpop_jkt\":\"$3\"}")
    printf '%s' "$s" | "$PY" -c \
        'import json,sys; d=json.load(sys.stdin); assert d["token_type"] == "DPoP"; print(d["access_token"])' \
        || die "POST /v1/sessions with dpop_jkt did not return a DPoP token: $s"
}
forwarded_check() {  # scheme token [proof] -> HTTP status, body in $TMP/check-body
    curl -s -o "$TMP/check-body" -w '%{http_code}' --max-time 5 -H "Authorization: $1 $2" \
        ${3:+-H "DPoP: $3"} -H "X-Original-URI: $DPOP_URI" -H 'X-Original-Method: GET' \
        -H 'X-Forwarded-Host: app.example' -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$CPORT/v1/check"
}
if has_mode dpop; then
    [[ $(forwarded_check Bearer "$TOKEN") == 200 ]] || die "the forwarded Bearer check is not 200: $(cat "$TMP/check-body")"
    for a in $DPOP_ALGS; do
        case $a in
            es256) alg=ES256 ;;
            eddsa) alg=EdDSA ;;
            *) die "unknown algorithm '$a' in DPOP_ALGS (es256, eddsa)" ;;
        esac
        v=VERIFY_$a
        VERIFY_RATE[$a]=${!v}
        awk -v v="${!v}" 'BEGIN { exit !(v > 0) }' || die "no $alg verify/s in openssl speed's output"
        jkt=$("$PY" "$ROOT/bench/dpop_proofs.py" key "$alg" "$TMP/dpop-$a.pem") || die "making a $alg key failed"
        DPOP_TOKEN[$a]=$(dpop_session "$CPORT" "$a" "$jkt")
        if [[ -n $LOOP_PID ]]; then
            DPOP_TOKEN[${a}_loop]=$(dpop_session "$LPORT" "$a" "$jkt")
            VERIFY_RATE[${a}_loop]=${!v}
        fi
        # The bench must measure real proof checks: a proof passes once, its
        # replay is refused, and the token is worthless without one.
        make_proofs "$a" 1 "$TMP/probe-$a.txt"
        p="$(sed -n 1p "$TMP/probe-$a.txt").$(sed -n 2p "$TMP/probe-$a.txt")"
        st=$(forwarded_check DPoP "${DPOP_TOKEN[$a]}" "$p")
        [[ $st == 200 ]] || die "a valid $alg proof got $st: $(cat "$TMP/check-body")"
        st=$(forwarded_check DPoP "${DPOP_TOKEN[$a]}" "$p")
        if [[ $st != 401 ]] || ! grep -q dpop_replay "$TMP/check-body"; then
            die "a replayed $alg proof got $st, not 401 dpop_replay: $(cat "$TMP/check-body")"
        fi
        st=$(forwarded_check DPoP "${DPOP_TOKEN[$a]}")
        [[ $st == 401 ]] || die "the $alg-bound token without a proof got $st, not 401"
    done
fi

# ---- MODES=https: a second curfew with TLS on its listener ---------------------------
if has_mode https; then
    require_tools openssl
    mkdir -p "$TMP/tls/data"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" \
        >/dev/null 2>&1 || die "openssl req (self-signed certificate) failed"
    { cat "$TMP/curfew/curfew.yaml"; echo "tls: { cert: $TMP/tls/cert.pem, key: $TMP/tls/key.pem }"; } \
        > "$TMP/tls/curfew.yaml"
    SPORT=$(free_port)
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve --config "$TMP/tls/curfew.yaml" \
        --listen "127.0.0.1:$SPORT" --data-dir "$TMP/tls/data" >"$TMP/tls/stdout.log" 2>"$TMP/tls/stderr.log" &
    TLS_PID=$!
    track_pid "$TLS_PID"
    for _ in $(seq 100); do
        kill -0 "$TLS_PID" 2>/dev/null || break
        curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$SPORT/healthz" && break
        sleep 0.1
    done
    s=$(curl -sk --max-time 5 -X POST "https://127.0.0.1:$SPORT/v1/sessions" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d '{"sub":"bench","client_id":"bench","roles":["bench"]}')
    TLS_TOKEN=$(printf '%s' "$s" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
        || { cat "$TMP/tls/stderr.log" >&2; die "the TLS curfew did not start or create a session: $s"; }
    st=$(curl -sk -o "$TMP/check-body" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TLS_TOKEN" \
        "https://127.0.0.1:$SPORT/v1/check")
    [[ $st == 200 ]] || die "the TLS curfew answered $st to the check: $(cat "$TMP/check-body")"
fi

# ---- wrk -------------------------------------------------------------------------
WRK_ARGS=(-t"$WRK_THREADS" -c"$WRK_CONNS" --latency)

# curfew's own CPU time (all threads, clock ticks) around the runs it serves, so
# that its cost per request is known however loaded the machine is: requests
# per curfew CPU-second is the per-core rate issue 14's goal is about.
CLK_TCK=$(getconf CLK_TCK)
cpu_pid() { [[ $1 == *_loop ]] && echo "$LOOP_PID" || echo "$CURFEW_PID"; }  # target
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$(cpu_pid "$1")/stat"; }  # target
cpu_record() {  # name target out ticks-before
    [[ $1 == warm-* ]] && return 0
    echo "$2 $(awk '/ requests in / { print $1 }' "$3") $(( $(cpu_ticks "$2") - $4 ))" \
        "$(awk '/^wrk-cpu-seconds:/ { print $2 + $3 }' "$3")" >> "$TMP/cpu.txt"
}
cpu_rate() {  # target: requests per curfew CPU-second over every measured round
    awk -v t="$1" -v hz="$CLK_TCK" '$1 == t { n += $2; c += $3 }
        END { if (c > 0) printf "%.0f", n / (c / hz); else printf "0" }' "$TMP/cpu.txt" 2>/dev/null || echo 0
}
# wrk's own CPU (user+sys, its set-up included) per request and per second of
# run: near WRK_THREADS CPU-seconds per second, the load generator, not curfew,
# set the rate (bench/dpop.lua's header tells how that once happened).
wrk_cost() {  # target -> "µs-per-request cpu-s-per-run-second"
    awk -v t="$1" -v d="$(secs "$DURATION")" '$1 == t { n += $2; c += $4; r++ }
        END { if (n > 0 && r > 0) printf "%.1f %.2f\n", c * 1e6 / n, c / (r * d); else print "? ?" }' \
        "$TMP/cpu.txt" 2>/dev/null || echo '? ?'
}

run_wrk() {  # name target duration
    local out="$TMP/wrk-$1.txt" n cap t0 port=$CPORT
    t0=$(cpu_ticks "$2")
    [[ $2 == *_loop ]] && port=$LPORT
    case $2 in
        nginx) wrk_to "$out" -H "Authorization: Bearer $TOKEN" -d"$3" "http://127.0.0.1:$NPORT/v1/check" ;;
        curfew) wrk_to "$out" -H "Authorization: Bearer $TOKEN" -d"$3" "http://127.0.0.1:$CPORT/v1/check" ;;
        https) wrk_to "$out" -H "Authorization: Bearer $TLS_TOKEN" -d"$3" "https://127.0.0.1:$SPORT/v1/check" ;;
        bearer) wrk_to "$out" -d"$3" -s "$ROOT/bench/dpop.lua" "http://127.0.0.1:$CPORT/v1/check" \
            -- Bearer "$TOKEN" "$DPOP_URI" - 0 0 "$WRK_THREADS" ;;
        *)  # a DPoP algorithm: this run's own proofs, made now (fresh iat), never reused
            cap=${DPOP_RATE_CAP:-$(awk -v v="${VERIFY_RATE[$2]}" 'BEGIN { printf "%d", v * 1.5 }')}
            n=$(awk -v d="$(secs "$3")" -v r="$cap" 'BEGIN { printf "%d", d * r + 1000 }')
            make_proofs "${2%_loop}" "$n" "$TMP/pool.txt" "${DPOP_TOKEN[$2]}"
            wrk_to "$out" -d"$3" -s "$ROOT/bench/dpop.lua" "http://127.0.0.1:$port/v1/check" \
                -- DPoP "${DPOP_TOKEN[$2]}" "$DPOP_URI" "$TMP/pool.txt" 0 "$n" "$WRK_THREADS"
            rm -f "$TMP/pool.txt"
            ! grep -q '^dpop-pool-exhausted' "$out" \
                || die "$1 used all $n proofs (DPOP_RATE_CAP=$cap/s): raise DPOP_RATE_CAP"
            ;;
    esac
    [[ $2 == nginx || $2 == https ]] || cpu_record "$1" "$2" "$out" "$t0"
}
wrk_to() {  # out wrk-args...: wrk's output, then its CPU seconds (wrk-cpu-seconds: user sys)
    local out=$1 rc=0 TIMEFORMAT='wrk-cpu-seconds: %U %S'
    shift
    { time "${wrk_prefix[@]}" wrk "${WRK_ARGS[@]}" "$@" > "$out" 2>&1 || rc=$?; } 2> "$out.cpu"
    [[ $rc == 0 ]] || { cat "$out" >&2; die "wrk failed: $out"; }
    cat "$out.cpu" >> "$out"
    rm -f "$out.cpu"
}

TARGETS=(nginx curfew)
if has_mode dpop; then
    TARGETS+=(bearer)
    for a in $DPOP_ALGS; do
        TARGETS+=("$a")
        if [[ -n $LOOP_PID ]]; then TARGETS+=("${a}_loop"); fi
    done
fi
if has_mode https; then TARGETS+=(https); fi
run_rounds "${TARGETS[@]}"

status=$(check_status)
if [[ "$status" != 200 ]]; then
    echo "FAIL: after the run curfew answered $status to the check: $(cat "$TMP/check-body")" >&2
    fail=1
fi

RATIO=$(ratio "$RPS_curfew" "$RPS_nginx")

echo
echo "curfew GET /v1/check (valid Bearer token) vs nginx 'return 204', keep-alive"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for both), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews both targets)"
echo "curfew CPUs allowed: $(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$CURFEW_PID/status")" \
    "($( ((${#curfew_prefix[@]})) && echo pinned || echo unpinned)), verify_threads" \
    "$(curl -s --max-time 5 "http://127.0.0.1:$CPORT/metrics" | awk '$1 == "curfew_dpop_verify_threads" { print $2 }')"
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

row() { local r=RPS_$1 p5=P50_$1 p9=P99_$1; printf '%-10s %10.0f %10.3f %10.3f\n' "$1" "${!r}" "${!p5}" "${!p9}"; }
if has_mode dpop || has_mode https; then
    echo
    echo "issue 14: sender-constrained tokens and TLS (same run, same wrk settings)"
    printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
    has_mode dpop && for t in bearer $DPOP_ALGS; do
        row "$t"
        if [[ $t != bearer && -n $LOOP_PID ]]; then row "${t}_loop"; fi
    done
    has_mode https && for t in curfew https; do row "$t"; done
fi
if has_mode dpop; then
    echo "DPoP: dpop.window $DPOP_WINDOW, dpop.replay_cache $REPLAY_CACHE; proofs made just before each run"
    echo "  (bench/dpop_proofs.py), one per request, never reused; bearer = the same forwarded request, Bearer token"
    for a in $DPOP_ALGS; do
        r=RPS_$a
        printf '%-6s dpop/bearer throughput %s   dpop req/s vs openssl verify/s per core (%.0f) %s  (goal >= 1.0)\n' \
            "$a" "$(ratio "${!r}" "$RPS_bearer")" "${VERIFY_RATE[$a]}" "$(ratio "${!r}" "${VERIFY_RATE[$a]}")"
        if [[ -n $LOOP_PID ]]; then
            l=RPS_${a}_loop
            printf '%-6s verifier threads / verify_threads: 0 (%s_loop, same rounds) %s\n' \
                "$a" "$a" "$(ratio "${!r}" "${!l}")"
        fi
    done
    echo "  per curfew CPU-second (its own utime+stime over the measured rounds; load-independent):"
    printf '    %-8s %8s requests per CPU-second\n' bearer "$(cpu_rate bearer)"
    for a in $DPOP_ALGS ${LOOP_PID:+$(printf '%s_loop ' $DPOP_ALGS)}; do
        c=$(cpu_rate "$a")
        printf '    %-8s %8s requests per CPU-second = %s x openssl verify/s per core  (goal >= 1.0)\n' \
            "$a" "$c" "$(ratio "$c" "${VERIFY_RATE[$a]}")"
    done
    echo "  wrk's own CPU (the load generator, -t$WRK_THREADS; near $WRK_THREADS CPU-s per s it, not curfew, sets the rate):"
    # shellcheck disable=SC2086  # the lists split on purpose
    for a in bearer $DPOP_ALGS ${LOOP_PID:+$(printf '%s_loop ' $DPOP_ALGS)}; do
        read -r us per_s < <(wrk_cost "$a")
        printf '    %-8s %8s us per request, %s CPU-s per second of run\n' "$a" "$us" "$per_s"
    done
    echo "  openssl speed -seconds 3 ecdsap256 ed25519 (one core, this run):"
    grep -E '^ *(256 bits ecdsa \(nistp256\)|253 bits EdDSA \(Ed25519\))' "$TMP/openssl-speed.txt" | sed 's/^ */    /'
fi
if has_mode https; then
    echo "https/http throughput $(ratio "$RPS_https" "$RPS_curfew")   p99 $(ratio "$P99_https" "$P99_curfew")  (keep-alive; TLS $(openssl version | cut -d' ' -f1-2), P-256 certificate)"
fi

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
