#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check_apikey.sh — GET /v1/check with an API key (X-API-Key) next to the
# same check with a JWT access token and next to a reference nginx that
# answers `return 204;`, all three driven by wrk with the same settings in the
# same run (interleaved rounds, medians), then the memory one stored key takes:
# the curfew process's RSS growth per key while APIKEYS_N keys are created, and
# Redis's MEMORY USAGE of the owners' hashes per key they hold (plus
# used_memory growth per key, which also counts the client indexes and
# Redis's own dict and expiry entries). The keys are what a deployment creates:
# 1,000 owners, one of three clients, roles, a scope, a 30-day expiry and a
# 7-day idle expiry, a unique name.
#
# The RSS figure is given three ways: growth over all APIKEYS_N keys (it
# includes SQLite's page cache filling up to its fixed 16 MiB bound, which the
# first ~100,000 keys do); growth over the second half only, once that cache
# is full: the cost of one more key; and a server restarted on the same data
# against the same server when it started empty.
#
# Issue 12's goals: API key / JWT >= 1.0, API key / nginx >= 0.9, and < 256
# bytes per stored key. The script reports; it fails only on a broken run.
#
# Usage:  bash bench/check_apikey.sh
# Environment (all optional), besides bench/check.sh's WRK_THREADS, WRK_CONNS,
# DURATION, WARMUP, ROUNDS, CURFEW_BIN, BUILD_DIR, SKIP_BUILD, PIN, KEEP_TMP:
#   APIKEYS_N=200000   keys created for the RSS measurement (0 = skip)
#   REDIS_KEYS=10000   keys created on Redis for its measurement (0 = skip)
#   MEM_ONLY=0         1: only the memory figures (no wrk, no nginx)
#   OWNERS=1000        owners the keys are spread over (i % OWNERS): 1000 with
#                      200000 keys is 200 an owner; 7000 with 20000 about 3
#   USE_KEYS=1         1: after the creations, check every key once through
#                      /v1/check and report the RSS growth per key that adds
#   LIMITS=$MEM_ONLY   1: keys have a day and a month quota and a rate limit
#                      (api_keys.quota_per_day/_month, api_keys.rate), so a
#                      used key holds its quota windows and rate state
# Exit status: 0 on a valid run; 1 when a precondition fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
APIKEYS_N=${APIKEYS_N:-200000}
REDIS_KEYS=${REDIS_KEYS:-10000}
MEM_ONLY=${MEM_ONLY:-0}
USE_KEYS=${USE_KEYS:-1}
OWNERS=${OWNERS:-1000}
LIMITS=${LIMITS:-$MEM_ONLY}  # the wrk rounds reuse one key: no limit there
API_KEYS_YAML="api_keys: { max_lifetime: 365d }"
[[ "$LIMITS" == 1 ]] && API_KEYS_YAML="api_keys: { max_lifetime: 365d, quota_per_day: 100000, quota_per_month: 1000000, rate: 100/1s, burst: 10 }"

BENCH_NAME=bench/check_apikey.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

if [[ "$MEM_ONLY" == 1 ]]; then require_tools curl "$PY"; else require_tools wrk curl "$NGINX" "$PY"; fi
build_curfew
bench_tmp curfew-bench-apikey

start_curfew() {  # dir port [extra yaml]
    mkdir -p "$1"
    cat > "$1/curfew.yaml" <<EOF
log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
$API_KEYS_YAML
clients:
  - { id: bench, type: public }
  - { id: ci, type: public }
  - { id: web, type: public }
  - { id: batch, type: public }
${3:-}
EOF
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve \
        --config "$1/curfew.yaml" --listen "127.0.0.1:$2" --data-dir "$1/data" \
        >"$1/stdout.log" 2>"$1/stderr.log" &
    track_pid "$!"
    wait_http "http://127.0.0.1:$2/healthz" "$!" \
        || { cat "$1/stderr.log" >&2; die "curfew did not become ready on port $2"; }
    LAST_PID=$!
}

# Create keys [from, to) over 16 keep-alive connections (group commit shares the fsyncs).
# The key strings are appended to $TMP/keys.txt (for use_keys).
create_keys() {  # port to [from]
    "$PY" - "$1" "$2" "$ADMIN_KEY" "${3:-0}" "$TMP/keys.txt" "$OWNERS" <<'EOF'
import http.client, json, sys, threading
port, n, key, first = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
owners = int(sys.argv[6])
errors, made = [], []
clients = ["ci", "web", "batch"]
def work(w):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(first + w, n, 16):
        body = json.dumps({"sub": f"svc{i % owners}", "name": f"key{i}", "client_id": clients[i % 3],
                           "roles": ["reader", "writer"] if i % 2 else ["reader"],
                           "scope": "read write" if i % 2 else "read",
                           "expires_in": "30d", "idle_expiry": "7d"})
        c.request("POST", "/v1/apikeys", body, {"Authorization": f"Bearer {key}",
                                                "Content-Type": "application/json"})
        r = c.getresponse(); b = r.read()
        if r.status != 201:
            errors.append(r.status)
        else:
            made.append(json.loads(b)["key"])
ts = [threading.Thread(target=work, args=(w,)) for w in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
with open(sys.argv[5], "a") as f:
    f.write("".join(k + "\n" for k in made))
sys.exit(f"{len(errors)} creations failed: {errors[:5]}" if errors else 0)
EOF
}

# Check every key in $TMP/keys.txt once through /v1/check (16 connections).
use_keys() {  # port
    "$PY" - "$1" "$TMP/keys.txt" <<'EOF'
import http.client, sys, threading
port, keys = int(sys.argv[1]), open(sys.argv[2]).read().split()
bad = []
def work(w):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for k in keys[w::16]:
        c.request("GET", "/v1/check", headers={"X-API-Key": k})
        r = c.getresponse(); r.read()
        if r.status != 200:
            bad.append(r.status)
ts = [threading.Thread(target=work, args=(w,)) for w in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
sys.exit(f"{len(bad)} checks failed: {bad[:5]}" if bad else 0)
EOF
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- curfew (SQLite) with a session and an API key ------------------------------
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
CPORT=$(free_port)
start_curfew "$TMP/curfew" "$CPORT"
CURFEW_PID=$LAST_PID
sleep 1
EMPTY_RSS=$(rss_kb "$CURFEW_PID") # a server holding nothing, before any request
SESSION=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$CPORT/v1/sessions" \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
    -d '{"sub":"bench","client_id":"bench","roles":["bench"]}')
TOKEN=$(printf '%s' "$SESSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || die "POST /v1/sessions did not return an access token: $SESSION"
CREATED=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$CPORT/v1/apikeys" \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
    -d '{"sub":"bench","name":"bench","roles":["bench"],"expires_in":"30d"}')
APIKEY=$(printf '%s' "$CREATED" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key"])') \
    || die "POST /v1/apikeys did not return a key: $CREATED"
for h in "Authorization: Bearer $TOKEN" "X-API-Key: $APIKEY"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "$h" "http://127.0.0.1:$CPORT/v1/check")
    [[ "$status" == 200 ]] || die "curfew answered $status (not 200) to the check with ${h%%:*}"
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
fail=0

# ---- reference nginx -------------------------------------------------------------
if [[ "$MEM_ONLY" != 1 ]]; then
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

# ---- wrk: three targets, interleaved -----------------------------------------------
run_wrk() {  # name target duration
    local port=$CPORT hdr="Authorization: Bearer $TOKEN"
    [[ $2 == nginx ]] && port=$NPORT
    [[ $2 == apikey ]] && hdr="X-API-Key: $APIKEY"
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -H "$hdr" -d"$3" \
        "http://127.0.0.1:$port/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $1 failed"; }
}

TARGETS=(nginx jwt apikey)
if [[ "$WARMUP" != 0 ]]; then
    for t in "${TARGETS[@]}"; do run_wrk "warm-$t" "$t" "$WARMUP"; done
fi
declare -A RPS P50 P99
printf '%-6s %-8s %12s %10s %10s\n' round target 'requests/s' 'p50 ms' 'p99 ms' > "$TMP/rounds.txt"
for round in $(seq "$ROUNDS"); do
    # rotate the order each round so a drift of the machine favours no target
    for i in 0 1 2; do
        t=${TARGETS[$(( (i + round) % 3 ))]}
        run_wrk "$t-$round" "$t" "$DURATION"
        record_round "$round" "$t"
    done
done
for t in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086  # word splitting of the lists is intended
    {
        printf -v "RPS_$t" '%s' "$(median ${RPS[$t]})"
        printf -v "P50_$t" '%s' "$(median ${P50[$t]})"
        printf -v "P99_$t" '%s' "$(median ${P99[$t]})"
    }
done
fi # MEM_ONLY

# ---- memory per stored key: curfew's RSS ---------------------------------------------
RSS_PER_KEY=skipped
RSS_PER_KEY2=skipped
RSS_RESTART=skipped
RSS_USED=skipped
RSS_USED_PEAK=skipped
if (( APIKEYS_N > 0 )); then
    HALF=$(( APIKEYS_N / 2 ))
    before=$(rss_kb "$CURFEW_PID")
    t0=$(date +%s.%N)
    create_keys "$CPORT" "$HALF" || die "creating $HALF keys failed"
    middle=$(rss_kb "$CURFEW_PID")
    create_keys "$CPORT" "$APIKEYS_N" "$HALF" || die "creating keys $HALF..$APIKEYS_N failed"
    t1=$(date +%s.%N)
    after=$(rss_kb "$CURFEW_PID")
    RSS_PER_KEY=$(awk -v a="$after" -v b="$before" -v n="$APIKEYS_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    RSS_PER_KEY2=$(awk -v a="$after" -v b="$middle" -v n="$(( APIKEYS_N - HALF ))" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    CREATE_RATE=$(awk -v n="$APIKEYS_N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    if [[ "$USE_KEYS" == 1 ]]; then
        # Every key used once; then wait until the uses are written (the
        # store writer may lag the checks by seconds, holding the flushes'
        # snapshots) and the RSS has settled: unchanged for 3 s (at most
        # 60 s). What is left is what a used key keeps; the peak is reported too.
        use_keys "$CPORT" || die "checking the keys failed"
        peak=0 last=0 same=0
        for _ in $(seq 60); do
            sleep 1
            r=$(rss_kb "$CURFEW_PID")
            (( r > peak )) && peak=$r
            if (( r == last )); then same=$((same + 1)); else same=0; fi
            last=$r
            (( same >= 3 )) && break
        done
        RSS_USED=$(awk -v a="$last" -v b="$after" -v n="$APIKEYS_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
        RSS_USED_PEAK=$(awk -v a="$peak" -v b="$after" -v n="$APIKEYS_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    fi
    # The same keys loaded by a restarted server, against the empty one:
    # no request churn, and SQLite's cache is the loader's, freed after.
    kill -TERM "$CURFEW_PID"
    wait "$CURFEW_PID" 2>/dev/null || true
    start_curfew "$TMP/curfew" "$(free_port)"
    sleep 1
    RSS_RESTART=$(awk -v a="$(rss_kb "$LAST_PID")" -v b="$EMPTY_RSS" -v n="$APIKEYS_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
fi

# ---- memory per stored key: Redis -------------------------------------------------------
REDIS_USAGE=skipped
REDIS_USED=skipped
if (( REDIS_KEYS > 0 )) && command -v redis-server >/dev/null; then
    RPORT=$(free_port)
    mkdir -p "$TMP/redis"
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP/redis" \
        --daemonize no > "$TMP/redis/redis.log" 2>&1 &
    track_pid "$!"
    for _ in $(seq 50); do redis-cli -p "$RPORT" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    R2PORT=$(free_port)
    CURFEW_KEK=$("$PY" -c 'import secrets; print(secrets.token_hex(32))') \
        start_curfew "$TMP/node" "$R2PORT" "store: { url: redis://127.0.0.1:$RPORT/0 }"
    used0=$(redis-cli -p "$RPORT" INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    create_keys "$R2PORT" "$REDIS_KEYS" || die "creating $REDIS_KEYS keys on Redis failed"
    used1=$(redis-cli -p "$RPORT" INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    REDIS_USED=$(awk -v a="$used1" -v b="$used0" -v n="$REDIS_KEYS" 'BEGIN { printf "%.0f", (a - b) / n }')
    # MEMORY USAGE of the owners' hashes (up to 1000 of them) over the keys they hold
    redis-cli -p "$RPORT" --scan --pattern 'cf:ko:*' | sed -n '1,1000p' > "$TMP/redis/keys.txt"
    REDIS_USAGE=$(while read -r k; do
            echo "$(redis-cli -p "$RPORT" MEMORY USAGE "$k" SAMPLES 0) $(redis-cli -p "$RPORT" HLEN "$k")"
        done < "$TMP/redis/keys.txt" \
        | awk '{ s += $1; n += $2 } END { if (n) printf "%.0f", s / n; else print "n/a" }')
fi

# ---- report ---------------------------------------------------------------------------
echo
echo "load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
if [[ "$MEM_ONLY" != 1 ]]; then
echo "curfew GET /v1/check: API key (X-API-Key) vs JWT (Bearer) vs nginx 'return 204', keep-alive"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for all), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "(other work on the machine skews every target)"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
echo
cat "$TMP/rounds.txt"
echo
echo "median over $ROUNDS rounds:"
printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
for t in "${TARGETS[@]}"; do
    r=RPS_$t p5=P50_$t p9=P99_$t
    printf '%-8s %12.0f %10.3f %10.3f\n' "$t" "${!r}" "${!p5}" "${!p9}"
done
echo
echo "apikey / jwt   throughput $(ratio "$RPS_apikey" "$RPS_jwt")  (goal >= 1.0)   p99 $(ratio "$P99_apikey" "$P99_jwt")"
echo "apikey / nginx throughput $(ratio "$RPS_apikey" "$RPS_nginx")  (goal >= 0.9)   p99 $(ratio "$P99_apikey" "$P99_nginx")"
echo "jwt / nginx    throughput $(ratio "$RPS_jwt" "$RPS_nginx")"
echo
fi # MEM_ONLY
echo "memory per stored key (goal < 256 bytes):"
echo "  curfew RSS growth / key over $APIKEYS_N keys: $RSS_PER_KEY bytes (created at ${CREATE_RATE:-?}/s;"
echo "    includes SQLite's page cache filling to its fixed 16 MiB bound)"
echo "  curfew RSS growth / key over the second ${HALF:-0}: $RSS_PER_KEY2 bytes (one more key, once"
echo "    the page cache is full: from about 100,000 keys on)"
echo "  curfew RSS growth / key when each of the $APIKEYS_N keys is then used once (limits=$LIMITS): $RSS_USED bytes"
echo "    once settled (a used key costs the second figure plus this one); at the peak, while the"
echo "    uses were still being written: $RSS_USED_PEAK bytes"
echo "  curfew restarted holding the $APIKEYS_N keys, RSS / key above the empty server: $RSS_RESTART bytes"
echo "  Redis MEMORY USAGE of the owners' hashes over their keys (up to 1000 owners): $REDIS_USAGE bytes"
echo "  Redis used_memory growth / key over $REDIS_KEYS keys of $OWNERS owners (hash + indexes + overhead): $REDIS_USED bytes"
exit $fail
